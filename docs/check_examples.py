"""Load every example config the documentation shows, as dpdispatcher would; exit 1 if one does not load.

Run by ``tox -e docs`` (``python docs/check_examples.py``). The examples are every file under
``examples/configs/`` and every JSON/YAML file a page shows with ``literalinclude`` (such as
``examples/getting-started/submission.json``). A file's kind is the word before its extension:
``*.machine.json``, ``*.resources.json``, ``*.task.json``, ``*.submission.json`` (or
``submission.json``). A resources example names its batch type first (``slurmjobarray.resources.json``)
so that its ``kwargs`` are checked against that batch type. Unknown keys are errors here
(``DPDISPATCHER_STRICT=1``): an example must not teach a key dpdispatcher ignores. Every file under
``examples/configs/`` must be shown by some page, so none is left unchecked or unseen.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS.parent / "examples" / "configs"
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
#: ``literalinclude`` in a MyST fence (```{literalinclude} path) or an RST directive (.. literalinclude:: path)
INCLUDE = re.compile(r"(?:\{literalinclude\}|literalinclude::)\s+(\S+)")


def shown_files(pages: Iterable[Path]) -> dict[Path, Path]:
    """Every config file a page includes -> the first page that includes it."""
    shown: dict[Path, Path] = {}
    for page in pages:
        for match in INCLUDE.finditer(page.read_text(encoding="utf-8")):
            target = (page.parent / match.group(1)).resolve()
            if target.suffix in CONFIG_SUFFIXES:
                shown.setdefault(target, page)
    return shown


def kind_of(path: Path) -> str:
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 2 else ""


def check(path: Path) -> str:
    """Load ``path`` as its kind says; return what it is, raise if it does not load."""
    from dpdispatcher import Machine, Resources, Task
    from dpdispatcher.arginfo import check_kwargs
    from dpdispatcher.cli.submit_cmd import load_submission
    from dpdispatcher.plugins import get_registry
    from dpdispatcher.records import load_config_file

    kind = kind_of(path)
    data = load_config_file(str(path))
    if kind == "submission":
        load_submission(str(path))  # as `dpdisp submit` reads it
        machine_class = get_registry().machine_class(data["machine"]["batch_type"])
        check_kwargs(machine_class.__name__, machine_class.resources_subfields(), data["resources"].get("kwargs", {}))
        return f"submission for {machine_class.__name__} + {data['machine']['context_type']}"
    if kind == "machine":
        machine = Machine.load_from_dict(data)
        return f"machine {type(machine).__name__} + {type(machine.context).__name__}"
    if kind == "resources":
        resources = Resources.load_from_dict(data)
        batch_type = get_registry().machine_class(path.name.split(".")[0].split("-")[0])
        check_kwargs(batch_type.__name__, batch_type.resources_subfields(), resources.kwargs)
        return f"resources for {batch_type.__name__}"
    if kind == "task":
        Task.load_from_dict(data)
        return "task"
    raise ValueError(
        "cannot tell what it is: name it *.machine.json, *.resources.json, *.task.json or *.submission.json"
    )


def main() -> int:
    os.environ["DPDISPATCHER_STRICT"] = "1"
    os.environ["DPDISPATCHER_HOME"] = tempfile.mkdtemp(prefix="dpd-docs-home-")  # nothing reaches ~/.dpdispatcher
    pages = sorted(p for p in DOCS.rglob("*") if p.suffix in (".md", ".rst") and "_build" not in p.parts)
    shown = shown_files(pages)
    examples = {p.resolve() for p in EXAMPLES.rglob("*") if p.suffix in CONFIG_SUFFIXES}
    failures = 0
    for path in sorted(examples - set(shown)):
        print(f"FAIL {os.path.relpath(path, DOCS)}: no page shows it (literalinclude it, or remove it)")
        failures += 1
    for path in sorted(set(shown) | examples):
        where = os.path.relpath(path, DOCS)
        try:
            print(f"ok   {where}: {check(path)}")
        except Exception as err:  # any reason a user would see the example fail
            print(f"FAIL {where}: {type(err).__name__}: {err}")
            failures += 1
    if not shown:
        print("FAIL no page shows any example config")
        failures += 1
    print(f"{len(set(shown) | examples)} example configs, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
