"""A one-line progress display on a terminal; silent in logs and CI."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def wants_progress(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = wants_progress(self.stream) if enabled is None else enabled
        self._last = ""

    def update(self, done: int, running: int, queued: int, failed: int) -> None:
        if not self.enabled:
            return
        line = f"jobs: {done} done, {running} running, {queued} queued, {failed} failed"
        if line != self._last:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()
            self._last = ""
