"""With clean=True a finished job's files leave the job root during the run, once its results are back and recorded."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from helpers import copy_submission, local_machine

from dpdispatcher import Resources, Submission, Task
from dpdispatcher.early_clean import separate_task_dirs
from dpdispatcher.records import record_path
from dpdispatcher.testing import ScriptedContext

#: t0 ends at once; every other task waits for the test's release file
HELD = "[ $(basename $PWD) = t0 ] || while [ ! -f {release} ]; do sleep 0.05; done; cp in.txt out.txt"


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def recorded_downloads(submission: Submission) -> int:
    try:
        record = json.loads(record_path(submission.submission_hash).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return [next(iter(j.values())).get("downloaded", False) for j in record["belonging_jobs"]].count(True)


def start(submission: Submission, **kwargs) -> threading.Thread:
    runner = threading.Thread(target=submission.run_submission, kwargs={"check_interval": 0.2, **kwargs})
    runner.start()
    return runner


def test_separate_task_dirs_are_those_no_other_task_or_common_file_touches():
    dirs = ["a", "b/", "b", "c", "c/d", "e/f", "g/h", "g/i", "x/y", ".", "k"]
    assert separate_task_dirs(dirs, ["k/common.in", "top.in"]) == {"a", "e/f", "g/h", "g/i", "x/y"}
    # b: two tasks share it; c contains c/d and c/d lies in c; ".": the job root; k holds a common file
    assert separate_task_dirs(["t0", "t1"], ["t1"]) == {"t0"}  # a common file named like a task directory


def test_a_finished_jobs_files_go_while_another_job_runs(tmp_path):
    machine = local_machine(tmp_path)
    release = tmp_path / "release"
    submission = copy_submission(machine, n=2, group_size=1, command=HELD.format(release=release))
    runner = start(submission)
    try:
        root = Path(machine.context.remote_root)
        quick_job = next(j for j in submission.belonging_jobs if j.job_task_list[0].task_work_path == "t0/")
        quick_task = quick_job.job_task_list[0]
        result = tmp_path / "local" / "wb" / "t0" / "out.txt"
        assert wait_for(lambda: result.exists() and not (root / "t0").exists())
        # its result was back and recorded before it went; the other job's files are untouched
        assert result.read_text() == "0\n"
        assert recorded_downloads(submission) == 1
        assert not (root / quick_task.finish_tag).exists()
        assert not (root / quick_job.script_file_name).exists()
        assert (root / quick_job.finish_tag).exists()  # one file per job stays until the end
        assert (root / "t1" / "in.txt").exists()
    finally:
        release.touch()
        runner.join(60)
    assert (tmp_path / "local" / "wb" / "t1" / "out.txt").read_text() == "1\n"
    assert not Path(machine.context.remote_root).exists()


def test_lazy_local_keeps_the_users_task_directories_and_removes_only_what_it_wrote(tmp_path):
    machine = local_machine(tmp_path, context="LazyLocalContext")
    release = tmp_path / "release"
    submission = copy_submission(machine, n=2, group_size=1, command=HELD.format(release=release))
    runner = start(submission)
    try:
        base = tmp_path / "local" / "wb"
        quick_job = next(j for j in submission.belonging_jobs if j.job_task_list[0].task_work_path == "t0/")
        assert wait_for(
            lambda: not (base / quick_job.job_task_list[0].finish_tag).exists() and recorded_downloads(submission) == 1
        )
        assert not (base / quick_job.script_file_name).exists()
        assert sorted(p.name for p in (base / "t0").iterdir()) == [
            "err",
            "in.txt",
            "log",
            "out.txt",
        ]  # the task logs stay, as published
    finally:
        release.touch()
        runner.join(60)
    assert sorted(p.name for p in base.iterdir()) == ["t0", "t1"]


def test_with_clean_false_nothing_leaves_the_job_root(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=3, group_size=1)
    submission.run_submission(check_interval=0.2, clean=False)
    root = Path(machine.context.remote_root)
    assert all((root / f"t{i}" / "out.txt").exists() for i in range(3))
    assert all((root / task.finish_tag).exists() for task in submission.belonging_tasks)


def test_a_task_directory_two_jobs_share_stays_until_both_are_done(tmp_path):
    machine = local_machine(tmp_path)
    release = tmp_path / "release"
    work = tmp_path / "local" / "wb" / "shared"
    work.mkdir(parents=True)
    tasks = [
        Task(command="echo quick > quick.txt", task_work_path="shared/", backward_files=["quick.txt"]),
        Task(
            command=f"while [ ! -f {release} ]; do sleep 0.05; done; echo slow > slow.txt",
            task_work_path="shared/",
            backward_files=["slow.txt"],
        ),
    ]
    resources = Resources.load_from_dict({"group_size": 1})
    submission = Submission("wb", machine=machine, resources=resources, task_list=tasks)
    runner = start(submission)
    try:
        assert wait_for(lambda: recorded_downloads(submission) == 1)
        time.sleep(0.5)  # a poll or two after the record: the quick job's removal has happened
        assert (Path(machine.context.remote_root) / "shared").is_dir()
    finally:
        release.touch()
        runner.join(60)
    assert (work / "quick.txt").read_text() == "quick\n"
    assert (work / "slow.txt").read_text() == "slow\n"


def test_a_failed_removal_is_a_warning_and_everything_goes_at_the_end(tmp_path, monkeypatch, caplog):
    machine = local_machine(tmp_path)
    context = machine.context

    def refuse(generated, task_dirs):
        raise PermissionError(13, "Permission denied", "t0")

    monkeypatch.setattr(context, "clean_finished", refuse)
    release = tmp_path / "release"
    submission = copy_submission(machine, n=2, group_size=1, command=HELD.format(release=release))
    with caplog.at_level(logging.WARNING, logger="dpdispatcher"):
        runner = start(submission)
        try:
            assert wait_for(lambda: "could not remove the files of 1 finished job(s) yet" in caplog.text)
        finally:
            release.touch()
            runner.join(60)
    assert "Permission denied" in caplog.text
    assert [(tmp_path / "local" / "wb" / f"t{i}" / "out.txt").read_text() for i in range(2)] == ["0\n", "1\n"]
    assert not Path(context.remote_root).exists()


def test_the_default_removal_is_one_script_of_rm_over_the_context(tmp_path):
    context = ScriptedContext(tmp_path)
    names = [f"task.{i:05d}_tag" for i in range(5000)]
    context.clean_finished(names, ["dir with space", "-starts-with-dash"])
    assert len(context.commands) == 1
    lines = context.commands[0].splitlines()
    assert len(lines) > 1 and all(line.startswith("rm -rf -- ") and len(line) <= 32 * 1024 for line in lines)
    assert "'dir with space' -starts-with-dash" in context.commands[0]


def test_nothing_to_remove_runs_nothing(tmp_path):
    context = ScriptedContext(tmp_path)
    context.clean_finished([], [])
    assert context.commands == []
