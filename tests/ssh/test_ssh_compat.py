"""SSHContext configs written for 1.1.0, against a real private sshd on 127.0.0.1 (tests/ssh/conftest.py).

Logins: a profile carrying a passphrase or a password next to a key file that is
not encrypted logs in with the key; a wrong passphrase is a clear error that does
not quote it. Remote roots: ``~/…``, ``~user/…``, relative and empty roots are
resolved on the remote side once, and every command, transfer, job script and
record then uses the absolute directory, across reconnections.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import pwd
import shutil
import uuid
from pathlib import Path

import pytest
from helpers import copy_submission

from dpdispatcher import JobStatus, Machine
from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import ConfigError
from dpdispatcher_ssh.remote_root import MARK
from dpdispatcher_ssh.session import SSHAuthenticationError

pytestmark = pytest.mark.ssh

#: a submission hash for binding a context without a submission
HASH = "5" * 40


def ssh_machine_dict(tmp_path: Path, profile: dict, remote_root: str) -> dict:
    (tmp_path / "local").mkdir(exist_ok=True)
    return {
        "batch_type": "Shell",
        "context_type": "SSHContext",
        "local_root": str(tmp_path / "local"),
        "remote_root": remote_root,
        "remote_profile": profile,
    }


def ssh_context(tmp_path: Path, profile: dict, remote_root: str) -> BaseContext:
    return BaseContext.load_from_dict(ssh_machine_dict(tmp_path, profile, remote_root))


def whoami(context: BaseContext) -> str:
    return context.run("whoami").stdout.strip()


# -- logins ----------------------------------------------------------------------------
# root may log in by key only (PermitRootLogin prohibit-password): a root login is a key login


@pytest.mark.parametrize("secret", ["passphrase", "password"])
def test_a_secret_next_to_an_unencrypted_key_logs_in_with_the_key(tmp_path, sshd, secret, caplog):
    """1.1.0 logs in with an unencrypted key_filename even when the profile also gives a passphrase or password."""
    caplog.set_level(logging.DEBUG)
    value = "an-unused-Secret-2718"
    context = ssh_context(tmp_path, sshd.profile(**{secret: value}), str(tmp_path / "remote"))
    assert whoami(context) == "root"
    assert value not in caplog.text
    context.close()


def test_a_wrong_passphrase_for_an_encrypted_key_is_a_clear_error(tmp_path, sshd, caplog):
    """1.1.0 says "Please provide at least one form of authentication"; here the key and the cause are named."""
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-Passphrase-1618"
    profile = sshd.profile(key_filename=sshd.KEY_ENC, passphrase=wrong)
    context = ssh_context(tmp_path, profile, str(tmp_path / "remote"))
    with pytest.raises(SSHAuthenticationError) as err:
        whoami(context)
    message = str(err.value)
    assert f"cannot decrypt the key {sshd.KEY_ENC} with remote_profile/passphrase: wrong passphrase" in message
    assert wrong not in message and wrong not in caplog.text
    assert context.session.connections_opened == 0


# -- remote_root relative to the account -----------------------------------------------


@pytest.fixture
def user_home(sshd):
    """The test user's home directory and a fresh name under it; whatever a test made there is removed."""
    home = Path(pwd.getpwnam(sshd.USER).pw_dir)
    name = f"dpd-compat-{uuid.uuid4().hex[:8]}"
    yield home, name
    for made in (home / name, home / HASH, home / "~" / name):
        shutil.rmtree(made, ignore_errors=True)


@pytest.mark.parametrize(
    ("login", "configured", "base"),
    [
        ("user", "{name}/work", "{name}/work"),
        ("user", "./{name}/work/", "{name}/work"),
        ("user", "~/{name}/work", "{name}/work"),
        ("root", "~{user}/{name}", "{name}"),
        ("user", "", ""),
    ],
)
def test_a_remote_root_relative_to_the_account_is_resolved_on_the_remote_side(
    tmp_path, sshd, user_home, login, configured, base
):
    """1.1.0 accepts these and puts its SFTP paths under the login directory (a `~` there is a literal
    directory name, and its shell commands then miss the files); here `~` is the home directory and
    everything uses the one absolute directory."""
    home, name = user_home
    user = sshd.USER if login == "user" else "root"
    remote_root = configured.format(name=name, user=sshd.USER)
    context = ssh_context(tmp_path, sshd.profile(user=user), remote_root)
    context.bind(".", HASH)
    job_root = os.path.normpath(home / base.format(name=name)) + f"/{HASH}"
    assert context.remote_root == job_root
    (tmp_path / "local" / "in.txt").write_text("sent")
    context.upload_files(["in.txt"])
    assert (Path(job_root) / "in.txt").read_text() == "sent"
    assert context.run("pwd").stdout.strip() == job_root
    assert not (home / "~" / name).exists()
    context.clean()
    assert not Path(job_root).exists() and home.is_dir()  # the job root goes, never what it is under
    context.close()


