"""Mutation testing of the rule modules: `python3 dev.py mutate [MODULE]` runs this file.

For each module named in pyproject.toml's ``[tool.entryfy.mutate.<module>]`` it runs mutmut 3
with ``only_mutate`` narrowed to the module's files and the test selection narrowed to the
module's own tests (mutmut reads one configuration per directory, so the narrowing is done
here, not by a second pyproject). Then it prints the score and the survivors; with no MODULE
it runs every module and prints the table.

Score = (killed + timed out) / mutants. The equivalent mutants listed in EQUIVALENTS.md beside
this file (changes no behaviour can observe) are shown apart and left out of the adjusted
score; a listed mutant that is killed is simply killed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENTS = Path(__file__).with_name("EQUIVALENTS.md")
# Each module's result, handed from its process to the table (mutants/ is wiped per module).
RESULTS = ROOT / ".mutmut-cache"
# mutmut's exit codes (mutmut/stats.py): what counts as the tests catching the mutant.
KILLED = {1, 3, 37}
TIMEOUT = {36, 24, -24, 152, 255}


def modules() -> dict[str, dict]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return data["tool"]["entryfy"]["mutate"]


def equivalents() -> set[str]:
    if not EQUIVALENTS.exists():
        return set()
    return set(re.findall(r"^- `([\w.]+__mutmut_\d+)`", EQUIVALENTS.read_text("utf-8"), re.M))


@dataclasses.dataclass
class Score:
    module: str
    mutants: int
    killed: int
    timeouts: int
    survivors: list[str]
    equivalent: list[str]
    seconds: float
    # Each survivor's change, read while the module's mutants are still on disk (the next
    # module's run puts the plain copy back).
    diffs: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def raw(self) -> float:
        return 100.0 * (self.killed + self.timeouts) / self.mutants if self.mutants else 0.0

    @property
    def adjusted(self) -> float:
        counted = self.mutants - len(self.equivalent)
        return 100.0 * (self.killed + self.timeouts) / counted if counted else 0.0


def mutate(name: str, spec: dict, max_children: int) -> Score:
    """Run mutmut on one module in this process; mutmut exits the process on a broken run."""
    from mutmut import configuration
    from mutmut.__main__ import _run
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    paths = list(spec["paths"])
    # A fresh start for each module: mutmut decides "already mutated" by mtime and keeps
    # files the source no longer has (a module split into a package), and its cached
    # test-to-function map belongs to the previous module's test selection.
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    configuration.reset_config()
    cfg = configuration.config()
    configuration._config = dataclasses.replace(
        cfg, only_mutate=paths,
        pytest_add_cli_args_test_selection=list(spec["tests"]))
    started = time.monotonic()
    _run([], max_children)
    seconds = time.monotonic() - started

    codes: dict[str, int | None] = {}
    for p in paths:
        data = SourceFileMutationData(path=p)
        data.load()
        codes.update(data.exit_code_by_key)
    diffs = {}
    for key, code in codes.items():
        if code in KILLED | TIMEOUT:
            continue
        path = next(p for p in paths if key.startswith(p[:-3].replace("/", ".") + "."))
        try:
            diff = get_diff_for_mutant(key, path=path)
        except Exception as e:  # a diff is a courtesy; the verdict stands
            diff = f"(no diff: {e})"
        diffs[key] = "\n".join(line for line in diff.splitlines()
                               if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    known = equivalents()
    killed = sum(1 for c in codes.values() if c in KILLED)
    timeouts = sum(1 for c in codes.values() if c in TIMEOUT)
    alive = sorted(k for k, c in codes.items() if c not in KILLED | TIMEOUT)
    return Score(module=name, mutants=len(codes), killed=killed, timeouts=timeouts,
                 survivors=[k for k in alive if k not in known],
                 equivalent=[k for k in alive if k in known], seconds=seconds, diffs=diffs)


def table(scores: list[Score]) -> str:
    lines = ["| module | mutants | killed | timeouts | equivalent | survived | score | "
             "score without equivalents | time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in scores:
        lines.append(f"| {s.module} | {s.mutants} | {s.killed} | {s.timeouts} | "
                     f"{len(s.equivalent)} | {len(s.survivors)} | {s.raw:.1f} % | "
                     f"{s.adjusted:.1f} % | {s.seconds:.0f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    known = modules()
    parser = argparse.ArgumentParser(prog="dev.py mutate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", nargs="*", choices=sorted(known), metavar="MODULE",
                        help=f"one or more of {', '.join(sorted(known))} (default: all, "
                             "one after another)")
    parser.add_argument("--max-children", type=int, default=2,
                        help="mutants tested at once (default 2)")
    args = parser.parse_args(argv)
    names = args.module or sorted(known)
    os.chdir(ROOT)
    scores = []
    for name in names:
        print(f"== mutating {name}: {', '.join(known[name]['paths'])}", flush=True)
        # Each module in a process of its own: mutmut keeps its state in module globals.
        pid = os.fork()
        if pid == 0:
            try:
                score = mutate(name, known[name], args.max_children)
                RESULTS.mkdir(exist_ok=True)
                (RESULTS / f"{name}.json").write_text(
                    json.dumps(dataclasses.asdict(score)))
            finally:
                sys.stdout.flush()
                os._exit(0)
        os.waitpid(pid, 0)
        result = RESULTS / f"{name}.json"
        if not result.exists():
            print(f"mutmut did not finish for {name}", file=sys.stderr)
            return 1
        score = Score(**json.loads(result.read_text()))
        result.unlink()
        scores.append(score)
        print(f"\n{name}: {score.raw:.1f} % ({score.killed + score.timeouts} of "
              f"{score.mutants} caught; {score.adjusted:.1f} % without the "
              f"{len(score.equivalent)} listed equivalents) in {score.seconds:.0f} s")
        for s in score.survivors:
            print(f"  survived: {s}")
            print("    " + score.diffs.get(s, "").replace("\n", "\n    "))
    print()
    print(table(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
