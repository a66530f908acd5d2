"""The core's contract suites for DistributedShell and HDFSContext, against the project's Hadoop TEST DOUBLE.

HDFS has no shell: :meth:`HDFSContext.run` runs on this machine (in the submission's control
directory) and a job's container works in its own directory, fetching its inputs from HDFS and
putting results and tags back when it ends. The contract tests that act on the job root through
``run`` or expect uploaded files one by one on the remote side are replaced here by the same
checks made the HDFS way (named ``..._the_hdfs_way``); every other contract test runs as written.
"""

from __future__ import annotations

import io
import shlex
import tarfile
from pathlib import Path

import pytest
from doubles.hadoop.fixture import HadoopDouble

from dpdispatcher import BaseContext, Machine
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.records import record_path
from dpdispatcher.testing import COPY, COUNT_RUNS, ContextContract, MachineContract, copy_tasks

pytestmark = pytest.mark.hadoop

HDFS_ROOT = "/user/dpd/work"


def hdfs_machine(tmp_path: Path) -> Machine:
    return Machine.load_from_dict(
        {
            "batch_type": "DistributedShell",
            "context_type": "HDFSContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": HDFS_ROOT,
        }
    )


def hdfs_rm(machine: Machine, names: list[str]) -> None:
    """Remove files from the job root on HDFS (what ``rm -f`` in the job root does elsewhere)."""
    paths = " ".join(shlex.quote(f"{machine.context.remote_root}/{name}") for name in names)
    machine.context.run(f"hadoop fs -rm -f {paths}").check("removing files on HDFS")


class TestDistributedShellAgainstTheHadoopDouble(MachineContract):
    many_jobs = 6
    wait_bound = 30

    @pytest.fixture
    def machine(self, tmp_path: Path, hadoop_double: HadoopDouble) -> Machine:
        return hdfs_machine(tmp_path)

    def _held(self, command: str) -> str:
        """The contract's held task, the HDFS way: it marks ``started`` and waits for ``release`` on HDFS."""
        polls = int(self.wait_bound * 3)  # a check every 0.3 s: each one starts a hadoop client
        return (
            'dpd_rel=${PWD#"$REMOTE_ROOT"/}; hadoop fs -mkdir -p "$DPD_HDFS_ROOT/$dpd_rel" && '
            'hadoop fs -touchz "$DPD_HDFS_ROOT/$dpd_rel/started"; i=0; '
            f'while ! hadoop fs -test -e "$DPD_HDFS_ROOT/release" && [ $i -lt {polls} ]; do sleep 0.3; i=$((i + 1)); '
            f"done; {command}"
        )

    def test_jobs_the_scheduler_forgot_are_settled_by_their_tags(self, machine: Machine) -> None:
        """As the contract's, the HDFS way: the tags are removed from the job root on HDFS."""
        submission = self._submission(machine, copy_tasks(2), "forgotten", group_size=1)
        submission.run_submission(check_interval=1, clean=False)
        jobs = submission.belonging_jobs
        untagged = jobs[1]
        assert machine.check_statuses(jobs) == [JobStatus.finished] * 2
        hdfs_rm(machine, [untagged.finish_tag, *(task.finish_tag for task in untagged.job_task_list)])
        assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.terminated]

    def test_driver_killed_before_its_record_adopts_submitted_jobs(self, machine: Machine) -> None:
        """As the contract's, the HDFS way: the record in the job root is removed from HDFS."""
        command = COUNT_RUNS + "sleep 1; " + COPY
        backward = ("out.txt", "runs.txt")
        first = self._submission(machine, copy_tasks(3, command, backward), "unrecorded", group_size=1)
        first.run_submission(exit_on_submit=True)
        ids = {job.job_hash: job.job_id for job in first.belonging_jobs}
        record_path(first.submission_hash).unlink()
        hdfs_rm(machine, [f"{first.submission_hash}.json"])
        assert not machine.context.check_file_exists(f"{first.submission_hash}.json")
        second = self._submission(machine, copy_tasks(3, command, backward), "unrecorded", group_size=1)
        submitted = self._count_submits(machine)
        with self._stopped_on_failure(machine, first):
            second.run_submission(check_interval=1)
        assert submitted == []
        assert {job.job_hash: job.job_id for job in second.belonging_jobs} == ids
        for i in range(3):
            assert self._local(machine, f"task {i}", "runs.txt").read_text() == "run\n"

    def test_generated_files_name_what_a_job_leaves_on_hdfs(
        self, machine: Machine, hadoop_double: HadoopDouble
    ) -> None:
        """The job root on HDFS holds nothing that generated_files (with the tags and the record) does not name."""
        submission = self._submission(machine, copy_tasks(3), "generated-hdfs")
        submission.run_submission(check_interval=1, clean=False)
        present = {p.name for p in hadoop_double.hdfs(machine.context.remote_root).iterdir()}
        unnamed = sorted(present - set(submission.generated_files()))
        assert not unnamed, unnamed


