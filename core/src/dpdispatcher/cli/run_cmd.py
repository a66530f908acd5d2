"""``dpdisp run SCRIPT.py``: run a Python script on every task directory its PEP 723 metadata names."""

from __future__ import annotations

import argparse
from typing import Any

from dpdispatcher.script_run import load_script_submission


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a Python script whose PEP 723 metadata (`# /// script`) holds a [tool.dpdispatcher] table",
        description="Stage SCRIPT into the job root and run it from every task directory its "
        "[tool.dpdispatcher] table names (machine, resources, task_list; task_work_path may be a glob).",
    )
    parser.add_argument("script", help="Python script with a `# /// script` block holding [tool.dpdispatcher]")
    parser.add_argument(
        "--allow-ref",
        action="store_true",
        help="load the files its `$ref` entries name (off by default: a config could pull in any file)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    submission = load_script_submission(args.script, allow_ref=args.allow_ref)
    submission.run_submission()
    print(
        f"submission {submission.submission_hash} succeeded: {args.script} ran in "
        f"{len(submission.belonging_tasks)} task director{'y' if len(submission.belonging_tasks) == 1 else 'ies'}"
    )
    return 0
