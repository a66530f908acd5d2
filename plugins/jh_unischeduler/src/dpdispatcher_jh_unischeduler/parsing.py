"""Reading what jjobs prints: the job table (``jjobs id...``) and the long form (``jjobs -l id...``)."""

from __future__ import annotations

import re

from dpdispatcher_jh_unischeduler.states import JobRecord

#: a JH UniScheduler job id: ``123`` (``123[4]`` is an array element, which this plugin does not submit)
JOB_ID = r"[0-9]+"

_ROW_ID = re.compile(r"[0-9]+(?:\[[0-9]+\])?")
_STAT = re.compile(r"[A-Z]{3,5}")
_NOT_FOUND = re.compile(r"Job <([0-9]+(?:\[[0-9]+\])?)> is not found")


def parse_jjobs(text: str) -> dict[str, str]:
    """``{job id: STAT}`` from ``jjobs`` (``JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME``).

    A row starts with the job id and STAT is its 3rd field; the header, blank lines and the
    continuation lines of a job running on several hosts (only an ``N*host`` word) are skipped.
    """
    rows: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or not _ROW_ID.fullmatch(fields[0]) or not _STAT.fullmatch(fields[2]):
            continue
        rows[fields[0]] = fields[2]
    return rows


def not_found(text: str) -> set[str]:
    """The ids of ``Job <123> is not found`` lines."""
    return {match.group(1) for match in _NOT_FOUND.finditer(text)}


def is_not_found_line(line: str) -> bool:
    return bool(_NOT_FOUND.search(line))


_RECORD_START = re.compile(r"^Job <([0-9]+(?:\[[0-9]+\])?)>", re.MULTILINE)
_STATUS = re.compile(r"Status <([A-Z]+)>")
_EXIT_CODE = re.compile(r"Exited with exit code (\d+)")
_SIGNAL = re.compile(r"Exited by signal (\d+)")
_TERM = re.compile(r"\b(TERM_[A-Z_]+)\b")


def parse_long(text: str) -> dict[str, JobRecord]:
    """``{job id: JobRecord}`` from ``jjobs -l``: one record per ``Job <id>, ...`` paragraph.

    Lines the command wrapped (continued on the next line after a run of spaces, as LSF
    wraps at 80 columns) are joined first.
    """
    joined = re.sub(r"\n {2,}", "", text)
    records: dict[str, JobRecord] = {}
    starts = list(_RECORD_START.finditer(joined))
    for i, start in enumerate(starts):
        body = joined[start.start() : starts[i + 1].start() if i + 1 < len(starts) else len(joined)]
        status = _STATUS.search(body)
        code = _EXIT_CODE.search(body)
        signal = _SIGNAL.search(body)
        term = _TERM.search(body)
        records[start.group(1)] = JobRecord(
            job_id=start.group(1),
            status=status.group(1) if status else "",
            exit_code=int(code.group(1)) if code else None,
            signal=int(signal.group(1)) if signal else None,
            term=term.group(1) if term else "",
        )
    return records
