"""Fugaku plugin without a scheduler: headers, kwargs, state mapping, pjstat parsing, batching (a recording context)."""

from __future__ import annotations

import logging
import shlex
import subprocess
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
from dpdispatcher_fugaku import (
    FUGAKU_STATES,
    PJM_CODES,
    Fugaku,
    HistoryRecord,
    describe,
    is_transient,
    parse_history,
    parse_pjstat,
)
from dpdispatcher_fugaku.commands import pjsub

pytestmark = pytest.mark.fugaku


#: the core's submit script runs pjsub inside it: a rule for 'pjsub' answers it too
SUBMIT = ("pjsub", "$(pjsub ")


BASE = {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 0, "queue_name": "", "group_size": 1}


def resources(**extra: Any) -> Resources:
    return Resources.load_from_dict({**BASE, "batch_type": "Fugaku", **extra})


def make_jobs(tmp_path: Path, n: int = 3, **res: Any):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="Fugaku", context=context)
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/") for i in range(n)]
    submission = Submission("wb", machine=machine, resources=resources(**res), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    for job in submission.belonging_jobs:
        job.machine = machine
    return machine, context, submission.belonging_jobs


def script_lines(tmp_path: Path, **res: Any) -> list[str]:
    machine, _, jobs = make_jobs(tmp_path, n=1, **res)
    return machine.gen_script(jobs[0]).splitlines()


def with_ids(jobs, first: int = 100):
    for i, job in enumerate(jobs):
        job.register_job_id(str(first + i))
    return jobs


HEADER = "JOB_ID     JOB_NAME   MD ST  USER     START_DATE      ELAPSE_LIM NODE_REQUIRE    VNODE  CORE V_MEM"


def table(*rows: tuple[str, str]) -> str:
    """A ``pjstat`` table with one row per (job id, ST)."""
    lines = [HEADER]
    lines += [
        f"{job_id:<10} job.sh     NM {st:<3} user1    11/17 09:01:41  0001:00:00 1               -      -    -"
        for job_id, st in rows
    ]
    return "\n".join(lines) + "\n"


def detail(
    job_id: str, state: str, pjm_code: str = "0", exit_code: str = "0", signal: str = "-", reason: str = "-"
) -> str:
    items = [
        ("JOB ID", job_id),
        ("JOB NAME", "job.sh"),
        ("STATE", state),
        ("LAST STATE", "RUN"),
        ("PJM CODE", pjm_code),
        ("EXIT CODE", exit_code),
        ("SIGNAL NO", signal),
        ("REASON", reason),
    ]
    return "".join(f" {k:<43} : {v}\n" for k, v in items)


# -- headers (pinned to dpdispatcher 1.1.0) ---------------------------------------------------
#
# Expected text generated with the published package (/work/pub110/bin/python, dpdispatcher
# 1.1.0: Fugaku.gen_script_header) for the same resources. 1.1.0 writes no shebang (its
# template starts with the queue line, blank when no queue is named); this plugin starts with
# the shebang and leaves out the blank line. The node line keeps 1.1.0's trailing space.

PUBLISHED_HEADERS = {
    # 1.1.0: '\n#PJM -L "node=1" \n#PJM --mpi "max-proc-per-node=4"\n'
    "cpu": ["#!/bin/bash -l", '#PJM -L "node=1" ', '#PJM --mpi "max-proc-per-node=4"'],
    # 1.1.0: '#PJM -L "rscgrp=gpu"\n#PJM -L "node=2" \n#PJM --mpi "max-proc-per-node=8"\n'
    "gpu": ["#!/bin/bash -l", '#PJM -L "rscgrp=gpu"', '#PJM -L "node=2" ', '#PJM --mpi "max-proc-per-node=8"'],
}
CASES = {"cpu": {}, "gpu": {"number_node": 2, "cpu_per_node": 8, "gpu_per_node": 2, "queue_name": "gpu"}}


@pytest.mark.parametrize("case", sorted(PUBLISHED_HEADERS))
def test_header_lines_are_those_of_1_1_0(tmp_path, case):
    lines = script_lines(tmp_path, **CASES[case])
    published = PUBLISHED_HEADERS[case]
    assert lines[: len(published)] == published
    assert not lines[len(published)].startswith("#PJM")  # nothing of the plugin's own


def test_custom_flags_come_after_the_header(tmp_path):
    lines = script_lines(tmp_path, custom_flags=['#PJM -L "elapse=1:00:00"', "#PJM -g hp000000"])
    last = max(i for i, line in enumerate(lines) if line.startswith("#PJM --mpi"))
    assert lines[last + 1 : last + 3] == ['#PJM -L "elapse=1:00:00"', "#PJM -g hp000000"]


def test_header_template_replaces_the_header(tmp_path):
    template = tmp_path / "header.tpl"
    template.write_text('#PJM -L "node={number_node}"\n#PJM -L "elapse=0:30:00"\n')
    lines = script_lines(tmp_path, strategy={"customized_script_header_template_file": str(template)})
    assert lines[:3] == ["#!/bin/bash -l", '#PJM -L "node=1"', '#PJM -L "elapse=0:30:00"']
    assert not any("max-proc-per-node" in line for line in lines)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("queue_name", "small\n#PJM -L node=1000", "line break"),
        ("custom_flags", ["#PJM -g a\nrm -rf ~"], "line break"),
        ("queue_name", 'small" -L "node=1000', "double quote"),
    ],
)
def test_no_config_value_adds_a_script_line_or_option(tmp_path, field, value, error):
    with pytest.raises(ConfigError, match=error):
        script_lines(tmp_path, **{field: value})


