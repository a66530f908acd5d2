"""Transfer speed of SSHContext over a loopback sshd, beside `tar c | ssh tar x` and dpdispatcher==1.1.0.

    python bench/ssh_bench.py [--published-python /path/to/venv/bin/python] [--jobs 100]

Starts a private sshd with tests/services/start-sshd.sh (root needed), then times:
  (a) 1000 files of 4 KB in 100 task dirs, (b) one 200 MB file: upload, then download;
each with SSHContext, with `tar c | ssh host tar x` (and the reverse) as the limit, and
with the published dpdispatcher 1.1.0 (if a python with it installed is given or found at
/tmp/dpd110-venv). Finally counts SSH connections for submitting and polling N Shell jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVICES = HERE.parent / "tests" / "services"

PUBLISHED = r"""
import json, sys, time
from dpdispatcher import Machine, Resources, Submission, Task
cfg = json.loads(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "Shell", "context_type": "SSHContext",
    "local_root": cfg["local"], "remote_root": cfg["remote"], "remote_profile": cfg["profile"]})
tasks = [Task(command="true", task_work_path=d, forward_files=fs, backward_files=fs) for d, fs in cfg["tasks"]]
res = Resources(number_node=1, cpu_per_node=1, gpu_per_node=0, queue_name="", group_size=len(tasks))
sub = Submission(work_base=".", machine=machine, resources=res, task_list=tasks)
sub.generate_jobs()
machine.context.bind_submission(sub)
t0 = time.perf_counter(); machine.context.upload(sub); up = time.perf_counter() - t0
import shutil, os
for d, fs in cfg["tasks"]:
    for f in fs:
        os.remove(os.path.join(cfg["local"], d, f))
