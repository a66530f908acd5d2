"""DistributedShell + HDFSContext end to end and with bad input, against the project's Hadoop TEST DOUBLE.

Hadoop cannot run here; the double (tests/doubles/hadoop) keeps HDFS in a directory, runs each
application's script in a container directory of its own, and answers ``hadoop fs``, ``hadoop jar``
and ``yarn application`` in Hadoop 3's formats.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from doubles.hadoop.fixture import HadoopDouble

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import ConfigError, MissingForwardFileError, SchedulerError, UnsafePathError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher_hadoop import DistributedShell, HDFSContext
from dpdispatcher_hadoop.yarn import parse_list

pytestmark = pytest.mark.hadoop

HDFS_ROOT = "/user/dpd/runs"
COPY = "cat in.txt ../common.txt > out.txt"


def make_machine(tmp_path: Path, context_type: str = "HDFSContext") -> Machine:
    return Machine.load_from_dict(
        {
            "batch_type": "DistributedShell",
            "context_type": context_type,
            "local_root": str(tmp_path / "local"),
            "remote_root": HDFS_ROOT,
        }
    )


def make_submission(
    machine: Machine,
    commands: list[str],
    group_size: int = 1,
    backward: tuple[str, ...] = ("out.txt",),
    **resources: object,
) -> Submission:
    work_base = Path(machine.context.init_local_root) / "wb"
    for i in range(len(commands)):
        (work_base / f"t{i}").mkdir(parents=True, exist_ok=True)
        (work_base / f"t{i}" / "in.txt").write_text(f"input {i}\n")
    (work_base / "common.txt").write_text("common\n")
    tasks = [
        Task(command=c, task_work_path=f"t{i}/", forward_files=["in.txt"], backward_files=list(backward))
        for i, c in enumerate(commands)
    ]
    res = Resources.load_from_dict(
        {
            "number_node": 1,
            "cpu_per_node": 2,
            "gpu_per_node": 0,
            "queue_name": "",
            "group_size": group_size,
            **resources,
        }
    )
    return Submission("wb", machine, res, task_list=tasks, forward_common_files=["common.txt"])


def test_published_module_paths_serve_the_plugin_classes() -> None:
    from dpdispatcher.contexts.hdfs_context import HDFSContext as published_context
    from dpdispatcher.machines.distributed_shell import DistributedShell as published_machine

    assert published_machine is DistributedShell
    assert published_context is HDFSContext


def test_group_of_tasks_and_a_failing_task_retried_against_the_hadoop_double(
    tmp_path: Path, hadoop_double: HadoopDouble
) -> None:
    """Two jobs of two tasks: a task that fails once is retried in a new application, its finished partner is
    not run again, and every result comes back; the client got the resources as its options."""
    # each attempt runs in a fresh container: the marker of the first failure is kept on HDFS
    flaked = '"$DPD_HDFS_ROOT/flaked"'
    flaky = (
        f"echo run >> runs.txt; if ! hadoop fs -test -e {flaked}; then hadoop fs -touchz {flaked}; exit 5; fi; " + COPY
    )
    steady = "echo run >> runs.txt; " + COPY
    machine = make_machine(tmp_path)
    machine.retry_count = 2
    submission = make_submission(
        machine,
        [flaky, steady, steady, steady],
        group_size=2,
        backward=("out.txt", "runs.txt"),
        kwargs={"mem_limit": 2},
    )
    submission.run_submission(check_interval=1)
    work_base = Path(machine.context.local_root)
    for i in range(4):
        assert (work_base / f"t{i}" / "out.txt").read_text() == f"input {i}\ncommon\n"
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    jars = hadoop_double.submit_calls()
    assert len(jars) == 3  # two jobs, one of them twice
    options = jars[0]
    assert options[options.index("-container_memory") + 1] == "2048"
    assert options[options.index("-container_vcores") + 1] == "2"
    assert options[options.index("-num_containers") + 1] == "1"
    assert sorted(job.fail_count for job in submission.belonging_jobs) == [0, 1]
    # the flaky task ran twice; its partner finished in the first attempt and was skipped in the second
    assert [(work_base / f"t{i}" / "runs.txt").read_text() for i in range(4)] == ["run\nrun\n"] + ["run\n"] * 3


def test_one_list_per_poll_against_the_hadoop_double(tmp_path: Path, hadoop_double: HadoopDouble) -> None:
    """Every poll asks YARN once for all jobs (`yarn application -list -appStates ALL`), never once per job."""
    machine = make_machine(tmp_path)
    polls = []
    original = machine.check_statuses

    def counted(jobs: list) -> list[JobStatus]:
        polls.append(len(jobs))
        return original(jobs)

    machine.check_statuses = counted  # type: ignore[method-assign]
    submission = make_submission(machine, ["sleep 1; " + COPY] * 4)
    submission.run_submission(check_interval=1)
    lists = hadoop_double.list_calls()
    assert len(lists) == len(polls) and max(polls) == 4
    assert all(argv == ["application", "-list", "-appStates", "ALL"] for argv in lists)


def test_rerun_adopts_the_recorded_application_against_the_hadoop_double(
    tmp_path: Path, hadoop_double: HadoopDouble
) -> None:
    """A driver stopped after submitting: a fresh run adopts the application ids recorded where the jobs run,
    submits nothing again, and gets the results."""
    first = make_submission(make_machine(tmp_path), ["sleep 1; " + COPY] * 2)
    first.run_submission(exit_on_submit=True)
    ids = sorted(job.job_id for job in first.belonging_jobs)
    assert len(hadoop_double.submit_calls()) == 2
    second = make_submission(make_machine(tmp_path), ["sleep 1; " + COPY] * 2)
    second.run_submission(check_interval=1)
    assert len(hadoop_double.submit_calls()) == 2
    assert sorted(job.job_id for job in second.belonging_jobs) == ids
    assert (Path(second.machine.context.local_root) / "t1" / "out.txt").exists()  # type: ignore[union-attr]


def test_a_lost_application_is_submitted_again_against_the_hadoop_double(
    tmp_path: Path, hadoop_double: HadoopDouble
) -> None:
    """An application the ResourceManager lost while it ran (no longer listed, no tag) is terminated and
    submitted again; the run ends with the results."""
    machine = make_machine(tmp_path)
    wait_for_go = 'while ! hadoop fs -test -e "$DPD_HDFS_ROOT/go"; do sleep 0.1; done; '
    submission = make_submission(machine, [wait_for_go + COPY])
    submission.run_submission(exit_on_submit=True)
    (job,) = submission.belonging_jobs
    lost = job.job_id
    hadoop_double.lose(lost)
    assert lost not in parse_list(machine.context.run("yarn application -list -appStates ALL").stdout)
    machine.context.write_file("go", "")
    submission.run_submission(check_interval=1)
    assert job.job_id != lost and job.fail_count == 1
    assert len(hadoop_double.submit_calls()) == 2
    assert (Path(machine.context.local_root) / "t0" / "out.txt").read_text() == "input 0\ncommon\n"


def test_a_failing_put_is_reported_with_its_stderr_against_the_hadoop_double(
    tmp_path: Path, hadoop_double: HadoopDouble
) -> None:
    """An upload that HDFS refuses ends the run with the command and its stderr; nothing is submitted and the
    local files are untouched."""
    refusal = 'put: Permission denied: user=dpd, access=WRITE, inode="/user/dpd/runs":hdfs:supergroup:drwxr-xr-x'
    hadoop_double.fail_fs("put", stderr=refusal + "\n")
    submission = make_submission(make_machine(tmp_path), [COPY])
    with pytest.raises(SchedulerError) as err:
        submission.run_submission(check_interval=1)
    message = str(err.value)
    assert refusal in message and "hadoop fs -put -f" in message
    assert hadoop_double.submit_calls() == []
    assert (Path(submission.machine.context.local_root) / "t0" / "in.txt").read_text() == "input 0\n"  # type: ignore[union-attr]


def test_a_missing_forward_file_submits_nothing_against_the_hadoop_double(
    tmp_path: Path, hadoop_double: HadoopDouble
) -> None:
    machine = make_machine(tmp_path)
    submission = make_submission(machine, [COPY])
    submission.belonging_tasks[0].forward_files.append("absent.dat")
    with pytest.raises(MissingForwardFileError) as err:
        submission.run_submission(check_interval=1)
    assert "t0/absent.dat" in str(err.value)
    assert hadoop_double.submit_calls() == []


def test_a_hostile_result_archive_is_refused_against_the_hadoop_double(
    tmp_path: Path, hadoop_double: HadoopDouble
) -> None:
    """A result archive with a member that leaves the work base is refused whole, named, and writes nothing;
    the other archives' results still come back."""
    context = make_machine(tmp_path).context
    (tmp_path / "local").mkdir()
    context.bind("wb", "f" * 40)
    for name, members in (("good_result.tgz", {"t0/out.txt": "ok\n"}), ("evil_result.tgz", {"../../evil.txt": "x"})):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for member, text in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text.encode()))
        target = hadoop_double.hdfs(f"{context.remote_root}/{name}")
        target.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafePathError) as err:
        context.download_files(["t0/out.txt"])
    assert "evil_result.tgz" in str(err.value) and "../../evil.txt" in str(err.value)
    assert (Path(context.local_root) / "t0" / "out.txt").read_text() == "ok\n"
    assert not list(tmp_path.rglob("evil.txt"))


def test_hadoop_missing_from_path_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    submission = make_submission(make_machine(tmp_path), [COPY])
    with pytest.raises(ConfigError) as err:
        submission.run_submission(check_interval=1)
    assert "no `hadoop` on PATH" in str(err.value) and "HADOOP_HOME/bin" in str(err.value)


def test_distributed_shell_needs_the_hdfs_context(tmp_path: Path) -> None:
    machine = make_machine(tmp_path, context_type="LocalContext")
    submission = make_submission(machine, [COPY])
    submission.generate_jobs()
    machine.context.bind(submission.work_base, submission.submission_hash)
    with pytest.raises(ConfigError) as err:
        machine.gen_script(submission.belonging_jobs[0])
    assert "needs context_type HDFSContext" in str(err.value)
