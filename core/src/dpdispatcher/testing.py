"""Contract tests every machine and context plugin inherits.

A plugin's test module subclasses these and provides one fixture::

    from dpdispatcher.testing import MachineContract

    class TestMyScheduler(MachineContract):
        @pytest.fixture
        def machine(self, tmp_path):
            return Machine.load_from_dict({"batch_type": "MyScheduler", "context_type": "LocalContext",
                                           "local_root": str(tmp_path / "local"),
                                           "remote_root": str(tmp_path / "remote")})

The tests run real submissions through the plugin, so a third-party plugin gets
the same checks as the ones in this repository. Requires pytest (install
``dpdispatcher-core[testing]``).

Two tests are marked ``slow``: the submission of :attr:`MachineContract.many_jobs`
jobs and the transfer of :attr:`ContextContract.many_files` files. Load this module
as a pytest plugin to register that marker, in your top-level ``conftest.py``::

    pytest_plugins = ["dpdispatcher.testing"]

:class:`CommandLog` (see :func:`count_commands`) records what a context is asked
to run; plugin authors may use it in their own tests too. :class:`ScriptedContext`
answers a batch type's commands from rules, for unit tests without a scheduler.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from dpdispatcher.arginfo import STRICT_ENV
from dpdispatcher.base_context import BaseContext, CommandResult
from dpdispatcher.commands import COMMAND_BUDGET
from dpdispatcher.errors import ConfigError, SchedulerBusyError, SubmissionFailedError
from dpdispatcher.job import ACTIVE_STATES, Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.plugins import get_registry
from dpdispatcher.records import record_path
from dpdispatcher.resources import Resources
from dpdispatcher.scripted_context import ScriptedContext as ScriptedContext  # re-exported for plugin tests
from dpdispatcher.submission import Submission
from dpdispatcher.task import Task

#: check_interval used by contract runs; the core's poll loop backs off up to it
CONTRACT_CHECK_INTERVAL = 1

SLOW_MARKER = "slow: runs a long workload (e.g. the contract's submission of many jobs)"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``slow`` marker when this module is loaded as a pytest plugin."""
    config.addinivalue_line("markers", SLOW_MARKER)


def _slow_mark() -> pytest.MarkDecorator:
    # the marker belongs to this module, not to the test module importing it: no "unknown mark" warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        return pytest.mark.slow


slow = _slow_mark()

#: what a contract task does: copy its input and the common file into out.txt
COPY = "cat in.txt ../common.txt > out.txt"
#: prepended to a task's command: it appends a line to runs.txt each time it runs
COUNT_RUNS = "echo run >> runs.txt; "


def make_work_base(root: Path, n_tasks: int) -> Path:
    """A work base with ``n_tasks`` task directories, each holding an ``in.txt``."""
    for i in range(n_tasks):
        task_dir = root / f"task {i}"
        task_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / "in.txt").write_text(f"input {i}\n")
    (root / "common.txt").write_text("common\n")
    return root


def copy_tasks(
    n_tasks: int, command: str = COPY, backward_files: Sequence[str] = ("out.txt",), forward: bool = True
) -> list[Task]:
    """``n_tasks`` tasks in ``task 0/`` … running ``command`` (its ``{i}`` replaced by the task's index)."""
    return [
        Task(
            command=command.replace("{i}", str(i)),
            task_work_path=f"task {i}/",
            forward_files=["in.txt"] if forward else [],
            backward_files=list(backward_files),
        )
        for i in range(n_tasks)
    ]


