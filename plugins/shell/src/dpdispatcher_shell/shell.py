"""Shell: each job script runs with bash in the background, in its own process group."""

from __future__ import annotations

import shlex
import time

from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine

#: how often :meth:`Shell.wait` looks at local processes
LOCAL_WATCH_INTERVAL = 0.02


class Shell(Machine):
    """Runs job scripts with ``bash`` where the context runs commands (this machine or over SSH)."""

    def do_submit(self, job: Job) -> str:
        return self.submit_and_record(job, self._launch(job))

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """All jobs start in one command (one process spawn or SSH round trip, not one per job)."""
        return self.submit_and_record_many(jobs, [self._launch(job) for job in jobs])

    @staticmethod
    def _launch(job: Job) -> str:
        script = shlex.quote(job.script_file_name)
        out = shlex.quote(f"{job.job_hash}.out")
        # setsid: the job gets its own process group, so kill() stops every task it started
        return f"setsid nohup bash {script} >{out} 2>&1 </dev/null & echo $!"

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        """One ``ps`` for all jobs; jobs whose process is gone are settled from their finished tags."""
        pids = [job.job_id for job in jobs if job.job_id.isdigit()]
        alive: dict[str, str] = {}
        if pids:
            result = self.context.run(f"ps -o pid=,stat=,args= -p {','.join(pids)}")
            for line in result.stdout.splitlines():
                fields = line.split(None, 2)
                if len(fields) == 3 and not fields[1].startswith("Z"):
                    alive[fields[0]] = fields[2]
        running = {job.job_hash for job in jobs if job.script_file_name in alive.get(job.job_id, "")}
        gone = self.settle_gone([job for job in jobs if job.job_hash not in running])
        return [JobStatus.running if job.job_hash in running else gone[job.job_hash] for job in jobs]

    def kill(self, job: Job) -> None:
        self.kill_jobs([job])

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One command signals every job's process group."""
        commands = [
            f"{{ kill -TERM -- -{job.job_id} || kill -TERM {job.job_id}; }} 2>/dev/null"
            for job in jobs
            if job.job_id.isdigit()
        ]
        if commands:
            self.context.run("; ".join(commands) + "; true")

    def wait(self, jobs: list[Job], timeout: float) -> None:
        """On this machine, return as soon as any job's process ends (no subprocess needed)."""
        if not self.context.is_local:
            return super().wait(jobs, timeout)
        deadline = time.monotonic() + timeout
        pids = [job.job_id for job in jobs if job.job_id.isdigit()]
        while time.monotonic() < deadline:
            if not all(_process_alive(pid) for pid in pids):
                return
            time.sleep(min(LOCAL_WATCH_INTERVAL, max(deadline - time.monotonic(), 0)))


def _process_alive(pid: str) -> bool:
    """Alive and not a zombie (PID 1 may reap late, so /proc is read rather than kill -0)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
