"""Archive members are checked on extraction: nothing lands outside the target, every file is whole or absent (no sshd needed)."""

from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import tarfile

import pytest

from dpdispatcher.errors import ConfigError, UnsafePathError
from dpdispatcher_ssh.hostkeys import normalize_policy
from dpdispatcher_ssh.ssh_context import SSHContext
from dpdispatcher_ssh.tarread import TarReader
from dpdispatcher_ssh.tarstream import DiskFullError, Entry, UnsafeArchiveError, human_size, safe_extract, write_tar


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
        [("hard", "lnk", "../outside")],
        [("hard", "lnk", "not-a-member")],
        [("pipe", "fifo", "")],
    ],
)
def test_unsafe_members_are_refused(tmp_path, members):
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(_archive(*members), str(dest))
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "outside").exists()


def test_symlinks_inside_the_root_are_kept_outside_refused_and_the_rest_extracted(tmp_path):
    dest = tmp_path / "dest"
    archive = _archive(
        ("t/data.txt", "file", "data"),
        ("t/rel.txt", "sym", "data.txt"),
        ("t/d/up.txt", "sym", "../data.txt"),
        ("t/root.txt", "sym", "../t/data.txt"),
        ("t/abs.txt", "sym", "/remote/job/t/data.txt"),
        ("t/escape.txt", "sym", "../../outside"),
        ("t/d/escape.txt", "sym", "../../../outside"),
        ("t/shadow.txt", "sym", "/etc/shadow"),
        ("t/near.txt", "sym", "/remote/job-other/x"),
        ("t/after.txt", "file", "after"),
    )
    with pytest.raises(UnsafePathError) as err:
        safe_extract(archive, str(dest), root="/remote/job")
    message = str(err.value)
    assert message.startswith("4 backward files point outside the job root /remote/job and were not downloaded")
    for line in ("t/escape.txt -> ../../outside", "t/d/escape.txt -> ../../../outside", "t/shadow.txt -> /etc/shadow"):
        assert f"\n  {line}\n" in message
    assert isinstance(err.value, ConfigError)
    t = dest / "t"
    assert (t / "data.txt").read_text() == "data" and (t / "after.txt").read_text() == "after"
    assert [os.readlink(t / n) for n in ("rel.txt", "d/up.txt", "root.txt")] == [
        "data.txt",
        "../data.txt",
        "../t/data.txt",
    ]
    assert os.readlink(t / "abs.txt") == "data.txt"  # absolute into the job root: the same file of the copy
    for name in ("escape.txt", "d/escape.txt", "shadow.txt", "near.txt"):
        assert not os.path.lexists(t / name)


def test_absolute_symlinks_are_refused_without_a_root(tmp_path):
    with pytest.raises(UnsafePathError, match="link -> /etc"):
        safe_extract(_archive(("link", "sym", "/etc"), ("f", "file", "x")), str(tmp_path / "dest"))
    assert (tmp_path / "dest" / "f").read_text() == "x"


def test_a_member_under_a_symlink_of_the_archive_lands_where_the_link_points_inside(tmp_path):
    dest = tmp_path / "dest"
    archive = _archive(("t/dir", "dir", ""), ("t/latest", "sym", "dir"), ("t/latest/f.txt", "file", "f"))
    assert safe_extract(archive, str(dest)) == ["t/dir", "t/latest", "t/latest/f.txt"]
    assert (dest / "t" / "dir" / "f.txt").read_text() == "f" and os.readlink(dest / "t" / "latest") == "dir"


def test_hard_links_to_an_earlier_member_are_kept(tmp_path):
    dest = tmp_path / "dest"
    safe_extract(_archive(("a.txt", "file", "same"), ("d/b.txt", "lnk", "a.txt")), str(dest))
    assert os.path.samefile(dest / "a.txt", dest / "d" / "b.txt")


def test_a_local_symlink_out_of_the_destination_is_not_written_through(tmp_path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "t").symlink_to(outside)
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(_archive(("t/x.txt", "file", "x")), str(dest))
    assert not any(outside.iterdir())


def test_a_broken_stream_leaves_every_file_whole_or_absent(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "big.bin").write_text("the previous result")
    whole = _archive(("first.txt", "file", "first"), ("big.bin", "file", "x" * 100_000)).getvalue()
    with pytest.raises(tarfile.ReadError):
        safe_extract(io.BytesIO(whole[:50_000]), str(dest))  # cut in the middle of big.bin
    assert (dest / "first.txt").read_text() == "first"
    assert (dest / "big.bin").read_text() == "the previous result"
    assert sorted(p.name for p in dest.iterdir()) == ["big.bin", "first.txt"]  # no partial file left


def test_a_full_disk_is_one_clear_error_and_leaves_nothing_partial(tmp_path, monkeypatch):
    dest = tmp_path / "dest"
    copy = TarReader.copy_to

    def fill_up(reader, out):
        if out.name.startswith(str(dest / ".big.bin.")):
            out.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        copy(reader, out)

    monkeypatch.setattr(TarReader, "copy_to", fill_up)
    archive = _archive(("a.txt", "file", "a"), ("d", "dir", ""), ("big.bin", "file", "x" * 5000), ("z", "file", "z"))
    with pytest.raises(DiskFullError) as err:
        safe_extract(archive, str(dest))
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert str(err.value).startswith(
        f"no space left on this machine: cannot write {dest / 'big.bin'} (needs 5,000 bytes"
    )
    assert "The 1 file downloaded before it is complete" in str(err.value)
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "d"]


