"""Loading configs: every documented parameter is accepted; bad input gets a clear error."""

from __future__ import annotations

import json

import pytest

from dpdispatcher import Machine, Resources, Task
from dpdispatcher.errors import ConfigError, PluginNotFoundError

MANUAL_RESOURCES = {
    "number_node": 1,
    "cpu_per_node": 4,
    "gpu_per_node": 2,
    "queue_name": "GPU_2080Ti",
    "group_size": 4,
    "custom_flags": ["#SBATCH --nice=100", "#SBATCH --time=24:00:00"],
    "strategy": {"if_cuda_multi_devices": True, "ratio_unfinished": 0.1},
    "para_deg": 1,
    "module_unload_list": ["singularity"],
    "module_list": ["singularity/3.0.0"],
    "module_purge": True,
    "source_list": ["./slurm_test.env"],
    "envs": {"DP_DISPATCHER_EXPORT": "test_foo_bar_baz"},
    "prepend_script": ["echo before"],
    "append_script": ["echo after"],
    "batch_type": "Shell",
    "kwargs": {},
}

MANUAL_TASK = {
    "command": "lmp -i input.lammps",
    "task_work_path": "bct-0/",
    "forward_files": ["conf.lmp", "input.lammps"],
    "backward_files": ["log.lammps"],
    "outlog": "log",
    "errlog": "err",
}


def test_manual_resources_load_with_every_parameter():
    res = Resources.load_from_dict(MANUAL_RESOURCES)
    assert res.serialize()["custom_flags"] == MANUAL_RESOURCES["custom_flags"]
    assert res.if_cuda_multi_devices and res.ratio_unfinished == 0.1
    assert res.module_purge and res.envs == {"DP_DISPATCHER_EXPORT": "test_foo_bar_baz"}


def test_resources_defaults_match_the_manual():
    res = Resources.load_from_dict(
        {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 1, "queue_name": "q", "group_size": 5}
    )
    assert (res.para_deg, res.source_list, res.module_list, res.envs, res.custom_flags) == (1, [], [], {}, [])


def test_manual_task_loads_and_outlog_may_be_none(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(MANUAL_TASK))
    assert Task.load_from_json(path).serialize() == MANUAL_TASK
    task = Task.load_from_dict({**MANUAL_TASK, "outlog": None, "errlog": None})
    assert task.outlog is None and task.errlog is None


def test_yaml_configs_load(tmp_path):
    path = tmp_path / "resources.yaml"
    path.write_text("number_node: 2\ncpu_per_node: 3\ngpu_per_node: 0\nqueue_name: ''\ngroup_size: 0\n")
    assert Resources.load_from_yaml(path).number_node == 2


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "machine.json"
    path.write_text('{\n  "batch_type": "Shell",\n  "context_type": "LocalContext"\n  "local_root": "./"\n}')
    with pytest.raises(ConfigError) as err:
        Machine.load_from_json(path)
    assert str(err.value).startswith(f"{path} is not valid JSON")
    assert "line 4 column 3" in str(err.value)


def test_unknown_key_names_the_argument_path(caplog, monkeypatch):
    monkeypatch.delenv("DPDISPATCHER_STRICT", raising=False)
    Resources.load_from_dict({"group_size": 1, "cpu_per_nod": 4})  # a warning, as published configs need
    assert "resources/cpu_per_nod: unknown key (did you mean cpu_per_node?)" in caplog.text
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")
    with pytest.raises(ConfigError) as err:
        Resources.load_from_dict({"group_size": 1, "cpu_per_nod": 4})
    assert "resources/cpu_per_nod" in str(err.value)


def test_wrong_type_names_the_argument_path():
    with pytest.raises(ConfigError) as err:
        Resources.load_from_dict({"group_size": "five"})
    assert "resources/group_size" in str(err.value)
    with pytest.raises(ConfigError) as err:
        Task.load_from_dict({**MANUAL_TASK, "forward_files": "conf.lmp"})
    assert "task/forward_files" in str(err.value)


def test_unknown_batch_type_lists_what_is_installed(tmp_path):
    with pytest.raises(PluginNotFoundError) as err:
        Machine.load_from_dict(
            {"batch_type": "Condor", "context_type": "Local", "local_root": str(tmp_path), "remote_root": str(tmp_path)}
        )
    message = str(err.value)
    assert "unknown batch type 'Condor'" in message and "Shell" in message


