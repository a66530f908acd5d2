"""Shell: each job script runs with bash in the background, in its own process group."""

from __future__ import annotations

import os
import shlex
import time

from dpdispatcher.commands import chunked_command
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine

#: how often :meth:`Shell.wait` looks at local processes
LOCAL_WATCH_INTERVAL = 0.02
#: where this machine's processes are described (Linux); without it, status is asked with ``ps``
PROC = "/proc"


class Shell(Machine):
    """Runs job scripts with ``bash`` where the context runs commands (this machine or over SSH)."""

    #: a job id is the process id of the job's bash
    job_id_pattern = r"[0-9]+"

    def gen_script_header(self, job: Job) -> str:
        return self.shebang

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """All jobs start in one script (one process spawn or SSH round trip, not one per job)."""
        return self.submit_and_record_many(jobs, [self._launch(job) for job in jobs], sets_id=True)

    @staticmethod
    def _launch(job: Job) -> str:
        """Start the job in its own process group, so that kill_jobs() stops every task it started.

        Where the submit script has a controlling terminal the job also gets its own session
        (``setsid``), so that neither the terminal's signals nor its hangup reach it and a task
        cannot stop on reading it. Without one (over SSH; on this machine, where commands run in a
        session of their own) nothing can reach the job that way, and bash's job control gives the
        process group for free: ``setsid`` costs an extra program per job (about a millisecond of CPU,
        a second for 1000 jobs).
        """
        run = f"bash {shlex.quote(job.script_file_name)} >{shlex.quote(job_output(job))} 2>&1 </dev/null"
        return (
            f"if {{ : </dev/tty; }} 2>/dev/null; then setsid {run} & dpd_id=$!; "
            f"else set -m; {run} & dpd_id=$!; set +m; fi"
        )

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        """The jobs' processes, read from /proc on this machine or with one script of ``ps`` calls (as few as
        the command budget allows) elsewhere; jobs whose process is gone are settled from their finished tags."""
        pids = [job.job_id for job in jobs if job.job_id.isdigit()]
        alive = _proc_command_lines(pids) if self.context.is_local and os.path.isdir(PROC) else self._ps(pids)
        running = {job.job_hash for job in jobs if job.script_file_name in alive.get(job.job_id, "")}
        gone = self.settle_gone([job for job in jobs if job.job_hash not in running])
        return [JobStatus.running if job.job_hash in running else gone[job.job_hash] for job in jobs]

    def _ps(self, pids: list[str]) -> dict[str, str]:
        """Command lines of the live (not zombie) processes among ``pids``, asked with ``ps`` where jobs run."""
        alive: dict[str, str] = {}
        if pids:
            result = self.context.run_script(chunked_command(["ps", "-o", "pid=,stat=,args=", "-p"], pids, joiner=","))
            for line in result.stdout.splitlines():
                fields = line.split(None, 2)
                if len(fields) == 3 and not fields[1].startswith("Z"):
                    alive[fields[0]] = fields[2]
        return alive

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One script signals every job's process group."""
        steps = [
            f"{{ kill -TERM -- -{job.job_id} || kill -TERM {job.job_id}; }} 2>/dev/null"
            for job in jobs
            if job.job_id.isdigit()
        ]
        if steps:
            self.context.run_script([*steps, "true"])

    def output_files(self, job: Job) -> list[str]:
        return [job_output(job)]

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


def job_output(job: Job) -> str:
    """Where a job script's own stdout and stderr go (the tasks write to their outlog/errlog)."""
    return f"{job.job_hash}.out"


def _process_alive(pid: str) -> bool:
    """Alive and not a zombie (PID 1 may reap late, so /proc is read rather than kill -0)."""
    try:
        with open(f"{PROC}/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _proc_command_lines(pids: list[str]) -> dict[str, str]:
    """As :meth:`Shell._ps`, read from /proc without starting a process (each poll on this machine).

    One read per process: a zombie's (or an exiting process's) command line reads empty."""
    alive = {}
    for pid in pids:
        try:
            with open(f"{PROC}/{pid}/cmdline", "rb") as f:
                args = f.read()
        except OSError:
            continue
        if args:
            alive[pid] = args.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    return alive
