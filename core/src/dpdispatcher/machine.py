"""Machine: a scheduler backend. Generates job scripts, submits, queries status, kills.

The job script contract (every backend's script follows it):

* each task runs in its own directory, in the background, ``para_deg`` at a time;
* a task that exits 0 leaves ``<task_hash>_task_tag_finished`` in the job root, so a
  resubmitted job skips it; a failing one leaves ``<task_hash>_task_fail`` with its
  exit code and the tail of its errlog;
* the job leaves ``<job_hash>_job_tag_finished`` only if every task succeeded;
* the submit command records the scheduler's job id in ``<job_hash>_job_id`` in the
  same remote command, so a driver killed right after submitting can adopt the job.
"""

from __future__ import annotations

import shlex
import uuid
from typing import TYPE_CHECKING, Any

from dpdispatcher import plugins
from dpdispatcher.arginfo import check_and_normalize, machine_args
from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import ConfigError, SchedulerError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.records import load_config_file

if TYPE_CHECKING:
    from dargs import Argument

    from dpdispatcher.resources import Resources
    from dpdispatcher.submission import Job
    from dpdispatcher.task import Task

SCRIPT_FUNCTIONS = """\
dpd_task_done() {{
  # $1: exit code, $2: finished tag, $3: fail file, $4: errlog relative to the job root (may be empty)
  # builtins only ( : > instead of touch): this runs once per task
  if [ "$1" -eq 0 ]; then
    [ ! -e "$REMOTE_ROOT/$3" ] || rm -f "$REMOTE_ROOT/$3"
    : > "$REMOTE_ROOT/$2"
  else
    {{ echo "exit code $1"; if [ -n "$4" ] && [ -f "$REMOTE_ROOT/$4" ]; then tail -c 4000 "$REMOTE_ROOT/$4"; fi; }} \\
      > "$REMOTE_ROOT/$3"
  fi
}}
"""

THROTTLE_FUNCTION = """\
dpd_running=0
dpd_throttle() {{
  # keep at most {para_deg} tasks running at once (a counter: no subshell per task)
  if [ "$dpd_running" -ge {para_deg} ]; then wait -n; dpd_running=$((dpd_running - 1)); fi
  dpd_running=$((dpd_running + 1))
}}
"""

TASK_TEMPLATE = """\
# task {index}: {task_work_path}
{throttle}if [ ! -f {finish_tag} ]; then
  ( cd {task_dir} && {{ {cuda}{command}
  }} 1>>{outlog} 2>>{errlog} )
  dpd_task_done $? {finish_tag} {fail_file} {errlog_rel}
fi{background}
{wait_time}"""

SCRIPT_END = """\
wait
cd "$REMOTE_ROOT" || exit 1
dpd_failed=0
for dpd_t in {finish_tags}; do
  [ -f "$dpd_t" ] || dpd_failed=1
done
if [ "$dpd_failed" -eq 0 ]; then touch {job_hash}_job_tag_finished; fi
{append_script}
exit "$dpd_failed"
"""