def test_a_name_no_shipped_plugin_provides_gets_no_install_hint(tmp_path):
    """Hints name only distributions this repository ships (tests/core/test_plugins.py covers those)."""
    with pytest.raises(PluginNotFoundError) as err:
        Machine.load_from_dict(
            {
                "batch_type": "HTCondor",
                "context_type": "Local",
                "local_root": str(tmp_path),
                "remote_root": str(tmp_path),
            }
        )
    assert "unknown batch type 'HTCondor'" in str(err.value)
    assert "install" not in str(err.value)


@pytest.mark.parametrize("name", ["LocalContext", "localcontext", "Local", "local", "LOCAL"])
def test_context_names_are_case_insensitive_with_or_without_suffix(tmp_path, name):
    machine = Machine.load_from_dict(
        {"batch_type": "shell", "context_type": name, "local_root": str(tmp_path), "remote_root": str(tmp_path)}
    )
    assert type(machine.context).__name__ == "LocalContext"
    assert type(machine).__name__ == "Shell"


def test_machine_constructor_dispatches_to_the_batch_type(tmp_path):
    machine = Machine(batch_type="Shell", context_type="LazyLocalContext", local_root=str(tmp_path))
    assert type(machine).__name__ == "Shell"
    assert machine.retry_count == 3


def test_machine_arguments_from_the_manual(tmp_path):
    machine = Machine.load_from_dict(
        {
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "local_root": str(tmp_path),
            "remote_root": str(tmp_path / "r"),
            "clean_asynchronously": True,
            "retry_count": 5,
            "remote_profile": {"symlink": True},
        }
    )
    assert machine.retry_count == 5 and machine.clean_asynchronously and machine.context.symlink


def test_task_name_names_a_one_task_job_and_round_trips():
    from dpdispatcher.job import Job

    task = Task.load_from_dict({"command": "true", "task_work_path": "t/", "task_name": "relax Si/ 64 atoms"})
    assert Task.deserialize(task.serialize()).task_name == "relax Si/ 64 atoms"
    assert "relax Si/ 64 atoms" in repr(task)
    job = Job([task], resources=Resources(group_size=1))
    assert job.get_scheduler_name(128) == "relax-Si-64-atoms"
    long_name = job.get_scheduler_name(12, require_alpha_prefix=True)
    assert len(long_name) == 12 and long_name.startswith("rel") and long_name[-9] == "-"
    assert Job([task, Task(command="true", task_work_path="u/")], resources=Resources()).get_scheduler_name(64) is None
    unnamed = Task(command="true", task_work_path="t/")
    assert "task_name" not in unnamed.serialize()  # the hash of a task without a name is unchanged


def test_cuda_multi_devices_is_off_unless_asked_and_needs_a_gpu():
    assert not Resources.load_from_dict({"group_size": 1, "gpu_per_node": 4}).if_cuda_multi_devices
    assert not Resources(group_size=1, gpu_per_node=4).if_cuda_multi_devices
    with pytest.raises(ConfigError, match="gpu_per_node can not be smaller than 1 when if_cuda_multi_devices is True"):
        Resources.load_from_dict({"group_size": 1, "gpu_per_node": 0, "strategy": {"if_cuda_multi_devices": True}})
    with pytest.raises(ConfigError, match=r"ratio_unfinished must be smaller than 1\.0"):
        Resources(group_size=1, strategy={"ratio_unfinished": 1.0})


def test_every_job_script_exports_what_the_job_asked_for(tmp_path):
    from helpers import copy_submission, local_machine

    submission = copy_submission(
        local_machine(tmp_path),
        n=1,
        group_size=1,
        queue_name="gpu",
        cpu_per_node=4,
        envs={"DPDISPATCHER_GROUP_SIZE": 9},
    )
    submission.generate_jobs()
    submission.machine.context.bind(submission.work_base, submission.submission_hash)
    script = submission.machine.gen_script(submission.belonging_jobs[0]).splitlines()
    for line in (
        "export DPDISPATCHER_NUMBER_NODE=1",
        "export DPDISPATCHER_CPU_PER_NODE=4",
        "export DPDISPATCHER_GPU_PER_NODE=0",
        "export DPDISPATCHER_QUEUE_NAME=gpu",
        "export DPDISPATCHER_GROUP_SIZE=9",  # the resources' envs win, as in the published package
    ):
        assert line in script
