"""The pieces of a job script, shared by every backend (array backends included).

The job script contract:

* each task runs in its own directory, in the background, ``para_deg`` at a time;
* a task that exits 0 leaves its finished tag (:attr:`Task.finish_tag`) in the job
  root, so a resubmitted job skips it; a failing one leaves its fail file
  (:attr:`Task.fail_file`) with its exit code and the tail of its errlog;
* the job leaves its finished tag (:attr:`Job.finish_tag`) only if every task succeeded;
* the script exits non-zero when a task it ran failed.

Each task is a shell function, ``dpd_task`` (redefined for every task), and a call
``dpd_run <finished tag> <fail file> <errlog>``: one text of the task serves every
way of running it. Run one at a time, ``dpd_run`` runs ``( dpd_task )`` and reports
its status. Run in parallel under bash 5.1 or later, it starts ``dpd_task &`` and the
script's own shell reports each task when ``wait -n -p`` names it as ended: one
process per task, and whatever the command does to its own shell (``exit``,
``exec``, ``set -e``, ``cd``, traps) cannot keep it from being reported. An older
bash cannot name the ended job, so there each task runs in a subshell of a
background process that reports it (two processes per task). In every form a
``set -e`` the job's shell got from prepend_script applies inside each task but
does not stop the job at a failing task before it is reported.

A plain job is ``env + task_blocks(all) + wait_and_check(all) + finish(job)``, its env
ending with :func:`functions` (see :meth:`Machine.gen_script_env`).
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

SEQUENTIAL = """\
dpd_run() {
  # $1: finished tag, $2: fail file, $3: errlog relative to the job root (may be empty):
  # run dpd_task (the task defined just before) in a subshell unless it finished before, and report it
  [ ! -f "$1" ] || return 0
  local dpd_flags=$- dpd_status
  set +e  # a failing task does not stop the job (its prepend_script may set -e), yet the task keeps set -e
  ( case $dpd_flags in *e*) set -e ;; esac; dpd_task )
  dpd_status=$?
  case $dpd_flags in *e*) set -e ;; esac
  dpd_task_done "$dpd_status" "$@"
}
dpd_wait() { wait; }
"""

#: true in a bash whose ``wait -n -p`` names the job that ended (5.1 and later)
BASH_NAMES_ENDED_JOBS = '[ "$((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1]))" -ge 501 ]'

PARALLEL = """\
if BASH_NAMES_ENDED_JOBS; then
  # this shell learns which task ended and reports it: one process per task
  dpd_tag=() dpd_fail=() dpd_err=()  # dpd_run's arguments of the running tasks, by pid
  dpd_reap() {
    # wait until one running task ends and report it
    local pid='' status=0
    wait -n -p pid "${!dpd_tag[@]}" || status=$?
    if [ -z "$pid" ]; then  # no task ended
      [ "$status" -le 128 ] || return 0  # woken by a trapped signal: the caller waits again
      for pid in "${!dpd_tag[@]}"; do break; done  # none is this shell's child any more: report one
      status=0
      wait "$pid" || status=$?
    fi
    dpd_task_done "$status" "${dpd_tag[$pid]}" "${dpd_fail[$pid]}" "${dpd_err[$pid]}"
    unset "dpd_tag[$pid]" "dpd_fail[$pid]" "dpd_err[$pid]"
  }
  dpd_run() {
    # $1: finished tag, $2: fail file, $3: errlog relative to the job root (may be empty):
    # start dpd_task (the task defined just before) unless it finished before, PARA_DEG at a time
    [ ! -f "$1" ] || return 0
    while [ "${#dpd_tag[@]}" -ge PARA_DEG ]; do dpd_reap; done
    dpd_task &
    dpd_tag[$!]=$1 dpd_fail[$!]=$2 dpd_err[$!]=$3
  }
  dpd_wait() {
    while [ "${#dpd_tag[@]}" -gt 0 ]; do dpd_reap; done
    wait
  }
else
  # an older bash cannot tell which task ended: a background process per task runs it in a subshell
  # and reports it (two processes per task)
  dpd_running=0
  dpd_run() {
    [ ! -f "$1" ] || return 0
    if [ "$dpd_running" -ge PARA_DEG ]; then wait -n || :; dpd_running=$((dpd_running - 1)); fi
    dpd_running=$((dpd_running + 1))
    { dpd_flags=$-; set +e; ( case $dpd_flags in *e*) set -e ;; esac; dpd_task ); dpd_task_done $? "$@"; } &
  }
  dpd_wait() { wait; }
fi
""".replace("BASH_NAMES_ENDED_JOBS", BASH_NAMES_ENDED_JOBS)


def header_line(prefix: str, value: object) -> str:
    """One scheduler directive (``#SBATCH --partition normal``): a config value cannot add a line."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ConfigError(f"a script header value may not contain a line break: {text!r}")
    return f"{prefix} {text}" if prefix else text


def functions(resources: Resources) -> str:
    """The shell functions the task blocks call."""
    if resources.para_deg > 1:
        return FUNCTIONS + PARALLEL.replace("PARA_DEG", str(resources.para_deg))
    return FUNCTIONS + SEQUENTIAL


def task_blocks(resources: Resources, tasks: Sequence[Task]) -> str:
    """One block per task: define it as ``dpd_task``, then ``dpd_run`` it (see the module's docstring)."""
    wait_time = f"sleep {resources.wait_time}\n" if resources.wait_time else ""
    gpus = resources.gpu_per_node if resources.if_cuda_multi_devices else 0
    redirects: dict[tuple[str | None, str | None], str] = {}  # most tasks share their log names
    blocks = []
    for index, task in enumerate(tasks):
        task_dir = task.task_work_path
        logs = (task.outlog, task.errlog)
        if logs not in redirects:
            redirects[logs] = _redirects(task)
        errlog_rel = shlex.quote(_join(task_dir, task.errlog)) if task.errlog else "''"
        tag = task.finish_tag  # a hash and a suffix: nothing to quote
        blocks.append(
            f"# task {index}: {task_dir.replace(chr(10), ' ')}\n"
            f"dpd_task() {{\n"
            f"  cd {shlex.quote(task_dir)} && {{ {_cuda_devices(index, gpus)}{task.command}\n"
            f"  }}{redirects[logs]}\n"
            f"}}\n"
            f"dpd_run {tag} {task.fail_file} {errlog_rel}\n"
            f"{wait_time}"
        )
    return "\n".join(blocks)


def _cuda_devices(index: int, gpus: int) -> str:
    """``export CUDA_VISIBLE_DEVICES=…;`` for the ``index``-th task when tasks share a node's ``gpus`` (0: they do not)."""
    return f"export CUDA_VISIBLE_DEVICES={index % gpus}; " if gpus else ""


def wait_and_check(tasks: Sequence[Task]) -> str:
    """Wait for the tasks started above; ``dpd_failed=1`` unless each of ``tasks`` left its finished tag."""
    lines = ["dpd_wait", 'cd "$REMOTE_ROOT" || exit 1', "dpd_failed=0"]
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
