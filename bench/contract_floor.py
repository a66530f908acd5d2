"""What the job-script contract costs by itself, beside the limits of scale rows 1-3 (no driver at all).

Rows 1-3 of the scale suite compare a whole run with a bare bash loop (``( cd d && cmd ) &``, 4 at a
time) and with starting one ``bash job.sh &`` per job. Each task of ours also appends to its outlog and
errlog, leaves a finished tag in the job root and is reported by the job's shell. This script times,
in the same directories and alternating, medians of ``--repeat`` runs:

* shape "rows 1-2" (``--tasks`` echo tasks, para_deg 4): the bare loop; the loop with the tasks' log/err;
  the loop with log/err and a finished tag per task; our job scripts (group_size 100, Shell +
  LazyLocalContext) started together as Shell starts them;
* shape "row 3" (``--tasks`` one-task jobs): the launch limit; our one-task job scripts started the same way.

The ratios are the floor of rows 1-3 (no upload, submit script, polling, download or clean in them)::

    python bench/run.py --suite floor                # or: python bench/contract_floor.py --repeat 7
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from scale_measure import TASK_DIR, Outcome, bash_loop, launch_all, make_task_dirs, timed_process, with_outputs
from scale_table import figure, median, ratio

ECHO = "echo {i} > out.txt"
#: what a run leaves in a task directory (the launch limit's job.sh stays)
RUN_OUTPUTS = ("out.txt", "log", "err")


def our_job_scripts(work: Path, n: int, group_size: int, para_deg: int) -> list[Path]:
    """The job scripts our Shell machine writes for ``n`` echo tasks in ``work`` (its job root: LazyLocalContext)."""
    from dpdispatcher import Machine, Resources, Submission, Task

    machine = Machine.load_from_dict(
        {"batch_type": "Shell", "context_type": "LazyLocalContext", "local_root": str(work)}
    )
    resources = Resources(group_size=group_size, para_deg=para_deg, cpu_per_node=para_deg)
    tasks = [
        Task(command=ECHO.replace("{i}", str(i)), task_work_path=TASK_DIR.replace("{i}", f"{i:06d}")) for i in range(n)
    ]
    submission = Submission(work_base=".", machine=machine, resources=resources, task_list=tasks)
    submission.generate_jobs()
    machine.context.bind_submission(submission)
    scripts = []
    for k, job in enumerate(submission.belonging_jobs):
        script = work / f"job{k:06d}.sh"
        script.write_text(machine.gen_script(job))
        scripts.append(script)
    return scripts


def start_together(work: Path, scripts: list[Path]) -> Path:
    """One script starting every job script in the background, as Shell's submit script does, then waiting."""
    launcher = work / "start-together.sh"
    launcher.write_text("".join(f"bash {s.name} >/dev/null 2>&1 </dev/null &\n" for s in scripts) + "wait\n")
    return launcher


def reset(work: Path) -> None:
    """As before any first run: no finished tag, and no task output or log (creating a file costs several
    times more than rewriting one on some disks)."""
    for path in [*work.glob("*_finished"), *(p for name in RUN_OUTPUTS for p in work.glob(f"task.*/{name}"))]:
        path.unlink()


def measure(work: Path, n: int, variants: dict[str, Path], repeat: int) -> dict[str, list[Outcome]]:
    """Each variant ``repeat`` times, in turn (the order rotates each round), each from the same start and
    checked to have written the ``n`` tasks' out.txt."""
    runs: dict[str, list[Outcome]] = {label: [] for label in variants}
    labels = list(variants)
    for round_ in range(repeat):
        for label in labels[round_ % len(labels) :] + labels[: round_ % len(labels)]:
            reset(work)
            runs[label].append(with_outputs(timed_process(["bash", str(variants[label])], work), work, n))
    return runs


def table(title: str, runs: dict[str, list[Outcome]], limit: str) -> str:
    medians = {label: median(outcomes) for label, outcomes in runs.items()}
    lines = [f"### {title}", "", "| variant | median | ratio to the first |", "| --- | --- | --- |"]
    for label, value in medians.items():
        times = ratio(value, medians[limit])
        lines.append(f"| {label} | {figure(value, 's')} | {'-' if times is None else f'{times:.2f}x'} |")
    lines.append("")
    lines.append(
        "Runs: " + "; ".join(f"{label}: " + ", ".join(figure(o, "s") for o in rs) for label, rs in runs.items())
    )
    return "\n".join(lines) + "\n"


def in_fresh_directory(make: Callable[[Path], str]) -> str:
    root = Path(tempfile.mkdtemp(prefix="dpd-floor."))
    try:
        return make(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def rows_1_2(n: int, repeat: int) -> str:
    def make(work: Path) -> str:
        make_task_dirs(work, n)
        jobs = our_job_scripts(work, n, group_size=100, para_deg=4)
        tag = f'"{work}/t{{i}}_task_tag_finished"'
        variants = {
            "bare loop `( cd d && cmd ) &`, 4 at a time": bash_loop(work, n, ECHO, 4, "bare.sh"),
            "+ the task's log/err": bash_loop(work, n, f"{{ {ECHO}; }} 1>>log 2>>err", 4, "logs.sh"),
            "+ log/err + a finished tag per task": bash_loop(
                work, n, f"{{ {ECHO}; }} 1>>log 2>>err && : > {tag}", 4, "tags.sh"
            ),
            f"our {len(jobs)} job scripts (group_size 100, para_deg 4), started together": start_together(work, jobs),
        }
        return table(f"rows 1-2 shape: {n:,} echo tasks", measure(work, n, variants, repeat), next(iter(variants)))

    return in_fresh_directory(make)


def row_3(n: int, repeat: int) -> str:
    def make(work: Path) -> str:
        make_task_dirs(work, n)
        variants = {
            "launch limit: `bash job.sh &` per job": launch_all(work, n, ECHO),
            "our one-task job scripts, started together": start_together(work, our_job_scripts(work, n, 1, 1)),
        }
        return table(f"row 3 shape: {n:,} one-task jobs", measure(work, n, variants, repeat), next(iter(variants)))

    return in_fresh_directory(make)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks (and one-task jobs) per shape (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each variant, medians shown (default 5)")
    args = parser.parse_args()
    print(rows_1_2(args.tasks, args.repeat))
    print(row_3(args.tasks, args.repeat))
    print("No driver in any of them: no upload, submit script, polling, download or clean.")


if __name__ == "__main__":
    main()
