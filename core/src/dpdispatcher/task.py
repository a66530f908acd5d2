"""Task: one shell command run in its own directory."""

from __future__ import annotations

import hashlib
import json
import os
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from dpdispatcher.arginfo import check_and_normalize, quick_check, task_args
from dpdispatcher.records import load_config_file

#: one encoder for every task hash (``json.dumps(..., sort_keys=True)`` builds a new one per call)
_HASH_ENCODER = json.JSONEncoder(sort_keys=True)


class Task:
    """A command run in ``task_work_path`` (relative to the submission's work base).

    ``forward_files`` are uploaded into the task directory before it runs and
    ``backward_files`` brought back after; globs and directories are allowed.
    ``outlog``/``errlog`` receive stdout/stderr (``None``: not redirected, they go to the job's own output).
    """

    # a submission may hold a million tasks: no per-instance __dict__, and the file lists are kept as
    # tuples until first read (a tuple of strings drops out of the cyclic GC, a list never does: a
    # million tasks' lists cost a caller's loop seconds of collections)
    __slots__ = (
        "_backward_files",
        "_forward_files",
        "command",
        "errlog",
        "outlog",
        "task_hash",
        "task_name",
        "task_work_path",
    )

    def __init__(
        self,
        command: str,
        task_work_path: str,
        forward_files: list[str] | None = None,
        backward_files: list[str] | None = None,
        outlog: str | None = "log",
        errlog: str | None = "err",
        task_name: str | None = None,
    ) -> None:
        self.command = command
        self.task_work_path = task_work_path
        self._forward_files: list[str] | tuple[str, ...] = tuple(forward_files) if forward_files else ()
        self._backward_files: list[str] | tuple[str, ...] = tuple(backward_files) if backward_files else ()
        self.outlog = outlog
        self.errlog = errlog
        #: the scheduler's name for a job of this one task (see :meth:`Job.get_scheduler_name`)
        self.task_name = task_name
        try:
            self.task_hash = hashlib.sha1(self._hash_text().encode()).hexdigest()
        except TypeError:  # a value that is not a string: the config loader's error, with its argument path
            quick_check(task_args, self.serialize(), "task", False)

    @property
    def forward_files(self) -> list[str]:
        if isinstance(self._forward_files, tuple):  # first read: the list the caller may change in place
            self._forward_files = list(self._forward_files)
        return self._forward_files

    @forward_files.setter
    def forward_files(self, files: list[str]) -> None:
        self._forward_files = files

    @property
    def backward_files(self) -> list[str]:
        if isinstance(self._backward_files, tuple):
            self._backward_files = list(self._backward_files)
        return self._backward_files

    @backward_files.setter
    def backward_files(self, files: list[str]) -> None:
        self._backward_files = files

    def _hash_text(self) -> str:
        """``json.dumps(self.serialize(), sort_keys=True)``, written out for strings (what every task holds):
        the encoder's own walk costs a million-task submission seconds. TypeError when a value is not a
        string (a log or the name may be None); a test checks both give the same text."""
        out, err = self.outlog, self.errlog
        named = "" if self.task_name is None else '"task_name": ' + _json_str(self.task_name) + ", "
        return (
            f'{{"backward_files": [{", ".join(map(_json_str, self._backward_files))}], '
            f'"command": {_json_str(self.command)}, "errlog": {"null" if err is None else _json_str(err)}, '
            f'"forward_files": [{", ".join(map(_json_str, self._forward_files))}], '
            f'"outlog": {"null" if out is None else _json_str(out)}, '
            f'{named}"task_work_path": {_json_str(self.task_work_path)}}}'
        )

    def __repr__(self) -> str:
        return str(self.serialize())  # as the published package shows a task

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(self.task_hash)

    @property
    def finish_tag(self) -> str:
        """File the job script leaves in the job root when this task exited 0."""
        return f"{self.task_hash}_task_tag_finished"

    @property
    def fail_file(self) -> str:
        """File the job script leaves in the job root when this task failed: exit code and errlog tail."""
        return f"{self.task_hash}_task_fail"

    def get_hash(self) -> str:
        return _hash(self.serialize())

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "command": self.command,
            "task_work_path": self.task_work_path,
            "forward_files": _as_list(self._forward_files),
            "backward_files": _as_list(self._backward_files),
            "outlog": self.outlog,
            "errlog": self.errlog,
        }
        if self.task_name is not None:  # absent otherwise: the hash of a task without a name is unchanged
            data["task_name"] = self.task_name
        return data

    @classmethod
    def deserialize(cls, task_dict: dict[str, Any]) -> Task:
        return cls(**task_dict)

    @classmethod
    def load_from_dict(cls, task_dict: dict[str, Any]) -> Task:
        return cls.deserialize(check_and_normalize(task_args(), task_dict, "task"))

    @classmethod
    def load_from_json(cls, json_file: str | os.PathLike[str]) -> Task:
        return cls.load_from_dict(load_config_file(json_file))

    load_from_yaml = load_from_json

    @staticmethod
    def arginfo() -> Any:
        return task_args()


def _hash(serialized: dict[str, Any]) -> str:
    return hashlib.sha1(_HASH_ENCODER.encode(serialized).encode()).hexdigest()


def _as_list(files: list[str] | tuple[str, ...]) -> list[str]:
    """The list a file list reads as (without keeping it: serializing a million tasks creates no lasting lists)."""
    return list(files) if isinstance(files, tuple) else files
