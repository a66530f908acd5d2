"""The fault-injection kit of tests/faults and bench/faults.py (issue 9: exactly once, whatever happens).

* A :class:`Workload` is N one-task jobs. Each task appends its name to a *ledger* outside the job
  root (so no cleanup can erase it), sleeps a little and writes an output whose whole content is
  known; each job script appends a line to a *job ledger* (``prepend_script``), so a job started
  twice shows even when its tasks' finished tags make the second start skip them.
* A *driver* is a child ``python -c`` process that runs the workload's submission. Given a
  :class:`KillPoint` it SIGKILLs itself at one phase of the run, chosen by hooking a method of the
  submission, the machine, the context, the driver lock or the record writer (before or after the
  n-th call, half-way through its list argument, ...), not by a random delay.
* :func:`check` is the verdict after the re-run: tasks run other than once, job starts beyond one
  per job, outputs missing or not whole, processes left behind, a job root or record left over.

Everything a run makes lives under the workload's root (records too: ``DPDISPATCHER_HOME`` of the
children is ``root/home``); every child is bounded by a timeout.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: bound (seconds) on one driver child
CHILD_TIMEOUT = 180.0
#: exit codes of a driver child: refused by another driver's lock, a DispatcherError
REFUSED, FAILED = 3, 2
KILLED = -signal.SIGKILL

CHILD = "import sys; sys.path.insert(0, {here!r}); import faults_kit; faults_kit.child_main()"


# -- kill points ----------------------------------------------------------------------------------

#: what a kill point's owner names: the class (or module) whose attribute is hooked in the child
OWNERS = {
    "lock": "dpdispatcher.driver_lock.DriverLock",
    "submission": "dpdispatcher.Submission",
    "machine": "the machine's class (Shell, Slurm)",
    "context": "the context's class (LocalContext, SSHContext)",
    "records": "the module dpdispatcher.submission (its atomic_write_text writes the local record)",
    "shutil": "the module shutil (its copyfile copies LocalContext's files)",
}
#: a "during" kill lands this many seconds into the n-th call (while it runs)
DURING_AFTER = 1.5
#: what the hook does at the n-th call
WHENS = {
    "before": "die instead of calling",
    "after": "die once the call returned",
    "half": "call it with the first half of its list (or dict) argument, then die",
    "mixed": "(any call) die once some jobs are finished and some not: in the answer of a status query "
    "(check_statuses), or, for a Submission method, among its jobs after the call (_stream_results: a poll "
    "that saw jobs finish, however it saw them)",
    "torn": "leave what a kill in the middle of the write leaves (atomic_write_text: half the text in a "
    "temporary file beside the record; copyfile: half the source in the destination), then die",
    "during": f"die {DURING_AFTER} s into the call, while it runs",
}


@dataclass(frozen=True)
class KillPoint:
    """``owner.method:when[:nth]``, e.g. ``machine.submit_jobs:half`` or ``submission.submission_to_json:after:2``."""

    owner: str
    name: str
    when: str
    nth: int = 1

    @classmethod
    def parse(cls, text: str) -> KillPoint:
        target, when, *nth = text.split(":")
        owner, _, name = target.partition(".")
        if owner not in OWNERS or not name or when not in WHENS:
            raise ValueError(
                f"not a kill point: {text!r} (owner.method:when[:nth]; owners {list(OWNERS)}, whens {list(WHENS)})"
            )
        return cls(owner, name, when, int(nth[0]) if nth else 1)

    def __str__(self) -> str:
        return f"{self.owner}.{self.name}:{self.when}" + (f":{self.nth}" if self.nth != 1 else "")


def scenario(text: str) -> list[KillPoint]:
    """Kill points run one after the other, each in a fresh driver (``a+b``: the re-run of ``a`` is killed at ``b``)."""
    return [KillPoint.parse(part) for part in text.split("+")]


#: 20 points spread over a run of Shell + LocalContext: lock, upload, scripts, records, submission,
#: polls, the results streaming back, the finishing steps, cleanup; the last one kills the re-run too
LOCAL_POINTS = (
    "lock.acquire:after",
    "context.upload_files:half",
    "context.upload_files:after",
    "context.write_files:half",
    "context.write_files:after",
    "submission.submission_to_json:after",
    "machine.submit_jobs:half",
    "machine.submit_jobs:after",
    "records.atomic_write_text:torn:2",
    "submission.submission_to_json:after:2",
    "submission._write_remote_record:after",
    "machine.check_statuses:after",
    "submission._stream_results:mixed",
    "context.download_files:after",
    "context.download_files:before:2",
    "submission._finish:before",
    "submission._mark_finished:after",
    "lock.release:after",
    "context.clean:after",
    "submission._stream_results:mixed+context.download_files:after",
)
SSH_POINTS = (
    "lock.acquire:after",
    "context.upload_files:half",
    "machine.submit_jobs:half",
    "submission._stream_results:mixed",
    "context.download_files:after",
    "submission._mark_finished:after",
)
SLURM_POINTS = (
    "machine.submit_jobs:half",
    "machine.submit_jobs:after",
    "machine.check_statuses:after",
    "context.download_files:after",
    "submission._mark_finished:after",
)


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _halved(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with its first list or dict cut to its first half."""
    for i, arg in enumerate(args):
        if isinstance(arg, (list, dict)):
            half = len(arg) // 2
            cut = arg[:half] if isinstance(arg, list) else dict(list(arg.items())[:half])
            return (*args[:i], cut, *args[i + 1 :])
    raise TypeError("a 'half' kill point needs a method taking a list or a dict")


