"""DpCloudServer end to end against the DP cloud TEST DOUBLE: results, failures, an expired token, 5xx answers,
time-outs, a hostile result archive, the password kept secret, adoption on a re-run, one listing call per poll."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from conftest import PASSWORD, cloud_machine, machine_dict
from doubles.dpcloudserver.server import CloudDouble

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import SchedulerError, SubmissionFailedError, UnsafePathError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher_dpcloudserver import settings

pytestmark = pytest.mark.dpcloudserver

JOB_ADD = "POST /brm/v2/job/add"
LISTING = "GET /brm/v1/job/list"
LOGIN = "POST /account/login"


def submission(
    machine: Machine, n: int, command: str = "cat in.txt ../common.txt > out.txt", **resources: object
) -> Submission:
    work_base = Path(machine.context.init_local_root) / "work"
    for i in range(n):
        (work_base / f"t{i}").mkdir(parents=True, exist_ok=True)
        (work_base / f"t{i}" / "in.txt").write_text(f"input {i}\n")
    (work_base / "common.txt").write_text("common\n")
    tasks = [
        Task(command=command, task_work_path=f"t{i}/", forward_files=["in.txt"], backward_files=["out.txt"])
        for i in range(n)
    ]
    return Submission(
        work_base="work",
        machine=machine,
        resources=Resources.load_from_dict({"group_size": 1, **resources}),
        task_list=tasks,
        forward_common_files=["common.txt"],
    )


def outputs(machine: Machine, n: int) -> list[str]:
    return [(Path(machine.context.local_root) / f"t{i}" / "out.txt").read_text() for i in range(n)]


def test_a_submission_runs_on_the_double_and_brings_results_back(tmp_path: Path, cloud_double: CloudDouble) -> None:
    """Three jobs, the manual's machine config under the Bohrium alias: every result comes back, each job was
    created once with the input_data the manual lists, all in one job group."""
    config = machine_dict(tmp_path)
    config["batch_type"], config["context_type"] = "Bohrium", "BohriumContext"
    (tmp_path / "local").mkdir()
    machine = Machine.load_from_dict(config)
    sub = submission(machine, 3)
    sub.run_submission(check_interval=0.2)
    assert outputs(machine, 3) == [f"input {i}\ncommon\n" for i in range(3)]
    assert cloud_double.count(JOB_ADD) == 3
    jobs = list(cloud_double.jobs.values())
    assert {job.group_id for job in jobs} == {jobs[0].group_id}
    assert {job.name for job in jobs} == {"dpd-test"}
    assert all(job.command.startswith("bash ") and job.command.endswith(".sub") for job in jobs)
    assert cloud_double.count(LOGIN) == 1  # one login for the whole run


def test_a_failing_task_is_reported_with_its_errlog(tmp_path: Path, cloud_double: CloudDouble) -> None:
    """A task that keeps failing on the cloud ends the run naming it, its exit code and the tail of its errlog
    (brought back in the job's result archive); the other tasks' results are downloaded."""
    machine = cloud_machine(tmp_path)
    machine.retry_count = 1
    command = 'if [ "$(cat in.txt)" = "input 1" ]; then echo bad-input-1 >&2; exit 7; fi; cp in.txt out.txt'
    sub = submission(machine, 3, command=command)
    with pytest.raises(SubmissionFailedError) as err:
        sub.run_submission(check_interval=0.2)
    message = str(err.value)
    assert "t1" in message and "exit code 7" in message and "bad-input-1" in message
    assert "scheduler: the DP cloud reported exit code 1" in message  # the job script: a task failed
    local = Path(machine.context.local_root)
    assert (local / "t0" / "out.txt").read_text() == "input 0\n"
    assert (local / "t2" / "out.txt").read_text() == "input 2\n"
    assert cloud_double.count(JOB_ADD) == 4  # three jobs and one retry of the failing one


def test_an_expired_token_costs_one_login_and_the_run_goes_on(tmp_path: Path, cloud_double: CloudDouble) -> None:
    machine = cloud_machine(tmp_path)
    sub = submission(machine, 2, command="sleep 1; cp in.txt out.txt")
    sub.run_submission(exit_on_submit=True)
    assert cloud_double.count(LOGIN) == 1
    cloud_double.expire_tokens()
    sub.run_submission(check_interval=0.2)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert cloud_double.count(LOGIN) == 2


def test_5xx_answers_are_retried(tmp_path: Path, cloud_double: CloudDouble) -> None:
    """A listing answered 502 twice and a job creation answered 503 once are asked again; the job is created once."""
    cloud_double.fail_next(LISTING, status=502, times=2)
    cloud_double.fail_next(JOB_ADD, status=503, times=1)
    machine = cloud_machine(tmp_path)
    submission(machine, 1).run_submission(check_interval=0.2)
    assert outputs(machine, 1) == ["input 0\ncommon\n"]
    assert len(cloud_double.jobs) == 1
    assert cloud_double.count(JOB_ADD) == 2


def test_a_job_creation_that_times_out_is_a_clear_error_and_not_sent_twice(
    tmp_path: Path, cloud_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double creates the job but answers later than the client waits: the run ends saying the call may have
    taken effect; the job is not created a second time."""
    monkeypatch.setenv(settings.TIMEOUT_ENV, "0.5")
    cloud_double.hang_next(JOB_ADD, seconds=1.5)
    machine = cloud_machine(tmp_path)
    with pytest.raises(SchedulerError) as err:
        submission(machine, 1).run_submission(check_interval=0.2)
    assert "no answer within 0.5 s" in str(err.value)
    assert "may or may not have carried it out" in str(err.value)
    assert cloud_double.count(JOB_ADD) == 1


def test_a_listing_that_keeps_timing_out_ends_the_run_with_a_clear_error(
    tmp_path: Path, cloud_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.TIMEOUT_ENV, "0.2")
    machine = cloud_machine(tmp_path)
    sub = submission(machine, 1, command="sleep 1; cp in.txt out.txt")
    sub.run_submission(exit_on_submit=True)
    cloud_double.hang_next(LISTING, seconds=0.4, times=100)
    with pytest.raises(SchedulerError) as err:
        sub.run_submission(check_interval=0.1)
    assert "did not answer 3 polls in a row" in str(err.value)
    assert "no answer within 0.2 s" in str(err.value)


def test_a_hostile_result_archive_is_refused_and_nothing_lands_outside(
    tmp_path: Path, cloud_double: CloudDouble
) -> None:
    cloud_double.hostile_result("../../../escaped.txt")
    cloud_double.hostile_result("t0/link", link_to="../../../../")
    machine = cloud_machine(tmp_path)
    sub = submission(machine, 1)
    with pytest.raises(UnsafePathError) as err:
        sub.run_submission(check_interval=0.2)
    assert "'../../../escaped.txt' (a '..' component)" in str(err.value)
    assert "'t0/link' (a link to '../../../../', outside the directory)" in str(err.value)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(tmp_path.rglob("link"))
    assert not (Path(machine.context.remote_root) / "t0" / "out.txt").exists()  # nothing of it was extracted


def test_the_password_is_in_no_record_log_or_error(
    tmp_path: Path, cloud_double: CloudDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    machine = cloud_machine(tmp_path)
    sub = submission(machine, 2)
    sub.run_submission(check_interval=0.2, clean=False)
    wrong = cloud_machine(tmp_path / "other", password="Not-The-Password-42")
    with pytest.raises(SchedulerError) as err:
        submission(wrong, 1).run_submission(check_interval=0.2)
    assert "refused the login of scientist@example.org" in str(err.value)
    assert "2104 (PWDERR)" in str(err.value)
    texts = [str(err.value), caplog.text, repr(machine.context.api)]
    for root in (Path(os.environ["DPDISPATCHER_HOME"]), tmp_path / "staging", tmp_path / "other"):
        texts += [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file()]
    assert caplog.text  # the client logged at DEBUG
    for secret in (PASSWORD, "Not-The-Password-42"):
        assert not [t for t in texts if secret in t]


def test_the_password_can_come_from_the_environment(
    tmp_path: Path, cloud_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.PASSWORD_ENV, PASSWORD)
    config = machine_dict(tmp_path)
    del config["remote_profile"]["password"]
    (tmp_path / "local").mkdir()
    machine = Machine.load_from_dict(config)
    submission(machine, 1).run_submission(check_interval=0.2)
    assert outputs(machine, 1) == ["input 0\ncommon\n"]


def test_no_password_at_all_names_both_places(tmp_path: Path, cloud_double: CloudDouble) -> None:
    config = machine_dict(tmp_path)
    del config["remote_profile"]["password"]
    (tmp_path / "local").mkdir()
    with pytest.raises(
        SchedulerError, match=f"remote_profile/password or the environment variable {settings.PASSWORD_ENV}"
    ):
        submission(Machine.load_from_dict(config), 1).run_submission(check_interval=0.2)
    assert cloud_double.count(JOB_ADD) == 0


def test_a_rerun_adopts_the_recorded_job_ids(tmp_path: Path, cloud_double: CloudDouble) -> None:
    """A driver stopped after submitting, its record gone: a new driver reads the ids recorded in the job root
    and creates nothing."""
    machine = cloud_machine(tmp_path)
    first = submission(machine, 2, command="sleep 1; cp in.txt out.txt")
    first.run_submission(exit_on_submit=True)
    ids = sorted(job.job_id for job in first.belonging_jobs)
    assert all(":job_group_id:" in i for i in ids)
    (Path(os.environ["DPDISPATCHER_HOME"]) / "submission" / f"{first.submission_hash}.json").unlink()
    (Path(machine.context.remote_root) / f"{first.submission_hash}.json").unlink()
    again = cloud_machine(tmp_path)
    second = submission(again, 2, command="sleep 1; cp in.txt out.txt")
    second.run_submission(check_interval=0.2)
    assert sorted(job.job_id for job in second.belonging_jobs) == ids
    assert cloud_double.count(JOB_ADD) == 2


def test_one_listing_call_answers_a_poll_of_every_job(tmp_path: Path, cloud_double: CloudDouble) -> None:
    machine = cloud_machine(tmp_path)
    sub = submission(machine, 6, command="sleep 1; cp in.txt out.txt")
    sub.run_submission(exit_on_submit=True)
    before = list(cloud_double.calls)
    states = machine.check_statuses(sub.belonging_jobs)
    calls = cloud_double.calls[len(before) :]
    assert calls == [LISTING]
    assert set(states) <= {JobStatus.waiting, JobStatus.running}
    sub.run_submission(check_interval=0.2)
    assert len(outputs(machine, 6)) == 6
