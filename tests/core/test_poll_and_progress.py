"""Poll schedule and progress display."""

from __future__ import annotations

import io

from dpdispatcher.poll import TAG_INTERVAL, TAG_SHARE, PollClock, PollSchedule
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


def test_the_clock_asks_the_scheduler_on_its_schedule_and_looks_at_tags_between(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("dpdispatcher.poll.time.monotonic", lambda: now[0])
    clock = PollClock(check_interval=60)
    assert clock.scheduler_due()  # the first poll asks the scheduler
    for _ in range(30):
        clock.queried()
    assert not clock.scheduler_due()
    assert clock.next_wait() == TAG_INTERVAL  # the scheduler is 60 s away; the tags are looked at before
    clock.tags_looked_at(1.0)  # a slow look (many jobs, a slow link): looks become rarer
    assert clock.next_wait() == 1.0 / TAG_SHARE
    now[0] += 60
    assert clock.scheduler_due()
    clock.reset()  # after a submission the scheduler is asked again soon
    assert clock.next_wait() <= 0.1
