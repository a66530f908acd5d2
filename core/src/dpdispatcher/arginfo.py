"""dargs definitions of the machine, resources and task configs.

The batch-type and context-type variants are built from the installed plugins,
so a plugin's own arguments (``resources[Slurm]/kwargs/custom_gpu_line``,
``machine[SSHContext]/remote_profile/hostname``) are checked and documented
like the core's.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from typing import Any, Callable

from dargs import Argument, Variant
from dargs.dargs import ArgumentError, ArgumentKeyError, ArgumentTypeError, ArgumentValueError

from dpdispatcher.errors import ConfigError
from dpdispatcher.plugins import context_key, get_registry

logger = logging.getLogger(__name__)


@functools.cache
def task_args() -> Argument:
    """The task schema; built once, since ``Task.load_from_dict`` runs once per task."""
    return Argument(
        "task",
        dict,
        [
            Argument("command", str, doc="A command to be executed of this task. The expected return code is 0."),
            Argument("task_work_path", str, doc="The dir where the command to be executed."),
            Argument(
                "forward_files",
                list,
                optional=True,
                default=[],
                doc="The files to be uploaded in task_work_path before the task executed.",
            ),
            Argument(
                "backward_files",
                list,
                optional=True,
                default=[],
                doc="The files to be download to local_root in task_work_path after the task finished",
            ),
            Argument(
                "outlog",
                [type(None), str],
                optional=True,
                default="log",
                doc="The out log file name. redirect from stdout",
            ),
            Argument(
                "errlog",
                [type(None), str],
                optional=True,
                default="err",
                doc="The err log file name. redirect from stderr",
            ),
            Argument(
                "task_name",
                [type(None), str],
                optional=True,
                default=None,
                doc="The scheduler's name for the job when this task is alone in it (group_size 1); "
                "normalized and shortened to what each scheduler accepts. Jobs of several tasks keep a hash-based name.",
            ),
        ],
        doc="A task: one command run in its own directory.",
    )


def strategy_args() -> Argument:
    return Argument(
        "strategy",
        dict,
        [
            Argument(
                "if_cuda_multi_devices",
                bool,
                optional=True,
                default=False,
                doc="Export CUDA_VISIBLE_DEVICES so that the tasks of a job use the node's GPUs in turn "
                "(needs gpu_per_node >= 1 and number_node 1; off by default, as in the published package).",
            ),
            Argument(
                "ratio_unfinished",
                float,
                optional=True,
                default=0.0,
                doc="The ratio of tasks that may stay unfinished: once no more than this share of jobs is left, "
                "they are killed and the submission ends.",
            ),
            Argument(
                "customized_script_header_template_file",
                str,
                optional=True,
                doc="A file whose text, formatted with the resources (e.g. {number_node}), replaces the script header.",
            ),
        ],
        optional=True,
        default={},
        doc="strategies we use to generation job submitting scripts.",
    )


#: why a value that becomes part of a script line may not hold a line break
ONE_LINE = "must not contain a line break or NUL: a config value cannot add a line to the job script"


def one_line(value: Any) -> bool:
    """No line break or NUL in a string, or in any string of a list."""
    values = value if isinstance(value, list) else [value]
    return not any(isinstance(v, str) and ("\n" in v or "\r" in v or "\0" in v) for v in values)


def env_names_ok(envs: Any) -> bool:
    """Every key a shell identifier; no value holds a NUL (the shell cannot pass one)."""
    return all(IDENTIFIER.fullmatch(str(k)) and "\0" not in str(v) for k, v in envs.items())


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resources_args(detail_kwargs: bool = True) -> Argument:
    fields = [
        Argument("number_node", int, optional=True, default=1, doc="The number of node need for each `job`"),
        Argument("cpu_per_node", int, optional=True, default=1, doc="cpu numbers of each node assigned to each job."),
        Argument("gpu_per_node", int, optional=True, default=0, doc="gpu numbers of each node assigned to each job."),
        Argument(
            "queue_name",
            str,
            optional=True,
            default="",
            doc="The queue name of batch job scheduler system.",
            extra_check=one_line,
            extra_check_errmsg=ONE_LINE,
        ),
        Argument(
            "group_size",
            int,
            doc="The number of `tasks` in a `job`. 0 means all tasks in one job.",
            extra_check=lambda v: v >= 0,
            extra_check_errmsg="must be >= 0",
        ),
        Argument(
            "custom_flags",
            list,
            optional=True,
            default=[],
            doc="The extra lines pass to job submitting script header",
            extra_check=one_line,
            extra_check_errmsg=ONE_LINE,
        ),
        strategy_args(),
        Argument(
            "para_deg",
            int,
            optional=True,
            default=1,
            doc="Decide how many tasks will be run in parallel.",
            extra_check=lambda v: v >= 1,
            extra_check_errmsg="must be >= 1",
        ),
        Argument(
            "source_list",
            list,
            optional=True,
            default=[],
            extra_check=one_line,
            extra_check_errmsg=ONE_LINE,
            doc="The env file to be sourced before the command execution.",
        ),
        Argument(
            "module_purge",
            bool,
            optional=True,
            default=False,
            doc="Remove all modules on HPC system before module load (module_list)",
        ),
        Argument(
            "module_unload_list",
            list,
            optional=True,
            default=[],
            extra_check=one_line,
            extra_check_errmsg=ONE_LINE,
            doc="The modules to be unloaded on HPC system before submitting jobs",
        ),
        Argument(
            "module_list",
            list,
            optional=True,
            default=[],
            extra_check=one_line,
            extra_check_errmsg=ONE_LINE,
            doc="The modules to be loaded on HPC system before submitting jobs",
        ),
        Argument(
            "envs",
            dict,
            optional=True,
            default={},
            extra_check=env_names_ok,
            extra_check_errmsg="every name must be a shell identifier (letters, digits, _; not starting with a digit) "
            "and no value may hold a NUL",
            doc="The environment variables to be exported on before submitting jobs",
        ),
        Argument(
            "prepend_script",
            list,
            optional=True,
            default=[],
            doc="Optional script run before jobs submitted.",
        ),
        Argument(
            "append_script",
            list,
            optional=True,
            default=[],
            doc="Optional script run after jobs submitted.",
        ),
        Argument(
            "wait_time",
            [int, float],
            optional=True,
            default=0,
            doc="The waitting time in second after a single `task` submitted",
        ),
    ]
    registry = get_registry()
    choices = []
    for name in registry.machines.names():
        cls = registry.machine_class(name)
        sub = cls.resources_subfields() if detail_kwargs else []
        kwargs = sub[0] if sub else Argument("kwargs", dict, optional=True, doc="This field is empty for this batch.")
        choices.append(Argument(name, dict, [kwargs], alias=[name.lower()]))
    # no scheduler installed: no variant (dargs wants a default tag for an optional one)
    variants = (
        [
            Variant(
                "batch_type",
                choices,
                optional=True,
                default_tag=choices[0].name,
                doc="The batch job system type loaded from machine/batch_type.",
            )
        ]
        if choices
        else []
    )
    return Argument("resources", dict, fields, variants, doc="The resources each job asks for.")


def machine_args() -> Argument:
    registry = get_registry()
    fields = [
        Argument(
            "local_root",
            [type(None), str],
            doc="The dir where the tasks and relating files locate. Typically the project dir.",
        ),
        Argument(
            "remote_root",
            [type(None), str],
            optional=True,
            doc="The dir where the tasks are executed on the remote machine. Only needed when context is not lazy-local.",
        ),
        Argument(
            "clean_asynchronously",
            bool,
            optional=True,
            default=False,
            doc="Clean the remote directory asynchronously after the job finishes.",
        ),
        Argument(
            "retry_count",
            int,
            optional=True,
            default=3,
            doc="Number of retries to resubmit failed jobs.",
        ),
    ]
    choices = []
    for name in registry.contexts.names():
        cls = registry.context_class(name)
        base = context_key(name)
        aliases = sorted(
            {name.lower(), base, base.capitalize(), name[: -len("Context")] if name.endswith("Context") else name}
            - {name}
        )
        choices.append(Argument(name, dict, cls.machine_subfields(), alias=aliases))
    contexts = Variant(
        "context_type",
        choices,
        optional=False,
        doc="The connection used to remote machine. Option: " + ", ".join(registry.contexts.names()),
    )
    # each batch type may add machine-level arguments (Machine.machine_subfields)
    batch_types = Variant(
        "batch_type",
        [Argument(name, dict, registry.machine_class(name).machine_subfields()) for name in registry.machines.names()],
        optional=False,
        doc="The batch job system type. Option: " + ", ".join(registry.machines.names()),
    )
    variants = [v for v in (batch_types, contexts) if v.choice_dict]
    if not batch_types.choice_dict:  # no scheduler installed: still a named, checked field
        fields.insert(0, Argument("batch_type", str, doc="The batch job system type."))
    return Argument("machine", dict, fields, variants, doc="Where and how jobs run.")


def canonical_names(config: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``config`` with batch_type/context_type spelled as registered.

    Names are matched case-insensitively (contexts also without the ``Context``
    suffix); an unknown name raises an error listing what is installed.
    """
    registry = get_registry()
    config = dict(config)
    if isinstance(config.get("batch_type"), str):
        config["batch_type"] = _canonical(registry.machines, config["batch_type"])
    if isinstance(config.get("context_type"), str):
        config["context_type"] = _canonical(registry.contexts, config["context_type"])
    return config


