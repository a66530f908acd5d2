"""DpCloudServer: jobs run on the DP cloud (Bohrium, formerly Lebesgue), reached over HTTP.

Submitting a job packs its script and files from the staging job root into one zip, puts it in
the cloud's object storage and creates the job (``POST /brm/v2/job/add``) in the submission's job
group; its id (``<jobId>:job_group_id:<groupId>``) is recorded in the job root before the next
job is created, and a recorded id is adopted instead of creating the job again. One poll asks for
the whole group in one listing call. A job that ended has its result zip fetched and checked
member by member, extracted into the job root, and is then settled by its tag files.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from dpdispatcher.errors import ConfigError, SchedulerBusyError, SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher_dpcloudserver import archive, oss, packing
from dpdispatcher_dpcloudserver.api import job_id_of, split_job_id
from dpdispatcher_dpcloudserver.context import DpCloudServerContext
from dpdispatcher_dpcloudserver.errors import CloudError, CloudLoginError
from dpdispatcher_dpcloudserver.states import FINISHED, KILLED, UNKNOWN_STATUS, active_state

logger = logging.getLogger(__name__)

#: polls in a row that may fail to reach the cloud before the run ends with the error
FAILED_POLLS_LIMIT = 3
#: jobs asked for per listing page (a submission of up to this many jobs costs one call per poll)
PAGE_SIZE = 500
#: where the job script finds its job root: its own folder, wherever the platform unpacked it
SCRIPT_JOB_ROOT = 'REMOTE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"'


class DpCloudServer(Machine):
    """The DP cloud batch type (aliases ``Bohrium``, ``Lebesgue``); needs ``DpCloudServerContext``."""

    job_id_pattern = "[0-9]+(:job_group_id:[0-9]+)?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._group_id: int | None = None
        self._failed_polls = 0
        #: job hash -> what the cloud said about the job's end, for failure reports
        self._endings: dict[str, str] = {}

    @property
    def cloud(self) -> DpCloudServerContext:
        context = self.context
        if not isinstance(context, DpCloudServerContext):
            raise ConfigError(
                f"batch_type DpCloudServer needs context_type DpCloudServerContext, not {type(context).__name__}"
            )
        return context

    # -- the script ---------------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        return self.shebang

    def job_root_lines(self, job: Job) -> list[str]:
        """The job root is the script's own folder: the platform unpacks the archive where it likes (the
        staging path means nothing there)."""
        return [SCRIPT_JOB_ROOT]

    # -- submitting -----------------------------------------------------------------------------

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        recorded = self.adopt_submitted(jobs)
        ids: list[str] = []
        sts: oss.StsToken | None = None
        for job in jobs:
            known = recorded.get(job.job_hash)
            if known and known != job.job_id:
                logger.info("job %s was created already as %s; adopting it", job.job_hash, known)
                self._learn_group(known)
                ids.append(known)
                continue
            try:
                sts = sts or self.cloud.api.sts_token()
                job_id = self._create(job, sts)
            except CloudError as err:
                busy = err.transient and not isinstance(err, CloudLoginError)
                raise (SchedulerBusyError if busy else SchedulerError)(
                    f"DpCloudServer could not submit job {job.job_hash}: {err}", submitted=ids
                ) from err
            self._record(job, job_id)
            ids.append(job_id)
        return ids

    def _create(self, job: Job, sts: oss.StsToken) -> str:
        context = self.cloud
        if job.job_id:  # a resubmission goes into the group of its first attempt
            self._learn_group(job.job_id)
        common_forward, common_backward = context.common_files()
        zip_path = context.bookkeeping(f"{job.job_hash}.zip")
        archive.zip_file_list(
            context.remote_root,
            zip_path,
            packing.archive_members(job, context.remote_root, common_forward),
            dirs=packing.task_dirs(job),
        )
        key = f"program/{context.program_id or 0}/{uuid.uuid4().hex}/{job.job_hash}.zip"
        try:
            url = oss.put_object(context.api, sts, key, zip_path)
        finally:
            os.unlink(zip_path)
        input_data = context.input_data
        payload_data = {
            **input_data,
            "command": f"bash {job.script_file_name}",
            "backward_files": packing.result_patterns(
                job, list(input_data.get("backward_files") or []), common_backward
            ),
            "log_file": packing.log_file(job, input_data.get("log_file")),
        }
        number, group = context.api.job_create(
            input_data.get("job_type", "container"), [url], payload_data, context.program_id, self._group_id
        )
        if group is None:
            return str(number)
        self._group_id = int(group)
        return job_id_of(number, group)

    def _record(self, job: Job, job_id: str) -> None:
        """Write the id where the job's files are, before the next job is created; a job whose id cannot be
        written is cancelled, never left running untracked."""
        try:
            self.cloud.write_file(job.job_id_file, job_id + "\n")
        except OSError as err:
            self.cloud.api.kill(job_id)
            raise SchedulerError(
                f"the DP cloud accepted job {job.job_hash} as {job_id} but its id could not be recorded in "
                f"{self.cloud.remote_root} ({err}); the job was cancelled so that it does not run untracked"
            ) from err

    def _learn_group(self, job_id: str) -> None:
        _number, group = split_job_id(job_id)
        if group is not None and self._group_id is None:
            self._group_id = group

    # -- status -------------------------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        try:
            rows = self._rows(jobs)
        except CloudLoginError:
            raise
        except CloudError as err:
            self._failed_polls += 1
            if self._failed_polls >= FAILED_POLLS_LIMIT:
                raise SchedulerError(
                    f"the DP cloud did not answer {self._failed_polls} polls in a row: {err}. The jobs go on running "
                    "there: run the same submission again later to pick them up"
                ) from err
            logger.warning("could not ask the DP cloud for the state of %d job(s): %s; asking again", len(jobs), err)
            return [JobStatus.unknown] * len(jobs)
        self._failed_polls = 0
        states: dict[str, JobStatus] = {}
        ended: list[Job] = []
        for job in jobs:
            row = rows.get(job.job_hash)
            if row is None:  # the cloud does not know the job (any more): its tags decide
                ended.append(job)
                continue
            state = active_state(int(row.get("status", UNKNOWN_STATUS)))
            if state is None:
                state = self._fetch_result(job, row)
            if state is None:
                ended.append(job)
            else:
                states[job.job_hash] = state
        states.update(self.settle_gone(ended))
        return [states[job.job_hash] for job in jobs]

    def _rows(self, jobs: list[Job]) -> dict[str, dict[str, Any]]:
        """job hash -> the cloud's record of the job: one listing call per job group (one for a submission)."""
        api = self.cloud.api
        numbers: dict[int, Job] = {}
        groups: set[int] = set()
        for job in jobs:
            if not job.job_id:
                continue
            number, group = split_job_id(job.job_id)
            numbers[number] = job
            if group is not None:
                groups.add(group)
                self._learn_group(job.job_id)
        rows: dict[str, dict[str, Any]] = {}
        for group in sorted(groups):
            for row in api.get_tasks_v2_list(group, per_page=PAGE_SIZE):
                listed = numbers.get(int(row.get("id", -1)))
                if listed is not None:
                    rows[listed.job_hash] = row
        for number, job in numbers.items():  # not listed (no group, or gone from it): asked one by one
            if job.job_hash not in rows:
                detail = api.get_job_detail(number)
                if detail is not None:
                    rows[job.job_hash] = detail
        return rows

    def _fetch_result(self, job: Job, row: dict[str, Any]) -> JobStatus | None:
        """Bring an ended job's result archive into the job root (once per cloud job); None: settle it by its tags.

        A finished job whose result is not published yet is ``completing``.
        """
        status = int(row["status"])
        exit_code = row.get("exitCode")
        self._endings[job.job_hash] = (
            "it was cancelled on the DP cloud"
            if status == KILLED
            else f"the DP cloud reported exit code {exit_code}"
            if exit_code not in (None, 0)
            else ""
        )
        url = row.get("resultUrl") or ""
        if not url:
            return JobStatus.completing if status == FINISHED else None
        number, _group = split_job_id(job.job_id)
        marker = self.cloud.bookkeeping(f"fetched-{number}")
        if not os.path.exists(marker):
            zip_path = self.cloud.bookkeeping(f"{number}_back.zip")
            self.cloud.api.download_from_url(url, zip_path)
            try:
                archive.unzip_file(zip_path, self.cloud.remote_root)
            finally:
                os.unlink(zip_path)
            with open(marker, "w"):
                pass
        return None

    def describe_failure(self, job: Job) -> str:
        return self._endings.get(job.job_hash, "")

    # -- cancelling --------------------------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        refused = []
        for job in jobs:
            if not job.job_id:
                continue
            try:
                self.cloud.api.kill(job.job_id)
            except CloudError as err:
                refused.append(f"{job.job_id}: {err}")
        if refused:
            raise SchedulerError(f"the DP cloud did not cancel {len(refused)} job(s): " + "; ".join(refused[:5]))
