"""SSHContext configs that 1.1.0 accepts, checked without a server (tests/ssh/test_ssh_compat.py logs in for real).

Key files: a profile's ``passphrase`` is used only for a key that is encrypted; a
key that is not encrypted is loaded as it is (1.1.0 logs in with such a key).
Remote roots: ``~/…``, ``~user/…``, relative and empty roots are accepted when the
context is built and resolved on the remote host later; the lookup command is run
here by a local ``sh``, which expands ``~`` the way the remote login shell does.
"""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from helpers import free_port

from dpdispatcher import Machine
from dpdispatcher.errors import ConfigError
from dpdispatcher_ssh.remote_root import join_rest, lookup_command, parse_answer, split_anchor
from dpdispatcher_ssh.session import SSHAuthenticationError, SSHSession

PASSPHRASE = "pp-Secret-4711"
ENCRYPTION = serialization.BestAvailableEncryption(PASSPHRASE.encode())
PLAIN = serialization.NoEncryption()


def _ed25519(encryption: serialization.KeySerializationEncryption) -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)


def _rsa_pem(encryption: serialization.KeySerializationEncryption) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption)


def _ecdsa_pem(encryption: serialization.KeySerializationEncryption) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption)


#: the key file formats ssh-keygen writes (OpenSSH, the default) or wrote (PEM, before OpenSSH 7.8)
FORMATS = {"openssh-ed25519": _ed25519, "pem-rsa": _rsa_pem, "pem-ecdsa": _ecdsa_pem}


def key_file(tmp_path: Path, form: str, encrypted: bool) -> str:
    path = tmp_path / f"{form}{'-enc' if encrypted else ''}"
    path.write_bytes(FORMATS[form](ENCRYPTION if encrypted else PLAIN))
    path.chmod(0o600)
    return str(path)


def session(key: str | None, **secrets: str) -> SSHSession:
    """A session that is never connected: only its key loading is exercised."""
    return SSHSession(hostname="127.0.0.1", key_filename=key, look_for_keys=key is None, allow_agent=False, **secrets)


def loaded_keys(s: SSHSession) -> list[str]:
    return [key.get_base64() for _label, key in s._candidate_keys()]


@pytest.mark.parametrize("form", sorted(FORMATS))
@pytest.mark.parametrize("secret", ["passphrase", "password"])
def test_a_secret_with_an_unencrypted_key_loads_the_key(tmp_path, form, secret):
    """1.1.0 logs in with an unencrypted key_filename whatever passphrase or password the profile carries."""
    path = key_file(tmp_path, form, encrypted=False)
    plain = loaded_keys(session(path))
    assert len(plain) == 1
    assert loaded_keys(session(path, **{secret: PASSPHRASE})) == plain


@pytest.mark.parametrize("form", ["openssh-ed25519", "pem-rsa"])
def test_an_encrypted_key_is_decrypted_with_the_passphrase(tmp_path, form):
    assert len(loaded_keys(session(key_file(tmp_path, form, encrypted=True), passphrase=PASSPHRASE))) == 1


@pytest.mark.parametrize("form", ["openssh-ed25519", "pem-rsa"])
def test_a_wrong_passphrase_is_a_clear_error_that_does_not_quote_it(tmp_path, form, caplog):
    """1.1.0 says only "Please provide at least one form of authentication"; here the key and the cause are named."""
    caplog.set_level(logging.DEBUG)
    path = key_file(tmp_path, form, encrypted=True)
    wrong = "not-the-Passphrase-0815"
    with pytest.raises(SSHAuthenticationError) as err:
        loaded_keys(session(path, passphrase=wrong))
    message = str(err.value)
    assert f"cannot decrypt the key {path} with remote_profile/passphrase: wrong passphrase" in message
    assert wrong not in message and wrong not in caplog.text


