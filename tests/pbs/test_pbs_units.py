"""PBS plugin without a scheduler: headers, kwargs, state mapping, qstat parsing, batching (a recording context)."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.base_context import CommandResult
from dpdispatcher.commands import COMMAND_BUDGET
from dpdispatcher.errors import ConfigError, SchedulerBusyError, SchedulerError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import ScriptedContext
from dpdispatcher_pbs import (
    EXEC_CODES,
    PBS,
    PBS_STATES,
    TORQUE_STATES,
    Torque,
    describe_exit,
    is_transient,
    parse_qstat_json,
    parse_torque_full,
    parse_torque_table,
    scan_qstat_json,
    sequence,
    subjob_range,
)
from dpdispatcher_pbs.commands import may_have_landed

pytestmark = pytest.mark.pbs


#: the core's submit script runs qsub inside it: a rule for 'qsub' answers it too
SUBMIT = ("qsub", "$(qsub ")


BASE = {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 0, "queue_name": "", "group_size": 1}


def resources(batch_type: str = "PBS", **extra: Any) -> Resources:
    return Resources.load_from_dict({**BASE, "batch_type": batch_type, **extra})


def make_jobs(tmp_path: Path, batch_type: str = "PBS", n: int = 3, **res: Any):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type=batch_type, context=context)
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/") for i in range(n)]
    submission = Submission("wb", machine=machine, resources=resources(batch_type, **res), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    for job in submission.belonging_jobs:
        job.machine = machine
    return machine, context, submission.belonging_jobs


def script_lines(tmp_path: Path, batch_type: str = "PBS", n: int = 1, **res: Any) -> list[str]:
    machine, _, jobs = make_jobs(tmp_path, batch_type, n=n, **res)
    return machine.gen_script(jobs[0]).splitlines()


def with_ids(jobs, first: int = 100, server: str = "pbs01"):
    for i, job in enumerate(jobs):
        job.register_job_id(f"{first + i}.{server}")
    return jobs


def qstat_doc(jobs: dict[str, dict[str, Any]]) -> str:
    doc: dict[str, Any] = {"timestamp": 1700000000, "pbs_version": "2021.1.3", "pbs_server": "pbs01"}
    if jobs:
        doc["Jobs"] = jobs
    return json.dumps(doc, indent=4, separators=(",", ":")) + "\n"


# -- headers (pinned to dpdispatcher 1.1.0) ---------------------------------------------------
#
# Expected text generated with the published package (/work/pub110/bin/python, dpdispatcher
# 1.1.0: PBS.gen_script_header / Torque.gen_script_header) for the same resources. 1.1.0
# prints a blank line before the shebang (its template starts with a newline), which leaves
# the script without an effective shebang; this plugin starts with the shebang. After 1.1.0's
# lines come this plugin's own: the job name (1.1.0 named only one-task jobs with a task
# name) and the output file.

PUBLISHED_HEADERS = {
    # 1.1.0: '\n#!/bin/bash -l\n#PBS -l select=1:ncpus=4\n#PBS -j oe\n\n'
    ("PBS", "cpu"): ["#!/bin/bash -l", "#PBS -l select=1:ncpus=4", "#PBS -j oe"],
    # 1.1.0: '\n#!/bin/bash -l\n#PBS -l select=2:ncpus=8:ngpus=2\n#PBS -j oe\n#PBS -q gpu\n'
    ("PBS", "gpu"): ["#!/bin/bash -l", "#PBS -l select=2:ncpus=8:ngpus=2", "#PBS -j oe", "#PBS -q gpu"],
    # 1.1.0: '\n#!/bin/bash -l\n#PBS -l nodes=1:ppn=4\n#PBS -j oe\n\n'
    ("Torque", "cpu"): ["#!/bin/bash -l", "#PBS -l nodes=1:ppn=4", "#PBS -j oe"],
    # 1.1.0: '\n#!/bin/bash -l\n#PBS -l nodes=2:ppn=8:gpus=2\n#PBS -j oe\n#PBS -q gpu\n'
    ("Torque", "gpu"): ["#!/bin/bash -l", "#PBS -l nodes=2:ppn=8:gpus=2", "#PBS -j oe", "#PBS -q gpu"],
}
CASES = {"cpu": {}, "gpu": {"number_node": 2, "cpu_per_node": 8, "gpu_per_node": 2, "queue_name": "gpu"}}


@pytest.mark.parametrize(("batch_type", "case"), sorted(PUBLISHED_HEADERS))
def test_header_lines_are_those_of_1_1_0(tmp_path, batch_type, case):
    lines = script_lines(tmp_path, batch_type, **CASES[case])
    published = PUBLISHED_HEADERS[batch_type, case]
    assert lines[: len(published)] == published
    _, _, jobs = make_jobs(tmp_path / "again", batch_type, n=1, **CASES[case])
    job = jobs[0]
    assert lines[len(published) : len(published) + 2] == [
        f"#PBS -N dpd_{job.job_hash[:11]}",
        f"#PBS -o {job.job_hash}.out",
    ]


def test_job_name_fits_every_pbs_flavour(tmp_path):
    name = next(line for line in script_lines(tmp_path) if line.startswith("#PBS -N ")).split()[-1]
    assert len(name) == 15 and name[0].isalpha()  # Torque < 6 and 1.1.0 cut names at 15; PBS wants a letter first


def test_custom_flags_come_after_the_header(tmp_path):
    # 1.1.0 writes custom_flags after the header too ('\n#PBS -l walltime=1:00:00' after '#PBS -j oe')
    lines = script_lines(tmp_path, custom_flags=["#PBS -l walltime=1:00:00", "#PBS -A proj"])
    last = max(i for i, line in enumerate(lines) if line.startswith("#PBS -o "))
    assert lines[last + 1 : last + 3] == ["#PBS -l walltime=1:00:00", "#PBS -A proj"]


def test_header_template_replaces_the_header(tmp_path):
    template = tmp_path / "header.tpl"
    template.write_text("#PBS -l select={number_node}:ncpus={cpu_per_node}:mem=4gb\n")
    lines = script_lines(tmp_path, strategy={"customized_script_header_template_file": str(template)})
    assert lines[:2] == ["#!/bin/bash -l", "#PBS -l select=1:ncpus=4:mem=4gb"]
    assert not any(line.startswith("#PBS -N") for line in lines)


@pytest.mark.parametrize("field", ["queue_name", "custom_flags"])
def test_no_config_value_adds_a_script_line(tmp_path, field):
    value = "normal\n#PBS -l select=100" if field == "queue_name" else ["#PBS -A a\nrm -rf ~"]
    with pytest.raises(ConfigError, match="line break"):
        script_lines(tmp_path, **{field: value})


@pytest.mark.parametrize("batch_type", ["PBS", "Torque"])
def test_kwargs_are_those_of_1_1_0(batch_type):
    """1.1.0 declares no kwargs for PBS and Torque ("This field is empty for this batch."): any are kept as given,
    and kwargs that are not a dict are an error naming resources/kwargs."""
    (kwargs,) = Machine.__new__(Machine, batch_type=batch_type).resources_subfields()
    assert kwargs.name == "kwargs" and not kwargs.sub_fields
    assert "empty" in kwargs.doc
    assert resources(batch_type, kwargs={"anything": 1}).kwargs == {"anything": 1}
    with pytest.raises(ConfigError, match="kwargs"):
        resources(batch_type, kwargs=3)


def test_registered_types():
    from dpdispatcher.plugins import get_registry

    assert get_registry().machine_class("pbs") is PBS
    assert get_registry().machine_class("TORQUE") is Torque
    assert issubclass(Torque, PBS)  # as in 1.1.0


# -- states -------------------------------------------------------------------------------------

ALL_PBS_LETTERS = "BEFHMQRSTUWX"  # PBS Reference Guide, job states
ALL_TORQUE_LETTERS = "CEHQRSTW"  # Torque qstat(1)


@pytest.mark.parametrize("letter", list(ALL_PBS_LETTERS))
def test_every_pbs_state_is_mapped(letter):
    assert letter in PBS_STATES


@pytest.mark.parametrize("letter", list(ALL_TORQUE_LETTERS))
def test_every_torque_state_is_mapped(letter):
    assert letter in TORQUE_STATES


@pytest.mark.parametrize(
    ("exit_status", "words"),
    [
        (0, ""),
        (1, "exited with status 1"),
        (-29, "timed out"),
        (-27, "ran out of memory"),
        (-26, "ran out of memory"),
        (-28, "CPU time"),
        (-24, "more CPUs"),
        (265, "killed (SIGKILL)"),
        (271, "killed (SIGTERM"),
        (-11, "rerun"),
        (-99, "JOB_EXEC code -99"),
        (None, "ended without running"),
    ],
)
def test_exit_statuses_are_described(exit_status, words):
    assert words in describe_exit(exit_status)
    if words == "":
        assert describe_exit(exit_status) == ""


def test_every_exec_code_has_words():
    assert set(EXEC_CODES) == set(range(-30, 0)) - {-8, -9}
    assert all(text.endswith(")") for text in EXEC_CODES.values())


# -- parsing --------------------------------------------------------------------------------------


def test_parse_qstat_json_documents_one_after_another():
    text = qstat_doc({"100.pbs01": {"job_state": "R"}, "101.pbs01": {"job_state": "F", "Exit_status": -29}})
    text += qstat_doc({})  # a chunk whose ids were all unknown: no "Jobs" key
    text += qstat_doc({"102[].pbs01": {"job_state": "B", "comment": "c"}})
    rows = parse_qstat_json(text)
    assert {seq: (r.state, r.exit_status) for seq, r in rows.items()} == {
        "100": ("R", None),
        "101": ("F", -29),
        "102[]": ("B", None),
    }
    assert rows["102[]"].comment == "c"


def test_invalid_json_of_old_pbs_is_still_read():
    # PBS Pro < 2021 printed Variable_List values unescaped: a quote in a variable broke the document
    text = (
        '{\n    "timestamp":1,\n    "pbs_version":"19.1.3",\n    "pbs_server":"pbs01",\n    "Jobs":{\n'
        '        "100.pbs01":{\n            "Job_Name":"dpd_x",\n            "job_state":"F",\n'
        '            "Variable_List":{\n                "X":"a "quoted" value"\n            },\n'
        '            "comment":"Job run at Mon and finished",\n            "Exit_status":3\n        },\n'
        '        "101.pbs01":{\n            "job_state":"R"\n        }\n    }\n}\n'
    )
    with pytest.raises(ValueError):
        json.loads(text)
    rows = parse_qstat_json(text)
    assert {seq: (r.state, r.exit_status) for seq, r in rows.items()} == {"100": ("F", 3), "101": ("R", None)}
    assert scan_qstat_json(text)["100"].comment == "Job run at Mon and finished"


def test_sequence_of_ids():
    assert sequence("1234.pbs01.example.org") == "1234"
    assert sequence("1234[].pbs01") == "1234[]"
    assert sequence("77") == "77"
    assert sequence("") == "" and sequence("abc") == ""


# `qstat -u root` of Debian's slurm-wlm-torque 22.05 wrapper over the project's Slurm (captured by
# test_wrapper_table_is_parsed in test_torque_cluster.py, which checks the format stays so)
WRAPPER_TABLE = """
vm:
                                                                               Req'd  Req'd   Elap 
