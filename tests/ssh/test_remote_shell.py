"""Short commands run in one long-lived remote shell (dpdispatcher_ssh.remote_shell), against a real sshd.

Each command still runs in its own process, in the login directory (or the remote root),
with its own stdin, stdout, stderr and exit status; a shell that cannot start, or that
goes away, leaves every command working on its own channel.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest
from test_ssh_context import ssh_context

from dpdispatcher_ssh import remote_shell, session

pytestmark = pytest.mark.ssh

#: every wait in these tests is bounded by this many seconds
BOUND = 60


def sessions_started(sshd) -> int:
    """How many channels sshd started a command on (its log says so once per channel)."""
    return (sshd.dir / "sshd.log").read_text().count("Starting session: command")


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def context(tmp_path, sshd):
    context = ssh_context(tmp_path, sshd.profile())
    yield context
    context.close()


def test_many_commands_start_one_remote_shell(context, sshd):
    before = sessions_started(sshd)  # not connected yet: the shell starts with the connection
    outputs = [context.session.exec(f"echo {i}").stdout for i in range(20)]
    assert outputs == [f"{i}\n".encode() for i in range(20)]
    assert sessions_started(sshd) - before == 1


def test_each_command_runs_in_a_fresh_process_in_the_login_directory(context):
    home = context.session.exec("pwd").stdout
    context.session.exec("x=1; export Y=2; cd /")
    assert context.session.exec("echo ${x:-unset} ${Y:-unset}; pwd").stdout == b"unset unset\n" + home
    assert context.session.exec("-x 2>/dev/null; echo after").stdout == b"after\n"  # a command, not an option
    first, second = (context.session.exec("echo $$").stdout for _ in range(2))
    assert first != second  # scripts that name files after $$ (the submit marker) see their own process


def test_stdin_stdout_stderr_and_status_come_back_byte_for_byte(context):
    stdin = b"a\0b\n\n\xff" * 1000 + b"\n\n"
    result = context.session.exec("cat; printf 'e\\0rr\\n\\n' >&2; exit 5", stdin=stdin)
    assert (result.returncode, result.stdout, result.stderr) == (5, stdin, b"e\0rr\n\n")
    assert context.run("pwd").stdout.strip() == context.remote_root  # commands with a directory run in it


def test_a_host_where_the_shell_cannot_start_runs_each_command_on_its_own_channel(tmp_path, sshd, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="dpdispatcher_ssh")
    monkeypatch.setattr(remote_shell, "LOOP", "exit 1")  # as on a host without bash or GNU head
    context = ssh_context(tmp_path, sshd.profile())
    before = sessions_started(sshd)
    assert [context.session.exec(f"echo {i}").stdout for i in range(5)] == [f"{i}\n".encode() for i in range(5)]
    assert sessions_started(sshd) - before == 1 + 5  # tried once on this connection, then a channel each
    assert any("no remote shell" in r.getMessage() for r in caplog.records)
    context.close()


def test_a_shell_that_went_away_is_replaced(context):
    pid = int(context.session.exec("echo $PPID").stdout)  # the command's parent is the shell
    shell = context.session._shell
    os.kill(pid, signal.SIGKILL)  # the sshd is on this machine
    wait_until(lambda: shell.ended, "the shell's channel to end")
    result = context.session.exec("echo $PPID")
    assert result.returncode == 0 and int(result.stdout) != pid
    assert context.session.connections_opened == 1


def test_a_link_lost_during_a_command_in_the_shell_reconnects_and_retries(tmp_path, sshd, caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    context = ssh_context(tmp_path, sshd.profile(reconnect_max_delay=1))
    session_ = context.session
    assert session_.exec("true").returncode == 0
    first = session_._transport
    cut = threading.Timer(0.5, first.close)  # while the command sleeps
    cut.start()
    try:
        result = session_.exec("sleep 2; echo done", stdin=b"some input")
    finally:
        cut.cancel()
    assert (result.returncode, result.stdout) == (0, b"done\n")
    assert session_.connections_opened == 2 and session_._transport is not first
    assert len([r for r in caplog.records if "reconnecting" in r.getMessage()]) == 1
    context.close()


def test_large_stdin_is_streamed_on_its_own_channel(context, sshd):
    before = sessions_started(sshd)
    context.session.exec("true")  # the shell is up
    big = b"z" * (session.SHELL_STDIN_LIMIT + 1)
    assert context.session.exec("wc -c", stdin=big).stdout.strip() == str(len(big)).encode()
    assert sessions_started(sshd) - before == 2  # the shell, and the big command's own channel


def test_small_writes_and_uploads_go_through_the_shell(context, sshd, tmp_path):
    context.session.exec("true")  # the shell is up
    before = sessions_started(sshd)
    context.write_files({"a/job.sub": "echo a\n", "b.json": "{}"})
    (tmp_path / "local" / "in.txt").write_text("input")
    context.upload_files(["in.txt"], dirs=["task"])
    assert sessions_started(sshd) == before  # no channel of their own
    remote = tmp_path / "remote"
    assert (remote / "a" / "job.sub").read_text() == "echo a\n" and (remote / "b.json").read_text() == "{}"
    assert (remote / "in.txt").read_text() == "input" and (remote / "task").is_dir()


def test_a_large_upload_is_streamed_on_its_own_channel(context, sshd, tmp_path):
    context.session.exec("true")
    before = sessions_started(sshd)
    big = os.urandom(session.SHELL_STDIN_LIMIT + 1)
    (tmp_path / "local" / "big.bin").write_bytes(big)
    context.upload_files(["big.bin"])
    assert (tmp_path / "remote" / "big.bin").read_bytes() == big
    assert sessions_started(sshd) - before == 1
