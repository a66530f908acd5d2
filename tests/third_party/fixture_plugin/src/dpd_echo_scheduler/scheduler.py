"""EchoScheduler: a tiny "scheduler" that runs each job script with bash in the background.

Its job ids are ``echo-<pid>``. When a script ends, the wrapper writes the
script's exit code to ``<job_hash>.echo_exit`` in the job root; a status query
reads the exit files and probes the processes of *all* jobs in one command.
"""

from __future__ import annotations

import shlex

from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine

ID_PREFIX = "echo-"


def exit_file(job: Job) -> str:
    return f"{job.job_hash}.echo_exit"


class EchoScheduler(Machine):
    """Runs job scripts as background bash processes and tracks them through exit files."""

    def gen_script_header(self, job: Job) -> str:
        return f"{self.shebang}\n# EchoScheduler job {job.job_hash}"

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        # submit_and_record_many stores each id in the job root in the same script, so a
        # driver killed right after this call adopts the jobs instead of resubmitting them
        return self.submit_and_record_many(jobs, [self._launch(job) for job in jobs])

    @staticmethod
    def _launch(job: Job) -> str:
        script = shlex.quote(job.script_file_name)
        out = shlex.quote(f"{job.job_hash}.out")
        status = shlex.quote(exit_file(job))
        wrapper = shlex.quote(f"rm -f {status}; bash {script} >{out} 2>&1; echo $? > {status}")
        return f"setsid nohup bash -c {wrapper} >/dev/null 2>&1 </dev/null & echo {ID_PREFIX}$!"

    def output_files(self, job: Job) -> list[str]:
        """The job script's own stdout and stderr."""
        return [f"{job.job_hash}.out"]

    def generated_files(self, job: Job) -> list[str]:
        """Besides the script, tags, id file and output: the exit-code file the wrapper writes."""
        return [*super().generated_files(job), exit_file(job)]

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        """One command for all jobs: exit code if the job ended, else whether its process lives."""
        lines = []
        for job in jobs:
            pid = job.job_id[len(ID_PREFIX) :] if job.job_id.startswith(ID_PREFIX) else ""
            status = shlex.quote(exit_file(job))
            probe = f"kill -0 {pid} 2>/dev/null" if pid.isdigit() else "false"
            lines.append(
                f"if [ -f {status} ]; then echo {job.job_hash} exit $(cat {status});"
                f" elif {probe}; then echo {job.job_hash} running; else echo {job.job_hash} gone; fi"
            )
        result = self.context.run_script(lines) if lines else None
        answers = {}
        for line in result.stdout.splitlines() if result else []:
            fields = line.split()
            if len(fields) >= 2:
                answers[fields[0]] = fields[1:]
        gone = [job for job in jobs if answers.get(job.job_hash, ["unknown"])[0] in ("exit", "gone")]
        settled = self.settle_gone(gone)  # finished if the job's finished tag exists, else terminated
        states = []
        for job in jobs:
            answer = answers.get(job.job_hash, ["unknown"])
            if answer[0] == "running":
                states.append(JobStatus.running)
            elif answer[0] == "unknown":
                states.append(JobStatus.unknown)  # the query did not answer: ask again at the next poll
            else:
                states.append(settled[job.job_hash])
        return states

    def kill_jobs(self, jobs: list[Job]) -> None:
        pids = [job.job_id[len(ID_PREFIX) :] for job in jobs]
        steps = [f"kill -TERM -- -{pid} 2>/dev/null || kill -TERM {pid} 2>/dev/null" for pid in pids if pid.isdigit()]
        if steps:
            self.context.run_script([*steps, "true"])
