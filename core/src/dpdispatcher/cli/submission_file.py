"""The arguments of the submission file that ``dpdisp submit`` runs, for ``dpdisp doc submission``.

Machine, resources and tasks have their own references (``dpdisp doc machine`` …); this one
says what the file around them holds.
"""

from __future__ import annotations

from dargs import Argument


def submission_args() -> Argument:
    """The top level of a submission file (JSON or YAML)."""
    fields = [
        Argument(
            "work_base",
            str,
            doc="The directory holding the task directories, relative to machine/local_root. "
            "task_work_path and the file lists are relative to it and may not leave it.",
        ),
        Argument(
            "machine",
            dict,
            doc="Where and how the jobs run: batch_type, context_type, local_root, remote_root and what the "
            "plugins add (see `dpdisp doc machine`). A relative local_root is relative to the submission file.",
        ),
        Argument(
            "resources",
            dict,
            doc="What each job asks the scheduler for: nodes, CPUs, GPUs, queue, group_size, ... "
            "(see `dpdisp doc resources`).",
        ),
        Argument(
            "task_list",
            list,
            doc="The tasks, each an object with command, task_work_path, forward_files, backward_files, ... "
            "(see `dpdisp doc task`).",
        ),
        Argument(
            "forward_common_files",
            list,
            optional=True,
            default=[],
            doc="Files (relative to work_base, globs allowed) uploaded once into the job root, beside the task "
            "directories.",
        ),
        Argument(
            "backward_common_files",
            list,
            optional=True,
            default=[],
            doc="Files (relative to the job root) downloaded into work_base once every task has finished.",
        ),
        Argument(
            "continue_on_failure",
            bool,
            optional=True,
            default=False,
            doc="When a job exhausts its retries, keep running and downloading the others and report the "
            "failures at the end (default: stop at the first such job; the others run on and a new run "
            "picks them up).",
        ),
        Argument(
            "previous_submission_hash",
            [str, type(None)],
            optional=True,
            default=None,
            doc="The hash of an earlier submission of the same tasks (with other resources, say): its job "
            "root is taken over, so the tasks it finished are not run again.",
        ),
    ]
    return Argument("submission", dict, fields, doc="The file `dpdisp submit FILE` runs.")