def test_human_size():
    assert human_size(6) == "6 bytes"
    assert human_size(3 << 20) == "3,145,728 bytes (3.0 MiB)"


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


@pytest.mark.parametrize("compress", [False, True])
def test_write_tar_is_read_by_gnu_tar_and_by_safe_extract(tmp_path, compress):
    if shutil.which("tar") is None:
        pytest.skip("no tar on this machine")
    big = os.urandom(3 << 20) + b"tail"  # over the read buffer, not a multiple of a block
    (tmp_path / "big.bin").write_bytes(big)
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o750)
    long_name = "d/" + "x" * 150 + "/f é.txt"  # past the 100 bytes of a plain header
    entries = [Entry("d"), Entry(long_name, data=b"long\n"), Entry("big.bin", path=str(tmp_path / "big.bin"))]
    entries.append(Entry("run.sh", path=str(tmp_path / "run.sh")))
    buf = io.BytesIO()
    write_tar(buf, entries, compress)
    archive = buf.getvalue()
    if not compress:
        assert len(archive) % tarfile.RECORDSIZE == 0
    for way in ("gnu", "ours"):
        dest = tmp_path / way
        dest.mkdir()
        if way == "gnu":
            subprocess.run(["tar", "-xzf" if compress else "-xf", "-", "-C", str(dest)], input=archive, check=True)
        else:
            safe_extract(io.BytesIO(archive), str(dest), compress)
        assert (dest / "big.bin").read_bytes() == big
        assert (dest / long_name).read_bytes() == b"long\n"
        assert (dest / "run.sh").stat().st_mode & 0o777 == 0o750


@pytest.mark.parametrize("fmt", ["gnu", "pax", "oldgnu"])
@pytest.mark.parametrize("compress", [False, True])
def test_what_gnu_tar_writes_is_extracted_whole(tmp_path, fmt, compress):
    """Long names and links (GNU L/K records or pax headers), hard links, symlinks, many small files, a large one."""
    if shutil.which("tar") is None:
        pytest.skip("no tar on this machine")
    tree = tmp_path / "src" / "t"
    deep = tree / ("y" * 120) / "z" / "z"
    deep.mkdir(parents=True)
    (deep / "ünï file.txt").write_text("deep")
    for i in range(300):
        (tree / f"s{i}").write_text(str(i) * i)
    os.link(tree / "s5", tree / "hard5")
    os.symlink("s7", tree / "link7")
    os.symlink("y" * 120 + "/z/z/ünï file.txt", tree / ("l" * 120))
    big = os.urandom(3 << 20)
    (tree / "big").write_bytes(big)
    flags = "-czf" if compress else "-cf"
    archive = subprocess.run(
        ["tar", flags, "-", f"--format={fmt}", "t"], cwd=tmp_path / "src", capture_output=True, check=True
    ).stdout
    dest = tmp_path / "dest"
    extracted = safe_extract(io.BytesIO(archive), str(dest), compress)
    assert len(extracted) == 1 + 3 + 1 + 300 + 4  # t, three directories, the deep file, s*, hard5, link7, l..., big
    out = dest / "t"
    assert (out / ("y" * 120) / "z" / "z" / "ünï file.txt").read_text() == "deep"
    assert all((out / f"s{i}").read_text() == str(i) * i for i in range(300))
    assert os.stat(out / "hard5").st_ino == os.stat(out / "s5").st_ino
    assert os.readlink(out / "link7") == "s7" and (out / ("l" * 120)).read_text() == "deep"
    assert (out / "big").read_bytes() == big


def test_a_sparse_member_is_refused(tmp_path):
    if shutil.which("tar") is None:
        pytest.skip("no tar on this machine")
    with open(tmp_path / "holes", "wb") as f:
        f.truncate(1 << 20)
        f.write(b"data")
    archive = subprocess.run(
        ["tar", "--sparse", "-cf", "-", "holes"], cwd=tmp_path, capture_output=True, check=True
    ).stdout
    with pytest.raises(UnsafeArchiveError, match="'holes' is not a regular file"):
        safe_extract(io.BytesIO(archive), str(tmp_path / "dest"))


def test_a_file_that_shrinks_while_it_is_sent_is_an_error_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "shrinking.dat"
    path.write_bytes(b"x" * 1000)
    real_stat = os.stat

    def stat_before_it_shrank(p, *args, **kwargs):
        st = real_stat(p, *args, **kwargs)
        if str(p) != str(path):
            return st
        fields = list(st)
        fields[6] = 5000  # st_size: the file was bigger when it was looked at
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", stat_before_it_shrank)
    with pytest.raises(OSError, match=r"shrinking\.dat became shorter while it was being sent \(1000 of 5000 bytes"):
        write_tar(io.BytesIO(), [Entry("shrinking.dat", path=str(path))])


def test_empty_stream_extracts_nothing(tmp_path):
    assert safe_extract(io.BytesIO(b""), str(tmp_path / "d")) == []


def test_a_relative_remote_root_is_never_used_as_it_is():
    """It names a place under the login directory: resolved there on connecting (tests/ssh/test_ssh_compat.py)."""
    context = SSHContext(local_root=".", remote_root="work/dir", remote_profile={"hostname": "h"})
    assert context.init_remote_root == "work/dir"
    assert context.remote_root == ""


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
