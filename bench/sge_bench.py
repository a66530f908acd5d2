"""Benchmark: N one-task jobs (``sleep 1``) and F failing ones on a real Grid Engine cell, counting scheduler commands.

    python bench/sge_bench.py [--jobs 50] [--failing 1] [--check-interval 2] [--no-published] [--repeat 1]

Uses the cell of ``SGE_ROOT`` if qstat answers, else starts one with
tests/services/start-sge.sh in a temporary directory (and stops it after).
qsub/qstat/qacct/qdel are counted through wrappers first on PATH that log each
call and exec Grid Engine's own command; ``sync`` too, which is what dpdispatcher
1.1.0 runs while it waits on a job that left qstat without its tag (sync + sleep 10,
7 times: ~70 s per such job). The failing jobs (``exit 1``, retry_count 0) show how
long a run takes to notice them. The same workload runs, with the same
check_interval and the same PATH, with the published 1.1.0 (``--published-python``,
default /work/pub110/bin/python) in a process of its own. Every wait is bounded
(--timeout per workload), temporary directories are removed, jobs a workload left
behind are deleted; timing is the drivers' own clock (time.monotonic).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "tests" / "services"
SGEBIN = "/usr/lib/gridengine"
COMMANDS = ("qsub", "qstat", "qacct", "qdel")
#: counted too: 1.1.0 runs ``sync`` while it waits on a job that left qstat
WAIT_COMMANDS = ("sync",)
PUBLISHED_PYTHON = "/work/pub110/bin/python"

DRIVER = """
import json, sys, time
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root, n, failing, check_interval = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
polls, longest = [0], [0.0]
original = Submission.update_submission_state
def counted(self, *args, **kwargs):
    polls[0] += 1
    start = time.monotonic()
    try:
        return original(self, *args, **kwargs)
    finally:
        longest[0] = max(longest[0], time.monotonic() - start)
Submission.update_submission_state = counted
machine = Machine.load_from_dict({"batch_type": "SGE", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote"), "retry_count": 0})
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "kwargs": {"pe_name": "smp"}})
tasks = []
for i in range(n + failing):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    command = "sleep 1; echo ok > out.txt" if i < n else "sleep 1; exit 1"
    tasks.append(Task(command=command, task_work_path=f"t{i}/", forward_files=[],
                      backward_files=["out.txt"] if i < n else []))
submission = Submission("wb", machine=machine, resources=resources, task_list=tasks)
start = time.monotonic()
failed = ""
try:
    submission.run_submission(check_interval=check_interval)
except Exception as err:  # the failing jobs end the run: that is expected when failing > 0
    failed = type(err).__name__
