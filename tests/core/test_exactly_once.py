"""Exactly once, whatever happens: cleanup kills, re-runs of finished programs, two drivers, damaged records.

Every task appends to a ledger outside the job root, so "ran once" is checked where no cleanup can erase it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import local_machine, write_tasks

from dpdispatcher import Resources, Submission, Task
from dpdispatcher.cli import main
from dpdispatcher.driver_lock import Holder
from dpdispatcher.errors import SubmissionLockedError
from dpdispatcher.records import record_path

TESTS = str(Path(__file__).resolve().parents[1])


def ledger_submission(tmp_path: Path, n: int = 4, command: str = "") -> Submission:
    """``n`` one-task jobs; each task appends its name to ``tmp_path/ledger`` and copies in.txt to out.txt."""
    machine = local_machine(tmp_path)
    write_tasks(tmp_path / "local" / "wb", n)
    ledger = tmp_path / "ledger"
    tasks = [
        Task(
            command=f"{command}echo t{i} >> {ledger}; cp in.txt out.txt",
            task_work_path=f"t{i}/",
            forward_files=["in.txt"],
            backward_files=["out.txt"],
        )
        for i in range(n)
    ]
    return Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=tasks)


def ledger(tmp_path: Path) -> list[str]:
    path = tmp_path / "ledger"
    return sorted(path.read_text().split()) if path.exists() else []


def outputs(tmp_path: Path, n: int) -> list[str]:
    return [(tmp_path / "local" / "wb" / f"t{i}" / "out.txt").read_text() for i in range(n)]


def test_a_kill_during_cleanup_leaves_a_submission_the_rerun_finishes_at_once(tmp_path, monkeypatch):
    submission = ledger_submission(tmp_path)
    context = submission.machine.context
    original_clean = type(context).clean

    def killed_halfway(self, generated=()):
        for script in Path(self.remote_root).glob("*.sub"):  # part of the job root is gone ...
            script.unlink()
        raise KeyboardInterrupt  # ... when the driver dies

    monkeypatch.setattr(type(context), "clean", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        submission.run_submission()
    monkeypatch.setattr(type(context), "clean", original_clean)
    again = ledger_submission(tmp_path)
    again.run_submission()
    assert ledger(tmp_path) == ["t0", "t1", "t2", "t3"]  # nothing ran twice
    assert outputs(tmp_path, 4) == ["0\n", "1\n", "2\n", "3\n"]
    assert not Path(again.machine.context.remote_root).exists()  # the rerun finished the cleanup


def test_a_finished_program_run_again_returns_at_once_until_a_result_is_missing(tmp_path, capsys):
    ledger_submission(tmp_path).run_submission()
    again = ledger_submission(tmp_path)
    again.run_submission()
    assert ledger(tmp_path) == ["t0", "t1", "t2", "t3"]
    assert main(["submission", again.submission_hash]) == 0
    out = capsys.readouterr().out
    assert "finished at" in out and str(tmp_path / "local" / "wb") in out and "4 task(s)" in out
    (tmp_path / "local" / "wb" / "t2" / "out.txt").unlink()
    ledger_submission(tmp_path).run_submission()  # a result is gone: it runs again
    assert ledger(tmp_path) == ["t0", "t0", "t1", "t1", "t2", "t2", "t3", "t3"]
    assert outputs(tmp_path, 4) == ["0\n", "1\n", "2\n", "3\n"]


def test_dpdisp_submission_clean_forgets_a_finished_submission(tmp_path, capsys):
    submission = ledger_submission(tmp_path)
    submission.run_submission()
    assert main(["submission", submission.submission_hash, "--clean"]) == 0
    assert "forgot the finished submission" in capsys.readouterr().out
    assert not record_path(submission.submission_hash).exists()
    ledger_submission(tmp_path).run_submission()
    assert ledger(tmp_path) == ["t0", "t0", "t1", "t1", "t2", "t2", "t3", "t3"]


DRIVER = """
import sys
from pathlib import Path
sys.path[:0] = [{tests!r}, {core!r}]
from test_exactly_once import ledger_submission
from dpdispatcher.errors import SubmissionLockedError
try:
    ledger_submission(Path({tmp!r}), command="sleep 1; ").run_submission(check_interval=0.2)
except SubmissionLockedError as err:
    print("REFUSED", err)
    sys.exit(3)
