"""The ``plugin-arguments`` directive: the config arguments one installed batch type or context adds.

``dargs.sphinx``'s ``dargs`` directive renders whole schemas with anchors (the argument reference);
a plugin page shows only what its plugin adds, without anchors, so that nothing is defined twice:

.. plugin-arguments:: batch_type Slurm
.. plugin-arguments:: context_type SSHContext

The kind is explicit because a batch type and a context may share a name (``DpCloudServer``). The
name is looked up as ``dpdisp`` does (any case; a context with or without ``Context``), so a page
naming a batch type or context that is not installed fails the build.
"""

from __future__ import annotations

from typing import Any

from dargs import Argument
from sphinx.util.docutils import SphinxDirective

from dpdispatcher.errors import DispatcherError
from dpdispatcher.plugins import get_registry


def _rendered(arguments: list[Argument], prefix: str) -> list[str]:
    lines: list[str] = []
    for argument in arguments:
        lines += [*argument.gen_doc([prefix], make_anchor=False).splitlines(), ""]
    return lines


def _none(label: str) -> list[str]:
    return [f"``{label}``: nothing added.", ""]


def plugin_arguments(kind: str, name: str) -> list[str]:
    """RST text listing the arguments the batch type (``kind`` batch_type) or context (context_type) adds."""
    registry = get_registry()
    if kind == "context_type":
        context = registry.context_class(name)  # raises, naming what is installed
        label = f"machine[context_type={context.__name__}]"
        return _rendered(context.machine_subfields(), label) or _none(label)
    if kind != "batch_type":
        raise ValueError(f"the first argument is batch_type or context_type, not {kind!r}")
    machine = registry.machine_class(name)
    lines = []
    # the argument paths of the reference (and of error messages): machine has two variants, resources one
    for label, arguments in (
        (f"machine[batch_type={machine.__name__}]", machine.machine_subfields()),
        (f"resources[{machine.__name__}]", machine.resources_subfields()),
    ):
        lines += _rendered(arguments, label) or _none(label)
    return lines


class PluginArguments(SphinxDirective):
    required_arguments = 2
    has_content = False

    def run(self) -> list[Any]:
        kind, name = self.arguments
        try:
            text = plugin_arguments(kind, name)
        except (DispatcherError, ValueError) as err:  # the build fails with the registry's message
            raise self.error(f"plugin-arguments {kind} {name}: {err}") from err
        self.state_machine.insert_input(text, f"plugin-arguments:{kind}:{name}")
        return []


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("plugin-arguments", PluginArguments)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
