"""Reading what pjstat prints: the job table (``pjstat``) and the per-job details (``pjstat -H -S``)."""

from __future__ import annotations

import re

from dpdispatcher_fugaku.states import HistoryRecord

#: a PJM job id: ``12345`` (``12345[1]`` is a bulk sub-job, which this plugin does not submit)
JOB_ID = r"[0-9]+"

_ROW_ID = re.compile(r"[0-9]+(?:\[[0-9]+\])?")
_STATE = re.compile(r"[A-Z]{3}")
_DETAIL = re.compile(r"^\s*([A-Z][A-Z0-9 ()/_-]*?)\s*:\s?(.*?)\s*$")


def parse_pjstat(text: str) -> dict[str, str]:
    """``{job id: ST}`` from ``pjstat`` / ``pjstat -H`` (the default layout).

    A row starts with the job id and ST is its 4th field (``JOB_ID JOB_NAME MD ST ...``).
    Headers, blank lines and the summary tables older versions print first
    (``ACCEPT QUEUED ...`` and their rows of counts) are skipped: their 4th field is
    not a three-letter state.
    """
    rows: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not _ROW_ID.fullmatch(fields[0]) or not _STATE.fullmatch(fields[3]):
            continue
        rows[fields[0]] = fields[3]
    return rows


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def parse_history(text: str) -> dict[str, HistoryRecord]:
    """``{job id: HistoryRecord}`` from ``pjstat -H -S`` (or ``-s``): one block of ``NAME : value`` lines per job.

    A block starts at its ``JOB ID`` line; ``STATE``, ``PJM CODE``, ``EXIT CODE``,
    ``SIGNAL NO`` and ``REASON`` are read, ``-`` meaning none; every other line is ignored.
    """
    records: dict[str, HistoryRecord] = {}
    values: dict[str, str] = {}

    def flush() -> None:
        job_id = values.get("JOB ID", "")
        if not job_id:
            return

        def field(name: str) -> str:
            value = values.get(name, "-")
            return "" if value == "-" else value

        records[job_id] = HistoryRecord(
            job_id=job_id,
            state=field("STATE"),
            pjm_code=_int(field("PJM CODE")),
            exit_code=_int(field("EXIT CODE")),
            signal=_int(field("SIGNAL NO")),
            reason=field("REASON"),
        )

    for line in text.splitlines():
        match = _DETAIL.match(line)
        if not match:
            continue
        name, value = match.group(1), match.group(2)
        if name == "JOB ID":
            flush()
            values = {}
        values[name] = value
    flush()
    return records
