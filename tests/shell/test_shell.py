"""The Shell batch type: contract, batched status, headers, kill."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import copy_submission, local_machine

from dpdispatcher import JobStatus, Resources
from dpdispatcher.testing import MachineContract, wait_until
from dpdispatcher_shell.shell import _process_alive


class TestShellContract(MachineContract):
    @pytest.fixture
    def machine(self, tmp_path):
        return local_machine(tmp_path)


def logged_ps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``ps`` first on PATH that logs each call; returns the log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ps.log"
    wrapper = bin_dir / "ps"
    wrapper.write_text(f'#!/bin/sh\necho call >> {log}\nexec /bin/ps "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_one_ps_per_poll_whatever_the_number_of_jobs_where_ps_is_asked(tmp_path, monkeypatch):
    """Where jobs run elsewhere (over SSH) every poll is one script of ``ps`` calls."""
    log = logged_ps(tmp_path, monkeypatch)
    machine = local_machine(tmp_path)
    monkeypatch.setattr(machine.context, "is_local", False)  # as a remote context: status through ps
    polls = []
    original = machine.check_statuses

    def counting(jobs):
        polls.append(len(jobs))
        return original(jobs)

    machine.check_statuses = counting
    submission = copy_submission(machine, n=12, group_size=1, command="sleep 0.3; cp in.txt out.txt")
    submission.run_submission(check_interval=0.1)
    assert max(polls) == 12
    assert log.read_text().count("call") == len(polls)


def test_on_this_machine_status_is_read_from_proc_without_starting_a_process(tmp_path, monkeypatch):
    """Polls on this machine start no ``ps``; a live process that is not the job's script (a reused
    pid) is not taken for the job."""
    log = logged_ps(tmp_path, monkeypatch)
    machine = local_machine(tmp_path)
    release = tmp_path / "release"
    submission = copy_submission(machine, n=2, group_size=1, command=f"while [ ! -f {release} ]; do sleep 0.05; done")
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    try:
        wait_until(lambda: machine.check_statuses(jobs) == [JobStatus.running] * 2, "both jobs running", 10)
        other = copy_submission(machine, n=1, group_size=1, command="true")
        other.generate_jobs()
        impostor = other.belonging_jobs[0]
        impostor.register_job_id(str(os.getpid()))  # alive, but this test's python, not a job script
        assert machine.check_statuses([impostor]) == [JobStatus.terminated]
    finally:
        release.touch()
    wait_until(lambda: machine.check_statuses(jobs) == [JobStatus.finished] * 2, "both jobs finished", 20)
    assert not log.exists()


def test_a_zombie_job_process_is_not_running(tmp_path):
    """A job whose process has ended but not been reaped yet (its parent is slow to wait) is not running."""
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=1, group_size=1, command="true")
    submission.generate_jobs()
    job = submission.belonging_jobs[0]
    zombie = subprocess.Popen(["bash", "-c", f"exit 0 # {job.script_file_name}"])
    try:
        wait_until(lambda: not _process_alive(str(zombie.pid)), "the process's end", 10)
        job.register_job_id(str(zombie.pid))  # still in the process table: this test has not waited for it
        assert machine.check_statuses([job]) == [JobStatus.terminated]
    finally:
        zombie.wait()


SUBMIT_ONE_HELD_JOB = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers import copy_submission, local_machine
submission = copy_submission(local_machine(Path({tmp!r})), n=1, group_size=1, command={command!r})
submission.run_submission(exit_on_submit=True)
print("JOB", submission.belonging_jobs[0].job_id, flush=True)
"""


def _printed_job_pid(argv: list[str], terminal: bool) -> int:
    """Run ``argv`` with a controlling terminal (a pty) or none; the pid it prints after ``JOB``."""
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, start_new_session=True)
        return int(done.stdout.split("JOB", 1)[1].split()[0])
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.execv(argv[0], argv)
    output = b""
    while b"\n" not in output.partition(b"JOB")[2]:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return int(output.split(b"JOB", 1)[1].split()[0])


def _group_session_terminal(pid: int) -> tuple[int, int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[2]), int(fields[3]), int(fields[4])


@pytest.mark.parametrize("terminal", [False, True], ids=["no terminal", "a terminal"])
def test_a_job_has_its_own_process_group_and_no_terminal_whatever_the_drivers(tmp_path, terminal):
    """kill_jobs signals a job's process group; a driver started from a terminal leaves its jobs out of
    the terminal's reach (no controlling terminal)."""
    release = tmp_path / "release"
    command = f"while [ ! -f {release} ]; do sleep 0.05; done"
    code = SUBMIT_ONE_HELD_JOB.format(tests=str(Path(__file__).parents[1]), tmp=str(tmp_path), command=command)
    job_pid = _printed_job_pid([sys.executable, "-c", code], terminal)
    try:
        group, _, tty = _group_session_terminal(job_pid)
        assert (group, tty) == (job_pid, 0)
    finally:
        release.touch()
    wait_until(lambda: not _process_alive(str(job_pid)), "the job's end", 20)


