"""Row 3 with PSI/J's local executor: N one-task jobs (``echo i > out.txt`` in its directory), submitted and waited for.

    PSIJ_PYTHON bench/psij_child.py WORK N

Run by ``bench/scale.py`` with a python that has ``psij-python`` (``--psij-python``). The task directories
(``scale_measure.task_name``) exist already (as for ours). Prints the seconds from the first submission to the last
job's end, or exits non-zero naming the jobs that did not complete.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psij  # type: ignore[import-not-found]
from scale_measure import task_name  # beside this script


def main() -> int:
    work, n = Path(sys.argv[1]), int(sys.argv[2])
    executor = psij.JobExecutor.get_instance("local")
    jobs = []
    start = time.perf_counter()
    for i in range(n):
        spec = psij.JobSpec(
            executable="/bin/bash", arguments=["-c", f"echo {i} > out.txt"], directory=work / task_name(i)
        )
        job = psij.Job(spec)
        executor.submit(job)
        jobs.append(job)
    for job in jobs:
        job.wait()
    seconds = time.perf_counter() - start
    failed = [job for job in jobs if job.status.state != psij.JobState.COMPLETED]
    if failed:
        print(f"{len(failed)} of {n} PSI/J jobs did not complete: {failed[0].status}", file=sys.stderr)
        return 1
    print(seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
