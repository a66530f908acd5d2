"""The scale suite of issue 13: every row of its table, ours beside the limit and beside dpdispatcher==1.1.0.

Run it through the entry point (``python bench/run.py --suite scale``, see bench/run.py). Rows:

1. 1000 ``echo i > out.txt`` tasks (backward file out.txt), group_size 100, para_deg 4, Shell + LocalContext,
   vs a bash loop of the same commands in the same directories, 4 at a time (``wait -n``);
2. the same with LazyLocalContext;
3. 1000 one-task jobs (group_size 1), Shell + LocalContext, vs starting 1000 ``bash job.sh &`` and waiting
   (and, with ``--psij-python``, vs the same jobs through PSI/J's local executor: bench/psij_child.py);
4. 100,000 ``true`` tasks, group_size 1000, para_deg 4, LazyLocalContext, vs ``xargs -P 4`` of the same
   commands; each task (in both) also appends ``$EPOCHREALTIME`` to one file -- a bash builtin writing
   one line, no process -- which gives (4b) the lag from the last task's end to run_submission returning;
5. building a 100,000-task Submission and writing all its job scripts (no run): seconds and peak MB
   (``ru_maxrss`` of the child process);
6. the same with 1,000,000 tasks (no task directories on disk);
7. 1000 one-task jobs, Shell over SSH (a loopback sshd started here) vs the same jobs on LocalContext;
8. one 200 MB file up (8a) and down (8b) over SSH vs ``tar c | ssh ... tar x``.

Every submission runs with default settings in a child process (bench/scale_child.py), ours with this
interpreter and 1.1.0 with ``--published-python``. Ours and the limit alternate (ours first on odd runs),
``--repeat`` times, and the table shows medians; 1.1.0 runs once per row (it is there for scale, and some
of its rows take minutes). Every run is bounded by 600 s (``timeout``); a failure shows as
``error: <first line>``. ``--quick`` shrinks every size tenfold, and the title says so.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ssh_bench
from scale_measure import (
    BOUND,
    HERE,
    TASK_DIR,
    Outcome,
    bash_loop,
    directory_list,
    first_line,
    last_end,
    launch_all,
    make_task_dirs,
    note,
    published_interpreter,
    run_child,
    task_name,
    timed_process,
    with_outputs,
    xargs_argv,
)
from scale_table import Line, Target, figure, markdown, raw_runs

OURS = Path(sys.executable)
PUBLISHED_VENV = Path("/tmp/dpd-published")  # where bench_local.py installs dpdispatcher==1.1.0
MEMORY_CAP_MB = 8192  # a build child needing more fails (MemoryError) instead of crowding the machine
SERVICES = Path(__file__).resolve().parents[1] / "tests" / "services"
ROWS = (1, 2, 3, 4, 5, 6, 7, 8)
ECHO = "echo {i} > out.txt"

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Sizes:
    echo_tasks: int = 1000  # rows 1 and 2
    echo_group: int = 100
    one_task_jobs: int = 1000  # rows 3 and 7
    true_tasks: int = 100_000  # row 4
    true_group: int = 1000
    build_tasks: int = 100_000  # row 5
    dry_tasks: int = 1_000_000  # row 6
    build_group: int = 1000  # rows 5 and 6
    file_mb: int = 200  # row 8


FULL = Sizes()
QUICK = Sizes(100, 10, 100, 10_000, 100, 10_000, 100_000, 100, 20)


@dataclass
class Bench:
    """What every row needs: sizes, repetitions, the interpreters, the sshd, fresh directories."""

    tmp: Path
    sizes: Sizes
    repeat: int
    keep: bool
    published: Path | None
    psij: Path | None = None  # a python with psij-python: row 3 beside PSI/J's local executor
    sshd: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    _count: itertools.count[int] = field(default_factory=itertools.count)

    def fresh(self, label: str) -> Path:
        path = self.tmp / f"{next(self._count):03d}-{label.replace(' ', '-')}"
        path.mkdir()
        return path

    def discard(self, path: Path) -> None:
        if not self.keep:
            shutil.rmtree(path, ignore_errors=True)


def alternate(repeat: int, ours: Callable[[], T], limit: Callable[[], U]) -> tuple[list[T], list[U]]:
    """``repeat`` runs of each: ours first on odd runs, the limit first on even ones."""
    ours_runs: list[T] = []
    limit_runs: list[U] = []
    for run in range(1, repeat + 1):
        if run % 2:
            ours_runs.append(ours())
            limit_runs.append(limit())
        else:
            limit_runs.append(limit())
            ours_runs.append(ours())
    return ours_runs, limit_runs


# -- cases -----------------------------------------------------------------------------------------


def machine_spec(context: str, root: Path, remote_profile: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "batch_type": "Shell",
        "context_type": context,
        "local_root": str(root),
        "remote_root": str(root / "remote"),
    }
    if remote_profile is not None:
        spec["remote_profile"] = remote_profile
    return spec


def resources_spec(group_size: int, para_deg: int) -> dict[str, Any]:
    return {
        "number_node": 1,
        "cpu_per_node": para_deg,
        "gpu_per_node": 0,
        "queue_name": "",
        "group_size": group_size,
        "para_deg": para_deg,
    }


def echo_case(
    context: str, n: int, group_size: int, para_deg: int, profile: dict[str, Any] | None = None
) -> Callable[[Path], dict[str, Any]]:
    """N tasks ``echo i > out.txt`` (backward file out.txt), each in its own directory, made in ``root``."""

    def case(root: Path) -> dict[str, Any]:
        make_task_dirs(root / "work", n)
        return {
            "mode": "run",
            "machine": machine_spec(context, root, profile),
            "resources": resources_spec(group_size, para_deg),
            "tasks": {"n": n, "dir": TASK_DIR, "command": ECHO, "backward_files": ["out.txt"]},
        }

    return case


def submission_seconds(
    b: Bench,
    python: Path,
    label: str,
    case_for: Callable[[Path], dict[str, Any]],
    outputs: int,
    known_hosts: Path | None = None,
) -> Outcome:
    """Wall seconds of one run_submission in a child, checking that every task's out.txt came back."""
    root = b.fresh(label)
    try:
        result = run_child(python, case_for(root), root, known_hosts=known_hosts)
        seconds: Outcome = result if isinstance(result, str) else float(result["seconds"])
        outcome = with_outputs(seconds, root / "work", outputs)
    finally:
        b.discard(root)
    note(f"  {label}: {figure(outcome, 's')}")
    return outcome


