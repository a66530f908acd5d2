"""dpdispatcher-echo-scheduler: an example third-party plugin.

The entry point ``echo = "dpd_echo_scheduler"`` (group ``dpdispatcher``) names
this module; the core registers it with its plugin manager and calls the hooks
below.
"""

from dpd_echo_scheduler.scheduler import EchoScheduler
from dpdispatcher import hookimpl

__all__ = ["EchoScheduler"]


@hookimpl
def register_machines(register):
    """Hand the core the batch types this distribution provides."""
    register(EchoScheduler)


@hookimpl
def job_script_env_lines(machine, job):
    """A phase hook: every job script (of any batch type) learns which scheduler ran it."""
    return [f"export ECHO_SCHEDULER_BATCH_TYPE={type(machine).__name__}"]