def wait_until(predicate: Callable[[], bool], what: str, bound: float, interval: float = 0.1) -> None:
    """Return once ``predicate()`` holds; fail naming ``what`` after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {bound} s waiting for {what}")
        time.sleep(interval)


# -- counting what a context runs ---------------------------------------------------------


@dataclass(frozen=True)
class LoggedCommand:
    """One :meth:`BaseContext.run` call: the command line and what it was fed on standard input."""

    cmd: str
    stdin: str | None


@dataclass
class CommandLog:
    """What a context was asked to do while :func:`count_commands` watched it.

    Only outermost calls are recorded: an existence query that a context answers by
    running a command counts once, as a query, not also as a command.
    """

    #: every command run (:meth:`BaseContext.run`, which :meth:`BaseContext.run_script` goes through)
    commands: list[LoggedCommand] = field(default_factory=list)
    #: every existence query (:meth:`BaseContext.files_exist` / ``check_file_exists``): the names asked about
    existence_queries: list[list[str]] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        """Commands plus existence queries: how often the context had to go and ask."""
        return len(self.commands) + len(self.existence_queries)

    def lines(self) -> Iterator[str]:
        """Every command line and every line of every script sent on standard input."""
        for command in self.commands:
            yield from command.cmd.splitlines() or [""]
            if command.stdin:
                yield from command.stdin.splitlines()

    def longest_line(self) -> int:
        """Bytes of the longest line :meth:`lines` yields (to compare with :data:`COMMAND_BUDGET`)."""
        return max((len(line.encode()) for line in self.lines()), default=0)


@contextlib.contextmanager
def count_commands(context: BaseContext) -> Iterator[CommandLog]:
    """Record every command ``context`` runs (with its stdin) and every existence query, until the block ends.

    ::

        with count_commands(machine.context) as log:
            machine.check_statuses(jobs)
        assert log.round_trips <= 2
    """
    log = CommandLog()
    depth = 0
    patched: dict[str, Any] = {}

    def outermost(record: Callable[..., None], method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            if depth == 0:
                record(*args, **kwargs)
            depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                depth -= 1

        return wrapper

    def record_run(cmd: str, timeout: float | None = None, stdin: str | None = None) -> None:
        log.commands.append(LoggedCommand(cmd, stdin))

    def record_query(fnames: Any) -> None:
        log.existence_queries.append([fnames] if isinstance(fnames, str) else list(fnames))

    recorders: dict[str, Callable[..., None]] = {
        "run": record_run,
        "files_exist": record_query,
        "check_file_exists": record_query,
    }
    for name, record in recorders.items():
        patched[name] = vars(context).get(name)
        setattr(context, name, outermost(record, getattr(context, name)))
    try:
        yield log
    finally:
        for name, previous in patched.items():
            if previous is None:
                delattr(context, name)
            else:
                setattr(context, name, previous)


# -- the machine contract ------------------------------------------------------------------


class MachineContract:
    """What every batch type must do. Subclasses provide a ``machine`` fixture.

    The machine's context must have ``local_root`` as the directory under which
    the contract may create its work base. Class attributes a subclass may change:
    :attr:`resources_dict`, :attr:`many_jobs` and :attr:`wait_bound`.
    """

    resources_dict: dict = {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 2}
    #: jobs in the slow many-jobs test; lower it for a real scheduler that starts jobs slowly
    many_jobs = 1000
    #: seconds any wait of a contract test may take (a job to start, to end, to leave the scheduler's list)
    wait_bound: float = 120

    @pytest.fixture
    def machine(self, tmp_path: Path) -> Machine:
        raise NotImplementedError("subclasses provide a `machine` fixture")

    @pytest.fixture(autouse=True)
    def _bounded_runs(self, machine: Machine) -> Iterator[None]:
        """Fail a run in which no active job changed state for :attr:`wait_bound` seconds.

        A plugin that keeps reporting an ended job as running (or never submits) then fails
        the test instead of hanging it.
        """
        original = machine.wait
        last: list[tuple[str, JobStatus]] = []
        since = time.monotonic()

        def bounded_wait(jobs: list[Job], timeout: float) -> None:
            nonlocal last, since
            now = [(job.job_hash, job.job_state) for job in jobs]
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > self.wait_bound:
                states = ", ".join(f"{job.job_id or job.job_hash}: {job.job_state.name}" for job in jobs)
                raise AssertionError(f"no job changed state for {self.wait_bound} s ({states})")
            original(jobs, timeout)

        machine.wait = bounded_wait  # type: ignore[method-assign]
        yield

    # -- helpers ------------------------------------------------------------------

    def _submission(self, machine: Machine, tasks: list[Task], name: str, **resources: Any) -> Submission:
        """A submission of ``tasks`` in work base ``name``, with :attr:`resources_dict` updated by ``resources``."""
        resources_obj = Resources.load_from_dict(
            {**self.resources_dict, **resources, "batch_type": type(machine).__name__}
        )
        work_base = Path(machine.context.init_local_root) / name
        make_work_base(work_base, len(tasks))
        return Submission(
            work_base=name,
            machine=machine,
            resources=resources_obj,
            task_list=tasks,
            forward_common_files=["common.txt"],
        )

    def _held(self, command: str) -> str:
        """``command`` run only once the job root holds a file named ``release`` (waiting at most :attr:`wait_bound`).

        The task leaves ``started`` in its directory first.
        """
        polls = int(self.wait_bound * 10)
        return (
            f"touch started; i=0; while [ ! -e ../release ] && [ $i -lt {polls} ]; do sleep 0.1; i=$((i + 1)); done; "
            + command
        )

    def _tasks_started(self, machine: Machine, jobs: list[Job]) -> bool:
        """Whether the first (held) task of each of ``jobs`` left its ``started`` file. Override where running
        tasks' files are not in the job root (a staged backend: look where the jobs run)."""
        markers = [job.job_task_list[0].task_work_path.rstrip("/") + "/started" for job in jobs]
        return machine.context.files_exist(markers) == set(markers)

    @staticmethod
    def _release(machine: Machine) -> None:
        machine.context.write_file("release", "")

    @contextlib.contextmanager
    def _stopped_on_failure(self, machine: Machine, submission: Submission) -> Iterator[None]:
        """If the block fails, release held tasks and kill the submission's jobs (nothing outlives the test)."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._release(machine)
            with contextlib.suppress(Exception):
                machine.kill_jobs([job for job in submission.belonging_jobs if job.job_id])
            raise

    def _wait_for_states(
        self, machine: Machine, jobs: list[Job], accept: Callable[[list[JobStatus]], bool], what: str
    ) -> list[JobStatus]:
        seen: list[JobStatus] = []

        def settled() -> bool:
            seen[:] = machine.check_statuses(jobs)
            return accept(seen)

        try:
            wait_until(settled, what, self.wait_bound, interval=0.2)
        except AssertionError as err:
            raise AssertionError(f"{err} (last states: {[s.name for s in seen]})") from None
        return seen

    @staticmethod
    def _local(machine: Machine, *parts: str) -> Path:
        return Path(machine.context.local_root, *parts)

    @staticmethod
    def _count_submits(machine: Machine) -> list[str]:
        """Wrap ``machine.submit_jobs``: the returned list gets the hash of each job it submitted."""
        submitted: list[str] = []
        original = machine.submit_jobs

        def counted(jobs: list[Job]) -> list[str]:
            submitted.extend(job.job_hash for job in jobs)
            return original(jobs)

        machine.submit_jobs = counted  # type: ignore[method-assign]
        return submitted

    # -- registration and scripts ---------------------------------------------------

    def test_registered_under_its_class_name(self, machine: Machine) -> None:
        """The batch type is found by its class name, case-insensitively."""
        name = type(machine).__name__
        assert get_registry().machine_class(name) is type(machine)
        assert get_registry().machine_class(name.upper()) is type(machine)

    def test_script_generation_is_deterministic(self, machine: Machine) -> None:
        """Generating a job's script twice gives the same text, and it holds every task's command."""
        submission = self._submission(machine, copy_tasks(3), "determinism")
        submission.generate_jobs()
        machine.context.bind(submission.work_base, submission.submission_hash)
        for job in submission.belonging_jobs:
            first = machine.gen_script(job)
            assert first == machine.gen_script(job)
            for task in job.job_task_list:
                assert task.command in first

    def test_header_and_template_strategy(self, machine: Machine, tmp_path: Path) -> None:
        """The script starts with a shebang; a header template (strategy.customized_script_header_template_file)
        replaces the plugin's header, formatted with the resources, with exactly one shebang whether or not
        the template brings its own."""
        submission = self._submission(machine, copy_tasks(1), "header")
        submission.generate_jobs()
        machine.context.bind(submission.work_base, submission.submission_hash)
        (job,) = submission.belonging_jobs
        assert machine.gen_script(job).startswith("#!")

        plain = tmp_path / "plain.tmpl"
        plain.write_text("#TEMPLATE nodes={number_node} cpus={cpu_per_node}\n")
        own_shebang = tmp_path / "shebang.tmpl"
        own_shebang.write_text("#!/bin/sh\n#TEMPLATE nodes={number_node}\n")
        number_node, cpu_per_node = self.resources_dict["number_node"], self.resources_dict["cpu_per_node"]
        for template, first_lines in (
            (plain, [machine.shebang, f"#TEMPLATE nodes={number_node} cpus={cpu_per_node}"]),
            (own_shebang, ["#!/bin/sh", f"#TEMPLATE nodes={number_node}"]),
        ):
            templated = self._submission(
                machine,
                copy_tasks(1),
                "header",
                strategy={"customized_script_header_template_file": str(template)},
            )
            templated.generate_jobs()
            lines = machine.gen_script(templated.belonging_jobs[0]).splitlines()
            assert lines[:2] == first_lines, lines[:5]
            assert sum(line.startswith("#!") for line in lines) == 1, lines[:5]

    def test_missing_header_template_submits_nothing(self, machine: Machine, tmp_path: Path) -> None:
        """A header template file that does not exist is a ConfigError naming its path, and no job is submitted."""
        missing = tmp_path / "no such header.tmpl"
        submission = self._submission(
            machine, copy_tasks(2), "no-template", strategy={"customized_script_header_template_file": str(missing)}
        )
        submitted = self._count_submits(machine)
        with pytest.raises(ConfigError) as err:
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert str(missing) in str(err.value)
        assert submitted == []
        assert machine.context.files_exist([job.job_id_file for job in submission.belonging_jobs]) == set()

    def test_resources_kwargs_are_validated(self, machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
        """resources/kwargs is checked against the batch type's resources_subfields: in strict mode an unknown key
        is an error naming resources/kwargs/<key> (otherwise a warning, and dropped). A batch type that declares
        no kwargs fields takes them as given (as the published package does)."""
        monkeypatch.setenv(STRICT_ENV, "1")
        declared = [
            name for arg in type(machine).resources_subfields() if arg.name == "kwargs" for name in arg.sub_fields
        ]
        given = {**(self.resources_dict.get("kwargs") or {}), "dpd_contract_no_such_option": 1}
        data = {**self.resources_dict, "kwargs": given, "batch_type": type(machine).__name__}
        if declared:
            with pytest.raises(ConfigError) as err:
                Resources.load_from_dict(data)
            assert "resources/kwargs/dpd_contract_no_such_option" in str(err.value)
            valid = Resources.load_from_dict({**data, "kwargs": self.resources_dict.get("kwargs") or {}})
            assert set(valid.kwargs) <= set(declared)
        else:
            assert Resources.load_from_dict(data).kwargs == given

    # -- running --------------------------------------------------------------------

    def test_runs_tasks_and_brings_files_back(self, machine: Machine) -> None:
        """A submission runs every task once and downloads its backward files; every job ends finished."""
        submission = self._submission(machine, copy_tasks(5), "runs")
        submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        work_base = Path(machine.context.local_root)
        for i in range(5):
            assert (work_base / f"task {i}" / "out.txt").read_text() == f"input {i}\ncommon\n"
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)

    def test_submit_jobs_returns_one_recorded_id_per_job(self, machine: Machine) -> None:
        """submit_jobs gives every job its own id, matching job_id_pattern, and the id recorded in the job root
        is the same (adopt_submitted reads it back)."""
        submission = self._submission(machine, copy_tasks(3), "ids", group_size=1)
        with self._stopped_on_failure(machine, submission):
            submission.run_submission(exit_on_submit=True)
            jobs = submission.belonging_jobs
            ids = [job.job_id for job in jobs]
            assert all(ids) and len(set(ids)) == len(ids), ids
            # read back where the jobs run, keeping only values that match job_id_pattern
            assert machine.adopt_submitted(jobs) == {job.job_hash: job.job_id for job in jobs}
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)

    def test_check_statuses_answers_in_order(self, machine: Machine) -> None:
        """check_statuses returns one JobStatus per job, in order; all finished once the run ended."""
        submission = self._submission(machine, copy_tasks(4), "statuses")
        submission.run_submission(exit_on_submit=True)
        jobs = submission.belonging_jobs
        states = machine.check_statuses(jobs)
        assert len(states) == len(jobs)
        assert all(isinstance(s, JobStatus) for s in states)
        submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL, clean=False)
        assert machine.check_statuses(jobs) == [JobStatus.finished] * len(jobs)

    def test_waiting_and_running_states(self, machine: Machine) -> None:
        """A submitted job is waiting or running until its task starts, running while it runs, and
        finished after it was let go."""
        submission = self._submission(machine, copy_tasks(2, self._held(COPY)), "states", group_size=2)
        with self._stopped_on_failure(machine, submission):
            submission.run_submission(exit_on_submit=True)
            jobs = submission.belonging_jobs
            seen: list[JobStatus] = []

            def started() -> bool:
                seen.extend(machine.check_statuses(jobs))
                return self._tasks_started(machine, jobs)

            wait_until(started, "the first task of each job to start", self.wait_bound, interval=0.2)
            assert set(seen) <= {JobStatus.waiting, JobStatus.running}, seen
            assert machine.check_statuses(jobs) == [JobStatus.running] * len(jobs)
            self._release(machine)
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
        for i in range(2):
            assert self._local(machine, f"task {i}", "out.txt").read_text() == f"input {i}\ncommon\n"

    def test_kill_jobs_stops_them(self, machine: Machine) -> None:
        """kill_jobs cancels running jobs: check_statuses then reports them terminated (within the wait bound),
        and their tasks do not go on (no task finishes after the kill)."""
        submission = self._submission(machine, copy_tasks(2, self._held(COPY)), "kill", group_size=1)
        with self._stopped_on_failure(machine, submission):
            submission.run_submission(exit_on_submit=True)
            jobs = submission.belonging_jobs
            assert set(machine.check_statuses(jobs)) <= {JobStatus.waiting, JobStatus.running}
            machine.kill_jobs(jobs)
            states = self._wait_for_states(
                machine, jobs, lambda states: not set(states) & ACTIVE_STATES, "the killed jobs to end"
            )
            assert states == [JobStatus.terminated] * len(jobs)
            self._release(machine)  # a task that survived the kill would now finish
            time.sleep(1)
            tags = [task.finish_tag for job in jobs for task in job.job_task_list]
            assert machine.context.files_exist(tags) == set()
            assert machine.check_statuses(jobs) == [JobStatus.terminated] * len(jobs)

    def test_one_poll_costs_one_status_query(self, machine: Machine) -> None:
        """check_statuses for N active jobs runs a constant number of commands (at most the status query and
        one tag-file existence query), the same for 2 jobs as for 6."""
        submission = self._submission(machine, copy_tasks(6, self._held(COPY)), "poll-cost", group_size=1)
        with self._stopped_on_failure(machine, submission):
            submission.run_submission(exit_on_submit=True)
            jobs = submission.belonging_jobs
            with count_commands(machine.context) as few:
                few_states = machine.check_statuses(jobs[:2])
            with count_commands(machine.context) as many:
                many_states = machine.check_statuses(jobs)
            assert set(few_states + many_states) <= {JobStatus.waiting, JobStatus.running}
            assert many.round_trips == few.round_trips <= 2, (few, many)
            self._release(machine)
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)

    def test_jobs_the_scheduler_forgot_are_settled_by_their_tags(self, machine: Machine) -> None:
        """A job that left the scheduler is finished if its finished tag exists, and terminated once the
        tags of the job and its tasks are gone (within the wait bound, for a scheduler that lists ended
        jobs for a while)."""
        submission = self._submission(machine, copy_tasks(2), "forgotten", group_size=1)
        submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL, clean=False)
        jobs = submission.belonging_jobs
        untagged = jobs[1]
        assert machine.check_statuses(jobs) == [JobStatus.finished] * 2
        tags = [untagged.finish_tag, *(task.finish_tag for task in untagged.job_task_list)]
        machine.context.run("rm -f -- " + " ".join(shlex.quote(t) for t in tags)).check("removing tags")

        def settled(states: list[JobStatus]) -> bool:
            assert states[0] == JobStatus.finished, states  # the tagged job stays finished throughout
            return states[1] == JobStatus.terminated

        self._wait_for_states(machine, jobs, settled, "the untagged job to be reported terminated")

    def test_failing_task_is_retried_then_reported(self, machine: Machine) -> None:
        """A task that keeps failing ends the run with SubmissionFailedError naming its directory, exit code
        and errlog; the tasks that succeeded still bring their files back."""
        machine.retry_count = 1
        tasks = copy_tasks(2)
        tasks.append(Task(command="echo broken-input >&2; exit 3", task_work_path="task 2/", forward_files=["in.txt"]))
        submission = self._submission(machine, tasks, "failing")
        with pytest.raises(SubmissionFailedError) as err:
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        message = str(err.value)
        assert os.path.join(machine.context.local_root, "task 2/") in message
        assert "broken-input" in message
        assert "exit code 3" in message
        for i in range(2):  # the tasks that succeeded still bring their results back
            assert (Path(machine.context.local_root) / f"task {i}" / "out.txt").exists()

    def test_restarted_driver_adopts_submitted_jobs(self, machine: Machine) -> None:
        """A driver that stopped after submitting (exit_on_submit) and a fresh Submission of the same work
        runs to the end without submitting again: same job ids, every task ran exactly once."""
        command = COUNT_RUNS + "sleep 1; " + COPY
        backward = ("out.txt", "runs.txt")
        first = self._submission(machine, copy_tasks(3, command, backward), "restart", group_size=1)
        first.run_submission(exit_on_submit=True)
        ids = {job.job_hash: job.job_id for job in first.belonging_jobs}
        second = self._submission(machine, copy_tasks(3, command, backward), "restart", group_size=1)
        submitted = self._count_submits(machine)
        with self._stopped_on_failure(machine, first):
            second.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert submitted == []
        assert {job.job_hash: job.job_id for job in second.belonging_jobs} == ids
        for i in range(3):
            assert self._local(machine, f"task {i}", "runs.txt").read_text() == "run\n"

    def test_driver_killed_before_its_record_adopts_submitted_jobs(self, machine: Machine) -> None:
        """Jobs submitted by a driver killed before it wrote any record (local or remote) are adopted from the
        ids recorded in the job root, not submitted again."""
        command = COUNT_RUNS + "sleep 1; " + COPY
        backward = ("out.txt", "runs.txt")
        first = self._submission(machine, copy_tasks(3, command, backward), "unrecorded", group_size=1)
        first.run_submission(exit_on_submit=True)
        ids = {job.job_hash: job.job_id for job in first.belonging_jobs}
        record_path(first.submission_hash).unlink()
        remote_record = shlex.quote(f"{first.submission_hash}.json")
        machine.context.run(f"rm -f -- {remote_record}").check("removing the remote record")
        second = self._submission(machine, copy_tasks(3, command, backward), "unrecorded", group_size=1)
        submitted = self._count_submits(machine)
        with self._stopped_on_failure(machine, first):
            second.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert submitted == []
        assert {job.job_hash: job.job_id for job in second.belonging_jobs} == ids
        for i in range(3):
            assert self._local(machine, f"task {i}", "runs.txt").read_text() == "run\n"

    def test_busy_scheduler_is_asked_again_at_the_next_poll(self, machine: Machine) -> None:
        """A SchedulerBusyError (after the first job of the batch was accepted) does not end the run: the
        rest is submitted at a later poll, no job is submitted twice and no failure is counted."""
        tasks = copy_tasks(3, COUNT_RUNS + COPY, ("out.txt", "runs.txt"))
        submission = self._submission(machine, tasks, "busy", group_size=1)
        original = machine.submit_jobs
        calls: list[list[str]] = []

        def busy_once(jobs: list[Job]) -> list[str]:
            if not calls:
                calls.append([job.job_hash for job in jobs[:1]])
                ids = original(jobs[:1])
                raise SchedulerBusyError("the scheduler is busy (raised by the contract test)", submitted=ids)
            calls.append([job.job_hash for job in jobs])
            return original(jobs)

        machine.submit_jobs = busy_once  # type: ignore[method-assign]
        with self._stopped_on_failure(machine, submission):
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert len(calls) >= 2, calls
        counts = Counter(job_hash for call in calls for job_hash in call)
        assert counts == Counter({job.job_hash: 1 for job in submission.belonging_jobs}), calls
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
        assert [job.fail_count for job in submission.belonging_jobs] == [0] * len(submission.belonging_jobs)
        for i in range(3):
            assert self._local(machine, f"task {i}", "runs.txt").read_text() == "run\n"

    def test_generated_files_lists_what_a_job_leaves(self, machine: Machine) -> None:
        """Machine.generated_files names every file a job leaves in the job root (LazyLocalContext removes
        exactly those when it cleans): after a run, the job root holds no other file than those, the tasks'
        tags and the forward common files."""
        submission = self._submission(machine, copy_tasks(3), "generated")
        submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL, clean=False)
        listing = machine.context.run("find . -maxdepth 1 -type f -print").check("listing the job root").stdout
        present = {line[2:] for line in listing.splitlines() if line.startswith("./")}
        expected = set(submission.generated_files()) | set(submission.forward_common_files)
        unnamed = sorted(present - expected)
        assert not unnamed, f"{type(machine).__name__}.generated_files() does not name files its jobs leave: {unnamed}"

    @slow
    def test_many_jobs(self, machine: Machine) -> None:
        """A submission of many_jobs one-task jobs completes and every output comes back, with no command
        line and no script line over the command budget."""
        n = self.many_jobs
        submission = self._submission(machine, copy_tasks(n, "echo {i} > out.txt", forward=False), "many", group_size=1)
        with self._stopped_on_failure(machine, submission), count_commands(machine.context) as log:
            submission.run_submission(check_interval=CONTRACT_CHECK_INTERVAL)
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
        for i in range(n):
            assert self._local(machine, f"task {i}", "out.txt").read_text() == f"{i}\n"
        assert log.longest_line() <= COMMAND_BUDGET


# -- the context contract ------------------------------------------------------------------


class ContextContract:
    """What every context must do. Subclasses provide a ``context`` fixture.

    The fixture returns an unbound context whose ``local_root`` is an empty
    directory the contract may fill.
    """

    #: files (one per directory) in the large-file-list tests
    many_files = 3000
    #: length of the directory names in the large-file-list tests
    long_name = 200

    #: what :meth:`BaseContext.clean_finished` removes: generated names and task directories (a job root
    #: that is the user's work base keeps its task directories; a context may keep everything for ``clean``)
    removes_finished_names = True
    removes_finished_task_dirs = True

    @pytest.fixture
    def context(self, tmp_path: Path) -> BaseContext:
        raise NotImplementedError("subclasses provide a `context` fixture")

    @pytest.fixture
    def bound(self, context: BaseContext) -> Iterator[BaseContext]:
        local = Path(context.init_local_root) / "work"
        make_work_base(local, 3)
        (local / "task 0" / "sub dir").mkdir()
        (local / "task 0" / "sub dir" / "deep.txt").write_text("deep\n")
        for name in ("a.dat", "b.dat"):
            (local / "task 1" / name).write_text(name)
        submission = Submission(
            "work", resources=Resources(group_size=1), task_list=copy_tasks(3), forward_common_files=["common.txt"]
        )
        context.bind(submission.work_base, submission.submission_hash)
        yield context
        context.clean()
        context.close()

    def _many_dirs(self) -> list[str]:
        """:attr:`many_files` directory names of :attr:`long_name` characters (with a space)."""
        stem = "long dir " + "x" * (self.long_name - len("long dir ") - 5)
        return [f"{stem}-{i:04d}" for i in range(self.many_files)]

    def test_registered(self, context: BaseContext) -> None:
        """The context is found by its class name, in lower case and without its Context suffix."""
        name = type(context).__name__
        assert get_registry().context_class(name) is type(context)
        assert get_registry().context_class(name.lower().removesuffix("context")) is type(context)

    def test_upload_makes_files_visible_remotely(self, bound: BaseContext) -> None:
        """upload_files sends files and directory trees (and creates the dirs asked for); files_exist and
        read_file see them."""
        files = ["task 0/in.txt", "task 0/sub dir", "task 1/a.dat", "task 1/b.dat", "common.txt"]
        bound.upload_files(files, dirs=["task 2"])
        assert bound.files_exist(
            ["task 0/in.txt", "task 0/sub dir/deep.txt", "task 1/b.dat", "common.txt", "nope"]
        ) == {
            "task 0/in.txt",
            "task 0/sub dir/deep.txt",
            "task 1/b.dat",
            "common.txt",
        }
        assert bound.read_file("task 0/sub dir/deep.txt") == "deep\n"
        assert bound.run("test -d 'task 2'").returncode == 0

    def test_write_read_and_run(self, bound: BaseContext) -> None:
        """write_files / read_file / check_file_exists round-trip; run returns exit code, stdout and stderr."""
        bound.write_files({"a file.txt": "one\n", "b.txt": "two\n"})
        assert bound.read_file("a file.txt") == "one\n"
        assert bound.check_file_exists("b.txt")
        assert not bound.check_file_exists("c.txt")
        result = bound.run("cat 'a file.txt' b.txt; echo err >&2; exit 4")
        assert (result.returncode, result.stdout, result.stderr.strip()) == (4, "one\ntwo\n", "err")

    def test_run_feeds_stdin_and_long_scripts(self, bound: BaseContext) -> None:
        """run feeds ``stdin`` to the command (none: an empty input), and run_script runs a script of
        thousands of lines, longer than any command line may be, in one call."""
        assert bound.run("cat", timeout=60).stdout == ""
        data = "".join(f"line {i}\n" for i in range(50_000))
        assert bound.run("wc -l", stdin=data).stdout.strip() == "50000"
        steps = [f"echo {i} >> counted.txt" for i in range(self.many_files)] + ["wc -l < counted.txt"]
        result: CommandResult = bound.run_script(steps)
        assert (result.returncode, result.stdout.strip()) == (0, str(self.many_files))

    def test_download_brings_back_globs_and_dirs_and_reports_missing(self, bound: BaseContext) -> None:
        """download_files brings back directories and glob matches and returns the patterns that matched nothing."""
        bound.upload_files(["task 0/in.txt"], dirs=["task 0", "task 1"])
        bound.run(
            "mkdir -p 'task 0/res dir' && echo r > 'task 0/res dir/r.txt' && echo x > 'task 1/x 1.out' && echo y > 'task 1/y.out'"
        )
        missing = bound.download_files(["task 0/res dir", "task 1/*.out", "task 1/absent.txt"])
        assert missing == ["task 1/absent.txt"]
        local = Path(bound.local_root)
        assert (local / "task 1" / "x 1.out").read_text() == "x\n"
        assert (local / "task 0" / "res dir" / "r.txt").read_text() == "r\n"
        assert (local / "task 1" / "y.out").read_text() == "y\n"

    def test_clean_finished_removes_what_it_is_given_and_nothing_else(self, bound: BaseContext) -> None:
        """clean_finished removes the names and task directories it is given (gone ones are no error) and
        leaves everything else in the job root."""
        bound.upload_files(["task 0/in.txt", "task 1/a.dat", "common.txt"], dirs=["task 0", "task 1"])
        bound.write_files({"gone tag": "", "kept tag": "", "task 1/out.txt": "1\n"})
        bound.clean_finished(["gone tag", "never written"], ["task 1"])
        bound.clean_finished([], [])  # nothing to remove is no error
        expected = {"kept tag", "task 0/in.txt", "common.txt"}
        if not self.removes_finished_names:
            expected.add("gone tag")
        if not self.removes_finished_task_dirs:
            expected |= {"task 1/a.dat", "task 1/out.txt"}
        names = ["gone tag", "kept tag", "task 0/in.txt", "common.txt", "task 1/a.dat", "task 1/out.txt"]
        assert bound.files_exist(names) == expected

    @slow
    def test_many_files_in_long_directories(self, bound: BaseContext) -> None:
        """Thousands of files, one per directory with a long name: upload_files, files_exist, write_files,
        download_files (plain names and globs) all get every one of them right."""
        dirs = self._many_dirs()
        local = Path(bound.local_root)
        inputs = [f"{d}/in {i}.txt" for i, d in enumerate(dirs)]
        for i, name in enumerate(inputs):
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            (local / name).write_text(f"in {i}\n")
        bound.upload_files(inputs, dirs=dirs)
        assert bound.files_exist([*inputs, "absent.txt"]) == set(inputs)
        assert bound.read_file(inputs[-1]) == f"in {len(inputs) - 1}\n"
        counted = bound.run("find . -name 'in *.txt' | wc -l").check("counting uploaded files")
        assert counted.stdout.strip() == str(len(inputs))

        outputs = {f"{d}/out {i}.txt": f"out {i}\n" for i, d in enumerate(dirs)}
        bound.write_files(outputs)
        assert bound.files_exist(list(outputs)) == set(outputs)
        assert bound.read_file(next(iter(outputs))) == "out 0\n"

        # half of the outputs named, the other half by a glob, and one pattern that matches nothing
        patterns = [name if i % 2 else f"{dirs[i]}/out *.txt" for i, name in enumerate(outputs)]
        assert bound.download_files([*patterns, "absent/*.txt"]) == ["absent/*.txt"]
        for name, text in outputs.items():
            assert (local / name).read_text() == text
