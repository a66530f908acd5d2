"""Machine: a scheduler backend. Generates job scripts, submits, queries status, kills.

A plugin implements the four abstract primitives, each for many jobs at once:
:meth:`Machine.gen_script_header`, :meth:`Machine.submit_jobs`,
:meth:`Machine.check_statuses` and :meth:`Machine.kill_jobs`. The one-job forms
(:meth:`Machine.do_submit`, :meth:`Machine.check_status`, :meth:`Machine.kill`)
are final wrappers kept for the published API. The script body follows the job
script contract of :mod:`dpdispatcher.job_script`.
"""

from __future__ import annotations

import abc
import copy
import shlex
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, final

from dpdispatcher import job_script, plugins, submit
from dpdispatcher._compat import MachineCompat
from dpdispatcher.arginfo import check_and_normalize, machine_args
from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import ConfigError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.records import load_config_file

if TYPE_CHECKING:
    from dargs import Argument

    from dpdispatcher.job import Job
    from dpdispatcher.task import Task


class Machine(MachineCompat, abc.ABC):
    """Abstract scheduler backend. Subclasses are registered through ``register_machines``."""

    #: shebang of generated scripts
    shebang = "#!/bin/bash -l"
    #: what a job id of this scheduler looks like: a POSIX extended regular expression (as bash's ``=~``
    #: reads it, so ``[0-9]``/``[[:alnum:]]``, not ``\d``) that the whole id must match
    job_id_pattern = "[^[:space:]]+"
    #: submitting through :func:`dpdispatcher.submit_retry.submit_with_retries`: refusals for now retried this many
    #: times, after ``retry_delay`` seconds doubling up to ``retry_delay_max``
    submit_retries = 8
    retry_delay = 1.0
    retry_delay_max = 60.0

    def __new__(cls, *args: Any, **kwargs: Any) -> Machine:
        if cls is Machine:
            batch_type = kwargs.get("batch_type") or (args[0] if args else None)
            if batch_type is None:
                raise ConfigError("Machine() needs batch_type (e.g. Machine(batch_type='Shell', ...))")
            cls = plugins.get_registry().machine_class(batch_type)
        return super().__new__(cls)

    def __init__(
        self,
        batch_type: str | None = None,
        context_type: str | None = None,
        local_root: str | None = None,
        remote_root: str | None = None,
        remote_profile: dict[str, Any] | None = None,
        retry_count: int = 3,
        *,
        context: BaseContext | None = None,
        clean_asynchronously: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        if context is None:
            if not context_type:  # the published package fails here too (KeyError: None)
                raise ConfigError(
                    f"{type(self).__name__} needs a context: give context_type (e.g. 'LocalContext', 'SSHContext') "
                    "with local_root and remote_root, or context=BaseContext.load_from_dict({...})"
                )
            context = BaseContext.load_from_dict(
                {
                    "context_type": context_type,
                    "local_root": local_root,
                    "remote_root": remote_root,
                    "remote_profile": remote_profile,
                }
            )
        self.context: BaseContext = context
        self.retry_count = retry_count
        self.clean_asynchronously = clean_asynchronously
        #: the machine-level arguments this batch type declares (:meth:`machine_subfields`)
        self.options: dict[str, Any] = dict(options or {})

    def bind_context(self, context: BaseContext) -> None:
        self.context = context

    # -- construction -----------------------------------------------------

    @classmethod
    def load_from_dict(cls, machine_dict: dict[str, Any]) -> Machine:
        data = check_and_normalize(machine_args(), machine_dict, "machine")
        machine_cls = plugins.get_registry().machine_class(data["batch_type"])
        machine: Machine = machine_cls(
            context=BaseContext.load_from_dict(data),
            retry_count=data.get("retry_count", 3),
            clean_asynchronously=data.get("clean_asynchronously", False),
            options={arg.name: data[arg.name] for arg in machine_cls.machine_subfields() if arg.name in data},
        )
        return machine

    @classmethod
    def load_from_json(cls, json_path: str) -> Machine:
        return cls.load_from_dict(load_config_file(json_path))

    load_from_yaml = load_from_json

    def serialize(self) -> dict[str, Any]:
        """The machine config without secrets (safe for records and hashes)."""
        return {
            "batch_type": type(self).__name__,
            "context_type": type(self.context).__name__,
            "local_root": self.context.init_local_root,
            "remote_root": self.context.init_remote_root,
            "remote_profile": self.context.public_profile(),
            "retry_count": self.retry_count,
            "clean_asynchronously": self.clean_asynchronously,
            **self.options,
        }

    @classmethod
    def arginfo(cls) -> Argument:
        return machine_args()

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        """dargs fields this batch type adds to the machine config (a server name, a cluster); default none.

        Their values are validated with the machine config, shown by ``dpdisp doc machine``
        and given to the machine as :attr:`options`.
        """
        return []

    @classmethod
    def resources_subfields(cls) -> list[Argument]:
        """dargs fields this batch type adds to resources (default: an empty kwargs)."""
        from dargs import Argument

        return [Argument("kwargs", dict, optional=True, doc="This field is empty for this batch.")]

    @classmethod
    def resources_arginfo(cls) -> Argument:
        from dargs import Argument

        return Argument(cls.__name__, dict, cls.resources_subfields())

    # -- the primitives a backend implements --------------------------------------

    @abc.abstractmethod
    def gen_script_header(self, job: Job) -> str:
        """The shebang and the scheduler directives of ``job``'s script.

        Build directive lines with :func:`dpdispatcher.job_script.header_line`. When the
        resources name a header template (strategy.customized_script_header_template_file)
        the core uses it instead and does not call this method.
        """

    @abc.abstractmethod
    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` (their scripts are in the job root) and return their ids, in order.

        Use :meth:`submit_and_record_many`: it records each id where the job runs and never
        submits a job twice. On a refusal raise :class:`SchedulerError` (or
        :class:`SchedulerBusyError` for "not now") with ``submitted`` = the ids accepted before it.
        """

    @abc.abstractmethod
    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        """The states of ``jobs``, in order, from one scheduler query (plus tag files for the jobs it forgot)."""

    @abc.abstractmethod
    def kill_jobs(self, jobs: list[Job]) -> None:
        """Cancel ``jobs`` with as few scheduler calls as the command line budget allows."""

    # -- the one-job forms of the published API ------------------------------------

    @final
    def do_submit(self, job: Job) -> str:
        """Submit one job and return its id."""
        return self.submit_jobs([job])[0]

    @final
    def check_status(self, job: Job) -> JobStatus:
        """One job's state (a Submission asks for all its jobs at once)."""
        return self.check_statuses([job])[0]

    @final
    def kill(self, job: Job) -> None:
        self.kill_jobs([job])

    # -- script generation --------------------------------------------------

    def gen_script(self, job: Job) -> str:
        parts = [
            self._script_header(job),
            self.gen_script_custom_flags_lines(job),
            self.gen_script_env(job),
            self.gen_script_command(job),
            self.gen_script_end(job),
        ]
        return "\n".join(p.rstrip("\n") for p in parts if p) + "\n"

    def _script_header(self, job: Job) -> str:
        template = job.resources.strategy.get("customized_script_header_template_file")
        if not template:
            return self.gen_script_header(job)
        text = job_script.read_header_template(template, job.resources)
        return text if text.startswith("#!") else self.shebang + "\n" + text

    def gen_script_custom_flags_lines(self, job: Job) -> str:
        return "\n".join(job_script.header_line("", flag) for flag in job.resources.custom_flags)

    def job_root_lines(self, job: Job) -> list[str]:
        """The script's first lines after the header: they set ``REMOTE_ROOT``, the job root the job runs in.

        A backend whose jobs run in a copy of the job root somewhere the driver cannot name
        (a container's directory, a cloud worker) overrides this.
        """
        return [f"REMOTE_ROOT={shlex.quote(self.context.remote_root)}"]

    def gen_script_env(self, job: Job) -> str:
        res = job.resources
        lines = [*self.job_root_lines(job), 'cd "$REMOTE_ROOT" || exit 1']
        if res.module_purge:
            lines.append("module purge")
        lines += [f"module unload {m}" for m in res.module_unload_list]
        lines += [f"module load {m}" for m in res.module_list]
        lines += [f"source {s}" for s in res.source_list]
        envs = {  # what the job asked for, for task commands that test it (as the published package exports)
            "DPDISPATCHER_NUMBER_NODE": res.number_node,
            "DPDISPATCHER_CPU_PER_NODE": res.cpu_per_node,
            "DPDISPATCHER_GPU_PER_NODE": res.gpu_per_node,
            "DPDISPATCHER_QUEUE_NAME": res.queue_name,
            "DPDISPATCHER_GROUP_SIZE": res.group_size,
            **res.envs,
        }
        lines += [f"export {k}={shlex.quote(str(v))}" for k, v in envs.items()]
        lines += plugins.env_lines(self, job)
        lines += res.prepend_script
        lines.append(job_script.functions(res))
        return "\n".join(lines)

    def gen_script_command(self, job: Job) -> str:
        return job_script.task_blocks(job.resources, job.job_task_list)

    def gen_script_end(self, job: Job) -> str:
        return job_script.wait_and_check(job.job_task_list) + job_script.finish(job)

    # -- submission helpers ----------------------------------------------------------

    def submit_and_record(self, job: Job, submit_cmd: str) -> str:
        """:meth:`submit_and_record_many` for one job."""
        return self.submit_and_record_many([job], [submit_cmd])[0]

    def submit_and_record_many(
        self, jobs: Sequence[Job], submit_cmds: Sequence[str], *, sets_id: bool = False
    ) -> list[str]:
        """Run each job's ``submit_cmd`` (it prints the job's id) and record the id where the job runs.

        One script for all jobs; see :mod:`dpdispatcher.submit`. Ids must match
        :attr:`job_id_pattern`; a job already accepted is never submitted again.
        With ``sets_id``, each command is a statement that sets ``$dpd_id`` instead.
        """
        return submit.submit_and_record(
            self.context,
            jobs,
            submit_cmds,
            type(self).__name__,
            self.job_id_pattern,
            sets_id=sets_id,
            cancel=self._cancel_unrecorded,
        )

    def _cancel_unrecorded(self, job: Job, job_id: str) -> None:
        """Cancel a job the scheduler accepted as ``job_id`` whose id could not be recorded."""
        stand_in = copy.copy(job)
        stand_in.job_id = job_id
        self.kill_jobs([stand_in])

    def adopt_submitted(self, jobs: Sequence[Job]) -> dict[str, str]:
        """Job ids recorded where ``jobs`` run (job hash -> id), read in one script."""
        return submit.read_recorded_ids(self.context, jobs, self.job_id_pattern)

    # -- status helpers ------------------------------------------------------------------

    def finished_by_tag(self, jobs: Sequence[Job]) -> set[str]:
        """Hashes of ``jobs`` whose finished tag exists (one existence query for all)."""
        present = self.context.files_exist([job.finish_tag for job in jobs])
        return {job.job_hash for job in jobs if job.finish_tag in present}

    def settle_gone(self, jobs: Sequence[Job]) -> dict[str, JobStatus]:
        """States of jobs the scheduler no longer knows: finished if tagged, else terminated."""
        finished = self.finished_by_tag(jobs) if jobs else set()
        return {job.job_hash: JobStatus.finished if job.job_hash in finished else JobStatus.terminated for job in jobs}

    def finished_tasks(self, tasks: Sequence[Task]) -> list[Task]:
        """Those of ``tasks`` whose finished tag exists (one existence query for all)."""
        present = self.context.files_exist([task.finish_tag for task in tasks]) if tasks else set()
        return [task for task in tasks if task.finish_tag in present]

    def generated_files(self, job: Job) -> list[str]:
        """Names (in the job root) of the files ``job`` leaves besides its tasks' tags; backends add theirs."""
        return [job.script_file_name, job.finish_tag, job.job_id_file, *self.output_files(job)]

    def output_files(self, job: Job) -> list[str]:
        """Where the job script's own stdout and stderr go (names in the job root); default none.

        A failure report shows their tail when no task of the job reported back.
        """
        return []

    def wait(self, jobs: list[Job], timeout: float) -> None:
        """Block up to ``timeout`` seconds between polls; backends may return early when a job ends."""
        time.sleep(timeout)

    def describe_failure(self, job: Job) -> str:
        """Extra words on why a job failed (e.g. 'timed out'); empty when unknown."""
        return ""
