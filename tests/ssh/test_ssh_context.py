"""SSHContext against a real private sshd on 127.0.0.1 (tests/services/start-sshd.sh).

Covers: the context contract; key, encrypted key, password, password+TOTP and
jump-host logins; unknown/known/changed host keys; transfers with directories,
globs and spaces; unchanged files not resent; sshd restarted mid-run; secrets
absent from records and logs; the Shell machine (and Slurm, when present) end
to end over SSH; one connection for a whole run.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest
from helpers import copy_submission, free_port

from dpdispatcher import JobStatus, Machine
from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import ConfigError, UnsafePathError
from dpdispatcher.testing import ContextContract, MachineContract
from dpdispatcher_ssh import HostKeyError, SSHConnectionError
from dpdispatcher_ssh.session import SSHAuthenticationError

pytestmark = pytest.mark.ssh

#: every wait in these tests is bounded by this many seconds
BOUND = 120


def ssh_context(tmp_path: Path, profile: dict, remote_root: str | None = None) -> BaseContext:
    (tmp_path / "local").mkdir(exist_ok=True)
    return BaseContext.load_from_dict(
        {
            "context_type": "SSHContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": remote_root or str(tmp_path / "remote"),
            "remote_profile": profile,
        }
    )


def ssh_machine(tmp_path: Path, profile: dict, remote_root: str | None = None, batch_type: str = "Shell") -> Machine:
    return Machine.load_from_dict(
        {
            "batch_type": batch_type,
            "context_type": "SSHContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": remote_root or str(tmp_path / "remote"),
            "remote_profile": profile,
        }
    )


def whoami(context: BaseContext) -> str:
    return context.session.exec("whoami").stdout.decode().strip()


# -- contracts -----------------------------------------------------------------------


class TestSSHContextContract(ContextContract):
    @pytest.fixture
    def context(self, tmp_path, sshd):
        return ssh_context(tmp_path, sshd.profile())


class TestShellOverSSHContract(MachineContract):
    @pytest.fixture
    def machine(self, tmp_path, sshd):
        machine = ssh_machine(tmp_path, sshd.profile())
        yield machine
        machine.context.close()


# -- logins ----------------------------------------------------------------------------


def test_key_login_with_tilde_in_key_path(tmp_path, sshd, monkeypatch):
    home = tmp_path / "home"
    (home / "keys").mkdir(parents=True)
    shutil.copy(sshd.KEY, home / "keys" / "k")
    monkeypatch.setenv("HOME", str(home))
    context = ssh_context(tmp_path, sshd.profile(key_filename="~/keys/k"))
    assert whoami(context) == "root"
    context.close()


def test_default_key_in_dot_ssh_is_found(tmp_path, sshd, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd.KEY, home / ".ssh" / "id_ed25519")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    context = ssh_context(tmp_path, sshd.profile(key_filename=None, look_for_keys=True))
    assert whoami(context) == "root"
    context.close()


def test_encrypted_key_with_passphrase(tmp_path, sshd):
    context = ssh_context(tmp_path, sshd.profile(key_filename=sshd.KEY_ENC, passphrase=sshd.KEY_PASSPHRASE))
    assert whoami(context) == "root"
    context.close()


def test_encrypted_key_without_passphrase_says_so(tmp_path, sshd):
    context = ssh_context(tmp_path, sshd.profile(key_filename=sshd.KEY_ENC))
    with pytest.raises(SSHAuthenticationError, match="passphrase"):
        whoami(context)


def test_password_login(tmp_path, sshd, user_remote_root):
    profile = sshd.profile(user=sshd.USER, key_filename=None, password=sshd.PASSWORD)
    context = ssh_context(tmp_path, profile, remote_root=user_remote_root)
    assert whoami(context) == sshd.USER
    context.close()


def test_wrong_password_is_refused_without_echoing_it(tmp_path, sshd):
    profile = sshd.profile(user=sshd.USER, key_filename=None, password="not-the-password-123")
    context = ssh_context(tmp_path, profile)
    with pytest.raises(SSHAuthenticationError) as err:
        whoami(context)
    assert "not-the-password-123" not in str(err.value)


def test_password_and_totp_keyboard_interactive(tmp_path, sshd_totp, user_remote_root):
    profile = sshd_totp.profile(
        user=sshd_totp.USER, key_filename=None, password=sshd_totp.PASSWORD, totp_secret=sshd_totp.TOTP_SECRET
    )
    context = ssh_context(tmp_path, profile, remote_root=user_remote_root)
    assert whoami(context) == sshd_totp.USER
    context.close()


def test_key_then_password_and_totp(tmp_path, sshd_totp, user_remote_root):
    """AuthenticationMethods publickey,keyboard-interactive: the partial success is followed through."""
    profile = sshd_totp.profile(user=sshd_totp.USER, password=sshd_totp.PASSWORD, totp_secret=sshd_totp.TOTP_SECRET)
    context = ssh_context(tmp_path, profile, remote_root=user_remote_root)
    assert whoami(context) == sshd_totp.USER
    context.close()


def test_wrong_totp_secret_is_refused(tmp_path, sshd_totp):
    profile = sshd_totp.profile(
        user=sshd_totp.USER, key_filename=None, password=sshd_totp.PASSWORD, totp_secret="JBSWY3DPEHPK3PXPJBSWY3DP"
    )
    context = ssh_context(tmp_path, profile)
    with pytest.raises(SSHAuthenticationError):
        whoami(context)


def test_jump_host(tmp_path, sshd, jump_sshd):
    # the jump host's known_hosts entry and the target's, in one file
    known = tmp_path / "known_hosts"
    known.write_text(Path(sshd.KNOWN_HOSTS).read_text() + Path(jump_sshd.KNOWN_HOSTS).read_text())
    profile = sshd.profile(
        known_hosts=str(known), jump_hostname="127.0.0.1", jump_port=jump_sshd.port, jump_key_filename=jump_sshd.KEY
    )
    jump_commands = (jump_sshd.dir / "sshd.log").read_text().count("Starting session: command")
    context = ssh_context(tmp_path, profile)
    assert whoami(context) == "root"
    # the target saw the connection come from the jump host's forwarding, not from a direct login
    assert context.session.jump.connections_opened == 1
    context.close()
    # the jump host only forwards: no command ran there (no remote shell either)
    assert (jump_sshd.dir / "sshd.log").read_text().count("Starting session: command") == jump_commands


def test_proxy_command(tmp_path, sshd, jump_sshd):
    proxy = (
        f"ssh -q -i {shlex.quote(jump_sshd.KEY)} -o UserKnownHostsFile={shlex.quote(jump_sshd.KNOWN_HOSTS)} "
        f"-o StrictHostKeyChecking=yes -o BatchMode=yes -p {jump_sshd.port} -W %h:%p root@127.0.0.1"
    )
    context = ssh_context(tmp_path, sshd.profile(proxy_command=proxy))
    assert whoami(context) == "root"
    context.close()


def test_execute_command_runs_after_each_connect(tmp_path, sshd):
    marker = tmp_path / "connects.log"
    context = ssh_context(tmp_path, sshd.profile(execute_command=f"echo connected >> {marker}"))
    whoami(context)
    context.session._drop()  # simulate a dropped connection
    whoami(context)
    assert marker.read_text().splitlines() == ["connected", "connected"]
    context.close()


def test_failing_execute_command_is_an_error(tmp_path, sshd):
    marker = tmp_path / "runs.log"
    context = ssh_context(tmp_path, sshd.profile(execute_command=f"echo run >> {marker}; exit 5"))
    with pytest.raises(SSHConnectionError, match="execute_command"):
        whoami(context)
    assert marker.read_text().splitlines() == ["run"]  # not retried: reconnecting cannot make it pass


def test_unreachable_port_fails_fast_with_a_clear_error(tmp_path, sshd):
    context = ssh_context(tmp_path, sshd.profile(port=free_port(), timeout=5))
    with pytest.raises(SSHConnectionError, match="cannot connect"):
        whoami(context)


# -- host keys -------------------------------------------------------------------------


def _tofu_profile(sshd, known: Path, **extra) -> dict:
    return sshd.profile(known_hosts=str(known), strict_host_key_checking=False, **extra)


def test_unknown_host_is_trusted_on_first_use_and_remembered(tmp_path, sshd):
    known = tmp_path / "ssh" / "known_hosts"
    context = ssh_context(tmp_path, _tofu_profile(sshd, known))
    assert whoami(context) == "root"
    context.close()
    line = known.read_text().strip()
    assert line.startswith(f"[127.0.0.1]:{sshd.port} ")
    # the key remembered is one of the server's
    server_keys = {" ".join(x.split()[1:3]) for x in Path(sshd.KNOWN_HOSTS).read_text().splitlines()}
    assert " ".join(line.split()[1:3]) in server_keys
    # known now: a second connection neither fails nor adds a line
    context = ssh_context(tmp_path, _tofu_profile(sshd, known))
    assert whoami(context) == "root"
    context.close()
    assert len(known.read_text().splitlines()) == 1


def test_strict_checking_refuses_an_unknown_host(tmp_path, sshd):
    known = tmp_path / "known_hosts"
    context = ssh_context(tmp_path, sshd.profile(known_hosts=str(known)))
    with pytest.raises(HostKeyError, match="not in"):
        whoami(context)
    assert not known.exists() or known.read_text() == ""


def test_known_host_is_accepted_in_strict_mode(tmp_path, sshd):
    context = ssh_context(tmp_path, sshd.profile())
    assert whoami(context) == "root"
    context.close()


@pytest.mark.parametrize("strict", [True, False])
def test_changed_host_key_is_refused_with_what_to_do(tmp_path, sshd, strict):
    known = tmp_path / "known_hosts"
    other = paramiko.Ed25519Key.from_private_key_file(sshd.KEY)  # any ed25519 key that is not the host's
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {other.get_base64()}\n")
    context = ssh_context(tmp_path, sshd.profile(known_hosts=str(known), strict_host_key_checking=strict))
    with pytest.raises(HostKeyError) as err:
        whoami(context)
    message = str(err.value)
    assert "CHANGED" in message
    assert f"ssh-keygen -f {known} -R '[127.0.0.1]:{sshd.port}'" in message
    assert known.read_text().count("\n") == 1  # nothing added


def test_accept_any_must_be_named_explicitly(tmp_path, sshd):
    known = tmp_path / "known_hosts"
    other = paramiko.Ed25519Key.from_private_key_file(sshd.KEY)
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {other.get_base64()}\n")
    profile = sshd.profile(known_hosts=str(known), strict_host_key_checking=False, host_key_policy="accept-any")
    context = ssh_context(tmp_path, profile)
    assert whoami(context) == "root"
    context.close()


# -- transfers -----------------------------------------------------------------------


@pytest.fixture
def bound(tmp_path, sshd):
    from dpdispatcher import Resources, Submission, Task

    context = ssh_context(tmp_path, sshd.profile())
    submission = Submission(
        "wb", resources=Resources(group_size=1), task_list=[Task(command="true", task_work_path="a")]
    )
    context.bind_submission(submission)
    yield context
    context.clean()
    context.close()


def test_upload_download_directories_globs_and_spaces(bound):
    local = Path(bound.local_root)
    (local / "task 1" / "in dir" / "deeper").mkdir(parents=True)
    (local / "task 1" / "in dir" / "deeper" / "x y.txt").write_text("xy")
    (local / "task 1" / "a 1.dat").write_text("a")
    (local / "task 1" / "b.dat").write_text("b")
    bound.upload_files(["task 1/in dir", "task 1/a 1.dat", "task 1/b.dat"], dirs=["task 1", "empty task"])
    remote = Path(bound.remote_root)
    assert (remote / "task 1" / "in dir" / "deeper" / "x y.txt").read_text() == "xy"
    assert (remote / "empty task").is_dir()
    bound.run("mkdir -p 'task 1/out dir/sub' && echo o > 'task 1/out dir/sub/o 1.txt' && echo r > 'task 1/r 1.out'")
    shutil.rmtree(local / "task 1")
    missing = bound.download_files(["task 1/out dir", "task 1/*.out", "task 1/*.dat", "task 1/nope*", "task 1/none"])
    assert missing == ["task 1/nope*", "task 1/none"]
    assert (local / "task 1" / "out dir" / "sub" / "o 1.txt").read_text() == "o\n"
    assert (local / "task 1" / "r 1.out").read_text() == "r\n"
    assert sorted(p.name for p in (local / "task 1").glob("*.dat")) == ["a 1.dat", "b.dat"]


def test_unchanged_files_are_not_sent_again(bound, monkeypatch):
    local = Path(bound.local_root)
    (local / "t").mkdir(parents=True)
    (local / "t" / "same.txt").write_text("same")
    (local / "t" / "edited.txt").write_text("v1")
    bound.upload_files(["t/same.txt", "t/edited.txt"])
    remote = Path(bound.remote_root)
    before = (remote / "t" / "same.txt").stat()
    (local / "t" / "edited.txt").write_text("v2")
    bound.upload_files(["t/same.txt", "t/edited.txt"])
    after = (remote / "t" / "same.txt").stat()
    assert (after.st_ino, after.st_ctime_ns) == (before.st_ino, before.st_ctime_ns)  # not rewritten
    assert (remote / "t" / "edited.txt").read_text() == "v2"
    commands = []
    exec_ = bound.session.exec
    monkeypatch.setattr(bound.session, "exec", lambda cmd, **kw: commands.append(cmd) or exec_(cmd, **kw))
    bound.upload_files(["t/same.txt", "t/edited.txt"])
    assert len(commands) == 1  # everything is there: only the content check goes over the link


def test_local_error_during_a_transfer_is_raised_at_once_not_retried(bound):
    start = time.monotonic()
    with pytest.raises(FileNotFoundError):
        bound.upload_files(["not here.txt"])
    assert time.monotonic() - start < 10  # no reconnect-and-retry rounds with backoff
    assert bound.session.connections_opened == 1
    Path(bound.local_root).mkdir(parents=True, exist_ok=True)
    (Path(bound.local_root) / "here.txt").write_text("ok")
    bound.upload_files(["here.txt"])  # the connection is still usable
    assert (Path(bound.remote_root) / "here.txt").read_text() == "ok"


def test_remote_symlink_out_of_the_root_is_refused_not_followed(bound, tmp_path):
    secret_place = tmp_path / "elsewhere.txt"
    secret_place.write_text("content")
    bound.run(f"mkdir -p d && ln -s {shlex.quote(str(secret_place))} d/link.txt")
    with pytest.raises(UnsafePathError, match=r"d/link\.txt -> "):
        bound.download_files(["d/link.txt"])
    assert not os.path.lexists(Path(bound.local_root) / "d" / "link.txt")


def test_read_missing_file_and_relative_escape(bound):
    with pytest.raises(FileNotFoundError):
        bound.read_file("absent.txt")
    with pytest.raises(ConfigError):
        bound.read_file("../x")


def test_run_timeout_is_bounded(bound):
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        bound.run("sleep 30", timeout=1)
    assert time.monotonic() - start < 25
    assert bound.run("echo still usable").stdout == "still usable\n"


# -- a run over SSH --------------------------------------------------------------------


def test_shell_run_uses_one_connection(tmp_path, sshd):
    machine = ssh_machine(tmp_path, sshd.profile())
    submission = copy_submission(machine, n=10, group_size=1, command="cp in.txt out.txt")
    submission.run_submission(check_interval=0.5)
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    for i in range(10):
        assert (tmp_path / "local" / "wb" / f"t{i}" / "out.txt").read_text() == f"{i}\n"
    assert machine.context.session.connections_opened == 1
    machine.context.close()


def test_sshd_restarted_mid_run_does_not_fail_the_run(tmp_path, sshd):
    machine = ssh_machine(tmp_path, sshd.profile(reconnect_attempts=10, reconnect_max_delay=2))
    submission = copy_submission(machine, n=3, group_size=1, command="sleep 4; cp in.txt out.txt")
    restarted = threading.Event()
    problems: list[str] = []

    def restart_when_jobs_run() -> None:
        deadline = time.monotonic() + BOUND
        remote_root = Path(machine.context.init_remote_root, submission.submission_hash)
        while time.monotonic() < deadline and len(list(remote_root.glob("*_job_id"))) < 3:
            time.sleep(0.1)
        try:
            sshd.stop()
            time.sleep(1.5)  # polls in this window find no server
            sshd.start()
            restarted.set()
        except Exception as err:
            problems.append(repr(err))

    thread = threading.Thread(target=restart_when_jobs_run, daemon=True)
    thread.start()
    submission.run_submission(check_interval=0.5)
    thread.join(BOUND)
    assert not problems and restarted.is_set()
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    for i in range(3):
        assert (tmp_path / "local" / "wb" / f"t{i}" / "out.txt").read_text() == f"{i}\n"
    assert machine.context.session.connections_opened >= 2
    machine.context.close()


def test_secrets_are_not_in_records_hash_or_logs(tmp_path, sshd_totp, user_remote_root, caplog):
    caplog.set_level(logging.DEBUG)
    password, totp = sshd_totp.PASSWORD, sshd_totp.TOTP_SECRET
    profile = sshd_totp.profile(user=sshd_totp.USER, key_filename=None, password=password, totp_secret=totp)
    machine = ssh_machine(tmp_path, profile, remote_root=user_remote_root)
    os.chmod(tmp_path, 0o755)
    submission = copy_submission(machine, n=2, group_size=1)
    submission.run_submission(check_interval=0.5, clean=False)
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    records = glob.glob(os.path.join(os.environ["DPDISPATCHER_HOME"], "submission", "*.json"))
    remote_record = Path(machine.context.remote_root) / f"{submission.submission_hash}.json"
    assert records and remote_record.exists()
    texts = [Path(p).read_text() for p in records] + [remote_record.read_text(), caplog.text]
    texts.append(json.dumps(submission.serialize()))
    for text in texts:
        assert password not in text
        assert totp not in text
    # the identity does not depend on the secrets
    other_profile = {**profile, "password": "other", "totp_secret": "JBSWY3DPEHPK3PXP"}
    other = ssh_machine(tmp_path, other_profile, remote_root=user_remote_root)
    assert copy_submission(other, n=2, group_size=1).submission_hash == submission.submission_hash
    machine.context.close()


def test_slurm_over_ssh(tmp_path, sshd):
    pytest.importorskip("dpdispatcher_slurm", reason="the dpdispatcher-slurm plugin is not installed")
    conf = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
    try:
        ok = subprocess.run(["sinfo", "-h"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        pytest.skip("no Slurm cluster answers sinfo on this machine (tests/slurm starts one for its own tests)")
    machine = ssh_machine(tmp_path, sshd.profile(), batch_type="Slurm")
    context = machine.context
    original_run = context.run
    # the test cluster's slurm.conf is not in the default place: tell the remote commands where it is
    context.run = lambda cmd, timeout=None, stdin=None: original_run(
        f"export SLURM_CONF={shlex.quote(conf)}\n{cmd}", timeout, stdin
    )
    submission = copy_submission(machine, n=2, group_size=1, queue_name="")
    submission.run_submission(check_interval=1)
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    context.close()
