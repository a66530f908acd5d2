"""Contexts built and used as the published dpdispatcher 1.1.0 builds and uses them.

Each test names the 1.1.0 behaviour it pins; every one was compared side by side with 1.1.0
(``base_context.py``, ``contexts/local_context.py``, ``contexts/lazy_local_context.py``,
``machine.py``). Where we differ on purpose (links leaving the job root, results copied rather
than moved) the test says so.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import types
from pathlib import Path

import pytest
from helpers import local_machine

from dpdispatcher import Machine, Resources, Submission, Task, hookimpl, plugins
from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import ConfigError, PluginNotFoundError, UnsafePathError
from dpdispatcher_local import LazyLocalContext, LocalContext

# -- building contexts -------------------------------------------------------------


def test_local_context_takes_the_published_keywords_and_positions(tmp_path):
    """1.1.0: LocalContext(local_root, remote_root, remote_profile=None, *args, **kwargs); context_type is ignored."""
    by_keyword = LocalContext(local_root=str(tmp_path), remote_root="/scratch/r", remote_profile={"symlink": False})
    assert (by_keyword.init_remote_root, by_keyword.remote_profile, by_keyword.symlink) == (
        "/scratch/r",
        {"symlink": False},
        False,
    )
    by_position = LocalContext(str(tmp_path), "/scratch/r", context_type="LocalContext")
    assert type(by_position) is LocalContext and by_position.init_local_root == str(tmp_path)
    assert by_position.symlink is True  # 1.1.0: remote_profile/symlink defaults to true


def test_lazy_local_context_needs_only_local_root(tmp_path):
    """1.1.0: LazyLocalContext(local_root, remote_root=None, ...); its remote_profile has no keys."""
    context = LazyLocalContext(local_root=str(tmp_path), context_type="LazyLocalContext")
    assert context.init_remote_root is None and context.remote_profile == {}
    machine = Machine.load_from_dict({"batch_type": "Shell", "context_type": "LazyLocalContext", "local_root": "./"})
    assert machine.serialize()["remote_profile"] == {}


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("LocalContext", LocalContext),
        ("local", LocalContext),
        ("LazyLocal", LazyLocalContext),
        ("lazylocalcontext", LazyLocalContext),
    ],
)
def test_base_context_builds_the_class_its_context_type_names(tmp_path, name, cls):
    """1.1.0: BaseContext(context_type=...) and BaseContext.load_from_dict dispatch by name and its aliases."""
    called = BaseContext(context_type=name, local_root=str(tmp_path), remote_root="/r", remote_profile={})
    loaded = BaseContext.load_from_dict({"context_type": name, "local_root": str(tmp_path), "remote_root": "/r"})
    assert type(called) is cls and type(loaded) is cls
    assert called.init_remote_root == loaded.init_remote_root == "/r"


def test_a_concrete_load_from_dict_builds_its_own_class(tmp_path):
    """1.1.0: LocalContext.load_from_dict reads the roots and ignores context_type."""
    config = {"local_root": str(tmp_path), "remote_root": "/r", "remote_profile": {"symlink": False}}
    assert type(LocalContext.load_from_dict(config)) is LocalContext
    assert type(LocalContext.load_from_dict({**config, "context_type": "LazyLocalContext"})) is LocalContext


def test_a_missing_or_unknown_context_type_is_a_clear_error(tmp_path):
    """1.1.0 raises KeyError('context_type') / KeyError('Nope'); ours name the key and list what is installed
    (the unknown name is still a KeyError)."""
    with pytest.raises(ConfigError, match="machine/context_type is required"):
        BaseContext(local_root=str(tmp_path))
    with pytest.raises(ConfigError, match="machine/context_type is required"):
        BaseContext.load_from_dict({"local_root": str(tmp_path)})
    with pytest.raises(KeyError) as err:
        BaseContext(context_type="Nope", local_root=str(tmp_path))
    assert isinstance(err.value, PluginNotFoundError)
    assert "unknown context type 'Nope'" in str(err.value) and "LocalContext" in str(err.value)


def test_the_dispatch_asks_the_plugin_registry(tmp_path, monkeypatch):
    """1.1.0 keeps a class-level table; ours asks the registry, so a context a plugin registers is built by name
    and one no plugin registered is not, whatever is importable."""

    class ScratchContext(LocalContext):
        pass

    @hookimpl
    def register_contexts(register):
        register(ScratchContext)

    registry = plugins.PluginRegistry()
    module = types.ModuleType("scratch_plugin")
    setattr(module, "register_contexts", register_contexts)  # noqa: B010
    registry.add_plugin(module, "scratch", "dpdispatcher-scratch", "1.0")
    monkeypatch.setattr(plugins, "_registry", registry)
    assert type(BaseContext(context_type="scratch", local_root=str(tmp_path), remote_root="/r")) is ScratchContext
    with pytest.raises(PluginNotFoundError, match="Installed context types: ScratchContext"):
        BaseContext(context_type="LocalContext", local_root=str(tmp_path), remote_root="/r")


def test_ssh_context_keywords_go_through_the_core(tmp_path):
    """1.1.0: BaseContext(context_type="SSHContext", local_root=..., remote_root=..., remote_profile=...) builds an
    SSHContext holding that profile (our SSHContext connects on first use, so nothing listens here)."""
    pytest.importorskip("dpdispatcher_ssh")
    profile = {"hostname": "127.0.0.1", "username": "me", "port": 1}
    context = BaseContext(
        context_type="ssh", local_root=str(tmp_path), remote_root="/scratch/me", remote_profile=profile
    )
    assert type(context).__name__ == "SSHContext"
    assert (context.init_remote_root, context.remote_profile) == ("/scratch/me", profile)


def test_a_machine_without_context_type_fails_as_the_published_one_does(tmp_path):
    """1.1.0: a config without context_type is dargs' "key `context_type` is required to choose variant"; the
    constructor without one fails at once (KeyError: None there, a named error here)."""
    config = {"batch_type": "Shell", "local_root": str(tmp_path), "remote_root": str(tmp_path / "r")}
    with pytest.raises(ConfigError, match="key `context_type` is required to choose variant but not found"):
        Machine.load_from_dict(config)
    with pytest.raises(ConfigError, match="Shell needs a context: give context_type"):
        Machine(**config)


def test_machine_builds_its_context_from_the_published_keywords(tmp_path):
    """1.1.0: Machine(batch_type, context_type, local_root, remote_root, remote_profile, retry_count)."""
    machine = Machine("Shell", "LocalContext", str(tmp_path), str(tmp_path / "r"), {"symlink": False}, 5)
    assert type(machine.context) is LocalContext and machine.context.symlink is False
    assert machine.retry_count == 5


# -- LocalContext files ------------------------------------------------------------


def staged(tmp_path: Path, **remote_profile) -> tuple[Machine, Submission]:
    """Two tasks t0, t1 with in.txt forward and out.txt, sub/x.dat, *.log backward; common.txt / bc.txt common.

    Jobs are generated, nothing is uploaded.
    """
    machine = local_machine(tmp_path, remote_profile=remote_profile)
    work_base = tmp_path / "local" / "wb"
    for name in ("t0", "t1"):
        (work_base / name).mkdir(parents=True)
        (work_base / name / "in.txt").write_text(name)
    (work_base / "common.txt").write_text("common")
    tasks = [
        Task(
            command="true",
            task_work_path=f"{n}/",
            forward_files=["in.txt"],
            backward_files=["out.txt", "sub/x.dat", "*.log"],
        )
        for n in ("t0", "t1")
    ]
    submission = Submission(
        "wb",
        machine=machine,
        resources=Resources(group_size=1),
        task_list=tasks,
        forward_common_files=["common.txt"],
        backward_common_files=["bc.txt"],
    )
    submission.generate_jobs()
    return machine, submission


def produce_results(remote: Path) -> None:
    for name in ("t0", "t1"):
        (remote / name / "sub").mkdir(parents=True, exist_ok=True)
        (remote / name / "out.txt").write_text(f"out {name}")
        (remote / name / "sub" / "x.dat").write_text("x")
        (remote / name / "a.log").write_text("log")
        (remote / name / "error.txt").write_text("err")
    (remote / "bc.txt").write_text("bc")
    (remote / "error.main").write_text("main err")


def test_upload_symlinks_forward_files_by_default(tmp_path):
    """1.1.0: with remote_profile/symlink (default true) each forward file is a link to its absolute local path."""
    machine, submission = staged(tmp_path)
    machine.context.upload(submission)
    remote, local = Path(machine.context.remote_root), Path(machine.context.local_root)
    assert os.readlink(remote / "t0" / "in.txt") == str(local / "t0" / "in.txt")
    assert os.readlink(remote / "common.txt") == str(local / "common.txt")


def test_upload_copies_content_and_permissions_without_symlink(tmp_path):
    """1.1.0: symlink false copies (copy2: the mode comes along, a forward script stays executable); a forward
    directory arrives with its links followed."""
    machine, submission = staged(tmp_path, symlink=False)
    local = tmp_path / "local" / "wb"
    (local / "t0" / "in.txt").chmod(0o755)
    (local / "t1" / "data").mkdir()
    (local / "t1" / "data" / "link").symlink_to(local / "common.txt")
    submission.belonging_tasks[1].forward_files.append("data")
    machine.context.upload(submission)
    remote = Path(machine.context.remote_root)
    assert (remote / "t0" / "in.txt").read_text() == "t0" and not (remote / "t0" / "in.txt").is_symlink()
    assert stat.S_IMODE((remote / "t0" / "in.txt").stat().st_mode) == 0o755
    assert not (remote / "t1" / "data" / "link").is_symlink()
    assert (remote / "t1" / "data" / "link").read_text() == "common"


def test_upload_of_a_missing_forward_file_is_file_not_found_and_sends_nothing(tmp_path):
    """1.1.0: FileNotFoundError ("cannot find upload file ...") before anything is copied."""
    machine, submission = staged(tmp_path)
    (tmp_path / "local" / "wb" / "t1" / "in.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"wb/t1/in\.txt"):
        machine.context.upload(submission)
    assert list(Path(machine.context.remote_root).iterdir()) == []
    assert (tmp_path / "local" / "wb" / "t0" / "in.txt").read_text() == "t0"  # the local side is untouched


def test_download_of_a_missing_backward_file_is_file_not_found(tmp_path):
    """1.1.0: FileNotFoundError for a missing backward file when check_exists is false (ours fetch the rest
    first and list every missing file)."""
    machine, submission = staged(tmp_path)
    machine.context.upload(submission)
    produce_results(Path(machine.context.remote_root))
    (Path(machine.context.remote_root) / "t1" / "out.txt").unlink()
    with pytest.raises(FileNotFoundError, match="1 backward file") as err:
        machine.context.download(submission)
    assert "t1/out.txt" in str(err.value)
    assert (tmp_path / "local" / "wb" / "t0" / "out.txt").read_text() == "out t0"  # nothing else was lost


def test_check_exists_marks_each_missing_file_with_a_failure_tag(tmp_path):
    """1.1.0: check_exists with mark_failure leaves an empty tag_failure_download_<pattern, non [A-Za-z0-9._-]
    made _> in the task directory (common files: in the work base), and raises nothing."""
    machine, submission = staged(tmp_path)
    machine.context.upload(submission)
    machine.context.download(submission, check_exists=True)
    local = tmp_path / "local" / "wb"
    tags = sorted(str(p.relative_to(local)) for p in local.rglob("tag_failure_download_*"))
    assert tags == [
        "t0/tag_failure_download__.log",
        "t0/tag_failure_download_out.txt",
        "t0/tag_failure_download_sub_x.dat",
        "t1/tag_failure_download__.log",
        "t1/tag_failure_download_out.txt",
        "t1/tag_failure_download_sub_x.dat",
        "tag_failure_download_bc.txt",
    ]
    assert (local / "t0" / "tag_failure_download_out.txt").read_bytes() == b""


def test_check_exists_without_mark_failure_leaves_no_tag(tmp_path):
    """1.1.0: check_exists=True, mark_failure=False: missing files are skipped silently."""
    machine, submission = staged(tmp_path)
    machine.context.upload(submission)
    machine.context.download(submission, check_exists=True, mark_failure=False)
    assert list((tmp_path / "local" / "wb").rglob("tag_failure_download_*")) == []


def test_back_error_also_brings_the_error_files(tmp_path):
    """1.1.0: back_error adds every task directory's and the work base's error* files."""
    machine, submission = staged(tmp_path)
    machine.context.upload(submission)
    produce_results(Path(machine.context.remote_root))
    machine.context.download(submission)
    local = tmp_path / "local" / "wb"
    assert not (local / "t0" / "error.txt").exists()
    machine.context.download(submission, back_error=True)
    assert (local / "t0" / "error.txt").read_text() == "err" and (local / "error.main").read_text() == "main err"
    assert (local / "t1" / "out.txt").read_text() == "out t1" and (local / "bc.txt").read_text() == "bc"


def test_download_replaces_old_files_and_directories_whole(tmp_path):
    """1.1.0: each result replaces what was there (a directory as a whole). Unlike 1.1.0, which moves results
    out of the job root, ours copies them, so the job root stays complete until it is cleaned."""
    machine, submission = staged(tmp_path)
    submission.belonging_tasks[0].backward_files.append("res")
    machine.context.upload(submission)
    remote, local = Path(machine.context.remote_root), tmp_path / "local" / "wb"
    produce_results(remote)
    (remote / "t0" / "res").mkdir()
    (remote / "t0" / "res" / "new.dat").write_text("new")
    (local / "t0" / "out.txt").write_text("stale")
    (local / "t0" / "res").mkdir()
    (local / "t0" / "res" / "stale.dat").write_text("stale")
    machine.context.download(submission)
    assert (local / "t0" / "out.txt").read_text() == "out t0"
    assert sorted(p.name for p in (local / "t0" / "res").iterdir()) == ["new.dat"]
    assert (remote / "t0" / "out.txt").read_text() == "out t0"
    assert not [p for p in local.rglob("*.dpd.*")]  # no temporary left beside a result


def test_backward_links_arrive_as_content_unless_they_leave_the_job_root(tmp_path):
    """1.1.0 follows a backward link and brings its content. Ours do so when the target is inside the job root or
    the work base (a result linking to a symlinked forward file included); a link leading elsewhere is refused with
    a clear error, after everything else arrived."""
    outside = tmp_path / "secret.txt"
    outside.write_text("not a result")
    machine, submission = staged(tmp_path)
    machine.context.upload(submission)
    remote, local = Path(machine.context.remote_root), tmp_path / "local" / "wb"
    produce_results(remote)
    (remote / "t0" / "copy.log").symlink_to("sub/x.dat")  # inside the job root
    (remote / "t0" / "input.log").symlink_to("in.txt")  # in.txt links to the work base
    (remote / "t1" / "leak.log").symlink_to(outside)
    with pytest.raises(UnsafePathError) as err:
        machine.context.download(submission)
    assert f"t1/leak.log -> {outside} (outside the job root and the work base)" in str(err.value)
    assert (local / "t0" / "copy.log").read_text() == "x" and not (local / "t0" / "copy.log").is_symlink()
    assert (local / "t0" / "input.log").read_text() == "t0"
    assert (local / "t1" / "out.txt").read_text() == "out t1" and not (local / "t1" / "leak.log").exists()


def test_a_link_loop_inside_a_result_directory_is_refused_not_followed_forever(tmp_path):
    """Ours: a directory link back into the tree being copied is refused (1.1.0 would recurse until the OS stops it)."""
    machine, submission = staged(tmp_path)
    submission.belonging_tasks[0].backward_files = ["res"]
    submission.belonging_tasks[1].backward_files = []
    submission.backward_common_files = []
    machine.context.upload(submission)
    remote = Path(machine.context.remote_root)
    (remote / "t0" / "res").mkdir()
    (remote / "t0" / "res" / "data").write_text("d")
    (remote / "t0" / "res" / "up").symlink_to("..")
    with pytest.raises(UnsafePathError, match=r": t0/res/up -> \.\. \(a loop back into a directory being copied\)$"):
        machine.context.download(submission)
    assert (tmp_path / "local" / "wb" / "t0" / "res" / "data").read_text() == "d"


def test_file_methods_have_the_published_shapes_and_stay_in_the_job_root(tmp_path):
    """1.1.0: read_file -> str, write_file creates parents, check_file_exists is true for files only, a name
    outside the job root (absolute or ..) is a ValueError; an absolute name inside is accepted."""
    machine, submission = staged(tmp_path)
    context = machine.context
    context.upload(submission)
    context.write_file("new/dir/f.txt", "hello")
    root = context.remote_root
    assert context.read_file("new/dir/f.txt") == "hello" == context.read_file(os.path.join(root, "new/dir/f.txt"))
    assert context.check_file_exists("new/dir/f.txt") and not context.check_file_exists("new/dir")
    assert not context.check_file_exists("nope")
    for name in ("../escape.txt", str(tmp_path / "escape.txt")):
        with pytest.raises(ValueError, match="is outside the job root"):
            context.write_file(name, "x")
        with pytest.raises(ValueError, match="is outside the job root"):
            context.check_file_exists(name)
    assert not (tmp_path / "remote" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert context.get_job_root() == root


def wait_for(path: Path) -> bool:
    """Whether ``path`` appears within 10 s."""
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.exists()


#: a command that runs until a file named ``go`` appears in its directory (10 s at most), then leaves ``done``
UNTIL_GO = "timeout 10 bash -c 'until [ -e go ]; do sleep 0.02; done; touch done'"


def test_block_call_and_block_checkcall_shapes(tmp_path):
    """1.1.0: block_call -> (code, None, stdout, stderr) whose read() is bytes and readlines() str lines, run in the
    job root; block_checkcall raises RuntimeError on failure and with asynchronously runs the command under nohup.
    (1.1.0 still waits for it, its stderr being a pipe; ours returns while it runs, as the option means.)"""
    machine, submission = staged(tmp_path)
    context = machine.context
    context.bind_submission(submission)
    code, stdin, stdout, stderr = context.block_call("pwd; printf 'a\\nb' >&2; exit 3")
    assert (code, stdin, stdout.read(), stderr.readlines()) == (
        3,
        None,
        f"{context.remote_root}\n".encode(),
        ["a\n", "b\n"],
    )
    with pytest.raises(RuntimeError, match="exit code 2"):
        context.block_checkcall("exit 2")
    context.block_checkcall(UNTIL_GO, asynchronously=True)
    root = Path(context.remote_root)
    assert not (root / "done").exists()
    (root / "go").touch()
    assert wait_for(root / "done")


def test_call_check_finish_and_get_return(tmp_path):
    """1.1.0: call -> a Popen in the job root; check_finish -> bool; get_return -> (None, None, None) while it
    runs, then (code, stdout, stderr) with the block_call stream shapes."""
    machine, submission = staged(tmp_path)
    context = machine.context
    context.bind_submission(submission)
    waiting = context.call(UNTIL_GO)
    assert isinstance(waiting, subprocess.Popen)
    assert context.get_return(waiting) == (None, None, None) and not context.check_finish(waiting)
    (Path(context.remote_root) / "go").touch()
    assert waiting.wait(timeout=10) == 0 and context.check_finish(waiting)
    proc = context.call("echo out; echo err >&2; exit 4")
    proc.wait(timeout=10)
    code, stdout, stderr = context.get_return(proc)
    assert (code, stdout.read(), stderr.readlines()) == (4, b"out\n", ["err\n"])


# -- LazyLocalContext files --------------------------------------------------------


def test_lazy_local_upload_and_download_do_nothing(tmp_path):
    """1.1.0: LazyLocalContext.upload(submission, dereference=True) and .download(...) are no-ops: no copy, no
    FileNotFoundError, no failure tag, even for files that are missing."""
    machine = local_machine(tmp_path, "LazyLocalContext")
    work_base = tmp_path / "local" / "wb" / "t0"
    work_base.mkdir(parents=True)
    task = Task(command="true", task_work_path="t0/", forward_files=["absent.txt"], backward_files=["never.txt"])
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=[task])
    submission.generate_jobs()
    machine.context.upload(submission, dereference=False)
    machine.context.download(submission, check_exists=True, mark_failure=True, back_error=True)
    machine.context.download(submission)
    assert list(work_base.iterdir()) == []
    assert machine.context.get_job_root() == str(tmp_path / "local" / "wb")
    machine.context.write_file("t0/made.txt", "m")
    assert machine.context.check_file_exists("t0/made.txt") and (work_base / "made.txt").read_text() == "m"
    machine.context.clean()  # 1.1.0: cleaning a lazy context removes nothing of the user's
    assert (work_base / "made.txt").exists()
