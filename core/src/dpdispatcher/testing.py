"""Contract tests every machine and context plugin inherits.

A plugin's test module subclasses these and provides one fixture::

    from dpdispatcher.testing import MachineContract

    class TestMyScheduler(MachineContract):
        @pytest.fixture
        def machine(self, tmp_path):
            return Machine.load_from_dict({"batch_type": "MyScheduler", "context_type": "LocalContext",
                                           "local_root": str(tmp_path / "local"),
                                           "remote_root": str(tmp_path / "remote")})

The tests run real submissions through the plugin, so a third-party plugin gets
the same checks as the ones in this repository. Requires pytest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.plugins import get_registry
from dpdispatcher.resources import Resources
from dpdispatcher.submission import Submission
from dpdispatcher.task import Task

#: check_interval used by contract runs; the core's poll loop backs off up to it
CONTRACT_CHECK_INTERVAL = 1


def make_work_base(root: Path, n_tasks: int) -> Path:
    """A work base with ``n_tasks`` task directories, each holding an ``in.txt``."""
    for i in range(n_tasks):
        task_dir = root / f"task {i}"
        task_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / "in.txt").write_text(f"input {i}\n")
    (root / "common.txt").write_text("common\n")
    return root


def copy_tasks(n_tasks: int, command: str = "cat in.txt ../common.txt > out.txt") -> list[Task]:
    return [
        Task(command=command, task_work_path=f"task {i}/", forward_files=["in.txt"], backward_files=["out.txt"])
        for i in range(n_tasks)
    ]


class MachineContract:
    """What every batch type must do. Subclasses provide a ``machine`` fixture.

    The machine's context must have ``local_root`` as the directory under which
    the contract may create its work base.
    """

    resources_dict: dict = {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 2}

    @pytest.fixture
    def machine(self, tmp_path: Path) -> Machine:
        raise NotImplementedError("subclasses provide a `machine` fixture")

    def _submission(self, machine: Machine, tasks: list[Task], name: str) -> Submission:
        resources = Resources.load_from_dict({**self.resources_dict, "batch_type": type(machine).__name__})
        work_base = Path(machine.context.init_local_root) / name
        make_work_base(work_base, len(tasks))
        return Submission(
            work_base=name, machine=machine, resources=resources, task_list=tasks, forward_common_files=["common.txt"]
        )

    def test_registered_under_its_class_name(self, machine: Machine) -> None:
        name = type(machine).__name__
        assert get_registry().machine_class(name) is type(machine)
        assert get_registry().machine_class(name.upper()) is type(machine)

    def test_script_generation_is_deterministic(self, machine: Machine) -> None:
        submission = self._submission(machine, copy_tasks(3), "determinism")
        submission.generate_jobs()
        machine.context.bind_submission(submission)
        for job in submission.belonging_jobs:
            first = machine.gen_script(job)
            assert first == machine.gen_script(job)
            for task in job.job_task_list:
                assert task.command in first

    def test_runs_tasks_and_brings_files_back(self, machine: Machine) -> None:
        submission = self._submission(machine, copy_tasks(5), "runs")
        submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        work_base = Path(machine.context.local_root)
        for i in range(5):
            assert (work_base / f"task {i}" / "out.txt").read_text() == f"input {i}\ncommon\n"
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)

    def test_check_statuses_answers_in_order(self, machine: Machine) -> None:
        submission = self._submission(machine, copy_tasks(4), "statuses")
        submission.run_submission(exit_on_submit=True)
        jobs = submission.belonging_jobs
        states = machine.check_statuses(jobs)
        assert len(states) == len(jobs)
        assert all(isinstance(s, JobStatus) for s in states)
        submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL, clean=False)
        assert machine.check_statuses(jobs) == [JobStatus.finished] * len(jobs)

    def test_failing_task_is_retried_then_reported(self, machine: Machine) -> None:
        machine.retry_count = 1
        tasks = copy_tasks(2)
        tasks.append(Task(command="echo broken-input >&2; exit 3", task_work_path="task 2/", forward_files=["in.txt"]))
        submission = self._submission(machine, tasks, "failing")
        with pytest.raises(SubmissionFailedError) as err:
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        message = str(err.value)
        assert os.path.join(machine.context.local_root, "task 2/") in message
        assert "broken-input" in message
        assert "exit code 3" in message
        for i in range(2):  # the tasks that succeeded still bring their results back
            assert (Path(machine.context.local_root) / f"task {i}" / "out.txt").exists()


class ContextContract:
    """What every context must do. Subclasses provide a ``context`` fixture.

    The fixture returns an unbound context whose ``local_root`` is an empty
    directory the contract may fill.
    """

    @pytest.fixture
    def context(self, tmp_path: Path) -> BaseContext:
        raise NotImplementedError("subclasses provide a `context` fixture")

    @pytest.fixture
    def bound(self, context: BaseContext) -> BaseContext:
        local = Path(context.init_local_root) / "work"
        make_work_base(local, 3)
        (local / "task 0" / "sub dir").mkdir()
        (local / "task 0" / "sub dir" / "deep.txt").write_text("deep\n")
        for name in ("a.dat", "b.dat"):
            (local / "task 1" / name).write_text(name)
        submission = Submission(
            "work", resources=Resources(group_size=1), task_list=copy_tasks(3), forward_common_files=["common.txt"]
        )
        context.bind_submission(submission)
        yield context
        context.clean()
        context.close()

    def test_registered(self, context: BaseContext) -> None:
        name = type(context).__name__
        assert get_registry().context_class(name) is type(context)
        assert get_registry().context_class(name.lower().removesuffix("context")) is type(context)

    def test_upload_makes_files_visible_remotely(self, bound: BaseContext) -> None:
        files = ["task 0/in.txt", "task 0/sub dir", "task 1/a.dat", "task 1/b.dat", "common.txt"]
        bound.upload_files(files, dirs=["task 2"])
        assert bound.files_exist(
            ["task 0/in.txt", "task 0/sub dir/deep.txt", "task 1/b.dat", "common.txt", "nope"]
        ) == {
            "task 0/in.txt",
            "task 0/sub dir/deep.txt",
            "task 1/b.dat",
            "common.txt",
        }
        assert bound.read_file("task 0/sub dir/deep.txt") == "deep\n"
        assert bound.run("test -d 'task 2'").returncode == 0

    def test_write_read_and_run(self, bound: BaseContext) -> None:
        bound.write_files({"a file.txt": "one\n", "b.txt": "two\n"})
        assert bound.read_file("a file.txt") == "one\n"
        assert bound.check_file_exists("b.txt")
        assert not bound.check_file_exists("c.txt")
        result = bound.run("cat 'a file.txt' b.txt; echo err >&2; exit 4")
        assert (result.returncode, result.stdout, result.stderr.strip()) == (4, "one\ntwo\n", "err")

    def test_download_brings_back_globs_and_dirs_and_reports_missing(self, bound: BaseContext) -> None:
        bound.upload_files(["task 0/in.txt"], dirs=["task 0", "task 1"])
        bound.run(
            "mkdir -p 'task 0/res dir' && echo r > 'task 0/res dir/r.txt' && echo x > 'task 1/x 1.out' && echo y > 'task 1/y.out'"
        )
        missing = bound.download_files(["task 0/res dir", "task 1/*.out", "task 1/absent.txt"])
        assert missing == ["task 1/absent.txt"]
        local = Path(bound.local_root)
        assert (local / "task 0" / "res dir" / "r.txt").read_text() == "r\n"
        assert (local / "task 1" / "x 1.out").read_text() == "x\n"
        assert (local / "task 1" / "y.out").read_text() == "y\n"
