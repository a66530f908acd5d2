"""The states a job goes through (names and values as in the published package)."""

from enum import IntEnum


class JobStatus(IntEnum):
    unsubmitted = 1
    waiting = 2
    running = 3
    terminated = 4
    finished = 5
    completing = 6
    unknown = 100
