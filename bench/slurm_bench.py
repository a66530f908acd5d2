"""Benchmark: N one-task jobs (``sleep 1``) on a real Slurm cluster, counting scheduler commands.

    python bench/slurm_bench.py [--jobs 200] [--check-interval 2] [--published] [--repeat 3]

Uses the cluster of ``SLURM_CONF`` if ``sinfo`` answers, else starts one with
tests/services/start-slurm.sh in a temporary directory (and stops it after).
sbatch/squeue/sacct/scancel are counted through wrappers first on PATH that log
each call and exec the real command. ``--published`` runs the same workload,
with the same check_interval, with ``dpdispatcher==1.1.0`` installed in a
separate venv (created on first use with pip).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "tests" / "services"
COMMANDS = ("sbatch", "squeue", "sacct", "scancel")
PUBLISHED = "dpdispatcher==1.1.0"

DRIVER = """
import json, sys, time
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root, n, check_interval = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
polls = [0]
original = Submission.update_submission_state
def counted(self, *args, **kwargs):
    polls[0] += 1
    return original(self, *args, **kwargs)
Submission.update_submission_state = counted

machine = Machine.load_from_dict({"batch_type": "Slurm", "context_type": "LocalContext",
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
print("BENCH " + json.dumps({"wall": wall, "polls": polls[0], "missing_outputs": missing}))
"""


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
    env = {**os.environ, "SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port()), "SLURM_CPUS": str(cpus)}
    proc = subprocess.run(
        ["bash", str(SERVICES / "start-slurm.sh"), str(state_dir)], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        sys.exit(f"could not start Slurm: {proc.stderr.strip()[-2000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("export SLURM_CONF="):
            os.environ["SLURM_CONF"] = line.split("=", 1)[1]


def warm_up(n: int = 32, bound: float = 120) -> None:
    """Run a few trivial jobs first: the first jobs on a fresh slurmd start slower, which would favour the second run."""
    ids = []
    for _ in range(n):
        proc = subprocess.run(
            ["sbatch", "--parsable", "--wrap", "true", "-o", "/dev/null"], capture_output=True, text=True
        )
        if proc.returncode == 0:
            ids.append(proc.stdout.strip().split(";")[0])
    deadline = time.monotonic() + bound
    while ids and time.monotonic() < deadline:
        proc = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            return
        time.sleep(0.5)


def make_wrappers(root: Path) -> tuple[Path, Path]:
    bin_dir, logs = root / "bin", root / "logs"
    bin_dir.mkdir(parents=True)
    logs.mkdir()
    for cmd in COMMANDS:
        real = shutil.which(cmd)
        if real is None:
            sys.exit(f"{cmd} not found on PATH")
        wrapper = bin_dir / cmd
        wrapper.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> {logs / cmd}\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir, logs


def run_workload(python: str, label: str, jobs: int, check_interval: float, timeout: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"dpd-bench-{label}-"))
    bin_dir, logs = make_wrappers(work / "wrappers")
    driver = work / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DPDISPATCHER_HOME": str(work / "home"),
        "HOME": str(work / "home"),  # the published package keeps records under ~/.dpdispatcher
    }
    (work / "home").mkdir()
    start = time.monotonic()
    proc = subprocess.run(
        [python, str(driver), str(work / "run"), str(jobs), str(check_interval)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    total = time.monotonic() - start
    result_line = next((line for line in proc.stdout.splitlines() if line.startswith("BENCH ")), None)
    if proc.returncode != 0 or result_line is None:
        return {"label": label, "error": (proc.stderr or proc.stdout).strip()[-3000:]}
    result = json.loads(result_line[len("BENCH ") :])
    counts = {cmd: len((logs / cmd).read_text().splitlines()) if (logs / cmd).exists() else 0 for cmd in COMMANDS}
    shutil.rmtree(work, ignore_errors=True)
    return {"label": label, "process_wall": total, **result, **counts}


def published_python(venv: Path) -> tuple[str | None, str]:
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run(
            [str(python), "-c", "import dpdispatcher; print(dpdispatcher.__version__)"], capture_output=True, text=True
        )
        if check.returncode == 0 and check.stdout.strip() == PUBLISHED.split("==")[1]:
            return str(python), ""
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, f"python -m venv failed: {proc.stderr.strip()}"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", PUBLISHED], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        return None, f"pip install {PUBLISHED} failed: {proc.stderr.strip()[-2000:]}"
    return str(python), ""


def show(result: dict, jobs: int) -> None:
    if "error" in result:
        print(f"{result['label']:>10}: FAILED\n{result['error']}")
        return
    scheduler = result["sbatch"] + result["squeue"] + result["sacct"]
    per_poll = result["squeue"] / result["polls"] if result["polls"] else float("nan")
    print(
        f"{result['label']:>10}: wall {result['wall']:6.1f} s  polls {result['polls']:4d}  "
        f"sbatch {result['sbatch']:4d}  squeue {result['squeue']:5d} ({per_poll:.1f}/poll)  "
        f"sacct {result['sacct']:3d}  scancel {result['scancel']:3d}  scheduler total {scheduler:5d}  "
        f"missing outputs {result['missing_outputs']}/{jobs}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--check-interval", type=float, default=2.0)
    parser.add_argument("--published", action="store_true", help=f"also run {PUBLISHED} (separate venv)")
    parser.add_argument("--published-venv", default=os.path.join(tempfile.gettempdir(), "dpd-bench-published-venv"))
    parser.add_argument("--cpus", type=int, default=16, help="CPUs of a cluster this script starts")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, in alternating order (medians shown)")
    parser.add_argument("--timeout", type=float, default=1800, help="bound for each workload (seconds)")
    args = parser.parse_args()

    state_dir = None
    if not (os.environ.get("SLURM_CONF") and sinfo_answers()):
        state_dir = Path(tempfile.mkdtemp(prefix="dpd-bench-slurm-"))
        start_cluster(state_dir, args.cpus)
    try:
        print(
            f"{args.jobs} one-task jobs (sleep 1), check_interval {args.check_interval} s, SLURM_CONF={os.environ['SLURM_CONF']}"
        )
        warm_up()
        runners = [("ours", sys.executable)]
        if args.published:
            python, why = published_python(Path(args.published_venv))
            if python is None:
                print(f" published: not run: {why}")
            else:
                runners.append(("published", python))
        results: dict[str, list[dict]] = {label: [] for label, _ in runners}
        for rep in range(args.repeat):
            # alternate the order: neither side always gets the fresher cluster
            for label, python in runners if rep % 2 == 0 else runners[::-1]:
                result = run_workload(python, label, args.jobs, args.check_interval, args.timeout)
                show(result, args.jobs)
                results[label].append(result)
        ok = {label: [r for r in rs if "error" not in r] for label, rs in results.items()}
        if len(ok) == 2 and all(ok.values()):
            ours, pub = (ok["ours"], ok["published"])

            def median(rs: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
                return statistics.median(key(r) for r in rs)

            def total(r: dict[str, Any]) -> int:
                return r["sbatch"] + r["squeue"] + r["sacct"]

            print(
                f"median over {args.repeat} run(s): wall ours {median(ours, lambda r: r['wall']):.1f} s, "
                f"published {median(pub, lambda r: r['wall']):.1f} s; scheduler commands ours "
                f"{median(ours, total):.0f}, published {median(pub, total):.0f} "
                f"({median(pub, total) / max(median(ours, total), 1):.1f}x fewer); squeue per poll ours "
                f"{median(ours, lambda r: r['squeue'] / max(r['polls'], 1)):.1f}, published "
                f"{median(pub, lambda r: r['squeue'] / max(r['polls'], 1)):.1f}"
            )
    finally:
        if state_dir is not None:
            subprocess.run(["bash", str(SERVICES / "stop-slurm.sh"), str(state_dir)], capture_output=True, timeout=120)
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
