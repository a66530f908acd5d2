"""JH_UniScheduler plugin without a scheduler: headers, kwargs, state mapping, jjobs parsing, batching (a recording context)."""

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
from dpdispatcher_jh_unischeduler import (
    JH_STATES,
    JH_UniScheduler,
    JobRecord,
    describe,
    is_transient,
    not_found,
    parse_jjobs,
    parse_long,
)
from dpdispatcher_jh_unischeduler.commands import jsub

pytestmark = pytest.mark.jh_unischeduler


#: the core's submit script runs jsub inside it: a rule for 'jsub' answers it too
SUBMIT = ("jsub", "| jsub)")


BASE = {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 0, "queue_name": "", "group_size": 1}


def resources(**extra: Any) -> Resources:
    return Resources.load_from_dict({**BASE, "batch_type": "JH_UniScheduler", **extra})


def make_jobs(tmp_path: Path, n: int = 3, **res: Any):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="JH_UniScheduler", context=context)
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


HEADER = "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"


def table(*rows: tuple[str, str]) -> str:
    """A ``jjobs`` table with one row per (job id, STAT)."""
    lines = [HEADER]
    for job_id, stat in rows:
        host = "" if stat == "PEND" else "node01"
        lines.append(f"{job_id:<7} user1   {stat:<5} normal     login01     {host:<11} *_b7c5d1e0 Mar  7 00:58")
    return "\n".join(lines) + "\n"


# -- headers (pinned to dpdispatcher 1.1.0) ---------------------------------------------------
#
# Expected text generated with the published package (/work/pub110/bin/python, dpdispatcher
# 1.1.0: JH_UniScheduler.gen_script_header) for the same resources. 1.1.0 leaves blank lines
# where a line is not needed (no queue, no GPU); this plugin leaves them out.

PUBLISHED_HEADERS = {
    # 1.1.0: "#!/bin/bash -l\n#JSUB -e %J.err\n#JSUB -o %J.out\n#JSUB -n 4\n#JSUB -R 'span[ptile=4]'\n\n"
    "cpu": ["#!/bin/bash -l", "#JSUB -e %J.err", "#JSUB -o %J.out", "#JSUB -n 4", "#JSUB -R 'span[ptile=4]'"],
    # 1.1.0: "#!/bin/bash -l\n#JSUB -e %J.err\n#JSUB -o %J.out\n#JSUB -n 16\n#JSUB -R 'span[ptile=8]'\n
    #         #JSUB -q gpu\n#JSUB -gpgpu 2"
    "gpu": [
        "#!/bin/bash -l",
        "#JSUB -e %J.err",
        "#JSUB -o %J.out",
        "#JSUB -n 16",
        "#JSUB -R 'span[ptile=8]'",
        "#JSUB -q gpu",
        "#JSUB -gpgpu 2",
    ],
    # 1.1.0 with kwargs.custom_gpu_line "#JSUB -gpgpu 1 -R 'gpu'": the same, its last line replaced
    "custom_gpu": [
        "#!/bin/bash -l",
        "#JSUB -e %J.err",
        "#JSUB -o %J.out",
        "#JSUB -n 16",
        "#JSUB -R 'span[ptile=8]'",
        "#JSUB -q gpu",
        "#JSUB -gpgpu 1 -R 'gpu'",
    ],
}
GPU = {"number_node": 2, "cpu_per_node": 8, "gpu_per_node": 2, "queue_name": "gpu"}
CASES: dict[str, dict[str, Any]] = {
    "cpu": {},
    "gpu": GPU,
    "custom_gpu": {**GPU, "kwargs": {"custom_gpu_line": "#JSUB -gpgpu 1 -R 'gpu'"}},
}


@pytest.mark.parametrize("case", sorted(PUBLISHED_HEADERS))
def test_header_lines_are_those_of_1_1_0(tmp_path, case):
    lines = script_lines(tmp_path, **CASES[case])
    published = PUBLISHED_HEADERS[case]
    assert lines[: len(published)] == published
    assert not lines[len(published)].startswith("#JSUB")  # nothing of the plugin's own


def test_custom_flags_come_after_the_header(tmp_path):
    lines = script_lines(tmp_path, custom_flags=["#JSUB -m host1", "#JSUB -P proj"])
    last = max(i for i, line in enumerate(lines) if line.startswith("#JSUB -R "))
    assert lines[last + 1 : last + 3] == ["#JSUB -m host1", "#JSUB -P proj"]


