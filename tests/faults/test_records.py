"""Records cut short (a full disk, a crash of the file system): the local record
(DPDISPATCHER_HOME/submission/<hash>.json) at 10 points, its copy in the job root at 3, both at 2.

The submission is submitted first (the driver leaves at once, the jobs run on); then the record is
cut. ``dpdisp submission HASH`` must say so in one line naming the file (exit 1, no traceback), and
running the program again must repair the state without submitting anything again (each job
started once, each task run once, every output whole).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_kit import TRUNCATIONS, Workload, damaged_record

pytestmark = pytest.mark.faults

CASES = (
    [("local", f) for f in TRUNCATIONS] + [("copy", f) for f in (0.0, 0.5, 0.9999)] + [("both", f) for f in (0.0, 0.5)]
)


@pytest.mark.parametrize(("which", "fraction"), CASES, ids=[f"{w}-{f:g}" for w, f in CASES])
def test_a_truncated_record_is_named_and_repaired_without_resubmission(
    tmp_path: Path, which: str, fraction: float
) -> None:
    problems, _ = damaged_record(Workload.with_machine(tmp_path), which, fraction)
    assert not problems, "\n".join(problems)
