"""Issue #19's figures from one run: every speed and scale bench in turn, then one table.

    python -m bench.report [--size-reuse NAME | --size-entries N] [--quick]

Runs, one after the other on the same machine (each starts and stops its own servers):

1. ``bench.checkin --split``: the one-INSERT baseline, the check-in's SQL alone and its
   operations alone in the bare app, and the full check-in;
2. ``bench.doors``: door opening at a small and a LARGE customer (10,000 people, 1,000
   doors) against the same baseline;
3. ``bench.scale``: check-ins through HAProxy to three app processes on PgBouncer next to
   one app process straight on PostgreSQL;
4. ``bench.data_at_size``: 1,000 customers, 100,000 people, 10,000,000 entries generated
   by COPY (or ``--size-reuse`` a kept database), the lists, a site-year ledger and
   retention at that size.

Each bench's own output streams as it runs; at the end one Markdown table holds every
bench's result lines (rate, p50/p99 and errors of each side; the ratios; where each side's
CPU went, per request; the size table), read from the lines the benches print
(``bench.common.LoadResult.line``, ``ratio_line``, ``bench.cpu.Sample.line``).
Exits 1 when any bench does: a request that failed, a list over its target, a server that
did not start. ``--quick`` runs every bench briefly and small, to check this script.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from bench.common import ROOT

# bench.common.LoadResult.line and ratio_line, read back.
_LOAD = re.compile(r"^(?P<name>\S.*?)\s+(?P<rate>[\d.]+)/s\s+p50\s+(?P<p50>[\d.na]+) ms\s+"
                   r"p99\s+(?P<p99>[\d.na]+) ms\s+ok\s+(?P<ok>\d+)\s+errors (?P<errors>\d+)")
_RATIO = re.compile(r"^ratio (?P<what>.+?): (?P<value>[\d.]+|nan)$")
# bench.cpu.Sample.line, read back.
_CPU = re.compile(r"^cpu (?P<name>.+?): client (?P<client>\S+) ms, server (?P<server>\S+) ms, "
                  r"database (?P<database>\S+) ms, total (?P<total>\S+) ms per request; "
                  r"machine idle (?P<idle>\S+)$")


def _benches(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    size = (["--reuse", args.size_reuse] if args.size_reuse
            else ["--entries", str(args.size_entries)])
    if args.quick:
        return [
            ("check-in", ["bench.checkin", "--split", "--rounds", "1", "--seconds", "2",
                          "--warmup", "0.5"]),
            ("door open", ["bench.doors", "--seconds", "2", "--warmup", "0.5",
                           "--decisions", "50"]),
            ("scale-out", ["bench.scale", "--rounds", "1", "--seconds", "2",
                           "--warmup", "0.5"]),
            ("data at size", ["bench.data_at_size", "--customers", "20", "--people", "400",
                              "--entries", "20000", "--events", "4000", "--requests", "5"]),
        ]
    return [
        ("check-in", ["bench.checkin", "--split"]),
        ("door open", ["bench.doors"]),
        ("scale-out", ["bench.scale"]),
        ("data at size", ["bench.data_at_size", *size]),
    ]


def _run(module_args: list[str]) -> tuple[int, list[str], float]:
    """Run one bench, its output passed through as it comes; its lines and exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", *module_args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, env=os.environ.copy())
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    return proc.wait(), lines, time.perf_counter() - t0


def summary(bench: str, lines: list[str]) -> list[tuple[str, str, str, str, str]]:
    """The table rows of one bench's output: (bench, measured, rate or value, p50/p99,
    errors). Load lines indented under a round (``  door open (small) ...``) are the
    rounds' own and stay out: the unindented ones are the combined results."""
    rows = []
    size_table = False
    for line in lines:
        if (m := _LOAD.match(line)) is not None:
            rows.append((bench, m["name"], f"{float(m['rate']):,.1f}/s",
                         f"{m['p50']} / {m['p99']} ms", m["errors"]))
        elif (m := _RATIO.match(line)) is not None:
            rows.append((bench, f"ratio {m['what']}", m["value"], "", ""))
        elif (m := _CPU.match(line)) is not None:
            rows.append((bench, f"CPU per request: {m['name']}",
                         f"{m['total']} ms = client {m['client']} + app server {m['server']}"
                         f" + database {m['database']}", "", f"machine idle {m['idle']}"))
        elif line.startswith("database entryfy_size_"):
            size_table = True
            rows.append((bench, line.split(": ", 1)[1], "", "", ""))
        elif size_table and line.strip():
            # data_at_size's own table: name, then its figures in columns of 2+ spaces.
            cells = [c for c in re.split(r"\s{2,}", line.strip()) if c] + ["", "", ""]
            if cells[1].endswith(" ms") and cells[2].endswith(" ms"):  # a list: p50, p99
                rows.append((bench, cells[0], "", f"{cells[1]} / {cells[2]}",
                             " ".join(cells[3:]).strip()))
            else:
                rows.append((bench, cells[0], " · ".join(c for c in cells[1:] if c), "", ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-reuse", metavar="NAME",
                   help="measure a database kept by `bench.data_at_size --keep` instead of "
                        "generating one (its retention then deletes nothing new)")
    p.add_argument("--size-entries", type=int, default=10_000_000)
    p.add_argument("--quick", action="store_true", help="every bench briefly, small")
    args = p.parse_args(argv)

    table: list[tuple[str, str, str, str, str]] = []
    failed: list[str] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for bench, module_args in _benches(args):
        print(f"\n===== {bench}: python -m {' '.join(module_args)}", flush=True)
        code, lines, seconds = _run(module_args)
        table += summary(bench, lines)
        table.append((bench, "bench exit code, wall time", str(code), f"{seconds:.0f} s", ""))
        if code != 0:
            failed.append(bench)
    print(f"\n## Issue #19 figures, one run started {started}; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs\n")
    print("| bench | measured | rate / value | p50 / p99 | errors / note |")
    print("| --- | --- | --- | --- | --- |")
    for row in table:
        print("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
