"""Task: its hash (the identity records and resubmitted jobs rely on), its file lists, its checks."""

from __future__ import annotations

import json

import pytest

from dpdispatcher import Task
from dpdispatcher.errors import ConfigError
from dpdispatcher.task import _hash

TASKS = [
    Task("echo 1", "d/", ["a"], ["o"]),
    Task('lmp -i "in" \\ é', "md/0 x/", ["a", "b c"], [], None, "err", "nm"),
    Task("printf '\\t\\n'\n\x01\u2603\U0001f600", "", [], ["*.out", "traj/"], "", None),
    Task("true", ".", outlog=None, errlog=None, task_name=""),
]


@pytest.mark.parametrize("task", TASKS, ids=range(len(TASKS)))
def test_the_hash_is_that_of_the_sorted_json_of_the_task(task):
    assert task._hash_text() == json.dumps(task.serialize(), sort_keys=True)
    assert task.task_hash == _hash(task.serialize()) == task.get_hash()


def test_task_hashes_are_those_of_earlier_releases():
    """Records and job roots of submissions made before are found again: the hash of a task never changes."""
    assert TASKS[0].task_hash == "6be5eda39b7d1ea14cd0a27340c83e2f49fe30c9"
    assert TASKS[1].task_hash == "c5d9f907e28535ea7e60a3bfe192daa3877b5d0d"


def test_file_lists_are_lists_of_the_task_that_changes_in_place_show():
    forward = ["a"]
    task = Task("c", "d/", forward_files=forward)
    forward.append("not mine")
    assert task.forward_files == ["a"] and type(task.forward_files) is list
    assert task.backward_files == [] and type(task.backward_files) is list
    task.forward_files.append("b")
    task.backward_files += ["out"]
    assert task.forward_files is task.forward_files
    assert task.serialize()["forward_files"] == ["a", "b"] and task.serialize()["backward_files"] == ["out"]
    assert repr(task) == (
        "{'command': 'c', 'task_work_path': 'd/', 'forward_files': ['a', 'b'], 'backward_files': ['out'], "
        "'outlog': 'log', 'errlog': 'err'}"
    )
    task.forward_files = ["x"]
    assert task.serialize()["forward_files"] == ["x"]
    assert Task.deserialize(task.serialize()) == task


def test_a_value_of_the_wrong_type_is_the_config_loaders_error():
    with pytest.raises(ConfigError, match=r"^invalid task: task/command: .*requires <str>"):
        Task(command=1, task_work_path="d/")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^invalid task: task/outlog: "):
        Task(command="c", task_work_path="d/", outlog=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^invalid task: .*'forward_files': \[1\]"):
        Task(command="c", task_work_path="d/", forward_files=[1])  # type: ignore[list-item]
