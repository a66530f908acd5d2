"""``dpdisp submit FILE``: run a submission described in one JSON/YAML file."""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from dpdispatcher.arginfo import STRICT_ENV, strict_mode
from dpdispatcher.errors import ConfigError, DispatcherError
from dpdispatcher.machine import Machine
from dpdispatcher.plugins import get_registry
from dpdispatcher.refs import load_config_with_refs
from dpdispatcher.resources import Resources
from dpdispatcher.submission import Submission
from dpdispatcher.task import Task

logger = logging.getLogger(__name__)

SUBMISSION_KEYS = {
    "work_base",
    "machine",
    "resources",
    "task_list",
    "forward_common_files",
    "backward_common_files",
    "continue_on_failure",
    "previous_submission_hash",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("submit", help="run a submission from a JSON or YAML file")
    parser.add_argument("file", help="submission file with work_base, machine, resources and task_list")
    parser.add_argument("--dry-run", action="store_true", help="upload and write the job scripts, submit nothing")
    parser.add_argument("--exit-on-submit", action="store_true", help="return once every job is submitted")
    parser.add_argument("--check-interval", type=float, default=30, help="longest wait between status polls (s)")
    parser.add_argument("--no-clean", action="store_true", help="keep the remote job directory afterwards")
    parser.add_argument(
        "--continue-on-failure",
        action="store_true",
        help="when a job exhausts its retries, keep running and downloading the others; report at the end",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as one JSON line")
    parser.add_argument(
        "--allow-ref",
        action="store_true",
        help="load the files that `$ref` entries name (off by default: a config could pull in any file)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="a key no argument knows is an error (default: a warning, ignored)"
    )
    parser.set_defaults(run=run)


def _roots_relative_to(base_dir: str, machine: Any) -> Any:
    """The machine config with a relative local_root, and a relative remote_root on this machine, made
    relative to the submission file (a relative SSH remote_root is the remote side's business)."""
    if not isinstance(machine, dict):
        return machine  # the loader says what is wrong
    machine = dict(machine)
    machine["local_root"] = os.path.join(base_dir, machine.get("local_root") or ".")
    remote_root = machine.get("remote_root")
    if isinstance(remote_root, str) and remote_root and not os.path.isabs(remote_root) and _local(machine):
        machine["remote_root"] = os.path.join(base_dir, remote_root)
    return machine


def _local(machine: dict[str, Any]) -> bool:
    try:
        return bool(get_registry().context_class(str(machine.get("context_type"))).is_local)
    except DispatcherError:
        return False  # an unknown context: the loader names it


def load_submission(path: str, allow_ref: bool = False) -> Submission:
    """Build a Submission from the manual's submission file; relative roots and ``$ref`` names
    (loaded only with ``allow_ref``) are relative to the file."""
    data = load_config_with_refs(path, allow_ref)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the submission must be a JSON object")
    unknown = set(data) - SUBMISSION_KEYS
    if unknown:
        message = f"{path}: unknown key(s) {sorted(unknown)}; expected {sorted(SUBMISSION_KEYS)}"
        if strict_mode():
            raise ConfigError(message)
        logger.warning("%s; ignored (set %s=1 or use --strict to make it an error)", message, STRICT_ENV)
    for key in ("work_base", "machine", "resources", "task_list"):
        if key not in data:
            raise ConfigError(f"{path}: missing key {key!r}")
    if not isinstance(data["task_list"], list):
        raise ConfigError(f"{path}: task_list must be a list")
    machine = Machine.load_from_dict(_roots_relative_to(os.path.dirname(os.path.abspath(path)), data["machine"]))
    resources = Resources.load_from_dict(data["resources"])
    tasks = [Task.load_from_dict(t) for t in data["task_list"]]
    return Submission(
        work_base=data["work_base"],
        machine=machine,
        resources=resources,
        task_list=tasks,
        forward_common_files=data.get("forward_common_files", []),
        backward_common_files=data.get("backward_common_files", []),
        continue_on_failure=bool(data.get("continue_on_failure", False)),
        previous_submission_hash=data.get("previous_submission_hash"),
    )


def run(args: argparse.Namespace) -> int:
    if not args.strict:
        return _run(args)
    previous = os.environ.get(STRICT_ENV)
    os.environ[STRICT_ENV] = "1"  # for this command only
    try:
        return _run(args)
    finally:
        if previous is None:
            del os.environ[STRICT_ENV]
        else:
            os.environ[STRICT_ENV] = previous


def _run(args: argparse.Namespace) -> int:
    submission = load_submission(args.file, allow_ref=args.allow_ref)
    result = submission.run_submission(
        dry_run=args.dry_run,
        exit_on_submit=args.exit_on_submit,
        clean=not args.no_clean,
        check_interval=args.check_interval,
        continue_on_failure=True if args.continue_on_failure else None,
    )
    states: dict[str, int] = {}
    for job_dict in result["belonging_jobs"]:
        for job in job_dict.values():
            states[_state_name(job["job_state"])] = states.get(_state_name(job["job_state"]), 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    if args.json:
        print(json.dumps({"submission_hash": submission.submission_hash, "jobs": summary}))
    elif args.dry_run:
        print(f"submission {submission.submission_hash}: dry run, job scripts written ({summary})")
    elif args.exit_on_submit:
        print(
            f"submission {submission.submission_hash} was submitted ({summary}); "
            f"see it with `dpdisp submission {submission.submission_hash}`"
        )
    else:
        print(f"submission {submission.submission_hash} succeeded ({summary})")
    return 0


def _state_name(value: int) -> str:
    from dpdispatcher.JobStatus import JobStatus

    return JobStatus(value).name
