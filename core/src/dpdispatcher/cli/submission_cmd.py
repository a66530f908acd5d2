"""``dpdisp submission HASH``: the live state of a submission, and tending a stopped run from its record.

By default the jobs' states are asked of the scheduler (one batched query, with the machine
rebuilt from the record), so a run that returned with ``--exit-on-submit`` shows what its jobs
do now; ``--offline`` shows the states saved in the record without any plugin or connection.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from dpdispatcher.cli.record_view import RecordedJob, machine_label, recorded_jobs, states_text, when, work_base
from dpdispatcher.errors import ConfigError, DispatcherError, PluginNotFoundError
from dpdispatcher.job import ACTIVE_STATES
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.records import atomic_write_text, load_config_file, record_path
from dpdispatcher.submission import Submission
from dpdispatcher.submission_record import describe_finished, is_finished, parse_record, read_record


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "submission", help="the live state of a submission (asked of its scheduler), and tending it from its record"
    )
    parser.add_argument("hash", help="submission hash (printed by submit, named in errors, listed by `submissions`)")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="show the job states saved in the record instead of asking the scheduler (no plugin or connection needed)",
    )
    parser.add_argument("--machine", help="machine JSON/YAML to reconnect with (records hold no secrets)")
    parser.add_argument("--download-finished", action="store_true", help="download the results of finished tasks")
    parser.add_argument("--reset-fail-count", action="store_true", help="let failed jobs be retried on the next run")
    parser.add_argument("--clean", action="store_true", help="remove the remote job directory and forget the record")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="rebuild a damaged record from the job root (its copy of the record and the job id files); needs --machine",
    )
    parser.set_defaults(run=run)


def load_recorded(submission_hash: str, machine_file: str | None) -> tuple[Submission, dict[str, Any]]:
    """The submission of a (checked) record, its context bound to the job root; and the raw record."""
    path = record_path(submission_hash)
    data = read_record(path, submission_hash)
    if data is None:
        raise ConfigError(f"no record of submission {submission_hash} (looked in {path})")
    if is_finished(data):
        return Submission(work_base="."), data
    machine = Machine.load_from_dict(load_config_file(machine_file)) if machine_file else None
    submission = Submission.deserialize(data, machine=machine)
    submission._machine().context.bind(submission.work_base, submission_hash)
    return submission, data


def repair(submission_hash: str, machine_file: str | None) -> str:
    """Rebuild the local record from the job root: its copy of the record, and the ids recorded there."""
    if not machine_file:
        raise ConfigError("--repair needs --machine MACHINE.json: a damaged record cannot say where the job root is")
    machine = Machine.load_from_dict(load_config_file(machine_file))
    context = machine.context
    context.bind(".", submission_hash)
    name = f"{submission_hash}.json"
    if not context.check_file_exists(name):
        raise ConfigError(
            f"cannot repair: {context.remote_root} holds no copy of the record; run your program again "
            "(it rebuilds the state from the job root and submits nothing twice)"
        )
    where = f"{context.remote_root}/{name}"
    submission = Submission.deserialize(parse_record(context.read_file(name), where, submission_hash), machine=machine)
    context.bind(submission.work_base, submission_hash)
    for job_hash, job_id in machine.adopt_submitted(submission.belonging_jobs).items():
        job = next(j for j in submission.belonging_jobs if j.job_hash == job_hash)
        if job_id != job.job_id:
            job.register_job_id(job_id)
    path = record_path(submission_hash)
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.damaged"))
    atomic_write_text(path, json.dumps(submission.serialize()))
    return f"rebuilt the record {path} from {where} and the job ids in {context.remote_root}"


def run(args: argparse.Namespace) -> int:
    acting = [flag for flag in ("repair", "download_finished", "reset_fail_count", "clean") if getattr(args, flag)]
    if args.offline:
        if acting:
            names = ", ".join("--" + flag.replace("_", "-") for flag in acting)
            raise ConfigError(f"--offline only shows the saved state; it cannot be combined with {names}")
        return show_offline(args.hash)
    if not acting:
        return show_live(args.hash, args.machine)
    if args.repair:
        print(repair(args.hash, args.machine))
        return 0
    submission, data = load_recorded(args.hash, args.machine)
    if is_finished(data):
        if args.clean:
            record_path(args.hash).unlink()
            print(f"forgot the finished submission {args.hash}; running it again runs every task")
            return 0
        print(f"submission {args.hash}: {describe_finished(data)}")
        return 0
    machine = submission._machine()
    context = machine.context
    if args.reset_fail_count:
        for job in submission.belonging_jobs:
            job.fail_count = 0
        atomic_write_text(record_path(args.hash), json.dumps(submission.serialize()))
        print("fail counts reset; run the submission again to retry the failed jobs")
    if args.download_finished:
        tasks = [t for job in submission.belonging_jobs for t in job.job_task_list]
        finished = machine.finished_tasks(tasks)
        patterns = submission.backward_file_list(finished)
        missing = context.download_files(patterns)
        print(f"downloaded the results of {len(finished)} finished task(s); {len(missing)} pattern(s) matched nothing")
    if args.clean:
        submission.clean_jobs()
        record_path(args.hash).unlink(missing_ok=True)
        print(f"removed {context.remote_root} and the record")
    return 0


def read_existing(submission_hash: str) -> dict[str, Any]:
    """The checked record of ``submission_hash``; a ConfigError naming where it was looked for if there is none."""
    path = record_path(submission_hash)
    data = read_record(path, submission_hash)
    if data is None:
        raise ConfigError(f"no record of submission {submission_hash} (looked in {path})")
    return data


def show_offline(submission_hash: str) -> int:
    """The states saved in the record; needs neither the machine's plugin nor a connection."""
    data = read_existing(submission_hash)
    if is_finished(data):
        print(f"submission {submission_hash}: {describe_finished(data)}")
        return 0
    saved = when(record_path(submission_hash).stat().st_mtime)
    print(f"submission {submission_hash}: work base {work_base(data)}, machine {machine_label(data)}")
    jobs = recorded_jobs(data)
    print(f"saved state (record written {saved}): {states_text(job.state for job in jobs)}")
    for job in jobs:
        print(job_line(job, job.state))
    return 0


