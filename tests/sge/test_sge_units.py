"""SGE plugin without a cluster: headers, kwargs, state mapping, parsing, batching (a context that records commands)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.base_context import CommandResult
from dpdispatcher.commands import COMMAND_BUDGET
from dpdispatcher.errors import ConfigError, SchedulerBusyError, SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.plugins import get_registry
from dpdispatcher.testing import ScriptedContext
from dpdispatcher_sge import (
    SGE,
    SGEJobArray,
    is_limit,
    is_transient,
    map_state,
    parse_error_reasons,
    parse_qacct,
    parse_qstat_xml,
    sanitize_job_name,
    task_range,
)
from dpdispatcher_sge.commands import may_have_landed

#: the core's submit script runs qsub inside it: a rule for 'qsub' answers it too
SUBMIT = ("qsub", "qsub -terse")


def resources(**extra) -> Resources:
    base = {"number_node": 1, "cpu_per_node": 4, "gpu_per_node": 0, "queue_name": "", "group_size": 3}
    return Resources.load_from_dict({**base, **extra})


def make_jobs(tmp_path: Path, batch_type: str = "SGE", n: int = 3, **res) -> tuple[SGE, ScriptedContext, list[Job]]:
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type=batch_type, context=context)
    assert isinstance(machine, SGE)
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/") for i in range(n)]
    submission = Submission("wb", machine=machine, resources=resources(batch_type=batch_type, **res), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    for job in submission.belonging_jobs:
        job.machine = machine
    return machine, context, submission.belonging_jobs


def header(tmp_path: Path, batch_type: str = "SGE", **res) -> list[str]:
    machine, _, jobs = make_jobs(tmp_path, batch_type, **res)
    return machine.gen_script_header(jobs[0]).splitlines()


def with_ids(jobs: list[Job], first: int = 100) -> list[Job]:
    for i, job in enumerate(jobs):
        job.register_job_id(str(first + i))
    return jobs


def qstat_xml(*rows: tuple[str, str] | tuple[str, str, str]) -> str:
    """qstat -xml output listing ``(id, state[, tasks])`` rows (running under queue_info, others under job_info)."""

    def job_list(row) -> str:
        job_id, state, *tasks = row
        task = f"\n      <tasks>{tasks[0]}</tasks>" if tasks else ""
        kind = "running" if "r" in state or "t" in state else "pending"
        return (
            f'    <job_list state="{kind}">\n      <JB_job_number>{job_id}</JB_job_number>\n'
            f"      <JAT_prio>0.50000</JAT_prio>\n      <JB_name>dpd_x</JB_name>\n      <JB_owner>me</JB_owner>\n"
            f"      <state>{state}</state>\n      <slots>1</slots>{task}\n    </job_list>\n"
        )

    running = "".join(job_list(r) for r in rows if "r" in r[1] or "t" in r[1])
    pending = "".join(job_list(r) for r in rows if not ("r" in r[1] or "t" in r[1]))
    return (
        "<?xml version='1.0'?>\n<job_info  xmlns:xsd=\"http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/"
        f'resources/schemas/qstat/qstat.xsd">\n  <queue_info>\n{running}  </queue_info>\n  <job_info>\n{pending}'
        "  </job_info>\n</job_info>\n"
    )


#: a qacct -j record as SGE 8.1.9 prints it (fields the plugin does not read left out)
QACCT = """==============================================================
qname        all.q
hostname     vm
owner        root
jobname      dpd_abc
jobnumber    {job}
taskid       {task}
failed       {failed}
exit_status  {exit}
ru_wallclock 4s
"""


# -- headers -----------------------------------------------------------------------------------
#
# dpdispatcher 1.1.0 (SGE.gen_script_header, run from /work/pub110 for the same resources) writes,
# after a leading empty line, for number_node=2, cpu_per_node=4, gpu_per_node=1:
#   kwargs {}, queue "":                 #!/bin/bash / #$ -S /bin/bash / #$ -cwd / #$ -N wDPjob / #$ -pe mpi 4
#   kwargs {pe_name: smp}, queue all.q:  ... / #$ -N wDPjob / #$ -pe smp 4 / #$ -q all.q
#   kwargs {sge_pe_name: smp, job_name: myjob}, queue all.q, cpu 8:
#                                        ... / #$ -N myjob / #$ -pe smp 8 / #$ -q all.q
# It ignores number_node and gpu_per_node. We write the same lines, the shebang first (1.1.0's
# leading empty line puts it on line 2), the default job name dpd_<hash> instead of wDPjob, and
# -o/-e for Grid Engine's own output files in the job root.


def test_header_matches_published_defaults(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, number_node=2, cpu_per_node=4, gpu_per_node=1)
    (job, *_) = jobs
    assert machine.gen_script_header(job).splitlines() == [
        "#!/bin/bash",
        "#$ -S /bin/bash",
        "#$ -cwd",
        f"#$ -N dpd_{job.job_hash[:12]}",
        "#$ -pe mpi 4",
        f"#$ -o {job.job_hash}.out",
        f"#$ -e {job.job_hash}.err",
    ]


def test_header_matches_published_with_pe_and_queue(tmp_path):
    lines = header(tmp_path, number_node=2, gpu_per_node=1, queue_name="all.q", kwargs={"pe_name": "smp"})
    assert lines[:3] == ["#!/bin/bash", "#$ -S /bin/bash", "#$ -cwd"]
    assert lines[4:6] == ["#$ -pe smp 4", "#$ -q all.q"]


def test_header_matches_published_with_alias_and_job_name(tmp_path):
    lines = header(tmp_path, cpu_per_node=8, queue_name="all.q", kwargs={"sge_pe_name": "smp", "job_name": "myjob"})
    assert lines[:6] == ["#!/bin/bash", "#$ -S /bin/bash", "#$ -cwd", "#$ -N myjob", "#$ -pe smp 8", "#$ -q all.q"]


def test_job_names_are_sanitized():
    assert sanitize_job_name("myjob") == "myjob"
    assert sanitize_job_name("a/b:c@d\\e*f?g h") == "a_b_c_d_e_f_g_h"
    assert sanitize_job_name("1abc") == "j1abc"
    assert sanitize_job_name("-x") == "j-x"
    assert sanitize_job_name("  ") == "dpd_job"


def test_job_name_kwarg_is_sanitized_in_the_header(tmp_path):
    assert "#$ -N j2nd_run_x" in header(tmp_path, kwargs={"job_name": "2nd run/x"})


def test_a_value_cannot_add_a_header_line(tmp_path):
    # refused where the resources are made, before any script exists
    with pytest.raises(ConfigError, match=r"resources/queue_name: .*line break"):
        make_jobs(tmp_path, queue_name="all.q\n#$ -l h_rt=9:00:00")
    with pytest.raises(ConfigError, match=r"resources/kwargs/pe_name: .*line break"):
        make_jobs(tmp_path, kwargs={"pe_name": "smp\nrm -rf /"})


def test_custom_flags_and_template(tmp_path):
    lines = Machine.gen_script(*_machine_and_job(tmp_path, custom_flags=["#$ -l h_rt=1:00:00"])).splitlines()
    assert lines.index("#$ -l h_rt=1:00:00") > lines.index("#$ -cwd")
    template = tmp_path / "header.tpl"
    template.write_text("#$ -pe orte {cpu_per_node}\n#$ -q {queue_name}\n")
    machine, job = _machine_and_job(
        tmp_path, queue_name="long", strategy={"customized_script_header_template_file": str(template)}
    )
    assert machine.gen_script(job).splitlines()[:3] == ["#!/bin/bash", "#$ -pe orte 4", "#$ -q long"]


def _machine_and_job(tmp_path: Path, **res) -> tuple[SGE, Job]:
    machine, _, jobs = make_jobs(tmp_path, **res)
    return machine, jobs[0]


def test_array_header_and_case_per_task(tmp_path):
    machine, _, jobs = make_jobs(tmp_path, "SGEJobArray", n=5, group_size=5, kwargs={"sge_job_size": 2})
    assert isinstance(machine, SGEJobArray)
    (job,) = jobs
    script = machine.gen_script(job)
    lines = script.splitlines()
    assert "#$ -t 1-3" in lines
    assert f"#$ -o {job.job_hash}_$TASK_ID.out" in lines
    assert 'case "${SGE_TASK_ID:-}" in' in lines
    assert lines.count("1)") == lines.count("2)") == lines.count("3)") == 1 and "0)" not in lines
    assert [len(e) for e in machine.elements(job)] == [2, 2, 1]
    branches = script.split("\n;;\n")
    for index, tasks in enumerate(machine.elements(job)):  # each array task checks its own tasks' tags
        checks = [line for line in branches[index].splitlines() if line.endswith("|| dpd_failed=1")]
        assert checks == [f"[ -f {shlex.quote(t.finish_tag)} ] || dpd_failed=1" for t in tasks]
    for task in job.job_task_list:  # the job tag needs every task's tag
        assert f"[ -f {shlex.quote(task.finish_tag)} ] || dpd_all=0" in lines
    assert machine.output_files(job) == [f"{job.job_hash}_{i}{s}" for i in (1, 2, 3) for s in (".out", ".err")]
    assert script == machine.gen_script(job)


def test_generated_files_name_sge_output(tmp_path):
    machine, _, jobs = make_jobs(tmp_path)
    job = jobs[0]
    assert set(machine.generated_files(job)) >= {f"{job.job_hash}.out", f"{job.job_hash}.err", job.job_id_file}


# -- kwargs --------------------------------------------------------------------------------------


def test_kwargs_are_optional_and_validated(monkeypatch, caplog):
    assert resources(batch_type="SGE").kwargs == {}
    assert resources(batch_type="SGE", kwargs={}).kwargs == {"pe_name": "mpi"}
    assert resources(batch_type="SGE", kwargs={"sge_pe_name": "smp"}).kwargs == {"pe_name": "smp"}
    assert resources(batch_type="SGEJobArray", kwargs={}).kwargs == {"pe_name": "mpi", "sge_job_size": 1}
    with pytest.raises(ConfigError, match="resources/kwargs/pe_name"):
        resources(batch_type="SGE", kwargs={"pe_name": 4})
    with pytest.raises(ConfigError, match="resources/kwargs/job_name"):
        resources(batch_type="SGE", kwargs={"job_name": ["a"]})
    # an unknown key is a warning naming it, and dropped (the core's rule); an error with DPDISPATCHER_STRICT=1
    assert "pe_nam" not in resources(batch_type="SGE", kwargs={"pe_nam": "smp"}).kwargs
    assert "resources/kwargs/pe_nam" in caplog.text
    monkeypatch.setenv("DPDISPATCHER_STRICT", "1")
    with pytest.raises(ConfigError, match="resources/kwargs/pe_nam"):
        resources(batch_type="SGE", kwargs={"pe_nam": "smp"})
    with pytest.raises(ConfigError, match="resources/kwargs/sge_job_size"):
        resources(batch_type="SGE", kwargs={"sge_job_size": 2})  # only SGEJobArray has it


def test_registered_types():
    assert get_registry().machine_class("sge") is SGE
    assert get_registry().machine_class("SGEJobArray") is SGEJobArray
    assert get_registry().machine_class("sgejobarray") is SGEJobArray


# -- states and parsing -------------------------------------------------------------------------

#: every state code of sge_status(5) and what it means to dpdispatcher
DOCUMENTED = {
    "qw": JobStatus.waiting,
    "Rq": JobStatus.waiting,
    "hqw": JobStatus.waiting,
    "hRwq": JobStatus.waiting,
    "r": JobStatus.running,
    "hr": JobStatus.running,
    "t": JobStatus.running,
    "Rr": JobStatus.running,
    "Rt": JobStatus.running,
    "s": JobStatus.waiting,
    "ts": JobStatus.waiting,
    "S": JobStatus.waiting,
    "tS": JobStatus.waiting,
    "T": JobStatus.waiting,
    "tT": JobStatus.waiting,
    "Rs": JobStatus.waiting,
    "Rts": JobStatus.waiting,
    "RS": JobStatus.waiting,
    "RtS": JobStatus.waiting,
    "RT": JobStatus.waiting,
    "RtT": JobStatus.waiting,
    "Eqw": JobStatus.terminated,
    "Ehqw": JobStatus.terminated,
    "EhRqw": JobStatus.terminated,
    "dr": JobStatus.completing,
    "dt": JobStatus.completing,
    "dRr": JobStatus.completing,
    "dRt": JobStatus.completing,
    "ds": JobStatus.completing,
    "dS": JobStatus.completing,
    "dT": JobStatus.completing,
    "dRs": JobStatus.completing,
    "dRS": JobStatus.completing,
    "dRT": JobStatus.completing,
    "z": JobStatus.terminated,
}


@pytest.mark.parametrize(("code", "state"), sorted(DOCUMENTED.items()))
def test_every_documented_state_is_mapped(code, state):
    assert map_state(code) == state


@pytest.mark.parametrize("code", ["", "x", "qwX", "r!", "h", "R"])
def test_unknown_states_map_to_unknown(code):
    assert map_state(code) == JobStatus.unknown


def test_parse_qstat_xml_running_pending_and_arrays():
    text = qstat_xml(("7", "r"), ("8", "r", "1"), ("8", "qw", "2-5:1"), ("9", "Eqw"), ("10", "hqw"))
    entries = parse_qstat_xml(text)
    assert [(e.job_id, e.state, e.tasks) for e in entries] == [
        ("7", "r", ""),
        ("8", "r", "1"),
        ("8", "qw", "2-5:1"),
        ("9", "Eqw", ""),
        ("10", "hqw", ""),
    ]
    assert parse_qstat_xml(qstat_xml()) == []
    with pytest.raises(ValueError):
        parse_qstat_xml("error: commlib error: got select error (Connection refused)")
    with pytest.raises(ValueError):
        parse_qstat_xml("<other/>")


def test_parse_qacct_plain_array_and_missing():
    text = (
        QACCT.format(job=12, task="undefined", failed="0", exit="0")
        + QACCT.format(
            job=13, task="undefined", failed="100 : assumedly after job", exit="137                  (Killed)"
        )
        + "error: job id 99 not found\n"
        + QACCT.format(job=14, task="1", failed="0", exit="0")
        + QACCT.format(job=14, task="2", failed="37  : qmaster enforced h_rt, h_cpu, or h_vmem limit", exit="137")
    )
    records = parse_qacct(text)
    assert set(records) == {"12", "13", "14"}
    (killed,) = records["13"]
    assert (killed.task_id, killed.failed, killed.failed_text, killed.exit_status) == (
        "",
        100,
        "assumedly after job",
        137,
    )
    assert [(r.task_id, r.failed) for r in records["14"]] == [("1", 0), ("2", 37)]


def test_parse_error_reasons():
    text = (
        "==============================================================\n"
        "job_number:                 5\n"
        "error reason          1:      12/01/2026 20:23:35 [0:32492]: error: can't open output file "
        '"/nonexistent/x.out": No such file or directory\n'
        "scheduling info:            Job is in error state\n"
        "job_number:                 6\n"
        "error reason    3:    cannot chdir\n"
    )
    assert parse_error_reasons(text) == {
        "5": 'error: can\'t open output file "/nonexistent/x.out": No such file or directory',
        "6": "cannot chdir",
    }


def test_transient_and_limit_messages():
    limit = "Unable to run job: job rejected: only 1 jobs are allowed per user (current job count: 1)\nExiting."
    assert is_transient(limit) and is_limit(limit) and not may_have_landed(limit)
    cluster = "Unable to run job: job rejected: only 1 jobs are allowed per cluster\nExiting."
    assert is_limit(cluster)
    down = 'error: commlib error: got select error (Connection refused)\nUnable to run job: unable to send message to qmaster using port 1 on host "vm": got send error'
    assert is_transient(down) and not is_limit(down) and may_have_landed(down)
    assert is_transient("error: failed receiving gdi request response for mid=1 (got no message).")
    assert is_transient('unable to contact qmaster using port 6444 on host "vm"')
    assert not is_transient('Unable to run job: Job was rejected because job requests unknown queue "nope".')


def test_task_ranges():
    assert task_range([1]) == "1"
    assert task_range([2, 3, 4]) == "2-4"
    assert task_range([2, 5, 8]) == "2-8:3"
    assert task_range([2, 3, 5]) == "2-5"  # one range only: the finished task 4 in it ends at once


# -- status queries -----------------------------------------------------------------------------


def test_one_qstat_for_all_jobs_and_states(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=6, group_size=1)
    with_ids(jobs)
    context.answer(
        "qstat -xml", stdout=qstat_xml(("100", "qw"), ("101", "r"), ("102", "t"), ("103", "s"), ("104", "Wx"))
    )
    states = machine.check_statuses(jobs)
    assert states[:5] == [JobStatus.waiting, JobStatus.running, JobStatus.running, JobStatus.waiting, JobStatus.unknown]
    assert states[5] == JobStatus.terminated  # gone, no tag
    assert context.commands[0] == 'qstat -xml -u "$(id -un)"'
    assert context.exist_queries == 1
    assert "qacct -j" in context.commands[1] and "105" in context.commands[1]
    assert len(context.commands) == 2


def test_only_active_jobs_cost_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=3, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml(("100", "r"), ("101", "qw"), ("102", "r")))
    machine.check_statuses(jobs)
    assert len(context.commands) == 1 and context.exist_queries == 0


def test_gone_jobs_settle_on_the_next_poll_from_tags_then_qacct(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=3, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml())
    context.files.add(jobs[0].finish_tag)
    context.files.update(t.finish_tag for t in jobs[1].job_task_list)  # every task tag: finished too
    context.answer(
        "for dpd_j",
        stdout="dpd_qacct 102\n"
        + QACCT.format(job=102, task="undefined", failed="100 : assumedly after job", exit="137"),
    )
    assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.finished, JobStatus.terminated]
    qacct_calls = [c for c in context.commands if "qacct" in c]
    assert len(qacct_calls) == 1 and "100" not in qacct_calls[0].split("do")[0]  # only the untagged job
    assert "was killed (SIGKILL: qdel" in machine.describe_failure(jobs[2])
    assert "failed 100, exit_status 137" in machine.describe_failure(jobs[2])


def test_timeouts_are_named(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml())
    context.answer(
        "for dpd_j",
        stdout=QACCT.format(
            job=100, task="undefined", failed="37  : qmaster enforced h_rt, h_cpu, or h_vmem limit", exit="137"
        )
        + QACCT.format(job=101, task="undefined", failed="100 : assumedly after job", exit="138"),
    )
    machine.check_statuses(jobs)
    assert "timed out" in machine.describe_failure(jobs[0]) and "h_rt" in machine.describe_failure(jobs[0])
    assert "timed out" in machine.describe_failure(jobs[1]) and "s_rt" in machine.describe_failure(jobs[1])


def test_a_job_accounting_does_not_know_yet_is_asked_again_when_described(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml())
    context.answer("for dpd_j", stdout="dpd_qacct 100\nerror: job id 100 not found\n")
    assert machine.check_statuses(jobs) == [JobStatus.terminated]
    assert machine.describe_failure(jobs[0]) == ""
    context.answer(
        "for dpd_j", stdout=QACCT.format(job=100, task="undefined", failed="26 : opening output file", exit="0")
    )
    assert "could not open its output file" in machine.describe_failure(jobs[0])


def test_no_accounting_falls_back_to_tags(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml())
    context.answer("for dpd_j", stdout="dpd_qacct 101\n/opt/sge/default/common/accounting: No such file or directory\n")
    context.files.add(jobs[0].finish_tag)
    assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.terminated]
    assert machine.describe_failure(jobs[1]) == ""


def test_error_state_is_terminated_with_its_reason_and_deleted(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml(("100", "Eqw"), ("101", "r")))
    context.answer(
        "qstat -j",
        stdout="job_number:                 100\nerror reason          1:      12/01/2026 20:23:35 [0:1]: "
        'error: can\'t open output file "/x/y.out": No such file or directory\n',
    )
    assert machine.check_statuses(jobs) == [JobStatus.terminated, JobStatus.running]
    (script,) = [c for c in context.commands if c.startswith("qstat -j")]
    assert "qstat -j 100 2>&1" in script.splitlines() and "qdel 100 >/dev/null 2>&1 || true" in script.splitlines()
    reason = machine.describe_failure(jobs[0])
    assert "Eqw" in reason and "can't open output file" in reason


def test_deleted_job_is_completing_until_gone_and_named(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml(("100", "dr")))
    assert machine.check_statuses(jobs) == [JobStatus.completing]  # its processes may still run
    context.answer("qstat -xml", stdout=qstat_xml())
    context.answer(
        "for dpd_j", stdout=QACCT.format(job=100, task="undefined", failed="100 : assumedly after job", exit="137")
    )
    assert machine.check_statuses(jobs) == [JobStatus.terminated]
    assert "was deleted (qdel; state dr)" in machine.describe_failure(jobs[0])


def test_a_job_stuck_in_deletion_ends_after_the_grace_time(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    with_ids(jobs)
    machine.deletion_grace = 0.0
    context.answer("qstat -xml", stdout=qstat_xml(("100", "dr")))
    machine.check_statuses(jobs)
    assert machine.check_statuses(jobs) == [JobStatus.terminated]  # e.g. its execution host is down


def test_transient_qstat_error_gives_unknown(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", 1, stderr="error: commlib error: got select error (Connection refused)")
    for _ in range(5):  # transient: never raised
        assert machine.check_statuses(jobs) == [JobStatus.unknown] * 2


def test_persistent_non_transient_qstat_error_is_raised(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    with_ids(jobs)
    context.answer("qstat -xml", 0, stdout="garbage that is not xml")
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    with pytest.raises(SchedulerError, match="qstat failed 3 times"):
        machine.check_statuses(jobs)


def test_array_aggregates_tasks(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "SGEJobArray", n=4, group_size=4)
    with_ids(jobs)
    context.answer("qstat -xml", stdout=qstat_xml(("100", "r", "1"), ("100", "qw", "2-4:1")))
    assert machine.check_statuses(jobs) == [JobStatus.running]
    context.answer("qstat -xml", stdout=qstat_xml(("100", "qw", "3-4:1")))
    assert machine.check_statuses(jobs) == [JobStatus.waiting]
    context.answer("qstat -xml", stdout=qstat_xml())
    context.files |= {t.finish_tag for t in jobs[0].job_task_list}
    assert machine.check_statuses(jobs) == [JobStatus.finished]


def test_array_resubmission_names_only_unfinished_tasks(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, "SGEJobArray", n=5, group_size=5, kwargs={"sge_job_size": 2})
    (job,) = jobs
    elements = SGEJobArray.elements(job)
    context.files |= {t.finish_tag for t in elements[0] + elements[2]}
    context.answer("qsub", stdout="dpd_job_id 555\n")
    assert machine.do_submit(job) == "555"
    assert f"qsub -terse -t 2 {job.script_file_name}" in context.commands[-1]


# -- submission ----------------------------------------------------------------------------------


def test_jobs_are_submitted_in_one_command(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=4, group_size=1)
    context.answer("qsub", stdout="".join(f"dpd_job_id {i}\n" for i in range(10, 14)))
    assert machine.submit_jobs(jobs) == ["10", "11", "12", "13"]
    assert len(context.commands) == 1
    assert context.commands[0].count("qsub -terse") == 4
    for job in jobs:
        assert shlex.quote(job.job_id_file) in context.commands[0]


def test_job_limit_is_a_busy_scheduler_at_once(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=3, group_size=1)
    limit = "Unable to run job: job rejected: only 1 jobs are allowed per user (current job count: 1)\nExiting."
    context.answer("qsub", 1, stdout="dpd_job_id 20\n", stderr=limit)
    with pytest.raises(SchedulerBusyError) as err:
        machine.submit_jobs(jobs)
    assert err.value.submitted == ["20"]
    assert "allowed per user" in str(err.value) and jobs[1].job_hash in str(err.value)
    assert len(context.commands) == 1  # no wait, no search: the core asks again at its next poll


def test_qmaster_trouble_is_retried_after_looking_for_a_landed_job(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=2, group_size=1)
    machine.retry_delay = 0.0
    calls: list[int] = []

    def qsub(cmd: str) -> CommandResult:
        calls.append(cmd.count("qsub -terse"))
        if len(calls) == 1:
            return CommandResult(1, "", "error: failed receiving gdi request response for mid=1 (got no message).")
        return CommandResult(0, "".join(f"dpd_job_id {30 + i}\n" for i in range(calls[-1])), "")

    context.answer("qsub", call=qsub)
    context.answer("qstat -xml", stdout=qstat_xml())
    assert machine.submit_jobs(jobs) == ["30", "31"]
    assert calls == [2, 2]
    assert any(c.startswith("qstat -xml") for c in context.commands)  # looked for the job first


def test_a_job_that_landed_despite_the_error_is_adopted(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    machine.retry_delay = 0.0
    (job,) = jobs
    context.answer("qsub", 1, stderr="error: failed receiving gdi request response for mid=1 (got no message).")
    listing = qstat_xml(("77", "qw")).replace("<JB_name>dpd_x</JB_name>", f"<JB_name>dpd_{job.job_hash[:12]}</JB_name>")
    context.answer("qstat -xml", stdout=listing)
    assert machine.do_submit(job) == "77"
    assert context.contents[job.job_id_file] == "77\n"
    assert sum("qsub -terse" in c for c in context.commands) == 1


def test_qmaster_trouble_gives_up_as_busy(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    machine.retry_delay = 0.0
    machine.submit_retries = 2
    context.answer(
        "qsub", 1, stderr='error: unable to send message to qmaster using port 6444 on host "vm": got send error'
    )
    context.answer("qstat -xml", 1, stderr="error: commlib error: got select error (Connection refused)")
    with pytest.raises(SchedulerBusyError, match="after 3 attempts"):
        machine.do_submit(jobs[0])
    assert sum("qsub -terse" in c for c in context.commands) == 3


def test_non_transient_refusal_names_the_job_and_the_message(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    context.answer("qsub", 1, stderr='Unable to run job: Job was rejected because job requests unknown queue "nope".')
    with pytest.raises(SchedulerError) as err:
        machine.do_submit(jobs[0])
    assert not isinstance(err.value, SchedulerBusyError)
    assert jobs[0].job_hash in str(err.value) and 'unknown queue "nope"' in str(err.value)
    assert len(context.commands) == 1


def test_kill_is_one_qdel(tmp_path):
    machine, context, jobs = make_jobs(tmp_path, n=3, group_size=1)
    with_ids(jobs)
    machine.kill_jobs(jobs)
    assert context.commands == ["qdel 100 101 102 >/dev/null 2>&1 || true"]


# -- the command budget --------------------------------------------------------------------------


def test_a_hundred_thousand_jobs_stay_under_the_command_budget(tmp_path):
    """qstat, the qacct script, the Eqw script and qdel for 100,000 jobs: no line over the budget."""
    machine, context, jobs = make_jobs(tmp_path, n=1, group_size=1)
    (template,) = jobs
    many = []
    for i in range(100_000):
        job = Job([Task(command="true", task_work_path=f"t{i}/")], resources=template.resources, machine=machine)
        job.register_job_id(str(1_000_000 + i))
        many.append(job)
    context.answer("qstat -xml", stdout=qstat_xml(*[(str(1_000_000 + i), "Eqw") for i in range(0, 100_000, 2)]))
    states = machine.check_statuses(many)
    assert set(states) == {JobStatus.terminated}
    machine.kill_jobs(many)
    qacct_script = next(c for c in context.commands if "qacct" in c)
    assert all(f" {1_000_000 + i} " in qacct_script or f" {1_000_000 + i};" in qacct_script for i in (1, 99_999))
    longest = max(len(line.encode()) for cmd in context.commands for line in cmd.splitlines())
    assert longest <= COMMAND_BUDGET
    assert sum(c.startswith("qstat -xml") for c in context.commands) == 1
    assert len(context.commands) == 4  # qstat, Eqw reasons + qdel, qacct, kill


# -- task names ----------------------------------------------------------------------------------


def named_jobs(tmp_path: Path, task_name: str, n: int = 2, **res) -> tuple[SGE, ScriptedContext, list[Job]]:
    context = ScriptedContext(tmp_path, SUBMIT)
    machine = Machine(batch_type="SGE", context=context)
    assert isinstance(machine, SGE)
    tasks = [Task(command=f"echo {i}", task_work_path=f"t{i}/", task_name=task_name) for i in range(n)]
    submission = Submission("wb", machine=machine, resources=resources(**{"group_size": 1, **res}), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    return machine, context, submission.belonging_jobs


def test_a_one_task_job_is_named_by_its_task_name_after_the_kwarg(tmp_path):
    machine, _, (job, _) = named_jobs(tmp_path, "3 relax Si; rm -rf ~")
    # 1.1.0: kwargs.job_name, else Job.get_scheduler_name(128, require_alpha_prefix=True) (run with /work/pub110)
    assert "#$ -N j-3-relax-Si-rm--rf" in machine.gen_script(job).splitlines()
    machine, _, (job, _) = named_jobs(tmp_path / "kw", "relax", kwargs={"job_name": "mine"})
    assert "#$ -N mine" in machine.gen_script(job).splitlines()
    machine, _, (job,) = named_jobs(tmp_path / "grouped", "relax", n=2, group_size=2)
    assert f"#$ -N dpd_{job.job_hash[:12]}" in machine.gen_script(job).splitlines()


QSTAT_J = """==============================================================
job_number:                 {job}
exec_file:                  job_scripts/{job}
owner:                      me
sge_o_workdir:              /home/me
cwd:                        {cwd}
stdout_path_list:           NONE:NONE:{out}
job_name:                   relax
"""


def test_lost_answer_tells_jobs_of_one_task_name_apart_by_their_stdout_file(tmp_path):
    machine, context, (first, second) = named_jobs(tmp_path, "relax")
    machine.retry_delay = 0.0
    machine.submit_retries = 0
    context.answer("qsub", 1, stderr="error: failed receiving gdi request response for mid=1 (got no message).")
    listing = qstat_xml(("90", "qw"), ("91", "qw"), ("92", "qw")).replace(
        "<JB_name>dpd_x</JB_name>", "<JB_name>relax</JB_name>"
    )
    context.answer("qstat -xml", stdout=listing)
    details = (
        QSTAT_J.format(job=90, cwd="/elsewhere", out=f"{second.job_hash}.out")  # the same job in another job root
        + QSTAT_J.format(job=91, cwd=context.remote_root, out=f"{first.job_hash}.out")  # the other job of that name
        + QSTAT_J.format(job=92, cwd="/physical/root", out=f"{second.job_hash}.out")  # this job, by its physical root
    )
    context.answer("pwd -P", stdout="/physical/root\n" + details)
    assert machine.submit_jobs([second]) == ["92"]
    assert context.commands[-1] == "pwd -P && qstat -j 90,91,92 2>/dev/null"
    assert machine.submit_jobs([first]) == ["91"]
    context.answer("pwd -P", stdout="/physical/root\n" + QSTAT_J.format(job=91, cwd="/x", out=f"{first.job_hash}.out"))
    with pytest.raises(SchedulerBusyError):  # none writes this job's file there: none is adopted
        machine.submit_jobs([first])