def test_the_resolved_root_survives_a_dropped_connection(tmp_path, sshd, user_home, monkeypatch):
    """Resolved once (1.1.0 keeps its root for the life of the context too); a reconnection keeps it."""
    home, name = user_home
    context = ssh_context(tmp_path, sshd.profile(user=sshd.USER), f"~/{name}")
    session = context.session
    lookups: list[str] = []
    exec_ = session.exec

    def counting_exec(cmd: str, **kwargs):
        if MARK in cmd:
            lookups.append(cmd)
        return exec_(cmd, **kwargs)

    monkeypatch.setattr(session, "exec", counting_exec)
    context.bind(".", HASH)
    job_root = context.remote_root
    assert job_root == f"{home}/{name}/{HASH}"
    session._drop()  # the link goes down
    assert context.run("pwd").stdout.strip() == job_root
    context.bind(".", "6" * 40)
    assert context.remote_root == f"{home}/{name}/{'6' * 40}"
    assert session.connections_opened == 2
    assert len(lookups) == 1
    context.close()


def test_an_unknown_user_in_the_remote_root_is_named(tmp_path, sshd, user_home):
    home, name = user_home
    context = ssh_context(tmp_path, sshd.profile(user=sshd.USER), f"~no_such_user_dpd/{name}")
    with pytest.raises(ConfigError, match=r"remote_root '~no_such_user_dpd/.*': there is no user 'no_such_user_dpd'"):
        context.bind(".", HASH)
    assert not (home / name).exists() and not (home / "~no_such_user_dpd").exists()
    context.close()


def test_a_run_under_a_tilde_root_with_a_passphrase_profile(tmp_path, sshd, user_home, caplog):
    """A 1.1.0 machine config as published: `~/…` root, key plus passphrase and password. The run finishes;
    the job scripts and the commands use the absolute root; the record keeps the configured root (part of
    the submission's identity, as in 1.1.0's records); no secret is written anywhere."""
    caplog.set_level(logging.DEBUG)
    home, name = user_home
    passphrase, password = "unused-Passphrase-577", "unused-Password-215"
    profile = sshd.profile(user=sshd.USER, passphrase=passphrase, password=password)
    machine = Machine.load_from_dict(ssh_machine_dict(tmp_path, profile, f"~/{name}"))
    submission = copy_submission(machine, n=2, group_size=1)
    submission.run_submission(check_interval=0.2, clean=False)
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    for i in range(2):
        assert (tmp_path / "local" / "wb" / f"t{i}" / "out.txt").read_text() == f"{i}\n"
    job_root = home / name / submission.submission_hash
    assert machine.context.remote_root == str(job_root)
    scripts = sorted(job_root.glob("*.sub"))
    assert len(scripts) == 2
    assert all(f"REMOTE_ROOT={job_root}\n" in script.read_text() for script in scripts)
    remote_record = (job_root / f"{submission.submission_hash}.json").read_text()
    assert json.loads(remote_record)["machine"]["remote_root"] == f"~/{name}"
    local_records = glob.glob(os.path.join(os.environ["DPDISPATCHER_HOME"], "submission", "*.json"))
    assert len(local_records) == 1
    for text in [remote_record, Path(local_records[0]).read_text(), caplog.text]:
        assert passphrase not in text and password not in text
    assert not (home / "~" / name).exists()
    machine.context.close()


def test_an_empty_root_continues_from_a_previous_submission(tmp_path, sshd, user_home):
    """1.1.0 puts the job roots under the login directory for remote_root ""; previous_submission_hash then
    finds the earlier job root there and runs none of its finished tasks again."""
    home, name = user_home
    ledger = home / name / "ledger"
    ledger.parent.mkdir()
    shutil.chown(ledger.parent, sshd.USER)
    machine_dict = ssh_machine_dict(tmp_path, sshd.profile(user=sshd.USER), "")
    first = copy_submission(
        Machine.load_from_dict(machine_dict), n=2, group_size=2, command=f"echo x >> {ledger}; cp in.txt out.txt"
    )
    again = copy_submission(
        Machine.load_from_dict(machine_dict), n=2, group_size=1, command=f"echo x >> {ledger}; cp in.txt out.txt"
    )
    roots = [home / first.submission_hash, home / again.submission_hash]
    try:
        first.run_submission(check_interval=0.2, clean=False)
        again.previous_submission_hash = first.submission_hash
        again.run_submission(check_interval=0.2)
        assert ledger.read_text() == "x\nx\n"  # each task ran once
        assert not roots[0].exists()  # the first job root became the second's, removed after success
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
        first.machine.context.close()
        again.machine.context.close()
