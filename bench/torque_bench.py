"""Benchmark: N one-task jobs (``sleep 1``) on Torque (Slurm's Torque wrappers over a real Slurm), counting scheduler commands.

    python bench/torque_bench.py [--jobs 100] [--check-interval 2] [--no-published] [--timeout 900]

The same workload runs with this project and with the published dpdispatcher 1.1.0
(``--published-python``, default /work/pub110/bin/python), each in its own process with the
same check_interval and the same PATH: logging shims for qsub/qstat/qdel first, then Slurm's
Torque wrappers (Debian's slurm-wlm-torque; found as the tests find them, fetched by
tests/pbs/get-torque-wrappers.sh when missing) beside the real sbatch. Each shim logs its
call and execs the wrapper; the counts below are those logs.

Three adaptations let 1.1.0 run on the wrappers at all, the same for both runs: the qsub
shim deletes the empty lines a script starts with (1.1.0's Torque header template starts
with a newline, and sbatch refuses a script whose first line is not ``#!``; Torque's own
qsub takes it), the qstat shim drops a leading ``-l`` (1.1.0 asks ``qstat -l ID``; the
wrapper refuses ``-l``), and a cluster this script starts keeps finished jobs listed for
600 s (MinJobAge): for a job the wrapper no longer lists it exits 153 without "Unknown Job
Id", which 1.1.0 takes for an error. This project's scripts and commands are unchanged by them.

Without SLURM_CONF naming a cluster that answers, one is started with
tests/services/start-slurm.sh in a temporary directory and stopped after. Every wait is
bounded (--timeout per workload); temporary directories are removed; jobs a workload left
queued are cancelled. Timing is the drivers' own clock (time.monotonic), no external tool.
"""

from __future__ import annotations

import argparse
import glob
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
WRAPPERS_SCRIPT = REPO / "tests" / "pbs" / "get-torque-wrappers.sh"
WRAPPERS_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dpdispatcher-tests" / "slurm-wlm-torque"
)
COMMANDS = ("qsub", "qstat", "qdel")
PUBLISHED_PYTHON = "/work/pub110/bin/python"

DRIVER = """
import json, sys, time
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root, n, check_interval = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
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

machine = Machine.load_from_dict({"batch_type": "Torque", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1})
tasks = []
for i in range(n):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    tasks.append(Task(command="sleep 1; echo ok > out.txt", task_work_path=f"t{i}/",
                      forward_files=[], backward_files=["out.txt"]))
submission = Submission("wb", machine=machine, resources=resources, task_list=tasks)
start = time.monotonic()
submission.run_submission(check_interval=check_interval)
wall = time.monotonic() - start
missing = sum(not (root / "local" / "wb" / f"t{i}" / "out.txt").exists() for i in range(n))
print("BENCH " + json.dumps({"wall": wall, "polls": polls[0], "longest_poll": longest[0], "missing_outputs": missing}))
"""

