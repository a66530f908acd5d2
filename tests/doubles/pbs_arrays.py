"""Job arrays of the PBS Pro front of the scheduler TEST DOUBLE (``qsub -J``), after PBS Pro's documented behaviour
and OpenPBS's sources (src/lib/Libcmds/chk_Jrange.c, src/server/array_func.c):

* ``qsub -J X-Y[:Z]`` (``Y > X``, ``Z >= 1``; a list or a single index: ``qsub: illegal -J value``)
  makes one subjob per index ``X, X+Z, ... <= Y`` and prints the array's id, ``1234[].pbs01``;
  each subjob is an engine job of its own (``1234[3].pbs01``) with ``PBS_ARRAY_INDEX``,
  ``PBS_ARRAY_ID`` and its ``PBS_JOBID`` in its environment; ``^array_index^`` in ``-o``/``-e``
  becomes its index (default output ``<name>.o1234.^array_index^``);
* ``qstat`` shows the array as ``1234[].pbs01``: ``Q`` until a subjob starts, ``B`` (begun) while
  any subjob is queued or running, ``F`` once every subjob ended (``-x``), with ``array``,
  ``array_indices_submitted``, ``array_indices_remaining``, ``array_state_count`` and, once
  finished, ``Exit_status`` 0 (every subjob exited 0), 1 (one exited > 0) or 2 (one < 0);
  ``-t`` adds the subjobs (``1234[3].pbs01``: Q, R, E, then ``X`` (expired) with their
  ``Exit_status``);
* ``qdel 1234[].pbs01`` deletes every subjob still queued or running; ``qdel 1234[3].pbs01`` one.

An array's sequence number is its first subjob's; the later subjobs take the numbers after it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Optional

from doubles.engine import ACTIVE, EXITING, FINISHED, HELD, QUEUED, RUNNING, Engine, Job

#: what PBS puts in an array's output path for the subjob's index
INDEX_TAG = "^array_index^"
#: PBS Pro's default max_array_size
MAX_ARRAY_SIZE = 10000


def parse_range(text: str) -> Optional[list[int]]:
    """The indices of a ``-J`` range (``X-Y[:Z]``, an optional ``%max_run`` dropped); None when qsub refuses it."""
    match = re.fullmatch(r"(\d+)-(\d+)(?::(\d+))?", text.split("%", 1)[0])
    if not match:
        return None
    first, last, step = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    if last <= first or step < 1:
        return None
    return list(range(first, last + 1, step))


def array_seq(job: Job) -> Optional[int]:
    """The array's sequence number of a subjob (None for a plain job)."""
    value = job.extra.get("array_seq")
    return None if value is None else int(value)


class ArrayJob:
    """An array as qstat, qdel and qselect see it: the parent of its subjobs (the engine's records)."""

    def __init__(self, subjobs: list[Job]) -> None:
        self.subjobs = sorted(subjobs, key=lambda job: int(job.extra["index"]))
        first = self.subjobs[0]
        self.seq = int(first.extra["array_seq"])
        self.job_id = str(first.extra["array_id"])
        self.name, self.owner, self.queue = first.name, first.owner, first.queue
        self.submitted = first.submitted

    @property
    def started(self) -> Optional[float]:
        times = [job.started for job in self.subjobs if job.started is not None]
        return min(times) if times else None

    @property
    def ended(self) -> Optional[float]:
        if self.state != FINISHED:
            return None
        return max((job.ended or 0.0) for job in self.subjobs)

    @property
    def state(self) -> str:
        """The engine state of the whole array: finished once every subjob is."""
        if all(job.state == FINISHED for job in self.subjobs):
            return FINISHED
        if any(job.started is not None for job in self.subjobs):
            return RUNNING
        return HELD if all(job.state == HELD for job in self.subjobs) else QUEUED

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def letter(self) -> str:
        """PBS's letter: B (begun) once a subjob started and until every one ended."""
        return {FINISHED: "F", RUNNING: "B", HELD: "H"}.get(self.state, "Q")

    def exit_status(self) -> int:
        """0 when every subjob exited 0, 2 when one ended < 0, else 1 when one exited > 0 (array_func.c)."""
        codes = [job.exit_status for job in self.subjobs if job.exit_status is not None]
        if any(code < 0 for code in codes):
            return 2
        return 1 if any(code > 0 for code in codes) else 0