def _canonical(table: Any, name: str) -> str:
    table.get(name)  # raises with the list of installed names
    return table.entries[table.key(name)].name


def _argument_path(what: str, err: ArgumentError) -> str:
    """The full argument path of a dargs error, e.g. ``resources/strategy/ratio_unfinished``."""
    key = re.search(r"key `([^`]+)`", err.message or "")
    return "/".join(p for p in (what, err.path, key.group(1) if key else "") if p)


def _has_sub_dicts(argument: Argument) -> bool:
    return bool(argument.sub_variants) or any(sub.sub_fields for sub in argument.sub_fields.values())


#: set (to 1) to make a key no argument knows an error instead of a warning (``dpdisp submit --strict``)
STRICT_ENV = "DPDISPATCHER_STRICT"


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "").lower() not in ("", "0", "false", "no")


def _check_ignoring_unknown_keys(argument: Argument, normalized: dict[str, Any], what: str) -> None:
    """A strict check in which a key no argument knows is, unless :func:`strict_mode`, a warning and dropped.

    Published configs carry such keys (the published package ignored them); a warning naming the
    argument path and the nearest known name still catches a typo.
    """
    for _ in range(len(json.dumps(normalized, default=str))):  # each pass finds (at most) one unknown key
        try:
            argument.check_value(normalized, strict=True)
            return
        except ArgumentKeyError as err:
            key = re.search(r"undefined key `([^`]+)`", err.message or "")
            if key is None or strict_mode():
                raise
            nearest = re.search(r"Did you mean: (\S+?)\?", err.message or "")
            logger.warning(
                "%s: unknown key%s; it is ignored (set %s=1 or use --strict to make it an error)",
                _argument_path(what, err),
                f" (did you mean {nearest.group(1)}?)" if nearest else "",
                STRICT_ENV,
            )
            container: Any = normalized
            for part in [p for p in err.path.split("/") if p]:
                container = container[part]
            del container[key.group(1)]


