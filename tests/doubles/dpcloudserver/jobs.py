"""The double's jobs: an uploaded archive unpacked into a folder, its command run there as a background
process in its own session, and a result archive of the files the job asked to send back."""

from __future__ import annotations

import glob
import os
import signal
import stat
import subprocess
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

# DP cloud job status numbers (as dpdispatcher 1.1.0 maps them)
WAITING, RUNNING, FINISHED, FAILED, KILLED = 0, 1, 2, -1, 5


@dataclass
class HostileMember:
    """A member the next result archive carries besides the real results (a path, or a link to ``link_to``)."""

    name: str
    link_to: str = ""


@dataclass
class CloudJob:
    job_id: int
    group_id: int
    name: str
    folder: Path
    command: str
    out_files: list[str]
    status: int = WAITING
    exit_code: int = 0
    result: Path | None = None
    process: subprocess.Popen | None = None
    hostile: list[HostileMember] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def work(self) -> Path:
        return self.folder / "work"

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"

    def start(self, archive: Path) -> None:
        """Unpack ``archive`` and run the command in the background; a thread packs the result when it ends."""
        self.work.mkdir(parents=True)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(self.work)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", self.command],
                cwd=self.work,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.status = RUNNING
        threading.Thread(target=self._watch, name=f"cloud-double-job-{self.job_id}", daemon=True).start()

    def _watch(self) -> None:
        assert self.process is not None
        code = self.process.wait()
        if self.status != KILLED:
            self.result = self._pack()
            self.exit_code = code
            self.status = FINISHED if code == 0 else FAILED
        self.done.set()

    def kill(self) -> None:
        """Cancel: the whole process group goes, and the job leaves no result."""
        if self.status in (WAITING, RUNNING):
            self.status = KILLED
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _pack(self) -> Path:
        result = self.folder / "result.zip"
        names: set[str] = set()
        for pattern in self.out_files or ["*"]:
            for match in glob.glob(str(self.work / pattern)):
                path = Path(match)
                files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
                names.update(str(p.relative_to(self.work)) for p in files)
        with zipfile.ZipFile(result, "w") as zf:
            for name in sorted(names):
                zf.write(self.work / name, name)
            for member in self.hostile:
                if member.link_to:
                    info = zipfile.ZipInfo(member.name)
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    zf.writestr(info, member.link_to)
                else:
                    zf.writestr(member.name, "written by the hostile archive of the test double\n")
        return result
