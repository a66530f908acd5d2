"""Progress off a terminal: one log line per change, at most every LOG_INTERVAL seconds; --no-progress and -q."""

from __future__ import annotations

import io
import logging

from dpdispatcher.cli import main
from dpdispatcher.progress import LOG_INTERVAL, Progress, turned_off


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dpdispatcher.progress"]


def test_off_a_terminal_each_change_is_logged_at_most_every_interval(caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher.progress")
    clock = Clock()
    stream = io.StringIO()  # not a terminal
    progress = Progress(stream, clock=clock)
    progress.update(0, 0, 3, 0)
    assert logged(caplog) == ["jobs: 0 done, 0 running, 3 queued, 0 failed"]
    clock.now += 1
    progress.update(0, 2, 1, 0)  # a change within the interval waits
    progress.update(0, 2, 1, 0)
    assert len(logged(caplog)) == 1
    clock.now += LOG_INTERVAL
    progress.update(0, 2, 1, 0)  # the held change is logged at the first update after the interval
    assert logged(caplog)[-1] == "jobs: 0 done, 2 running, 1 queued, 0 failed"
    clock.now += LOG_INTERVAL
    progress.update(0, 2, 1, 0)  # no change: nothing new
    assert len(logged(caplog)) == 2
    progress.update(3, 0, 0, 0)  # a change after the interval: at once
    clock.now += 1
    progress.update(2, 0, 0, 1)
    progress.close()  # the last counts are never lost
    assert logged(caplog)[2:] == [
        "jobs: 3 done, 0 running, 0 queued, 0 failed",
        "jobs: 2 done, 0 running, 0 queued, 1 failed",
    ]
    assert stream.getvalue() == ""  # no terminal control characters in a log


def test_turned_off_silences_both_kinds(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="dpdispatcher.progress")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    with turned_off():
        for stream in (term, io.StringIO()):
            progress = Progress(stream)
            progress.update(1, 0, 0, 0)
            progress.close()
    assert term.getvalue() == "" and logged(caplog) == []
    Progress(term).update(1, 0, 0, 0)  # outside the block: the live line again
    assert "jobs: 1 done" in term.getvalue()


def test_dpdisp_submit_logs_progress_on_stderr_unless_told_not_to(submission_file, capsys):
    assert main(["submit", str(submission_file)]) == 0
    err = capsys.readouterr().err
    assert "jobs: 2 done, 0 running, 0 queued, 0 failed" in err.splitlines()[-1]
    result = submission_file.parent / "work" / "d0" / "out.txt"
    result.unlink()  # a result missing: the submission runs again
    assert main(["submit", str(submission_file), "--no-progress"]) == 0
    assert result.exists() and "jobs:" not in capsys.readouterr().err
    result.unlink()
    assert main(["-q", "submit", str(submission_file)]) == 0
    captured = capsys.readouterr()
    assert result.exists() and "jobs:" not in captured.err and "succeeded" in captured.out
