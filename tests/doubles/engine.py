"""The engine shared by the project's scheduler TEST DOUBLES (see README.md beside this file).

A test double stands in for a scheduler that cannot run on the test machine (PBS Pro,
LSF, Fugaku, ...). The engine does the scheduler's work; a *front* (``<name>_front.py``)
speaks one scheduler's command line and output formats on top of it.

What the engine does, for every front:

* keeps every job as a JSON record under the state directory (``$DPD_DOUBLE_STATE``),
  written atomically under one lock, so concurrent commands see a consistent queue;
* really runs each job's script: ``qsub`` (or ``bsub``, ...) starts a detached *runner*
  (its own session: setsid) that waits for a free slot, runs a copy of the script with
  ``bash`` in the job's own process group, enforces a walltime, records the exit status
  and copies the job's output where the job asked for it;
* logs every call (command and argv, one JSON line each) to ``calls.log``;
* obeys the state directory's ``control.json`` (down, slow, start delay, history
  retention, slots, kill delay) and ``faults/<command>.json`` (the next N calls of a
  command print a given answer and exit with a given code).

The engine only uses the standard library: the fronts run as plain ``python3`` scripts
wherever the job root is (this machine, or the far side of an SSH connection).

Exit statuses are recorded the shell's way: the script's exit code, or 256 + N for a
job killed by signal N (PBS's convention); a front may present them differently.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

#: environment variable naming the state directory of a double
STATE_ENV = "DPD_DOUBLE_STATE"
#: environment variable naming the server (host) a double pretends to be
SERVER_ENV = "DPD_DOUBLE_SERVER"
#: environment variable naming the python that runs the double (the shims use it; default python3)
PYTHON_ENV = "DPD_DOUBLE_PYTHON"

DEFAULT_SERVER = "pbs01"

#: engine-level job states; a front maps them to its scheduler's letters or words
QUEUED, HELD, RUNNING, EXITING, FINISHED = "queued", "held", "running", "exiting", "finished"
ACTIVE = (QUEUED, HELD, RUNNING, EXITING)

#: what control.json may say, and its defaults
DEFAULT_CONTROL: dict[str, Any] = {
    "down": False,  # every command answers as if the server did not answer
    "delay": 0.0,  # seconds every command waits before answering (a slow server)
    "start_delay": 0.0,  # seconds a job stays queued before it may start
    "history": None,  # seconds a finished job stays known (None: for ever)
    "slots": 16,  # jobs that may run at once; the others stay queued
    "kill_delay": 2.0,  # seconds between SIGTERM and SIGKILL when a job is deleted or over its walltime
}


@dataclass
class Job:
    """One job as the engine keeps it (``jobs/<seq>.json``)."""

    seq: int
    job_id: str
    name: str
    owner: str
    queue: str
    #: the copy of the script taken at submission (editing the original later changes nothing)
    script: str
    #: the directory the submit command ran in
    workdir: str
    #: where the job's stdout goes at the end (absolute path)
    output: str
    #: where its stderr goes (None: joined with stdout)
    error: Optional[str]
    #: environment of the job (the scheduler's variables included)
    env: dict[str, str]
    state: str = QUEUED
    exit_status: Optional[int] = None
    submitted: float = 0.0
    started: Optional[float] = None
    ended: Optional[float] = None
    #: seconds the job may run, and the exit status recorded when it is killed for it
    walltime: Optional[float] = None
    walltime_exit: int = 271
    #: True once deleted (by the front's delete command)
    deleted: bool = False
    #: pid of the runner, and process group of the running script
    runner_pid: Optional[int] = None
    pgid: Optional[int] = None
    #: front-specific attributes (resources asked for, submit arguments, ...)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass
class Answer:
    """What a command prints and its exit code."""

    stdout: str = ""
    stderr: str = ""
    code: int = 0

    def emit(self) -> int:
        if self.stdout:
            sys.stdout.write(self.stdout)
        if self.stderr:
            sys.stderr.write(self.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        return self.code


class Engine:
    """The queue of one double, kept in ``state_dir``."""

    def __init__(self, state_dir: str | os.PathLike[str], server: str | None = None) -> None:
        self.root = Path(state_dir)
        self.server = server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
        for sub in ("jobs", "faults", "spool", "slots"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_env(cls) -> Engine:
        state = os.environ.get(STATE_ENV)
        if not state:
            raise SystemExit(f"test double: {STATE_ENV} is not set (the directory where the double keeps its jobs)")
        return cls(state)

    # -- locking and records -------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The engine's one lock: every change of a record or a counter happens under it."""
        with open(self.root / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _record_path(self, seq: int) -> Path:
        return self.root / "jobs" / f"{seq}.json"

    def save(self, job: Job) -> None:
        _write_atomic(self._record_path(job.seq), json.dumps(asdict(job), sort_keys=True))

    def load(self, seq: int) -> Job | None:
        """The record of job ``seq``; None if there is none or the double forgot it."""
        try:
            data = json.loads(self._record_path(seq).read_text())
        except (OSError, ValueError):
            return None
        job = Job(**data)
        return None if self._expired(job) else job

    def update(self, seq: int, change: Callable[[Job], None]) -> Job | None:
        """Apply ``change`` to job ``seq``'s record under the lock; the changed record (None if gone)."""
        with self.lock():
            job = self.load(seq)
            if job is None:
                return None
            change(job)
            self.save(job)
            return job

    def jobs(self) -> list[Job]:
        """Every job the double still knows, oldest first."""
        seqs = sorted(int(p.stem) for p in (self.root / "jobs").glob("*.json") if p.stem.isdigit())
        return [job for job in (self.load(seq) for seq in seqs) if job is not None]

    def _expired(self, job: Job) -> bool:
        history = self.control().get("history")
        return (
            job.state == FINISHED
            and history is not None
            and job.ended is not None
            and time.time() - job.ended > history
        )

    def forget(self, seqs: list[int] | None = None) -> list[int]:
        """Drop the records of finished jobs (``seqs``, or all finished ones); the seqs dropped."""
        dropped = []
        with self.lock():
            for job in self.jobs():
                if job.state == FINISHED and (seqs is None or job.seq in seqs):
                    self._record_path(job.seq).unlink(missing_ok=True)
                    dropped.append(job.seq)
        return dropped

    def next_seq(self) -> int:
        """Allocate the next sequence number (call under :meth:`lock`)."""
        counter = self.root / "seq"
        seq = int(counter.read_text() or "0") + 1 if counter.exists() else 1000
        _write_atomic(counter, str(seq))
        return seq

    # -- control, faults, log -----------------------------------------------------------------

    def control(self) -> dict[str, Any]:
        try:
            given = json.loads((self.root / "control.json").read_text())
        except (OSError, ValueError):
            given = {}
        return {**DEFAULT_CONTROL, **given}

    def set_control(self, **settings: Any) -> None:
        with self.lock():
            current = {k: v for k, v in self.control().items() if DEFAULT_CONTROL.get(k) != v}
            current.update(settings)
            _write_atomic(self.root / "control.json", json.dumps(current))

    def log_call(self, command: str, argv: list[str]) -> None:
        line = json.dumps({"cmd": command, "argv": argv, "time": time.time(), "cwd": os.getcwd()}) + "\n"
        with open(self.root / "calls.log", "a") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(line)

    def calls(self, command: str | None = None) -> list[list[str]]:
        """The argv of every call logged (of ``command`` only, if given), in order."""
        try:
            lines = (self.root / "calls.log").read_text().splitlines()
        except OSError:
            return []
        entries = [json.loads(line) for line in lines if line.strip()]
        return [e["argv"] for e in entries if command is None or e["cmd"] == command]

    def set_fault(self, command: str, times: int, answer: Answer, after: bool = False) -> None:
        """The next ``times`` calls of ``command`` print ``answer`` instead of doing their work (``after``:
        they do their work, then print ``answer`` instead of theirs: an answer lost on the way back)."""
        data = {"remaining": times, "stdout": answer.stdout, "stderr": answer.stderr, "code": answer.code}
        data["after"] = after
        with self.lock():
            _write_atomic(self.root / "faults" / f"{command}.json", json.dumps(data))

    def faults_left(self, command: str) -> int:
        try:
            return int(json.loads((self.root / "faults" / f"{command}.json").read_text())["remaining"])
        except (OSError, ValueError, KeyError):
            return 0

    def take_fault(self, command: str) -> tuple[Answer, bool] | None:
        """The scripted answer for this call of ``command``, if one is left (uses it up)."""
        path = self.root / "faults" / f"{command}.json"
        if not path.exists():
            return None
        with self.lock():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                return None
            if data.get("remaining", 0) <= 0:
                return None
            data["remaining"] -= 1
            _write_atomic(path, json.dumps(data))
        answer = Answer(data.get("stdout", ""), data.get("stderr", ""), int(data.get("code", 1)))
        return answer, bool(data.get("after"))

    # -- submitting, deleting ----------------------------------------------------------------------

    def submit(self, script_text: str, make: Callable[[int], Job]) -> Job:
        """Queue a job: ``make(seq)`` builds its record; the script text is copied; a runner is started."""
        with self.lock():
            seq = self.next_seq()
            job = make(seq)
            copy = self.root / "spool" / f"{seq}.sh"
            copy.write_text(script_text)
            job.script = str(copy)
            job.submitted = time.time()
            self.save(job)
        runner = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--runner", str(self.root), str(seq)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "runner.log", "a"),  # noqa: SIM115 - handed to the child
            start_new_session=True,
            close_fds=True,
            env={**os.environ, SERVER_ENV: self.server},
        )
        return self.update(seq, lambda j: setattr(j, "runner_pid", runner.pid)) or job

    def delete(self, seq: int) -> Job | None:
        """Delete job ``seq``: a queued job ends at once (no exit status), a running one is signalled."""
        now = time.time()

        def mark(job: Job) -> None:
            if not job.active:
                return
            job.deleted = True
            if job.state in (QUEUED, HELD):
                job.state, job.ended = FINISHED, now

        job = self.update(seq, mark)
        if job is not None and job.state in (RUNNING, EXITING):
            (self.root / "spool" / f"{seq}.deleted").touch()  # the runner escalates to SIGKILL
            if job.pgid:
                _signal_group(job.pgid, signal.SIGTERM)
        return job

    def release(self, seq: int) -> None:
        """Let a held job start."""
        self.update(seq, lambda job: setattr(job, "state", QUEUED) if job.state == HELD else None)

    def stop_all(self) -> None:
        """Kill every runner and job script this double started (by their recorded ids)."""
        for job in self.jobs():
            if job.pgid and job.state in (RUNNING, EXITING):
                _signal_group(job.pgid, signal.SIGKILL)
            if job.runner_pid and job.active:
                with contextlib.suppress(OSError):
                    os.kill(job.runner_pid, signal.SIGKILL)

    # -- the runner -------------------------------------------------------------------------------

    def run_job(self, seq: int) -> None:
        """Body of a job's runner: wait for a slot, run the script, record how it ended."""
        slot = self._wait_for_slot(seq)
        if slot is None:  # deleted or forgotten while queued
            return
        try:
            self._run(seq)
        finally:
            slot.close()

    def _wait_for_slot(self, seq: int) -> Any:
        while True:
            job = self.load(seq)
            if job is None or job.state == FINISHED:
                return None
            control = self.control()
            if job.state == QUEUED and time.time() - job.submitted >= float(control["start_delay"]):
                for i in range(int(control["slots"])):
                    handle = open(self.root / "slots" / str(i), "a")  # noqa: SIM115 - held while the job runs
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        return handle
                    except OSError:
                        handle.close()
            time.sleep(0.1)

    def _run(self, seq: int) -> None:
        spool_out = self.root / "spool" / f"{seq}.out"
        spool_err = self.root / "spool" / f"{seq}.err"
        with self.lock():
            job = self.load(seq)
            if job is None or job.state != QUEUED:
                return
            out = open(spool_out, "w")  # noqa: SIM115 - closed after the script ends
            err = open(spool_err, "w") if job.error else out  # noqa: SIM115
            proc = subprocess.Popen(
                ["bash", job.script],
                # extra["cwd"]: the submit directory, for a front whose jobs start there (Fugaku, JH UniScheduler)
                cwd=job.extra.get("cwd") or job.env.get("HOME") or "/",
                env=job.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            job.state, job.started, job.pgid = RUNNING, time.time(), proc.pid
            self.save(job)
        status = self._wait(job, proc)
        out.close()
        if err is not out:
            err.close()
        self.update(seq, lambda j: setattr(j, "state", EXITING))
        _copy_out(spool_out, job.output)
        if job.error:
            _copy_out(spool_err, job.error)

        def finish(j: Job) -> None:
            j.state, j.exit_status, j.ended = FINISHED, status, time.time()

        self.update(seq, finish)

    def _wait(self, job: Job, proc: subprocess.Popen) -> int:
        """The script's exit status; kills it (TERM, then KILL) when deleted or over its walltime."""
        kill_delay = float(self.control()["kill_delay"])
        deleted = self.root / "spool" / f"{job.seq}.deleted"
        termed_at: float | None = None
        over_walltime = False
        while True:
            try:
                code = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.time()
            if termed_at is None:
                if job.walltime is not None and job.started is not None and now - job.started > job.walltime:
                    over_walltime = True
                if over_walltime or deleted.exists():
                    _signal_group(proc.pid, signal.SIGTERM)
                    termed_at = now
            elif now - termed_at > kill_delay:
                _signal_group(proc.pid, signal.SIGKILL)
        _signal_group(proc.pid, signal.SIGKILL)  # children the script left behind
        if over_walltime:
            return job.walltime_exit
        return code if code >= 0 else 256 - code


# -- the command line ----------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """``engine.py <front> <command> args...`` (what the shims run), or ``--runner STATE SEQ``."""
    if argv[:1] == ["--runner"]:
        Engine(argv[1]).run_job(int(argv[2]))
        return 0
    if len(argv) < 2:
        sys.stderr.write("usage: engine.py <front> <command> [args...]\n")
        return 2
    front_name, command, args = argv[0], argv[1], argv[2:]
    front = importlib.import_module(f"doubles.{front_name}_front")
    engine = Engine.from_env()
    engine.log_call(command, args)
    delay = float(engine.control()["delay"])
    if delay > 0:
        time.sleep(delay)
    fault = engine.take_fault(command)
    if fault is not None and not fault[1]:
        return fault[0].emit()
    if engine.control()["down"]:
        return front.down(engine, command).emit()
    handler = front.COMMANDS.get(command)
    if handler is None:
        sys.stderr.write(f"{command}: not provided by the {front_name} test double\n")
        return 127
    answer: Answer = handler(engine, args)
    return (fault[0] if fault is not None else answer).emit()


# -- helpers -----------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _copy_out(spool: Path, target: str) -> None:
    """Deliver a spooled output file where the job asked (PBS copies it when the job ends)."""
    with contextlib.suppress(OSError):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spool, target)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, sig)


if __name__ == "__main__":
    # run as a script by the shims: make `doubles` importable from the tests directory
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from doubles.engine import main as _main

    sys.exit(_main(sys.argv[1:]))
