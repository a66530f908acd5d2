"""When to poll: soon after submission, then backing off towards check_interval.

Two kinds of poll. Asking the scheduler is costly (it is shared; a cluster's users are asked
to query it rarely), so it follows :class:`PollSchedule`. Looking for the jobs' finished tags
in the job root is one cheap existence check for all jobs, so :class:`PollClock` does it
every :data:`TAG_INTERVAL` between scheduler queries: a run returns within about a second of
its last task, whatever its ``check_interval``.
"""

from __future__ import annotations

import time

#: seconds between two looks at the finished tags while jobs run
TAG_INTERVAL = 0.5
#: a look at the tags may take at most this share of the time between two looks (many jobs, a slow link)
TAG_SHARE = 0.05


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


class PollClock:
    """Which poll is due, and how long to wait for it."""

    def __init__(self, check_interval: float) -> None:
        self.schedule = PollSchedule(check_interval)
        self._query_at = 0.0  # the first poll asks the scheduler
        self._tag_interval = TAG_INTERVAL

    def scheduler_due(self) -> bool:
        return time.monotonic() >= self._query_at

    def queried(self) -> None:
        """The scheduler was asked: the next query is one backed-off delay away."""
        self._query_at = time.monotonic() + self.schedule.next()

    def reset(self) -> None:
        """Jobs were (re)submitted: ask the scheduler soon again."""
        self.schedule.reset()
        self.queried()

    def tags_looked_at(self, seconds: float) -> None:
        """A look at the tags took ``seconds``: keep such looks a small share of the time."""
        self._tag_interval = max(TAG_INTERVAL, seconds / TAG_SHARE)

    def next_wait(self) -> float:
        """Seconds until the next poll of either kind."""
        return max(0.0, min(self._query_at - time.monotonic(), self._tag_interval))
