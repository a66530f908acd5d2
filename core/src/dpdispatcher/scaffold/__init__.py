"""A new plugin package that works and passes its contract tests before its author changes a line.

``dpdisp plugins new NAME --kind machine|context`` writes ``dpdispatcher-NAME/`` from the
templates beside this module: a pyproject with the entry point, the class with every method
documented (a machine starts as a small scheduler of background processes, a context as a
job root in a directory on this machine), contract tests from :mod:`dpdispatcher.testing`
and a README. The package is written in a hidden directory and renamed into place, so a
failure leaves nothing half-written.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dpdispatcher import __version__
from dpdispatcher.errors import ConfigError
from dpdispatcher.plugins import SHIPPED, context_key, get_registry, machine_key

KINDS = ("machine", "context")

#: lower-case words of letters and digits joined by - or _, starting with a letter
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PluginNames:
    """The names a plugin called ``name`` goes by."""

    name: str  # the entry point: the plugin's name in `dpdisp plugins`
    distribution: str  # what pip installs
    module: str  # what Python imports
    cls: str  # the batch type or context name users write in a machine config
    kind: str

    @classmethod
    def of(cls, name: str, kind: str) -> PluginNames:
        if kind not in KINDS:
            raise ConfigError(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(
                f"bad plugin name {name!r}: use lower-case letters and digits, words joined by - or _, "
                "starting with a letter (e.g. myqueue, my-queue)"
            )
        words = re.split(r"[-_]", name)
        camel = "".join(word.capitalize() for word in words)
        return cls(
            name=name,
            distribution="dpdispatcher-" + "-".join(words),
            module="dpd_" + "_".join(words),
            cls=camel + "Context" if kind == "context" else camel,
            kind=kind,
        )


def taken_by(names: PluginNames) -> str:
    """Who already uses the plugin's name or class name (installed or shipped with DPDispatcher); empty if free."""
    shipped_plugins = {os.path.basename(s.folder): s.distribution for s in SHIPPED}
    if names.name in shipped_plugins:
        return f"plugin name {names.name!r} is DPDispatcher's {shipped_plugins[names.name]}"
    key = context_key if names.kind == "context" else machine_key
    claims: list[tuple[str, str]] = [
        (provided, s.distribution)
        for s in SHIPPED
        for provided in (s.contexts if names.kind == "context" else s.machines)
    ]
    for plugin in get_registry().plugins:
        if plugin.name == names.name:
            return f"plugin name {names.name!r} is taken by the installed {plugin.distribution}"
        claims += [(provided, plugin.distribution) for provided in getattr(plugin, f"{names.kind}s")]
    for provided, distribution in claims:
        if key(provided) == key(names.cls):
            what = "batch type" if names.kind == "machine" else "context"
            return f"{what} {names.cls} would clash with {provided} of {distribution}"
    return ""


def core_pin() -> str:
    """``>=0.2,<0.3`` for core 0.2.x: the minor version whose contract the new plugin implements."""
    match = re.match(r"(\d+)\.(\d+)", __version__)
    if not match:
        return ""
    major, minor = int(match[1]), int(match[2])
    return f">={major}.{minor},<{major}.{minor + 1}"


def substitutions(names: PluginNames) -> dict[str, str]:
    pin = core_pin()
    common = {
        "name": names.name,
        "dist": names.distribution,
        "module": names.module,
        "class": names.cls,
        "kind": names.kind,
        "core_pin": pin,
    }
    if names.kind == "machine":
        return {
            **common,
            "kind_words": "batch type",
            "flag": "batch_type",
            "directive": re.sub(r"[^A-Z0-9]", "", names.cls.upper()),
            "test_deps": f'"dpdispatcher-core[testing]{pin}", "dpdispatcher-local{pin}"',
            "starts_as": "starts as a working scheduler of its own: each job script runs as a background process "
            "where the context runs commands, and its process id is the job id.",
            "slow_test": "the submission of `many_jobs` jobs",
            "make_it_yours": MACHINE_STEPS.format(module=names.module),
            "use_it": MACHINE_USE.format(cls=names.cls),
        }
    return {
        **common,
        "kind_words": "context",
        "flag": "context_type",
        "test_deps": f'"dpdispatcher-core[testing]{pin}"',
        "starts_as": "starts as a working context of its own: the job root is a directory on this machine, "
        "files are copied there and back, and commands run there with bash.",
        "slow_test": "thousands of files in long directory names",
        "make_it_yours": CONTEXT_STEPS.format(module=names.module),
        "use_it": CONTEXT_USE.format(cls=names.cls),
    }


MACHINE_STEPS = """In `src/{module}/machine.py`, replace the body of each method with your scheduler's commands:

- `gen_script_header`: your scheduler's directives, from the job's resources;
- `submit_jobs`: one submit command per job that prints its id (and `job_id_pattern`, what an id looks like);
- `check_statuses`: the state of every job from one query, the jobs the scheduler forgot settled by their tags;
- `kill_jobs`: cancel jobs;
- `output_files`: where a job script's own output goes;
- `machine_subfields` and `resources_subfields`: the settings your scheduler reads."""

CONTEXT_STEPS = """In `src/{module}/context.py`, replace the body of each method with your transport:

- `upload_files` and `download_files`: move files and directory trees between the work base and the job root;
- `run`: run a shell command in the job root;
- `write_file`, `read_file`, `check_file_exists`: single files in the job root;
- `clean`: remove the job root;
- `bind`: make the job root exist; `machine_subfields`: the settings your context reads from the machine config."""

MACHINE_USE = """A machine config selects it with `batch_type`:

```json
{{"batch_type": "{cls}", "context_type": "SSHContext", "local_root": "./", "remote_root": "/scratch/me/work",
 "remote_profile": {{"hostname": "login.hpc", "username": "me"}}}}
```"""

CONTEXT_USE = """A machine config selects it with `context_type`:

```json
{{"batch_type": "Shell", "context_type": "{cls}", "local_root": "./", "remote_root": "/tmp/work"}}
```"""


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with every ``{{key}}`` replaced; an unknown key is a bug in the templates."""

    def value(match: re.Match[str]) -> str:
        return values[match[1]]

    return _PLACEHOLDER.sub(value, template)


TEMPLATES = Path(__file__).parent / "templates"


def _templates(kind: str) -> list[tuple[str, Path]]:
    """(output path with ``module`` as the package folder, template) for the common files and ``kind``'s."""
    found = []
    for root in (TEMPLATES / "common", TEMPLATES / kind):
        for template in sorted(root.rglob("*.tmpl")):
            found.append((template.relative_to(root).as_posix().removesuffix(".tmpl"), template))
    return found


def write_plugin(name: str, kind: str, parent: str | os.PathLike[str]) -> Path:
    """Write the package of plugin ``name`` into ``parent/dpdispatcher-<name>``; return that directory."""
    names = PluginNames.of(name, kind)
    parent = Path(parent)
    if not parent.is_dir():
        raise ConfigError(f"--dir {parent} is not a directory")
    target = parent / names.distribution
    if target.exists():
        raise ConfigError(f"{target} already exists; remove it or pick another --dir (nothing was written)")
    clash = taken_by(names)
    if clash:
        raise ConfigError(f"{clash}; pick another NAME (nothing was written)")
    values = substitutions(names)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{names.distribution}."))
    try:
        for relative, template in _templates(kind):
            parts = relative.split("/")
            if parts[:2] == ["src", "module"]:
                parts[1] = names.module
            path = staging.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(template.read_text(), values))
        os.rename(staging, target)  # fails if target appeared meanwhile: nothing is overwritten
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
