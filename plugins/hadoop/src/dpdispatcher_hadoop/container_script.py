"""The parts of a DistributedShell job script that move its files: in from HDFS, back to HDFS.

A YARN container runs the script in a fresh local directory, which becomes the job's
``REMOTE_ROOT``. Before the tasks, the script fetches the submission's input archive and, for a
retried job, the result archive of its previous attempt (so finished tasks keep their tags and
are skipped), checking every member name before extracting. When the script exits, whatever
the reason, a trap puts back, in this order: the job's result archive (its task directories
and tags), the tasks' tags and fail files, the job's output, and last the job's finished tag,
only when everything before it arrived. A driver that sees the finished tag finds the results.

Every line is one step; the lists of task directories and tags are here-documents, one name a
line, so that no line grows with the number of tasks.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import TYPE_CHECKING

from dpdispatcher_hadoop.hdfs_context import result_archive_name

if TYPE_CHECKING:
    from dpdispatcher.job import Job

FUNCTIONS = """\
dpd_existing() {
  # the names read on stdin that exist here, one a line
  while IFS= read -r dpd_m; do [ ! -e "$dpd_m" ] || printf '%s\\n' "$dpd_m"; done
}
dpd_unsafe_members() {
  # $1: an archive; prints its members whose names leave this directory
  tar -tzf "$1" | while IFS= read -r dpd_m; do case "/$dpd_m/" in //*|*/../*) printf '%s\\n' "$dpd_m";; esac; done
}
dpd_fetch() {
  # $1: an archive in the job root on HDFS: fetch it, check its members, extract it here
  hadoop fs -get -f "$DPD_HDFS_ROOT/$1" "$1" || return 1
  dpd_bad=$(dpd_unsafe_members "$1")
  if [ -n "$dpd_bad" ]; then echo "refused $1, members leave the job directory: $dpd_bad" >&2; return 1; fi
  tar -xzf "$1" && rm -f "$1"
}
dpd_put_back() {
  dpd_rc=$?
  cd "$REMOTE_ROOT" || exit 1
  if [ "$dpd_staged" -eq 1 ]; then
    { dpd_task_dirs; dpd_tags; } | dpd_existing > .dpd_members
    tar -czf {result} -T .dpd_members && hadoop fs -put -f {result} "$DPD_HDFS_ROOT/{result}" || dpd_rc=1
  fi
  # the tasks' tags and fail files and the job's output: one put (split by xargs only when very many)
  { if [ "$dpd_staged" -eq 1 ]; then dpd_tags | dpd_existing; fi; echo {output}; } > .dpd_tags
  xargs -d '\n' sh -c 'hadoop fs -put -f "$@" "$0"' "$DPD_HDFS_ROOT/" < .dpd_tags || dpd_rc=1
  if [ "$dpd_rc" -eq 0 ] && [ -e {job_tag} ]; then
    hadoop fs -put -f {job_tag} "$DPD_HDFS_ROOT/{job_tag}" || dpd_rc=1
  fi
  exit "$dpd_rc"
}
dpd_staged=0
trap dpd_put_back EXIT
dpd_fetch {upload} || { echo "could not fetch the inputs {upload} from $DPD_HDFS_ROOT" >&2; exit 1; }
# a retried job starts from its previous attempt's results (its finished tasks keep their tags)
if ! dpd_fetch {result} 2>.dpd_fetch_err && ! grep -q 'No such file or directory' .dpd_fetch_err; then
  cat .dpd_fetch_err >&2; echo "could not fetch {result}, the results of the job's previous attempt" >&2; exit 1
fi
dpd_staged=1
"""


def output_file(job: Job) -> str:
    """Where the job script's stdout and stderr go (in the container, then in the job root)."""
    return f"{job.job_hash}.out"


def root_lines(job: Job, hdfs_root: str) -> list[str]:
    """The first lines of the environment: the container's directory is the job root; output to the job's file."""
    return [
        'REMOTE_ROOT="$PWD"',
        f'exec >>"$REMOTE_ROOT"/{shlex.quote(output_file(job))} 2>&1',
        f"DPD_HDFS_ROOT={shlex.quote(hdfs_root)}",
    ]


def staging(job: Job, upload_archive: str) -> str:
    """The functions that list the job's names, fetch its inputs and put its results back (see the module doc)."""
    end = f"DPD_END_{job.job_hash}"
    dirs = sorted({posixpath.normpath(task.task_work_path) for task in job.job_task_list})
    tags = [name for task in job.job_task_list for name in (task.finish_tag, task.fail_file)]
    listing = [
        "dpd_task_dirs() {",
        f"  cat <<'{end}'",
        *dirs,
        end,
        "}",
        "dpd_tags() {",
        f"  cat <<'{end}'",
        *tags,
        end,
        "}",
    ]
    body = (
        FUNCTIONS.replace("{result}", shlex.quote(result_archive_name(job.job_hash)))
        .replace("{output}", shlex.quote(output_file(job)))
        .replace("{job_tag}", shlex.quote(job.finish_tag))
        .replace("{upload}", shlex.quote(upload_archive))
    )
    return "\n".join(listing) + "\n" + body