#: a logging shim: one line per call, then the wrapper (with the adaptation of ADAPT, see the module text)
SHIM = """#!/bin/bash
printf "%s\\n" "$*" >> {log}
{adapt}exec {real} "$@"
"""
ADAPT = {
    "qsub": 'dpd_script="${@: -1}"; if [ -f "$dpd_script" ]; then sed -i \'/./,$!d\' "$dpd_script"; fi\n',
    "qstat": 'if [ "${1:-}" = "-l" ]; then shift; fi\n',
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sinfo_answers() -> bool:
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def start_cluster(state_dir: Path, cpus: int) -> None:
    env = {
        **os.environ,
        "SLURMCTLD_PORT": str(free_port()),
        "SLURMD_PORT": str(free_port()),
        "SLURM_CPUS": str(cpus),
        "SLURM_MIN_JOB_AGE": "600",
    }
    proc = subprocess.run(
        ["bash", str(SERVICES / "start-slurm.sh"), str(state_dir)], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        sys.exit(f"could not start Slurm: {proc.stderr.strip()[-2000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("export SLURM_CONF="):
            os.environ["SLURM_CONF"] = line.split("=", 1)[1]


def _is_wrapper_dir(directory: Path) -> bool:
    try:
        return "sbatch" in (directory / "qsub").read_text(errors="replace")
    except OSError:
        return False


def torque_wrappers() -> Path:
    """Slurm's Torque wrappers: $DPD_TORQUE_WRAPPERS, the installed package, or the tests' cache (fetched)."""
    found = shutil.which("qsub")
    candidates = [Path(p) for p in (os.environ.get("DPD_TORQUE_WRAPPERS"),) if p]
    candidates += [Path(found).resolve().parent] if found else []
    candidates.append(WRAPPERS_CACHE / "usr" / "bin")
    for directory in candidates:
        if _is_wrapper_dir(directory):
            return directory
    proc = subprocess.run(
        ["bash", str(WRAPPERS_SCRIPT), str(WRAPPERS_CACHE)], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0 or not _is_wrapper_dir(WRAPPERS_CACHE / "usr" / "bin"):
        sys.exit(f"Slurm's Torque wrappers are missing: {proc.stderr.strip()[-2000:]}")
    return WRAPPERS_CACHE / "usr" / "bin"


def make_shims(root: Path, wrappers: Path) -> tuple[Path, Path, Path]:
    """bin/ (logging shims, first on PATH), real/ (the wrappers beside sbatch: they exec the sbatch next to
    them), logs/ (one file per command)."""
    bin_dir, real, logs = root / "bin", root / "real", root / "logs"
    for d in (bin_dir, real, logs):
        d.mkdir(parents=True)
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        sys.exit("sbatch not found on PATH")
    (real / "sbatch").symlink_to(sbatch)
    for cmd in COMMANDS:
        (real / cmd).symlink_to(wrappers / cmd)
        shim = bin_dir / cmd
        shim.write_text(SHIM.format(log=logs / cmd, real=real / cmd, adapt=ADAPT.get(cmd, "")))
        shim.chmod(0o755)
    return bin_dir, real, logs


def cancel_leftovers(run_dir: Path, real: Path) -> None:
    """qdel the jobs a workload recorded and left behind (a run cut short by its timeout)."""
    ids = []
    for path in glob.glob(str(run_dir / "remote" / "*" / "*_job_id")):
        try:
            ids.append(Path(path).read_text().strip())
        except OSError:
            pass
    if ids:
        subprocess.run([str(real / "qdel"), *ids], capture_output=True, timeout=120)


def run_workload(python: str, label: str, wrappers: Path, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"dpd-bench-torque-{label}-"))
    try:
        bin_dir, real, logs = make_shims(work / "wrappers", wrappers)
        driver = work / "driver.py"
        driver.write_text(textwrap.dedent(DRIVER))
        (work / "home").mkdir()
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "DPDISPATCHER_HOME": str(work / "home"),
            "HOME": str(work / "home"),  # the published package keeps records under ~/.dpdispatcher
        }
        command = [python, str(driver), str(work / "run"), str(args.jobs), str(args.check_interval)]
        try:
            proc = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"label": label, "error": f"did not finish within {args.timeout:.0f} s"}
        finally:
            cancel_leftovers(work / "run", real)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
        if proc.returncode != 0 or line is None:
            return {"label": label, "error": (proc.stderr or proc.stdout).strip()[-3000:]}
        calls = {cmd: (logs / cmd).read_text().splitlines() if (logs / cmd).exists() else [] for cmd in COMMANDS}
        status = [c for c in calls["qstat"] if not c.startswith("-f")]  # qstat -f: why a job failed
        return {
            "label": label,
            **json.loads(line[len("BENCH ") :]),
            "qsub": len(calls["qsub"]),
            "qstat": len(status),
            "qstat_f": len(calls["qstat"]) - len(status),
            "qdel": len(calls["qdel"]),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def show(results: list[dict], jobs: int) -> None:
    head = (
        f"{'':>10}  {'wall s':>7}  {'polls':>5}  {'qsub':>5}  {'qstat':>6}  {'qstat/poll':>10}  {'qstat -f':>8}  "
        f"{'qdel':>4}  {'total':>6}  {'longest poll s':>14}  missing"
    )
    print(head)
    for r in results:
        if "error" in r:
            print(f"{r['label']:>10}  FAILED: {r['error']}")
            continue
        total = r["qsub"] + r["qstat"] + r["qstat_f"] + r["qdel"]
        per_poll = r["qstat"] / r["polls"] if r["polls"] else float("nan")
        print(
            f"{r['label']:>10}  {r['wall']:7.1f}  {r['polls']:5d}  {r['qsub']:5d}  {r['qstat']:6d}  {per_poll:10.1f}  "
            f"{r['qstat_f']:8d}  {r['qdel']:4d}  {total:6d}  {r['longest_poll']:14.1f}  {r['missing_outputs']}/{jobs}"
        )
    print(
        "target: one status command (qstat) per poll whatever the number of jobs (1.1.0: one per job per poll), "
        "and no poll that waits on a vanished job (longest poll: one qstat and one file query, well under a second)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--check-interval", type=float, default=2.0)
    parser.add_argument("--published-python", default=PUBLISHED_PYTHON, help="a python with dpdispatcher 1.1.0")
    parser.add_argument("--no-published", action="store_true", help="run this project only")
    parser.add_argument("--cpus", type=int, default=16, help="CPUs of a cluster this script starts")
    parser.add_argument("--timeout", type=float, default=900, help="bound for each workload (seconds)")
    args = parser.parse_args()

    state_dir = None
    if not (os.environ.get("SLURM_CONF") and sinfo_answers()):
        state_dir = Path(tempfile.mkdtemp(prefix="dpd-bench-slurm-"))
        start_cluster(state_dir, args.cpus)
    try:
        wrappers = torque_wrappers()
        print(
            f"{args.jobs} one-task jobs (sleep 1), check_interval {args.check_interval} s, Torque = Slurm's Torque "
            f"wrappers ({wrappers}) over Slurm (SLURM_CONF={os.environ['SLURM_CONF']})"
        )
        runners = [("ours", sys.executable)]
        if not args.no_published:
            if Path(args.published_python).exists():
                runners.append(("1.1.0", args.published_python))
            else:
                print(f"1.1.0: not run: {args.published_python} does not exist")
        show([run_workload(python, label, wrappers, args) for label, python in runners], args.jobs)
    finally:
        if state_dir is not None:
            subprocess.run(["bash", str(SERVICES / "stop-slurm.sh"), str(state_dir)], capture_output=True, timeout=120)
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