def test_kwargs_are_those_of_1_1_0():
    """1.1.0 declares no kwargs for Fugaku ("This field is empty for this batch."): any are kept as given,
    and kwargs that are not a dict are an error naming resources/kwargs."""
    (kwargs,) = Fugaku.resources_subfields()
    assert kwargs.name == "kwargs" and not kwargs.sub_fields
    assert "empty" in kwargs.doc
    assert resources(kwargs={"anything": 1}).kwargs == {"anything": 1}
    with pytest.raises(ConfigError, match="kwargs"):
        resources(kwargs=3)


def test_registered_type():
    from dpdispatcher.plugins import get_registry

    assert get_registry().machine_class("fugaku") is Fugaku
    assert get_registry().machine_class("FUGAKU") is Fugaku


def test_generated_files_name_pjsubs_output(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=1)
    assert not any(name.endswith(".out") for name in machine.generated_files(jobs[0]))  # no id yet
    with_ids(jobs, first=4242)
    files = machine.generated_files(jobs[0])
    assert f"{jobs[0].job_hash}.sub.4242.out" in files
    assert f"{jobs[0].job_hash}.sub.4242.err" in files


# -- states ------------------------------------------------------------------------------------

#: every ST word of the Job Operation Software End-user's Guide
ALL_WORDS = ["ACC", "RJT", "QUE", "RNA", "RNP", "RUN", "RNE", "RNO", "SPP", "SPD", "RSM", "EXT", "CCL", "HLD", "ERR"]


@pytest.mark.parametrize("word", ALL_WORDS)
def test_every_state_is_mapped(word):
    assert word in FUGAKU_STATES


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (HistoryRecord("7", "EXT", 11, None, 9, "ELAPSE LIMIT EXCEEDED"), "exceeded its elapse time limit"),
        (HistoryRecord("7", "CCL", 1, None, 15), "was cancelled with pjdel"),
        (HistoryRecord("7", "EXT", 0, 3, None, "COMPLETED"), "exited with code 3 (a task failed)"),
        (HistoryRecord("7", "EXT", 0, None, 11), "was killed by signal 11"),
        (HistoryRecord("7", "EXT", 23), "was killed by the OOM killer"),
        (HistoryRecord("7", "EXT", 99), "was ended by the job manager"),
        (HistoryRecord("7", "EXT", 0, 0, None, "COMPLETED"), "ended without its finished tag"),
        (None, "left pjstat's listing without its finished tag"),
    ],
)
def test_ended_jobs_are_described(record, words):
    assert words in describe("7", record)
    assert describe("7", record).startswith("Fugaku job 7 ")


