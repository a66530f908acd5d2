"""Speed benchmark of the Shell machine with the local contexts (issues 2 and 8).

What it measures (figures, not assertions):

1. ``run_submission`` wall time for N tasks (``true``; one small forward file ``in.txt`` and one
   backward file ``log`` each; group_size N/10; para_deg 1 and 4) through Shell + LocalContext and
   Shell + LazyLocalContext with default settings, beside the time bash takes to run the same
   commands in the same directories (one script with ``( cd dir && true > log )`` per task, the
   same number at a time as para_deg), as a ratio. Target: within 1.5x of bash.
2. Constructing a Submission of 10,000 tasks and generating all its job scripts. Target: < 2 s.
3. The lag between the last task finishing and ``run_submission`` returning, with one task that
   sleeps 2 s and writes its end time. Target: < 1 s.
4. With ``--published``: the same workload through the published ``dpdispatcher==1.1.0``
   (installed into a separate venv) with its default settings, and our speed-up over it.
   Target: at least 10x.

With ``--one-task-jobs N[,N...]`` (issue 8) it measures instead the ``run_submission`` wall time for N
one-task jobs (task ``echo i > out.txt`` in its own directory, backward file ``out.txt``, group_size 1,
para_deg 1) through Shell + LocalContext and Shell + LazyLocalContext with default settings (no
check_interval is passed: each package uses its own default), each run in a child process bounded by
``--timeout`` seconds. With ``--published`` it runs the same workload through ``dpdispatcher==1.1.0``
and prints the speed-up (published / ours). Target: at least 5x at 1000 jobs. A failed run shows as
``error: <first line>``, a run over the bound as ``timeout``; the benchmark carries on.

Usage::

    python bench/bench_local.py                # N = 100 and 1000
    python bench/bench_local.py --published    # also the published package (about 5 minutes)
    python bench/bench_local.py --n 100 --para-deg 1 --contexts LocalContext
    python bench/bench_local.py --one-task-jobs 1000,10000 --published   # issue 8 (about 6 minutes)

Submission records go to a temporary DPDISPATCHER_HOME; every workload lives in a temporary
directory that is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

CONTEXTS = ("LocalContext", "LazyLocalContext")
PUBLISHED_VERSION = "1.1.0"
LAG_SLEEP = 2
SCALE_TASKS = 10_000
TIMEOUT = 1800  # bound on every subprocess
ONE_TASK_TIMEOUT = 900  # default bound on each run of the one-task-jobs mode
ONE_TASK_TARGET = 5.0  # speed-up over the published package ...
ONE_TASK_TARGET_N = 1000  # ... at this number of jobs

# -- the workload ---------------------------------------------------------------------------------


def task_dir(i: int) -> str:
    return f"task.{i:05d}"


def make_work_base(path: Path, n: int, *, forward_file: bool = True) -> None:
    """N task directories, with one small forward file each unless ``forward_file`` is false."""
    for i in range(n):
        d = path / task_dir(i)
        d.mkdir(parents=True)
        if forward_file:
            (d / "in.txt").write_text(f"input {i}\n")


def task_specs(n: int) -> list[dict]:
    """The tasks as dicts (the same for us and for the published package)."""
    return [
        {"command": "true", "task_work_path": f"{task_dir(i)}/", "forward_files": ["in.txt"], "backward_files": ["log"]}
        for i in range(n)
    ]


def resources_spec(n: int, para_deg: int) -> dict:
    return {
        "number_node": 1,
        "cpu_per_node": para_deg,
        "gpu_per_node": 0,
        "queue_name": "",
        "group_size": max(n // 10, 1),
        "para_deg": para_deg,
    }


def machine_spec(context: str, local_root: Path, remote_root: Path) -> dict:
    return {
        "batch_type": "Shell",
        "context_type": context,
        "local_root": str(local_root),
        "remote_root": str(remote_root),
    }


def missing_backward_files(work: Path, n: int, name: str = "log") -> int:
    """How many of the N task directories lack the backward file ``name``."""
    return sum(not (work / task_dir(i) / name).exists() for i in range(n))


# -- bash baseline --------------------------------------------------------------------------------


def bash_seconds(work: Path, n: int, para_deg: int, repeat: int = 3) -> float:
    """Best of ``repeat`` runs of one bash script running every task's command in its directory."""
    lines = ["#!/bin/bash", 'cd "$1" || exit 1']
    for i in range(n):
        if para_deg > 1:
            lines.append(f"( cd {task_dir(i)} && true > log ) &")
            if (i + 1) % para_deg == 0:
                lines.append("wait")
        else:
            lines.append(f"( cd {task_dir(i)} && true > log )")
    lines.append("wait")
    script = work.parent / f"bash-baseline-{n}-{para_deg}.sh"
    script.write_text("\n".join(lines) + "\n")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(["bash", str(script), str(work)], check=True, timeout=TIMEOUT)
        times.append(time.perf_counter() - start)
    return min(times)