def limit_seconds(label: str, argv: list[str], cwd: Path, stdin: Path | None = None) -> Outcome:
    outcome = timed_process(argv, cwd, stdin=stdin)
    note(f"  {label}: {figure(outcome, 's')}")
    return outcome


def outputs_seconds(label: str, script: Path, work: Path, n: int) -> Outcome:
    """Seconds of the bash ``script`` writing the out.txt of ``n`` tasks in ``work``, checked. Each run starts
    without them, as each of ours does (creating a file costs several times rewriting one on some disks)."""
    for i in range(n):
        (work / task_name(i) / "out.txt").unlink(missing_ok=True)
    return with_outputs(limit_seconds(label, ["bash", str(script)], work), work, n)


# -- rows 1 to 3: local submissions beside bash ---------------------------------------------------------


def echo_tasks_row(b: Bench, number: int, context: str, target: Target) -> list[Line]:
    s = b.sizes
    n, group = s.echo_tasks, s.echo_group
    case = echo_case(context, n, group, 4)
    bash_root = b.fresh(f"row{number}-bash")
    make_task_dirs(bash_root, n)
    script = bash_loop(bash_root, n, ECHO, 4)
    ours, limit = alternate(
        b.repeat,
        lambda: submission_seconds(b, OURS, f"row {number} ours", case, n),
        lambda: outputs_seconds(f"row {number} bash loop", script, bash_root, n),
    )
    b.discard(bash_root)
    published = None if b.published is None else submission_seconds(b, b.published, f"row {number} 1.1.0", case, n)
    return [
        Line(
            f"{number}. {n:,} `echo` tasks, group_size {group}, para_deg 4, Shell + {context}",
            "s",
            target,
            ours,
            limit,
            "bash loop of the same commands in the same directories, 4 at a time",
            published,
        )
    ]


