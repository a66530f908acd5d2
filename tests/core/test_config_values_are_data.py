"""Config values are data, not script: no hostile value runs a command or adds a script line.

Each value either is refused with a ConfigError naming its argument path, or runs as plain data;
in neither case does the canary command run. The Python constructors check as the loader does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import local_machine, write_tasks

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import ConfigError


def hostile_values(canary: Path) -> list[tuple[str, dict, str]]:
    """(id, resources fields, argument path of the expected error or '' when the value is plain data)."""
    touch = f"touch {canary}"
    return [
        ("env name with a command", {"envs": {f"A=1; {touch}; B": "1"}}, "resources/envs"),
        ("env name with a substitution", {"envs": {f"A$({touch})": "1"}}, "resources/envs"),
        ("env name with a backtick", {"envs": {f"A`{touch}`": "1"}}, "resources/envs"),
        ("env name with a space", {"envs": {"A B": "1"}}, "resources/envs"),
        ("env name starting with a digit", {"envs": {"1A": "1"}}, "resources/envs"),
        ("env value with a command", {"envs": {"A": f"1; {touch}"}}, ""),
        ("env value with a substitution", {"envs": {"A": f"$({touch})"}}, ""),
        ("env value with backticks", {"envs": {"A": f"`{touch}`"}}, ""),
        ("env value with quotes", {"envs": {"A": f"'\"; {touch}; \"'"}}, ""),
        ("env value with a newline", {"envs": {"A": f"1\n{touch}"}}, ""),
        ("env value with a NUL", {"envs": {"A": "1\x00"}}, "resources/envs"),
        ("queue with a newline", {"queue_name": f"normal\n{touch}"}, "resources/queue_name"),
        ("queue with a carriage return", {"queue_name": f"normal\r{touch}"}, "resources/queue_name"),
        ("queue with a NUL", {"queue_name": "normal\x00"}, "resources/queue_name"),
        ("custom flag with a newline", {"custom_flags": [f"#X\n{touch}"]}, "resources/custom_flags"),
        ("second custom flag with a newline", {"custom_flags": ["#X", f"#Y\n{touch}"]}, "resources/custom_flags"),
        ("module with a newline", {"module_list": [f"gcc\n{touch}"]}, "resources/module_list"),
        ("module to unload with a newline", {"module_unload_list": [f"gcc\n{touch}"]}, "resources/module_unload_list"),
        ("source with a newline", {"source_list": [f"/etc/profile\n{touch}"]}, "resources/source_list"),
        ("kwarg with a newline", {"kwargs": {"custom_gpu_line": f"#SBATCH --gres=gpu:1\n{touch}"}}, "resources/kwargs"),
        ("kwarg with a NUL", {"kwargs": {"custom_gpu_line": "#SBATCH\x00"}}, "resources/kwargs"),
        ("kwarg list with a newline", {"kwargs": {"extra": ["a", f"b\n{touch}"]}}, "resources/kwargs"),
    ]


def task_values(canary: Path) -> list[tuple[str, dict, str]]:
    touch = f"touch {canary}"
    return [
        ("work path with a substitution", {"task_work_path": f"t$({touch})/"}, ""),
        ("work path with backticks", {"task_work_path": f"t`{touch}`/"}, ""),
        ("work path with a semicolon", {"task_work_path": f"t;{touch};/"}, ""),
        ("work path with a newline", {"task_work_path": f"t\n{touch}/"}, ""),
        ("outlog with a substitution", {"outlog": f"o$({touch})"}, ""),
        ("errlog with quotes", {"errlog": f"e'\";{touch}"}, ""),
        ("backward file with a substitution", {"backward_files": [f"$({touch})"]}, ""),
        ("forward file with backticks", {"forward_files": [f"`{touch}`"]}, ""),
    ]


def test_there_are_thirty_hostile_values(tmp_path):
    assert len(hostile_values(tmp_path)) + len(task_values(tmp_path)) == 30


@pytest.mark.parametrize("index", range(22))
def test_a_hostile_resources_value_never_runs(tmp_path, index):
    canary = tmp_path / "canary"
    name, fields, error_path = hostile_values(canary)[index]
    machine = local_machine(tmp_path)
    write_tasks(tmp_path / "local" / "wb", 1)
    task = Task(command="cp in.txt out.txt", task_work_path="t0/", forward_files=["in.txt"], backward_files=["out.txt"])
    if error_path:
        with pytest.raises(ConfigError) as err:
            Resources.load_from_dict({"group_size": 1, **fields})
        assert f"invalid resources: {error_path}" in str(err.value), name
        with pytest.raises(ConfigError) as err:  # the constructor checks as the loader does
            Resources(group_size=1, **fields)
        assert f"invalid resources: {error_path}" in str(err.value), name
    else:
        resources = Resources.load_from_dict({"group_size": 1, **fields})
        Submission("wb", machine=machine, resources=resources, task_list=[task]).run_submission()
        assert (tmp_path / "local" / "wb" / "t0" / "out.txt").read_text() == "0\n"
    assert not canary.exists(), name


@pytest.mark.parametrize("index", range(8))
def test_a_hostile_task_value_is_data(tmp_path, index):
    canary = tmp_path / "canary"
    name, fields, _ = task_values(canary)[index]
    machine = local_machine(tmp_path)
    values = {"command": "echo ok > done.txt", "task_work_path": "t0/", **fields}
    work_dir = tmp_path / "local" / "wb" / values["task_work_path"]
    work_dir.mkdir(parents=True)
    for forward in values.get("forward_files", []):
        (work_dir / forward).parent.mkdir(parents=True, exist_ok=True)
        (work_dir / forward).write_text("in")
    task = Task(**values)
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=[task])
    try:
        submission.run_submission()
    except Exception:  # a missing backward file may fail the run; what matters is that nothing ran
        pass
    assert not canary.exists(), name


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: Resources(group_size=-1), "resources/group_size"),
        (lambda: Resources(group_size="2"), "resources/group_size"),
        (lambda: Resources(para_deg=0), "resources/para_deg"),
        (lambda: Task(command=123, task_work_path="t"), "task/command"),
        (lambda: Task(command="x", task_work_path=None), "task/task_work_path"),
    ],
)
def test_the_python_constructors_check_as_the_loader_does(build, path):
    with pytest.raises(ConfigError, match=f"invalid (resources|task): {path}"):
        build()


def test_a_batch_types_kwargs_are_checked_when_resources_name_no_batch_type(tmp_path):
    machine = Machine.load_from_dict(
        {
            "batch_type": "Slurm",
            "context_type": "LocalContext",
            "local_root": str(tmp_path),
            "remote_root": str(tmp_path),
        }
    )
    resources = Resources.load_from_dict({"group_size": 1, "kwargs": {"custom_gpu_line": ["#SBATCH", "x"]}})
    submission = Submission(
        ".", machine=machine, resources=resources, task_list=[Task(command="true", task_work_path=".")]
    )
    with pytest.raises(ConfigError, match="resources/kwargs/custom_gpu_line"):
        submission.run_submission(dry_run=True)


def test_an_empty_task_list_is_a_config_error(tmp_path):
    submission = Submission("wb", machine=local_machine(tmp_path), resources=Resources(group_size=1), task_list=[])
    with pytest.raises(ConfigError, match="no tasks"):
        submission.run_submission()