def test_header_template_replaces_the_header(tmp_path):
    template = tmp_path / "header.tpl"
    template.write_text("#JSUB -n {cpu_per_node}\n#JSUB -q short\n")
    lines = script_lines(tmp_path, strategy={"customized_script_header_template_file": str(template)})
    assert lines[:3] == ["#!/bin/bash -l", "#JSUB -n 4", "#JSUB -q short"]
    assert "#JSUB -o %J.out" not in lines


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queue_name", "normal\n#JSUB -x"),
        ("custom_flags", ["#JSUB -P a\nrm -rf ~"]),
        ("kwargs", {"custom_gpu_line": "#JSUB -gpgpu 1\nrm -rf ~"}),
    ],
)
def test_no_config_value_adds_a_script_line(tmp_path, field, value):
    with pytest.raises(ConfigError, match="line break"):
        script_lines(tmp_path, **{field: value})


def test_kwargs_are_those_of_1_1_0(monkeypatch):
    """1.1.0 declares kwargs.custom_gpu_line for JH_UniScheduler: wrong types are errors naming their path, other
    keys too in strict mode (else a warning, and dropped). (1.1.0 also required kwargs to be given; leaving it
    out is accepted here.)"""
    (kwargs,) = JH_UniScheduler.resources_subfields()
    assert [arg.name for arg in kwargs.sub_fields.values()] == ["custom_gpu_line"]
    assert resources(kwargs={"custom_gpu_line": "#JSUB -gpgpu 1"}).kwargs == {"custom_gpu_line": "#JSUB -gpgpu 1"}
    assert resources().kwargs.get("custom_gpu_line") is None
    assert "bogus" not in resources(kwargs={"bogus": 1}).kwargs
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")
    with pytest.raises(ConfigError, match="resources/kwargs/bogus"):
        resources(kwargs={"bogus": 1})
    with pytest.raises(ConfigError, match="resources/kwargs/custom_gpu_line"):
        resources(kwargs={"custom_gpu_line": 3})


def test_registered_type():
    from dpdispatcher.plugins import get_registry

    assert get_registry().machine_class("jh_unischeduler") is JH_UniScheduler
    assert get_registry().machine_class("JH_UNISCHEDULER") is JH_UniScheduler


def test_generated_files_name_the_output_files(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=1)
    assert not any(name.endswith(".out") for name in machine.generated_files(jobs[0]))  # no id yet
    with_ids(jobs, first=4242)
    assert {"4242.out", "4242.err"} <= set(machine.generated_files(jobs[0]))


# -- what jsub reads ---------------------------------------------------------------------------------


def test_launcher_is_the_header_and_a_line_running_the_script(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=1, custom_flags=["#JSUB -P proj", "module load x"])
    (job,) = jobs
    lines = machine.launcher(job)
    script = shlex.quote(f"{machine.context.remote_root}/{job.script_file_name}")
    assert lines[:6] == PUBLISHED_HEADERS["cpu"] + ["#JSUB -P proj"]
    assert lines[6:] == [f"exec /bin/bash -l {script}"]  # the custom flag that is a command runs in the script only


def test_launcher_runs_the_script_with_a_templates_shebang(tmp_path):
    template = tmp_path / "header.tpl"
    template.write_text("#!/bin/sh\n#JSUB -n {cpu_per_node}\n")
    machine, _, jobs = make_jobs(tmp_path, n=1, strategy={"customized_script_header_template_file": str(template)})
    assert machine.launcher(jobs[0])[:2] == ["#!/bin/sh", "#JSUB -n 4"]
    assert machine.launcher(jobs[0])[-1].startswith("exec /bin/sh ")


def test_launcher_stays_small_however_many_tasks(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=500, group_size=0)
    assert len(machine.gen_script(jobs[0]).encode()) > 4096 * 10
    assert sum(len(line) + 1 for line in machine.launcher(jobs[0])) < 1024


def test_launcher_over_jsubs_limit_is_a_config_error(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=1, custom_flags=[f"#JSUB -Jd {'x' * 100}"] * 50)
    with pytest.raises(ConfigError, match="jsub reads at most 4096"):
        machine.launcher(jobs[0])


