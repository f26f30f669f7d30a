"""bench.report reads back what the benches print: its table is only as true as that."""

from __future__ import annotations

import collections
import dataclasses
import time

import pytest

from bench import cpu
from bench.common import LoadResult, combine, ratio_line
from bench.report import summary


def _result(name: str, latencies: list[float], errors: int = 0) -> LoadResult:
    return LoadResult(name, 2.0, latencies, collections.Counter({201: len(latencies)}),
                      collections.Counter({"HTTP 500": errors} if errors else {}))


def test_load_and_ratio_lines_become_rows_and_round_lines_do_not():
    base = _result("baseline insert", [10.0] * 300)
    door = _result("door open (LARGE)", [20.0] * 99 + [80.0], errors=3)
    lines = ["seeding ...", "  " + base.line(), base.line(), door.line(),
             ratio_line(door, base), "ratio door open LARGE / small: 0.97"]
    assert summary("door open", lines) == [
        ("door open", "baseline insert", "150.0/s", "10.00 / 10.00 ms", "0"),
        ("door open", "door open (LARGE)", "50.0/s", "20.00 / 20.60 ms", "3"),
        ("door open", "ratio door open (LARGE) / baseline insert", "0.33", "", ""),
        ("door open", "ratio door open LARGE / small", "0.97", "", ""),
    ]


def test_the_size_table_keeps_lists_apart_from_other_figures():
    lines = [
        "database entryfy_size_ab12cd34: 20,000 entries, 20 customers, 400 accounts",
        "entries, first page (large customer)   39.9 ms   47.7 ms   5 requests",
        "retention access_log     0.1 s  2,994 rows, 57,767/s    2 batches, longest 0.032 s",
        "",
    ]
    assert summary("size", lines) == [
        ("size", "20,000 entries, 20 customers, 400 accounts", "", "", ""),
        ("size", "entries, first page (large customer)", "", "39.9 ms / 47.7 ms",
         "5 requests"),
        ("size", "retention access_log",
         "0.1 s · 2,994 rows, 57,767/s · 2 batches, longest 0.032 s", "", ""),
    ]


def test_cpu_lines_become_rows_with_their_parts():
    used = cpu.Sample(client=0.5, database=1.0, busy=2.5, idle=0.5)  # seconds
    result = dataclasses.replace(_result("check-in", [20.0] * 1000), cpu=used)
    assert summary("check-in", [result.line(), result.cpu_line()])[1] == (
        "check-in", "CPU per request: check-in",
        "2.500 ms = client 0.500 + app server 1.000 + database 1.000", "",
        "machine idle 17%")


def test_combined_rounds_add_their_cpu_and_a_round_without_drops_it():
    one = dataclasses.replace(_result("x", [1.0] * 10), cpu=cpu.Sample(1, 2, 4, 1))
    two = dataclasses.replace(_result("x", [1.0] * 30), cpu=cpu.Sample(3, 2, 8, 3))
    assert combine([one, two]).cpu == cpu.Sample(4, 4, 12, 4)
    # 40 requests: 100 ms client, 100 ms database, 300 ms total, the rest the server's
    assert combine([one, two]).cpu_line() == (
        "cpu x: client 100.000 ms, server 100.000 ms, database 100.000 ms, total "
        "300.000 ms per request; machine idle 25%")
    assert combine([one, _result("x", [1.0])]).cpu is None


@pytest.mark.skipif(cpu.sample() is None, reason="no /proc here")
def test_a_sample_counts_this_process_and_the_machine():
    before = cpu.sample()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 0.2 s of this process's CPU
        pass
    after = cpu.sample()
    assert before is not None and after is not None
    used = after - before
    assert 0.19 <= used.client < 1.0
    assert used.busy >= used.client - 0.02  # the machine saw it too (clock ticks round)
    assert used.database >= 0 and used.idle >= 0