print("DONE")
"""


def test_two_drivers_started_together_one_runs_the_other_is_refused(tmp_path):
    for pair in range(5):
        root = tmp_path / f"pair{pair}"
        script = DRIVER.format(tests=TESTS, core=str(Path(__file__).parent), tmp=str(root))
        drivers = [
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        results = [(d.wait(timeout=120), d.communicate()) for d in drivers]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 3], results
        refused = next(out for code, (out, _) in results if code == 3)
        assert "is being run by another driver" in refused and "pid" in refused
        assert ledger(root) == ["t0", "t1", "t2", "t3"]  # every task ran exactly once
        assert outputs(root, 4) == ["0\n", "1\n", "2\n", "3\n"]


def test_a_lock_left_by_a_dead_driver_is_taken_over(tmp_path, caplog):
    submission = ledger_submission(tmp_path)
    submission.generate_jobs()
    context = submission.machine.context
    context.bind(submission.work_base, submission.submission_hash)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = Holder(Holder.me().host, int(dead.stdout), "12345", 0)
    lock = Path(context.remote_root) / f"{submission.submission_hash}.lock"
    lock.mkdir(parents=True)
    (lock / "owner").write_text(holder.line() + "\n")
    submission.run_submission()
    assert "took over the lock" in caplog.text and f"pid {holder.pid}" in caplog.text
    assert ledger(tmp_path) == ["t0", "t1", "t2", "t3"]


def test_a_live_lock_refuses_at_once_naming_its_holder(tmp_path):
    submission = ledger_submission(tmp_path)
    submission.generate_jobs()
    context = submission.machine.context
    context.bind(submission.work_base, submission.submission_hash)
    lock = Path(context.remote_root) / f"{submission.submission_hash}.lock"
    lock.mkdir(parents=True)
    (lock / "owner").write_text(Holder.me().line() + "\n")  # this very process: alive
    with pytest.raises(SubmissionLockedError) as err:
        submission.run_submission()
    assert f"pid {os.getpid()}" in str(err.value) and str(lock) in str(err.value)
    assert ledger(tmp_path) == []  # nothing was submitted


@pytest.mark.parametrize("damage", ["truncated", "empty object", "not json", "a list", "jobs not a list"])
def test_a_damaged_record_is_rebuilt_from_the_job_root_without_running_anything_twice(tmp_path, caplog, capsys, damage):
    first = ledger_submission(tmp_path)
    first.run_submission(exit_on_submit=True)  # submitted, the driver gone; the jobs run on
    path = record_path(first.submission_hash)
    text = path.read_text()
    path.write_text(
        {
            "truncated": text[: len(text) // 2],
            "empty object": "{}",
            "not json": "\x00\x01garbage",
            "a list": "[1, 2]",
            "jobs not a list": json.dumps({**json.loads(text), "belonging_jobs": {}}),
        }[damage]
    )
    assert main(["submission", first.submission_hash]) == 1  # one clear line naming the file and the way out
    err = capsys.readouterr().err
    assert f"the record {path} is damaged" in err and "--repair" in err and "Traceback" not in err
    again = ledger_submission(tmp_path)
    again.run_submission()
    assert f"the record {path} is damaged" in caplog.text
    assert ledger(tmp_path) == ["t0", "t1", "t2", "t3"]
    assert outputs(tmp_path, 4) == ["0\n", "1\n", "2\n", "3\n"]


def test_dpdisp_submission_repair_rebuilds_the_record_from_the_job_root(tmp_path, capsys):
    first = ledger_submission(tmp_path)
    first.run_submission(exit_on_submit=True)
    ids = sorted(job.job_id for job in first.belonging_jobs)
    path = record_path(first.submission_hash)
    path.write_text("{")
    machine_file = tmp_path / "machine.json"
    machine_file.write_text(json.dumps(first.machine.serialize()))
    assert main(["submission", first.submission_hash, "--repair"]) == 1
    assert "--repair needs --machine" in capsys.readouterr().err
    assert main(["submission", first.submission_hash, "--repair", "--machine", str(machine_file)]) == 0
    assert "rebuilt the record" in capsys.readouterr().out
    rebuilt = json.loads(path.read_text())
    assert sorted(next(iter(j.values()))["job_id"] for j in rebuilt["belonging_jobs"]) == ids
    ledger_submission(tmp_path).run_submission()
    assert ledger(tmp_path) == ["t0", "t1", "t2", "t3"]
