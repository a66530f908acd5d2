"""Fault-injection figures for issue 9 ("exactly once, whatever happens"), outside pytest.

Runs the scenarios of tests/faults with Shell + LocalContext (nothing to install or start) and
prints how they went:

1. kills: the driver SIGKILLs itself at N points spread over a run (the hooked phases of
   tests/faults/faults_kit.py LOCAL_POINTS, cycled when N is larger), then the same submission is
   run again without a hook;
2. pairs: two drivers of the same submission started together (one must run, one be refused);
3. records: the local record cut at N points after submission, then the program run again;
4. with ``--races``, the two races of the issue 9 report (known to fail until fixed): a second driver
   arriving while the first one's lock has no owner file yet, and a re-run started while the killed
   driver's submit step is still running.

For each: how many runs survived (the kill landed, the re-run exited 0, every check passed), how
many task runs were duplicates (a task run twice counts 1, from a ledger outside the job root),
how many outputs were lost (missing or not whole), how many processes were left behind.

Usage::

    python bench/faults.py                      # 20 kill points, 5 pairs, 10 record truncations
    python bench/faults.py --points 40 --pairs 10 --truncations 10 --timeout 60 --budget 600
    python bench/faults.py --races             # also the two known races, 3 times each

Each driver is bounded by ``--timeout`` seconds; no scenario starts once ``--budget`` seconds have
passed (it shows as skipped). Everything runs in a temporary directory, removed at the end
(``--keep`` keeps it); submission records go to a DPDISPATCHER_HOME inside it.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))

import faults_kit  # type: ignore[import-not-found]  # the kit lives with the tests (on sys.path above)
from faults_kit import (
    KILLED,
    LOCAL_POINTS,
    TRUNCATIONS,
    KillPoint,
    Verdict,
    Workload,
    check,
    damaged_record,
    drive,
    finish,
    kill_processes_under,
    pair,
    scenario,
    start,
    survive,
)

#: one case of a row: given its own directory, (survived, verdict, problems)
Case = Callable[[Path], tuple[bool, Verdict, list[str]]]


@dataclass
class Row:
    name: str
    runs: int = 0
    survived: int = 0
    duplicates: int = 0
    lost: int = 0
    left_behind: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def add(self, label: str, ok: bool, verdict: Verdict, problems: list[str], seconds: float) -> None:
        self.runs += 1
        self.survived += ok
        self.duplicates += verdict.duplicates
        self.lost += len(verdict.lost)
        self.left_behind += len(verdict.leftovers)
        self.seconds += seconds
        if not ok:
            self.failures.append(f"{self.name} / {label}:\n    " + "\n    ".join(problems[:5]))


def run_row(row: Row, cases: Iterator[tuple[str, Case]], root: Path, deadline: float) -> None:
    for index, (label, case) in enumerate(cases):
        if time.monotonic() > deadline:
            row.skipped += 1
            continue
        where = root / f"{''.join(c if c.isalnum() else '-' for c in row.name)}-{index:03d}"
        since = time.monotonic()
        try:
            ok, verdict, problems = case(where)
        finally:
            kill_processes_under(where)
        row.add(label, ok, verdict, problems, time.monotonic() - since)
        print(f"  {row.name}: {label}: {'ok' if ok else 'FAILED'} ({time.monotonic() - since:.1f} s)", flush=True)


def kill_case(points: str) -> Case:
    def case(where: Path) -> tuple[bool, Verdict, list[str]]:
        result = survive(Workload.with_machine(where), scenario(points))
        return result.survived, result.verdict, [result.report()]

    return case


def pair_case(where: Path) -> tuple[bool, Verdict, list[str]]:
    problems, verdict = pair(Workload.with_machine(where, sleeps=(1.0, 1.2, 1.4, 1.6)))
    return not problems, verdict, problems


def ownerless_lock_case(where: Path) -> tuple[bool, Verdict, list[str]]:
    problems, verdict = pair(Workload.with_machine(where, sleeps=(1.0, 1.2, 1.4, 1.6)), lock_delay=2, stagger=1)
    return not problems, verdict, problems


def orphan_submit_case(where: Path) -> tuple[bool, Verdict, list[str]]:
    workload = Workload.with_machine(where, sleeps=(3, 3, 3, 3)).prepare()
    killed = finish(start(workload, KillPoint.parse("machine.submit_jobs:during"), slow_launch=4))
    rerun = drive(workload)
    verdict = check(workload)
    problems = [] if killed.returncode == KILLED else ["the kill did not land"]
    problems += [] if rerun.returncode == 0 else [f"re-run exit {rerun.returncode}"]
    return not problems + verdict.problems, verdict, problems + verdict.problems


def record_case(fraction: float) -> Case:
    def case(where: Path) -> tuple[bool, Verdict, list[str]]:
        problems, verdict = damaged_record(Workload.with_machine(where), "local", fraction)
        return not problems, verdict, problems

    return case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20, help="kill points (cycling through the hooked phases)")
    parser.add_argument("--pairs", type=int, default=5, help="pairs of drivers started together")
    parser.add_argument("--truncations", type=int, default=10, help=f"record truncations (at most {len(TRUNCATIONS)})")
    parser.add_argument("--timeout", type=float, default=120, help="bound on each driver (seconds)")
    parser.add_argument("--budget", type=float, default=900, help="no scenario starts after this many seconds")
    parser.add_argument("--races", action="store_true", help="also the two known races (3 times each)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    faults_kit.CHILD_TIMEOUT = args.timeout

    root = Path(tempfile.mkdtemp(prefix="dpd-faults-"))
    deadline = time.monotonic() + args.budget
    rows = [
        Row(f"kills at {args.points} points"),
        Row(f"two drivers x{args.pairs}"),
        Row(f"records cut x{min(args.truncations, len(TRUNCATIONS))}"),
    ]
    races = [Row("race: lock without owner x3"), Row("race: re-run during submit x3")] if args.races else []
    points = itertools.islice(itertools.cycle(LOCAL_POINTS), args.points)
    try:
        run_row(rows[0], ((p, kill_case(p)) for p in points), root, deadline)
        run_row(rows[1], ((f"pair {i + 1}", pair_case) for i in range(args.pairs)), root, deadline)
        cuts = TRUNCATIONS[: args.truncations]
        run_row(rows[2], ((f"cut at {f:.2%}", record_case(f)) for f in cuts), root, deadline)
        for row, case in zip(races, (ownerless_lock_case, orphan_submit_case)):
            run_row(row, ((f"try {i + 1}", case) for i in range(3)), root, deadline)
        rows += races
    finally:
        kill_processes_under(root)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print()
    header = f"{'scenario (Shell + LocalContext)':<34}{'survived':>10}{'duplicates':>12}{'outputs lost':>14}"
    header += f"{'left behind':>13}{'skipped':>9}{'seconds':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.name:<34}{f'{row.survived}/{row.runs}':>10}{row.duplicates:>12}{row.lost:>14}"
            f"{row.left_behind:>13}{row.skipped:>9}{row.seconds:>9.1f}"
        )
    failures = [f for row in rows for f in row.failures]
    for failure in failures:
        print("\n" + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
