"""``$ref`` snippets in config files: a mapping ``{"$ref": "machine.json"}`` stands for that file's mapping.

Published dpdispatcher configs share a machine or resources block between submissions this way.
The rules, as the published package (through dargs) applies them:

- the referenced file is JSON, or YAML when its name ends in ``.yaml``/``.yml``, and holds a mapping;
- a relative name is relative to the directory of the file that holds the ``$ref``;
- the mapping's other keys override the loaded ones (``{"$ref": "m.json", "remote_root": "/b"}``);
- referenced files may hold ``$ref`` themselves; a file that refers back to itself is an error.

Loading is off unless asked for (``allow_ref=True``, ``dpdisp submit --allow-ref``): a config that
may name any file on this machine can pull that file's content into job scripts and records that
go to the remote side, so a config received from someone else must not do it silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from dpdispatcher.errors import ConfigError
from dpdispatcher.records import load_config_file

REF_KEY = "$ref"
REF_SUFFIXES = (".json", ".yaml", ".yml")
#: the most files one config may load through ``$ref`` (a few files referring to each other twice
#: over would otherwise expand without end in size, though never in a cycle)
MAX_REFS = 1000


def load_config_with_refs(path: str | os.PathLike[str], allow_ref: bool = False) -> Any:
    """Load a JSON or YAML config file with its ``$ref`` snippets replaced (see the module doc).

    Without ``allow_ref`` a ``$ref`` is a :class:`ConfigError` that says how to allow it.
    """
    return resolve_refs(load_config_file(path), str(path), allow_ref)


def resolve_refs(data: Any, source: str, allow_ref: bool = False, at: tuple[str, ...] = ()) -> Any:
    """``data`` (read from the file ``source``, where it sits at the keys ``at``) with every ``$ref``
    mapping replaced; ``data`` itself is left as it is."""
    real_source = os.path.realpath(source)
    origin = _Origin(file=source, base_dir=os.path.dirname(real_source), chain=(real_source,), keys=at)
    return _Resolver(allow_ref).value(data, origin)


@dataclass(frozen=True)
class _Origin:
    """Where a value comes from: its file, the directory its refs are relative to, the files that led there."""

    file: str
    base_dir: str
    chain: tuple[str, ...]
    keys: tuple[str, ...]

    def child(self, key: str) -> _Origin:
        return replace(self, keys=(*self.keys, key))

    def __str__(self) -> str:
        return f"{self.file}: {'/'.join(self.keys) or '(top level)'}"


class _Resolver:
    def __init__(self, allow_ref: bool) -> None:
        self.allow_ref = allow_ref
        self.loads = 0

    def value(self, data: Any, origin: _Origin) -> Any:
        if isinstance(data, dict):
            return self.mapping(data, origin)
        if isinstance(data, list):
            return [self.value(item, origin.child(str(i))) for i, item in enumerate(data)]
        return data

    def mapping(self, data: dict[Any, Any], origin: _Origin) -> dict[Any, Any]:
        local = {key: self.value(item, origin.child(str(key))) for key, item in data.items() if key != REF_KEY}
        if REF_KEY not in data:
            return local
        return {**self.load(data[REF_KEY], origin), **local}

    def load(self, name: Any, origin: _Origin) -> dict[Any, Any]:
        if not self.allow_ref:
            raise ConfigError(
                f"{origin}: `$ref` would load {name!r}; loading other files from a config is off by default, "
                f"since a config could pull in any file on this machine: pass --allow-ref "
                f"(allow_ref=True) if you trust {origin.file}"
            )
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{origin}: `$ref` must be a file name, got {name!r}")
        if not name.lower().endswith(REF_SUFFIXES):
            raise ConfigError(f"{origin}: `$ref` {name!r} must name a {', '.join(REF_SUFFIXES)} file")
        target = os.path.realpath(os.path.join(origin.base_dir, name))
        if target in origin.chain:
            raise ConfigError(f"{origin}: `$ref` cycle: {' -> '.join((*origin.chain, target))}")
        self.loads += 1
        if self.loads > MAX_REFS:
            raise ConfigError(f"{origin}: more than {MAX_REFS} `$ref` files loaded for one config; refs expand too far")
        try:
            loaded = load_config_file(target)
        except ConfigError as err:
            raise ConfigError(f"{origin}: `$ref` {name!r}: {err}") from None
        except OSError as err:
            raise ConfigError(f"{origin}: `$ref` {name!r}: cannot read {target}: {err.strerror}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{origin}: `$ref` {name!r}: {target} holds a {type(loaded).__name__}, not a mapping of keys"
            )
        inner = _Origin(file=target, base_dir=os.path.dirname(target), chain=(*origin.chain, target), keys=origin.keys)
        return self.mapping(loaded, inner)
