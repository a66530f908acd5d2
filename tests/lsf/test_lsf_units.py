"""LSF plugin without a scheduler: headers, kwargs, state mapping, bjobs JSON parsing, batching (a recording context)."""

from __future__ import annotations

import json
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
from dpdispatcher_lsf import (
    LSF,
    LSF_STATES,
    TERM_REASONS,
    describe,
    is_transient,
    may_have_landed,
    parse_bjobs_json,
    submitted_id,
    term_reason,
)
from dpdispatcher_lsf.commands import bsub

pytestmark = pytest.mark.lsf


#: the core's submit script runs bsub inside it: a rule for 'bsub' answers it too
SUBMIT = ("bsub", "$(bsub ")


BASE = {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 0, "queue_name": "", "group_size": 1}


def resources(**extra: Any) -> Resources:
    return Resources.load_from_dict({**BASE, "batch_type": "LSF", **extra})


def make_jobs(tmp_path: Path, n: int = 3, **res: Any):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="LSF", context=context)
    machine.retry_delay = 0.0
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


def bjobs_doc(records: list[dict[str, str]]) -> str:
    """What ``bjobs -o "jobid stat exit_code exit_reason" -json`` prints for ``records``."""
    doc = {"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}
    return json.dumps(doc, indent=2, separators=(",", ":")) + "\n"


def rec(job_id: str, stat: str, exit_code: str = "", exit_reason: str = "") -> dict[str, str]:
    return {"JOBID": job_id, "STAT": stat, "EXIT_CODE": exit_code, "EXIT_REASON": exit_reason}


def gone(job_id: str) -> dict[str, str]:
    return {"ERROR": f"Job <{job_id}> is not found"}


# -- headers (pinned to dpdispatcher 1.1.0) ---------------------------------------------------
#
# Expected text generated with the published package (/work/pub110/bin/python, dpdispatcher
# 1.1.0: LSF.gen_script_header, for a one-task job without a task name) for the same
# resources. 1.1.0 fills empty template slots with blank lines (an empty queue or GPU line);
# this plugin leaves them out, so the pinned lines are 1.1.0's non-empty lines. After them
# come this plugin's own lines: the job name (``-J``: as 1.1.0, the task_name of a one-task job,
# else ``dpd_<job hash>``) and the description ``-Jd dpd_<job hash>``.

PUBLISHED_HEADERS: dict[str, tuple[dict[str, Any], str]] = {
    "cpu": (
        {"kwargs": {}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n",
    ),
    "queue, 2 nodes": (
        {"queue_name": "normal", "number_node": 2, "cpu_per_node": 8, "kwargs": {}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 16\n#BSUB -R 'span[ptile=8]'\n#BSUB -q normal\n",
    ),
    "gpus without gpu_usage": (
        {"gpu_per_node": 2, "kwargs": {}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n",
    ),
    "gpu old syntax": (
        {"gpu_per_node": 2, "kwargs": {"gpu_usage": True}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n"
        '#BSUB -R "select[ngpus >0] rusage[ngpus_excl_p=2]"',
    ),
    "gpu new syntax, exclusive": (
        {"gpu_per_node": 2, "queue_name": "gpu", "kwargs": {"gpu_usage": True, "gpu_new_syntax": True}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n#BSUB -q gpu\n"
        "#BSUB -gpu 'num=2:mode=shared:j_exclusive=yes'",
    ),
    "gpu new syntax, shared": (
        {"gpu_per_node": 2, "kwargs": {"gpu_usage": True, "gpu_new_syntax": True, "gpu_exclusive": False}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n"
        "#BSUB -gpu 'num=2:mode=shared:j_exclusive=no'",
    ),
    "gpu_usage without gpus": (
        {"gpu_per_node": 0, "kwargs": {"gpu_usage": True, "gpu_new_syntax": True}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n",
    ),
    "custom gpu line": (
        {"gpu_per_node": 1, "kwargs": {"custom_gpu_line": '#BSUB -gpu "num=1"'}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n"
        '#BSUB -gpu "num=1"',
    ),
    "custom gpu line without gpus": (
        {"kwargs": {"custom_gpu_line": "#BSUB -gpu num=4"}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n#BSUB -gpu num=4",
    ),
    "empty custom gpu line": (
        {"gpu_per_node": 2, "kwargs": {"custom_gpu_line": "", "gpu_usage": True}},
        "#!/bin/bash -l\n#BSUB -e %J.err\n#BSUB -o %J.out\n#BSUB -n 4\n#BSUB -R 'span[ptile=4]'\n\n"
        '#BSUB -R "select[ngpus >0] rusage[ngpus_excl_p=2]"',
    ),
}


@pytest.mark.parametrize("case", sorted(PUBLISHED_HEADERS))
def test_header_lines_are_those_of_1_1_0(tmp_path, case):
    res, published = PUBLISHED_HEADERS[case]
    expected = [line for line in published.splitlines() if line]
    machine, _, jobs = make_jobs(tmp_path, n=1, **res)
    (job,) = jobs
    header = machine.gen_script_header(job).splitlines()
    assert header == [*expected, f"#BSUB -J dpd_{job.job_hash}", f"#BSUB -Jd dpd_{job.job_hash}"]
    assert machine.gen_script(job).splitlines()[: len(header)] == header


def test_kwargs_may_be_left_out(tmp_path):
    """1.1.0 requires resources/kwargs for LSF; here it may be left out and means 1.1.0's defaults."""
    with_kwargs = script_lines(tmp_path / "a", kwargs={})
    without = script_lines(tmp_path / "b")
    assert with_kwargs[:5] == without[:5]
    assert resources().kwargs == {}
    assert resources(kwargs={}).kwargs["gpu_exclusive"] is True  # dargs fills the defaults in


def test_custom_flags_come_after_the_header(tmp_path):
    lines = script_lines(tmp_path, custom_flags=["#BSUB -W 2:00", "#BSUB -P proj"])
    name = next(i for i, line in enumerate(lines) if line.startswith("#BSUB -Jd "))
    assert lines[name + 1 : name + 3] == ["#BSUB -W 2:00", "#BSUB -P proj"]


def test_header_template_replaces_the_header(tmp_path):
    template = tmp_path / "header.tpl"
    template.write_text("#BSUB -n {cpu_per_node}\n#BSUB -q short\n")
    lines = script_lines(tmp_path, strategy={"customized_script_header_template_file": str(template)})
    assert lines[:3] == ["#!/bin/bash -l", "#BSUB -n 4", "#BSUB -q short"]
    assert not any(line.startswith("#BSUB -J") for line in lines)


@pytest.mark.parametrize("field", ["queue_name", "custom_flags", "custom_gpu_line"])
def test_no_config_value_adds_a_script_line(tmp_path, field):
    values = {
        "queue_name": {"queue_name": "normal\n#BSUB -n 1000"},
        "custom_flags": {"custom_flags": ["#BSUB -P a\nrm -rf ~"]},
        "custom_gpu_line": {"kwargs": {"custom_gpu_line": "#BSUB -gpu num=1\nrm -rf ~"}},
    }
    with pytest.raises(ConfigError, match="line break"):
        script_lines(tmp_path, **values[field])


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"gpu_usage": "yes"}, "resources/kwargs/gpu_usage"),
        ({"gpu_new_syntax": 1}, "resources/kwargs/gpu_new_syntax"),
        ({"gpu_exclusive": "no"}, "resources/kwargs/gpu_exclusive"),
        ({"custom_gpu_line": 3}, "resources/kwargs/custom_gpu_line"),
        ({"gpu_numbers": 2}, "resources/kwargs/gpu_numbers"),  # unknown: an error in strict mode
        (3, "resources/kwargs"),
    ],
)
def test_kwargs_are_validated(kwargs, path, monkeypatch):
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")  # else an unknown key is a warning, and dropped
    with pytest.raises(ConfigError, match=path.replace("/", "/")) as err:
        resources(kwargs=kwargs)
    assert path in str(err.value)


def test_kwargs_are_those_of_1_1_0():
    (kwargs,) = LSF.resources_subfields()
    defaults = {arg.name: arg.default for arg in kwargs.sub_fields.values()}
    assert defaults == {"gpu_usage": False, "gpu_new_syntax": False, "gpu_exclusive": True, "custom_gpu_line": None}
    assert resources(kwargs={"gpu_usage": True}).kwargs == {
        "gpu_usage": True,
        "gpu_new_syntax": False,
        "gpu_exclusive": True,
        "custom_gpu_line": None,
    }


def test_registered_type():
    from dpdispatcher.plugins import get_registry

    assert get_registry().machine_class("lsf") is LSF
    assert get_registry().machine_class("LSF") is LSF


def test_generated_files_name_the_output_of_the_current_id(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, n=1)
    (job,) = jobs
    assert not any(name.endswith((".out", ".err")) for name in machine.generated_files(job))
    job.register_job_id("4242")
    assert {"4242.out", "4242.err"} <= set(machine.generated_files(job))


# -- states -------------------------------------------------------------------------------------

ALL_STATS = ["PEND", "PSUSP", "WAIT", "PROV", "RUN", "USUSP", "SSUSP", "ZOMBI", "UNKWN", "DONE", "EXIT"]


@pytest.mark.parametrize("stat", ALL_STATS)
def test_every_lsf_state_is_mapped(stat):
    assert stat in LSF_STATES


@pytest.mark.parametrize(
    ("exit_code", "reason", "words"),
    [
        (
            140,
            "TERM_RUNLIMIT: job killed after reaching LSF run time limit",
            "timed out (over its run limit): TERM_RUNLIMIT",
        ),
        (None, "job killed after reaching LSF run time limit", "timed out"),
        (137, "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit", "ran out of memory"),
        (None, "TERM_SWAP", "ran out of memory (over its swap limit)"),
        (143, "TERM_OWNER: job killed by owner", "was killed (bkill by its owner): TERM_OWNER, exit code 143"),
        (None, "TERM_FORCE_OWNER: job killed by owner without time for cleanup", "TERM_FORCE_OWNER"),
        (None, "job killed by owner", "was killed (bkill by its owner)"),
        (130, "TERM_ADMIN", "LSF administrator"),
        (None, "TERM_CPULIMIT", "CPU time limit"),
        (1, "", "exited with code 1 (a task failed)"),
        (143, "", "was killed by SIGTERM (exit code 143)"),
        (None, "", "ended (EXIT) without its finished tag"),
    ],
)
def test_describe_names_the_reason(exit_code, reason, words):
    assert words in describe("77", "EXIT", exit_code, reason)
    assert describe("77", "EXIT", exit_code, reason).startswith("LSF job 77 ")


def test_every_termination_reason_is_found_by_keyword_and_by_description():
    for keyword, (description, _) in TERM_REASONS.items():
        assert term_reason(f"{keyword}: {description}") == keyword
        assert term_reason(description.upper()) == keyword, keyword


# -- parsing ------------------------------------------------------------------------------------


def test_parse_bjobs_json_with_error_records():
    text = bjobs_doc([rec("100", "RUN"), gone("101"), rec("102", "EXIT", "1"), {"ERROR": "Illegal job ID"}])
    text += bjobs_doc([rec("103", "DONE"), {"JOBID": "104", "ERROR": "Job <104> is not found"}])
    answer = parse_bjobs_json(text)
    assert {i: [(r.state, r.exit_code) for r in rs] for i, rs in answer.rows.items()} == {
        "100": [("RUN", None)],
        "102": [("EXIT", 1)],
        "103": [("DONE", None)],
    }
    assert answer.not_found == {"101", "104"}
    assert answer.errors == ["Illegal job ID"]
    assert answer.documents == 2


def test_parse_invalid_json_is_read_field_by_field():
    text = (
        '{\n  "COMMAND":"bjobs",\n  "JOBS":2,\n  "RECORDS":[\n    {\n      "JOBID":"100",\n      "STAT":"EXIT",\n'
        '      "EXIT_CODE":"143",\n      "EXIT_REASON":"TERM_OWNER: job killed by owner"\n    },\n'
        '    {\n      "ERROR":"Job <101> is not found"\n    }\n  ]\n'  # cut short
    )
    answer = parse_bjobs_json(text)
    assert answer.rows["100"][0].exit_reason == "TERM_OWNER: job killed by owner"
    assert answer.rows["100"][0].exit_code == 143
    assert answer.not_found == {"101"}


def test_parse_nothing():
    answer = parse_bjobs_json("LSF is down. Please wait ...\n")
    assert (answer.rows, answer.not_found, answer.documents) == ({}, set(), 0)


def test_submitted_id():
    assert submitted_id("Job <1234> is submitted to default queue <normal>.\n") == "1234"
    assert submitted_id("Job <7> is submitted to queue <gpu>.") == "7"
    assert submitted_id("Job not submitted.") == ""


@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [
        ("Job <1234> is submitted to default queue <normal>.\n", 0, "1234"),
        ("Job <7> is submitted to queue <gpu>.\n", 0, "7"),
        ("Warning: project not set\nJob <8> is submitted to queue <gpu>.\n", 0, "8"),
    ],
)
def test_the_bsub_statement_sets_the_id_in_bash(tmp_path, stdout, code, expected):
    fake = f"bsub() {{ cat > /dev/null; printf %s {shlex.quote(stdout)}; return {code}; }}"
    (tmp_path / "job.sub").write_text("#!/bin/bash\n")
    script = f'{fake}\n{bsub("job.sub")} || exit 9\nprintf "<%s>" "$dpd_id"\n'
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stdout) == (0, f"<{expected}>")


def test_a_failing_bsub_fails_the_statement_with_what_it_printed(tmp_path):
    fake = "bsub() { cat > /dev/null; echo 'partial answer'; echo 'Job not submitted.' >&2; return 255; }"
    (tmp_path / "a b.sub").write_text("#!/bin/bash\n")
    script = f'{fake}\n{bsub("a b.sub")} || {{ printf "<%s>" "$dpd_id"; exit 1; }}\n'
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stdout, out.stderr) == (1, "<partial answer>", "Job not submitted.\n")


def test_transient_messages():
    assert is_transient("User <me>: Pending job threshold reached. Job not submitted.")
    assert is_transient("Job not submitted.")
    assert is_transient("Job not submitted.\n\n")
    assert is_transient("LSF is down. Please wait ...")
    assert is_transient("Cannot connect to LSF. Please wait ...\nJob not submitted.")
    assert is_transient("batch system daemon not responding ... still trying")
    assert is_transient("Failed in an LSF library call: Communication time out.\nJob not submitted.")
    assert not is_transient("nope: No such queue. Job not submitted.")
    assert not is_transient("Request aborted by esub. Job not submitted.")
    assert not is_transient("Bad argument for option -n. Job not submitted.")
    assert may_have_landed("Failed in an LSF library call: Communication time out.\nJob not submitted.")
    assert not may_have_landed("User <me>: Pending job threshold reached. Job not submitted.")
    assert not may_have_landed("LSF is down. Please wait ...")


# -- status queries ---------------------------------------------------------------------------------


def test_one_bjobs_for_all_jobs_and_states(tmp_path, caplog):
    machine, context, jobs = make_jobs(tmp_path, n=10)
    with_ids(jobs)
    context.answer(
        "bjobs",
        255,
        stdout=bjobs_doc(
            [
                rec("100", "PEND"),
                rec("101", "RUN"),
                rec("102", "USUSP"),
                rec("103", "DONE"),
                rec("104", "EXIT", "140", "TERM_RUNLIMIT: job killed after reaching LSF run time limit"),
                rec("105", "FOO"),
                rec("106", "PSUSP"),
                gone("107"),
                rec("108", "UNKWN"),
                rec("109", "DONE"),
            ]
        ),
    )
    context.files |= {jobs[3].finish_tag, jobs[7].finish_tag}
    with caplog.at_level(logging.WARNING):
        states = machine.check_statuses(jobs)
        machine.check_statuses(jobs)
    assert states == [
        JobStatus.waiting,
        JobStatus.running,
        JobStatus.running,  # suspended after it started: it resumes
        JobStatus.finished,  # DONE, tagged
        JobStatus.terminated,  # EXIT, run limit
        JobStatus.unknown,  # a state nobody knows: asked again
        JobStatus.waiting,
        JobStatus.finished,  # forgotten by LSF, tagged
        JobStatus.unknown,  # UNKWN: LSF lost its host
        JobStatus.terminated,  # DONE but its tags are gone
    ]
    assert sum("'FOO'" in r.getMessage() for r in caplog.records) == 1  # logged once
    first = context.commands[0]
    assert first == "bjobs -json -o 'jobid stat exit_code exit_reason' " + " ".join(str(100 + i) for i in range(10))
    assert context.exist_queries == 2  # one per poll
    assert "timed out (over its run limit): TERM_RUNLIMIT, exit code 140" in machine.describe_failure(jobs[4])
    assert "ended (DONE) without its finished tag" in machine.describe_failure(jobs[9])
    assert machine.describe_failure(jobs[7]) == "LSF job 107 left LSF's records without its finished tag"


def test_an_id_lsf_says_nothing_about_is_asked_again(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    context.answer("bjobs", stdout=bjobs_doc([rec("100", "RUN")]))
    assert machine.check_statuses(jobs) == [JobStatus.running, JobStatus.unknown]
    assert context.exist_queries == 0


@pytest.mark.parametrize("message", ["LSF is down. Please wait ...", "Cannot connect to LSF. Please wait ..."])
def test_cluster_down_gives_unknown_and_never_raises(tmp_path, message):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    context.answer("bjobs", 255, stderr=message + "\n")
    for _ in range(5):
        assert machine.check_statuses(jobs) == [JobStatus.unknown] * 2
    assert context.exist_queries == 0


def test_persistent_non_transient_bjobs_error_is_raised(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    context.answer("bjobs", 127, stderr="bash: line 1: bjobs: command not found\n")
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    with pytest.raises(SchedulerError, match=r"bjobs failed 3 times in a row: .*command not found"):
        machine.check_statuses(jobs)


def test_a_good_answer_resets_the_failure_count(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    with_ids(jobs)
    for _ in range(3):
        context.answer("bjobs", 127, stderr="bjobs: command not found\n")
        machine.check_statuses(jobs)
        machine.check_statuses(jobs)
        context.answer("bjobs", stdout=bjobs_doc([rec("100", "RUN")]))
        assert machine.check_statuses(jobs) == [JobStatus.running]


def test_100000_ids_stay_under_the_command_budget_in_one_command(tmp_path):
    machine, context, _ = make_jobs(tmp_path, n=1)
    ids = [str(1_000_000 + i) for i in range(100_000)]
    context.answer("bjobs", stdout=bjobs_doc([rec(ids[-1], "RUN")]))
    answer = machine.query(ids)
    assert answer is not None and answer.rows[ids[-1]][0].state == "RUN"
    assert len(context.commands) == 1
    lines = context.commands[0].splitlines()
    assert len(lines) > 1
    assert max(len(line.encode()) for line in lines) <= COMMAND_BUDGET
    named = [word for line in lines for word in shlex.split(line)[4:]]
    assert named == ids
    assert all(shlex.split(line)[:4] == ["bjobs", "-json", "-o", "jobid stat exit_code exit_reason"] for line in lines)
    fake_jobs = [SimpleNamespace(job_id=i) for i in ids]
    machine.kill_jobs(fake_jobs)  # type: ignore[arg-type]
    assert len(context.commands) == 2
    kills = context.commands[-1].splitlines()
    assert max(len(line.encode()) for line in kills) <= COMMAND_BUDGET
    assert [w for line in kills for w in shlex.split(line)[1:]] == ids


def test_kill_is_one_bkill_script(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2)
    with_ids(jobs)
    machine.kill_jobs(jobs)
    assert context.commands == ["bkill 100 101"]


# -- submission --------------------------------------------------------------------------------------


def test_jobs_are_submitted_in_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    context.answer("bsub", stdout="".join(f"dpd_job_id {i}\n" for i in range(10, 14)))
    assert machine.submit_jobs(jobs) == [str(i) for i in range(10, 14)]
    assert len(context.commands) == 1
    assert context.commands[0].count("$(bsub < ") == 4
    for job in jobs:
        assert f"$(bsub < {job.script_file_name})" in context.commands[0]


def test_limit_refusal_is_retried_for_the_rest_only(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4)
    calls = []

    def bsub_answer(cmd):
        calls.append(cmd.count("$(bsub < "))
        if len(calls) == 1:
            return CommandResult(
                1, "dpd_job_id 20\ndpd_job_id 21\n", "User <me>: Pending job threshold reached. Job not submitted."
            )
        return CommandResult(0, "dpd_job_id 22\ndpd_job_id 23\n", "")

    context.answer("bsub", call=bsub_answer)
    assert machine.submit_jobs(jobs) == ["20", "21", "22", "23"]
    assert calls == [4, 2]
    assert not any(c.startswith("bjobs") for c in context.commands)  # a limit is a plain "no"


def test_a_refusal_that_lasts_is_left_to_the_next_poll(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    machine.submit_retries = 2
    context.answer("bsub", 1, stderr="Job not submitted.")
    with pytest.raises(SchedulerBusyError, match="after 3 attempts"):
        machine.submit_jobs(jobs)
    assert sum("$(bsub < " in c for c in context.commands) == 3


def test_non_transient_refusal_names_job_and_message(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    context.answer("bsub", 1, stderr="nope: No such queue. Job not submitted.")
    with pytest.raises(SchedulerError, match=f"LSF refused job {jobs[0].job_hash}: nope: No such queue") as err:
        machine.submit_jobs(jobs)
    assert not isinstance(err.value, SchedulerBusyError)
    assert len(context.commands) == 1


def test_lost_answer_adopts_the_job_lsf_took(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    (job,) = jobs
    name = f"dpd_{job.job_hash}"
    context.answer("bsub", 1, stderr="Failed in an LSF library call: Communication time out.\nJob not submitted.")
    context.answer(
        "bjobs -a -J", stdout=bjobs_doc([{"JOBID": "55", "STAT": "RUN", "JOB_NAME": name, "JOB_DESCRIPTION": name}])
    )
    assert machine.submit_jobs(jobs) == ["55"]
    assert context.contents[job.job_id_file] == "55\n"
    assert sum("$(bsub < " in c for c in context.commands) == 1
    assert context.commands[-1] == f"bjobs -a -J {name} -json -o 'jobid stat job_name job_description'"


def test_lost_answer_ignores_older_runs_and_other_names(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    (job,) = jobs
    name = f"dpd_{job.job_hash}"
    job.register_job_id("60")  # a resubmission: 60 and 58 are earlier runs of the same job
    context.answer("bsub", call=lambda cmd: CommandResult(1, "", "Communication time out. Job not submitted."))
    older = [
        {"JOBID": "58", "STAT": "EXIT", "JOB_NAME": name, "JOB_DESCRIPTION": name},
        {"JOBID": "60", "STAT": "EXIT", "JOB_NAME": name, "JOB_DESCRIPTION": name},
    ]
    other = {"JOBID": "70", "STAT": "RUN", "JOB_NAME": "someone_else", "JOB_DESCRIPTION": name}
    context.answer("bjobs -a -J", stdout=bjobs_doc([*older, other]))
    machine.submit_retries = 1
    with pytest.raises(SchedulerBusyError):
        machine.submit_jobs(jobs)
    newer = {"JOBID": "61", "STAT": "PEND", "JOB_NAME": name, "JOB_DESCRIPTION": name}
    context.answer("bjobs -a -J", stdout=bjobs_doc([*older, newer]))
    assert machine.submit_jobs(jobs) == ["61"]


def test_lost_answer_tells_jobs_of_one_task_name_apart_by_their_description(tmp_path):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="LSF", context=context)
    machine.retry_delay = 0.0
    machine.submit_retries = 0
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/", task_name="relax Si") for i in range(2)]
    submission = Submission("wb", machine=machine, resources=resources(), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    first, second = submission.belonging_jobs
    assert machine.gen_script_header(second).splitlines()[-2:] == [
        "#BSUB -J relax-Si",
        f"#BSUB -Jd dpd_{second.job_hash}",
    ]
    context.answer("bsub", 1, stderr="Failed in an LSF library call: Communication time out.\nJob not submitted.")
    records = [
        {"JOBID": "80", "STAT": "RUN", "JOB_NAME": "relax-Si", "JOB_DESCRIPTION": f"dpd_{second.job_hash}"},
        {"JOBID": "81", "STAT": "PEND", "JOB_NAME": "relax-Si", "JOB_DESCRIPTION": f"dpd_{first.job_hash}"},
    ]
    context.answer("bjobs -a -J", stdout=bjobs_doc(records))
    assert machine.submit_jobs([second]) == ["80"]  # not 81, the newest of that name
    assert context.commands[-1] == "bjobs -a -J relax-Si -json -o 'jobid stat job_name job_description'"
    context.answer("bjobs -a -J", stdout=bjobs_doc(records[1:]))
    with pytest.raises(SchedulerBusyError):  # only the other job of that name: none is adopted
        machine.submit_jobs([second])


def test_lost_answer_with_no_job_of_that_name_is_retried(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1)
    calls = []

    def bsub_answer(cmd):
        calls.append(cmd)
        if len(calls) == 1:
            return CommandResult(1, "", "Failed in an LSF library call: Communication time out.")
        return CommandResult(0, "dpd_job_id 31\n", "")

    context.answer("bsub", call=bsub_answer)
    context.answer("bjobs -a -J", 255, stderr=f"Job <dpd_{jobs[0].job_hash}> is not found\n")
    assert machine.submit_jobs(jobs) == ["31"]
    assert len(calls) == 2


# -- LSFJobArray ----------------------------------------------------------------------------------------


def make_array(tmp_path: Path, n: int = 5, size: int = 2, **res: Any):
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="LSFJobArray", context=context)
    machine.retry_delay = 0.0
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/") for i in range(n)]
    resources_obj = Resources.load_from_dict(
        {**BASE, "group_size": n, "batch_type": "LSFJobArray", "kwargs": {"lsf_job_size": size}, **res}
    )
    submission = Submission("wb", machine=machine, resources=resources_obj, task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    (job,) = submission.belonging_jobs
    job.machine = machine
    return machine, context, job


def test_array_header_names_the_elements(tmp_path):
    machine, _, job = make_array(tmp_path, n=5, size=2)
    assert machine.gen_script_header(job).splitlines() == [
        "#!/bin/bash -l",
        "#BSUB -e %J_%I.err",  # one pair of files per element
        "#BSUB -o %J_%I.out",
        "#BSUB -n 4",
        "#BSUB -R 'span[ptile=4]'",
        f"#BSUB -J dpd_{job.job_hash}[1-3]",
        f"#BSUB -Jd dpd_{job.job_hash}",
    ]
    job.register_job_id("500")
    generated = machine.generated_files(job)
    assert {f"500_{i}.{s}" for i in (1, 2, 3) for s in ("out", "err")} <= set(generated)
    assert "500.out" not in generated


def test_array_script_runs_each_slice_on_its_lsb_jobindex(tmp_path):
    machine, _, job = make_array(tmp_path, n=5, size=2)
    script = machine.gen_script(job)
    assert 'case "${LSB_JOBINDEX:-}" in' in script
    body = script.split('case "${LSB_JOBINDEX:-}" in', 1)[1]
    commands = [task.command for task in job.job_task_list]  # in the job's (shuffled) order
    for index, mine in ((1, commands[0:2]), (2, commands[2:4]), (3, commands[4:])):
        branch = body.split(f"\n{index})\n", 1)[1].split("\n;;", 1)[0]
        assert [c for c in commands if c in branch] == mine
    assert "dpd_all=1" in script  # the element that sees every task finished leaves the job tag


def test_array_resubmission_runs_only_unfinished_elements(tmp_path):
    machine, context, job = make_array(tmp_path, n=7, size=1)
    tasks = job.job_task_list
    context.files |= {tasks[i].finish_tag for i in (1, 3, 4)}
    context.answer("bsub", stdout="dpd_job_id 600\n")
    assert machine.submit_jobs([job]) == ["600"]
    assert f"$(bsub -J 'dpd_{job.job_hash}[1,3,6-7]' < {job.script_file_name})" in context.commands[-1]
    context.files |= {task.finish_tag for task in tasks}
    machine.submit_jobs([job])
    assert f"$(bsub -J 'dpd_{job.job_hash}[1]' < " in context.commands[-1]  # only leaves the job tag


def test_array_states_aggregate_the_elements(tmp_path):
    machine, context, job = make_array(tmp_path, n=3, size=1)
    job.register_job_id("700")

    def elements(*stats: str, **extra: Any) -> str:
        return bjobs_doc([{**rec("700", s, **extra), "JOBINDEX": str(i)} for i, s in enumerate(stats, start=1)])

    context.answer("bjobs", stdout=elements("DONE", "RUN", "PEND"))
    assert machine.check_statuses([job]) == [JobStatus.running]
    assert context.commands[-1] == "bjobs -json -o 'jobid jobindex stat exit_code exit_reason' 700"
    context.answer("bjobs", stdout=elements("DONE", "DONE", "PEND"))
    assert machine.check_statuses([job]) == [JobStatus.waiting]
    context.answer("bjobs", stdout=elements("DONE", "DONE", "UNKWN"))
    assert machine.check_statuses([job]) == [JobStatus.unknown]
    assert context.exist_queries == 0
    records = [
        {**rec("700", "DONE"), "JOBINDEX": "1"},
        {**rec("700", "EXIT", "143", "TERM_OWNER: job killed by owner"), "JOBINDEX": "2"},
        {**rec("700", "DONE"), "JOBINDEX": "3"},
    ]
    context.answer("bjobs", stdout=bjobs_doc(records))
    assert machine.check_statuses([job]) == [JobStatus.terminated]
    assert machine.describe_failure(job).startswith("LSF job 700[2] was killed (bkill by its owner): TERM_OWNER")
    context.files.add(job.finish_tag)
    context.answer("bjobs", stdout=elements("DONE", "DONE", "DONE"))
    assert machine.check_statuses([job]) == [JobStatus.finished]


def test_array_kwargs(monkeypatch):
    from dpdispatcher_lsf import LSFJobArray

    (kwargs,) = LSFJobArray.resources_subfields()
    assert set(kwargs.sub_fields) == {"gpu_usage", "gpu_new_syntax", "gpu_exclusive", "custom_gpu_line", "lsf_job_size"}
    with pytest.raises(ConfigError, match="resources/kwargs/lsf_job_size"):
        Resources.load_from_dict({**BASE, "batch_type": "LSFJobArray", "kwargs": {"lsf_job_size": "two"}})
    assert "lsf_job_size" not in resources(kwargs={"lsf_job_size": 2}).kwargs  # unknown to LSF: dropped
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")
    with pytest.raises(ConfigError, match="resources/kwargs/lsf_job_size"):
        resources(kwargs={"lsf_job_size": 2})  # not a kwarg of LSF


def test_index_ranges():
    from dpdispatcher_lsf import index_ranges

    assert index_ranges([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    assert index_ranges([4]) == "4"