def row_1(b: Bench) -> list[Line]:
    return echo_tasks_row(b, 1, "LocalContext", Target("<= 1.3x bash", max_ratio=1.3))


def row_2(b: Bench) -> list[Line]:
    return echo_tasks_row(b, 2, "LazyLocalContext", Target("<= 1.1x bash", max_ratio=1.1))


def row_3(b: Bench) -> list[Line]:
    n = b.sizes.one_task_jobs
    case = echo_case("LocalContext", n, 1, 1)
    launch_root = b.fresh("row3-launch")
    make_task_dirs(launch_root, n)
    script = launch_all(launch_root, n, ECHO)
    ours, limit = alternate(
        b.repeat,
        lambda: submission_seconds(b, OURS, "row 3 ours", case, n),
        lambda: outputs_seconds("row 3 launch limit", script, launch_root, n),
    )
    b.discard(launch_root)
    published = None if b.published is None else submission_seconds(b, b.published, "row 3 1.1.0", case, n)
    target = Target("<= 1.5x the launch limit, >= 10x faster than 1.1.0", max_ratio=1.5, min_speedup=10)
    workload = f"3. {n:,} one-task jobs (group_size 1), Shell + LocalContext"
    lines = [Line(workload, "s", target, ours, limit, f"starting {n:,} `bash job.sh &` and waiting", published)]
    if b.psij is None:
        b.notes.append("Row 3 beside PSI/J not run: pass --psij-python (a python with psij-python).")
    else:
        psij = [psij_seconds(b, b.psij, n) for _ in range(b.repeat)]
        lines.append(
            Line(
                "3p. the same jobs: ours beside PSI/J",
                "s",
                Target("ahead of PSI/J", max_ratio=1.0),
                ours,
                psij,
                f"PSI/J's local executor, psij-python {psij_version(b.psij)}",
            )
        )
    return lines


def psij_version(python: Path) -> str:
    proc = subprocess.run([str(python), "-c", "import psij; print(psij.__version__)"], capture_output=True, text=True)
    return proc.stdout.strip() or f"(version unknown: {first_line(proc.stderr)})"


def psij_seconds(b: Bench, psij: Path, n: int) -> Outcome:
    """Seconds for PSI/J's local executor (in the python ``psij``) to run the N jobs of row 3
    (bench/psij_child.py), outputs checked."""
    root = b.fresh("row3-psij")
    try:
        make_task_dirs(root, n)
        proc = subprocess.run(
            [str(psij), str(HERE / "psij_child.py"), str(root), str(n)],
            capture_output=True,
            text=True,
            timeout=BOUND,
            check=False,
        )
        if proc.returncode != 0:
            outcome: Outcome = f"error: {first_line(proc.stderr[-2000:] or proc.stdout)}"
        else:
            outcome = with_outputs(float(proc.stdout.split()[-1]), root, n)
    except subprocess.TimeoutExpired:
        outcome = "timeout"
    finally:
        b.discard(root)
    note(f"  row 3 PSI/J: {figure(outcome, 's')}")
    return outcome


# -- row 4: 100,000 tasks beside xargs, and the lag after the last one --------------------------------


def end_command(ends: Path) -> str:
    """``true``, then one line with the end time appended by bash builtins (no process started)."""
    return f'true && echo "$EPOCHREALTIME" >> {shlex.quote(str(ends))}'


def true_tasks_run(b: Bench, python: Path, label: str) -> tuple[Outcome, Outcome]:
    """(seconds of run_submission, lag from the last task's end to its return) for row 4."""
    s = b.sizes
    n = s.true_tasks
    root = b.fresh(label)
    try:
        make_task_dirs(root / "work", n)
        ends = root / "ends.txt"
        case = {
            "mode": "run",
            "machine": machine_spec("LazyLocalContext", root),
            "resources": resources_spec(s.true_group, 4),
            "tasks": {"n": n, "dir": TASK_DIR, "command": end_command(ends)},
        }
        result = run_child(python, case, root)
        if isinstance(result, str):
            seconds: Outcome = result
            lag: Outcome = result
        else:
            end = last_end(ends, n)
            seconds = end if isinstance(end, str) else float(result["seconds"])
            lag = end if isinstance(end, str) else float(result["returned"]) - end
    finally:
        b.discard(root)
    note(f"  {label}: {figure(seconds, 's')}, lag {figure(lag, 's')}")
    return seconds, lag


