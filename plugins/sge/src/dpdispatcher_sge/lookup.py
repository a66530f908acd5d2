"""Telling a job apart from others of the same name after a lost ``qsub`` answer, by where it writes.

A job's name may be one many jobs share (``kwargs.job_name``, a task's ``task_name``), but
its stdout file (``-o <job hash>.out`` in the job root, ``-cwd``) is its own. ``qstat -j``
shows both where the job runs (``cwd``) and that file (``stdout_path_list``)::

    ==============================================================
    job_number:                 42
    ...
    cwd:                        /scratch/me/work/0a1b...
    stdout_path_list:           NONE:NONE:0a1b...c9.out
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

#: a ``[host:]`` prefix of a path list entry (``NONE:NONE:x.out``, ``node1:/x.out``)
_HOST_PREFIX = re.compile(r"^(?:[^/:]*:)+")


def parse_job_details(text: str) -> dict[str, dict[str, str]]:
    """``{job id: {field: value}}`` from ``qstat -j ID,...`` output."""
    details: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep or " " in name or not name:
            continue
        if name == "job_number":
            current = details.setdefault(value.strip(), {})
        elif current is not None:
            current.setdefault(name, value.strip())
    return details


def writes_output(fields: dict[str, str], expected: str, roots: Iterable[str]) -> bool:
    """Whether a job (its ``qstat -j`` fields) writes its stdout to ``expected`` in one of ``roots``."""
    where = fields.get("cwd") or fields.get("sge_o_workdir") or ""
    wanted = {posixpath.normpath(posixpath.join(root, expected)) for root in roots if root}
    for entry in fields.get("stdout_path_list", "").split(","):
        path = _HOST_PREFIX.sub("", entry.strip())
        if not path:
            continue
        if not posixpath.isabs(path):
            if not where:
                if path == expected:
                    return True
                continue
            path = posixpath.join(where, path)
        if posixpath.normpath(path) in wanted:
            return True
    return False
