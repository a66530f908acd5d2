"""What ``yarn application`` prints, and what its states mean for a job.

``yarn application -list -appStates ALL`` prints a header (``Total number of applications
(application-types: [], states: [...] and tags: []):N``), a column line, then one row per
application, its fields padded and separated by tabs::

    Application-Id  Application-Name  Application-Type  User  Queue  State  Final-State  Progress  Tracking-URL

An application moves through NEW, NEW_SAVING, SUBMITTED, ACCEPTED and RUNNING, and ends FINISHED
(its final status SUCCEEDED, FAILED or KILLED, as the application master said), FAILED or KILLED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dpdispatcher.JobStatus import JobStatus

#: what an application id looks like (bash ERE, as Machine.job_id_pattern is checked)
APPLICATION_ID = "application_[0-9]+_[0-9]+"

#: states of an application that has not ended
ACTIVE_STATES = {
    "NEW": JobStatus.waiting,
    "NEW_SAVING": JobStatus.waiting,
    "SUBMITTED": JobStatus.waiting,
    "ACCEPTED": JobStatus.waiting,
    "RUNNING": JobStatus.running,
}
#: states of an ended application: the tags the job left decide whether it finished
ENDED_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})


@dataclass(frozen=True)
class Application:
    app_id: str
    name: str
    state: str
    final_status: str


def parse_list(text: str) -> dict[str, Application]:
    """The applications of a ``yarn application -list`` table, by id (header lines skipped)."""
    apps = {}
    for line in text.splitlines():
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) < 9 or not re.fullmatch(APPLICATION_ID, fields[0]):
            continue
        # counted from the end: a name with a tab in it must not shift the state
        state, final_status = fields[-4], fields[-3]
        apps[fields[0]] = Application(fields[0], fields[1], state, final_status)
    return apps


def describe(app: Application | None, app_id: str) -> str:
    """Why a job's application ended, in words."""
    if app is None:
        return f"YARN application {app_id} is no longer known to the ResourceManager (lost, or aged out of its list)"
    if app.state == "FINISHED" and app.final_status == "SUCCEEDED":
        return f"YARN application {app_id} finished without the job's finished tag (its results could not be put back)"
    if app.state == "KILLED" or app.final_status == "KILLED":
        return f"YARN application {app_id} was killed"
    return f"YARN application {app_id} ended {app.state} with final status {app.final_status} (a task failed)"
