"""The body of ``POST /brm/v2/job/add``: the user's ``input_data`` plus what dpdispatcher adds, in camelCase.

As dpdispatcher 1.1.0 builds it: ``jobType``, ``ossPath`` and ``jobResources`` (the archive URLs),
``projectId``, ``jobGroupId``, ``cmd`` (from ``command``), ``outFiles`` (from ``backward_files``),
``scassType`` (``machine_type`` is its old name), ``logFiles`` (from ``log_file``), and
``checkpointFiles: ["*"]`` for ``checkpoint_files: "sync_files"``; every other key of
``input_data`` is passed on under its camelCase name.
"""

from __future__ import annotations

import re
from typing import Any

#: keys that are translated rather than passed on
TRANSLATED = frozenset({"command", "backward_files", "machine_type", "log_file", "log_files", "job_type", "grouped"})


def camel(name: str) -> str:
    """``job_name`` -> ``jobName`` (a name already in camelCase is kept)."""
    return re.sub(r"_+([a-zA-Z0-9])", lambda m: m.group(1).upper(), name)


def job_payload(
    job_type: str, oss_urls: list[str], input_data: dict[str, Any], program_id: int | None, group_id: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {camel(k): v for k, v in input_data.items() if k not in TRANSLATED and v is not None}
    body["jobType"] = job_type
    body["ossPath"] = list(oss_urls)
    body["jobResources"] = list(oss_urls)
    if program_id is not None:
        body["projectId"] = program_id
    if group_id is not None:
        body["jobGroupId"] = group_id
    if input_data.get("command"):
        body["cmd"] = input_data["command"]
    if input_data.get("backward_files"):
        body["outFiles"] = list(input_data["backward_files"])
    scass = input_data.get("scass_type") or input_data.get("machine_type")
    if scass:
        body["scassType"] = scass
    log = input_data.get("log_files") or input_data.get("log_file")
    if log:
        body["logFiles"] = [log] if isinstance(log, str) else list(log)
    if body.get("checkpointFiles") == "sync_files":
        body["checkpointFiles"] = ["*"]
    return body