# -- ours -------------------------------------------------------------------------------------------


def ours_run(root: Path, context: str, n: int, para_deg: int) -> float:
    """Wall time of run_submission for one case (a fresh work base and remote root)."""
    from dpdispatcher import Machine, Resources, Submission, Task

    make_work_base(root / "work", n)
    machine = Machine.load_from_dict(machine_spec(context, root, root / "remote"))
    resources = Resources.load_from_dict(resources_spec(n, para_deg))
    tasks = [Task(**spec) for spec in task_specs(n)]
    submission = Submission(work_base="work", machine=machine, resources=resources, task_list=tasks)
    start = time.perf_counter()
    submission.run_submission()
    seconds = time.perf_counter() - start
    if missing_backward_files(root / "work", n):
        raise RuntimeError(f"{context} N={n}: some backward files are missing")
    return seconds


def ours_lag(root: Path, context: str) -> float:
    """Seconds between the last task writing its end time and run_submission returning."""
    from dpdispatcher import Machine, Resources, Submission, Task

    (root / "work" / "lag").mkdir(parents=True)
    machine = Machine.load_from_dict(machine_spec(context, root, root / "remote"))
    resources = Resources.load_from_dict(resources_spec(1, 1))
    task = Task(command=LAG_COMMAND, task_work_path="lag/", backward_files=["end.txt"])
    Submission(work_base="work", machine=machine, resources=resources, task_list=[task]).run_submission()
    returned = time.time()
    return returned - float((root / "work" / "lag" / "end.txt").read_text())


LAG_COMMAND = f"sleep {LAG_SLEEP} && date +%s.%N > end.txt"


def ours_scale(root: Path, n: int, group_size: int) -> tuple[float, float, int]:
    """(seconds to build the Submission and its jobs, seconds to generate every job script, number of jobs)."""
    from dpdispatcher import Machine, Resources, Submission, Task

    start = time.perf_counter()
    machine = Machine.load_from_dict(machine_spec("LocalContext", root, root / "remote"))
    resources = Resources.load_from_dict({**resources_spec(n, 1), "group_size": group_size})
    tasks = [Task(**spec) for spec in task_specs(n)]
    submission = Submission(work_base="work", machine=machine, resources=resources, task_list=tasks)
    submission.generate_jobs()
    machine.context.bind_submission(submission)
    built = time.perf_counter()
    scripts = [machine.gen_script(job) for job in submission.belonging_jobs]
    generated = time.perf_counter()
    assert len(scripts) == len(submission.belonging_jobs)
    return built - start, generated - built, len(scripts)


# -- a child process running cases through either package -------------------------------------------