def _run_statement(tmp_path: Path, fake_jsub: str) -> subprocess.CompletedProcess:
    statement = jsub(["#!/bin/bash -l", "#JSUB -n 4", "exec /bin/bash -l '/r/a b.sub'"])
    script = f'jsub() {{ {fake_jsub}; }}\ndpd_id=old\n{statement} || exit 9\nprintf "id=%s\\n" "$dpd_id"\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, cwd=tmp_path)


def test_submit_statement_feeds_the_launcher_and_takes_the_id(tmp_path):
    done = _run_statement(tmp_path, 'cat > got.txt; echo "Job <4242> is submitted to queue <normal>."')
    assert (done.returncode, done.stdout) == (0, "id=4242\n")
    assert (tmp_path / "got.txt").read_text() == "#!/bin/bash -l\n#JSUB -n 4\nexec /bin/bash -l '/r/a b.sub'\n"


def test_submit_statement_passes_jsubs_failure_on(tmp_path):
    done = _run_statement(tmp_path, 'cat >/dev/null; echo "normal: No such queue. Job not submitted." >&2; return 255')
    assert done.returncode == 9
    assert "No such queue" in done.stderr and "old" not in done.stderr


def test_submit_statement_refuses_an_answer_without_an_id(tmp_path):
    done = _run_statement(tmp_path, 'cat >/dev/null; echo "Request accepted, job id unknown."')
    assert done.returncode == 9
    assert "Request accepted, job id unknown." in done.stderr


# -- states --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["PEND", "PSUSP", "RUN", "USUSP", "SSUSP", "DONE", "EXIT"])
def test_every_documented_state_is_mapped(word):
    assert word in JH_STATES


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (JobRecord("7", "EXIT", 3), "exited with code 3 (a task failed) (Status EXIT)"),
        (JobRecord("7", "EXIT", None, 15, "TERM_OWNER"), "was killed with jctrl kill and was killed by signal 15"),
        (JobRecord("7", "EXIT", 140, None, "TERM_RUNLIMIT"), "exceeded its run time limit and exited with code 140"),
        (
            JobRecord("7", "EXIT", None, None, "TERM_NEWTHING"),
            "was ended by the scheduler (Status EXIT, TERM_NEWTHING)",
        ),
        (JobRecord("7", "DONE"), "ended without its finished tag (Status DONE)"),
        (None, "left the scheduler's records without its finished tag"),
    ],
)
def test_ended_jobs_are_described(record, words):
    text = describe("7", record)
    assert text.startswith("JH_UniScheduler job 7 ")
    assert words in text


def test_transient_messages():
    assert is_transient("User <u>: Pending job threshold reached. Job not submitted.")
    assert is_transient(
        "jjobs: Failed to connect to the scheduler master <m>: Connection refused. Please try again later."
    )
    assert is_transient("batch system daemon not responding ... still trying")
    assert not is_transient("normal: No such queue. Job not submitted.")
    assert not is_transient("Job script is longer than 4096 bytes (5000). Job not submitted.")


# -- parsing -------------------------------------------------------------------------------------------

# rows of the vendor manual's jctrl/jmod examples (no header, a trailing position column, names with spaces)
MANUAL_ROWS = """
237 user1 RUN normal host1 host2 sleep 1000 Mar 30 15:40 -
239 user1 PEND normal host1 sleep 1000 Mar 30 15:40 1
18 jhadmin RUN normal host1 host2 hello1 May 15 14:58 -
"""

# LSF's layout as a JH site prints it: a parallel job on two hosts takes a continuation line
WIDE_TABLE = """JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME
1227    user    RUN   52-medium  mgt02       28*c52-032  CoX        Mar  9 22:35
                                             28*c52-023
1133    user    SSUSP 51-medium  mgt02       24*c51-024  Cu13       Mar  9 21:20
1360    user    PEND  53-large   mgt02                   cp2k       Mar 10 13:26
1361    user    DONE  53-large   mgt02       c53-001     *_b7c5d1e0 Mar 10 13:27
"""


def test_parse_the_manuals_rows():
    assert parse_jjobs(MANUAL_ROWS) == {"237": "RUN", "239": "PEND", "18": "RUN"}


