"""``dpdisp submission HASH``: inspect and tend a stopped run from its record."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dpdispatcher.errors import ConfigError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.records import load_config_file, record_path
from dpdispatcher.submission import Submission


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("submission", help="inspect a submission from its record")
    parser.add_argument("hash", help="submission hash (printed by submit, named in errors)")
    parser.add_argument("--machine", help="machine JSON/YAML to reconnect with (records hold no secrets)")
    parser.add_argument("--download-finished", action="store_true", help="download the results of finished tasks")
    parser.add_argument("--reset-fail-count", action="store_true", help="let failed jobs be retried on the next run")
    parser.add_argument("--clean", action="store_true", help="remove the remote job directory and the record")
    parser.set_defaults(run=run)


def load_recorded(submission_hash: str, machine_file: str | None) -> Submission:
    path = record_path(submission_hash)
    if not path.exists():
        raise ConfigError(f"no record of submission {submission_hash} (looked in {path})")
    data = json.loads(path.read_text())
    machine = Machine.load_from_dict(load_config_file(machine_file)) if machine_file else None
    return Submission.deserialize(data, machine=machine)


def run(args: argparse.Namespace) -> int:
    submission = load_recorded(args.hash, args.machine)
    context = submission.machine.context
    if args.reset_fail_count:
        for job in submission.belonging_jobs:
            job.fail_count = 0
        submission.submission_to_json()
        print("fail counts reset; run the submission again to retry the failed jobs")
    if args.download_finished:
        tasks = [t for job in submission.belonging_jobs for t in job.job_task_list]
        finished = submission.machine.finished_tasks(tasks)
        patterns = submission.backward_file_list(finished)
        missing = context.download_files(patterns)
        print(f"downloaded the results of {len(finished)} finished task(s); {len(missing)} pattern(s) matched nothing")
    if args.clean:
        submission.clean_jobs()
        print(f"removed {context.remote_root} and the record")
        return 0
    print(f"submission {args.hash}: work base {context.local_root}, job root {context.remote_root}")
    for job in submission.belonging_jobs:
        state = JobStatus(job.job_state).name
        print(
            f"  job {job.job_hash[:12]}  id {job.job_id or '-':>10}  {state:<11}  fails {job.fail_count}  tasks {len(job.job_task_list)}"
        )
    return 0
