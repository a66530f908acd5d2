"""PBS Pro and Torque job states: what each one means to dpdispatcher, and what an exit status says."""

from __future__ import annotations

from dpdispatcher.JobStatus import JobStatus

#: PBS Pro / OpenPBS ``job_state`` letters (PBS Reference Guide, "Job States") -> JobStatus.
#: The ended states map to terminated: the job's Exit_status and its tag files decide.
PBS_STATES: dict[str, JobStatus] = {
    "Q": JobStatus.waiting,  # queued
    "H": JobStatus.waiting,  # held
    "W": JobStatus.waiting,  # waiting for its start time (-a) or after a stage-in failure
    "T": JobStatus.waiting,  # being moved to a new location
    "S": JobStatus.waiting,  # suspended (by the scheduler or an admin): it resumes later
    "U": JobStatus.waiting,  # suspended by cycle harvesting (workstation busy)
    "M": JobStatus.waiting,  # moved to another server (peer scheduling): it runs there, the tags say when it ended
    "R": JobStatus.running,  # running
    "B": JobStatus.running,  # job array: at least one subjob has started
    "E": JobStatus.completing,  # exiting after having run (epilogue, staging out)
    "F": JobStatus.terminated,  # finished (``qstat -x``): Exit_status and the tags decide
    "X": JobStatus.terminated,  # subjob finished (expired): Exit_status and the tags decide
}

#: PBS Pro letters of a job that ended
PBS_ENDED = frozenset({"F", "X"})
#: PBS Pro letters of a job that left this server: finished once its tag says so, waiting until then
PBS_ELSEWHERE = frozenset({"M"})

#: Torque ``S`` column letters (``qstat -a``/``-u``; the Slurm Torque wrapper prints the same) -> JobStatus.
TORQUE_STATES: dict[str, JobStatus] = {
    "Q": JobStatus.waiting,  # queued
    "H": JobStatus.waiting,  # held
    "W": JobStatus.waiting,  # waiting for its start time
    "T": JobStatus.waiting,  # being moved
    "S": JobStatus.waiting,  # suspended
    "R": JobStatus.running,  # running
    "E": JobStatus.completing,  # exiting after having run
    "C": JobStatus.terminated,  # completed (kept for keep_completed seconds): the tags decide
}
#: Torque letters of a job that ended (the Slurm wrapper prints C for every ended Slurm state)
TORQUE_ENDED = frozenset({"C"})

#: PBS Pro's negative Exit_status values (JOB_EXEC_* of src/include/job.h) and what they mean to a user
EXEC_CODES: dict[int, str] = {
    -1: "could not be started by PBS (JOB_EXEC_FAIL1, before its files were staged)",
    -2: "could not be started by PBS (JOB_EXEC_FAIL2, after its files were staged)",
    -3: "failed to start and was to be retried (JOB_EXEC_RETRY)",
    -4: "was aborted while the node's MoM initialised (JOB_EXEC_INITABT)",
    -5: "was aborted while the node's MoM initialised (JOB_EXEC_INITRST)",
    -6: "was aborted while the node's MoM initialised (JOB_EXEC_INITRMG)",
    -7: "could not be restarted (JOB_EXEC_BADRESRT)",
    -10: "has an invalid user or group on the execution host (JOB_EXEC_FAILUID)",
    -11: "was rerun (JOB_EXEC_RERUN)",
    -12: "was checkpointed and killed (JOB_EXEC_CHKP)",
    -13: "failed on a bad password (JOB_EXEC_FAIL_PASSWORD)",
    -14: "was requeued after a sister MoM failed (JOB_EXEC_RERUN_SIS_FAIL)",
    -15: "was requeued for a restart from its checkpoint (JOB_EXEC_QUERST)",
    -16: "was rejected by a hook, to be retried (JOB_EXEC_FAILHOOK_RERUN)",
    -17: "was rejected by a hook and deleted (JOB_EXEC_FAILHOOK_DELETE)",
    -18: "was requeued by a hook (JOB_EXEC_HOOK_RERUN)",
    -19: "was deleted by a hook (JOB_EXEC_HOOK_DELETE)",
    -20: "lost its mother superior node (JOB_EXEC_RERUN_MS_FAIL)",
    -21: "failed a security check of the PBS directory (JOB_EXEC_FAIL_SECURITY)",
    -22: "failed in a hook error (JOB_EXEC_HOOKERROR)",
    -23: "had no Kerberos credentials (JOB_EXEC_FAIL_KRB5)",
    -24: "used more CPUs than it asked for (JOB_EXEC_KILL_NCPUS_BURST)",
    -25: "used more CPU than it asked for (JOB_EXEC_KILL_NCPUS_SUM)",
    -26: "ran out of memory (over its vmem limit: JOB_EXEC_KILL_VMEM)",
    -27: "ran out of memory (over its mem limit: JOB_EXEC_KILL_MEM)",
    -28: "exceeded its CPU time limit (JOB_EXEC_KILL_CPUT)",
    -29: "timed out (over its walltime: JOB_EXEC_KILL_WALLTIME)",
    -30: "failed to join its sister nodes (JOB_EXEC_JOINJOB)",
}

SIGNALS = {1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM", 24: "SIGXCPU"}


def describe_exit(exit_status: int | None, deleted: bool = False) -> str:
    """What a PBS Pro Exit_status says about how a job ended ('' for 0)."""
    if exit_status is None:
        return "was deleted before it ran" if deleted else "ended without running"
    if exit_status == 0:
        return ""
    if exit_status < 0:
        return EXEC_CODES.get(exit_status, f"could not be run by PBS (JOB_EXEC code {exit_status})")
    if exit_status > 256:  # PBS: 256 + the signal that killed the job
        signum = exit_status - 256
        name = SIGNALS.get(signum, f"signal {signum}")
        if signum == 15:
            return f"was killed ({name}: deleted with qdel, or over a limit on older PBS versions)"
        return f"was killed ({name})"
    return f"exited with status {exit_status} (a task failed)"


def describe(scheduler: str, job_id: str, state: str, exit_status: int | None = None, comment: str = "") -> str:
    """What a user is told about a job that ended without its finished tag."""
    if scheduler == "PBS":
        words = describe_exit(exit_status, deleted=bool(comment) and "delet" in comment.lower())
        text = f"PBS job {job_id} {words or 'ended without its finished tag'}"
        if exit_status is not None:
            text += f" (Exit_status {exit_status})"
    else:
        text = f"Torque job {job_id} ended (state {state})"
        if exit_status is not None:
            text += f" with exit status {exit_status}" if exit_status >= 0 else f": {describe_exit(exit_status)}"
    return text + (f": {comment}" if comment else "")
