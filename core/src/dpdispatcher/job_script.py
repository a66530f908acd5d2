"""The pieces of a job script, shared by every backend (array backends included).

The job script contract:

* each task runs in its own directory, in the background, ``para_deg`` at a time;
* a task that exits 0 leaves its finished tag (:attr:`Task.finish_tag`) in the job
  root, so a resubmitted job skips it; a failing one leaves its fail file
  (:attr:`Task.fail_file`) with its exit code and the tail of its errlog;
* the job leaves its finished tag (:attr:`Job.finish_tag`) only if every task succeeded;
* the script exits non-zero when a task it ran failed.

A plain job is ``env + task_blocks(all) + wait_and_check(all) + finish(job)``.
An array backend runs a subset per element: each element branch is
``task_blocks(subset) + wait_and_check(subset)``, and after the branches
``finish(job, check_all=True)`` leaves the job tag once every task of the job
is done. Every line is one step: no line grows with the number of tasks.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dpdispatcher.errors import ConfigError

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.resources import Resources
    from dpdispatcher.task import Task

FUNCTIONS = """\
dpd_task_done() {
  # $1: exit code, $2: finished tag, $3: fail file, $4: errlog relative to the job root (may be empty)
  # builtins only ( : > instead of touch): this runs once per task
  if [ "$1" -eq 0 ]; then
    [ ! -e "$REMOTE_ROOT/$3" ] || rm -f "$REMOTE_ROOT/$3"
    : > "$REMOTE_ROOT/$2"
  else
    { echo "exit code $1"; if [ -n "$4" ] && [ -f "$REMOTE_ROOT/$4" ]; then tail -c 4000 "$REMOTE_ROOT/$4"; fi; } \\
      > "$REMOTE_ROOT/$3"
  fi
}
"""

THROTTLE = """\
dpd_running=0
dpd_throttle() {{
  # keep at most {para_deg} tasks running at once (a counter: no subshell per task)
  if [ "$dpd_running" -ge {para_deg} ]; then wait -n; dpd_running=$((dpd_running - 1)); fi
  dpd_running=$((dpd_running + 1))
}}
"""

TASK = """\
# task {index}: {task_work_path}
{throttle}if [ ! -f {finish_tag} ]; then
  ( cd {task_dir} && {{ {cuda}{command}
  }}{redirects} )
  dpd_task_done $? {finish_tag} {fail_file} {errlog_rel}
fi{background}
{wait_time}"""


def header_line(prefix: str, value: object) -> str:
    """One scheduler directive (``#SBATCH --partition normal``): a config value cannot add a line."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ConfigError(f"a script header value may not contain a line break: {text!r}")
    return f"{prefix} {text}" if prefix else text


def functions(resources: Resources) -> str:
    """The shell functions the task blocks call."""
    text = FUNCTIONS
    if resources.para_deg > 1:
        text += THROTTLE.format(para_deg=resources.para_deg)
    return text


def task_blocks(resources: Resources, tasks: Sequence[Task]) -> str:
    """One block per task: run it in its directory unless it already finished, then report."""
    parallel = resources.para_deg > 1
    blocks = []
    for index, task in enumerate(tasks):
        task_dir = task.task_work_path
        blocks.append(
            TASK.format(
                index=index,
                task_work_path=task_dir.replace("\n", " "),
                throttle="dpd_throttle\n" if parallel else "",
                finish_tag=task.finish_tag,  # a hash and a suffix: nothing to quote
                fail_file=task.fail_file,
                task_dir=shlex.quote(task_dir),
                cuda=cuda_devices(resources, index),
                command=task.command,
                redirects=_redirects(task),
                errlog_rel=shlex.quote(_join(task_dir, task.errlog)) if task.errlog else "''",
                background=" &" if parallel else "",
                wait_time=f"sleep {resources.wait_time}\n" if resources.wait_time else "",
            )
        )
    return "\n".join(blocks)


def cuda_devices(resources: Resources, index: int) -> str:
    """``export CUDA_VISIBLE_DEVICES=…;`` for the ``index``-th task when tasks share a node's GPUs."""
    if not resources.if_cuda_multi_devices:
        return ""
    return f"export CUDA_VISIBLE_DEVICES={index % resources.gpu_per_node}; "


def wait_and_check(tasks: Sequence[Task]) -> str:
    """Wait for the tasks started above; ``dpd_failed=1`` unless each of ``tasks`` left its finished tag."""
    lines = ["wait", 'cd "$REMOTE_ROOT" || exit 1', "dpd_failed=0"]
    lines += [f"[ -f {task.finish_tag} ] || dpd_failed=1" for task in tasks]
    return "\n".join(lines) + "\n"


def finish(job: Job, check_all: bool = False) -> str:
    """Run the resources' append_script, leave the job's finished tag, exit with ``dpd_failed``.

    The tag is the last act: the driver takes a tagged job as finished without asking the
    scheduler, so everything the job writes must be written before it.

    Without ``check_all`` the tag follows ``dpd_failed`` (every task of the job ran
    here); with it, the tag needs the finished tag of every task of the job (an array
    element ran only some of them).
    """
    tag = shlex.quote(job.finish_tag)
    lines = list(job.resources.append_script)
    if check_all:
        lines.append('cd "$REMOTE_ROOT" || exit 1')
        lines.append("dpd_all=1")
        lines += [f"[ -f {task.finish_tag} ] || dpd_all=0" for task in job.job_task_list]
        lines.append(f'if [ "$dpd_all" -eq 1 ]; then : > {tag}; fi')
    else:
        lines += ['cd "$REMOTE_ROOT" || exit 1', f'if [ "$dpd_failed" -eq 0 ]; then : > {tag}; fi']
    lines.append('exit "$dpd_failed"')
    return "\n".join(lines) + "\n"


def read_header_template(path: str, resources: Resources) -> str:
    """The text of strategy.customized_script_header_template_file, formatted with the resources."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as err:
        raise ConfigError(
            f"resources/strategy/customized_script_header_template_file: cannot read {path}: {err.strerror}"
        ) from None
    try:
        return text.format(**resources.serialize())
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"header template {path}: cannot fill {err} from the resources") from None


def _redirects(task: Task) -> str:
    """Append stdout/stderr to the task's outlog/errlog; an unset one stays the job's own, as published."""
    text = f" 1>>{shlex.quote(task.outlog)}" if task.outlog else ""
    return text + (f" 2>>{shlex.quote(task.errlog)}" if task.errlog else "")


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".", "./") else directory.rstrip("/") + "/" + name
