"""LocalContext: results are whole or absent, never read through a link out of the job root; paths stay inside."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers import copy_submission, local_machine, write_tasks

from dpdispatcher import Resources, Submission, Task
from dpdispatcher.errors import DiskFullError, SchedulerError, UnsafePathError
from dpdispatcher_local.copying import bring_back, link_roots


def test_a_backward_link_out_of_the_job_root_is_refused_and_the_rest_arrives(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    machine = local_machine(tmp_path)
    write_tasks(tmp_path / "local" / "wb", 2)
    tasks = [
        Task(command=f"ln -s {secret} out.txt", task_work_path="t0/", backward_files=["out.txt"]),
        # ends well after t0's job: t0's refused link must not stop the run before t1's results are streamed back
        Task(
            command="sleep 2; echo fine > out.txt; ln -s out.txt also.txt",
            task_work_path="t1/",
            backward_files=["*.txt"],
        ),
    ]
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=tasks)
    with pytest.raises(UnsafePathError) as err:
        submission.run_submission()
    assert f"t0/out.txt -> {secret} (outside the job root and the work base)" in str(err.value)
    local = tmp_path / "local" / "wb"
    assert not (local / "t0" / "out.txt").exists()  # never read through the link
    assert (local / "t1" / "out.txt").read_text() == "fine\n"
    # a link inside the job root arrives as what it points to, as the published package brings it
    assert not (local / "t1" / "also.txt").is_symlink() and (local / "t1" / "also.txt").read_text() == "fine\n"


def test_a_link_inside_a_result_directory_follows_the_same_rule(tmp_path):
    root, base = tmp_path / "root", tmp_path / "base"
    (root / "res").mkdir(parents=True)
    (root / "res" / "data").write_text("d")
    (root / "res" / "inside").symlink_to("data")
    (root / "res" / "outside").symlink_to("/etc/hostname")
    assert bring_back(str(root), str(base), "res", link_roots(str(root), str(base))) == [
        "res/outside -> /etc/hostname (outside the job root and the work base)"
    ]
    assert (base / "res" / "data").read_text() == "d" and (base / "res" / "inside").read_text() == "d"
    assert not (base / "res" / "inside").is_symlink() and not (base / "res" / "outside").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only); unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_local_disk_is_one_clear_error_and_leaves_no_truncated_result(tmp_path, small_disk):
    root, base = tmp_path / "root", small_disk
    (root / "a").mkdir(parents=True)
    (root / "a" / "small.txt").write_text("s" * 1000)
    (root / "b").mkdir()
    (root / "b" / "big.dat").write_bytes(b"x" * (3 << 20))
    assert bring_back(str(root), str(base), "a/small.txt", link_roots(str(root), str(base))) == []
    with pytest.raises(DiskFullError) as err:
        bring_back(str(root), str(base), "b/big.dat", link_roots(str(root), str(base)))
    assert str(base / "b" / "big.dat") in str(err.value) and f"{3 << 20} bytes needed" in str(err.value)
    assert not (base / "b" / "big.dat").exists()  # whole or absent
    assert [p.name for p in (base / "b").iterdir()] == []  # no temporary file left behind
    assert (base / "a" / "small.txt").read_text() == "s" * 1000  # what came before is whole
    subprocess.run(["mount", "-o", "remount,size=8m", str(base)], check=True)
    assert (
        bring_back(str(root), str(base), "b/big.dat", link_roots(str(root), str(base))) == []
    )  # space freed: the re-run completes
    assert (base / "b" / "big.dat").stat().st_size == 3 << 20


def test_a_work_base_outside_local_root_is_refused_before_anything_runs(tmp_path):
    for work_base in ("../elsewhere", str(tmp_path / "elsewhere")):
        submission = copy_submission(local_machine(tmp_path), n=1)
        submission.work_base = work_base
        with pytest.raises(UnsafePathError, match="outside machine/local_root"):
            submission.run_submission()
    assert not (tmp_path / "remote").exists()


def test_a_job_whose_id_cannot_be_recorded_is_cancelled_not_left_untracked(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=1, group_size=1, command="sleep 30; cp in.txt out.txt")
    submission.run_submission(dry_run=True)
    (job,) = submission.belonging_jobs
    (Path(machine.context.remote_root) / job.job_id_file).mkdir()  # the id cannot be written there
    with pytest.raises(SchedulerError, match="could not be recorded") as err:
        machine.submit_jobs([job])
    job_id = str(err.value).split(" as ")[1].split()[0]
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{job_id}") and time.monotonic() < deadline:
        time.sleep(0.05)
    state = Path(f"/proc/{job_id}/stat").read_text().split(") ")[-1][0] if os.path.exists(f"/proc/{job_id}") else "gone"
    assert state in ("gone", "Z")  # the job was cancelled