def show_live(submission_hash: str, machine_file: str | None) -> int:
    """Ask the scheduler, in one batched query, for the state of the jobs the record says are active."""
    data = read_existing(submission_hash)
    if is_finished(data):
        print(f"submission {submission_hash}: {describe_finished(data)}")
        return 0
    label = machine_label(data)
    offline = f"`dpdisp submission {submission_hash} --offline` shows the state saved in the record"
    try:
        submission, _ = load_recorded(submission_hash, machine_file)
    except PluginNotFoundError as err:
        raise ConfigError(
            f"cannot ask for the live state of submission {submission_hash}: its machine ({label}) needs a plugin "
            f"that is not installed here ({err}); {offline}"
        ) from None
    machine = submission._machine()
    asked = [job for job in submission.belonging_jobs if job.job_state in ACTIVE_STATES and job.job_id]
    try:
        live = dict(zip((job.job_hash for job in asked), machine.check_statuses(asked))) if asked else {}
    except (OSError, DispatcherError) as err:
        raise DispatcherError(
            f"cannot ask {label} for the live state of submission {submission_hash}: {err}; {offline}"
        ) from None
    finally:
        machine.context.close()
    context = machine.context
    print(f"submission {submission_hash}: work base {context.local_root}, job root {context.remote_root}")
    jobs = recorded_jobs(data)
    states = [live.get(job.job_hash, job.state) for job in jobs]
    asked_at = time.strftime("%H:%M:%S")
    print(f"live state ({type(machine).__name__} asked at {asked_at}): {states_text(states)}")
    for job, state in zip(jobs, states):
        print(job_line(job, state))
    if any(state == JobStatus.finished and job.state != JobStatus.finished for job, state in zip(jobs, states)):
        print("run the submission again (the same program, or `dpdisp submit FILE`) to bring the results back")
    return 0


def job_line(job: RecordedJob, state: JobStatus) -> str:
    """One job: its hash, scheduler id, state, fail count and tasks; the saved state when it differs."""
    line = f"  job {job.job_hash[:12]}  id {job.job_id or '-':>10}  {state.name:<11}  fails {job.fail_count}  tasks {job.n_tasks}"
    return line if state == job.state else f"{line}  (record: {job.state.name})"
