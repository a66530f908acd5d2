"""The local disk fills up while the results come back (the work base on a small tmpfs).

The run must stop with one clear error (a DispatcherError naming the file, no traceback), leave no
result truncated or half-written, and complete once space is freed: each task once, outputs whole.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_kit import FAILED, Workload, check, drive

pytestmark = pytest.mark.faults

DISK = 2 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root: CI runs as root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)], capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def test_disk_full_mid_download_is_one_clear_error_and_a_rerun_completes(tmp_path: Path, small_disk: Path) -> None:
    # outputs of ~300 kB; room left for one and a half of them once the inputs are in
    workload = Workload.with_machine(tmp_path, local_root=small_disk, in_bytes=50_000, repeat=6).prepare()
    out_size = len(workload.expected_output(0))
    stat = os.statvfs(small_disk)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - out_size * 3 // 2))

    first = drive(workload)
    assert first.returncode == FAILED, first.describe()
    assert "DiskFullError" in first.stdout and str(workload.work_base) in first.stdout, first.describe()
    assert "Traceback" not in first.stderr, first.describe()
    came_back = 0
    for i in range(workload.n):
        out = workload.work_base / f"t{i}" / "out.txt"
        if out.exists():  # a result is whole or absent
            assert out.read_text() == workload.expected_output(i), f"{out} is truncated"
            came_back += 1
    assert 0 < came_back < workload.n, f"{came_back} results came back: the disk did not fill mid-download"
    assert not [p for p in workload.work_base.rglob(".*")], "temporary files left in the work base"

    filler.unlink()
    rerun = drive(workload)
    assert rerun.returncode == 0, rerun.describe()
    verdict = check(workload)
    assert verdict.ok, "\n".join(verdict.problems)