class Machine:
    """Abstract scheduler backend. Subclasses are registered through ``register_machines``.

    A subclass implements :meth:`gen_script_header`, :meth:`do_submit`,
    :meth:`check_statuses` (or the single-job :meth:`check_status`) and
    :meth:`kill`.
    """

    #: shebang of generated scripts
    shebang = "#!/bin/bash -l"

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
        *,
        context: BaseContext | None = None,
        retry_count: int = 3,
        clean_asynchronously: bool = False,
    ) -> None:
        if context is None and context_type is not None:
            context = BaseContext.load_from_dict(
                {
                    "context_type": context_type,
                    "local_root": local_root,
                    "remote_root": remote_root,
                    "remote_profile": remote_profile or {},
                }
            )
        self.context: BaseContext | None = None
        if context is not None:
            self.bind_context(context)
        self.retry_count = retry_count
        self.clean_asynchronously = clean_asynchronously

    def bind_context(self, context: BaseContext) -> None:
        self.context = context

    # -- construction -----------------------------------------------------

    @classmethod
    def load_from_dict(cls, machine_dict: dict[str, Any]) -> Machine:
        data = check_and_normalize(machine_args(), machine_dict, "machine")
        machine_cls = plugins.get_registry().machine_class(data["batch_type"])
        context = BaseContext.load_from_dict(data)
        return machine_cls(
            context=context,
            retry_count=data.get("retry_count", 3),
            clean_asynchronously=data.get("clean_asynchronously", False),
        )

    @classmethod
    def load_from_json(cls, json_path: str) -> Machine:
        return cls.load_from_dict(load_config_file(json_path))

    load_from_yaml = load_from_json

    def serialize(self) -> dict[str, Any]:
        """The machine config without secrets (safe for records and hashes)."""
        context = self.context
        return {
            "batch_type": type(self).__name__,
            "context_type": type(context).__name__ if context else None,
            "local_root": context.init_local_root if context else None,
            "remote_root": context.init_remote_root if context else None,
            "remote_profile": context.public_profile() if context else {},
            "retry_count": self.retry_count,
            "clean_asynchronously": self.clean_asynchronously,
        }

    @classmethod
    def arginfo(cls) -> Argument:
        return machine_args()

    @classmethod
    def resources_subfields(cls) -> list[Argument]:
        """dargs fields this batch type adds to resources (default: an empty kwargs)."""
        from dargs import Argument

        return [Argument("kwargs", dict, optional=True, doc="This field is empty for this batch.")]

    @classmethod
    def resources_arginfo(cls) -> Argument:
        from dargs import Argument

        return Argument(cls.__name__, dict, cls.resources_subfields())

    def default_resources(self, res: Resources) -> Resources:
        return res

    # -- script generation --------------------------------------------------

    def gen_script(self, job: Job) -> str:
        parts = [
            self.gen_script_header(job),
            self.gen_script_custom_flags_lines(job),
            self.gen_script_env(job),
            self.gen_script_command(job),
            self.gen_script_end(job),
        ]
        return "\n".join(p.rstrip("\n") for p in parts if p) + "\n"

    def gen_script_header(self, job: Job) -> str:
        """Scheduler directives. Backends override; the template strategy replaces them."""
        template = job.resources.strategy.get("customized_script_header_template_file")
        if template:
            return self.shebang + "\n" + self._read_header_template(template, job.resources)
        return self.shebang

    @staticmethod
    def _read_header_template(path: str, resources: Resources) -> str:
        try:
            with open(path) as f:
                text = f.read()
        except OSError as err:
            raise ConfigError(
                f"resources/strategy/customized_script_header_template_file: cannot read {path}: {err}"
            ) from None
        try:
            return text.format(**resources.serialize())
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"header template {path}: cannot fill {err} from the resources") from None

    def gen_script_custom_flags_lines(self, job: Job) -> str:
        return "\n".join(job.resources.custom_flags)

    def gen_script_env(self, job: Job) -> str:
        res = job.resources
        lines = [f"REMOTE_ROOT={shlex.quote(self.context.remote_root)}", 'cd "$REMOTE_ROOT" || exit 1']
        if res.module_purge:
            lines.append("module purge")
        lines += [f"module unload {m}" for m in res.module_unload_list]
        lines += [f"module load {m}" for m in res.module_list]
        lines += [f"source {s}" for s in res.source_list]
        lines += [f"export {k}={shlex.quote(str(v))}" for k, v in res.envs.items()]
        for extra in plugins.hook().job_script_env_lines(machine=self, job=job):
            lines += list(extra or [])
        lines += res.prepend_script
        lines.append(SCRIPT_FUNCTIONS.format())
        if res.para_deg > 1:
            lines.append(THROTTLE_FUNCTION.format(para_deg=res.para_deg))
        return "\n".join(lines)

    def gen_command_env_cuda_devices(self, resources: Resources, index: int) -> str:
        if not resources.if_cuda_multi_devices:
            return ""
        return f"export CUDA_VISIBLE_DEVICES={index % resources.gpu_per_node}; "

    def gen_script_command(self, job: Job) -> str:
        res = job.resources
        parallel = res.para_deg > 1
        blocks = []
        for index, task in enumerate(job.job_task_list):
            task_dir = task.task_work_path
            errlog_rel = shlex.quote(_join(task_dir, task.errlog)) if task.errlog else "''"
            blocks.append(
                TASK_TEMPLATE.format(
                    index=index,
                    task_work_path=task_dir.replace("\n", " "),
                    throttle="dpd_throttle\n" if parallel else "",
                    finish_tag=shlex.quote(task.finish_tag),
                    fail_file=shlex.quote(task.fail_file),
                    task_dir=shlex.quote(task_dir),
                    cuda=self.gen_command_env_cuda_devices(res, index),
                    command=task.command,
                    outlog=shlex.quote(task.outlog) if task.outlog else "/dev/null",
                    errlog=shlex.quote(task.errlog) if task.errlog else "/dev/null",
                    errlog_rel=errlog_rel,
                    background=" &" if parallel else "",
                    wait_time=f"sleep {res.wait_time}\n" if res.wait_time else "",
                )
            )
        return "\n".join(blocks)

    def gen_script_wait(self, resources: Resources) -> str:
        return "wait"

    def gen_script_end(self, job: Job) -> str:
        return SCRIPT_END.format(
            finish_tags=" ".join(shlex.quote(t.finish_tag) for t in job.job_task_list),
            job_hash=job.job_hash,
            append_script="\n".join(job.resources.append_script),
        )

    # -- submission -----------------------------------------------------------

    def do_submit(self, job: Job) -> str:
        """Submit ``job`` (its script is already in the remote root) and return its id."""
        raise NotImplementedError

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit several jobs and return their ids. Backends may override to submit in one round trip."""
        return [self.do_submit(job) for job in jobs]

    def submit_and_record(self, job: Job, submit_cmd: str) -> str:
        """Run ``submit_cmd`` (which prints the job id) and record the id remotely in the same command.

        Recording the id where the job runs, in the same round trip, is what lets a
        driver that was killed right after submitting adopt the job instead of
        submitting it again.
        """
        return self.submit_and_record_many([job], [submit_cmd])[0]

    def submit_and_record_many(self, jobs: list[Job], submit_cmds: list[str]) -> list[str]:
        """:meth:`submit_and_record` for several jobs in one remote command; stops at the first failure.

        Each submission first leaves its id under a name unique to this call, and the
        command reuses that id if it finds it: a context that re-runs the command
        after a dropped connection therefore never submits a job twice.
        """
        attempt = uuid.uuid4().hex[:12]
        lines = []
        for job, cmd in zip(jobs, submit_cmds):
            once = shlex.quote(f"{job.job_id_file}.{attempt}")
            lines.append(
                f'if [ -s {once} ]; then dpd_id=$(cat {once}); else dpd_id=$({cmd}) && printf "%s\\n" "$dpd_id" > {once}; fi '
                f'&& printf "%s\\n" "$dpd_id" > {shlex.quote(job.job_id_file)} && printf "dpd_job_id %s\\n" "$dpd_id" || exit 1'
            )
        result = self.context.run("\n".join(lines))
        job_ids = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line.startswith("dpd_job_id ")]
        if result.returncode != 0 or len(job_ids) != len(jobs) or not all(job_ids):
            failed = jobs[len(job_ids)] if len(job_ids) < len(jobs) else jobs[-1]
            raise SchedulerError(
                f"{type(self).__name__} could not submit job {failed.job_hash}: "
                f"{(result.stderr or result.stdout).strip() or 'no job id returned'}"
                + (f" ({len(job_ids)} job(s) before it were submitted)" if job_ids else ""),
                submitted=job_ids[: len(jobs) - 1],
            )
        return job_ids

    def adopt_submitted(self, jobs: list[Job]) -> dict[str, str]:
        """Job ids recorded remotely for ``jobs`` (job hash -> id), read in one command."""
        if not jobs:
            return {}
        reads = [
            f'[ ! -s {shlex.quote(job.job_id_file)} ] || printf "%s %s\\n" {job.job_hash} "$(cat {shlex.quote(job.job_id_file)})"'
            for job in jobs
        ]
        result = self.context.run("; ".join(reads) + "; true")
        found = {}
        for line in result.stdout.splitlines():
            job_hash, _, job_id = line.partition(" ")
            if job_id.strip():
                found[job_hash] = job_id.strip()
        return found

    # -- status ----------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        """The states of ``jobs``, in order. Backends answer with one scheduler query."""
        return [self.check_status(job) for job in jobs]

    def check_status(self, job: Job) -> JobStatus:
        raise NotImplementedError(f"{type(self).__name__} implements neither check_statuses nor check_status")

    def finished_by_tag(self, jobs: list[Job]) -> set[str]:
        """Hashes of ``jobs`` whose finished tag exists (one existence query for all)."""
        present = self.context.files_exist([job.finish_tag for job in jobs])
        return {job.job_hash for job in jobs if job.finish_tag in present}

    def settle_gone(self, jobs: list[Job]) -> dict[str, JobStatus]:
        """States of jobs the scheduler no longer knows: finished if tagged, else terminated."""
        finished = self.finished_by_tag(jobs) if jobs else set()
        return {job.job_hash: JobStatus.finished if job.job_hash in finished else JobStatus.terminated for job in jobs}

    def finished_tasks(self, tasks: list[Task]) -> list[Task]:
        """Those of ``tasks`` whose finished tag exists (one existence query for all)."""
        present = self.context.files_exist([task.finish_tag for task in tasks]) if tasks else set()
        return [task for task in tasks if task.finish_tag in present]

    def check_finish_tag(self, job: Job) -> bool:
        return self.context.check_file_exists(job.finish_tag)

    def check_if_recover(self, submission: Any) -> bool:
        return self.context.check_file_exists(f"{submission.submission_hash}.json")

    def kill(self, job: Job) -> None:
        raise NotImplementedError

    def kill_jobs(self, jobs: list[Job]) -> None:
        """Kill several jobs. Backends may override to do it in one scheduler call."""
        for job in jobs:
            self.kill(job)

    def wait(self, jobs: list[Job], timeout: float) -> None:
        """Block up to ``timeout`` seconds between polls; backends may return early when a job ends."""
        import time

        time.sleep(timeout)

    def describe_failure(self, job: Job) -> str:
        """Extra words on why a job failed (e.g. 'timed out'); empty when unknown."""
        return ""


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".", "./") else directory.rstrip("/") + "/" + name
