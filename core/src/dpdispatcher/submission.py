"""Submission: tasks + machine + resources, driven to the end by :meth:`Submission.run_submission`."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import re
import shlex
import threading
import time
from collections.abc import Collection
from typing import Any

from dpdispatcher import plugins
from dpdispatcher.arginfo import check_kwargs
from dpdispatcher.base_context import BaseContext
from dpdispatcher.driver_lock import DriverLock
from dpdispatcher.early_clean import FinishedJobCleaner, job_files
from dpdispatcher.errors import (
    ConfigError,
    MissingBackwardFileError,
    MissingForwardFileError,
    RecordError,
    SchedulerBusyError,
    SchedulerError,
    SubmissionFailedError,
    UnsafePathError,
)
from dpdispatcher.failure_report import failure_report
from dpdispatcher.gc_pause import gc_paused
from dpdispatcher.job import ACTIVE_STATES, Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.paths import expand_local, safe_join
from dpdispatcher.poll import PollClock
from dpdispatcher.progress import Progress
from dpdispatcher.records import atomic_write_text, load_config_file, record_path
from dpdispatcher.resources import Resources
from dpdispatcher.submission_record import describe_finished, finished_record, is_finished, parse_record, read_record
from dpdispatcher.task import Task

__all__ = ["Job", "Resources", "Submission", "Task"]

logger = logging.getLogger(__name__)

#: Tasks are shuffled with this seed before grouping, so re-running a program makes the same jobs.
SHUFFLE_SEED = 42
#: streamed downloads rewrite the record at most every RECORD_INTERVAL seconds, and at most for a
#: 1/RECORD_COST_FACTOR share of the run
RECORD_INTERVAL = 2.0
RECORD_COST_FACTOR = 10
#: job scripts are written in calls of about this many bytes
SCRIPT_BATCH_BYTES = 32 * 2**20


class Submission:
    """A collection of tasks that share a work base, a machine, resources and common files."""

    def __init__(
        self,
        work_base: str,
        machine: Machine | None = None,
        resources: Resources | None = None,
        forward_common_files: list[str] | None = None,
        backward_common_files: list[str] | None = None,
        *,
        task_list: list[Task] | None = None,
        previous_submission_hash: str | None = None,
        continue_on_failure: bool = False,
    ) -> None:
        if previous_submission_hash is not None and not re.fullmatch(r"[0-9a-f]{40}", previous_submission_hash):
            raise ConfigError(
                f"previous_submission_hash must be a submission hash (40 hexadecimal digits), got {previous_submission_hash!r}"
            )
        #: an earlier submission of the same tasks (other resources, say) whose finished tasks are not run again
        self.previous_submission_hash = previous_submission_hash
        #: when a job exhausts its retries, keep running and downloading the others and report at the end
        self.continue_on_failure = continue_on_failure
        self.work_base = work_base
        self.resources = resources
        self.forward_common_files = list(forward_common_files or [])
        self.backward_common_files = list(backward_common_files or [])
        self.belonging_tasks: list[Task] = []
        self.belonging_jobs: list[Job] = []
        self.uploaded = False
        self.machine: Machine | None = None
        self._lock: DriverLock | None = None
        self._missing: list[str] = []  # backward patterns that matched nothing, reported when the run ends
        self._refused: list[UnsafePathError] = []  # results refused while streaming (unsafe links), likewise
        self._record_due = 0.0  # monotonic time before which streamed downloads do not rewrite the record
        self._record_stale = False  # jobs were downloaded since the record was last written
        self._cleaner: FinishedJobCleaner | None = None  # with clean=True: finished jobs' files go during the run
        self._hash_of_run: str | None = None  # the submission hash while run_submission runs
        self.register_task_list(task_list or [])
        if machine is not None:
            self.bind_machine(machine)

    def __repr__(self) -> str:
        return f"Submission(work_base={self.work_base!r}, tasks={len(self.belonging_tasks)}, jobs={len(self.belonging_jobs)})"

    # -- building ---------------------------------------------------------------

    def register_task(self, task: Task) -> None:
        if self.belonging_jobs:
            raise ConfigError("cannot add tasks after the jobs were generated")
        self.belonging_tasks.append(task)

    def register_task_list(self, task_list: list[Task]) -> None:
        for task in task_list:
            self.register_task(task)

    def bind_machine(self, machine: Machine) -> Submission:
        self.machine = machine
        for job in self.belonging_jobs:
            job.machine = machine
        return self

    def _machine(self) -> Machine:
        if self.machine is None:
            raise ConfigError("the submission has no machine; pass machine= or call bind_machine()")
        return self.machine

    def _bind_context(self) -> BaseContext:
        """Point the machine's context at this submission's work base and job root."""
        context = self._machine().context
        context.bind(self.work_base, self.submission_hash)
        return context

    def generate_jobs(self) -> None:
        """Pack the tasks into jobs of ``group_size`` (0 = all in one), after a fixed-seed shuffle."""
        if self.belonging_jobs:
            raise ConfigError("jobs were already generated for this submission")
        if self.resources is None:
            raise ConfigError("the submission has no resources")
        tasks = list(self.belonging_tasks)
        random.Random(SHUFFLE_SEED).shuffle(tasks)
        size = self.resources.group_size or len(tasks) or 1
        with gc_paused():
            self.belonging_jobs = [
                Job(tasks[i : i + size], resources=self.resources, machine=self.machine)
                for i in range(0, len(tasks), size)
            ]

    @property
    def submission_hash(self) -> str:
        """Identity of the submission: what it runs and where, never the cwd or a secret.

        Worked out once per run (the tasks cannot change while it runs; 100,000 of them take a tenth of a
        second to hash), and afresh outside a run, where the tasks may still change.
        """
        return self._hash_of_run or self.get_hash()

    def get_hash(self) -> str:
        machine = self.machine.serialize() if self.machine is not None else {}
        machine.pop("local_root", None)
        data = {
            "work_base": self.work_base,
            "machine": machine,
            "resources": self.resources.serialize() if self.resources else None,
            "forward_common_files": self.forward_common_files,
            "backward_common_files": self.backward_common_files,
            # sorted: a record rebuilt from its jobs (tasks in shuffled order) has the same identity
            "tasks": sorted(t.task_hash for t in self.belonging_tasks),
        }
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()

    # -- (de)serialization ----------------------------------------------------

    def serialize(self, if_static: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "work_base": self.work_base,
            "machine": self.machine.serialize() if self.machine is not None else None,
            "resources": self.resources.serialize() if self.resources else None,
            "forward_common_files": self.forward_common_files,
            "backward_common_files": self.backward_common_files,
            "belonging_jobs": [job.serialize(if_static=if_static) for job in self.belonging_jobs],
        }
        if not if_static:
            data["submission_hash"] = self.submission_hash
            data["uploaded"] = self.uploaded
            data["continue_on_failure"] = self.continue_on_failure
            if self.previous_submission_hash is not None:
                data["previous_submission_hash"] = self.previous_submission_hash
        return data

    @classmethod
    def deserialize(cls, submission_dict: dict[str, Any], machine: Machine | None = None) -> Submission:
        if machine is None and submission_dict.get("machine"):
            machine = Machine.load_from_dict(submission_dict["machine"])
        resources = Resources.deserialize(submission_dict["resources"])
        submission = cls(
            work_base=submission_dict["work_base"],
            resources=resources,
            forward_common_files=submission_dict.get("forward_common_files", []),
            backward_common_files=submission_dict.get("backward_common_files", []),
            previous_submission_hash=submission_dict.get("previous_submission_hash"),
            continue_on_failure=bool(submission_dict.get("continue_on_failure", False)),
        )
        submission.machine = machine
        with gc_paused():
            jobs = [
                Job.deserialize(job_dict, machine=machine) for job_dict in submission_dict.get("belonging_jobs", [])
            ]
        submission.belonging_tasks = [task for job in jobs for task in job.job_task_list]
        submission.belonging_jobs = jobs
        submission.uploaded = submission_dict.get("uploaded", False)
        return submission

    @classmethod
    def submission_from_json(cls, json_file_name: str = "submission.json") -> Submission:
        return cls.deserialize(load_config_file(json_file_name))

    def submission_to_json(self) -> None:
        """Write the record of this submission atomically (local, and a copy in the job root)."""
        start = time.monotonic()
        atomic_write_text(record_path(self.submission_hash), self._record_text())
        now = time.monotonic()
        # a record of 100,000 tasks takes a while to write: keep its rewrites a small share of the run
        self._record_due = now + max(RECORD_INTERVAL, RECORD_COST_FACTOR * (now - start))
        self._record_stale = False
        if self._cleaner is not None:
            self._cleaner.record_written()

    def _write_remote_record(self) -> None:
        self._machine().context.write_file(f"{self.submission_hash}.json", self._record_text())

    def _record_text(self) -> str:
        """The record as compact JSON (the C encoder), built with the cyclic collector paused."""
        with gc_paused():
            return json.dumps(self.serialize())

    def try_recover_from_json(self) -> bool:
        """Take over job ids and states from an earlier run of the same submission, if any."""
        with gc_paused():  # a large record is millions of objects that all live on while it is read
            record = self._load_record()
        if record is None:
            return False
        old = Submission.deserialize(record, machine=self.machine)
        old_jobs = {job.job_hash: job for job in old.belonging_jobs}
        if set(old_jobs) != {job.job_hash for job in self.belonging_jobs}:
            logger.warning(
                "record %s does not match this submission's jobs; ignoring it", record_path(self.submission_hash)
            )
            return False
        for job in self.belonging_jobs:
            previous = old_jobs[job.job_hash]
            job.job_state, job.job_id, job.fail_count = previous.job_state, previous.job_id, previous.fail_count
            job.downloaded = previous.downloaded
        self.uploaded = old.uploaded
        logger.info("recovered submission %s from its record", self.submission_hash)
        return True

    def _load_record(self) -> dict[str, Any] | None:
        """This submission's record: the local one, else the copy in the job root; None if neither is usable.

        A damaged record is moved aside with a warning: the state is then rebuilt from
        the job root (recorded job ids are adopted, finished tasks keep their tags), so
        nothing is submitted twice.
        """
        local = self._read_local_record()
        if local is not None and not is_finished(local):
            return local
        context = self._machine().context
        remote_name = f"{self.submission_hash}.json"
        if not context.check_file_exists(remote_name):
            return None
        where = f"{os.path.join(context.remote_root, remote_name)} on {type(context).__name__}"
        try:
            return parse_record(context.read_file(remote_name), where, self.submission_hash)
        except RecordError as err:
            logger.warning("%s; rebuilding the state from the job root instead", err)
            return None

    def _read_local_record(self) -> dict[str, Any] | None:
        path = record_path(self.submission_hash)
        try:
            return read_record(path, self.submission_hash)
        except RecordError as err:
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            os.replace(path, aside)
            logger.warning("%s. Moved it to %s; rebuilding the state from the job root", err, aside)
            return None

    # -- files --------------------------------------------------------------------

    def check_paths(self) -> None:
        """Refuse a work base outside local_root, and task paths and file entries that escape the work base,
        before anything runs."""
        local_root = self._machine().context.init_local_root
        base = os.path.normpath(os.path.join(local_root, self.work_base))
        if base != local_root and not base.startswith(local_root.rstrip(os.sep) + os.sep):
            raise UnsafePathError(
                f"work_base {self.work_base!r} resolves to {base}, outside machine/local_root {local_root}: "
                "results would be written outside it. Put the work base under local_root, or set local_root "
                "to a folder that contains it."
            )
        for task in self.belonging_tasks:
            safe_join(task.task_work_path)
            for name in (*task.forward_files, *task.backward_files, task.outlog or ".", task.errlog or "."):
                safe_join(task.task_work_path, name)
        for name in (*self.forward_common_files, *self.backward_common_files):
            safe_join(name)

    def forward_file_list(self) -> list[str]:
        """Every forward file (globs expanded) relative to the work base; missing ones are an error."""
        local_root = self._machine().context.local_root
        files, missing = [], []
        entries = [(task.task_work_path, f) for task in self.belonging_tasks for f in task.forward_files]
        entries += [(".", f) for f in self.forward_common_files]
        for directory, pattern in entries:
            base = os.path.join(local_root, directory)
            matches = expand_local(base, pattern)
            if not matches:
                missing.append(safe_join(directory, pattern) + " (glob matched nothing)")
            for match in matches:
                rel = safe_join(directory, match)
                if not os.path.lexists(os.path.join(local_root, rel)):
                    missing.append(rel)
                files.append(rel)
        if missing:
            shown = "\n  ".join(os.path.join(local_root, m) for m in missing[:20])
            more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise MissingForwardFileError(
                f"{len(missing)} forward file(s) not found; nothing was submitted:\n  {shown}{more}"
            )
        return files

    def task_dirs(self) -> list[str]:
        return sorted({safe_join(task.task_work_path) for task in self.belonging_tasks})

    def backward_file_list(self, tasks: list[Task] | None = None, common: bool = True) -> list[str]:
        """Backward patterns (relative to the work base) of ``tasks`` (default all) and the common ones."""
        tasks = self.belonging_tasks if tasks is None else tasks
        patterns = [safe_join(t.task_work_path, f) for t in tasks for f in t.backward_files]
        return patterns + [safe_join(f) for f in self.backward_common_files] if common else patterns

    def upload_jobs(self) -> None:
        context = self._machine().context
        files = self.forward_file_list()
        context.upload_files(files, dirs=self.task_dirs())
        plugins.hook().files_uploaded(context=context, submission=self, files=files)

    def write_job_scripts(self) -> None:
        """Write every job's script into the job root: batched calls, each of at most SCRIPT_BATCH_BYTES of
        scripts, generated as they are written (a million tasks' scripts never sit in memory at once)."""
        machine = self._machine()
        batch: dict[str, str] = {}
        size = 0
        for job in self.belonging_jobs:
            batch[job.script_file_name] = script = machine.gen_script(job)
            size += len(script)
            if size >= SCRIPT_BATCH_BYTES:
                machine.context.write_files(batch)
                batch, size = {}, 0
        if batch:
            machine.context.write_files(batch)

    def download_jobs(self, tasks: list[Task] | None = None) -> None:
        """Fetch the backward files of ``tasks`` (default all) and the common ones; a missing file is an error."""
        self._raise_missing(self._fetch(self.backward_file_list(tasks)))

    def _fetch(self, patterns: list[str]) -> list[str]:
        """Download ``patterns``; return those that matched nothing."""
        context = self._machine().context
        missing = context.download_files(patterns) if patterns else []
        fetched = [p for p in patterns if p not in set(missing)]
        plugins.hook().files_downloaded(context=context, submission=self, files=fetched)
        return missing

    def _stream_results(self) -> None:
        """Bring back the results of jobs seen finished since the last poll (one download for all of them).

        A crash keeps what arrived; the record notes the downloaded jobs so that a re-run does not fetch them
        again. Missing files are reported once the run ends, after everything else arrived.
        """
        fresh = [job for job in self.belonging_jobs if job.job_state == JobStatus.finished and not job.downloaded]
        if fresh:
            try:
                self._missing += self._fetch(
                    self.backward_file_list([t for j in fresh for t in j.job_task_list], False)
                )
            except UnsafePathError as err:  # raised after everything else of these jobs arrived
                self._refused.append(err)
            for job in fresh:
                job.downloaded = True
            self._record_stale = True
        if all(job.job_state == JobStatus.finished for job in self.belonging_jobs):
            return  # the run ends now with the small finished record (a crash before it fetches these again)
        if self._record_stale and time.monotonic() >= self._record_due:
            self.submission_to_json()  # between two writes a crash costs only downloading some results again
        if self._cleaner is not None:
            self._cleaner.remove_recorded()

    def _last_downloads(self, tasks: list[Task]) -> None:
        """Fetch the results of ``tasks`` not streamed yet; then report the results refused during the whole run
        (one error), then the backward files that were never produced."""
        try:
            missing = self._fetch(self.backward_file_list(tasks))
        except UnsafePathError as err:
            self._refused.append(err)
            missing = []
        if self._refused:
            refused, self._refused = self._refused, []
            raise refused[0] if len(refused) == 1 else UnsafePathError("\n".join(str(err) for err in refused))
        self._raise_missing(self._missing + missing)

    def _raise_missing(self, missing: list[str]) -> None:
        if missing:
            context = self._machine().context
            shown = "\n  ".join(missing[:20])
            raise MissingBackwardFileError(
                f"{len(missing)} backward file(s) were not produced on {type(context).__name__} "
                f"(under {context.remote_root}); everything else was downloaded:\n  {shown}"
            )

    def generated_files(self, cleaned: Collection[str] = ()) -> list[str]:
        """Every file the run leaves in the job root besides the tasks' own outputs; of the jobs in ``cleaned``
        (hashes: their files went during the run) only the finished tag."""
        machine = self._machine()
        names = [f"{self.submission_hash}.json"]
        for job in self.belonging_jobs:
            names += [job.finish_tag] if job.job_hash in cleaned else job_files(machine, job)
        return names

    def clean_jobs(self) -> None:
        """Remove what the run left in the job root (in a background thread with clean_asynchronously).

        The driver's lock goes first: it lives in the job root.
        """
        machine = self._machine()
        if self._lock is not None:
            self._lock.release()
        generated = self.generated_files(self._cleaner.cleaned if self._cleaner is not None else ())
        if machine.clean_asynchronously:
            threading.Thread(target=machine.context.clean, args=(generated,), name="dpdispatcher-clean").start()
        else:
            machine.context.clean(generated)

    def forget(self) -> None:
        """Remove the local record (a finished one included): a later run starts from scratch."""
        record_path(self.submission_hash).unlink(missing_ok=True)

    def _mark_finished(self) -> None:
        """Replace the record by the small finished record, before anything is removed from the job root."""
        local_root = self._machine().context.local_root
        text = json.dumps(finished_record(self.submission_hash, local_root, len(self.belonging_tasks)))
        atomic_write_text(record_path(self.submission_hash), text)

    def _already_finished(self, clean: bool) -> bool:
        """Whether an earlier run finished this submission and its results are all still in place.

        A run killed while it cleaned up left part of the job root: it is removed now.
        When a result is missing, the finished record is forgotten and the submission runs again.
        """
        record = self._read_local_record()
        if record is None or not is_finished(record):
            return False
        context = self._machine().context
        missing = [p for p in self.backward_file_list() if not self._result_in_place(context.local_root, p)]
        if missing:
            logger.warning(
                "submission %s %s, but %d result file(s) are no longer there (e.g. %s); running it again",
                self.submission_hash,
                describe_finished(record),
                len(missing),
                os.path.join(context.local_root, missing[0]),
            )
            self.forget()
            return False
        logger.info("submission %s %s; nothing to run", self.submission_hash, describe_finished(record))
        for job in self.belonging_jobs:
            job.job_state = JobStatus.finished
        if clean and context.files_exist(["."]):
            self.clean_jobs()
        return True

    @staticmethod
    def _result_in_place(local_root: str, pattern: str) -> bool:
        return any(os.path.lexists(os.path.join(local_root, m)) for m in expand_local(local_root, pattern))

    # -- running -----------------------------------------------------------------

    def run_submission(
        self,
        *,
        dry_run: bool = False,
        exit_on_submit: bool = False,
        clean: bool = True,
        check_interval: float = 30,
        continue_on_failure: bool | None = None,
    ) -> dict[str, Any]:
        """Upload, submit, wait for every job, resubmit failures, download the results.

        Re-running the same program after a crash or kill picks up the jobs already
        submitted (from the record) instead of submitting them again.
        ``dry_run`` uploads and writes the scripts but submits nothing;
        ``exit_on_submit`` returns once every job is submitted. When a job exhausts its retries the run
        stops at once (the other jobs run on; a re-run picks them up), unless ``continue_on_failure``
        (default: the submission's) keeps it going until every other job is done and downloaded.
        """
        if continue_on_failure is not None:
            self.continue_on_failure = continue_on_failure
        machine = self._machine()
        if not self.belonging_tasks:
            raise ConfigError("the submission has no tasks (task_list is empty): nothing to run")
        if self.resources is not None:
            check_kwargs(type(machine).__name__, type(machine).resources_subfields(), self.resources.kwargs)
        self.check_paths()
        if not self.belonging_jobs:
            self.generate_jobs()
        self._hash_of_run = self.get_hash()
        try:
            return self._run_bound(dry_run, exit_on_submit, clean, check_interval)
        finally:
            self._hash_of_run = None

    def _run_bound(self, dry_run: bool, exit_on_submit: bool, clean: bool, check_interval: float) -> dict[str, Any]:
        """Bind the context, then run under the driver's lock unless an earlier run finished already."""
        context = self._bind_context()
        if self._already_finished(clean):
            return self.serialize()
        if self.previous_submission_hash is not None:
            self._take_over_previous(context)
        self._lock = DriverLock(context, self.submission_hash)
        self._lock.acquire()
        try:
            return self._run_locked(dry_run, exit_on_submit, clean, check_interval)
        finally:
            self._lock.release()
            self._lock = None

    def _run_locked(self, dry_run: bool, exit_on_submit: bool, clean: bool, check_interval: float) -> dict[str, Any]:
        record = record_path(self.submission_hash)
        for leftover in record.parent.glob(f".{record.name}.*.tmp"):
            leftover.unlink(
                missing_ok=True
            )  # a record write a killed driver left half-way (this driver holds the lock)
        self.try_recover_from_json()
        if not self.uploaded:
            self.upload_jobs()
            self.write_job_scripts()
            self.uploaded = True
            self.submission_to_json()
        if dry_run:
            return self.serialize()
        progress = Progress()
        try:
            self._adopt_unrecorded_jobs()
            self._submit_pending()
            self.submission_to_json()
            self._write_remote_record()
            if exit_on_submit:
                return self.serialize()
            if clean:
                common = [*self.forward_common_files, *self.backward_common_files]
                self._cleaner = FinishedJobCleaner(self._machine(), self.belonging_jobs, common)
            self._wait_until_done(check_interval, progress)
        finally:
            progress.close()
        self._finish(clean)
        return self.serialize()

    async def async_run_submission(self, **kwargs: Any) -> dict[str, Any]:
        """:meth:`run_submission` (same keywords) in a worker thread: the event loop stays free, and several
        submissions can be awaited together (``asyncio.gather``)."""
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(self.run_submission, **kwargs))

    def _take_over_previous(self, context: BaseContext) -> None:
        """Continue from ``previous_submission_hash``: its job root becomes this submission's, so the
        finished tags of the tasks the two share are found and those tasks are not run again."""
        previous = self.previous_submission_hash
        assert previous is not None
        old_root = context.job_root(previous)
        if old_root == context.remote_root:  # LazyLocalContext: one work base, the tags are already here
            if not (record_path(previous).exists() or context.check_file_exists(f"{previous}.json")):
                raise ConfigError(
                    f"no record of the previous submission {previous} (looked in {record_path(previous)})"
                )
            return
        moved = context.run(
            f"cd / && if [ -d {shlex.quote(old_root)} ]; then rmdir {shlex.quote(context.remote_root)} 2>/dev/null; "
            f"mv -T {shlex.quote(old_root)} {shlex.quote(context.remote_root)} && echo moved; fi"
        )
        if "moved" in moved.stdout:
            logger.info("continuing from submission %s: its job root is now %s", previous, context.remote_root)
            self.uploaded = False  # the scripts of this submission's jobs are written anew
        elif not record_path(previous).exists():
            raise ConfigError(
                f"no record of the previous submission {previous}: neither {record_path(previous)} "
                f"nor its job root {old_root} exists"
            )
        else:
            logger.warning("the previous submission %s left no job root (%s); every task runs", previous, old_root)

    def _adopt_unrecorded_jobs(self) -> None:
        """Adopt jobs that a run killed before writing its record had already (re)submitted.

        The submit command records each job id in the job root in the same remote
        command, so a job whose record says unsubmitted or terminated but whose id
        file names a newer id is already in the scheduler's hands.
        """
        doubtful = self._jobs_to_submit()
        if not doubtful:
            return
        for job_hash, job_id in self._machine().adopt_submitted(doubtful).items():
            job = next(j for j in doubtful if j.job_hash == job_hash)
            if job_id != job.job_id:
                logger.info("adopting job %s (id %s) submitted by an earlier run", job_hash, job_id)
                job.register_job_id(job_id)

    def _wait_until_done(self, check_interval: float, progress: Progress) -> None:
        clock = PollClock(check_interval)
        while True:
            if clock.scheduler_due():
                self.update_submission_state()
                clock.queried()
            else:
                self._finish_tagged(clock)
            self._stream_results()
            # The record must know every job id; states alone are re-queried on recovery.
            if self._submit_pending():
                self.submission_to_json()
                clock.reset()
            self._show(progress)
            if self._lock is not None:
                self._lock.heartbeat()
            active = [job for job in self.belonging_jobs if job.job_state in ACTIVE_STATES]
            if not active and not self._jobs_to_submit():
                return
            if not self.continue_on_failure and self._gave_up():
                return  # fail fast: the others run on, a re-run picks them up
            if self._few_enough_unfinished(active):
                self._machine().kill_jobs(active)
                return
            self._machine().wait(active, clock.next_wait())

    def _gave_up(self) -> list[Job]:
        retries = self._machine().retry_count
        return [job for job in self.belonging_jobs if job.gave_up(retries)]

    def _few_enough_unfinished(self, active: list[Job]) -> bool:
        ratio = self.resources.ratio_unfinished if self.resources else 0.0
        return ratio > 0 and len(active) <= ratio * len(self.belonging_jobs)

    def _show(self, progress: Progress) -> None:
        states = [job.job_state for job in self.belonging_jobs]
        failed = sum(job.gave_up(self._machine().retry_count) for job in self.belonging_jobs)
        progress.update(
            done=states.count(JobStatus.finished),
            running=states.count(JobStatus.running) + states.count(JobStatus.completing),
            queued=states.count(JobStatus.waiting) + states.count(JobStatus.unknown),
            failed=failed,
        )

    def update_submission_state(self) -> bool:
        """Query all active jobs in one batched call; return whether any state changed."""
        active = [job for job in self.belonging_jobs if job.job_state in ACTIVE_STATES]
        if not active:
            return False
        states = self._machine().check_statuses(active)
        changed = False
        for job, state in zip(active, states):
            changed |= self._set_state(job, state)
        return changed

    def _finish_tagged(self, clock: PollClock) -> None:
        """Active jobs whose finished tag appeared are finished, without asking the scheduler.

        The tag is the job script's last act (see :func:`dpdispatcher.job_script.finish`), so its
        results are complete once it exists.
        """
        active = [job for job in self.belonging_jobs if job.job_state in ACTIVE_STATES]
        if not active:
            return
        start = time.monotonic()
        tagged = self._machine().finished_by_tag(active)
        clock.tags_looked_at(time.monotonic() - start)
        for job in active:
            if job.job_hash in tagged:
                self._set_state(job, JobStatus.finished)

    @staticmethod
    def _set_state(job: Job, state: JobStatus) -> bool:
        if state == job.job_state:
            return False
        plugins.hook().job_state_changed(job=job, old_state=job.job_state, new_state=state)
        job.job_state = state
        return True

    def _jobs_to_submit(self) -> list[Job]:
        retries = self._machine().retry_count
        return [
            job
            for job in self.belonging_jobs
            if job.job_state == JobStatus.unsubmitted
            or (job.job_state == JobStatus.terminated and not job.gave_up(retries))
        ]

    def handle_unexpected_submission_state(self) -> bool:
        """Submit unsubmitted jobs and resubmit terminated ones within retry_count; return whether any was submitted."""
        to_submit, retried = [], []
        for job in self._jobs_to_submit():
            if job.job_state == JobStatus.terminated:
                job.fail_count += 1
                if job.gave_up(self._machine().retry_count):
                    logger.warning("job %s failed %d times; giving up on it", job.job_id, job.fail_count)
                    continue
                logger.info("job %s terminated; resubmitting (retry %d)", job.job_id, job.fail_count)
                retried.append(job)
            to_submit.append(job)
        if not to_submit:
            return False
        try:
            job_ids = self._machine().submit_jobs(to_submit)
            if len(job_ids) != len(to_submit):
                raise SchedulerError(
                    f"{type(self._machine()).__name__}.submit_jobs returned {len(job_ids)} id(s) for "
                    f"{len(to_submit)} job(s) ({job_ids[:5]!r}); a batch type returns one id per job, in order",
                    submitted=list(job_ids)[: len(to_submit)],
                )
        except SchedulerError as err:
            for job, job_id in zip(to_submit, err.submitted):  # accepted before the refusal
                self._registered(job, job_id)
            for job in retried:
                if job.job_state == JobStatus.terminated:  # not a new failure: it was never resubmitted
                    job.fail_count -= 1
            raise
        for job, job_id in zip(to_submit, job_ids):
            self._registered(job, job_id)
        return True

    def _submit_pending(self) -> bool:
        """Submit what needs submitting; a scheduler that refuses for now is asked again at the next poll."""
        try:
            return self.handle_unexpected_submission_state()
        except SchedulerBusyError as err:
            logger.warning("%s; trying again at the next poll", err)
            return True

    def _registered(self, job: Job, job_id: str) -> None:
        job.register_job_id(job_id)
        plugins.hook().job_submitted(machine=self.machine, job=job, job_id=job_id)

    def check_all_finished(self) -> bool:
        return all(job.job_state == JobStatus.finished for job in self.belonging_jobs)

    def _finish(self, clean: bool) -> None:
        failed_jobs = [job for job in self.belonging_jobs if job.job_state != JobStatus.finished]
        if not failed_jobs:
            rest = [t for job in self.belonging_jobs if not job.downloaded for t in job.job_task_list]
            self._last_downloads(rest)
            self._mark_finished()  # first: a run killed while cleaning up finds the submission finished
            if clean:
                self.clean_jobs()
            return
        # Some tasks failed for good (or were left by ratio_unfinished, or run on after a fail-fast stop):
        # keep every result that exists.
        doubtful = [task for job in failed_jobs for task in job.job_task_list]
        finished_doubtful = self._machine().finished_tasks(doubtful)
        finished_hashes = {t.task_hash for t in finished_doubtful}
        gave_up = self._gave_up()
        failed_tasks = [t for job in gave_up for t in job.job_task_list if t.task_hash not in finished_hashes]
        good_tasks = [
            t for job in self.belonging_jobs if job.job_state == JobStatus.finished for t in job.job_task_list
        ]
        pending = [
            t
            for job in self.belonging_jobs
            if job.job_state == JobStatus.finished and not job.downloaded
            for t in job.job_task_list
        ]
        self._last_downloads(pending + finished_doubtful)
        if not gave_up:  # ratio_unfinished ended the run: not an error
            if clean:
                self.clean_jobs()
                self.forget()
            return
        self.submission_to_json()
        still_running = [job for job in failed_jobs if job.job_state in ACTIVE_STATES]
        raise SubmissionFailedError(
            failure_report(
                self._machine(),
                self.submission_hash,
                gave_up,
                failed_tasks,
                n_downloaded=len(good_tasks) + len(finished_doubtful),
                still_running=still_running,
            )
        )