def check_and_normalize(argument: Argument, data: Any, what: str) -> dict[str, Any]:
    """Validate ``data`` strictly against ``argument`` and fill the defaults.

    Errors name the argument path (``resources/group_size``) and what was wrong.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object (a dict), got {type(data).__name__}")
    data = canonical_names(data)
    try:
        normalized = argument.normalize_value(data, trim_pattern="_*")
        if _has_sub_dicts(argument):
            # a second pass fills the defaults inside sub-dicts that the first pass created
            # (e.g. remote_profile: {} -> {"symlink": False}), so a config and its record agree
            normalized = argument.normalize_value(normalized, trim_pattern="_*")
        _check_ignoring_unknown_keys(argument, normalized, what)
    except (ArgumentKeyError, ArgumentTypeError, ArgumentValueError) as err:
        raise ConfigError(f"invalid {what}: {_argument_path(what, err)}: {(err.message or '').strip()}") from None
    except ValueError as err:
        if "$ref" not in str(err):
            raise
        # dargs refuses a {"$ref": file} it was not allowed to load
        raise ConfigError(
            f"invalid {what}: it holds a `$ref`; resolve it first with dpdispatcher.refs.resolve_refs "
            "(dpdisp submit/run --allow-ref) if you trust the file it names"
        ) from None
    for key, value in (normalized.get("kwargs") or {}).items() if what == "resources" else ():
        if not one_line(value):  # a batch type's kwargs reach its header
            raise ConfigError(f"invalid {what}: {what}/kwargs/{key}: {ONE_LINE}")
    return normalized


def check_kwargs(batch_type: str, subfields: list[Argument], kwargs: dict[str, Any]) -> None:
    """Check a resources' ``kwargs`` against the batch type that will run them (the machine's).

    Resources loaded without a ``batch_type`` are checked here, once the machine is known.
    """
    check_and_normalize(Argument(f"resources[{batch_type}]", dict, subfields), {"kwargs": kwargs}, "resources")


def quick_check(argument: Callable[[], Argument], data: dict[str, Any], what: str, ok: bool) -> None:
    """For the Python constructors: when a cheap check (``ok``) fails, give the config loader's error."""
    if not ok:
        check_and_normalize(argument(), data, what)  # raises with the argument path
        raise ConfigError(f"invalid {what}: {data!r}")  # the cheap check is stricter than the schema
