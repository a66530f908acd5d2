"""Archive members are checked on extraction: nothing lands outside the target (no sshd needed)."""

from __future__ import annotations

import io
import tarfile

import pytest

from dpdispatcher.errors import ConfigError
from dpdispatcher_ssh.hostkeys import normalize_policy
from dpdispatcher_ssh.ssh_context import SSHContext
from dpdispatcher_ssh.tarstream import Entry, UnsafeArchiveError, safe_extract, write_tar


def _archive(*members: tuple[str, str, str]) -> io.BytesIO:
    """members: (name, kind, payload) with kind file/sym/lnk/dir."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "lnk":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    buf.seek(0)
    return buf


@pytest.mark.parametrize(
    "members",
    [
        [("/tmp/evil", "file", "x")],
        [("../evil", "file", "x")],
        [("a/../../evil", "file", "x")],
        [("link", "sym", "/etc")],
        [("link", "sym", "../../outside")],
        [("hard", "lnk", "../outside")],
        [("d", "sym", "."), ("d/x", "file", "through a link")],
        [("pipe", "fifo", "")],
    ],
)
def test_unsafe_members_are_refused(tmp_path, members):
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(_archive(*members), str(dest))
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "outside").exists()


def test_safe_members_extract_and_replace_existing_symlinks(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (dest / "out.txt").symlink_to(outside)  # a local symlink in the way is replaced, not written through
    archive = _archive(("./a dir", "dir", ""), ("./a dir/f 1.txt", "file", "one"), ("out.txt", "file", "new"))
    assert safe_extract(archive, str(dest)) == ["a dir", "a dir/f 1.txt", "out.txt"]
    assert (dest / "a dir" / "f 1.txt").read_text() == "one"
    assert (dest / "out.txt").read_text() == "new" and not (dest / "out.txt").is_symlink()
    assert outside.read_text() == "keep me"


def test_write_tar_round_trip(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("content")
    buf = io.BytesIO()
    write_tar(buf, [Entry("d"), Entry("d/s.txt", path=str(src)), Entry("m.txt", data=b"mem")])
    buf.seek(0)
    dest = tmp_path / "dest"
    safe_extract(buf, str(dest))
    assert (dest / "d" / "s.txt").read_text() == "content"
    assert (dest / "m.txt").read_text() == "mem"


def test_empty_stream_extracts_nothing(tmp_path):
    assert safe_extract(io.BytesIO(b""), str(tmp_path / "d")) == []


def test_remote_root_must_be_absolute():
    with pytest.raises(ConfigError, match="absolute"):
        SSHContext(local_root=".", remote_root="work/dir", remote_profile={"hostname": "h"})


def test_host_key_policy_names():
    assert normalize_policy(None, None) == "tofu"
    assert normalize_policy(None, True) == "strict"
    assert normalize_policy("accept-any", None) == "accept-any"
    with pytest.raises(ConfigError):
        normalize_policy("yes-whatever", None)
    with pytest.raises(ConfigError):
        normalize_policy("accept-any", True)


def test_public_profile_and_repr_hold_no_secrets():
    profile = {"hostname": "h", "password": "pw-123", "passphrase": "pp-456", "totp_secret": "JBSWY3DPEHPK3PXP"}
    context = SSHContext(local_root=".", remote_root="/r", remote_profile=profile)
    text = repr(context) + repr(context.public_profile()) + repr(context.session)
    for secret in ("pw-123", "pp-456", "JBSWY3DPEHPK3PXP"):
        assert secret not in text
