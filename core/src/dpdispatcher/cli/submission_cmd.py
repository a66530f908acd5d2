"""``dpdisp submission HASH``: inspect and tend a stopped run from its record."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from dpdispatcher.errors import ConfigError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.records import atomic_write_text, load_config_file, record_path
from dpdispatcher.submission import Submission
from dpdispatcher.submission_record import describe_finished, is_finished, parse_record, read_record


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("submission", help="inspect a submission from its record")
    parser.add_argument("hash", help="submission hash (printed by submit, named in errors)")
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
    print(f"submission {args.hash}: work base {context.local_root}, job root {context.remote_root}")
    for job in submission.belonging_jobs:
        state = JobStatus(job.job_state).name
        print(
            f"  job {job.job_hash[:12]}  id {job.job_id or '-':>10}  {state:<11}  fails {job.fail_count}  tasks {len(job.job_task_list)}"
        )
    return 0
