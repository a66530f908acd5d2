"""Task, Resources and Job as the published 1.1.0 shows and builds them; errlog as it redirects it.

The expected dicts below are what dpdispatcher 1.1.0 printed for the same input, run side by side.
"""

from __future__ import annotations

import json

import pytest
from helpers import local_machine, write_tasks

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.job import Job

PUBLISHED_RESOURCES = {
    "number_node": 1,
    "cpu_per_node": 4,
    "gpu_per_node": 1,
    "queue_name": "q",
    "group_size": 5,
    "custom_flags": [],
    "strategy": {"ratio_unfinished": 0.5, "if_cuda_multi_devices": False},
    "para_deg": 1,
    "module_purge": False,
    "module_unload_list": [],
    "module_list": [],
    "source_list": [],
    "envs": {},
    "prepend_script": [],
    "append_script": [],
    "wait_time": 0,
    "kwargs": {"custom_gpu_line": "x"},
}


def test_task_repr_and_serialize_are_the_published_ones():
    """1.1.0: repr(task) is str(task.serialize()); task_name appears only when given."""
    task = Task(command="echo 1", task_work_path="d/", forward_files=["a"], backward_files=["o"])
    published = "{'command': 'echo 1', 'task_work_path': 'd/', 'forward_files': ['a'], 'backward_files': ['o'], 'outlog': 'log', 'errlog': 'err'}"
    assert repr(task) == published
    named = Task(command="c", task_work_path="d", task_name="n", outlog=None, errlog=None)
    assert named.serialize() == {
        "command": "c",
        "task_work_path": "d",
        "forward_files": [],
        "backward_files": [],
        "outlog": None,
        "errlog": None,
        "task_name": "n",
    }


def test_resources_serialize_is_the_published_one_key_for_key_in_order():
    """1.1.0: the machine decides the batch type (resources/batch_type is read for the kwargs schema, not kept);
    the user's strategy keys come first, then the defaults; module_purge before module_unload_list."""
    loaded = Resources.load_from_dict(
        {
            "number_node": 1,
            "cpu_per_node": 4,
            "gpu_per_node": 1,
            "queue_name": "q",
            "group_size": 5,
            "strategy": {"ratio_unfinished": 0.5},
            "kwargs": {"custom_gpu_line": "x"},
            "batch_type": "Slurm",
        }
    )
    assert json.dumps(loaded.serialize()) == json.dumps(PUBLISHED_RESOURCES)


def test_inputs_are_copied_not_aliased():
    """1.1.0 copies: changing the caller's lists and dicts afterwards changes nothing in the model."""
    forward, envs, strategy = ["a"], {"A": "1"}, {"ratio_unfinished": 0.5}
    task = Task(command="c", task_work_path="d", forward_files=forward)
    resources = Resources(envs=envs, strategy=strategy)
    config = {"group_size": 2, "envs": {"A": "1"}}
    loaded = Resources.load_from_dict(config)
    forward.append("b")
    envs["A"] = "2"
    strategy["ratio_unfinished"] = 0.9
    config["envs"]["A"] = "3"
    assert task.forward_files == ["a"]
    assert resources.envs == {"A": "1"} and resources.ratio_unfinished == 0.5
    assert loaded.envs == {"A": "1"}


def test_a_job_built_by_hand_has_its_script_generated(tmp_path):
    """1.1.0 documents Job(job_task_list, resources=, machine=) outside a submission (its own gen_script then fails
    on the unbound context; here it works)."""
    machine = Machine.load_from_dict(
        {
            "batch_type": "Slurm",
            "context_type": "LocalContext",
            "local_root": str(tmp_path),
            "remote_root": str(tmp_path / "r"),
        }
    )
    resources = Resources.load_from_dict({"cpu_per_node": 2, "queue_name": "q", "group_size": 1})
    task = Task(command="echo by-hand", task_work_path="a/")
    script = machine.gen_script(Job([task], resources=resources, machine=machine))
    assert script.startswith("#!/bin/bash")
    assert "#SBATCH --partition q" in script
    assert "echo by-hand" in script and task.finish_tag in script


def failing_task_run(tmp_path, errlog: str | None) -> tuple[str, str]:
    """One task that writes to stderr and fails; (the failure message, the job's own output)."""
    write_tasks(tmp_path / "local" / "wb", 1)
    task = Task(command="echo from-stderr >&2; exit 4", task_work_path="t0/", errlog=errlog)
    submission = Submission(
        "wb", machine=local_machine(tmp_path, retry_count=0), resources=Resources(), task_list=[task]
    )
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=0.1, clean=False)
    job_root = tmp_path / "remote" / submission.submission_hash
    job_output = "".join(p.read_text() for p in job_root.glob("*.out"))
    return str(err.value), job_output


def test_with_errlog_unset_stderr_is_not_redirected_and_no_errlog_tail_is_shown(tmp_path):
    """1.1.0: errlog=None adds no ``2>>`` redirection (stderr stays the job's) and no errlog tail."""
    message, job_output = failing_task_run(tmp_path, errlog=None)
    assert "from-stderr" in job_output
    assert "exit code 4 (no errlog: its stderr went to the job's output)" in message
    assert "last lines of" not in message
    assert "from-stderr" in message  # from the job's output, shown instead


def test_with_errlog_set_its_tail_is_shown_on_failure(tmp_path):
    """1.1.0: the tail of the errlog is printed when a task fails."""
    message, job_output = failing_task_run(tmp_path, errlog="err")
    assert "exit code 4; last lines of err:" in message
    assert "    from-stderr" in message
    assert "from-stderr" not in job_output
    assert (tmp_path / "remote").exists()
