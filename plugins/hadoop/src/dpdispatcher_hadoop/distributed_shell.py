"""DistributedShell: each job is a YARN DistributedShell application of one container.

The machine's commands (``hadoop jar``, ``yarn application``) run on this machine through
:meth:`HDFSContext.run`, in the submission's control directory; the job root is on HDFS. The
job script, given to the client as ``-shell_script``, works in its container's directory: it
fetches the submission's inputs from HDFS, runs the tasks under the job script contract and
puts results and tags back (:mod:`dpdispatcher_hadoop.container_script`).

* **Submit**: one script for all jobs (:meth:`Machine.submit_and_record_many`), each step
  starting a client and recording the application id in ``<job hash>_job_id``; a re-run adopts
  a recorded id instead of submitting again.
* **Status**: ONE ``yarn application -list -appStates ALL`` per poll for every job; an ended or
  unlisted application is settled by the job's finished tag on HDFS.
* **Kill**: ``yarn application -kill id…`` lines, under the command budget.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from dargs import Argument

from dpdispatcher.errors import ConfigError, SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.records import atomic_write_text
from dpdispatcher_hadoop import commands, container_script, yarn
from dpdispatcher_hadoop.hdfs_context import HDFSContext, result_archive_name

logger = logging.getLogger(__name__)

DOC_YARN_PATH = (
    "The directory holding ``hadoop-yarn-applications-distributedshell-*.jar`` "
    "(default: $HADOOP_HOME/share/hadoop/yarn, as Hadoop's distributions lay it out)."
)
DOC_IMG_NAME = "A Docker image to run the container in (YARN's Docker runtime); empty: no Docker."
DOC_MEM_LIMIT = "Memory of the job's container, in GB (-container_memory, in MB, is 1024 times it)."


class DistributedShell(Machine):
    """The DistributedShell batch type (Hadoop YARN); its context is an :class:`HDFSContext`."""

    job_id_pattern = yarn.APPLICATION_ID
    #: a failing ``yarn application -list`` this many polls in a row is raised (before: unknown, asked again)
    max_query_failures = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ended: dict[str, yarn.Application | None] = {}  # job hash -> its application when it ended
        self._query_failures = 0

    @classmethod
    def resources_subfields(cls) -> list[Argument]:
        """The kwargs dpdispatcher 1.1.0's DistributedShell reads, with its defaults."""
        kwargs = [
            Argument("yarn_path", str, optional=True, default="", doc=DOC_YARN_PATH),
            Argument("img_name", str, optional=True, default="", doc=DOC_IMG_NAME),
            Argument("mem_limit", int, optional=True, default=1, doc=DOC_MEM_LIMIT),
        ]
        return [Argument("kwargs", dict, kwargs, optional=True, doc="DistributedShell's container.")]

    @property
    def hdfs(self) -> HDFSContext:
        context = self.context
        if not isinstance(context, HDFSContext):
            raise ConfigError(
                f"batch_type DistributedShell needs context_type HDFSContext (its jobs read and write HDFS), "
                f"got {type(context).__name__}"
            )
        return context

    # -- script ---------------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        return self.shebang  # DistributedShell takes its resources on the command line, not in the script

    def job_root_lines(self, job: Job) -> list[str]:
        """The container's own directory is the job root (the job's files are fetched from HDFS into it)."""
        return container_script.root_lines(job, self.hdfs.remote_root)

    def gen_script_env(self, job: Job) -> str:
        """The core's environment, then the staging from HDFS."""
        return super().gen_script_env(job) + "\n" + container_script.staging(job, self.hdfs.upload_archive)

    # -- submission -----------------------------------------------------------------------

    def client_options(self, job: Job) -> list[str]:
        """The DistributedShell client's options for ``job`` (its script is ``job.script_file_name`` here)."""
        resources = job.resources
        kwargs = resources.kwargs or {}
        options = [
            "-appname",
            f"dpd_{job.job_hash}",
            "-shell_script",
            job.script_file_name,
            "-num_containers",
            "1",
            "-container_memory",
            str(int(kwargs.get("mem_limit", 1)) * 1024),
            "-container_vcores",
            str(max(int(resources.cpu_per_node), 1)),
        ]
        if resources.queue_name:
            options += ["-queue", resources.queue_name]
        if kwargs.get("img_name"):
            options += [
                "-shell_env",
                "YARN_CONTAINER_RUNTIME_TYPE=docker",
                "-shell_env",
                f"YARN_CONTAINER_RUNTIME_DOCKER_IMAGE={kwargs['img_name']}",
            ]
        return options

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Write each script where the client reads it, then submit all in one script, ids recorded."""
        hdfs = self.hdfs
        for job in jobs:
            self._ended.pop(job.job_hash, None)
            path = os.path.join(hdfs.control_root, job.script_file_name)
            atomic_write_text(path, self.gen_script(job), durable=False)
        submits = [
            commands.submit(
                self.client_options(job), client_log(job), (job.resources.kwargs or {}).get("yarn_path", "")
            )
            for job in jobs
        ]
        return self.submit_and_record_many(jobs, submits)

    # -- status ---------------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        """One ``yarn application -list -appStates ALL`` for every job; ended or unlisted ones by their tags."""
        listed = self._list()
        if listed is None:
            return [JobStatus.unknown] * len(jobs)
        states: dict[str, JobStatus] = {}
        settle = []
        for job in jobs:
            app = listed.get(job.job_id)
            if app is not None and app.state in yarn.ACTIVE_STATES:
                states[job.job_hash] = yarn.ACTIVE_STATES[app.state]
            elif app is None or app.state in yarn.ENDED_STATES:
                self._ended[job.job_hash] = app
                settle.append(job)
            else:
                logger.warning("YARN state %r of %s is not known to dpdispatcher; asking again", app.state, app.app_id)
                states[job.job_hash] = JobStatus.unknown
        if settle:
            states.update(self.settle_gone(settle))
        return [states[job.job_hash] for job in jobs]

    def _list(self) -> dict[str, yarn.Application] | None:
        """Every application the ResourceManager lists; None when it did not answer (asked again next poll)."""
        result = self.context.run(commands.LIST)
        if result.returncode == 0:
            self._query_failures = 0
            return yarn.parse_list(result.stdout)
        message = (result.stderr.strip() or result.stdout.strip())[-2000:]
        self._query_failures += 1
        if self._query_failures >= self.max_query_failures:
            raise SchedulerError(f"`{commands.LIST}` failed {self._query_failures} times in a row: {message}")
        logger.warning("`%s` failed (%s); asking again at the next poll", commands.LIST, message)
        return None

    # -- kill, files, failures ------------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        app_ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(yarn.APPLICATION_ID, job.job_id)))
        if app_ids:
            self.context.run_script([f"{line} || true" for line in commands.kill(app_ids)])

    def output_files(self, job: Job) -> list[str]:
        return [container_script.output_file(job)]

    def generated_files(self, job: Job) -> list[str]:
        """Besides the core's: the result archive, the client's log and the submission's input archive."""
        return [
            *super().generated_files(job),
            result_archive_name(job.job_hash),
            client_log(job),
            self.hdfs.upload_archive,
        ]

    def describe_failure(self, job: Job) -> str:
        if job.job_hash in self._ended:
            return yarn.describe(self._ended[job.job_hash], job.job_id)
        return ""


def client_log(job: Job) -> str:
    """The DistributedShell client's log of the job's last submission (in the control directory)."""
    return f"{job.job_hash}_client.log"
