"""The core's contract suites for DpCloudServer and DpCloudServerContext, against the DP cloud TEST DOUBLE."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import machine_dict
from doubles.dpcloudserver.server import CloudDouble

from dpdispatcher import BaseContext, Machine
from dpdispatcher.job import Job
from dpdispatcher.testing import (
    ContextContract,
    MachineContract,
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

    def _tasks_started(self, machine: Machine, jobs: list[Job]) -> bool:
        """A cloud job's files come back only when it ended: look in the double's job folders, where it runs."""
        running = list(self.double.jobs.values())
        return len(running) == len(jobs) and all(any(job.work.glob("*/started")) for job in running)


class TestDpCloudServerContext(ContextContract):
    many_files = 300

    @pytest.fixture
    def context(self, tmp_path: Path) -> BaseContext:
        (tmp_path / "local").mkdir()
        config = machine_dict(tmp_path)
        return BaseContext.load_from_dict(
            {key: config[key] for key in ("context_type", "local_root", "remote_root", "remote_profile")}
        )