def test_describe_shows_the_record():
    text = describe("7", HistoryRecord("7", "EXT", 11, None, 9, "ELAPSE LIMIT EXCEEDED"))
    assert "(ST EXT, PJM CODE 11, REASON ELAPSE LIMIT EXCEEDED)" in text


def test_pjm_codes_come_from_the_users_guide():
    assert {1, 11, 12, 13, 20, 23} <= set(PJM_CODES)


def test_transient_messages():
    assert is_transient("[ERR.] PJM 0057 pjsub job exceeds the number of jobs per user")
    assert is_transient("[ERR.] PJM 0003 pjstat Cannot connect to the job manager (pjmd): Connection refused.")
    assert not is_transient("[ERR.] PJM 0057 pjsub node=32 is greater than the upper limit (24).")
    assert not is_transient("[ERR.] PJM 0007 pjsub Staging option error (3).")


# -- parsing -----------------------------------------------------------------------------------

# `pjstat` as the Fugaku User's Guide shows it (5.12.1.1), a bulk sub-job row (5.12.1.2) included
GUIDE_TABLE = """
JOB_ID  JOB_NAME  MD  ST   USER   START_DATE      ELAPSE_LIM  NODE_REQUIRE  VNODE  CORE  V_MEM
238     job.sh    NM  RUN  user1  11/17 09:01:41  0001:00:00  12:2x3x2      -      -     -
239[1]  bulk.sh   BU  RUN  user1  11/17 09:01:42  0001:00:00  12:2x3x2      -      -     -
240     step.sh   ST  QUE  user1  (11/17 10:00)   -           -             -      -     -
241     job2.sh   NM  RNO  user1  11/17 09:01:42  0001:00:00  2             -      -     -
"""

# the K computer's pjstat printed summary tables first; their rows of counts are no jobs
K_TABLE = """
  ACCEPT QUEUED  STGIN  READY RUNING RUNOUT STGOUT   HOLD  ERROR   TOTAL
       0      1      0      0      1      0      0      0      0       2
s      0      1      0      0      1      0      0      0      0       2

JOB_ID     JOB_NAME   MD ST  USER     START_DATE      ELAPSE_LIM NODE_REQUIRE
2275991    job.sh     NM RUN user01   01/27 17:16:01  0000:10:00 1
2275992    job.sh     NM QUE user01   -               0000:10:00 1
"""


def test_parse_the_guides_table():
    assert parse_pjstat(GUIDE_TABLE) == {"238": "RUN", "239[1]": "RUN", "240": "QUE", "241": "RNO"}


def test_parse_skips_summary_tables_headers_and_noise():
    assert parse_pjstat(K_TABLE) == {"2275991": "RUN", "2275992": "QUE"}
    assert parse_pjstat(HEADER + "\n") == {}
    assert parse_pjstat("") == {}
    assert parse_pjstat("12 x\n13 a b\nnot a row at all\n14 a b c d\n") == {}


def test_parse_history_blocks():
    text = (
        detail("100", "EXT", "0", "3")
        + "\n"
        + detail("101", "CCL", "1", "-", "15")
        + detail("102", "EXT", "11", "-", "9", "ELAPSE LIMIT EXCEEDED")
    )
    records = parse_history(text)
    assert records["100"] == HistoryRecord("100", "EXT", 0, 3, None, "")
    assert records["101"] == HistoryRecord("101", "CCL", 1, None, 15, "")
    assert records["102"].reason == "ELAPSE LIMIT EXCEEDED"
    assert parse_history("") == {}


# -- the submit statement, run by bash ----------------------------------------------------------


