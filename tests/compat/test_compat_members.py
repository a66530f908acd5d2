"""The members kept only for the published API (dpdispatcher._compat) still do what they did."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_submission, local_machine

from dpdispatcher.errors import SchedulerError
from dpdispatcher.JobStatus import JobStatus


@pytest.fixture
def ran(tmp_path):
    """A submission run to the end with its job root kept."""
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=2, group_size=2)
    submission.run_submission(clean=False)
    return machine, submission


def test_bind_submission_and_get_job_root(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine)
    machine.context.bind_submission(submission)
    assert machine.context.get_job_root() == str(tmp_path / "remote" / submission.submission_hash)
    assert machine.context.local_root == str(tmp_path / "local" / "wb")


def test_upload_and_download_take_a_submission(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=2)
    submission.generate_jobs()
    machine.context.upload(submission)
    remote = Path(machine.context.remote_root)
    assert (remote / "t1" / "in.txt").read_text() == "1\n"
    (remote / "t0" / "out.txt").write_text("a")
    (remote / "t1" / "out.txt").write_text("b")
    machine.context.download(submission)
    assert (tmp_path / "local" / "wb" / "t1" / "out.txt").read_text() == "b"


def test_block_call_and_block_checkcall_return_the_published_shapes(tmp_path):
    machine = local_machine(tmp_path)
    machine.context.bind_submission(copy_submission(machine))
    code, stdin, stdout, stderr = machine.context.block_call("echo out; echo err >&2; exit 3")
    assert (code, stdin, stdout.read(), stderr.readlines()) == (3, None, b"out\n", ["err\n"])
    _, stdout, _ = machine.context.block_checkcall("echo fine")
    assert stdout.read() == b"fine\n"
    with pytest.raises(SchedulerError, match="exit code 2"):
        machine.context.block_checkcall("exit 2")


def test_gen_script_wait_check_finish_tag_and_check_if_recover(ran):
    machine, submission = ran
    job = submission.belonging_jobs[0]
    assert machine.gen_script_wait(submission.resources) == "wait"
    assert machine.check_finish_tag(job)
    assert machine.check_if_recover(submission)  # the job root holds the record
    Path(machine.context.remote_root, job.finish_tag).unlink()
    assert not machine.check_finish_tag(job)


def test_one_job_forms_wrap_the_batch_primitives(ran):
    machine, submission = ran
    job = submission.belonging_jobs[0]
    assert machine.check_status(job) == JobStatus.finished
    assert job.get_job_state() == JobStatus.finished
    machine.kill(job)  # a finished job: nothing to signal, no error