def row_4(b: Bench) -> list[Line]:
    s = b.sizes
    n = s.true_tasks
    xargs_root = b.fresh("row4-xargs")
    make_task_dirs(xargs_root, n)
    listing = directory_list(xargs_root, n)
    ends = xargs_root / "ends.txt"

    def xargs() -> Outcome:
        ends.unlink(missing_ok=True)
        outcome = limit_seconds("row 4 xargs -P 4", xargs_argv(end_command(ends), 4), xargs_root, stdin=listing)
        if isinstance(outcome, str):
            return outcome
        end = last_end(ends, n)  # every command ran
        return end if isinstance(end, str) else outcome

    runs, limit = alternate(b.repeat, lambda: true_tasks_run(b, OURS, "row 4 ours"), xargs)
    b.discard(xargs_root)
    published = None if b.published is None else true_tasks_run(b, b.published, "row 4 1.1.0")
    return [
        Line(
            f"4. {n:,} `true` tasks, group_size {s.true_group}, para_deg 4, Shell + LazyLocalContext",
            "s",
            Target("<= 1.05x xargs", max_ratio=1.05),
            [seconds for seconds, _ in runs],
            limit,
            "`xargs -P 4` of the same commands",
            None if published is None else published[0],
        ),
        Line(
            "4b. the same run: last task's end -> run_submission returns",
            "s",
            Target("<= 1 s", max_value=1.0),
            [lag for _, lag in runs],
            published=None if published is None else published[1],
        ),
    ]


# -- rows 5 and 6: building a large submission --------------------------------------------------------