def test_parse_skips_headers_continuations_and_noise():
    assert parse_jjobs(WIDE_TABLE) == {"1227": "RUN", "1133": "SSUSP", "1360": "PEND", "1361": "DONE"}
    assert parse_jjobs(HEADER + "\n") == {}
    assert parse_jjobs("No unfinished job found\n12 a\n13 a b c\n") == {}


def test_not_found_ids():
    assert not_found("Job <12> is not found\nJob <13[2]> is not found\nsomething else\n") == {"12", "13[2]"}


LONG = """
Job <473713>, Job Name <TM-T>, User <gloessa>, Project <default>, Status <EXIT>, Queue <pub.1h>, Comma
                     nd <sleep 100>
Mon Oct 19 17:10:35: Submitted from host <brutus2>, CWD <$HOME/test_queue>, 4 Processors Requested;
Mon Oct 19 17:11:00: Started on 4 Hosts/Processors <4*a6128>;
Mon Oct 19 17:11:10: Exited with exit code 140. The CPU time used is 0.1 seconds.
Mon Oct 19 17:11:10: Completed <exit>; TERM_RUNLIMIT: job killed after reaching LSF run time limit.
------------------------------------------------------------------------------

Job <473714>, Job Name <x>, User <gloessa>, Project <default>, Status <EXIT>, Queue <pub.1h>, Command <x>
Mon Oct 19 17:11:10: Exited by signal 15. The CPU time used is 0.1 seconds.
Mon Oct 19 17:11:10: Completed <exit>; TERM_OWNER: job killed by owner.

Job <473715>, Job Name <y>, User <gloessa>, Project <default>, Status <EXIT>, Queue <pub.1h>, Command <y>
Mon Oct 19 17:11:10: Exited with exit code 1. The CPU time used is 0.1 seconds.
Mon Oct 19 17:11:10: Completed <exit>.
"""


def test_parse_long_records():
    records = parse_long(LONG)
    assert records["473713"] == JobRecord("473713", "EXIT", 140, None, "TERM_RUNLIMIT")
    assert records["473714"] == JobRecord("473714", "EXIT", None, 15, "TERM_OWNER")
    assert records["473715"] == JobRecord("473715", "EXIT", 1, None, "")
    assert parse_long("") == {}


# -- status queries ---------------------------------------------------------------------------------


def test_one_jjobs_script_for_all_jobs_and_states(tmp_path, caplog):
    machine, context, jobs = make_jobs(tmp_path, n=9)
    with_ids(jobs)
    context.answer(
        "jjobs 100",
        255,
        stdout=table(
            ("100", "PEND"), ("101", "RUN"), ("102", "PSUSP"), ("103", "DONE"), ("104", "EXIT"), ("105", "WEIRD")
        ),
        stderr="Job <106> is not found\nJob <107> is not found\n",
    )
    context.answer("jjobs -l", stdout=LONG.replace("473714", "104"))
    context.files |= {jobs[3].finish_tag, jobs[7].finish_tag}
    with caplog.at_level(logging.WARNING):
        states = machine.check_statuses(jobs)
        again = machine.check_statuses(jobs)
    assert (
        states
        == again
        == [
            JobStatus.waiting,
            JobStatus.running,
            JobStatus.waiting,  # held before it started
            JobStatus.finished,  # DONE, tagged
            JobStatus.terminated,  # EXIT, untagged
            JobStatus.unknown,  # a word nobody knows: asked again
            JobStatus.terminated,  # not found, untagged
            JobStatus.finished,  # not found, tagged
            JobStatus.unknown,  # jjobs said nothing about it: asked again
        ]
    )
    assert sum("'WEIRD'" in r.getMessage() for r in caplog.records) == 1  # logged once
    ids = " ".join(str(i) for i in range(100, 109))
    assert context.commands == [f"jjobs {ids}", "jjobs -l 104", f"jjobs {ids}"]  # -l once, for what it still knows
    assert context.exist_queries == 2  # one per poll
    assert "was killed with jctrl kill" in machine.describe_failure(jobs[4])
    assert "left the scheduler's records" in machine.describe_failure(jobs[6])


def test_running_jobs_cost_one_command_and_no_file_query(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=3)
    with_ids(jobs)
    context.answer("jjobs", stdout=table(("100", "RUN"), ("101", "PEND"), ("102", "USUSP")))
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.waiting, JobStatus.running]
    assert context.commands == ["jjobs 100 101 102"] and context.exist_queries == 0


