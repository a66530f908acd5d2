"""Slurm plugin without a cluster: headers, state mapping, parsing, batching (a context that records commands)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.base_context import CommandResult
from dpdispatcher.errors import ConfigError, SchedulerError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import ScriptedContext
from dpdispatcher_slurm import (
    FAILURE_WORDS,
    SHORT_STATES,
    STATE_MAP,
    Slurm,
    SlurmJobArray,
    base_id,
    index_ranges,
    is_transient,
    normalize_state,
    parse_rows,
)
from dpdispatcher_slurm.commands import may_have_landed

#: the core's submit script runs sbatch inside it: a rule for 'sbatch' answers it too
SUBMIT = ("sbatch", "sbatch --parsable")


def resources(**extra) -> Resources:
    base = {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 0, "queue_name": "", "group_size": 3}
    return Resources.load_from_dict({**base, **extra})


def make_jobs(tmp_path: Path, batch_type: str = "Slurm", n: int = 3, **res):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type=batch_type, context=context)
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/") for i in range(n)]
    submission = Submission("wb", machine=machine, resources=resources(batch_type=batch_type, **res), task_list=tasks)
    submission.generate_jobs()
    context.bind_submission(submission)
    for job in submission.belonging_jobs:
        job.machine = machine
    return machine, context, submission.belonging_jobs


def header(tmp_path: Path, batch_type: str = "Slurm", **res) -> list[str]:
    machine, _, jobs = make_jobs(tmp_path, batch_type, **res)
    return machine.gen_script(jobs[0]).splitlines()


# -- headers ---------------------------------------------------------------------------------


def test_default_header(tmp_path):
    lines = header(tmp_path)
    assert lines[:3] == ["#!/bin/bash -l", "#SBATCH --nodes 1", "#SBATCH --ntasks-per-node 4"]
    assert not any("--gres" in line or "--partition" in line for line in lines)
    assert any(line.startswith("#SBATCH --job-name dpd_") for line in lines)
    assert any(line.startswith("#SBATCH --output ") and line.endswith(".out") for line in lines)


def test_gpu_partition_and_nodes(tmp_path):
    lines = header(tmp_path, number_node=2, gpu_per_node=2, queue_name="gpu")
    assert "#SBATCH --nodes 2" in lines
    assert "#SBATCH --gres=gpu:2" in lines
    assert "#SBATCH --partition gpu" in lines


def test_custom_gpu_line_replaces_gres(tmp_path):
    lines = header(tmp_path, gpu_per_node=1, kwargs={"custom_gpu_line": "#SBATCH --gpus-per-node=a100:1"})
    assert "#SBATCH --gpus-per-node=a100:1" in lines
    assert not any("--gres" in line for line in lines)


def test_custom_flags_come_after_the_header(tmp_path):
    lines = header(tmp_path, custom_flags=["#SBATCH --mem=4G", "#SBATCH --time=1:00:00"])
    last_directive = max(i for i, line in enumerate(lines) if line.startswith("#SBATCH --job-name"))
    assert lines.index("#SBATCH --mem=4G") > last_directive
    assert lines.index("#SBATCH --time=1:00:00") == lines.index("#SBATCH --mem=4G") + 1


def test_header_template_strategy(tmp_path):
    template = tmp_path / "header.tpl"
    template.write_text("#SBATCH --cpus-per-task {cpu_per_node}\n#SBATCH -p {queue_name}\n")
    lines = header(tmp_path, queue_name="long", strategy={"customized_script_header_template_file": str(template)})
    assert lines[:3] == ["#!/bin/bash -l", "#SBATCH --cpus-per-task 4", "#SBATCH -p long"]
    assert not any(line.startswith("#SBATCH --nodes") for line in lines)


def test_header_template_missing_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        header(tmp_path, strategy={"customized_script_header_template_file": str(tmp_path / "nope")})


def test_kwargs_schema_defaults():
    assert resources(batch_type="SlurmJobArray", kwargs={}).kwargs == {"custom_gpu_line": None, "slurm_job_size": 1}
    with pytest.raises(Exception):  # noqa: B017 - dargs' own error type
        resources(batch_type="Slurm", kwargs={"custom_gpu_line": 3})


def test_array_header_and_case_per_element(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, "SlurmJobArray", n=5, group_size=5, kwargs={"slurm_job_size": 2})
    script = machine.gen_script(jobs[0])
    assert "#SBATCH --array=0-2" in script
    assert "_%a.out" in script
    assert script.count("\n0)\n") == script.count("\n1)\n") == script.count("\n2)\n") == 1
    assert [len(e) for e in machine.elements(jobs[0])] == [2, 2, 1]
    assert script == machine.gen_script(jobs[0])
    for task in jobs[0].job_task_list:
        assert task.command in script


def test_array_script_names_the_core_tag_files(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, "SlurmJobArray", n=3, group_size=3, kwargs={"slurm_job_size": 2})
    (job,) = jobs
    script = machine.gen_script(job)
    lines = script.splitlines()
    branches = script.split("\n;;\n")
    for index, tasks in enumerate(machine.elements(job)):  # each element checks its own tasks' tags
        checks = [line for line in branches[index].splitlines() if line.endswith("|| dpd_failed=1")]
        assert checks == [f"[ -f {shlex.quote(t.finish_tag)} ] || dpd_failed=1" for t in tasks]
    for task in job.job_task_list:  # the job tag needs every task's tag, one line each
        assert f"[ -f {shlex.quote(task.finish_tag)} ] || dpd_all=0" in lines
    assert f'if [ "$dpd_all" -eq 1 ]; then : > {job.finish_tag}; fi' in lines
    assert "${dpd_t}_task_tag_finished" not in script


def test_ranges():
    assert index_ranges([0]) == "0"
    assert index_ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert index_ranges([3, 9]) == "3,9"


# -- states and parsing ---------------------------------------------------------------------


ALL_SLURM_STATES = [
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
    "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "SUSPENDED", "REQUEUED",
    "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "RESIZING", "STOPPED", "SPECIAL_EXIT", "REVOKED",
    "SIGNALING", "STAGE_OUT",
]  # fmt: skip


@pytest.mark.parametrize("state", ALL_SLURM_STATES)
def test_every_slurm_state_is_mapped(state):
    assert state in STATE_MAP
    if STATE_MAP[state] == JobStatus.terminated:
        assert state in FAILURE_WORDS


def test_short_codes_and_suffixes_normalize():
    assert normalize_state("CANCELLED by 0") == "CANCELLED"
    assert normalize_state("RUNNING+") == "RUNNING"
    assert normalize_state("oom") == "OUT_OF_MEMORY"
    assert all(long in STATE_MAP for long in SHORT_STATES.values())


def test_parse_rows_handles_arrays_and_sacct():
    rows = parse_rows("12 RUNNING\n13_0 COMPLETED\n13_1 RUNNING\n13_[2-5%2] PENDING\ngarbage\n14+0 PENDING\n")
    assert rows == {
        "12": {"": "RUNNING"},
        "13": {"0": "COMPLETED", "1": "RUNNING", "[2-5%2]": "PENDING"},
        "14": {"0": "PENDING"},
    }
    assert parse_rows("7|CANCELLED by 0|0:15\n8_1|TIMEOUT|0:0\n", sep="|") == {
        "7": {"": "CANCELLED"},
        "8": {"1": "TIMEOUT"},
    }
    assert base_id("123;cluster") == "123" and base_id("") == "" and base_id("abc") == ""


def test_transient_messages():
    assert is_transient("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation")
    assert is_transient("squeue: error: Unable to contact slurm controller (connect failure)")
    assert is_transient("sbatch: error: QOSMaxSubmitJobPerUserLimit")
    assert is_transient("sbatch: error: AssocMaxSubmitJobLimit")
    assert is_transient("Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)")
    assert not is_transient("sbatch: error: invalid partition specified: nope")
    assert may_have_landed("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation")
    assert not may_have_landed("sbatch: error: QOSMaxSubmitJobPerUserLimit")
    assert not may_have_landed("sbatch: error: invalid partition specified: nope")


# -- status queries -----------------------------------------------------------------------


def with_ids(jobs, first: int = 100):
    for i, job in enumerate(jobs):
        job.register_job_id(str(first + i))
    return jobs


def test_one_squeue_for_all_jobs_and_states(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=6, group_size=1)
    with_ids(jobs)
    context.answer("squeue", stdout="100 PENDING\n101 RUNNING\n102 COMPLETING\n103 COMPLETED\n104 WEIRD_NEW\n")
    context.answer("sacct", 1, stderr="sacct: error: Slurm accounting storage is disabled")
    states = machine.check_statuses(jobs)
    assert states[:5] == [
        JobStatus.waiting,
        JobStatus.running,
        JobStatus.completing,
        JobStatus.finished,
        JobStatus.unknown,
    ]
    assert states[5] == JobStatus.terminated  # gone, no accounting, no tag
    assert [c.split()[0] for c in context.commands] == ["squeue", "sacct"]
    assert "-j 100,101,102,103,104,105" in context.commands[0]
    machine.check_statuses(jobs)
    assert [c.split()[0] for c in context.commands].count("sacct") == 1  # accounting off: not asked again


def test_gone_jobs_settle_from_sacct_then_tags(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4, group_size=1)
    with_ids(jobs)
    context.answer("squeue", stdout="")
    context.answer("sacct", stdout="100|COMPLETED|0:0\n101|TIMEOUT|0:0\n102|OUT_OF_MEMORY|0:125\n103|RUNNING|0:0\n")
    context.files.add(jobs[1].finish_tag)  # e.g. timed out in its last line: the tags say it finished
    states = machine.check_statuses(jobs)
    assert states == [JobStatus.finished, JobStatus.finished, JobStatus.terminated, JobStatus.running]
    assert "ran out of memory" in machine.describe_failure(jobs[2])
    assert "timed out" in machine.describe_failure(jobs[1])
    assert context.exist_queries == 1


def test_transient_squeue_error_gives_unknown(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    context.answer("squeue", 1, stderr="squeue: error: Socket timed out on send/recv operation")
    assert machine.check_statuses(jobs) == [JobStatus.unknown] * 2
    for _ in range(5):  # transient: never raised
        machine.check_statuses(jobs)


def test_persistent_non_transient_squeue_error_is_raised(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    with_ids(jobs)
    context.answer("squeue", 1, stderr="squeue: error: something is deeply wrong")
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    with pytest.raises(SchedulerError):
        machine.check_statuses(jobs)


def test_invalid_job_id_means_gone(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    with_ids(jobs)
    context.answer("squeue", 1, stderr="slurm_load_jobs error: Invalid job id specified")
    context.answer("sacct", 1, stderr="Slurm accounting storage is disabled")
    context.files.add(jobs[0].finish_tag)
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_invalid_job_id_keeps_the_jobs_squeue_did_list(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    context.answer("squeue", 1, stdout="100 RUNNING\n", stderr="slurm_load_jobs error: Invalid job id specified")
    context.answer("sacct", 1, stderr="Slurm accounting storage is disabled")
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.terminated]


def test_long_id_lists_still_take_one_squeue(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=7, group_size=1)
    machine.query_chunk = 3
    with_ids(jobs)
    context.answer("squeue", stdout="99 RUNNING\n100 RUNNING\n106 PENDING\n")  # 99: another job of the user
    context.answer("sacct", stdout="101|COMPLETED|0:0\n102|COMPLETED|0:0\n103|COMPLETED|0:0\n104|COMPLETED|0:0\n")
    states = machine.check_statuses(jobs)
    commands = [c.split()[0] for c in context.commands]
    assert commands.count("squeue") == 1 and "-u" in context.commands[0]
    assert commands.count("sacct") == 2  # sacct names ids: chunked
    assert states == [JobStatus.running] + [JobStatus.finished] * 4 + [JobStatus.terminated, JobStatus.waiting]


def test_array_aggregates_elements(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "SlurmJobArray", n=4, group_size=4, kwargs={"slurm_job_size": 1})
    with_ids(jobs)
    context.answer("squeue", stdout="100_0 COMPLETED\n100_1 RUNNING\n100_2 PENDING\n")
    assert machine.check_statuses(jobs) == [JobStatus.running]
    context.answer("squeue", stdout="100_0 COMPLETED\n100_1 FAILED\n100_2 COMPLETED\n100_3 COMPLETED\n")
    assert machine.check_statuses(jobs) == [JobStatus.terminated]
    assert "failed" in machine.describe_failure(jobs[0])
    # all task tags present: finished even though an element failed (e.g. after its tasks)
    context.files |= {t.finish_tag for t in jobs[0].job_task_list}
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_array_resubmission_names_only_unfinished_elements(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "SlurmJobArray", n=5, group_size=5, kwargs={"slurm_job_size": 2})
    (job,) = jobs
    elements = machine.elements(job)
    context.files |= {t.finish_tag for t in elements[0] + elements[2]}
    context.answer("sbatch", stdout="dpd_job_id 555\n")
    assert machine.do_submit(job) == "555"
    assert "sbatch --parsable --array=1 " in context.commands[-1]


def test_submit_retries_transient_refusals_then_gives_up(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    machine.retry_delay = 0.0
    machine.submit_retries = 2
    context.answer("sbatch", 1, stderr="sbatch: error: Batch job submission failed: Socket timed out on send/recv")
    with pytest.raises(SchedulerError, match="after 3 attempts"):
        machine.do_submit(jobs[0])
    assert sum("sbatch --parsable" in c for c in context.commands) == 3


def test_submit_timeout_adopts_a_job_that_landed(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    machine.retry_delay = 0.0
    (job,) = jobs
    context.answer("sbatch", 1, stderr="sbatch: error: Socket timed out on send/recv operation")
    context.answer("pwd -P", stdout=f"/elsewhere\n77|PENDING|{context.remote_root}/{job.script_file_name}\n")
    assert machine.do_submit(job) == "77"
    assert job.job_id_file in context.files
    assert sum("sbatch --parsable" in c for c in context.commands) == 1


def test_non_transient_submit_error_is_raised_at_once(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    context.answer("sbatch", 1, stderr="sbatch: error: invalid partition specified: nope")
    with pytest.raises(SchedulerError, match="invalid partition"):
        machine.do_submit(jobs[0])
    assert len(context.commands) == 1


def test_kill_and_describe_from_output(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    machine.kill_jobs(jobs)
    assert context.commands[-1] == "scancel 100 101"
    context.answer(
        "cat ", stdout="slurmstepd: error: *** JOB 100 ON vm CANCELLED AT 2026-01-01 DUE TO TIME LIMIT ***\n"
    )
    assert "timed out" in machine.describe_failure(jobs[0])


def test_registered_types():
    from dpdispatcher.plugins import get_registry

    assert get_registry().machine_class("slurm") is Slurm
    assert get_registry().machine_class("SlurmJobArray") is SlurmJobArray


def test_jobs_are_submitted_in_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4, group_size=1)
    context.answer("sbatch", stdout="".join(f"dpd_job_id {i}\n" for i in range(10, 14)))
    assert machine.submit_jobs(jobs) == ["10", "11", "12", "13"]
    assert len(context.commands) == 1
    assert context.commands[0].count("sbatch --parsable") == 4
    for job in jobs:
        assert shlex.quote(job.job_id_file) in context.commands[0]


def test_a_refusal_mid_batch_is_retried_for_the_rest_only(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4, group_size=1)
    machine.retry_delay = 0.0
    calls = []

    def sbatch(cmd):
        calls.append(cmd.count("sbatch --parsable"))
        if len(calls) == 1:  # two accepted (and recorded), then the QOS limit
            context.write_file(jobs[0].job_id_file, "20\n")
            context.write_file(jobs[1].job_id_file, "21\n")
            return CommandResult(1, "dpd_job_id 20\ndpd_job_id 21\n", "sbatch: error: QOSMaxSubmitJobPerUserLimit")
        return CommandResult(0, "dpd_job_id 22\ndpd_job_id 23\n", "")

    context.answer("sbatch", call=sbatch)
    assert machine.submit_jobs(jobs) == ["20", "21", "22", "23"]
    assert calls == [4, 2]
    # a submit limit is a plain "no": the queue is not searched for a job that landed anyway
    assert not any(c.startswith("pwd -P") for c in context.commands)


def test_a_one_task_job_is_named_by_its_task_name(tmp_path):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="Slurm", context=context)
    task = Task(command="true", task_work_path="t/", task_name="relax Si; rm -rf ~")
    submission = Submission("wb", machine=machine, resources=resources(group_size=1), task_list=[task])
    submission.generate_jobs()
    context.bind_submission(submission)
    assert "#SBATCH --job-name relax-Si-rm--rf" in machine.gen_script(submission.belonging_jobs[0]).splitlines()