Job id               Username Queue    Name                 SessID NDS   TSK   Memory Time Use S Time 
-------------------- -------- -------- -------------------- ------ ----- ----- ------ ----- - -----
12                   root     debug    dpd_0a1b2c3d4e5      --         1     2     -- 71582 R 00:00
13                   root     debug    dpd_ffeeddccbba      --         1     2     -- 71582 Q 00:00
14                   root     debug    sbatch               --         1     1     -- 71582 C 00:00
"""  # noqa: W291 - the wrapper pads its header lines

# `qstat -u user` of a real Torque 6 (qstat -a layout; ids cut at 20 characters)
TORQUE_TABLE = """
torque-server.example.org:
                                                                                  Req'd       Req'd       Elap
Job ID                  Username    Queue    Jobname          SessID  NDS   TSK   Memory      Time    S   Time
----------------------- ----------- -------- ---------------- ------ ----- ------ --------- --------- - ---------
4807.torque-server.e    user01      batch    dpd_0a1b2c3d4e5   12345     1      4       --   01:00:00 R  00:10:03
4808.torque-server.e    user01      batch    dpd_ffeeddccbba      --     1      4       --   01:00:00 H       --
4809.torque-server.e    user01      batch    dpd_aaaaaaaaaaa   12377     1      4       --   01:00:00 C  00:00:10
"""


def test_parse_torque_tables():
    assert {s: r.state for s, r in parse_torque_table(WRAPPER_TABLE).items()} == {"12": "R", "13": "Q", "14": "C"}
    assert {s: r.state for s, r in parse_torque_table(TORQUE_TABLE).items()} == {"4807": "R", "4808": "H", "4809": "C"}


def test_parse_torque_full():
    text = "Job Id: 4809.torque-server\n    Job_Name = dpd_x\n    job_state = C\n    exit_status = 271\n\n"
    text += "Job Id:\t15\n\tJob_Name = y\n\tjob_state = R\n"
    rows = parse_torque_full(text)
    assert (rows["4809"].state, rows["4809"].exit_status) == ("C", 271)
    assert (rows["15"].state, rows["15"].exit_status) == ("R", None)


def test_transient_messages():
    assert is_transient("qsub: would exceed queue workq's per-user limit of jobs in 'Q' state")
    assert is_transient("qsub: Maximum number of jobs already in queue workq")
    assert is_transient("Connection refused\nqstat: cannot connect to server pbs01 (errno=111)")
    assert is_transient(
        "qsub: submit error (Maximum number of jobs already in queue for user MSG=total number of current user's "
        "jobs exceeds the queue limit: user u@h, queue batch)"
    )
    assert is_transient("Cannot connect to default server host 'h' - check pbs_server daemon and/or trqauthd.")
    assert not is_transient("qsub: Unknown queue")
    assert not is_transient("qsub: illegal -N value")
    assert may_have_landed("qsub: End of File")
    assert not may_have_landed("qsub: would exceed queue workq's per-user limit of jobs in 'Q' state")


# -- status queries ---------------------------------------------------------------------------------


def test_one_qstat_for_all_jobs_and_states(tmp_path, caplog):
    machine, context, jobs = make_jobs(tmp_path, n=8)
    with_ids(jobs)
    context.answer(
        "qstat",
        153,
        stdout=qstat_doc(
            {
                "100.pbs01": {"job_state": "Q"},
                "101.pbs01": {"job_state": "R"},
                "102.pbs01": {"job_state": "E"},
                "103.pbs01": {"job_state": "F", "Exit_status": 0},
                "104.pbs01": {"job_state": "F", "Exit_status": -29},
                "105.pbs01": {"job_state": "Z"},
                "106.pbs01": {"job_state": "H"},
            }
        ),
        stderr="qstat: Unknown Job Id 107.pbs01\n",
    )
    context.files.add(jobs[3].finish_tag)
    with caplog.at_level(logging.WARNING):
        states = machine.check_statuses(jobs)
        machine.check_statuses(jobs)
    assert states == [
        JobStatus.waiting,
        JobStatus.running,
        JobStatus.completing,
        JobStatus.finished,  # F, Exit_status 0, tagged
        JobStatus.terminated,  # F, walltime
        JobStatus.unknown,  # a letter nobody knows: asked again
        JobStatus.waiting,
        JobStatus.terminated,  # forgotten by PBS, no tag
    ]
    assert sum("'Z'" in r.getMessage() for r in caplog.records) == 1  # logged once
    first = context.commands[0]
    assert first.startswith("qstat -f -F json -x 100.pbs01 101.pbs01") and "\n" not in first
    assert context.exist_queries == 2  # one per poll
    assert "timed out" in machine.describe_failure(jobs[4])
    assert "Exit_status -29" in machine.describe_failure(jobs[4])


def test_an_id_pbs_says_nothing_about_is_asked_again(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    context.answer("qstat", stdout=qstat_doc({"100.pbs01": {"job_state": "R"}}))
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.unknown]
    assert context.exist_queries == 0


def test_moved_job_waits_until_tagged(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    context.answer("qstat", stdout=qstat_doc({"100.pbs01": {"job_state": "M"}}))
    assert machine.check_statuses(jobs) == [JobStatus.waiting]
    context.files.add(jobs[0].finish_tag)
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_all_task_tags_count_as_finished(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=2)
    with_ids(jobs)
    context.answer("qstat", 153, stderr="qstat: Unknown Job Id 100.pbs01\n")
    context.files |= {task.finish_tag for task in jobs[0].job_task_list}
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_server_down_gives_unknown_and_never_raises(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    context.answer("qstat", 255, stderr="Connection refused\nqstat: cannot connect to server pbs01 (errno=111)\n")
    for _ in range(5):
        assert machine.check_statuses(jobs) == [JobStatus.unknown] * 2
    assert context.exist_queries == 0


def test_a_server_without_history_is_asked_without_x(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    no_history = "".join(f"qstat: PBS is not configured to maintain job history {j.job_id}\n" for j in jobs)
    context.answer("qstat -f -F json -x", stdout=qstat_doc({}), stderr=no_history)
    running = qstat_doc({"100.pbs01": {"job_state": "R"}})
    context.answer("qstat -f -F json 1", 153, stdout=running, stderr="qstat: Unknown Job Id 101.pbs01\n")
    context.files.add(jobs[1].finish_tag)
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.finished]
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.finished]
    assert [c.split(" 100.pbs01")[0] for c in context.commands] == [
        "qstat -f -F json -x",
        "qstat -f -F json",
        "qstat -f -F json",  # not asked with -x again
    ]


def test_persistent_non_transient_qstat_error_is_raised(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    context.answer("qstat", 127, stderr="bash: line 1: qstat: command not found\n")
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    with pytest.raises(SchedulerError, match=r"qstat failed 3 times in a row: .*command not found"):
        machine.check_statuses(jobs)


def test_100000_ids_stay_under_the_command_budget_in_one_command(tmp_path):
    machine, context, _ = make_jobs(tmp_path, n=1)
    ids = [f"{1_000_000 + i}.pbs01.cluster.example.org" for i in range(100_000)]
    context.answer("qstat", stdout=qstat_doc({ids[-1]: {"job_state": "R"}}))
    rows, gone = machine.query(ids)
    assert gone == set()
    assert len(context.commands) == 1
    lines = context.commands[0].splitlines()
    assert max(len(line.encode()) for line in lines) <= COMMAND_BUDGET
    named = [word for line in lines for word in shlex.split(line)[5:]]
    assert named == ids
    assert rows["1099999"].state == "R"
    fake_jobs = [SimpleNamespace(job_id=i) for i in ids]
    machine.kill_jobs(fake_jobs)  # type: ignore[arg-type]
    kills = context.commands[-1].splitlines()
    assert max(len(line.encode()) for line in kills) <= COMMAND_BUDGET
    assert [w for line in kills for w in shlex.split(line)[1:]] == ids


def test_kill_is_one_qdel_script(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    machine.kill_jobs(jobs)
    assert context.commands == ["qdel 100.pbs01 101.pbs01"]


def test_torque_polls_with_one_user_table(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "Torque", n=4)
    with_ids(jobs, first=12, server="")
    for job in jobs:
        job.job_id = job.job_id.rstrip(".")
    context.answer("qstat -u", stdout=WRAPPER_TABLE)
    context.answer("qstat -f", stdout="")
    context.files.add(jobs[2].finish_tag)
    assert machine.check_statuses(jobs) == [
        JobStatus.running,
        JobStatus.waiting,
        JobStatus.finished,  # C, tagged
        JobStatus.terminated,  # not listed, no tag
    ]
    assert context.commands == ['qstat -u "$(id -un)"']
    # gone from the table, unknown to qstat -f
    assert machine.describe_failure(jobs[3]) == "Torque job 15 left the scheduler's records without its finished tag"
    context.answer("qstat -f", stdout="Job Id: 14\n    job_state = C\n    exit_status = 271\n")
    assert "exit status 271" in machine.describe_failure(jobs[2])


# -- submission --------------------------------------------------------------------------------------


def test_jobs_are_submitted_in_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    context.answer("qsub", stdout="".join(f"dpd_job_id {i}.pbs01\n" for i in range(10, 14)))
    assert machine.submit_jobs(jobs) == [f"{i}.pbs01" for i in range(10, 14)]
    assert len(context.commands) == 1
    assert context.commands[0].count("$(qsub ") == 4
    for job in jobs:
        assert f"$(qsub {job.script_file_name})" in context.commands[0]


def test_torque_gives_output_options_on_the_command_line(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "Torque", n=1)
    context.answer("qsub", stdout="dpd_job_id 7\n")
    assert machine.submit_jobs(jobs) == ["7"]
    job = jobs[0]
    assert (
        f"$(qsub -N dpd_{job.job_hash[:11]} -o {job.job_hash}.out -j oe {job.script_file_name})" in context.commands[0]
    )


def test_limit_refusal_is_retried_for_the_rest_only(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    machine.retry_delay = 0.0
    calls = []

    def qsub(cmd):
        calls.append(cmd.count("$(qsub "))
        if len(calls) == 1:
            return CommandResult(
                1,
                "dpd_job_id 20.pbs01\ndpd_job_id 21.pbs01\n",
                "qsub: would exceed queue workq's per-user limit of jobs in 'Q' state",
            )
        return CommandResult(0, "dpd_job_id 22.pbs01\ndpd_job_id 23.pbs01\n", "")

    context.answer("qsub", call=qsub)
    assert machine.submit_jobs(jobs) == ["20.pbs01", "21.pbs01", "22.pbs01", "23.pbs01"]
    assert calls == [4, 2]
    assert not any(c.startswith("qselect") for c in context.commands)  # a limit is a plain "no"


def test_a_refusal_that_lasts_is_left_to_the_next_poll(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    machine.retry_delay, machine.submit_retries = 0.0, 2
    context.answer("qsub", 1, stderr="qsub: Maximum number of jobs already in queue workq")
    with pytest.raises(SchedulerBusyError, match="after 3 attempts"):
        machine.submit_jobs(jobs)
    assert sum("$(qsub " in c for c in context.commands) == 3


def test_non_transient_refusal_names_job_and_message(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    context.answer("qsub", 170, stderr="qsub: Unknown queue")
    with pytest.raises(SchedulerError, match=f"PBS refused job {jobs[0].job_hash}: qsub: Unknown queue") as err:
        machine.submit_jobs(jobs)
    assert not isinstance(err.value, SchedulerBusyError)
    assert len(context.commands) == 1


def named_records(remote: str, jobs: dict[str, str]) -> str:
    """What the lost-answer lookup prints: the physical job root, then ``{id: Output_Path}`` as qstat -f -F json."""
    records = {
        job_id: {"Job_Name": "x", "job_state": "F", "Output_Path": f"pbs01:{path}"} for job_id, path in jobs.items()
    }
    return remote + "\n" + qstat_doc(records)


def test_lost_answer_adopts_the_job_pbs_took(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    machine.retry_delay = 0.0
    (job,) = jobs
    remote = context.remote_root
    context.answer("qsub", 1, stderr="qsub: End of File")
    context.answer("pwd -P", stdout=named_records(remote, {"55.pbs01": f"{remote}/{job.job_hash}.out"}))
    assert machine.submit_jobs(jobs) == ["55.pbs01"]
    assert context.contents[job.job_id_file] == "55.pbs01\n"
    assert sum("$(qsub " in c for c in context.commands) == 1
    assert context.commands[-1] == (
        f'pwd -P && qselect -x -N dpd_{job.job_hash[:11]} -u "$(id -un)" | xargs -r qstat -f -F json -x'
    )


def test_lost_answer_ignores_older_runs_of_the_job(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    machine.retry_delay = 0.0
    (job,) = jobs
    remote = context.remote_root
    output = f"{remote}/{job.job_hash}.out"
    job.register_job_id("60.pbs01")  # a resubmission: 60 and 58 are earlier runs of the same job
    context.answer("qsub", call=lambda cmd: CommandResult(1, "", "qsub: End of File"))
    context.answer("pwd -P", stdout=named_records(remote, {"58.pbs01": output, "60.pbs01": output}))
    machine.submit_retries = 1
    with pytest.raises(SchedulerBusyError):
        machine.submit_jobs(jobs)
    context.answer("pwd -P", stdout=named_records(remote, {"58.pbs01": output, "60.pbs01": output, "61.pbs01": output}))
    assert machine.submit_jobs(jobs) == ["61.pbs01"]


def test_lost_answer_tells_jobs_of_one_task_name_apart_by_their_output(tmp_path):
    """Two one-task jobs named by the same task_name: the lookup finds the one that writes this job's output file
    in this job root (the physical path or the context's), whatever the other's id."""
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="PBS", context=context)
    machine.retry_delay = 0.0
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/", task_name="relax") for i in range(2)]
    submission = Submission("wb", machine=machine, resources=resources(), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    first, second = submission.belonging_jobs
    assert machine.gen_script_header(first).splitlines()[3] == "#PBS -N relax"
    remote = context.remote_root
    context.answer("qsub", 1, stderr="qsub: End of File")
    records = {
        "70.pbs01": f"/elsewhere/{second.job_hash}.out",  # the same job hash in another job root
        "71.pbs01": f"/physical/root/{second.job_hash}.out",  # this job, by the physical path
        "72.pbs01": f"{remote}/{first.job_hash}.out",  # the other job of that name, newer
    }
    context.answer("pwd -P", stdout=named_records("/physical/root", records))
    assert machine.submit_jobs([second]) == ["71.pbs01"]
    assert "qselect -x -N relax -u" in context.commands[-1]
    context.answer("pwd -P", stdout=named_records("/physical/root", {"72.pbs01": f"{remote}/{first.job_hash}.out"}))
    machine.submit_retries = 0
    with pytest.raises(SchedulerBusyError):  # only the other job of that name: none is adopted, qsub is retried
        machine.submit_jobs([second])


def test_one_task_jobs_are_named_by_their_task_name(tmp_path):
    for batch_type in ("PBS", "Torque", "PBSJobArray"):
        context = ScriptedContext(tmp_path / batch_type, SUBMIT)
        machine = Machine(batch_type=batch_type, context=context)
        task = Task(command="true", task_work_path="t/", task_name="3 relax Si; rm -rf ~")
        submission = Submission("wb", machine=machine, resources=resources(batch_type), task_list=[task])
        submission.generate_jobs()
        context.bind(submission.work_base, submission.submission_hash)
        (job,) = submission.belonging_jobs
        # what 1.1.0's Job.get_scheduler_name(15, require_alpha_prefix=True) gives (run with /work/pub110)
        assert "#PBS -N j-3-re-6cca99ab" in machine.gen_script(job).splitlines()
    grouped = script_lines(tmp_path / "grouped", n=2)  # more than one task: the hash-based name
    assert any(line.startswith("#PBS -N dpd_") for line in grouped)


def test_generated_files_name_the_output(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=1)
    assert f"{jobs[0].job_hash}.out" in machine.generated_files(jobs[0])


def torque_table(rows: list[tuple[str, str]]) -> str:
    """The physical job root, then ``qstat -u`` (``-a`` layout) listing ``(id, name)`` rows, all queued."""
    lines = ["/physical/root", "", "server:", "Job id  Username Queue Name SessID NDS TSK Memory Time S Time"]
    lines += [f"{job_id} me batch {name} -- 1 1 -- 01:00 Q --" for job_id, name in rows]
    return "\n".join(lines) + "\n"


def torque_named_jobs(tmp_path: Path, name: str = "relax"):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="Torque", context=context)
    machine.retry_delay = 0.0
    machine.submit_retries = 0
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/", task_name=name) for i in range(2)]
    submission = Submission("wb", machine=machine, resources=resources("Torque"), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    context.answer("qsub", 1, stderr="qsub: End of File")
    return machine, context, submission.belonging_jobs


def test_torque_lost_answer_is_told_apart_by_the_output_path_torque_shows(tmp_path):
    machine, context, (first, second) = torque_named_jobs(tmp_path)
    context.answer("pwd -P", stdout=torque_table([("40.srv", "relax"), ("41.srv", "relax"), ("42.srv", "other")]))
    cut = f"/physical/root/{second.job_hash}.out"  # Torque cuts long values: the rest on a tab-indented line
    full = (
        f"Job Id: 40.srv\n    Job_Name = relax\n    Output_Path = srv:{context.remote_root}/{first.job_hash}.out\n"
        f"Job Id: 41.srv\n    Job_Name = relax\n    Output_Path = srv:{cut[:25]}\n\t{cut[25:]}\n"
    )
    context.answer("qstat -f", stdout=full)
    assert machine.submit_jobs([second]) == ["41.srv"]  # the cut value is joined again
    assert context.commands[-1] == "qstat -f 40.srv 41.srv"  # the candidates of that name, in one call
    assert machine.submit_jobs([first]) == ["40.srv"]


def test_torque_lost_answer_without_output_paths(tmp_path):
    """Slurm's wrappers show no Output_Path: a task_name shared by two newer jobs adopts none; one alone is adopted."""
    machine, context, (first, _) = torque_named_jobs(tmp_path)
    context.answer("qstat -f", stdout="Job Id:\t40\n\tJob_Name = relax\n\tjob_state = Q\n")
    context.answer("pwd -P", stdout=torque_table([("40", "relax"), ("41", "relax")]))
    with pytest.raises(SchedulerBusyError):
        machine.submit_jobs([first])
    context.answer("pwd -P", stdout=torque_table([("40", "relax")]))
    assert machine.submit_jobs([first]) == ["40"]
    machine, context, jobs = make_jobs(tmp_path / "hash", "Torque", n=1)  # the hash-based name is the job's own
    machine.retry_delay = 0.0
    name = f"dpd_{jobs[0].job_hash[:11]}"
    context.answer("qsub", 1, stderr="qsub: End of File")
    context.answer("pwd -P", stdout=torque_table([("50", name), ("52", name)]))
    assert machine.submit_jobs(jobs) == ["52"]


def test_pbs_job_array_header_and_subjob_ranges(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "PBSJobArray", n=5, group_size=0, kwargs={"pbs_job_size": 2})
    (job,) = jobs
    lines = machine.gen_script(job).splitlines()
    assert lines[:6] == [
        "#!/bin/bash -l",
        "#PBS -l select=1:ncpus=4",
        "#PBS -j oe",
        f"#PBS -N dpd_{job.job_hash[:11]}",
        f"#PBS -o {job.job_hash}_^array_index^.out",
        "#PBS -J 0-2",
    ]
    assert 'case "${PBS_ARRAY_INDEX:-}" in' in lines
    assert machine.output_files(job) == [f"{job.job_hash}_{i}.out" for i in range(3)]
    assert subjob_range([0, 1, 2]) == "0-2"
    assert subjob_range([2, 5, 8]) == "2-8:3"  # exactly those
    assert subjob_range([1, 2, 5]) == "1-5"  # a cover: 3 and 4 find their tags and exit at once
    assert subjob_range([4]) == "4-5:2"  # PBS refuses a single index: a range holding 4 alone
    context.answer("qsub", stdout="dpd_job_id 600[].pbs01\n")
    context.files.update(t.finish_tag for t in job.job_task_list[:2])  # subjob 0 finished
    assert machine.submit_jobs(jobs) == ["600[].pbs01"]
    assert f"$(qsub -J 1-2 {job.script_file_name})" in context.commands[-1]
    context.files.update(t.finish_tag for t in job.job_task_list)
    machine.submit_jobs(jobs)
    assert f"$(qsub -J 0-1:2 {job.script_file_name})" in context.commands[-1]  # only leaves the job tag


def test_pbs_job_array_status_from_the_array_and_failure_from_its_subjobs(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "PBSJobArray", n=2, group_size=0)
    (job,) = jobs
    job.register_job_id("600[].pbs01")
    context.answer(
        "qstat",
        stdout=qstat_doc(
            {
                "600[].pbs01": {"job_state": "F", "Exit_status": 1, "array": "True"},
                "600[0].pbs01": {"job_state": "X", "Exit_status": 0},
                "600[1].pbs01": {"job_state": "X", "Exit_status": 1},
            }
        ),
    )
    assert machine.check_statuses(jobs) == [JobStatus.terminated]
    assert context.commands[0] == "qstat -f -F json -x -t '600[].pbs01'"
    assert machine.describe_failure(job) == "PBS job 600[1].pbs01 exited with status 1 (a task failed) (Exit_status 1)"
    context.answer("qstat", stdout=qstat_doc({"600[].pbs01": {"job_state": "B"}}))
    assert machine.check_statuses(jobs) == [JobStatus.running]
