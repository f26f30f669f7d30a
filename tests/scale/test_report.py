"""bench.report reads back what the benches print: its table is only as true as that."""

from __future__ import annotations

import collections

from bench.common import LoadResult, ratio_line
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
