"""The one entry point of the project's benchmarks (figures, never assertions).

Usage::

    python bench/run.py --suite scale                         # issue 13's table, beside 1.1.0 (30-40 minutes)
    python bench/run.py --suite scale --rows 5,6 --repeat 1   # some rows, one run each
    python bench/run.py --suite scale --quick --no-published  # every size ten times smaller, no 1.1.0
    python bench/run.py --suite scale --published-python /work/pub110/bin/python
    python bench/run.py --suite scale --rows 3 --psij-python /path/to/venv/bin/python  # row 3 beside PSI/J too
    python bench/run.py --suite ssh                           # bench/ssh_bench.py; also local, faults, slurm,
                                                              # sge, torque (each its own script)
    python bench/run.py --suite floor                         # the job-script contract's own cost (rows 1-3)
    python bench/run.py --suite local -- --one-task-jobs 1000 # after --: the suite script's own options

Run it with the python of the project's environment (it imports dpdispatcher). ``scale`` prints a markdown
table on standard output (workload | ours | limit | ratio | target | met? | 1.1.0 | ours vs 1.1.0) and its
progress on standard error; see bench/scale.py for what each row measures. The SSH rows start a loopback
sshd with tests/services/start-sshd.sh (root needed) and are skipped, with the reason, when it cannot start.

``--published`` / ``--no-published`` runs dpdispatcher 1.1.0 or not (default: scale yes, the other suites as
their scripts do); ``--published-python`` is a python with it (default: the venv bench/bench_local.py
installs in /tmp/dpd-published on first use); ``--repeat N`` runs each figure N times (medians; scale
default 3); ``--quick`` makes every workload smaller for a fast try, and says so in the output.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "local": "bench_local.py",
    "ssh": "ssh_bench.py",
    "faults": "faults.py",
    "slurm": "slurm_bench.py",
    "sge": "sge_bench.py",
    "torque": "torque_bench.py",
    "floor": "contract_floor.py",
}
SUITES = ("scale", *SCRIPTS)
SCALE_REPEAT = 3
ROW_NUMBERS = range(1, 9)


def rows(text: str) -> list[int]:
    """``"1,3,5"`` -> ``[1, 3, 5]``; each between 1 and 8."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"rows are numbers separated by commas, e.g. 1,3,5 (got {text!r})") from None
    wrong = [n for n in numbers if n not in ROW_NUMBERS]
    if wrong or not numbers:
        raise argparse.ArgumentTypeError(f"rows are 1 to 8 (got {text!r})")
    return sorted(set(numbers))


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="The project's benchmarks, one entry point.",
        epilog="Arguments after -- go to the suite's own script (not for scale).",
    )
    p.add_argument("--suite", choices=SUITES, required=True)
    p.add_argument("--rows", type=rows, help="scale only: the rows to run, e.g. 1,3,5 (default: all)")
    p.add_argument(
        "--published",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run dpdispatcher 1.1.0 too (default: yes for scale, the script's default otherwise)",
    )
    p.add_argument("--published-python", help="a python with dpdispatcher 1.1.0, e.g. /work/pub110/bin/python")
    p.add_argument(
        "--psij-python", help="scale only: a python with psij-python, to run row 3 with PSI/J's local executor too"
    )
    p.add_argument("--repeat", type=positive, help=f"runs of each figure, medians shown (scale default {SCALE_REPEAT})")
    p.add_argument("--quick", action="store_true", help="smaller workloads for a fast try (labelled as such)")
    p.add_argument("--keep", action="store_true", help="scale only: keep the temporary directory")
    return p


def venv_of(python: str) -> str:
    """The venv of ``VENV/bin/python`` (bench_local.py and slurm_bench.py take a venv)."""
    return str(Path(python).parent.parent)


def delegated_options(args: argparse.Namespace) -> list[str]:
    """The common options in the dialect of the suite's script."""
    suite, published, python = args.suite, args.published, args.published_python
    if published is None and python:
        published = True  # naming the interpreter asks for it
    options: list[str] = []
    if suite in ("local", "slurm"):
        if published:
            options.append("--published")
            if python:
                options += ["--published-venv", venv_of(python)]
        if args.repeat:
            options += ["--repeat", str(args.repeat)]
    if suite in ("ssh", "sge", "torque"):
        if python:
            options += ["--published-python", python]
        if published is False:
            options.append("--no-published")
        if args.repeat and suite == "sge":
            options += ["--repeat", str(args.repeat)]
    if args.quick:
        options += {
            "local": ["--n", "100"],
            "ssh": ["--jobs", "10"],
            "faults": ["--points", "5", "--pairs", "2", "--truncations", "3"],
            "slurm": ["--jobs", "20"],
            "sge": ["--jobs", "10"],
            "torque": ["--jobs", "10"],
        }[suite]
    return options


def delegate(args: argparse.Namespace, extra: list[str]) -> int:
    argv = [sys.executable, str(HERE / SCRIPTS[args.suite]), *delegated_options(args), *extra]
    print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)
    return subprocess.run(argv, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args, extra = p.parse_known_args(argv)
    extra = extra[1:] if extra[:1] == ["--"] else extra
    if importlib.util.find_spec("dpdispatcher") is None:
        p.error(
            f"{sys.executable} cannot import dpdispatcher: run this with the project's python (e.g. /work/venv/bin/python)"
        )
    if args.suite != "scale":
        scale_only = (("--rows", args.rows), ("--keep", args.keep), ("--psij-python", args.psij_python))
        unsupported = [name for name, given in scale_only if given]
        if unsupported:
            p.error(f"{', '.join(unsupported)}: scale only (pass a script's own options after --)")
        return delegate(args, extra)
    if extra:
        p.error(f"unrecognized arguments for scale: {' '.join(extra)}")
    if args.published is None:
        args.published = True
    if args.repeat is None:
        args.repeat = SCALE_REPEAT
    from scale import run_scale

    return run_scale(args, shlex.join(["python", "bench/run.py", *argv]))


if __name__ == "__main__":
    sys.exit(main())
