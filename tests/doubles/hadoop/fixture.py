"""Using the Hadoop TEST DOUBLE from pytest: HDFS as a directory, YARN applications as background processes.

::

    with HadoopDouble.started(tmp_path / "hadoop-double") as double:
        double.activate(monkeypatch)   # hadoop and yarn first on PATH, HADOOP_HOME with the DistributedShell jar
        ...
        double.fail_fs("put", stderr="put: Permission denied: ...")   # the next `hadoop fs -put` fails
        double.lose(app_id)                                          # the ResourceManager forgets an application
        assert len(double.list_calls()) == polls

Leaving the ``with`` block kills every container and DistributedShell client the double started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doubles.engine import Answer
from doubles.fixture import SchedulerDouble
from doubles.hadoop.yarn_front import seq_of

HERE = Path(__file__).resolve().parent
JAR_NAME = "hadoop-yarn-applications-distributedshell-3.3.6.jar"


class HadoopDouble(SchedulerDouble):
    """The double of one Hadoop cluster, kept in ``state_dir`` (HDFS under ``state_dir/hdfs``)."""

    def __init__(self, state_dir: Path, server: str | None = None) -> None:
        super().__init__("hadoop.yarn", state_dir, server or "rm01")
        self.bin_dir = HERE / "bin"
        self.hadoop_home = self.state_dir / "hadoop-home"
        jar = self.hadoop_home / "share" / "hadoop" / "yarn" / JAR_NAME
        jar.parent.mkdir(parents=True, exist_ok=True)
        jar.write_text("TEST DOUBLE: stands for the DistributedShell jar\n")

    @classmethod
    @contextlib.contextmanager
    def started(cls, state_dir: Path, server: str | None = None) -> Iterator[HadoopDouble]:  # type: ignore[override]
        double = cls(state_dir, server)
        try:
            yield double
        finally:
            double.stop()

    def activate(self, monkeypatch: Any) -> None:
        super().activate(monkeypatch)
        monkeypatch.setenv("HADOOP_HOME", str(self.hadoop_home))

    # -- HDFS ---------------------------------------------------------------------------------------

    def hdfs(self, path: str) -> Path:
        """Where the HDFS path ``path`` (absolute) lives in the double's directory."""
        return self.state_dir / "hdfs" / path.lstrip("/")

    def fail_fs(self, sub: str, stderr: str, times: int = 1, code: int = 1) -> None:
        """The next ``times`` calls of ``hadoop fs -<sub>`` print ``stderr`` and exit ``code``, doing nothing."""
        self.engine.set_fault(f"hadoop-fs-{sub}", times, Answer(stderr=stderr, code=code))

    # -- YARN ---------------------------------------------------------------------------------------

    def list_calls(self) -> list[list[str]]:
        """The argv of every ``yarn application -list``."""
        return [argv for argv in self.calls("yarn") if argv[1:2] == ["-list"]]

    def submit_calls(self) -> list[list[str]]:
        """The argv of every ``hadoop jar`` (one application each)."""
        return [argv for argv in self.calls("hadoop") if argv[:1] == ["jar"]]

    def lose(self, app_id: str, bound: float = 30) -> None:
        """The ResourceManager loses a running application: its container is killed and it is no longer listed."""
        seq = seq_of(app_id)
        assert seq is not None, app_id
        self.engine.delete(seq)
        deadline = time.monotonic() + bound
        while (job := self.engine.load(seq)) is not None and job.active:
            if time.monotonic() > deadline:
                raise AssertionError(f"the container of {app_id} did not end within {bound} s")
            time.sleep(0.05)
        self.engine.forget([seq])

    def crash(self, app_id: str) -> None:
        """The application master dies: the application ends FAILED/FAILED."""
        seq = seq_of(app_id)
        assert seq is not None, app_id
        self.engine.update(seq, lambda job: job.extra.__setitem__("am_crashed", True))
        self.engine.delete(seq)

    def stop(self) -> None:
        """Kill the containers (the engine's runners) and any DistributedShell client still watching."""
        for job in self.engine.jobs():
            pid = job.extra.get("client_pid")
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        super().stop()
