"""Exactly once, whatever happens (issue 9), over a real sshd on 127.0.0.1.

* A remote command that exits without reading its stdin is not a lost link: its exit
  status and stderr come back, and nothing reconnects (bytes stdin and streamed stdin).
  A real loss of the link during a send still reconnects and retries.
* A backward symlink comes back as a symlink only when it points inside the job root;
  one pointing outside is refused with an error naming it and its target, and every
  other file is still downloaded (its target's content never is).
* Full disks: a downloaded file is whole or absent; a full local disk is one error
  naming this machine, the path and the bytes needed, with what came before kept whole
  and a re-run completing once there is space; a full remote disk on upload is one
  error naming the host, the remote path and the size being sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_ssh_context import ssh_context

from dpdispatcher import Resources, Submission, Task
from dpdispatcher.errors import SchedulerError, UnsafePathError
from dpdispatcher_ssh.tarstream import DiskFullError

pytestmark = pytest.mark.ssh

#: far more than the SSH windows (ours and the server's) and a pipe buffer hold
BIG = 32 << 20


def _reconnects(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]


@pytest.fixture
def bound(tmp_path, sshd):
    """An SSHContext bound to a one-task submission (job root = remote_root/<hash>)."""
    context = ssh_context(tmp_path, sshd.profile())
    submission = Submission(
        "wb", resources=Resources(group_size=1), task_list=[Task(command="true", task_work_path="a")]
    )
    context.bind_submission(submission)
    yield context
    context.clean()
    context.close()


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs mounted on ``path`` (unmounted afterwards), or a skip saying why it cannot be."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs to fill a disk (needs root and CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# -- 1. a command that exits without reading its stdin -----------------------------------


@pytest.mark.parametrize(
    "cmd", ["exit 3", "head -c1 >/dev/null; echo 'stopped early' >&2; exit 3", "sleep 0.5; exit 3"]
)
def test_command_exiting_without_reading_bytes_stdin_is_not_a_lost_link(tmp_path, sshd, caplog, cmd):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    context = ssh_context(tmp_path, sshd.profile())
    stdin = "x" * BIG
    for _ in range(3):  # the send always outlasts the command: the race happens every time
        start = time.monotonic()
        result = context.run(cmd, stdin=stdin)
        assert result.returncode == 3
        assert time.monotonic() - start < 30
        if "stopped early" in cmd:
            assert "stopped early" in result.stderr
    assert context.session.connections_opened == 1
    assert _reconnects(caplog) == []
    assert context.run("echo still usable").stdout == "still usable\n"
    context.close()


def test_checks_against_a_remote_root_not_made_yet_do_not_reconnect(tmp_path, sshd, caplog):
    """The checks stop at once when the root is absent, before reading the list of names they were sent."""
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    context = ssh_context(tmp_path, sshd.profile(), remote_root=str(tmp_path / "not made yet"))
    names = [f"task.{i:06d}/some/long/enough/name/out.txt" for i in range(400_000)]
    assert context.files_exist(names) == set()
    assert context.session.connections_opened == 1
    assert _reconnects(caplog) == []
    context.close()


def test_command_exiting_without_reading_streamed_stdin_is_not_a_lost_link(tmp_path, sshd, caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    context = ssh_context(tmp_path, sshd.profile())
    session = context.session
    calls = []

    def feed(w) -> None:
        calls.append(1)
        for _ in range(BIG >> 20):
            w.write(b"y" * (1 << 20))

    result = session.exec("head -c1 >/dev/null; echo 'no more, thanks' >&2; exit 4", stdin=feed)
    assert (result.returncode, result.stderr) == (4, b"no more, thanks\n")
    assert calls == [1]  # sent once: nothing was retried
    assert session.connections_opened == 1
    assert _reconnects(caplog) == []
    context.close()


def test_upload_to_an_uncreatable_remote_root_is_one_clear_error(tmp_path, sshd, caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")
    context = ssh_context(tmp_path, sshd.profile(), remote_root=str(blocker / "root"))
    big = Path(context.local_root) / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * (BIG >> 20))
    start = time.monotonic()
    with pytest.raises(SchedulerError) as err:
        context.upload_files(["big.bin"])
    message = str(err.value)
    print(message)
    assert f"cannot enter or create the remote root {blocker / 'root'}" in message
    assert f"root@127.0.0.1:{sshd.port}" in message and "Not a directory" in message
    assert time.monotonic() - start < 30
    assert context.session.connections_opened == 1
    assert _reconnects(caplog) == []
    context.close()


def test_a_link_lost_while_sending_still_reconnects_and_retries(tmp_path, sshd, caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    context = ssh_context(tmp_path, sshd.profile(reconnect_max_delay=1))
    session = context.session
    calls = []

    def feed(w) -> None:
        calls.append(1)
        w.write(b"z" * (2 << 20))
        if len(calls) == 1:
            session._transport.close()  # the link goes down in the middle of the stream
        w.write(b"z" * (2 << 20))

    result = session.exec("wc -c", stdin=feed)
    assert result.returncode == 0 and result.stdout.strip() == str(4 << 20).encode()
    assert calls == [1, 1]
    assert session.connections_opened == 2
    assert len(_reconnects(caplog)) == 1
    context.close()


def test_a_link_lost_while_sending_bytes_still_reconnects_and_retries(tmp_path, sshd, caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    context = ssh_context(tmp_path, sshd.profile(reconnect_max_delay=1))
    session = context.session
    assert session.exec("true").returncode == 0  # connected: the first attempt's transport is this one
    first = session._transport
    # the command reads nothing for 2 s, so the send is still blocked on the window when the link goes
    cut = threading.Timer(0.5, first.close)
    cut.start()
    try:
        result = session.exec("sleep 2; wc -c", stdin=b"w" * BIG)
    finally:
        cut.cancel()
    assert result.returncode == 0 and result.stdout.strip() == str(BIG).encode()
    assert session.connections_opened == 2 and session._transport is not first
    assert len(_reconnects(caplog)) == 1
    context.close()


# -- 2. backward symlinks ------------------------------------------------------------------


def test_backward_symlinks_inside_come_back_as_links_outside_are_refused(bound, tmp_path):
    root = bound.remote_root
    secret = tmp_path / "secret.txt"
    secret.write_text("never copy me")
    (tmp_path / "secret dir").mkdir()
    (tmp_path / "secret dir" / "s.txt").write_text("never copy me")
    setup = f"""
    mkdir -p t/dir/sub
    echo data > t/data.txt
    echo inner > t/dir/sub/f.txt
    ln -s /etc/shadow t/out.txt
    ln -s ../../{shlex.quote(os.path.relpath(secret, root))} t/up.txt
    ln -s data.txt t/rel.txt
    ln -s {shlex.quote(root)}/t/data.txt t/abs.txt
    ln -s dir t/latest
    ln -s ../data.txt t/dir/ok.txt
    ln -s {shlex.quote(str(secret))} t/dir/sub/leak.txt
    ln -s ../../../../../../../../../../etc t/dir/etc
    ln -s {shlex.quote(str(tmp_path / "secret dir"))} t/sd
    """
    assert bound.run(setup).returncode == 0
    patterns = ["t/out.txt", "t/up.txt", "t/rel.txt", "t/abs.txt", "t/latest", "t/dir", "t/data.txt", "t/sd/*"]
    with pytest.raises(UnsafePathError) as err:
        bound.download_files(patterns)
    message = str(err.value)
    print(message)
    assert message.startswith(f"5 backward files point outside the job root {root} and were not downloaded")
    assert f"t/sd/s.txt (its directory leads to {tmp_path / 'secret dir'})" in message
    assert "t/out.txt -> /etc/shadow" in message
    assert f"t/dir/sub/leak.txt -> {secret}" in message
    assert "t/up.txt -> ../../" in message and "t/dir/etc -> ../../" in message
    local = Path(bound.local_root)
    for refused in ("t/out.txt", "t/up.txt", "t/dir/sub/leak.txt", "t/dir/etc", "t/sd"):
        assert not os.path.lexists(local / refused)
    # every other file came back; links inside the job root as links with the same text
    assert (local / "t" / "data.txt").read_text() == "data\n"
    assert (local / "t" / "dir" / "sub" / "f.txt").read_text() == "inner\n"
    assert os.readlink(local / "t" / "rel.txt") == "data.txt"
    assert os.readlink(local / "t" / "latest") == "dir"
    assert os.readlink(local / "t" / "dir" / "ok.txt") == "../data.txt"
    # an absolute link into the job root points at the same file of the local copy
    assert os.readlink(local / "t" / "abs.txt") == "data.txt"
    assert (local / "t" / "abs.txt").read_text() == "data\n"
    # nothing anywhere under local_root holds the content of a target outside the job root
    for path in local.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert path.read_bytes() != b"never copy me\n"
            assert "root:" not in path.read_text(errors="replace")


def test_a_run_whose_task_leaves_an_outside_symlink_fails_naming_it(tmp_path, sshd):
    from test_ssh_context import ssh_machine

    machine = ssh_machine(tmp_path, sshd.profile())
    (tmp_path / "local" / "wb" / "t0").mkdir(parents=True)
    task = Task(
        command="echo ok > good.txt; ln -s /etc/shadow out.txt",
        task_work_path="t0/",
        backward_files=["good.txt", "out.txt"],
    )
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=[task])
    with pytest.raises(UnsafePathError, match=r"t0/out.txt -> /etc/shadow"):
        submission.run_submission(check_interval=0.2)
    local = tmp_path / "local" / "wb" / "t0"
    assert (local / "good.txt").read_text() == "ok\n"
    assert not os.path.lexists(local / "out.txt")
    machine.context.close()


# -- 3. full disks ---------------------------------------------------------------------------


def test_full_local_disk_keeps_what_came_before_and_a_rerun_completes(tmp_path, sshd, caplog):
    caplog.set_level(logging.INFO, logger="dpdispatcher_ssh")
    local = tmp_path / "local"
    with tmpfs(local, "1m"):
        context = ssh_context(tmp_path, sshd.profile())
        payload = os.urandom(3 << 20)
        (tmp_path / "remote").mkdir(exist_ok=True)
        for i in range(3):
            (tmp_path / "remote" / f"small{i}.txt").write_text(f"small {i}\n" * 100)
        (tmp_path / "remote" / "big.bin").write_bytes(payload)
        (tmp_path / "remote" / "after.txt").write_text("after\n")
        (local / "big.bin").write_text("the previous result")  # an older result in the way stays whole
        patterns = ["small0.txt", "small1.txt", "small2.txt", "big.bin", "after.txt"]
        with pytest.raises(DiskFullError) as err:
            context.download_files(patterns)
        message = str(err.value)
        print(message)
        assert message.startswith("no space left on this machine")
        assert f"{local / 'big.bin'}" in message
        assert f"{3 << 20:,} bytes" in message
        assert "3 files downloaded before it are complete" in message
        assert isinstance(err.value, OSError) and err.value.errno == 28
        # before it: whole; the file itself: the old one untouched, no partial or temporary file anywhere
        for i in range(3):
            assert (local / f"small{i}.txt").read_text() == f"small {i}\n" * 100
        assert (local / "big.bin").read_text() == "the previous result"
        assert sorted(p.name for p in local.iterdir()) == ["big.bin", "small0.txt", "small1.txt", "small2.txt"]
        assert context.session.connections_opened == 1 and _reconnects(caplog) == []
        # space freed: the same download completes
        subprocess.run(["mount", "-o", "remount,size=16m", str(local)], check=True)
        assert context.download_files(patterns) == []
        assert (local / "big.bin").read_bytes() == payload
        assert (local / "after.txt").read_text() == "after\n"
        context.close()


def test_full_remote_disk_on_upload_names_host_path_and_size(tmp_path, sshd):
    remote = tmp_path / "remote"
    with tmpfs(remote, "1m"):
        context = ssh_context(tmp_path, sshd.profile(), remote_root=str(remote))
        local = Path(context.local_root)
        (local / "big.bin").write_bytes(os.urandom(3 << 20))
        (local / "small.txt").write_text("small\n")
        with pytest.raises(SchedulerError) as err:
            context.upload_files(["small.txt", "big.bin"])
        message = str(err.value)
        print(message)
        assert message.startswith(f"the remote disk is full: root@127.0.0.1:{sshd.port}")
        assert f"under {remote}" in message
        assert f"{(3 << 20) + 6:,} bytes" in message
        assert "The remote tar said: tar: big.bin: " in message
        assert context.session.connections_opened == 1
        context.close()