t0 = time.perf_counter(); machine.context.download(sub); down = time.perf_counter() - t0
print(json.dumps({"up": up, "down": down}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sshd(state: Path) -> dict[str, str]:
    port = free_port()
    out = subprocess.run(
        ["bash", str(SERVICES / "start-sshd.sh"), str(state), str(port)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line[7:].split("=", 1)
            env[k] = v
    return env


#: task directories and the files in each, relative to the local root
Tasks = list[tuple[str, list[str]]]


def make_small(root: Path) -> Tasks:
    tasks = []
    for d in range(100):
        task = root / f"task {d:03d}"
        task.mkdir(parents=True)
        names = []
        for f in range(10):
            (task / f"f{f}.dat").write_bytes(os.urandom(4096))
            names.append(f"f{f}.dat")
        tasks.append((task.name, names))
    return tasks


def make_big(root: Path, mb: int = 200) -> Tasks:
    (root / "big").mkdir(parents=True)
    with open(root / "big" / "data.bin", "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    return [("big", ["data.bin"])]


def ssh_cmd(env: Mapping[str, str]) -> str:
    return (
        f"ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={shlex.quote(env['SSHD_KNOWN_HOSTS'])} "
        f"-i {shlex.quote(env['SSHD_KEY'])} -p {env['SSHD_PORT']} root@127.0.0.1"
    )


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, executable="/bin/bash")


def bench_limit(env: Mapping[str, str], local: Path, remote: str, back: Path) -> tuple[float, float]:
    ssh = ssh_cmd(env)
    r = shlex.quote(remote)
    up = timed(
        lambda: sh(f"tar c -C {shlex.quote(str(local))} . | {ssh} {shlex.quote(f'mkdir -p {r} && tar x -C {r}')}")
    )
    back.mkdir(parents=True)
    down = timed(lambda: sh(f"{ssh} {shlex.quote(f'tar c -C {r} .')} | tar x -C {shlex.quote(str(back))}"))
    return up, down


def bench_ours(env: Mapping[str, str], local: Path, remote: str, tasks: Tasks) -> tuple[float, float]:
    from dpdispatcher_ssh import SSHContext

    ctx = SSHContext(local_root=str(local), remote_root=remote, remote_profile=profile(env))
    ctx.remote_root = remote  # unbound: transfer straight into the remote root
    ctx.session.transport()  # connect outside the timing, as the other two tools' timings do not include a login
    files = [f"{d}/{f}" for d, fs in tasks for f in fs]
    up = timed(lambda: ctx.upload_files(files, dirs=[d for d, _ in tasks]))
    for f in files:
        os.remove(local / f)
    down = timed(lambda: ctx.download_files(files))
    assert all((local / f).exists() for f in files)
    ctx.close()
    return up, down


def profile(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "hostname": "127.0.0.1",
        "port": int(env["SSHD_PORT"]),
        "username": "root",
        "key_filename": env["SSHD_KEY"],
        "known_hosts": env["SSHD_KNOWN_HOSTS"],
        "strict_host_key_checking": True,
    }


def bench_published(
    python: str, env: Mapping[str, str], local: Path, remote: str, tasks: Tasks
) -> tuple[float, float] | str:
    home = Path(tempfile.mkdtemp())
    (home / ".ssh").mkdir()
    shutil.copy(env["SSHD_KNOWN_HOSTS"], home / ".ssh" / "known_hosts")
    prof = {k: v for k, v in profile(env).items() if k in ("hostname", "port", "username", "key_filename")}
    cfg = {"local": str(local), "remote": remote, "profile": prof, "tasks": tasks}
    proc = subprocess.run(
        [python, "-c", PUBLISHED, json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "HOME": str(home)},
        cwd=str(home),
    )
    shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        return "failed: " + proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return r["up"], r["down"]


def bench_connections(env: Mapping[str, str], work: Path, n_jobs: int) -> tuple[int, int]:
    from dpdispatcher import Machine, Resources, Submission, Task
    from dpdispatcher_ssh import SSHContext

    log = Path(env["SSHD_DIR"]) / "sshd.log"
    before = log.read_text().count("Accepted publickey")
    (work / "wb").mkdir(parents=True)
    for i in range(n_jobs):
        (work / "wb" / f"t{i}").mkdir()
        (work / "wb" / f"t{i}" / "in.txt").write_text(f"{i}\n")
    machine = Machine.load_from_dict(
        {
            "batch_type": "Shell",
            "context_type": "SSHContext",
            "local_root": str(work),
            "remote_root": str(work / "remote"),
            "remote_profile": profile(env),
        }
    )
    tasks = [
        Task(command="cp in.txt out.txt", task_work_path=f"t{i}/", forward_files=["in.txt"], backward_files=["out.txt"])
        for i in range(n_jobs)
    ]
    sub = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=tasks)
    sub.run_submission(check_interval=1)
    context = machine.context
    assert isinstance(context, SSHContext)
    opened = context.session.connections_opened
    context.close()
    time.sleep(0.5)
    accepted = log.read_text().count("Accepted publickey") - before
    return opened, accepted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--published-python", default="/tmp/dpd110-venv/bin/python")
    parser.add_argument("--no-published", action="store_true", help="this project and the limit only")
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="dpd-bench-sshd-", dir="/tmp"))
    work = Path(tempfile.mkdtemp(prefix="dpd-bench-"))
    env = start_sshd(state)
    published_ok = not args.no_published and os.path.exists(args.published_python)
    try:
        rows = []
        for name, maker in (("1000 x 4 KB in 100 dirs", make_small), ("1 x 200 MB", make_big)):
            case = work / name.split()[0].replace("x", "")
            local = case / "local"
            tasks = maker(local)
            limit = bench_limit(env, local, str(case / "remote-limit"), case / "back-limit")
            ours = bench_ours(env, local, str(case / "remote-ours"), tasks)
            if published_ok:
                pub = bench_published(args.published_python, env, local, str(case / "remote-pub"), tasks)
            elif args.no_published:
                pub = "not run"
            else:
                pub = f"not run: {args.published_python} not found"
            rows.append((name, limit, ours, pub))
        print(f"{'case':26} {'direction':9} {'tar|ssh':>9} {'ours':>9} {'ours/lim':>9} {'dpd 1.1.0':>10}")
        for name, limit, ours, pub in rows:
            for i, direction in enumerate(("upload", "download")):
                p = f"{pub[i]:9.2f}s" if isinstance(pub, tuple) else pub
                print(f"{name:26} {direction:9} {limit[i]:8.2f}s {ours[i]:8.2f}s {ours[i] / limit[i]:8.2f}x {p:>10}")
        opened, accepted = bench_connections(env, work / "conn", args.jobs)
        print(
            f"{args.jobs} Shell jobs submitted and polled: {opened} SSH connection(s) opened "
            f"(sshd log: {accepted} accepted login(s))"
        )
    finally:
        subprocess.run(["bash", str(SERVICES / "stop-sshd.sh"), str(state)], capture_output=True, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
