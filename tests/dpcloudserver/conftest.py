"""Fixtures of the DpCloudServer plugin's tests: the project's DP cloud TEST DOUBLE (tests/doubles/dpcloudserver).

``cloud_double``: the double's HTTP server on 127.0.0.1 (a free port), with the plugin pointed at it
through the environment variables dpdispatcher 1.1.0 reads; every job it started is killed when
the test ends. The real DP cloud (Bohrium) cannot be reached from the test machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.dpcloudserver.server import BUCKET, CloudDouble

from dpdispatcher import Machine
from dpdispatcher_dpcloudserver import settings, transport

EMAIL = "scientist@example.org"
PASSWORD = "Very-Secret-Pa55word"


@pytest.fixture
def cloud_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudDouble]:
    with CloudDouble.started(tmp_path / "cloud-double", EMAIL, PASSWORD) as double:
        monkeypatch.setenv(settings.API_HOST_ENV, double.url)
        monkeypatch.setenv(settings.BUCKET_URL_ENV, double.bucket_url)
        monkeypatch.setenv(settings.BUCKET_NAME_ENV, BUCKET)
        monkeypatch.setenv(settings.TIMEOUT_ENV, "5")
        monkeypatch.setattr(transport, "FIRST_RETRY_DELAY", 0.05)
        yield double


def machine_dict(tmp_path: Path, **profile: Any) -> dict[str, Any]:
    """The manual's DpCloudServer machine config, with the account the double knows."""
    remote_profile = {
        "email": EMAIL,
        "password": PASSWORD,
        "program_id": 1234,
        "input_data": {
            "job_name": "dpd-test",
            "image_name": "LBG_DeePMD-kit_2.1.1_v1",
            "disk_size": 100,
            "scass_type": "c8_m31_1 * NVIDIA T4",
            "platform": "ali",
            "checkpoint_files": "sync_files",
        },
        **profile,
    }
    return {
        "batch_type": "DpCloudServer",
        "context_type": "DpCloudServerContext",
        "local_root": str(tmp_path / "local"),
        "remote_root": str(tmp_path / "staging"),
        "remote_profile": remote_profile,
    }


def cloud_machine(tmp_path: Path, **profile: Any) -> Machine:
    (tmp_path / "local").mkdir(parents=True, exist_ok=True)
    return Machine.load_from_dict(machine_dict(tmp_path, **profile))
