"""How a running submission shows its progress: a live line on a terminal, a log line per change elsewhere.

On a terminal (and not under CI or ``TERM=dumb``) one line is redrawn in place whenever the
job counts change. Elsewhere (a pipe, a log file, a workflow engine) the counts are logged at
INFO level on the ``dpdispatcher.progress`` logger when they change, at most once every
:data:`LOG_INTERVAL` seconds: a change within that time is logged at the first update after
it, or when the run ends, so the last counts always appear and a week-long run costs few lines.
``dpdisp`` prints these log lines on stderr; a library user sees them by configuring logging.
:func:`turned_off` silences both (``dpdisp --no-progress`` and ``-q``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Callable, TextIO

#: the shortest time between two logged progress lines (seconds)
LOG_INTERVAL = 30.0

logger = logging.getLogger(__name__)

_turned_off = 0  # depth of the turned_off() blocks in force


def wants_progress(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal a live line may be redrawn on."""
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


@contextlib.contextmanager
def turned_off() -> Iterator[None]:
    """No progress at all (neither the live line nor log lines) from the submissions run in this block."""
    global _turned_off
    _turned_off += 1
    try:
        yield
    finally:
        _turned_off -= 1


class Progress:
    """The progress of one run. ``enabled=False`` shows nothing; by default it follows :func:`turned_off`."""

    def __init__(
        self,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = not _turned_off
        #: redraw one line on the terminal
        self.live = enabled and wants_progress(self.stream)
        #: log a line per change, at most every LOG_INTERVAL seconds
        self.logs = enabled and not self.live
        self.clock = clock
        self._last = ""  # the line on screen (live) or the last one logged
        self._pending = ""  # a changed line not logged yet
        self._logged_at: float | None = None

    def update(self, done: int, running: int, queued: int, failed: int) -> None:
        line = f"jobs: {done} done, {running} running, {queued} queued, {failed} failed"
        if self.live and line != self._last:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self._last = line
        elif self.logs:
            self._pending = line if line != self._last else ""
            now = self.clock()
            if self._pending and (self._logged_at is None or now - self._logged_at >= LOG_INTERVAL):
                self._log(now)

    def close(self) -> None:
        if self.live and self._last:
            self.stream.write("\n")
            self.stream.flush()
            self._last = ""
        elif self.logs and self._pending:
            self._log(self.clock())

    def _log(self, now: float) -> None:
        logger.info("%s", self._pending)
        self._last, self._pending, self._logged_at = self._pending, "", now
