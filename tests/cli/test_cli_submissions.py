"""dpdisp submission HASH asks the scheduler (--offline reads the record); dpdisp submissions lists the records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpdispatcher.cli import main
from dpdispatcher.records import record_path
from dpdispatcher.testing import wait_until


def submit_and_return(submission_file: Path, capsys) -> str:
    assert main(["submit", str(submission_file), "--exit-on-submit", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["submission_hash"]


def wait_for_jobs_to_end(submission_file: Path, submission_hash: str) -> None:
    job_root = submission_file.parent / "remote" / submission_hash
    wait_until(lambda: len(list(job_root.glob("*_job_tag_finished"))) == 2, "both jobs to finish", bound=30)


def test_submission_asks_the_scheduler_and_offline_shows_the_record(submission_file, capsys):
    submission_hash = submit_and_return(submission_file, capsys)
    wait_for_jobs_to_end(submission_file, submission_hash)
    record = record_path(submission_hash).read_text()

    assert main(["submission", submission_hash]) == 0
    live = capsys.readouterr().out
    assert "live state (Shell asked at " in live and "): 2 finished" in live
    assert live.count("finished     fails 0  tasks ") == 2 and live.count("(record: waiting)") == 2
    assert "run the submission again" in live

    assert main(["submission", submission_hash, "--offline"]) == 0
    offline = capsys.readouterr().out
    assert "saved state (record written " in offline and "): 2 waiting" in offline
    assert "Shell on LocalContext" in offline and "(record:" not in offline
    assert record_path(submission_hash).read_text() == record  # asking changes no record

    assert main(["submit", str(submission_file)]) == 0  # the run picks the finished jobs up
    assert (submission_file.parent / "work" / "d2" / "out.txt").read_text() == "hello 2\ng\n"


def test_a_missing_plugin_is_named_and_offline_still_works(submission_file, capsys):
    submission_hash = submit_and_return(submission_file, capsys)
    path = record_path(submission_hash)
    data = json.loads(path.read_text())
    data["machine"]["batch_type"] = "Quasar"
    path.write_text(json.dumps(data))

    assert main(["submission", submission_hash]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"dpdisp: error: cannot ask for the live state of submission {submission_hash}"
    )
    assert "Quasar on LocalContext" in err and "unknown batch type 'Quasar'" in err
    assert f"dpdisp submission {submission_hash} --offline" in err
    assert json.loads(path.read_text()) == data  # nothing lost
    assert main(["submission", submission_hash, "--offline"]) == 0
    assert "2 waiting" in capsys.readouterr().out


def test_an_unreachable_scheduler_is_a_clear_error(submission_file, capsys, monkeypatch):
    from dpdispatcher_shell.shell import Shell

    submission_hash = submit_and_return(submission_file, capsys)

    def unreachable(self, jobs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(Shell, "check_statuses", unreachable)
    assert main(["submission", submission_hash]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"dpdisp: error: cannot ask Shell on LocalContext for the live state of submission {submission_hash}"
    )
    assert "Connection refused" in err and "--offline` shows the state saved in the record" in err


def test_offline_refuses_to_act(submission_file, capsys):
    submission_hash = submit_and_return(submission_file, capsys)
    assert main(["submission", submission_hash, "--offline", "--clean"]) == 1
    assert "--offline only shows the saved state; it cannot be combined with --clean" in capsys.readouterr().err
    assert record_path(submission_hash).exists()


def test_no_record_is_a_clear_error(capsys):
    assert main(["submission", "f" * 40]) == 1
    assert main(["submission", "f" * 40, "--offline"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"dpdisp: error: no record of submission {'f' * 40} (looked in {record_path('f' * 40)})"] * 2


def test_submissions_lists_running_finished_and_damaged_records(submission_file, tmp_path, capsys):
    assert main(["submissions"]) == 0
    assert capsys.readouterr().out.startswith("no submissions recorded in ")

    stopped = submit_and_return(submission_file, capsys)
    wait_for_jobs_to_end(submission_file, stopped)
    assert main(["submit", str(submission_file)]) == 0  # finished: its record becomes the small finished one
    capsys.readouterr()
    data = json.loads(submission_file.read_text())
    data["task_list"] = data["task_list"][:1]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    waiting = submit_and_return(other, capsys)
    record_path("0" * 40).write_text("{not json")
    capsys.readouterr()

    assert main(["submissions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["HASH", "AGE", "MACHINE", "JOBS", "WORK", "BASE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {stopped, waiting, "0" * 40}
    assert "finished (3 tasks)" in rows[stopped] and rows[stopped].rstrip().endswith(str(tmp_path / "work"))
    assert "Shell on LocalContext  1 waiting  " in rows[waiting]  # as last saved, however far the job got
    assert "DAMAGED" in rows["0" * 40] and "is damaged" in rows["0" * 40]

    assert main(["submissions", "--json"]) == 0
    listed = {item["hash"]: item for item in json.loads(capsys.readouterr().out)}
    assert listed[stopped]["finished_tasks"] == 3 and listed[stopped]["jobs"] == {}
    assert sum(listed[waiting]["jobs"].values()) == 1 and listed[waiting]["machine"] == "Shell on LocalContext"
    assert listed["0" * 40]["problem"]


@pytest.mark.parametrize("seconds, shown", [(5, "5s"), (125, "2m"), (7300, "2h"), (200000, "2d")])
def test_ages_are_short(seconds, shown):
    from dpdispatcher.cli.record_view import age

    assert age(seconds) == shown