def build_run(b: Bench, python: Path, label: str, n: int) -> tuple[Outcome, Outcome]:
    """(seconds, peak MB) of building N tasks, the Submission and every job script, in a child."""
    group = b.sizes.build_group
    root = b.fresh(label)
    try:
        case = {
            "mode": "build",
            "machine": machine_spec("LocalContext", root),
            "resources": resources_spec(group, 1),
            "tasks": {
                "n": n,
                "dir": TASK_DIR,
                "command": "true",
                "forward_files": ["in.txt"],
                "backward_files": ["log"],
            },
            "memory_cap_mb": MEMORY_CAP_MB,
        }
        result = run_child(python, case, root)
        jobs = -(-n // group)
        if isinstance(result, str):
            seconds: Outcome = result
            peak: Outcome = result
        elif result["scripts"] < jobs:
            seconds = peak = f"error: {result['scripts']} scripts written for {jobs} jobs"
        else:
            seconds, peak = float(result["seconds"]), float(result["peak_mb"])
    finally:
        b.discard(root)
    note(f"  {label}: {figure(seconds, 's')}, {figure(peak, 'MB')}")
    return seconds, peak


def build_row(b: Bench, number: int, n: int, what: str, max_seconds: float, max_mb: float) -> list[Line]:
    runs = [build_run(b, OURS, f"row {number} ours", n) for _ in range(b.repeat)]
    published = None if b.published is None else build_run(b, b.published, f"row {number} 1.1.0", n)
    title = (
        f"{number}. build a {n:,}-task Submission and all its job scripts ({what}, group_size {b.sizes.build_group})"
    )
    return [
        Line(
            f"{title}: time",
            "s",
            Target(f"<= {max_seconds:g} s", max_value=max_seconds),
            [seconds for seconds, _ in runs],
            published=None if published is None else published[0],
        ),
        Line(
            f"{number}b. the same: peak memory",
            "MB",
            Target(f"<= {max_mb:g} MB", max_value=max_mb),
            [peak for _, peak in runs],
            published=None if published is None else published[1],
        ),
    ]


def row_5(b: Bench) -> list[Line]:
    return build_row(b, 5, b.sizes.build_tasks, "no run", 2, 250)


def row_6(b: Bench) -> list[Line]:
    return build_row(b, 6, b.sizes.dry_tasks, "dry run, no task dirs", 20, 2500)


# -- rows 7 and 8: SSH ------------------------------------------------------------------------------------


def published_profile(env: dict[str, str]) -> dict[str, Any]:
    """The profile keys 1.1.0 knows (it reads host keys from ~/.ssh/known_hosts)."""
    return {k: v for k, v in ssh_bench.profile(env).items() if k in ("hostname", "port", "username", "key_filename")}


def skipped_line(workload: str, unit: str, target: Target, why: str) -> Line:
    return Line(workload, unit, target, [f"skipped: {why}"])


def row_7(b: Bench) -> list[Line]:
    n = b.sizes.one_task_jobs
    workload = f"7. {n:,} one-task jobs, Shell over SSH (loopback sshd)"
    target = Target("<= 1.5x LocalContext", max_ratio=1.5)
    if b.sshd is None:
        return [skipped_line(workload, "s", target, "no sshd")]
    env = b.sshd
    over_ssh = echo_case("SSHContext", n, 1, 1, ssh_bench.profile(env))
    local = echo_case("LocalContext", n, 1, 1)
    ours, limit = alternate(
        b.repeat,
        lambda: submission_seconds(b, OURS, "row 7 ours SSH", over_ssh, n),
        lambda: submission_seconds(b, OURS, "row 7 ours LocalContext", local, n),
    )
    published = None
    if b.published is not None:
        published_case = echo_case("SSHContext", n, 1, 1, published_profile(env))
        known_hosts = Path(env["SSHD_KNOWN_HOSTS"])
        published = submission_seconds(b, b.published, "row 7 1.1.0 SSH", published_case, n, known_hosts)
    return [Line(workload, "s", target, ours, limit, "ours, the same jobs on LocalContext", published)]


def transfer(label: str, measure: Callable[[], Any]) -> tuple[Outcome, Outcome]:
    """(upload, download) seconds of ``measure`` -- an ssh_bench function -- or why none."""
    up: Outcome
    down: Outcome
    try:
        result = measure()
    except (subprocess.SubprocessError, OSError, AssertionError, RuntimeError) as err:
        up = down = f"error: {first_line(str(err) or type(err).__name__)}"
    else:
        if isinstance(result, str):  # ssh_bench.bench_published: "failed: ..."
            up = down = f"error: {first_line(result)}"
        else:
            up, down = result
    note(f"  {label}: up {figure(up, 's')}, down {figure(down, 's')}")
    return up, down


def row_8(b: Bench) -> list[Line]:
    mb = b.sizes.file_mb
    target = Target("<= 1.1x", max_ratio=1.1)
    what = "`tar c | ssh … tar x`"
    up_workload = f"8a. upload one {mb} MB file over SSH"
    down_workload = "8b. download it over SSH (`ssh … tar c | tar x` as the limit)"
    if b.sshd is None:
        return [skipped_line(up_workload, "s", target, "no sshd"), skipped_line(down_workload, "s", target, "no sshd")]
    env = b.sshd
    root = b.fresh("row8")
    local = root / "local"
    tasks = ssh_bench.make_big(local, mb)

    def ours() -> tuple[Outcome, Outcome]:
        remote = b.fresh("row8-ours-remote")
        try:
            return transfer("row 8 ours", lambda: ssh_bench.bench_ours(env, local, str(remote), tasks))
        finally:
            b.discard(remote)

    def limit() -> tuple[Outcome, Outcome]:
        place = b.fresh("row8-limit")
        try:
            return transfer(
                "row 8 tar|ssh", lambda: ssh_bench.bench_limit(env, local, str(place / "remote"), place / "back")
            )
        finally:
            b.discard(place)

    ours_runs, limit_runs = alternate(b.repeat, ours, limit)
    published: tuple[Outcome, Outcome] | None = None
    if b.published is not None:
        python = str(b.published)
        remote = b.fresh("row8-published-remote")
        published = transfer("row 8 1.1.0", lambda: ssh_bench.bench_published(python, env, local, str(remote), tasks))
        b.discard(remote)
    b.discard(root)
    return [
        Line(
            up_workload,
            "s",
            target,
            [up for up, _ in ours_runs],
            [up for up, _ in limit_runs],
            what,
            None if published is None else published[0],
        ),
        Line(
            down_workload,
            "s",
            target,
            [down for _, down in ours_runs],
            [down for _, down in limit_runs],
            "`ssh … tar c | tar x`",
            None if published is None else published[1],
        ),
    ]


ROW_FUNCTIONS: dict[int, Callable[[Bench], list[Line]]] = {
    1: row_1,
    2: row_2,
    3: row_3,
    4: row_4,
    5: row_5,
    6: row_6,
    7: row_7,
    8: row_8,
}


# -- the sshd ---------------------------------------------------------------------------------------------


def start_sshd(state: Path) -> tuple[dict[str, str] | None, str]:
    """A loopback sshd (tests/services/start-sshd.sh, as bench/ssh_bench.py starts it), or why none."""
    if os.geteuid() != 0:
        return None, "start-sshd.sh needs root"
    try:
        return ssh_bench.start_sshd(state), ""
    except subprocess.CalledProcessError as err:
        last = (err.stderr or "").strip().splitlines()[-1:] or [f"exit code {err.returncode}"]
        return None, f"start-sshd.sh failed: {last[0]}"
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"start-sshd.sh failed: {first_line(str(err))}"


def stop_sshd(state: Path) -> None:
    subprocess.run(["bash", str(SERVICES / "stop-sshd.sh"), str(state)], capture_output=True, timeout=60)


def measured_row(b: Bench, number: int) -> list[Line]:
    """The row's lines; a row that breaks (a bug here, not in a package) is one error line, the others go on."""
    try:
        return ROW_FUNCTIONS[number](b)
    except Exception as err:  # the rows before and after this one still count
        traceback.print_exc()
        return [
            Line(
                f"{number}. (the row broke)", "s", Target("-"), [f"error: {first_line(f'{type(err).__name__}: {err}')}"]
            )
        ]


# -- the suite --------------------------------------------------------------------------------------------


def header(args: argparse.Namespace, b: Bench, command: str) -> str:
    from dpdispatcher import __version__

    today = datetime.date.today().isoformat()
    lines = [
        f"Scale benchmark (issue 13), {today}: `{command}`",
        "",
        f"dpdispatcher-core {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}. Medians of {b.repeat} run(s) of ours and of the limit, "
        "alternating (ours first on odd runs); dpdispatcher 1.1.0 once per row; every run bounded by "
        f"{BOUND:g} s; default settings in both packages.",
    ]
    if args.quick:
        lines += [
            "",
            "**QUICK RUN: every size about ten times smaller than the issue's; the targets are for the full sizes.**",
        ]
    return "\n".join(lines)


def run_scale(args: argparse.Namespace, command: str) -> int:
    """Measure the chosen rows and print the markdown table; 0 unless nothing could run."""
    rows = args.rows or list(ROWS)
    sizes = QUICK if args.quick else FULL
    published: Path | None = None
    published_why = "--no-published"
    if args.published:
        published, published_why = published_interpreter(args.published_python, PUBLISHED_VENV)
        if published is None:
            note(f"dpdispatcher 1.1.0 not run: {published_why}")
    tmp = Path(tempfile.mkdtemp(prefix="dpd-scale-"))
    b = Bench(tmp, sizes, args.repeat, args.keep, published, psij=Path(args.psij_python) if args.psij_python else None)
    if published is None:
        b.notes.append(f"1.1.0 not run: {published_why}")
    state = tmp / "sshd"
    sshd_started = False
    try:
        if {7, 8} & set(rows):
            b.sshd, why = start_sshd(state)
            sshd_started = b.sshd is not None
            if not sshd_started:
                note(f"rows 7 and 8 skipped: {why}")
                b.notes.append(f"rows 7 and 8 skipped: {why}")
        lines: list[Line] = []
        for number in rows:
            note(f"row {number} ...")
            measured = measured_row(b, number)
            note(markdown(measured))  # each row as soon as it is measured: a long run interrupted keeps them
            lines += measured
    finally:
        if sshd_started:
            stop_sshd(state)
        if args.keep:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(header(args, b, command))
    print()
    print(markdown(lines))
    for text in b.notes:
        print(f"\n{text}")
    print("\nEvery run (the medians above come from these):\n")
    print(raw_runs(lines))
    return 0
