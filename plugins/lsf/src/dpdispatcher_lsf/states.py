"""LSF job states (``bjobs`` STAT) and what an exit code and exit reason say to a user.

States (IBM Spectrum LSF, bjobs(1) "Job states"):

=======  ===========================================================  =============
STAT     meaning                                                      JobStatus
=======  ===========================================================  =============
PEND     pending in a queue                                           waiting
PSUSP    suspended while pending (``bsub -H``, ``bstop``)             waiting
WAIT     chunk job member waiting for its chunk to start              waiting
PROV     its host is being provisioned                                waiting
RUN      running                                                      running
USUSP    started, then suspended by its owner or an admin (``bstop``)  running
SSUSP    started, then suspended by LSF (load, run window, preemption) running
ZOMBI    killed while its host was unreachable; turns EXIT later      completing
UNKWN    mbatchd lost contact with the execution host                 unknown
DONE     ended with exit code 0                                       tag files decide
EXIT     ended otherwise (non-zero exit, killed, over a limit)        tag files decide
=======  ===========================================================  =============

A suspended job that started stays ``running`` (as dpdispatcher 1.1.0 maps USUSP): it
resumes where it stopped. DONE and EXIT are settled from the tag files in the job root:
finished if the job's finished tag exists (DONE without the tag means its tags were
lost: terminated), terminated otherwise, with the exit code and reason LSF gave.
"""

from __future__ import annotations

from dpdispatcher.JobStatus import JobStatus

LSF_STATES: dict[str, JobStatus] = {
    "PEND": JobStatus.waiting,
    "PSUSP": JobStatus.waiting,
    "WAIT": JobStatus.waiting,
    "PROV": JobStatus.waiting,
    "RUN": JobStatus.running,
    "USUSP": JobStatus.running,
    "SSUSP": JobStatus.running,
    "ZOMBI": JobStatus.completing,
    "UNKWN": JobStatus.unknown,
    "DONE": JobStatus.terminated,  # ended: the tag files decide
    "EXIT": JobStatus.terminated,  # ended: the tag files decide
}

#: STATs of a job that ended
ENDED = frozenset({"DONE", "EXIT"})

