"""The Torque batch type against Slurm's Torque wrappers (Debian's slurm-wlm-torque) over a real Slurm cluster.

Torque itself cannot run here; the wrappers are the real ``qsub``/``qstat``/``qdel`` a
Slurm site offers Torque users, and ``sbatch`` reads the ``#PBS`` directives of the script.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from pathlib import Path

import pytest
from scheduler_kit import CHECK_INTERVAL, COPY, job_ids, make_submission, scheduler_machine

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import MachineContract, wait_until
from dpdispatcher_pbs import parse_torque_table

pytestmark = [pytest.mark.pbs, pytest.mark.slurm]

#: upper bound for any wait on the cluster (seconds)
BOUND = 120


def torque_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "Torque", **extra)


def scontrol(job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout


class TestTorqueContractAgainstSlurmTorqueWrappers(MachineContract):
    #: the single-node test cluster starts a few jobs a second
    many_jobs = 100

    @pytest.fixture
    def machine(self, torque, tmp_path):
        return torque_machine(tmp_path)


def test_wrapper_table_is_what_the_plugin_parses(torque, tmp_path):
    """Pins the wrapper's ``qstat -u`` layout (header, id first, state last but one) on the real cluster."""
    machine = torque_machine(tmp_path)
    submission = make_submission(machine, ["sleep 300"])
    submission.run_submission(exit_on_submit=True)
    (job,) = submission.belonging_jobs
    try:
        table = subprocess.run(
            ["qstat", "-u", subprocess.check_output(["id", "-un"], text=True).strip()],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert table.returncode == 0, table.stderr
        header = next(line for line in table.stdout.splitlines() if line.startswith("Job id"))
        columns = [
            "Job",
            "id",
            "Username",
            "Queue",
            "Name",
            "SessID",
            "NDS",
            "TSK",
            "Memory",
            "Time",
            "Use",
            "S",
            "Time",
        ]
        assert header.split() == columns
        rows = parse_torque_table(table.stdout)
        assert rows[job.job_id].state in ("Q", "R")
        line = next(line for line in table.stdout.splitlines() if line.startswith(job.job_id + " "))
        assert line.split()[3] == f"dpd_{job.job_hash[:11]}"  # the name column the lost-answer lookup reads
    finally:
        machine.kill_jobs([job])


def test_pbs_directives_reach_slurm(torque, tmp_path):
    """sbatch reads the script's ``#PBS -l nodes=1:ppn=2`` and the name; output goes to ``<job hash>.out``."""
    machine = torque_machine(tmp_path)
    submission = make_submission(machine, ["sleep 300"], cpu_per_node=2)
    submission.run_submission(exit_on_submit=True)
    (job,) = submission.belonging_jobs
    try:
        shown = scontrol(job.job_id)
        assert "NumTasks=2" in shown
        assert f"JobName=dpd_{job.job_hash[:11]}" in shown
        out = os.path.join(machine.context.remote_root, f"{job.job_hash}.out")
        assert f"StdOut={out}" in shown and f"StdErr={out}" in shown
    finally:
        machine.kill_jobs([job])


def test_one_qstat_per_poll_on_torque(torque, tmp_path):
    machine = torque_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 8)
    polls: list[int] = []
    original = machine.check_statuses

    def counted(jobs):
        polls.append(len(jobs))
        return original(jobs)

    machine.check_statuses = counted  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    wb = Path(machine.context.init_local_root) / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(8)] == [f"input {i}\n" for i in range(8)]
    qstats = [call for call in torque.calls("qstat") if call.startswith("-u ")]
    assert len(qstats) == len(polls) >= 1
    assert len(torque.calls("qsub")) == 8


def test_qdel_from_outside_is_reported_on_torque(torque, tmp_path):
    machine = torque_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 300"])
    remote = tmp_path / "remote"
    deleted: list[str] = []

    def qdel() -> None:
        wait_until(lambda: bool(job_ids(remote)), "the job id", BOUND)
        job_id = job_ids(remote)[0]
        subprocess.run(["qdel", job_id], check=True, timeout=30)
        deleted.append(job_id)

    thread = threading.Thread(target=qdel, daemon=True)
    thread.start()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    thread.join(BOUND)
    assert deleted
    # the wrapper shows a cancelled job as C for MinJobAge seconds, then forgets it
    assert f"Torque job {deleted[0]} " in str(err.value)


def test_a_one_task_job_is_named_by_its_task_name_on_torque(torque, tmp_path):
    """The name reaches Slurm (``qsub -N``, as the script's ``#PBS -N``): 1.1.0's 15 characters, a letter first."""
    machine = torque_machine(tmp_path)
    (tmp_path / "local" / "wb" / "t0").mkdir(parents=True)
    task = Task(command="sleep 300", task_work_path="t0/", task_name="3 relax Si; rm -rf ~")
    res = Resources.load_from_dict(
        {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 1}
    )
    submission = Submission("wb", machine=machine, resources=res, task_list=[task])
    submission.run_submission(exit_on_submit=True)
    (job,) = submission.belonging_jobs
    try:
        assert "JobName=j-3-re-6cca99ab" in scontrol(job.job_id)  # 1.1.0's get_scheduler_name(15, alpha)
        row = next(line.split() for line in subprocess.run(
            ["qstat", "-u", os.environ.get("USER") or "root"], capture_output=True, text=True, timeout=30
        ).stdout.splitlines() if line.startswith(job.job_id))  # fmt: skip
        assert row[3] == "j-3-re-6cca99ab"  # the name column the lost-answer lookup reads
    finally:
        machine.kill_jobs([job])


def test_over_ssh_end_to_end(torque, torque_sshd, tmp_path):
    """SSHContext to a private sshd on 127.0.0.1: upload, qsub/qstat of Slurm's Torque wrappers, download.

    A login shell of the test sshd knows neither the wrappers' directory nor the test cluster's
    slurm.conf: each remote command is told (PATH, SLURM_CONF), as a site's profile would.
    """
    machine = Machine.load_from_dict(
        {
            "batch_type": "Torque",
            "context_type": "SSHContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": str(tmp_path / "remote"),
            "remote_profile": torque_sshd.profile(),
        }
    )
    context = machine.context
    settings = f"export PATH={shlex.quote(torque.path)} SLURM_CONF={shlex.quote(os.environ['SLURM_CONF'])}"
    original_run = context.run
    context.run = lambda cmd, timeout=None, stdin=None: original_run(f"{settings}\n{cmd}", timeout, stdin)  # type: ignore[method-assign]
    try:
        submission = make_submission(machine, ["sleep 1; " + COPY] * 3)
        submission.run_submission(check_interval=CHECK_INTERVAL)
        wb = Path(machine.context.init_local_root) / "wb"
        assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(3)] == [f"input {i}\n" for i in range(3)]
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
        assert len(torque.calls("qsub")) == 3  # through the logged wrappers, on the far side of the connection
        assert any(call.startswith("-u ") for call in torque.calls("qstat"))
    finally:
        context.close()
