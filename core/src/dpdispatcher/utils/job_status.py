"""Published path of JobStatus."""

from dpdispatcher.JobStatus import JobStatus

__all__ = ["JobStatus"]