# Only the dpdispatcher API both packages share: the published one in its venv, ours in this one.
RUNNER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from dpdispatcher import Machine, Resources, Submission, Task

    def timed(case):
        machine = Machine.load_from_dict(case["machine"])
        resources = Resources.load_from_dict(case["resources"])
        tasks = [Task(**t) for t in case["tasks"]]
        submission = Submission(work_base="work", machine=machine, resources=resources, task_list=tasks)
        start = time.perf_counter()
        submission.run_submission()  # default settings (check_interval=30 in both packages)
        return time.perf_counter() - start, time.time()

    def run(case):
        try:
            seconds, returned = timed(case)
        except Exception as err:
            message = f"{type(err).__name__}: {err}"
            print(f"  {case['label']}: {message}", file=sys.stderr, flush=True)
            return {"error": message}
        result = {"seconds": seconds}
        if case.get("lag_file"):
            result["lag"] = returned - float(Path(case["lag_file"]).read_text())
        print(f"  {case['label']}: {seconds:.2f} s", file=sys.stderr, flush=True)
        return result

    def main():
        spec = json.load(sys.stdin)
        results = [run(case) for case in spec["cases"]]
        Path(spec["results"]).write_text(json.dumps(results))  # the package's log goes to stdout

    main()
    """
)


def published_python(venv: Path) -> tuple[Path | None, str]:
    """The venv's python with dpdispatcher==1.1.0, installing it if needed; or None and why not."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import dpdispatcher; print(dpdispatcher.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, timeout=120)
        if found.returncode == 0 and found.stdout.strip() == PUBLISHED_VERSION:
            return python, ""
    print(f"installing dpdispatcher=={PUBLISHED_VERSION} into {venv} ...", file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        pip = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"dpdispatcher=={PUBLISHED_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except (subprocess.SubprocessError, OSError) as err:
        return None, f"could not create the venv: {err}"
    if pip.returncode != 0:
        return None, f"pip install failed: {(pip.stderr or pip.stdout).strip()[-800:]}"
    found = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    if found.returncode != 0:
        return None, f"installed but cannot import: {found.stderr.strip()[-800:]}"
    return python, ""


def run_cases(python: Path, cases: list[dict], home: Path, timeout: float = TIMEOUT) -> list[dict]:
    """Run ``cases`` through RUNNER with ``python`` (ours or the published venv's) in a child process.

    One result dict per case: ``seconds`` (and ``lag``), or ``error``. Raises RuntimeError if the
    child fails and subprocess.TimeoutExpired (after killing its process group) if it outlives ``timeout``.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(home)  # the published package keeps its records and log under ~
    env["DPDISPATCHER_HOME"] = str(home / "dpdispatcher-home")  # ours keeps its records here
    results = home / "results.json"
    proc = subprocess.Popen(
        [str(python), "-c", RUNNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env=env,
        cwd=home,
        start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(json.dumps({"cases": cases, "results": str(results)}), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"the runner failed with exit code {proc.returncode}: {stdout.strip()[-800:]}")
    return json.loads(results.read_text())


# -- driver -------------------------------------------------------------------------------------------


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.1f}x"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def run_issue2(args: argparse.Namespace, fresh: Callable[[str], Path]) -> None:
    """The issue-2 figures: bash baseline, lag, scale and (``--published``) the published package."""
    from dpdispatcher import __version__
    from dpdispatcher.plugins import get_registry

    get_registry()  # load the plugins outside the timings
    ours_run(fresh("warmup"), "LocalContext", 10, 1)

    cases = [(c, n, p) for c in args.contexts for n in args.n for p in args.para_deg]
    ours: dict[tuple, float] = {}
    bash: dict[tuple, float] = {}
    for context, n, para_deg in cases:
        runs = []
        for _ in range(args.repeat):
            root = fresh(f"{context}-{n}-{para_deg}")
            runs.append(ours_run(root, context, n, para_deg))
        ours[(context, n, para_deg)] = statistics.median(runs)
        bash[(context, n, para_deg)] = bash_seconds(root / "work", n, para_deg)
        print(
            f"  ours {context} N={n} para_deg={para_deg}: {ours[(context, n, para_deg)]:.3f} s",
            file=sys.stderr,
            flush=True,
        )

    lags = {context: ours_lag(fresh(f"lag-{context}"), context) for context in args.contexts}
    scale = [(gs, *ours_scale(fresh(f"scale-{gs}"), SCALE_TASKS, gs)) for gs in (SCALE_TASKS // 10, 1)]

    published: dict[tuple, float | None] = {}
    published_lags: dict[str, float | None] = {}
    published_note = ""
    if args.published:
        python, why = published_python(Path(args.published_venv))
        if python is None:
            published_note = f"published dpdispatcher=={PUBLISHED_VERSION} not run: {why}"
            print(published_note, file=sys.stderr)
        else:
            specs = []
            for context, n, para_deg in cases:
                root = fresh(f"published-{context}-{n}-{para_deg}")
                make_work_base(root / "work", n)
                specs.append(
                    {
                        "label": f"published {context} N={n} para_deg={para_deg}",
                        "root": str(root),
                        "machine": machine_spec(context, root, root / "remote"),
                        "resources": resources_spec(n, para_deg),
                        "tasks": task_specs(n),
                    }
                )
            for context in args.contexts:
                root = fresh(f"published-lag-{context}")
                (root / "work" / "lag").mkdir(parents=True)
                specs.append(
                    {
                        "label": f"published {context} lag",
                        "root": str(root),
                        "machine": machine_spec(context, root, root / "remote"),
                        "resources": resources_spec(1, 1),
                        "tasks": [{"command": LAG_COMMAND, "task_work_path": "lag/", "backward_files": ["end.txt"]}],
                        "lag_file": str(root / "work" / "lag" / "end.txt"),
                    }
                )
            try:
                results = run_cases(python, specs, fresh("published-home"))
            except (RuntimeError, subprocess.SubprocessError, ValueError) as err:
                published_note = f"published dpdispatcher=={PUBLISHED_VERSION} failed: {err}"
                print(published_note, file=sys.stderr)
            else:
                errors = [r["error"] for r in results if "error" in r]
                if errors:
                    published_note = f"published dpdispatcher=={PUBLISHED_VERSION} failed: {errors[0]}"
                for case, result in zip(cases, results):
                    published[case] = result.get("seconds")
                for context, result in zip(args.contexts, results[len(cases) :]):
                    published_lags[context] = result.get("lag")

    # -- report ----------------------------------------------------------------------------------
    print()
    print(f"dpdispatcher-core {__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        "Workload: N tasks `true`, each with one forward file (in.txt) and one backward file (log), "
        "group_size N/10, batch type Shell, default settings (check_interval 30)."
    )
    print("bash = one bash script running `( cd task.i && true > log )` per task, para_deg at a time (best of 3).")
    print()
    header = ["context", "N", "para_deg", "bash [s]", "ours [s]", "ours/bash"]
    if args.published:
        header += [f"{PUBLISHED_VERSION} [s]", f"{PUBLISHED_VERSION}/bash", "speed-up vs 1.1.0"]
    rows = []
    for case in cases:
        context, n, para_deg = case
        row = [context, n, para_deg, fmt(bash[case]), fmt(ours[case]), ratio(ours[case], bash[case])]
        if args.published:
            pub = published.get(case)
            row += [fmt(pub), ratio(pub, bash[case]), ratio(pub, ours[case])]
        rows.append(row)
    print_table(header, rows)
    print("targets: ours/bash <= 1.5x; speed-up vs 1.1.0 >= 10x")
    print()
    header = ["lag: last task ends -> run_submission returns", "ours [s]"]
    if args.published:
        header.append(f"{PUBLISHED_VERSION} [s]")
    rows = []
    for context in args.contexts:
        row = [f"Shell + {context}, one task `sleep {LAG_SLEEP}`", fmt(lags[context])]
        if args.published:
            row.append(fmt(published_lags.get(context)))
        rows.append(row)
    print_table(header, rows)
    print("target: < 1 s")
    print()
    header = [f"Submission of {SCALE_TASKS} tasks", "jobs", "build [s]", "gen_script all [s]", "total [s]"]
    rows = [[f"group_size {gs}", jobs, fmt(b), fmt(g), fmt(b + g)] for gs, b, g, jobs in scale]
    print_table(header, rows)
    print("target: total < 2 s")
    if published_note:
        print()
        print(published_note)


# -- one-task jobs (issue 8) ---------------------------------------------------------------------


def one_task_specs(n: int) -> list[dict]:
    """N tasks ``echo i > out.txt``, each in its own directory, with backward file out.txt."""
    return [
        {"command": f"echo {i} > out.txt", "task_work_path": f"{task_dir(i)}/", "backward_files": ["out.txt"]}
        for i in range(n)
    ]


def one_task_case(root: Path, context: str, n: int, label: str) -> dict:
    """A RUNNER case of N one-task jobs (group_size 1, para_deg 1) under ``root``."""
    make_work_base(root / "work", n, forward_file=False)
    return {
        "label": label,
        "root": str(root),
        "machine": machine_spec(context, root, root / "remote"),
        "resources": resources_spec(1, 1),
        "tasks": one_task_specs(n),
    }


def first_line(text: str, limit: int = 120) -> str:
    lines = text.strip().splitlines()
    return lines[0][:limit] if lines else "(no message)"


def one_task_run(python: Path, root: Path, context: str, n: int, who: str, timeout: float) -> float | str:
    """Seconds of run_submission for N one-task jobs through ``python``'s dpdispatcher, or why none."""
    case = one_task_case(root, context, n, f"{who} {context} N={n}")
    home = root / "home"
    home.mkdir()
    try:
        [result] = run_cases(python, [case], home, timeout)
    except subprocess.TimeoutExpired:
        print(f"  {case['label']}: timeout after {timeout:g} s", file=sys.stderr, flush=True)
        return "timeout"
    except (RuntimeError, OSError, ValueError) as err:
        return f"error: {first_line(str(err))}"
    if "error" in result:
        return f"error: {first_line(result['error'])}"
    missing = missing_backward_files(root / "work", n, "out.txt")
    if missing:
        return f"error: {missing} of {n} out.txt missing"
    return result["seconds"]


def outcome_text(outcome: float | str | None) -> str:
    if outcome is None:
        return "-"
    return outcome if isinstance(outcome, str) else f"{outcome:.2f}"


def speed_up(ours: float | str, published: float | str | None) -> float | None:
    """published / ours when both are figures."""
    if isinstance(ours, float) and isinstance(published, float) and ours > 0:
        return published / ours
    return None


def target_text(n: int, up: float | None) -> str:
    if n != ONE_TASK_TARGET_N:
        return "-"
    goal = f">= {ONE_TASK_TARGET:g}x"
    if up is None:
        return goal
    return f"{goal} ({'met' if up >= ONE_TASK_TARGET else 'NOT met'})"


def run_one_task_jobs(args: argparse.Namespace, fresh: Callable[[str], Path]) -> None:
    """The issue-8 figures: N one-task jobs, ours beside (``--published``) dpdispatcher==1.1.0."""
    from dpdispatcher import __version__

    python: Path | None = None
    note = ""
    if args.published:
        python, why = published_python(Path(args.published_venv))
        if python is None:
            note = f"published dpdispatcher=={PUBLISHED_VERSION} not run: {why}"
            print(note, file=sys.stderr)

    def measure(who: str, interpreter: Path, context: str, n: int) -> float | str:
        root = fresh(f"{who}-{context}-{n}")
        try:
            return one_task_run(interpreter, root, context, n, who, args.timeout)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)

    rows = []
    for n in args.one_task_jobs:
        for context in args.contexts:
            ours = measure("ours", Path(sys.executable), context, n)
            published = None if python is None else measure("published", python, context, n)
            up = speed_up(ours, published)
            rows.append(
                [
                    n,
                    context,
                    outcome_text(ours),
                    outcome_text(published),
                    "-" if up is None else f"{up:.1f}x",
                    target_text(n, up),
                ]
            )

    print()
    print(f"dpdispatcher-core {__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        "Workload: N jobs of one task `echo i > out.txt` each (own directory, backward file out.txt), "
        "group_size 1, batch type Shell, default settings; wall time of run_submission."
    )
    print(f"ratio = {PUBLISHED_VERSION} / ours; each run bounded by {args.timeout:g} s.")
    print()
    header = ["N", "context", "ours (s)", f"published {PUBLISHED_VERSION} (s)", "ratio", "target"]
    print_table(header, rows)
    if note:
        print()
        print(note)