def _tear(owner: str, args: tuple[Any, ...]) -> None:
    """What a kill in the middle of a write leaves (see WHENS), then die."""
    if owner == "records":  # atomic_write_text(path, text, ...): its temporary file, half written
        path, text = Path(args[0]), args[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, _ = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.write(fd, text[: len(text) // 2].encode())
    elif owner == "shutil":  # copyfile(src, dst): dst half copied
        data = Path(args[0]).read_bytes()
        Path(args[1]).write_bytes(data[: len(data) // 2])
    else:
        raise TypeError(f"no torn write for {owner}")
    _die()


def install(point: KillPoint, submission: Any) -> None:
    """Hook ``point`` into this (child) process: it SIGKILLs itself there."""
    import shutil

    import dpdispatcher.submission as submission_module
    from dpdispatcher.driver_lock import DriverLock
    from dpdispatcher.JobStatus import JobStatus

    machine = submission.machine
    owner: Any = {
        "lock": DriverLock,
        "submission": type(submission),
        "machine": type(machine),
        "context": type(machine.context),
        "records": submission_module,
        "shutil": shutil,
    }[point.owner]
    original = getattr(owner, point.name)  # an AttributeError names a method that was renamed
    calls = 0

    @functools.wraps(original)
    def hooked(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if point.when == "mixed":
            result = original(*args, **kwargs)
            if point.owner == "submission":
                finished = [job.job_state == JobStatus.finished for job in args[0].belonging_jobs]
            else:
                finished = [state == JobStatus.finished for state in result]
            if any(finished) and not all(finished):
                _die()
            return result
        if calls != point.nth:
            return original(*args, **kwargs)
        if point.when == "before":
            _die()
        if point.when == "during":
            threading.Timer(DURING_AFTER, _die).start()
            return original(*args, **kwargs)
        if point.when == "torn":
            _tear(point.owner, args)
        result = original(*(_halved(args) if point.when == "half" else args), **kwargs)
        _die()
        return result

    setattr(owner, point.name, hooked)


# -- the workload -----------------------------------------------------------------------------------


@dataclass
class Workload:
    """N one-task jobs under ``root`` (see the module docstring) run by ``machine`` (a machine dict)."""

    root: Path
    machine: dict[str, Any]
    sleeps: Sequence[float] = (0.2, 0.5, 0.8, 1.1)
    resources: dict[str, Any] = field(default_factory=dict)
    in_bytes: int = 20_000
    #: out.txt = in.txt this many times, then "end t<i>"
    repeat: int = 2
    check_interval: float = 0.5

    @classmethod
    def with_machine(
        cls, root: Path, batch_type: str = "Shell", context_type: str = "LocalContext", **kw: Any
    ) -> Workload:
        profile = kw.pop("remote_profile", None)
        local_root = kw.pop("local_root", root / "local")
        machine = {
            "batch_type": batch_type,
            "context_type": context_type,
            "local_root": str(local_root),
            "remote_root": str(root / "remote"),
        }
        if profile is not None:
            machine["remote_profile"] = profile
        return cls(root, machine, **kw)

    @property
    def n(self) -> int:
        return len(self.sleeps)

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"

    @property
    def job_ledger(self) -> Path:
        return self.root / "job-ledger"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work_base(self) -> Path:
        return Path(self.machine["local_root"]) / "wb"

    @property
    def remote_root(self) -> Path:
        return Path(self.machine["remote_root"])

    def records(self) -> list[Path]:
        return sorted((self.home / "submission").glob("*.json"))

    def input_text(self, i: int) -> str:
        line = f"t{i} input line\n"
        return line * max(1, self.in_bytes // len(line))

    def expected_output(self, i: int) -> str:
        return self.input_text(i) * self.repeat + f"end t{i}\n"

    def prepare(self) -> Workload:
        """Write the inputs (once)."""
        for i in range(self.n):
            task_dir = self.work_base / f"t{i}"
            task_dir.mkdir(parents=True, exist_ok=True)
            (task_dir / "in.txt").write_text(self.input_text(i))
        self.home.mkdir(parents=True, exist_ok=True)
        return self

    def spec(self) -> dict[str, Any]:
        """What a driver child needs to build the same submission (JSON)."""
        ledger, job_ledger = shlex.quote(str(self.ledger)), shlex.quote(str(self.job_ledger))
        tasks = [
            {
                "command": f"echo t{i} >> {ledger}; sleep {s}; "
                f"{{ for _ in $(seq {self.repeat}); do cat in.txt; done; echo end t{i}; }} > out.txt",
                "task_work_path": f"t{i}/",
                "forward_files": ["in.txt"],
                "backward_files": ["out.txt"],
            }
            for i, s in enumerate(self.sleeps)
        ]
        resources = {"group_size": 1, "prepend_script": [f"echo started >> {job_ledger}"], **self.resources}
        return {
            "machine": self.machine,
            "resources": resources,
            "tasks": tasks,
            "work_base": "wb",
            "check_interval": self.check_interval,
        }

    def env(self) -> dict[str, str]:
        return {**os.environ, "DPDISPATCHER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}


def build_submission(spec: dict[str, Any]) -> Any:
    from dpdispatcher import Machine, Resources, Submission, Task

    return Submission(
        spec["work_base"],
        machine=Machine.load_from_dict(spec["machine"]),
        resources=Resources.load_from_dict(spec["resources"]),
        task_list=[Task(**task) for task in spec["tasks"]],
    )


def job_script_names(workload: Workload) -> list[str]:
    submission = build_submission(workload.spec())
    submission.generate_jobs()
    return [job.script_file_name for job in submission.belonging_jobs]


# -- drivers ------------------------------------------------------------------------------------------


@dataclass
class Driven:
    """How a driver child ended."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    pid: int

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def start(
    workload: Workload,
    kill: KillPoint | None = None,
    *,
    exit_on_submit: bool = False,
    lock_delay: float = 0,
    slow_launch: float = 0,
) -> subprocess.Popen[str]:
    """A driver child of ``workload`` (killing itself at ``kill``). ``lock_delay`` seconds pass between the
    lock directory and its owner file; ``slow_launch`` seconds between a Shell job's launch and the
    record of its id (both: a slow file system, a busy host)."""
    spec = {**workload.spec(), "kill": str(kill) if kill else None, "exit_on_submit": exit_on_submit}
    spec.update(lock_delay=lock_delay, slow_launch=slow_launch)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(here=str(HERE)), json.dumps(spec)],
        env=workload.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float | None = None, since: float | None = None) -> Driven:
    """Wait for a driver child (at most ``timeout``, default :data:`CHILD_TIMEOUT`; then it is killed)."""
    timeout = CHILD_TIMEOUT if timeout is None else timeout
    since = time.monotonic() if since is None else since
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        err += f"\n[faults_kit: killed after the {timeout:.0f} s bound]"
    return Driven(proc.returncode, out, err, time.monotonic() - since, proc.pid)


def drive(workload: Workload, kill: KillPoint | None = None, **kw: Any) -> Driven:
    since = time.monotonic()
    return finish(start(workload, kill, **kw), since=since)


def child_main() -> None:
    """The driver child: ``python -c CHILD SPEC_JSON``. Exit 0 done, 3 refused by a lock, 2 a DispatcherError."""
    import logging

    from dpdispatcher.errors import DispatcherError, SubmissionLockedError

    spec = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if spec.get("lock_delay"):
        from dpdispatcher import driver_lock

        # each directory the lock script makes stays a while before its next step (a slow file system, a busy host)
        slow_mkdir = f'mkdir() {{{{ command mkdir "$@" && sleep {float(spec["lock_delay"])}; }}}}\n'
        driver_lock.ACQUIRE = slow_mkdir + driver_lock.ACQUIRE
    submission = build_submission(spec)
    if spec.get("slow_launch"):
        machine_class = type(submission.machine)
        launch = machine_class._launch  # Shell's launch statement of one job
        pause = f"; sleep {float(spec['slow_launch'])}"
        machine_class._launch = staticmethod(lambda job: launch(job) + pause)
    if spec.get("kill"):
        install(KillPoint.parse(spec["kill"]), submission)
    try:
        submission.run_submission(check_interval=spec["check_interval"], exit_on_submit=spec["exit_on_submit"])
    except SubmissionLockedError as err:
        print(f"REFUSED {err}")
        sys.exit(REFUSED)
    except DispatcherError as err:
        print(f"ERROR {type(err).__name__}: {err}")
        sys.exit(FAILED)
    print("DONE")


# -- the verdict ----------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What a workload's runs left: see :func:`check`."""

    runs: Counter[str]
    job_starts: int
    lost: list[str]
    leftovers: list[str]
    problems: list[str]

    @property
    def duplicates(self) -> int:
        """Task runs beyond the first (a task run twice counts 1)."""
        return sum(max(0, count - 1) for count in self.runs.values())

    @property
    def ok(self) -> bool:
        return not self.problems


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def check(workload: Workload, *, settle: float = 5.0) -> Verdict:
    """Each task ran once, each job started once, every output is whole, nothing is left behind (processes
    are given ``settle`` seconds to end), the job root is removed and the record is the finished one."""
    runs = Counter(_lines(workload.ledger))
    problems = [f"task t{i} ran {runs[f't{i}']} times" for i in range(workload.n) if runs[f"t{i}"] != 1]
    job_starts = len(_lines(workload.job_ledger))
    if job_starts != workload.n:  # one task per job
        problems.append(f"{job_starts} job starts for {workload.n} jobs")
    lost = []
    for i in range(workload.n):
        out = workload.work_base / f"t{i}" / "out.txt"
        if not out.exists():
            lost.append(f"{out} is missing")
        elif out.read_text() != workload.expected_output(i):
            lost.append(f"{out} is not whole ({out.stat().st_size} of {len(workload.expected_output(i))} bytes)")
    problems += lost
    left = leftovers(workload, settle=settle)
    problems += [f"left behind: {p}" for p in left]
    if workload.remote_root.exists() and any(workload.remote_root.iterdir()):
        problems.append(f"job root not cleaned: {sorted(p.name for p in workload.remote_root.iterdir())}")
    records = workload.records()
    if len(records) != 1 or "finished" not in json.loads(records[0].read_text()):
        problems.append(f"expected one finished record, found {[p.name for p in records]}")
    return Verdict(runs, job_starts, lost, left, problems)


def stray_temporaries(workload: Workload) -> list[Path]:
    """Hidden temporary files (``.NAME.*.tmp``) left in the work base or beside the records."""
    places = [workload.work_base, workload.home / "submission"]
    return sorted(p for place in places if place.exists() for p in place.rglob(".*.tmp"))


def _processes() -> list[tuple[int, str, str]]:
    """(pid, cwd, args) of every live process (zombies have no cwd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append((int(entry.name), cwd, args))
    return found


def processes_under(root: Path, names: Sequence[str] = ()) -> dict[int, str]:
    """Live processes (pid -> description) working under ``root``, or whose command line names one of ``names``."""
    top = str(root.resolve())
    return {
        pid: f"pid {pid} ({args[:150]}) in {cwd}"
        for pid, cwd, args in _processes()
        if pid != os.getpid() and (any(n in args for n in names) or cwd == top or cwd.startswith(top + "/"))
    }


def leftovers(workload: Workload, settle: float = 0.0) -> list[str]:
    """Processes of the workload still there after ``settle`` seconds: a job script (by name, as
    ``ps -eo args`` shows it) or anything working under the workload's root; on Slurm, its jobs still queued."""
    names = job_script_names(workload)
    deadline = time.monotonic() + settle
    while True:
        found = list(processes_under(workload.root, names).values())
        if workload.machine["batch_type"].startswith("Slurm"):
            found += _slurm_jobs_under(str(workload.root.resolve()))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def _slurm_jobs_under(root: str) -> list[str]:
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%i %T %Z"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [f"Slurm job {line}" for line in out.splitlines() if f" {root}" in line]


def kill_processes_under(root: Path) -> list[str]:
    """SIGKILL (by pid) what works under ``root``; return what it was."""
    found = processes_under(root)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return list(found.values())


# -- scenarios ------------------------------------------------------------------------------------------


@dataclass
class Survival:
    """A kill scenario: the killed drivers, the re-run, the verdict."""

    killed: list[Driven]
    rerun: Driven
    verdict: Verdict

    @property
    def kills_landed(self) -> bool:
        return all(d.returncode == KILLED for d in self.killed)

    @property
    def survived(self) -> bool:
        return self.kills_landed and self.rerun.returncode == 0 and self.verdict.ok

    def report(self) -> str:
        lines = [f"kill {i + 1}: {d.describe()}" for i, d in enumerate(self.killed) if d.returncode != KILLED]
        lines += self.verdict.problems
        lines.append(f"re-run: {self.rerun.describe()}")
        return "\n".join(lines)


def survive(workload: Workload, points: Sequence[KillPoint]) -> Survival:
    """Kill a driver at each point in turn, then re-run the same submission without a hook and judge."""
    workload.prepare()
    killed = [drive(workload, point) for point in points]
    rerun = drive(workload)
    return Survival(killed, rerun, check(workload))


def pair(workload: Workload, *, lock_delay: float = 0.0, stagger: float = 0.0) -> tuple[list[str], Verdict]:
    """Two drivers of the same submission, the second ``stagger`` seconds after the first (whose lock
    script is slowed by ``lock_delay``): one must run, the other be refused naming the first's host and
    pid, and nothing may run twice. Returns the problems seen (the verdict's included) and the verdict."""
    workload.prepare()
    since = time.monotonic()
    first = start(workload, lock_delay=lock_delay)
    time.sleep(stagger)
    ends = [finish(p, since=since) for p in (first, start(workload))]
    problems: list[str] = []
    if sorted(d.returncode for d in ends) != [0, REFUSED]:
        problems.append("expected one driver to run and one to be refused:\n" + "\n".join(d.describe() for d in ends))
    else:
        winner = next(d for d in ends if d.returncode == 0)
        refused = next(d for d in ends if d.returncode == REFUSED).stdout
        wanted = ("is being run by another driver", f"host {socket.gethostname()}", f"pid {winner.pid}")
        problems += [f"the refusal does not say {w!r}: {refused.strip()}" for w in wanted if w not in refused]
    verdict = check(workload)
    return problems + verdict.problems, verdict


#: where the records are cut: fractions of their length (0: empty; the last keeps all but one byte)
TRUNCATIONS = (0.0, 0.002, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.9999)


def truncate(path: Path, fraction: float) -> int:
    data = path.read_bytes()
    keep = min(len(data) - 1, math.floor(len(data) * fraction))
    path.write_bytes(data[:keep])
    return keep


def dpdisp(workload: Workload, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The ``dpdisp`` command line, as a user runs it (with the workload's DPDISPATCHER_HOME)."""
    code = "import sys; from dpdispatcher.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=workload.env(), capture_output=True, text=True, timeout=timeout
    )


def damaged_record(workload: Workload, which: str, fraction: float) -> tuple[list[str], Verdict]:
    """Submit (the driver leaves at once, the jobs run on), cut ``which`` record (local, copy: the one in
    the job root, both) at ``fraction`` of its length; then ``dpdisp submission HASH`` must say so in one
    line naming the file (when the local one is cut), and the re-run must repair the state without
    submitting anything again. Returns the problems seen (the verdict's included) and the verdict."""
    workload.prepare()
    first = drive(workload, exit_on_submit=True)
    if first.returncode != 0 or len(workload.records()) != 1:
        return [f"the first run did not submit: {first.describe()}"], check(workload)
    record = workload.records()[0]
    submission_hash = record.stem
    copy = workload.remote_root / submission_hash / f"{submission_hash}.json"
    for path in {"local": [record], "copy": [copy], "both": [record, copy]}[which]:
        truncate(path, fraction)
    problems = []
    if which != "copy":
        shown = dpdisp(workload, "submission", submission_hash)
        lines = shown.stderr.strip().splitlines()
        if shown.returncode != 1 or len(lines) != 1 or str(record) not in shown.stderr or "Traceback" in shown.stderr:
            problems.append(
                f"`dpdisp submission {submission_hash}` did not give one clear line naming {record} "
                f"(exit {shown.returncode}):\n{shown.stderr}"
            )
    rerun = drive(workload)
    if rerun.returncode != 0:
        problems.append(f"re-run failed: {rerun.describe()}")
    elif which != "copy" and f"the record {record} is damaged" not in rerun.stderr:
        problems.append(f"the re-run did not say the record was damaged: {rerun.describe()}")
    verdict = check(workload)
    return problems + verdict.problems, verdict
