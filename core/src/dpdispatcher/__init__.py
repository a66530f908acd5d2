"""DPDispatcher: turn shell tasks into HPC batch jobs, run them, bring the results back."""

from importlib.metadata import PackageNotFoundError, version

from dpdispatcher.base_context import BaseContext
from dpdispatcher.hookspecs import hookimpl
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.resources import Resources
from dpdispatcher.submission import Submission
from dpdispatcher.task import Task

try:
    __version__ = version("dpdispatcher-core")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BaseContext",
    "Job",
    "JobStatus",
    "Machine",
    "Resources",
    "Submission",
    "Task",
    "__version__",
    "hookimpl",
    "info",
]


def info() -> None:
    """Print the version and the installed plugins."""
    from dpdispatcher.cli.plugins_cmd import print_plugin_table

    print(f"DPDispatcher {__version__}")
    print_plugin_table()