# -- command line -------------------------------------------------------------------------------------


def counts(text: str) -> list[int]:
    """``"1000,10000"`` -> ``[1000, 10000]``."""
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000], help="numbers of tasks (default 100 1000)")
    parser.add_argument("--para-deg", type=int, nargs="+", default=[1, 4], help="para_deg values (default 1 4)")
    parser.add_argument("--contexts", nargs="+", default=list(CONTEXTS), choices=CONTEXTS)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case; the median is shown")
    parser.add_argument("--published", action="store_true", help=f"also run dpdispatcher=={PUBLISHED_VERSION}")
    parser.add_argument("--published-venv", default="/tmp/dpd-published", help="venv for the published package")
    parser.add_argument(
        "--one-task-jobs",
        type=counts,
        metavar="N[,N...]",
        help="instead: run_submission of N one-task jobs (`echo`, group_size 1), e.g. 1000,10000",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=ONE_TASK_TIMEOUT,
        help=f"bound in seconds on each run of --one-task-jobs (default {ONE_TASK_TIMEOUT})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dpd-bench-"))
    os.environ["DPDISPATCHER_HOME"] = str(tmp / "dpdispatcher-home")
    os.environ.setdefault("CI", "1")  # no progress line in the figures
    counter = iter(range(1_000_000))

    def fresh(label: str) -> Path:
        path = tmp / f"{next(counter):03d}-{label}"
        path.mkdir()
        return path

    try:
        if args.one_task_jobs:
            run_one_task_jobs(args, fresh)
        else:
            run_issue2(args, fresh)
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
