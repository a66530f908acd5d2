"""Reading what qsub and qstat print: PBS Pro's JSON (``qstat -f -F json``) and Torque's job table."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: a PBS Pro / Torque job id: ``1234``, ``1234.server``, ``1234[].server`` (array), ``1234[5].server`` (subjob)
JOB_ID = r"[0-9]+(\[[0-9]*\])?(\.[A-Za-z0-9_.-]+)?"


@dataclass(frozen=True)
class JobRow:
    """What one status query says about a job."""

    job_id: str
    state: str
    exit_status: int | None = None
    comment: str = ""
    #: where the job's stdout goes (``Output_Path``: ``host:/path``), when the answer shows it
    output_path: str = ""


def sequence(job_id: str) -> str:
    """The sequence number of a job id (``1234.pbs01`` -> ``1234``; ``1234[5].pbs01`` -> ``1234[5]``)."""
    match = re.match(r"\s*([0-9]+(?:\[[0-9]*\])?)", job_id or "")
    return match.group(1) if match else ""


def submitted_id(stdout: str) -> str:
    """The job id qsub printed (its last non-empty line)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_qstat_json(text: str) -> dict[str, JobRow]:
    """``{sequence: JobRow}`` from one or more ``qstat -f -F json`` documents printed one after the other.

    A document that is not valid JSON (PBS Pro before 2021 printed some attribute
    values unescaped, e.g. a ``Variable_List`` holding a quote or a backslash) is read
    by :func:`scan_qstat_json`, which only looks for the job keys and the few
    attributes dpdispatcher needs.
    """
    rows: dict[str, JobRow] = {}
    decoder = json.JSONDecoder()
    index, end = 0, len(text)
    while index < end:
        start = text.find("{", index)
        if start < 0:
            break
        try:
            doc, index = decoder.raw_decode(text, start)
        except ValueError:
            rows.update(scan_qstat_json(text[start:]))
            break
        jobs = doc.get("Jobs") if isinstance(doc, dict) else None
        for job_id, attrs in (jobs or {}).items():
            if isinstance(attrs, dict):
                rows[sequence(job_id)] = JobRow(
                    job_id=job_id,
                    state=str(attrs.get("job_state", "")),
                    exit_status=_int(attrs.get("Exit_status")),
                    comment=str(attrs.get("comment", "")),
                    output_path=str(attrs.get("Output_Path", "")),
                )
    return rows


_JOB_KEY = re.compile(r'^\s*"(' + JOB_ID + r')"\s*:\s*\{\s*$', re.MULTILINE)
_STATE = re.compile(r'^\s*"job_state"\s*:\s*"([A-Z])"', re.MULTILINE)
_EXIT = re.compile(r'^\s*"Exit_status"\s*:\s*(-?[0-9]+)', re.MULTILINE)
_COMMENT = re.compile(r'^\s*"comment"\s*:\s*"(.*)",?\s*$', re.MULTILINE)
_OUTPUT = re.compile(r'^\s*"Output_Path"\s*:\s*"(.*)",?\s*$', re.MULTILINE)


def scan_qstat_json(text: str) -> dict[str, JobRow]:
    """The job states in ``qstat -f -F json`` output that is not valid JSON, read line by line."""
    rows: dict[str, JobRow] = {}
    keys = list(_JOB_KEY.finditer(text))
    for i, key in enumerate(keys):
        body = text[key.end() : keys[i + 1].start() if i + 1 < len(keys) else len(text)]
        state = _STATE.search(body)
        if not state:
            continue
        exit_status = _EXIT.search(body)
        comment = _COMMENT.search(body)
        output = _OUTPUT.search(body)
        rows[sequence(key.group(1))] = JobRow(
            job_id=key.group(1),
            state=state.group(1),
            exit_status=int(exit_status.group(1)) if exit_status else None,
            comment=comment.group(1) if comment else "",
            output_path=output.group(1) if output else "",
        )
    return rows


def parse_torque_table(text: str) -> dict[str, JobRow]:
    """``{sequence: JobRow}`` from ``qstat -u user`` (``qstat -a`` layout) or plain ``qstat``.

    Rows start with the job id (``1234.server``, maybe cut to the column's width) and
    the state letter is the last column but one (``... S Time``) in the ``-a``
    layout, the last but one too in the plain one (``... Time Use S Queue``).
    Headers, separators and the server name line are skipped.
    """
    rows: dict[str, JobRow] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or not re.match(r"[0-9]", fields[0]):
            continue
        state = fields[-2]
        if not re.fullmatch(r"[A-Z]", state):
            continue
        seq = sequence(fields[0])
        if seq:
            rows[seq] = JobRow(job_id=fields[0], state=state)
    return rows


def parse_torque_full(text: str) -> dict[str, JobRow]:
    """``{sequence: JobRow}`` from ``qstat -f``: ``Job Id: x`` blocks of ``name = value`` lines.

    Torque cuts long values (``Output_Path``, ``Variable_List``) over several lines, the
    rest of a value on lines that start with a tab and hold no `` = ``; they are joined.
    """
    rows: dict[str, JobRow] = {}
    job_id = ""
    values: dict[str, str] = {}
    last = ""

    def flush() -> None:
        if job_id:
            rows[sequence(job_id)] = JobRow(
                job_id=job_id,
                state=values.get("job_state", ""),
                exit_status=_int(values.get("exit_status", values.get("Exit_status"))),
                comment=values.get("comment", ""),
                output_path=values.get("Output_Path", ""),
            )

    for line in text.splitlines():
        if line.startswith("Job Id:"):
            flush()
            job_id, values, last = line.split(":", 1)[1].strip(), {}, ""
        elif " = " in line and job_id:
            name, _, value = line.strip().partition(" = ")
            last = name.strip()
            values[last] = value.strip()
        elif last and line[:1] in ("\t", " ") and line.strip():  # the rest of a long value
            values[last] += line.strip()
    flush()
    return rows


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None