def test_where_the_submit_script_has_a_terminal_a_job_gets_its_own_session(tmp_path):
    """A context whose commands run with a controlling terminal: the launch detaches the job with setsid."""
    release = tmp_path / "release"
    script = tmp_path / "job.sh"
    script.write_text(f"while [ ! -f {release} ]; do sleep 0.05; done\n")
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=1, group_size=1)
    submission.generate_jobs()
    job = submission.belonging_jobs[0]
    launch = machine._launch(job).replace(job.script_file_name, str(script))
    # $! is known at the fork: print it once the job's bash runs the script (setsid has acted by then)
    started = 'for i in $(seq 100); do grep -qs job.sh "/proc/$dpd_id/cmdline" && break; sleep 0.1; done'
    job_pid = _printed_job_pid(["/bin/bash", "-c", f"cd {tmp_path} && {launch}; {started}; echo JOB $dpd_id"], True)
    try:
        group, session, tty = _group_session_terminal(job_pid)
        assert (group, session, tty) == (job_pid, job_pid, 0)
    finally:
        release.touch()
    wait_until(lambda: not _process_alive(str(job_pid)), "the job's end", 20)


def test_header_template_strategy_replaces_the_header(tmp_path):
    template = tmp_path / "header.tmpl"
    template.write_text("#MYSCHED nodes={number_node} cpus={cpu_per_node}\n")
    machine = local_machine(tmp_path)
    submission = copy_submission(
        machine, n=1, number_node=2, cpu_per_node=8, strategy={"customized_script_header_template_file": str(template)}
    )
    submission.generate_jobs()
    script = machine.gen_script(submission.belonging_jobs[0])
    assert script.startswith("#!/bin/bash -l\n#MYSCHED nodes=2 cpus=8\n")


def test_script_carries_modules_sources_envs_and_cuda_devices(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(
        machine,
        n=2,
        group_size=2,
        gpu_per_node=2,
        para_deg=2,
        module_purge=True,
        module_unload_list=["old"],
        module_list=["new/1.0"],
        source_list=["env.sh"],
        envs={"OMP_NUM_THREADS": 4, "NAME": "a b"},
        custom_flags=["#FLAG x"],
        prepend_script=["echo pre"],
        append_script=["echo post"],
        strategy={"if_cuda_multi_devices": True},
    )
    submission.generate_jobs()
    script = machine.gen_script(submission.belonging_jobs[0])
    order = [
        "#FLAG x",
        "module purge",
        "module unload old",
        "module load new/1.0",
        "source env.sh",
        "export OMP_NUM_THREADS=4",
        "export NAME='a b'",
        "echo pre",
        "CUDA_VISIBLE_DEVICES=0",
        "CUDA_VISIBLE_DEVICES=1",
        "echo post",
    ]
    positions = [script.index(line) for line in order]
    assert positions == sorted(positions)


def test_kill_stops_the_whole_job(tmp_path):
    machine = local_machine(tmp_path)
    sleep = "sleep 60.0713"  # a duration no other test uses: its processes are this test's
    submission = copy_submission(machine, n=2, group_size=2, command=sleep, para_deg=2)
    submission.run_submission(exit_on_submit=True)
    job = submission.belonging_jobs[0]
    assert machine.check_statuses([job]) == [JobStatus.running]
    machine.kill(job)
    wait_until(lambda: machine.check_statuses([job]) == [JobStatus.terminated], "the killed job ended", bound=60)
    # the whole group got TERM; a loaded machine may take a moment to end the tasks too
    wait_until(
        lambda: not [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p).startswith(sleep)], "no task left", 10
    )


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_ratio_unfinished_ends_the_run_with_the_stragglers_killed(tmp_path):
    machine = local_machine(tmp_path)
    command = 'if [ "$(basename $PWD)" = t3 ]; then sleep 60; fi; cp in.txt out.txt'
    submission = copy_submission(machine, n=4, group_size=1, command=command, strategy={"ratio_unfinished": 0.25})
    submission.run_submission(check_interval=0.2)
    outs = sorted(p.parent.name for p in (tmp_path / "local" / "wb").glob("t*/out.txt"))
    assert outs == ["t0", "t1", "t2"]


def test_resources_group_size_validation():
    with pytest.raises(Exception) as err:
        Resources.load_from_dict({"group_size": -1})
    assert "group_size" in str(err.value)


def test_a_tagged_job_is_finished_though_the_scheduler_still_lists_it(tmp_path):
    """The finished tag is the script's last act: the run ends on it, without waiting for the next scheduler query
    (check_interval is an hour here and the scheduler never says finished)."""
    machine = local_machine(tmp_path)
    queries = []

    def lagging_scheduler(jobs):
        queries.append(len(jobs))
        return [JobStatus.running for _ in jobs]

    machine.check_statuses = lagging_scheduler
    submission = copy_submission(machine, n=2, group_size=1, command="sleep 1; cp in.txt out.txt")
    run = threading.Thread(target=submission.run_submission, kwargs={"check_interval": 3600}, daemon=True)
    run.start()
    run.join(timeout=120)
    assert not run.is_alive(), "the run waited for the scheduler instead of the tags"
    assert [job.job_state for job in submission.belonging_jobs] == [JobStatus.finished] * 2
    assert sorted(p.read_text() for p in (tmp_path / "local" / "wb").glob("t*/out.txt")) == ["0\n", "1\n"]
    assert len(queries) < 20  # the backed-off schedule, not one query per look at the tags
