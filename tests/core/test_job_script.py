"""The job script contract, checked by running generated scripts with bash: every way of running tasks
(one at a time; in parallel on bash >= 5.1; in parallel on an older bash) reports every task whatever
its command does to its own shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import local_machine

from dpdispatcher import Resources, Task
from dpdispatcher.job import Job
from dpdispatcher.job_script import BASH_NAMES_ENDED_JOBS

FORMS = ["one at a time", "parallel", "parallel, bash before 5.1"]


def run_job(
    tmp_path: Path, form: str, tasks: list[Task], prepend_script: list[str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Job]:
    """Write the job script of ``tasks`` (run as ``form``) into the job root and run it with bash."""
    machine = local_machine(tmp_path)
    root = Path(machine.context.remote_root)
    for task in tasks:
        (root / task.task_work_path).mkdir(parents=True, exist_ok=True)
    para_deg = 1 if form == "one at a time" else 3
    resources = Resources(group_size=0, para_deg=para_deg, prepend_script=prepend_script or [])
    job = Job(tasks, resources=resources, machine=machine)
    script = machine.gen_script(job)
    if form == "parallel, bash before 5.1":
        assert BASH_NAMES_ENDED_JOBS in script
        script = script.replace(BASH_NAMES_ENDED_JOBS, "false")
    (root / "job.sh").write_text(script)
    result = subprocess.run(["bash", "job.sh"], cwd=root, capture_output=True, text=True, timeout=60)
    return result, job


def outcome(tmp_path: Path, task: Task) -> str:
    """'finished', or the fail file's text, or 'not reported'."""
    root = tmp_path / "remote"
    if (root / task.finish_tag).exists():
        assert not (root / task.fail_file).exists()
        return "finished"
    if (root / task.fail_file).exists():
        return (root / task.fail_file).read_text()
    return "not reported"


@pytest.mark.parametrize("form", FORMS)
def test_every_task_is_reported_whatever_its_command_does_to_its_shell(tmp_path, form):
    commands = {
        "pwd": "pwd > where.txt",
        "exit": "exit 3",
        "exec fails": "exec bash -c 'exit 4'",
        "exec succeeds": "exec true",
        "set -e": "set -e; false; touch after.txt",
        "cd away": "cd / && true",
        "cd away and fail": "cd .. && exit 5",
        "exit trap": "trap 'echo bye' EXIT; exit 6",
        "ignores signals": "trap '' TERM INT HUP; true",
        "errlog tail": "echo broken-input >&2; exit 2",
    }
    tasks = {name: Task(command=cmd, task_work_path=f"t{i}/") for i, (name, cmd) in enumerate(commands.items())}
    result, _ = run_job(tmp_path, form, list(tasks.values()))
    root = tmp_path / "remote"
    got = {name: outcome(tmp_path, task) for name, task in tasks.items()}
    assert got == {
        "pwd": "finished",
        "exit": "exit code 3\n",
        "exec fails": "exit code 4\n",
        "exec succeeds": "finished",
        "set -e": "exit code 1\n",
        "cd away": "finished",
        "cd away and fail": "exit code 5\n",
        "exit trap": "exit code 6\n",
        "ignores signals": "finished",
        "errlog tail": "exit code 2\nbroken-input\n",
    }
    assert (root / "t0" / "where.txt").read_text() == f"{root / 't0'}\n"  # each task runs in its own directory
    assert not (root / "t4" / "after.txt").exists()
    assert (root / "t7" / "log").read_text() == "bye\n"
    assert result.returncode == 1


@pytest.mark.parametrize("form", FORMS)
def test_finished_tasks_are_skipped_and_the_job_tag_follows_its_tasks(tmp_path, form):
    tasks = [Task(command="echo run >> ran.txt", task_work_path=f"t{i}/") for i in range(5)]
    root = tmp_path / "remote"
    root.mkdir()
    (root / tasks[1].finish_tag).touch()  # finished by an earlier attempt of the job
    (root / tasks[2].fail_file).write_text("exit code 1\n")  # failed in an earlier attempt
    result, job = run_job(tmp_path, form, tasks)
    assert result.returncode == 0, result.stderr
    assert [(root / f"t{i}" / "ran.txt").exists() for i in range(5)] == [True, False, True, True, True]
    assert [outcome(tmp_path, task) for task in tasks] == ["finished"] * 5
    assert (root / job.finish_tag).exists()