def test_an_encrypted_key_without_a_passphrase_says_which_setting_is_missing(tmp_path):
    path = key_file(tmp_path, "openssh-ed25519", encrypted=True)
    with pytest.raises(SSHAuthenticationError, match=r"is encrypted: set remote_profile/passphrase"):
        loaded_keys(session(path, password="a-login-password"))


def test_a_default_key_is_used_although_a_passphrase_is_set(tmp_path, monkeypatch):
    """1.1.0 also tries ~/.ssh/id_* with the profile's passphrase; an unencrypted one was skipped here before."""
    (tmp_path / ".ssh").mkdir()
    path = key_file(tmp_path / ".ssh", "openssh-ed25519", encrypted=False)
    os.rename(path, tmp_path / ".ssh" / "id_ed25519")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(loaded_keys(session(None, passphrase=PASSPHRASE))) == 1


# -- remote_root ---------------------------------------------------------------------


def ssh_machine(tmp_path: Path, remote_root: str) -> Machine:
    profile = {"hostname": "127.0.0.1", "port": free_port(), "known_hosts": str(tmp_path / "known_hosts")}
    return Machine.load_from_dict(
        {
            "batch_type": "Shell",
            "context_type": "SSHContext",
            "local_root": str(tmp_path),
            "remote_root": remote_root,
            "remote_profile": profile,
        }
    )


@pytest.mark.parametrize("remote_root", ["~/work", "~root/work", "work/sub", "./work", ""])
def test_a_remote_root_relative_to_the_account_is_accepted_and_kept_as_configured(tmp_path, remote_root):
    """1.1.0 accepts these (its check makes them absolute on the local side); nothing connects before it is needed
    (the port here is closed), and the machine's identity keeps the configured text."""
    machine = ssh_machine(tmp_path, remote_root)
    assert machine.serialize()["remote_root"] == remote_root
    assert machine.context.session.connections_opened == 0


@pytest.mark.parametrize("remote_root", ["~a b/work", "~$(touch x)/work", "~`id`", "~-/work", "~+"])
def test_a_tilde_word_that_is_not_a_user_name_is_refused_before_connecting(tmp_path, remote_root):
    """1.1.0 would make a directory literally named like this under the login directory; here it is refused
    (the word reaches a remote shell unquoted, so only a plain user name may stand there)."""
    with pytest.raises(ConfigError, match=r"is not a user name the remote shell can expand"):
        ssh_machine(tmp_path, remote_root)


def lookup_locally(configured: str, home: Path, cwd: Path) -> str:
    """Resolve ``configured`` as the remote side would, with a local ``sh`` as the login shell."""
    anchor, rest = split_anchor(configured)
    proc = subprocess.run(
        ["sh", "-c", f"echo 'a login script talking'; {lookup_command(anchor)}"],
        cwd=cwd,
        env={"HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return join_rest(parse_answer(configured, anchor, proc.stdout + proc.stderr, "the test host"), rest)


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("~", "{home}"),
        ("~/work", "{home}/work"),
        ("~//work/", "{home}/work"),
        ("work/sub", "{login}/work/sub"),
        ("./work/../other", "{login}/other"),
        ("", "{login}"),
        ("~root/work", "{root_home}/work"),
    ],
)
def test_the_lookup_gives_the_directory_a_shell_user_means(tmp_path, configured, expected):
    home, login = tmp_path / "home", tmp_path / "login"
    home.mkdir()
    login.mkdir()
    root_home = pwd.getpwnam("root").pw_dir
    want = expected.format(home=home, login=login, root_home=root_home)
    assert lookup_locally(configured, home, login) == want


def test_an_unknown_user_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"there is no user 'no_such_user_dpd' on the test host"):
        lookup_locally("~no_such_user_dpd/work", tmp_path, tmp_path)


def test_an_answer_without_a_directory_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"cannot tell the login directory on h .*sh: pwd: not found"):
        parse_answer("work", "", "sh: pwd: not found", "h")