def _run_statement(tmp_path: Path, fake_pjsub: str) -> subprocess.CompletedProcess:
    script = f'pjsub() {{ {fake_pjsub}; }}\ndpd_id=old\n{pjsub("job one.sub")} || exit 9\nprintf "id=%s\\n" "$dpd_id"\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, cwd=tmp_path)


def test_submit_statement_takes_the_id_from_pjsubs_message(tmp_path):
    done = _run_statement(tmp_path, 'echo "[INFO] PJM 0000 pjsub Job 4242 submitted."')
    assert (done.returncode, done.stdout) == (0, "id=4242\n")


def test_submit_statement_refuses_an_error_printed_with_exit_code_0(tmp_path):
    # what the K computer's pjsub printed for a staging error (exit code 0, on stdout)
    done = _run_statement(tmp_path, 'echo "[ERR.] PJM 0007 pjsub Staging option error (3)."; return 0')
    assert done.returncode == 9
    assert "[ERR.] PJM 0007 pjsub Staging option error (3)." in done.stderr


def test_submit_statement_passes_pjsubs_failure_on(tmp_path):
    done = _run_statement(
        tmp_path, 'echo "[ERR.] PJM 0057 pjsub job exceeds the number of jobs per user" >&2; return 1'
    )
    assert done.returncode == 9
    assert "PJM 0057" in done.stderr
    assert "old" not in done.stderr  # the previous id is not reported as pjsub's answer


# -- status queries ---------------------------------------------------------------------------------


def test_one_pjstat_for_all_jobs_and_states(tmp_path, caplog):
    machine, context, jobs = make_jobs(tmp_path, n=9)
    with_ids(jobs)
    context.answer(
        "pjstat",
        stdout=table(
            ("100", "QUE"),
            ("101", "RUN"),
            ("102", "RNO"),
            ("103", "HLD"),
            ("104", "EXT"),
            ("105", "CCL"),
            ("106", "XYZ"),
        ),
    )
    history = detail("105", "CCL", "1", "-", "15") + detail("107", "EXT", "11", "-", "9", "ELAPSE LIMIT EXCEEDED")
    context.answer("pjstat -H -S", stdout=history)
    context.files |= {jobs[4].finish_tag, jobs[8].finish_tag}
    with caplog.at_level(logging.WARNING):
        states = machine.check_statuses(jobs)
        again = machine.check_statuses(jobs)
    assert (
        states
        == again
        == [
            JobStatus.waiting,
            JobStatus.running,
            JobStatus.completing,
            JobStatus.waiting,  # held
            JobStatus.finished,  # EXT, tagged
            JobStatus.terminated,  # CCL, untagged
            JobStatus.unknown,  # a word nobody knows: asked again
            JobStatus.terminated,  # left the table, untagged
            JobStatus.finished,  # left the table, tagged
        ]
    )
    assert sum("'XYZ'" in r.getMessage() for r in caplog.records) == 1  # logged once
    assert context.commands == ["pjstat", "pjstat -H -S 105 107", "pjstat"]  # the history once, for the untagged
    assert context.exist_queries == 2  # one per poll
    assert "was cancelled with pjdel" in machine.describe_failure(jobs[5])
    assert "exceeded its elapse time limit" in machine.describe_failure(jobs[7])


def test_running_jobs_cost_one_command_and_no_file_query(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=3)
    with_ids(jobs)
    context.answer("pjstat", stdout=table(("100", "RUN"), ("101", "QUE"), ("102", "ACC")))
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.waiting, JobStatus.waiting]
    assert context.commands == ["pjstat"] and context.exist_queries == 0