wall = time.monotonic() - start
missing = sum(not (root / "local" / "wb" / f"t{i}" / "out.txt").exists() for i in range(n))
print("BENCH " + json.dumps({"wall": wall, "polls": polls[0], "longest_poll": longest[0],
    "missing_outputs": missing, "raised": failed}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qstat_answers() -> bool:
    if not os.environ.get("SGE_ROOT"):
        return False
    try:
        proc = subprocess.run([f"{SGEBIN}/qstat", "-xml"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def start_cell(state_dir: Path, slots: int) -> None:
    env = {
        **os.environ,
        "SGE_QMASTER_PORT": str(free_port()),
        "SGE_EXECD_PORT": str(free_port()),
        "SGE_SLOTS": str(slots),
    }
    proc = subprocess.run(
        ["bash", str(SERVICES / "start-sge.sh"), str(state_dir)], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        sys.exit(f"could not start Grid Engine: {proc.stderr.strip()[-2000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export ") :].split("=", 1)
            os.environ[name] = value.replace("$PATH", os.environ.get("PATH", ""))


def make_wrappers(root: Path) -> tuple[Path, Path]:
    bin_dir, logs = root / "bin", root / "logs"
    bin_dir.mkdir(parents=True)
    logs.mkdir()
    reals = {cmd: f"{SGEBIN}/{cmd}" for cmd in COMMANDS}
    reals.update({cmd: shutil.which(cmd) or f"/bin/{cmd}" for cmd in WAIT_COMMANDS})
    for cmd, real in reals.items():
        wrapper = bin_dir / cmd
        wrapper.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> {logs / cmd}\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir, logs


def delete_leftovers(run_dir: Path) -> None:
    """qdel the jobs a workload recorded and left behind (a run cut short by its timeout)."""
    ids = []
    for path in run_dir.glob("remote/*/*_job_id"):
        try:
            ids.append(path.read_text().strip())
        except OSError:
            pass
    if ids:
        subprocess.run([f"{SGEBIN}/qdel", *ids], capture_output=True, timeout=120)


def run_workload(python: str, label: str, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"dpd-bench-sge-{label}-"))
    try:
        bin_dir, logs = make_wrappers(work / "wrappers")
        driver = work / "driver.py"
        driver.write_text(textwrap.dedent(DRIVER))
        (work / "home").mkdir()
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "DPDISPATCHER_HOME": str(work / "home"),
            "HOME": str(work / "home"),  # the published package keeps records under ~/.dpdispatcher
        }
        command = [python, str(driver), str(work / "run"), str(args.jobs), str(args.failing), str(args.check_interval)]
        try:
            proc = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"label": label, "error": f"did not finish within {args.timeout:.0f} s"}
        finally:
            delete_leftovers(work / "run")
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
        if proc.returncode != 0 or line is None:
            return {"label": label, "error": (proc.stderr or proc.stdout).strip()[-3000:]}
        counts = {
            cmd: len((logs / cmd).read_text().splitlines()) if (logs / cmd).exists() else 0
            for cmd in (*COMMANDS, *WAIT_COMMANDS)
        }
        return {"label": label, **json.loads(line[len("BENCH ") :]), **counts}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def show(result: dict, jobs: int) -> None:
    if "error" in result:
        print(f"{result['label']:>10}: FAILED\n{result['error']}")
        return
    per_poll = result["qstat"] / result["polls"] if result["polls"] else float("nan")
    print(
        f"{result['label']:>10}: wall {result['wall']:6.1f} s  polls {result['polls']:4d}  qsub {result['qsub']:4d}  "
        f"qstat {result['qstat']:5d} ({per_poll:.1f}/poll)  qacct {result['qacct']:3d}  qdel {result['qdel']:3d}  "
        f"sync {result['sync']:3d}  longest poll {result['longest_poll']:5.1f} s  "
        f"missing outputs {result['missing_outputs']}/{jobs}  raised {result['raised'] or '-'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--failing", type=int, default=1, help="jobs whose task exits 1 (retry_count 0)")
    parser.add_argument("--check-interval", type=float, default=2.0)
    parser.add_argument("--published-python", default=PUBLISHED_PYTHON, help="a python with dpdispatcher 1.1.0")
    parser.add_argument("--no-published", action="store_true", help="run this project only")
    parser.add_argument("--slots", type=int, default=8, help="slots of a cell this script starts")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800, help="bound for each workload (seconds)")
    args = parser.parse_args()

    state_dir = None
    if not qstat_answers():
        state_dir = Path(tempfile.mkdtemp(prefix="dpd-bench-sge-"))
        start_cell(state_dir, args.slots)
    try:
        print(
            f"{args.jobs} one-task jobs (sleep 1) + {args.failing} failing, check_interval {args.check_interval} s, "
            f"SGE_ROOT={os.environ['SGE_ROOT']}"
        )
        runners = [("ours", sys.executable)]
        if not args.no_published:
            if Path(args.published_python).exists():
                runners.append(("1.1.0", args.published_python))
            else:
                print(f"     1.1.0: not run: {args.published_python} does not exist")
        for rep in range(args.repeat):
            for label, python in runners if rep % 2 == 0 else runners[::-1]:
                show(run_workload(python, label, args), args.jobs)
        print(
            "target: one status command (qstat) per poll whatever the number of jobs (1.1.0: one qstat per job per "
            "poll), and no poll that waits on a vanished job (sync 0; 1.1.0: sync + sleep 10, 7 times, per such job)"
        )
    finally:
        if state_dir is not None:
            subprocess.run(["bash", str(SERVICES / "stop-sge.sh"), str(state_dir)], capture_output=True, timeout=120)
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
