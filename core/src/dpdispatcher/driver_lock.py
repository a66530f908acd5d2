"""One driver per submission: a lock directory in the job root, where the jobs run.

``mkdir`` is atomic on every file system a job root lives on, locally and over SSH, so
the first driver to make ``<submission hash>.lock`` holds the submission. The lock
names its holder (host, pid, the process's start time) and its file's time is the
holder's heartbeat. A second driver is refused at once with the holder named; a lock
whose holder is dead (same host: no such process; another host: no heartbeat for
:data:`STALE_AFTER` seconds) is taken over, with a log line saying so.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dpdispatcher.errors import SchedulerError, SubmissionLockedError

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext

logger = logging.getLogger(__name__)

#: seconds without a heartbeat after which a lock held from another host is taken over
STALE_AFTER = 600.0
#: seconds between two heartbeats of the holder
HEARTBEAT_EVERY = 60.0

# The lock is built whole under another name and renamed into place (``mv -T`` onto a lock that
# exists fails): a second driver never sees a lock without its owner.
NEW_LOCK = """\
dpd_new={lock}.new.$$
rm -rf "$dpd_new"; mkdir "$dpd_new" && printf '%s\\n' {owner} > "$dpd_new/owner" || exit 1"""

ACQUIRE = (
    NEW_LOCK
    + """
if mv -T "$dpd_new" {lock} 2>/dev/null; then
  echo dpd_lock_acquired
else
  rm -rf "$dpd_new"
  echo dpd_lock_held; {{ cat {lock}/owner 2>/dev/null; echo; }} | head -n 1; stat -c %Y {lock}/owner 2>/dev/null || echo 0; date +%s
fi"""
)

TAKE_OVER = """\
mv -T {lock} {aside} 2>/dev/null || {{ echo dpd_lock_lost; exit 0; }}
if [ "$(cat {aside}/owner 2>/dev/null)" = {seen} ]; then
  rm -rf {aside}
  NEW_LOCK
  if mv -T "$dpd_new" {lock} 2>/dev/null; then echo dpd_lock_acquired; else rm -rf "$dpd_new"; echo dpd_lock_lost; fi
else
  mv -T {aside} {lock} 2>/dev/null; echo dpd_lock_lost
fi""".replace("  NEW_LOCK", NEW_LOCK)


@dataclass
class Holder:
    host: str
    pid: int
    started: str  # the process's start time (clock ticks since boot), so a reused pid is not mistaken for it
    since: float

    @classmethod
    def me(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), _start_time(os.getpid()), time.time())

    @classmethod
    def parse(cls, line: str) -> Holder | None:
        fields = line.split()
        if len(fields) != 4 or not fields[1].isdigit():
            return None
        try:
            return cls(fields[0], int(fields[1]), fields[2], float(fields[3]))
        except ValueError:
            return None

    def line(self) -> str:
        return f"{self.host} {self.pid} {self.started} {self.since:.0f}"

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"host {self.host}, pid {self.pid}, since {when}"


class DriverLock:
    """The lock of one submission in its job root; see the module docstring."""

    def __init__(self, context: BaseContext, submission_hash: str) -> None:
        self.context = context
        self.submission_hash = submission_hash
        self.name = f"{submission_hash}.lock"
        self.me = Holder.me()
        self.held = False
        self._beat = 0.0

    def acquire(self) -> None:
        """Take the lock, or take over a dead holder's; refuse with :class:`SubmissionLockedError`."""
        lock = shlex.quote(self.name)
        owner = shlex.quote(self.me.line())
        result = self.context.run(ACQUIRE.format(lock=lock, owner=owner))
        if result.returncode != 0:
            raise SchedulerError(
                f"cannot make the lock of submission {self.submission_hash} in {self.context.remote_root}: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        lines = result.stdout.splitlines()
        if lines[:1] == ["dpd_lock_acquired"]:
            self._acquired()
            return
        seen = lines[1].strip() if len(lines) > 1 else ""
        holder = Holder.parse(seen)
        beat_age = _age(lines)
        if holder is not None and self._alive(holder, beat_age):
            raise SubmissionLockedError(
                f"submission {self.submission_hash} is being run by another driver ({holder.describe()}); "
                "wait for it to finish, or stop that process and run again "
                f"(its lock is {os.path.join(self.context.remote_root, self.name)})"
            )
        aside = shlex.quote(f"{self.name}.stale.{uuid.uuid4().hex[:8]}")
        answer = self.context.run(TAKE_OVER.format(lock=lock, aside=aside, seen=shlex.quote(seen), owner=owner))
        if answer.stdout.strip() != "dpd_lock_acquired":
            raise SubmissionLockedError(
                f"submission {self.submission_hash} was taken over by another driver just now; run again to see which"
            )
        logger.warning(
            "took over the lock of submission %s from a driver that is gone (%s)",
            self.submission_hash,
            holder.describe() if holder else "its lock named no holder",
        )
        self._acquired()

    def heartbeat(self) -> None:
        """Refresh the holder's heartbeat (at most every :data:`HEARTBEAT_EVERY` seconds)."""
        if self.held and time.monotonic() - self._beat >= HEARTBEAT_EVERY:
            self.context.run(f"touch {shlex.quote(self.name)}/owner")
            self._beat = time.monotonic()

    def release(self) -> None:
        if self.held:
            self.context.run(f"rm -rf {shlex.quote(self.name)}")
            self.held = False

    def _acquired(self) -> None:
        self.held = True
        self._beat = time.monotonic()

    def _alive(self, holder: Holder, beat_age: float) -> bool:
        if holder.host == self.me.host:
            return _start_time(holder.pid) == holder.started
        return beat_age < STALE_AFTER


def _age(lines: list[str]) -> float:
    """Seconds since the holder's last heartbeat, as the job root's host sees it."""
    try:
        return float(lines[3]) - float(lines[2])
    except (IndexError, ValueError):
        return STALE_AFTER  # nothing readable: as good as stale


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), or '' when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""