#: LSF termination reasons (lsbatch.h TERM_*, "Termination reasons displayed by bacct, bhist and bjobs"):
#: keyword -> (LSF's own description, what the user is told)
TERM_REASONS: dict[str, tuple[str, str]] = {
    "TERM_RUNLIMIT": ("job killed after reaching LSF run time limit", "timed out (over its run limit)"),
    "TERM_MEMLIMIT": ("job killed after reaching LSF memory usage limit", "ran out of memory (over its memory limit)"),
    "TERM_SWAP": ("job killed after reaching LSF swap usage limit", "ran out of memory (over its swap limit)"),
    "TERM_CPULIMIT": ("job killed after reaching LSF CPU usage limit", "exceeded its CPU time limit"),
    "TERM_PROCESSLIMIT": ("job killed after reaching LSF process limit", "exceeded its process limit"),
    "TERM_THREADLIMIT": ("job killed after reaching LSF thread limit", "exceeded its thread limit"),
    "TERM_FORCE_OWNER": ("job killed by owner without time for cleanup", "was killed by its owner (bkill -r)"),
    "TERM_FORCE_ADMIN": (
        "job killed by root or LSF administrator without time for cleanup",
        "was killed by an LSF administrator (bkill -r)",
    ),
    "TERM_REQUEUE_OWNER": ("job killed and requeued by owner", "was killed and requeued by its owner"),
    "TERM_REQUEUE_ADMIN": (
        "job killed and requeued by root or LSF administrator",
        "was killed and requeued by an LSF administrator",
    ),
    "TERM_OWNER": ("job killed by owner", "was killed (bkill by its owner)"),
    "TERM_ADMIN": ("job killed by root or LSF administrator", "was killed by an LSF administrator"),
    "TERM_PREEMPT": ("job killed after preemption", "was killed after preemption"),
    "TERM_LOAD": ("job killed after load exceeds threshold", "was killed because its host was overloaded"),
    "TERM_WINDOW": ("job killed after queue run window closed", "was killed when its queue's run window closed"),
    "TERM_DEADLINE": ("job killed after deadline expires", "was killed at its deadline"),
    "TERM_EXTERNAL_SIGNAL": ("job killed by a signal external to LSF", "was killed by a signal from outside LSF"),
    "TERM_BUCKET_KILL": ("job killed with bkill -b", "was killed (bkill -b)"),
    "TERM_CHKPNT": ("job killed after checkpointing", "was killed after checkpointing"),
    "TERM_CWD_NOTEXIST": (
        "current working directory is not accessible or does not exist on the execution host",
        "could not start: its working directory is missing on the execution host",
    ),
    "TERM_PRE_EXEC_FAIL": (
        "job killed after reaching pre-execution retry limit",
        "could not start: its pre-execution command kept failing",
    ),
    "TERM_ZOMBIE": ("job exited while LSF is not available", "ended while LSF was not available"),
    "TERM_ORPHAN_SYSTEM": ("the orphan job was automatically terminated by LSF", "was ended by LSF as an orphan"),
    "TERM_REMOVE_HUNG_JOB": ("job removed from LSF", "was removed from LSF as hung"),
    "TERM_RC": (
        "job killed by lsf when an lsf resource connector execution host is reclaimed by cloud",
        "was killed when its cloud host was reclaimed",
    ),
    "TERM_DATA": ("job killed by lsf due to failed data staging", "was killed: its data staging failed"),
    "TERM_MC_RECALL": ("job killed by lsf due to multicluster job recall", "was recalled by its submission cluster"),
    "TERM_RMS": ("job exited from an rms system error", "ended on an RMS system error"),
    "TERM_UNKNOWN": ("lsf cannot determine a termination reason", "ended for a reason LSF cannot tell"),
}

SIGNALS = {
    1: "SIGHUP",
    2: "SIGINT",
    6: "SIGABRT",
    9: "SIGKILL",
    11: "SIGSEGV",
    12: "SIGUSR2",
    15: "SIGTERM",
    24: "SIGXCPU",
}


def term_reason(exit_reason: str) -> str:
    """The TERM_* keyword an exit reason names (by keyword or by LSF's description), or ''."""
    text = exit_reason.strip()
    upper = text.upper()
    # longest keywords first: TERM_FORCE_OWNER before TERM_OWNER
    for keyword in sorted(TERM_REASONS, key=len, reverse=True):
        if keyword in upper:
            return keyword
    low = text.lower()
    for keyword, (description, _) in sorted(TERM_REASONS.items(), key=lambda kv: len(kv[1][0]), reverse=True):
        if description.lower() in low:
            return keyword
    return ""


def describe_exit(exit_code: int | None) -> str:
    """What an exit code says ('' for none or 0)."""
    if not exit_code:
        return ""
    if 128 < exit_code < 160:  # the shell's 128 + signal
        signum = exit_code - 128
        return f"was killed by {SIGNALS.get(signum, f'signal {signum}')} (exit code {exit_code})"
    return f"exited with code {exit_code} (a task failed)"


def describe(job_id: str, state: str, exit_code: int | None, exit_reason: str) -> str:
    """What a user is told about an LSF job that ended without its finished tag."""
    keyword = term_reason(exit_reason)
    if keyword:
        words = f"{TERM_REASONS[keyword][1]}: {keyword}"
        if exit_code:
            words += f", exit code {exit_code}"
    else:
        words = describe_exit(exit_code) or f"ended ({state}) without its finished tag"
    text = f"LSF job {job_id} {words}"
    reason = exit_reason.strip()
    if reason and reason.upper() != keyword:
        text += f" (LSF: {reason})"
    return text
