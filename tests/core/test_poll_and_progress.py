"""Poll schedule and progress display."""

from __future__ import annotations

import io

from dpdispatcher.poll import PollSchedule
from dpdispatcher.progress import Progress


def test_polls_start_soon_and_back_off_to_check_interval():
    schedule = PollSchedule(check_interval=30)
    delays = [schedule.next() for _ in range(30)]
    assert delays[0] <= 0.1
    assert delays == sorted(delays)
    assert delays[-1] == 30
    schedule.reset()
    assert schedule.next() == delays[0]


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_on_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    term = FakeTerminal()
    progress = Progress(term)
    progress.update(done=1, running=2, queued=3, failed=0)
    progress.close()
    assert "jobs: 1 done, 2 running, 3 queued, 0 failed" in term.getvalue()


def test_progress_is_silent_in_logs_and_ci(monkeypatch):
    log = io.StringIO()
    Progress(log).update(1, 2, 3, 0)
    assert log.getvalue() == ""
    monkeypatch.setenv("CI", "true")
    term = FakeTerminal()
    Progress(term).update(1, 2, 3, 0)
    assert term.getvalue() == ""