class TestHDFSContextAgainstTheHadoopDouble(ContextContract):
    many_files = 200
    long_name = 120

    @pytest.fixture
    def context(self, tmp_path: Path, hadoop_double: HadoopDouble) -> BaseContext:
        (tmp_path / "local").mkdir()
        return BaseContext.load_from_dict(
            {"context_type": "HDFSContext", "local_root": str(tmp_path / "local"), "remote_root": HDFS_ROOT}
        )

    @staticmethod
    def _members(bound: BaseContext, hadoop_double: HadoopDouble, archive: str) -> set[str]:
        with tarfile.open(hadoop_double.hdfs(f"{bound.remote_root}/{archive}")) as tar:
            return {m.name for m in tar.getmembers()}

    @staticmethod
    def _put_result(bound: BaseContext, name: str, files: dict[str, str]) -> None:
        """Put a result archive into the job root, as a job's container does."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for member, text in files.items():
                info = tarfile.TarInfo(member)
                info.size = len(text.encode())
                tar.addfile(info, io.BytesIO(text.encode()))
        local = Path(bound.control_root) / name  # type: ignore[attr-defined]
        local.write_bytes(buffer.getvalue())
        remote = shlex.quote(f"{bound.remote_root}/{name}")
        bound.run(f"hadoop fs -put -f {shlex.quote(name)} {remote} && rm {shlex.quote(name)}").check("putting")

    def test_upload_makes_files_visible_remotely(self, bound: BaseContext, hadoop_double: HadoopDouble) -> None:
        """The HDFS way: one archive, put with ONE `hadoop fs -put`, holds the files, the trees and the dirs asked for."""
        puts = len([c for c in hadoop_double.calls("hadoop") if c[:2] == ["fs", "-put"]])
        files = ["task 0/in.txt", "task 0/sub dir", "task 1/a.dat", "task 1/b.dat", "common.txt"]
        bound.upload_files(files, dirs=["task 2"])
        archive = bound.upload_archive  # type: ignore[attr-defined]
        assert bound.files_exist([archive, "nope"]) == {archive}
        assert len([c for c in hadoop_double.calls("hadoop") if c[:2] == ["fs", "-put"]]) == puts + 1
        members = self._members(bound, hadoop_double, archive)
        assert {"task 0/in.txt", "task 0/sub dir/deep.txt", "task 1/b.dat", "common.txt", "task 2"} <= members

    def test_write_read_and_run(self, bound: BaseContext) -> None:
        """write_files / read_file / check_file_exists round-trip on HDFS; run (on this machine) returns
        exit code, stdout and stderr."""
        bound.write_files({"a file.txt": "one\n", "b.txt": "two\n", "sub dir/c.txt": "three\n"})
        assert bound.read_file("a file.txt") == "one\n"
        assert bound.read_file("sub dir/c.txt") == "three\n"
        assert bound.check_file_exists("b.txt")
        assert not bound.check_file_exists("c.txt")
        assert bound.files_exist(["b.txt", "sub dir/c.txt", "sub dir/none", "none/x"]) == {"b.txt", "sub dir/c.txt"}
        result = bound.run("printf 'one\\ntwo\\n'; echo err >&2; exit 4")
        assert (result.returncode, result.stdout, result.stderr.strip()) == (4, "one\ntwo\n", "err")

    def test_clean_finished_removes_what_it_is_given_and_nothing_else(
        self, bound: BaseContext, hadoop_double: HadoopDouble
    ) -> None:
        """The HDFS way: finished jobs' files wait for the one `-rm` of clean (each `hadoop fs` starts a JVM)."""
        bound.write_files({"gone tag": "", "kept tag": ""})
        calls = len(hadoop_double.calls("hadoop"))
        bound.clean_finished(["gone tag"], ["task 1"])
        assert len(hadoop_double.calls("hadoop")) == calls
        assert bound.files_exist(["gone tag", "kept tag"]) == {"gone tag", "kept tag"}

    def test_download_brings_back_globs_and_dirs_and_reports_missing(self, bound: BaseContext) -> None:
        """The HDFS way: what a container put back (its result archive) comes back by name, glob and directory."""
        outputs = {"task 0/res dir/r.txt": "r\n", "task 1/x 1.out": "x\n", "task 1/y.out": "y\n"}
        self._put_result(bound, "job1_result.tgz", outputs)
        missing = bound.download_files(["task 0/res dir", "task 1/*.out", "task 1/absent.txt"])
        assert missing == ["task 1/absent.txt"]
        local = Path(bound.local_root)
        for name, text in outputs.items():
            assert (local / name).read_text() == text

    def test_many_files_in_long_directories(self, bound: BaseContext, hadoop_double: HadoopDouble) -> None:
        """The HDFS way: many files in long-named directories: one upload, one -ls for files_exist, written and
        brought back (names and globs) with a bounded number of commands."""
        dirs = self._many_dirs()
        local = Path(bound.local_root)
        inputs = [f"{d}/in {i}.txt" for i, d in enumerate(dirs)]
        for i, name in enumerate(inputs):
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            (local / name).write_text(f"in {i}\n")
        bound.upload_files(inputs, dirs=dirs)
        assert set(inputs) <= self._members(bound, hadoop_double, bound.upload_archive)  # type: ignore[attr-defined]
        outputs = {f"{d}/out {i}.txt": f"out {i}\n" for i, d in enumerate(dirs)}
        self._put_result(bound, "many_result.tgz", outputs)
        before = len(hadoop_double.calls("hadoop"))
        patterns = [name if i % 2 else f"{dirs[i]}/out *.txt" for i, name in enumerate(outputs)]
        assert bound.download_files([*patterns, "absent/*.txt"]) == ["absent/*.txt"]
        assert len(hadoop_double.calls("hadoop")) - before <= 3  # -stat, -get, nothing per file
        for name, text in outputs.items():
            assert (local / name).read_text() == text