def test_all_task_tags_count_as_finished(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=2)
    with_ids(jobs)
    context.answer("jjobs", 255, stderr="Job <100> is not found\n")
    context.files |= {task.finish_tag for task in jobs[0].job_task_list}
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_scheduler_down_gives_unknown_and_never_raises(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    context.answer("jjobs", 255, stderr="jjobs: Failed to connect to the scheduler master <m>: Connection refused.\n")
    for _ in range(5):
        assert machine.check_statuses(jobs) == [JobStatus.unknown] * 2
    assert context.exist_queries == 0


def test_persistent_non_transient_jjobs_error_is_raised(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    context.answer("jjobs", 127, stderr="bash: line 1: jjobs: command not found\n")
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    with pytest.raises(SchedulerError, match=r"jjobs failed 3 times in a row: .*command not found"):
        machine.check_statuses(jobs)


def test_100000_ids_stay_under_the_command_budget_in_one_command(tmp_path):
    machine, context, _ = make_jobs(tmp_path, n=1)
    ids = [str(10_000_000 + i) for i in range(100_000)]
    fake_jobs = [
        SimpleNamespace(
            job_id=i, job_hash=f"h{i}", finish_tag=f"h{i}_tag", job_task_list=[SimpleNamespace(finish_tag=f"t{i}")]
        )
        for i in ids
    ]
    context.answer("jjobs", stdout=table(*((i, "EXIT") for i in ids)))
    assert machine.check_statuses(fake_jobs) == [JobStatus.terminated] * len(ids)  # type: ignore[arg-type]
    status, endings = context.commands
    for command, skip in ((status, 1), (endings, 2)):
        lines = command.splitlines()
        assert max(len(line.encode()) for line in lines) <= COMMAND_BUDGET
        assert [w for line in lines for w in shlex.split(line)[skip:]] == ids
    machine.kill_jobs(fake_jobs)  # type: ignore[arg-type]
    kills = context.commands[-1].splitlines()
    assert max(len(line.encode()) for line in kills) <= COMMAND_BUDGET
    assert [w for line in kills for w in shlex.split(line)[2:]] == ids


def test_kill_is_one_jctrl_script(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    machine.kill_jobs(jobs)
    assert context.commands == ["jctrl kill 100 101"]


# -- submission --------------------------------------------------------------------------------------


def test_jobs_are_submitted_in_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    context.answer("jsub", stdout="".join(f"dpd_job_id {i}\n" for i in range(10, 14)))
    assert machine.submit_jobs(jobs) == [str(i) for i in range(10, 14)]
    assert len(context.commands) == 1
    assert context.commands[0].count("| jsub)") == 4
    for job in jobs:
        assert (
            shlex.quote(f"exec /bin/bash -l {machine.context.remote_root}/{job.script_file_name}")
            in context.commands[0]
        )


def test_limit_refusal_is_retried_for_the_rest_only(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    machine.retry_delay = 0.0
    calls = []

    def answer(cmd):
        calls.append(cmd.count("| jsub)"))
        if len(calls) == 1:
            return CommandResult(
                1, "dpd_job_id 20\ndpd_job_id 21\n", "User <u>: Pending job threshold reached. Job not submitted."
            )
        return CommandResult(0, "dpd_job_id 22\ndpd_job_id 23\n", "")

    context.answer("jsub", call=answer)
    assert machine.submit_jobs(jobs) == ["20", "21", "22", "23"]
    assert calls == [4, 2]


def test_a_refusal_that_lasts_is_left_to_the_next_poll(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    machine.retry_delay, machine.submit_retries = 0.0, 2
    context.answer("jsub", 255, stderr="jsub: Failed to connect to the scheduler master <m>: Connection refused.")
    with pytest.raises(SchedulerBusyError, match="after 3 attempts"):
        machine.submit_jobs(jobs)
    assert sum("| jsub)" in c for c in context.commands) == 3


def test_non_transient_refusal_names_job_and_message(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, queue_name="nosuch")
    context.answer("jsub", 255, stderr="nosuch: No such queue. Job not submitted.")
    with pytest.raises(
        SchedulerError, match=f"JH_UniScheduler refused job {jobs[0].job_hash}: nosuch: No such queue"
    ) as err:
        machine.submit_jobs(jobs)
    assert not isinstance(err.value, SchedulerBusyError)
    assert len(context.commands) == 1
