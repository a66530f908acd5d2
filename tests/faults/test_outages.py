"""A service going away in the middle of a run: sshd stopped for 20 s, slurmctld restarted.

The run is one driver child; once every job is submitted (its id file is in the job root) the
service is stopped, and started again. The driver must ride it out: exit 0, each task once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from faults_kit import Workload, check, finish, start

pytestmark = pytest.mark.faults

#: every wait here is bounded by this many seconds
BOUND = 120
SSHD_DOWN = 20
#: squeue waits about 18 s for a controller that does not answer before it fails: a shorter outage is not
#: seen by the driver at all (its squeue just answers late)
SLURMCTLD_DOWN = 20


def wait_for(predicate: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {bound} s waiting for {what}")
        time.sleep(0.1)


def ride_out(workload: Workload, outage: Callable[[], None], felt: str) -> None:
    """Start a driver, run ``outage`` once every job is submitted, then judge the run; the driver's
    log must show ``felt`` (the outage reached it)."""
    workload.prepare()
    driver = start(workload)
    try:
        wait_for(lambda: len(list(workload.remote_root.glob("*/*_job_id"))) == workload.n, "the jobs' ids")
        outage()
    finally:
        ended = finish(driver)
    assert ended.returncode == 0, ended.describe()
    assert felt in ended.stderr, ended.describe()
    verdict = check(workload)
    assert verdict.ok, "\n".join(verdict.problems) + "\n" + ended.describe()


@pytest.mark.ssh
def test_sshd_down_for_20_s_mid_run(tmp_path: Path, faults_sshd) -> None:
    # 12 reconnection attempts, 5 s apart at most: about 47 s of patience, for a 20 s outage
    profile = faults_sshd.profile(reconnect_attempts=12, reconnect_max_delay=5)
    workload = Workload.with_machine(tmp_path, context_type="SSHContext", remote_profile=profile, sleeps=(2, 4, 8, 24))

    def outage() -> None:
        faults_sshd.stop()
        try:
            time.sleep(SSHD_DOWN)
        finally:
            faults_sshd.start()

    ride_out(workload, outage, felt="reconnecting in")


class Slurmctld:
    """The slurmctld of a cluster started by tests/services/start-slurm.sh DIR (SLURM_CONF = DIR/slurm.conf)."""

    def __init__(self, conf: str) -> None:
        self.conf = conf
        self.dir = Path(conf).parent

    def pid(self) -> int | None:
        try:
            pid = int((self.dir / "slurmctld.pid").read_text().strip())
            alive = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            named = Path(f"/proc/{pid}/comm").read_text().strip() == "slurmctld"
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive and named else None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(lambda: self.pid() is None, "slurmctld to stop", 30)
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: self.pid() is None, "slurmctld to die", 10)

    def start(self) -> None:
        """As start-slurm.sh starts it: same config, state kept (-i: ignore unreadable state files)."""
        if self.pid() is None:
            with open(self.dir / "log" / "slurmctld.out", "ab") as log:
                subprocess.run(
                    ["slurmctld", "-f", self.conf, "-i"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "SLURM_CONF": self.conf},
                    timeout=60,
                    check=True,
                )
        wait_for(self.answers, "slurmctld to answer", 60)

    def answers(self) -> bool:
        try:
            ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return "is UP" in ping.stdout


@pytest.mark.slurm
def test_slurmctld_restarted_mid_run(tmp_path: Path, slurm_cluster: str) -> None:
    ctld = Slurmctld(slurm_cluster)
    if ctld.pid() is None:
        pytest.skip(f"no slurmctld pid file beside {slurm_cluster}: not a cluster of tests/services/start-slurm.sh")
    resources = {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": ""}
    workload = Workload.with_machine(
        tmp_path, batch_type="Slurm", resources=resources, sleeps=(2, 4, 8, 16), check_interval=1
    )

    def outage() -> None:
        ctld.stop()
        try:
            time.sleep(SLURMCTLD_DOWN)
        finally:
            ctld.start()

    ride_out(workload, outage, felt="Slurm did not answer")
