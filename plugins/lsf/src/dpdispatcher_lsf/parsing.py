"""Reading what ``bsub`` and ``bjobs -json -o ...`` print.

``bjobs -o "jobid stat exit_code exit_reason" -json id...`` prints (LSF 10.1.0.2 and later)::

    {
      "COMMAND":"bjobs",
      "JOBS":2,
      "RECORDS":[
        {"JOBID":"123", "STAT":"EXIT", "EXIT_CODE":"1", "EXIT_REASON":""},
        {"ERROR":"Job <124> is not found"}
      ]
    }

An id LSF does not know (never, or no more: ``CLEAN_PERIOD`` passed) is a record with
only an ``ERROR``. Several such documents may follow one another (one per ``bjobs``
line of a chunked query).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: an LSF job id (``bsub`` prints ``Job <1234> is submitted to queue <normal>.``)
JOB_ID = r"[0-9]+"

_SUBMITTED = re.compile(r"Job <(" + JOB_ID + r")> is submitted")
_NOT_FOUND = re.compile(r"Job <(" + JOB_ID + r"(?:\[[0-9]+\])?)> is not found")
_RECORD_FIELD = re.compile(
    r'"(JOBID|JOBINDEX|STAT|EXIT_CODE|EXIT_REASON|ERROR|JOB_NAME|JOB_DESCRIPTION)"\s*:\s*"((?:[^"\\]|\\.)*)"'
)


@dataclass(frozen=True)
class JobRow:
    """What one ``bjobs`` record says about a job."""

    job_id: str
    state: str
    exit_code: int | None = None
    exit_reason: str = ""
    name: str = ""
    #: a job array element's index (``JOBINDEX``; 0 for a plain job, or when not asked for)
    index: int = 0
    #: the job's description (``bsub -Jd``; ``JOB_DESCRIPTION``), when asked for
    description: str = ""

    @property
    def element(self) -> str:
        """``1234`` or, for an array element, ``1234[3]``."""
        return f"{self.job_id}[{self.index}]" if self.index else self.job_id


@dataclass
class BjobsAnswer:
    """The records of one or more ``bjobs -json`` documents: known jobs, and ids LSF does not know."""

    #: the records of each job id (one for a plain job, one per element listed for a job array)
    rows: dict[str, list[JobRow]]
    not_found: set[str]
    #: other ERROR records (not "is not found"), as LSF wrote them
    errors: list[str]
    #: how many documents were read (0: bjobs printed no JSON at all)
    documents: int = 0


def submitted_id(stdout: str) -> str:
    """The id in ``Job <1234> is submitted to [default] queue <normal>.`` ('' if there is none)."""
    match = _SUBMITTED.search(stdout)
    return match.group(1) if match else ""


def parse_bjobs_json(text: str) -> BjobsAnswer:
    """The records of every ``bjobs -json`` document in ``text`` (read field by field if one is not valid JSON)."""
    answer = BjobsAnswer({}, set(), [])
    decoder = json.JSONDecoder()
    index, end = 0, len(text)
    while index < end:
        start = text.find("{", index)
        if start < 0:
            break
        try:
            doc, index = decoder.raw_decode(text, start)
        except ValueError:
            _scan(text[start:], answer)
            break
        answer.documents += 1
        records = doc.get("RECORDS") if isinstance(doc, dict) else None
        for record in records if isinstance(records, list) else []:
            if isinstance(record, dict):
                _add(answer, {str(k): str(v) for k, v in record.items() if v is not None})
    return answer


def _add(answer: BjobsAnswer, record: dict[str, str]) -> None:
    error = record.get("ERROR", "")
    if error:
        found = _NOT_FOUND.search(error)
        if found:
            answer.not_found.add(found.group(1))
        elif record.get("JOBID") and "not found" in error.lower():
            answer.not_found.add(record["JOBID"].strip())
        else:
            answer.errors.append(error)
        return
    job_id = record.get("JOBID", "").strip()
    if not re.fullmatch(JOB_ID, job_id):
        return
    row = JobRow(
        job_id=job_id,
        state=record.get("STAT", "").strip(),
        exit_code=_int(record.get("EXIT_CODE")),
        exit_reason=record.get("EXIT_REASON", "").strip(),
        name=record.get("JOB_NAME", ""),
        index=_int(record.get("JOBINDEX")) or 0,
        description=record.get("JOB_DESCRIPTION", ""),
    )
    answer.rows.setdefault(job_id, []).append(row)


def _scan(text: str, answer: BjobsAnswer) -> None:
    """Records of a document that is not valid JSON: each ``{...}`` holding the fields dpdispatcher reads."""
    found = False
    for chunk in re.split(r"\}\s*,?\s*\{|\[\s*\{|\}\s*\]", text):
        fields = {m.group(1): m.group(2).replace('\\"', '"') for m in _RECORD_FIELD.finditer(chunk)}
        if fields:
            found = True
            _add(answer, fields)
    if found:
        answer.documents += 1


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None
