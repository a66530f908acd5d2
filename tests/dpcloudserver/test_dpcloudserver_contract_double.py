"""The core's contract suites for DpCloudServer and DpCloudServerContext, against the DP cloud TEST DOUBLE."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import machine_dict
from doubles.dpcloudserver.server import CloudDouble

from dpdispatcher import BaseContext, Machine
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import (
    CONTRACT_CHECK_INTERVAL,
    COPY,
    ContextContract,
    MachineContract,
    copy_tasks,
    wait_until,
)

pytestmark = pytest.mark.dpcloudserver


class TestDpCloudServerAgainstTheCloudDouble(MachineContract):
    many_jobs = 20
    wait_bound = 30

    @pytest.fixture
    def machine(self, tmp_path: Path, cloud_double: CloudDouble) -> Machine:
        self.double = cloud_double
        (tmp_path / "local").mkdir()
        return Machine.load_from_dict(machine_dict(tmp_path))

    def _release(self, machine: Machine) -> None:
        """Held tasks wait for ``release`` in their job root: on the cloud, that is each job's folder there."""
        self.double.release()

    def test_waiting_and_running_states(self, machine: Machine) -> None:
        """The contract's check, with the tasks' ``started`` files looked for where the cloud runs them (the
        double's job folders): a cloud job's files come back only when it ended."""
        submission = self._submission(machine, copy_tasks(2, self._held(COPY)), "states", group_size=2)
        with self._stopped_on_failure(machine, submission):
            submission.run_submission(exit_on_submit=True)
            jobs = submission.belonging_jobs
            seen: list[JobStatus] = []

            def started() -> bool:
                seen.extend(machine.check_statuses(jobs))
                running = list(self.double.jobs.values())
                return len(running) == len(jobs) and all(any(job.work.glob("*/started")) for job in running)

            wait_until(started, "the first task of each cloud job to start", self.wait_bound, interval=0.2)
            assert set(seen) <= {JobStatus.waiting, JobStatus.running}, seen
            assert machine.check_statuses(jobs) == [JobStatus.running] * len(jobs)
            self._release(machine)
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
        for i in range(2):
            assert self._local(machine, f"task {i}", "out.txt").read_text() == f"input {i}\ncommon\n"


class TestDpCloudServerContext(ContextContract):
    many_files = 300

    @pytest.fixture
    def context(self, tmp_path: Path) -> BaseContext:
        (tmp_path / "local").mkdir()
        config = machine_dict(tmp_path)
        return BaseContext.load_from_dict(
            {key: config[key] for key in ("context_type", "local_root", "remote_root", "remote_profile")}
        )
