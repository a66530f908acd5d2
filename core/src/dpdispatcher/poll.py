"""When to poll: soon after submission, then backing off towards check_interval."""

from __future__ import annotations


class PollSchedule:
    """Delays between status queries.

    The first polls come after ``first`` seconds so that short jobs return in
    moments; each delay is ``factor`` times the last, capped at
    ``check_interval`` so that long jobs cost few scheduler queries.
    :meth:`reset` starts over, e.g. after a resubmission.
    """

    def __init__(self, check_interval: float, first: float = 0.05, factor: float = 1.5) -> None:
        self.check_interval = max(float(check_interval), 0.0)
        self.first = min(first, self.check_interval) if self.check_interval else 0.0
        self.factor = factor
        self._next = self.first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * self.factor, self.check_interval)
        return delay

    def reset(self) -> None:
        self._next = self.first
