"""Reading and writing JSON records and configs safely."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dpdispatcher.errors import ConfigError

HOME_ENV = "DPDISPATCHER_HOME"


def dpdispatcher_home() -> Path:
    """Where local submission records live: ``$DPDISPATCHER_HOME`` or ``~/.dpdispatcher``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".dpdispatcher")


def record_path(submission_hash: str) -> Path:
    return dpdispatcher_home() / "submission" / f"{submission_hash}.json"


def atomic_write_text(path: str | os.PathLike[str], text: str, durable: bool = True) -> None:
    """Write ``text`` so that a reader (or a crash of this process) sees either the old or the new file.

    ``durable`` also flushes it to the disk before the rename (survives a power cut; costs a
    disk sync, which is too slow for thousands of job scripts).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_config_file(path: str | os.PathLike[str]) -> Any:
    """Load a JSON or YAML file; a syntax error names the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