def find(engine: Engine, number: int, index: Optional[str]) -> Optional[ArrayJob | Job]:
    """The array ``number[]`` (``index`` ''), its subjob ``number[index]``, or None."""
    first = engine.load(number)
    if first is None or array_seq(first) != number:
        return None
    subjobs = [job for job in engine.jobs() if array_seq(job) == number]
    if index:
        return next((job for job in subjobs if str(job.extra.get("index")) == index), None)
    return ArrayJob(subjobs)


def collapse(jobs: Iterable[Job], with_subjobs: bool = False) -> list[ArrayJob | Job]:
    """``jobs`` with the subjobs of each array replaced by the array (followed by them with ``with_subjobs``)."""
    shown: list[ArrayJob | Job] = []
    arrays: dict[int, list[Job]] = {}
    order: list[int | Job] = []
    for job in jobs:
        seq = array_seq(job)
        if seq is None:
            order.append(job)
        else:
            if seq not in arrays:
                order.append(seq)
            arrays.setdefault(seq, []).append(job)
    for item in order:
        if isinstance(item, int):
            array = ArrayJob(arrays[item])
            shown.append(array)
            if with_subjobs:
                shown += array.subjobs
        else:
            shown.append(item)
    return shown


def _ranges(indices: list[int], step: int) -> str:
    """Indices as PBS prints them (``0-4,7,9-11``; with the array's step ``0-8:2``); ``-`` for none."""
    parts: list[str] = []
    run: list[int] = []
    for index in [*indices, None]:
        if index is not None and run and index == run[-1] + step:
            run.append(index)
            continue
        if run:
            if len(run) > 2:
                parts.append(f"{run[0]}-{run[-1]}" + (f":{step}" if step > 1 else ""))
            else:
                parts += [str(i) for i in run]
        run = [] if index is None else [index]
    return ",".join(parts) or "-"


def array_attributes(array: ArrayJob, base: dict[str, object]) -> dict[str, object]:
    """The array's ``qstat -f`` attributes: its first subjob's (``base``), with the array's state and fields."""
    attrs = {k: v for k, v in base.items() if k not in ("resources_used", "exec_host", "exec_vnode", "session_id")}
    attrs.pop("Exit_status", None)
    attrs.pop("array_id", None)
    attrs.pop("array_index", None)
    attrs["job_state"] = array.letter
    first = array.subjobs[0]
    attrs["Output_Path"] = str(base["Output_Path"]).split(":", 1)[0] + ":" + str(first.extra["output_template"])
    attrs["array"] = "True"
    attrs["array_indices_submitted"] = first.extra["array_range"]
    step = int(first.extra.get("array_step", 1))
    queued = [int(job.extra["index"]) for job in array.subjobs if job.state in (QUEUED, HELD)]
    attrs["array_indices_remaining"] = _ranges(queued, step)
    counts = {name: 0 for name in ("Queued", "Running", "Exiting", "Expired")}
    for job in array.subjobs:
        name = {QUEUED: "Queued", HELD: "Queued", RUNNING: "Running", EXITING: "Exiting"}.get(job.state, "Expired")
        counts[name] += 1
    attrs["array_state_count"] = "".join(f"{name}:{n} " for name, n in counts.items())
    when = time.strftime("%a %b %d at %H:%M", time.localtime(array.started or array.submitted))
    if array.state == FINISHED:
        attrs["comment"] = f"Job Array Began at {when} and finished"
        attrs["Exit_status"] = array.exit_status()
    elif array.started is not None:
        attrs["comment"] = f"Job Array Began at {when}"
    return attrs


def subjob_attributes(job: Job, attrs: dict[str, object]) -> dict[str, object]:
    """A subjob's attributes: ``X`` (expired) once it ended, and which array and index it is."""
    if job.state == FINISHED:
        attrs["job_state"] = "X"
    attrs["array_id"] = job.extra["array_id"]
    attrs["array_index"] = job.extra["index"]
    return attrs
