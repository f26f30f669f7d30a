"""Where a load's CPU went: the load generator, PostgreSQL and the rest (the app server).

Every bench here runs the load generator, the app server and PostgreSQL on the same cores,
so a rate is bounded by the CPU one request costs all three together. ``sample()`` before
and after a load's counted window, divided by its requests, says how much of that each
took: the load generator is this process (all its threads), PostgreSQL every process named
``postgres`` (the backends of the pools stay up for the whole load), and the app server
the rest of the machine's busy time (gunicorn's workers, and the kernel's network work on
their behalf; anything else running shows up there too). Linux only (``/proc``); elsewhere
``sample()`` answers None and the benches print no CPU lines.

The rates' ratio follows from it: at saturation (little idle time) a rate is the cores
divided by the CPU per request, so a side whose database work alone costs more than the
baseline's whole request divided by the target ratio cannot reach that ratio, whatever
the app does.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

_PROC = Path("/proc")


@dataclasses.dataclass(frozen=True)
class Sample:
    """CPU seconds used so far, by whom; and the machine's idle seconds."""

    client: float
    database: float
    busy: float
    idle: float

    def __sub__(self, other: Sample) -> Sample:
        return Sample(self.client - other.client, self.database - other.database,
                      self.busy - other.busy, self.idle - other.idle)

    def __add__(self, other: Sample) -> Sample:
        return Sample(self.client + other.client, self.database + other.database,
                      self.busy + other.busy, self.idle + other.idle)

    @property
    def server(self) -> float:
        """The machine's busy time that is neither the load generator nor PostgreSQL."""
        return max(self.busy - self.client - self.database, 0.0)

    def line(self, name: str, requests: int) -> str:
        """``cpu <name>: ...``, per request in ms (bench.report reads it back)."""
        per = 1000.0 / requests if requests else float("nan")
        total = self.busy + self.idle
        idle = self.idle / total if total else float("nan")
        return (f"cpu {name}: client {self.client * per:.3f} ms, server "
                f"{self.server * per:.3f} ms, database {self.database * per:.3f} ms, total "
                f"{self.busy * per:.3f} ms per request; machine idle {idle:.0%}")


def _postgres_seconds(tick: float) -> float:
    total = 0
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name_end = raw.rfind(")")
        if raw[raw.find("(") + 1:name_end] != "postgres":
            continue
        # After the name: state, ppid, ... utime and stime are the 12th and 13th fields.
        fields = raw[name_end + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total * tick


def sample() -> Sample | None:
    try:
        cpu = (_PROC / "stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal (guest time is counted in user)
    values = [int(v) for v in cpu[1:9]]
    busy = (values[0] + values[1] + values[2] + values[5] + values[6] + values[7]) * tick
    idle = (values[3] + values[4]) * tick
    mine = os.times()
    return Sample(mine.user + mine.system, _postgres_seconds(tick), busy, idle)
