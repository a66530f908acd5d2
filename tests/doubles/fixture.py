"""Using a scheduler TEST DOUBLE from pytest: a state directory, the environment, and the knobs.

::

    from doubles.fixture import SchedulerDouble

    @pytest.fixture
    def pbs_double(tmp_path, monkeypatch):
        with SchedulerDouble.started("pbs", tmp_path / "pbs-double") as double:
            double.activate(monkeypatch)     # its bin dir first on PATH, its state dir in the env
            yield double

    def test_x(pbs_double):
        pbs_double.fail("qsub", times=2, **pbs_double.front.limit_refusal().__dict__)
        ...
        assert len(pbs_double.calls("qstat")) == 3

Leaving the ``with`` block kills every job script and runner the double started (by the
process ids it recorded).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from doubles.engine import PYTHON_ENV, SERVER_ENV, STATE_ENV, Answer, Engine, Job

HERE = Path(__file__).resolve().parent


class SchedulerDouble:
    """One double (front ``name``) keeping its jobs in ``state_dir``."""

    def __init__(self, name: str, state_dir: Path, server: str | None = None) -> None:
        self.name = name
        self.front: ModuleType = importlib.import_module(f"doubles.{name}_front")
        self.state_dir = Path(state_dir)
        self.engine = Engine(self.state_dir, server=server)
        self.server = self.engine.server
        #: the static shims of this front (they read the environment below)
        self.bin_dir = HERE / "bin" / name

    @classmethod
    @contextlib.contextmanager
    def started(cls, name: str, state_dir: Path, server: str | None = None) -> Iterator[SchedulerDouble]:
        double = cls(name, state_dir, server)
        try:
            yield double
        finally:
            double.stop()

    # -- environment ---------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The variables the shims need (add them to a command's environment)."""
        return {STATE_ENV: str(self.state_dir), SERVER_ENV: self.server, PYTHON_ENV: sys.executable}

    @property
    def path(self) -> str:
        """PATH with this double's bin dir first."""
        return f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    def activate(self, monkeypatch: Any) -> None:
        """Put the double first on PATH and its settings in os.environ for the test (pytest's monkeypatch)."""
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("PATH", self.path)

    def standalone_bin(self) -> Path:
        """A bin dir of shims with the state dir and python written in, for shells that do not inherit
        this process's environment (an SSHContext's remote shell): put it first on that shell's PATH."""
        target = self.state_dir / "bin"
        target.mkdir(exist_ok=True)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        for shim in self.bin_dir.iterdir():
            script = target / shim.name
            script.write_text(
                "#!/usr/bin/env bash\n"
                f"# TEST DOUBLE of {shim.name} (tests/doubles/README.md), bound to {self.state_dir}\n"
                f'export {exports}\nexec {shlex.quote(str(shim))} "$@"\n'
            )
            script.chmod(0o755)
        return target

    # -- knobs -----------------------------------------------------------------------------------

    def fail(self, command: str, times: int = 1, stderr: str = "", stdout: str = "", code: int = 1) -> None:
        """The next ``times`` calls of ``command`` print ``stdout``/``stderr`` and exit ``code`` (and do nothing)."""
        self.engine.set_fault(command, times, Answer(stdout, stderr, code))

    def answer(self, command: str, answer: Answer, times: int = 1, after: bool = False) -> None:
        """Like :meth:`fail`, with an :class:`Answer` (e.g. ``front.limit_refusal()``); with ``after`` the
        command does its work first and only its answer is replaced (an answer lost on the way back)."""
        self.engine.set_fault(command, times, answer, after=after)

    def faults_left(self, command: str) -> int:
        return self.engine.faults_left(command)

    def down(self, is_down: bool = True) -> None:
        """Every command answers as a server that cannot be reached would (until ``down(False)``)."""
        self.engine.set_control(down=is_down)

    def slow(self, seconds: float) -> None:
        """Every command waits ``seconds`` before answering."""
        self.engine.set_control(delay=seconds)

    def configure(self, **settings: Any) -> None:
        """Set any control.json value (start_delay, history, slots, kill_delay, queues, ...)."""
        self.engine.set_control(**settings)

    def forget(self, job_ids: list[str] | None = None) -> list[int]:
        """Make the scheduler forget finished jobs (``job_ids``, or all): their ids become unknown."""
        seqs = None if job_ids is None else [int(j.split(".", 1)[0].split("[", 1)[0]) for j in job_ids]
        if seqs is not None:  # a PBS job array: every subjob (pbs_arrays.py)
            seqs += [job.seq for job in self.engine.jobs() if job.extra.get("array_seq") in seqs]
        return self.engine.forget(seqs)

    # -- looking -------------------------------------------------------------------------------------

    def calls(self, command: str | None = None) -> list[list[str]]:
        """The argv of every call of ``command`` (all commands if None), in order."""
        return self.engine.calls(command)

    def jobs(self) -> list[Job]:
        return self.engine.jobs()

    def job(self, job_id: str) -> Job | None:
        return self.engine.load(int(job_id.split(".", 1)[0].split("[", 1)[0]))

    def wait_idle(self, bound: float = 60) -> None:
        """Return once no job is queued or running (fail after ``bound`` seconds)."""
        deadline = time.monotonic() + bound
        while any(job.active for job in self.jobs()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the {self.name} double still has active jobs after {bound} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Kill every runner and job script this double started."""
        self.engine.stop_all()
