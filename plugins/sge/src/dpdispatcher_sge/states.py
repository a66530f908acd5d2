"""Grid Engine job states: what each one means to dpdispatcher, and how ``qstat -xml`` and ``qacct`` print them.

A state code (``qw``, ``hqw``, ``r``, ``Rr``, ``Eqw``, ``dr``, …) is a string of
letters, each a flag (see sge_status(5)); :func:`map_state` reads the flags, so
every combination of known letters has a meaning and a code with a letter this
module does not know maps to ``unknown``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from dpdispatcher.JobStatus import JobStatus

#: the letters of qstat's state codes (sge_status(5)) and what they mean
LETTERS = {
    "q": "queued",
    "w": "waiting",
    "h": "on hold",
    "r": "running",
    "t": "transferring",
    "R": "restarted",
    "s": "suspended",
    "S": "suspended by its queue",
    "T": "suspended by a load threshold",
    "E": "in error",
    "d": "being deleted",
    "z": "finished",
}

#: JobStatus values of a job still in the scheduler's hands
ACTIVE = (JobStatus.running, JobStatus.completing, JobStatus.waiting)


def map_state(code: str) -> JobStatus:
    """The JobStatus of a qstat state code; ``unknown`` for a code with a letter not in :data:`LETTERS`.

    Error (``E``: ``Eqw``, ``Ehqw``) ends the job: ``terminated`` (it would never start). Deletion
    (``d``: ``dr``, ``dt``, ``dRr``, ``ds``, …) is ``completing``: the job's processes live until
    the execution host has killed them, and a job reported ended while they run could be
    resubmitted beside them. Suspended (``s``, ``S``, ``T``) is ``waiting``: it makes no progress
    but will go on. Running or transferring (``r``, ``t``, ``hr``, ``Rr``, ``Rt``) is ``running``;
    pending (``qw``, ``hqw``, ``hRwq``, ``Rq``) is ``waiting``. ``z`` (finished, listed by
    ``qstat -s z``) is ``terminated``: the tag files decide whether it succeeded.
    """
    letters = set(code)
    if not code or not letters <= LETTERS.keys():
        return JobStatus.unknown
    if letters & {"E", "z"}:
        return JobStatus.terminated
    if "d" in letters:
        return JobStatus.completing
    if letters & {"s", "S", "T"}:
        return JobStatus.waiting
    if letters & {"r", "t"}:
        return JobStatus.running
    if letters & {"q", "w"}:
        return JobStatus.waiting
    return JobStatus.unknown


def in_error(code: str) -> bool:
    """Whether the code is an error state (``Eqw``): the job will never start unless an admin clears it."""
    return "E" in code and set(code) <= LETTERS.keys()


def deleted(code: str) -> bool:
    """Whether the code is a deletion state (``dr``, ``dt``, …): someone ran qdel on the job."""
    return "d" in code and set(code) <= LETTERS.keys()


def describe_code(code: str) -> str:
    """``Eqw`` -> 'in error, queued, waiting'."""
    return ", ".join(LETTERS.get(letter, repr(letter)) for letter in code)


# -- qstat -xml ---------------------------------------------------------------------


@dataclass(frozen=True)
class QstatEntry:
    """One ``job_list`` element of ``qstat -xml``: a job, or some tasks of an array job."""

    job_id: str
    name: str
    state: str
    #: array task ids as qstat prints them (``3``, ``5-9:1``); '' for a plain job
    tasks: str = ""


def parse_qstat_xml(text: str) -> list[QstatEntry]:
    """Every ``job_list`` of ``qstat -xml`` output (running ones under queue_info, pending ones under job_info).

    Raises ValueError for output that is not qstat's XML.
    """
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as err:
        raise ValueError(f"qstat printed something that is not XML ({err}): {text[:200]!r}") from None
    if root.tag != "job_info":
        raise ValueError(f"qstat -xml printed <{root.tag}>, not <job_info>")
    entries = []
    for element in root.iter("job_list"):
        job_id = (element.findtext("JB_job_number") or "").strip()
        if not job_id:
            continue
        entries.append(
            QstatEntry(
                job_id=job_id,
                name=(element.findtext("JB_name") or "").strip(),
                state=(element.findtext("state") or "").strip(),
                tasks=(element.findtext("tasks") or "").strip(),
            )
        )
    return entries


def states_by_job(entries: list[QstatEntry]) -> dict[str, list[str]]:
    """``{job id: [state code of each listed task]}``."""
    states: dict[str, list[str]] = {}
    for entry in entries:
        states.setdefault(entry.job_id, []).append(entry.state)
    return states


# -- qacct ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AcctRecord:
    """What ``qacct -j`` says about one run of a job (or of one array task)."""

    job_id: str
    task_id: str  # '' for a plain job ("undefined")
    failed: int
    failed_text: str
    exit_status: int


_QACCT_FIELD = re.compile(r"^(jobnumber|taskid|failed|exit_status)\s+(.*?)\s*$")


def parse_qacct(text: str) -> dict[str, list[AcctRecord]]:
    """``{job id: [records]}`` from the output of one or more ``qacct -j ID`` calls.

    Records are the blocks qacct separates with ``====`` lines; a job run more than
    once (rescheduled) or an array has several, in the order of the accounting file.
    Lines that are not record fields (``error: job id 12 not found``) are ignored.
    """
    records: dict[str, list[AcctRecord]] = {}
    fields: dict[str, str] = {}

    def close() -> None:
        if fields.get("jobnumber"):
            failed_code, _, failed_text = fields.get("failed", "0").partition(":")
            task = fields.get("taskid", "")
            records.setdefault(fields["jobnumber"], []).append(
                AcctRecord(
                    job_id=fields["jobnumber"],
                    task_id="" if task == "undefined" else task,
                    failed=_int(failed_code),
                    failed_text=failed_text.strip(),
                    exit_status=_int((fields.get("exit_status") or "0").split()[0]),
                )
            )
        fields.clear()

    for line in text.splitlines():
        if line.startswith("====="):
            close()
            continue
        match = _QACCT_FIELD.match(line)
        if match:
            fields[match.group(1)] = match.group(2)
    close()
    return records


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return -1


#: qacct ``failed`` codes (sge_status(5)) and what a user is told
FAILED_WORDS = {
    1: "failed before the job started (execd)",
    3: "failed before the execution host set up its spool",
    4: "failed before its shepherd recorded its pid (file system trouble?)",
    7: "failed before its prolog",
    8: "failed in its prolog",
    9: "failed before starting its parallel environment",
    10: "failed in its parallel environment's start procedure",
    11: "failed in its shepherd before the job started",
    12: "ran, but failed before the parallel environment's stop procedure",
    13: "ran, but the parallel environment's stop procedure failed",
    14: "ran, but failed before its epilog",
    15: "ran, but failed in its epilog",
    17: "was killed by a signal (qdel?)",
    18: "lost its shepherd",
    19: "lost its exit status (program or machine crash?)",
    21: "was unknown to the qmaster when it ended",
    25: "was rescheduled",
    26: "could not open its output file (-o/-e)",
    27: "could not find its shell (-S)",
    28: "could not change to its working directory",
    37: "timed out: the qmaster enforced its h_rt, h_cpu or h_vmem limit",
    100: "was killed after it started (signal, resource limit or node crash)",
}

#: exit statuses above 128 (128 + signal) and what they usually mean on Grid Engine
SIGNAL_WORDS = {
    137: "was killed (SIGKILL: qdel, or a hard limit such as h_rt or h_vmem)",
    138: "timed out (SIGUSR1: soft run time limit s_rt, or qdel with -notify)",
    140: "was warned (SIGUSR2: soft limit, or -notify before a suspension)",
    143: "was terminated (SIGTERM)",
    152: "timed out (SIGXCPU: soft CPU limit s_cpu)",
    153: "exceeded its file size limit (SIGXFSZ)",
    134: "aborted (SIGABRT)",
    139: "crashed (SIGSEGV)",
}


def describe_record(record: AcctRecord) -> str:
    """What a user is told about a run that accounting says went wrong; '' for a plain exit 0 or 1.

    Exit status 1 is the job script saying "a task failed": the core reports those tasks itself.
    """
    if record.failed == 0 and record.exit_status in (0, 1):
        return ""
    if record.failed == 37:
        words = FAILED_WORDS[37]
    elif record.exit_status in SIGNAL_WORDS:
        words = SIGNAL_WORDS[record.exit_status]
    elif record.exit_status > 128:
        words = f"was ended by signal {record.exit_status - 128}"
    elif record.failed:
        words = FAILED_WORDS.get(record.failed, f"failed in Grid Engine ({record.failed_text or 'no description'})")
    else:
        words = f"exited with status {record.exit_status}"
    task = f" task {record.task_id}" if record.task_id else ""
    return f"SGE job {record.job_id}{task} {words} (qacct: failed {record.failed}, exit_status {record.exit_status})"


def describe_records(records: list[AcctRecord]) -> str:
    """The description of the last run of each task that went wrong ('' when none did), at most 3 of them."""
    last: dict[str, AcctRecord] = {}
    for record in records:
        last[record.task_id] = record
    words = [w for w in (describe_record(r) for r in last.values()) if w]
    if len(words) > 3:
        words = [*words[:3], f"and {len(words) - 3} more task(s)"]
    return "; ".join(words)


# -- qstat -j (error reasons) ----------------------------------------------------------

_REASON = re.compile(r"^error reason\s+(\d+):\s*(?:\S+ \S+ \[[^\]]*\]:\s*)?(.*)$")


def parse_error_reasons(text: str) -> dict[str, str]:
    """``{job id: first error reason}`` from ``qstat -j ID,...`` output (jobs in state Eqw)."""
    reasons: dict[str, str] = {}
    job_id = ""
    for line in text.splitlines():
        if line.startswith("job_number:"):
            job_id = line.split(":", 1)[1].strip()
            continue
        match = _REASON.match(line.strip())
        if match and job_id and job_id not in reasons:
            reasons[job_id] = match.group(2).strip()
    return reasons