def test_all_task_tags_count_as_finished(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=2)
    with_ids(jobs)
    context.answer("pjstat", stdout=table())
    context.files |= {task.finish_tag for task in jobs[0].job_task_list}
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_job_manager_down_gives_unknown_and_never_raises(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    context.answer(
        "pjstat", 1, stderr="[ERR.] PJM 0003 pjstat Cannot connect to the job manager (pjmd): Connection refused.\n"
    )
    for _ in range(5):
        assert machine.check_statuses(jobs) == [JobStatus.unknown] * 2
    assert context.exist_queries == 0


def test_persistent_non_transient_pjstat_error_is_raised(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    context.answer("pjstat", 127, stderr="bash: line 1: pjstat: command not found\n")
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    with pytest.raises(SchedulerError, match=r"pjstat failed 3 times in a row: .*command not found"):
        machine.check_statuses(jobs)


def test_a_warning_beside_a_table_is_not_a_failure(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    context.answer("pjstat", stdout=table(("100", "RUN")), stderr="[WARN] PJM 9999 pjstat a warning.\n")
    assert machine.check_statuses(jobs) == [JobStatus.running]


def test_100000_ids_stay_under_the_command_budget(tmp_path):
    machine, context, _ = make_jobs(tmp_path, n=1)
    ids = [str(10_000_000 + i) for i in range(100_000)]
    fake_jobs = [
        SimpleNamespace(
            job_id=i, job_hash=f"h{i}", finish_tag=f"h{i}_tag", job_task_list=[SimpleNamespace(finish_tag=f"t{i}")]
        )
        for i in ids
    ]
    context.answer("pjstat", stdout=table())
    states = machine.check_statuses(fake_jobs)  # type: ignore[arg-type]
    assert states == [JobStatus.terminated] * len(ids)
    status, history = context.commands
    assert status == "pjstat"  # the listing: one short command whatever the number of jobs
    lines = history.splitlines()
    assert max(len(line.encode()) for line in lines) <= COMMAND_BUDGET
    assert [w for line in lines for w in shlex.split(line)[3:]] == ids
    machine.kill_jobs(fake_jobs)  # type: ignore[arg-type]
    kills = context.commands[-1].splitlines()
    assert max(len(line.encode()) for line in kills) <= COMMAND_BUDGET
    assert [w for line in kills for w in shlex.split(line)[1:]] == ids


def test_kill_is_one_pjdel_script(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    machine.kill_jobs(jobs)
    assert context.commands == ["pjdel 100 101"]


# -- submission --------------------------------------------------------------------------------------


def test_jobs_are_submitted_in_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    context.answer("pjsub", stdout="".join(f"dpd_job_id {i}\n" for i in range(10, 14)))
    assert machine.submit_jobs(jobs) == [str(i) for i in range(10, 14)]
    assert len(context.commands) == 1
    for job in jobs:
        assert f"$(pjsub {job.script_file_name})" in context.commands[0]


def test_limit_refusal_is_retried_for_the_rest_only(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    machine.retry_delay = 0.0
    calls = []

    def answer(cmd):
        calls.append(cmd.count("$(pjsub "))
        if len(calls) == 1:
            return CommandResult(
                1, "dpd_job_id 20\ndpd_job_id 21\n", "[ERR.] PJM 0057 pjsub job exceeds the number of jobs per user"
            )
        return CommandResult(0, "dpd_job_id 22\ndpd_job_id 23\n", "")

    context.answer("pjsub", call=answer)
    assert machine.submit_jobs(jobs) == ["20", "21", "22", "23"]
    assert calls == [4, 2]


def test_a_refusal_that_lasts_is_left_to_the_next_poll(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    machine.retry_delay, machine.submit_retries = 0.0, 2
    context.answer(
        "pjsub", 1, stderr="[ERR.] PJM 0003 pjsub Cannot connect to the job manager (pjmd): Connection refused."
    )
    with pytest.raises(SchedulerBusyError, match="after 3 attempts"):
        machine.submit_jobs(jobs)
    assert sum("$(pjsub " in c for c in context.commands) == 3


def test_non_transient_refusal_names_job_and_message(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    context.answer("pjsub", 1, stderr="[ERR.] PJM 0057 pjsub node=32 is greater than the upper limit (24).")
    with pytest.raises(SchedulerError, match=f"Fugaku refused job {jobs[0].job_hash}: .*upper limit") as err:
        machine.submit_jobs(jobs)
    assert not isinstance(err.value, SchedulerBusyError)
    assert len(context.commands) == 1