@pytest.mark.parametrize("form", FORMS)
def test_output_goes_to_the_logs_only_when_they_are_set(tmp_path, form):
    logged = Task(command="echo out-a; echo err-a >&2", task_work_path="a/")
    unlogged = Task(command="echo out-b; echo err-b >&2", task_work_path="b/", outlog=None, errlog=None)
    root = tmp_path / "remote"
    (root / "a").mkdir(parents=True)
    (root / "a" / "log").write_text("earlier\n")  # appended to, as a resubmitted job does
    result, _ = run_job(tmp_path, form, [logged, unlogged])
    assert result.returncode == 0, result.stderr
    assert (root / "a" / "log").read_text() == "earlier\nout-a\n"
    assert (root / "a" / "err").read_text() == "err-a\n"
    assert sorted(p.name for p in (root / "b").iterdir()) == []
    assert "out-b" in result.stdout and "err-b" in result.stderr
    assert "out-a" not in result.stdout and "err-a" not in result.stderr


@pytest.mark.parametrize("form", FORMS)
def test_a_failing_task_without_errlog_reports_its_exit_code(tmp_path, form):
    task = Task(command="echo nothing-to-show >&2; exit 9", task_work_path="t/", errlog=None)
    result, job = run_job(tmp_path, form, [task])
    assert outcome(tmp_path, task) == "exit code 9\n"
    assert result.returncode == 1 and not (tmp_path / "remote" / job.finish_tag).exists()


def test_parallel_tasks_leave_no_more_than_para_deg_running(tmp_path):
    """Each task notes how many task directories hold a running marker while it runs."""
    command = "touch running; sleep 0.2; ls ../t*/running | wc -l > seen; rm running"
    tasks = [Task(command=command, task_work_path=f"t{i}/") for i in range(7)]
    result, _ = run_job(tmp_path, "parallel", tasks)
    assert result.returncode == 0, result.stderr
    seen = [int((tmp_path / "remote" / f"t{i}" / "seen").read_text()) for i in range(7)]
    assert max(seen) == 3


@pytest.mark.parametrize("form", FORMS)
def test_a_signal_the_job_traps_changes_no_task_report(tmp_path, form):
    """The job's shell traps USR1 (prepend_script) and tasks send it while others run: waits it interrupts
    are waited again, and every task is reported with its own exit code."""
    command = "sleep 0.{i}; kill -USR1 $(cat ../main.pid); sleep 0.3; exit {code}"
    tasks = [Task(command=command.format(i=i, code=i % 2), task_work_path=f"t{i}/") for i in range(6)]
    result, _ = run_job(tmp_path, form, tasks, prepend_script=["echo $$ > main.pid", "trap 'echo got-usr1' USR1"])
    assert "got-usr1" in result.stdout  # (signals sent close together may arrive as one)
    assert [outcome(tmp_path, task) for task in tasks] == ["finished", "exit code 1\n"] * 3


@pytest.mark.parametrize("form", FORMS)
def test_strict_mode_in_prepend_script_stops_no_task_report(tmp_path, form):
    """``set -euo pipefail`` in prepend_script (to stop the job when its set-up fails) reaches the job's
    shell: a failing task is still reported, and the tasks after it still run."""
    commands = ["exit 3", "true", "echo half-done >&2; false", "echo fine > out.txt"]
    tasks = [Task(command=command, task_work_path=f"t{i}/") for i, command in enumerate(commands)]
    result, job = run_job(tmp_path, form, tasks, prepend_script=["set -euo pipefail"])
    assert [outcome(tmp_path, task) for task in tasks] == [
        "exit code 3\n",
        "finished",
        "exit code 1\nhalf-done\n",
        "finished",
    ]
    assert (tmp_path / "remote" / "t3" / "out.txt").read_text() == "fine\n"
    assert result.returncode == 1 and not (tmp_path / "remote" / job.finish_tag).exists()
