"""Rendering a dargs argument tree as plain text, Markdown, reStructuredText or JSON.

dargs writes reStructuredText (``gen_doc``) and JSON (``ArgumentEncoder``). Text and
Markdown are written here from the JSON form, the one public description of the tree:
every argument with its path (``machine[batch_type=Slurm]/kwargs/...``, as dargs names
it in errors), its type, whether it is optional, its default and its doc; a variant (the
arguments selected by ``batch_type`` or ``context_type``) as one section per choice.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any, Callable

from dargs import Argument, ArgumentEncoder

FORMATS = ("text", "md", "rst", "json")

#: ``code`` and `interpreted text` of reStructuredText, as found in dargs docs
_RST_INLINE = re.compile(r"``([^`]+)``|`([^`]+)`")

INDENT = "  "


def render(argument: Argument, fmt: str, width: int = 100) -> str:
    if fmt == "rst":
        return argument.gen_doc(make_anchor=False)
    tree = json.loads(json.dumps(argument, cls=ArgumentEncoder))
    if fmt == "json":
        return json.dumps(tree, indent=2)
    if fmt == "md":
        return "\n".join(_markdown(tree)) + "\n"
    if fmt == "text":
        return "\n".join(_text(tree, width)) + "\n"
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def plain(doc: str) -> str:
    """``doc`` with reStructuredText inline markup removed and whitespace collapsed."""
    return " ".join(_RST_INLINE.sub(lambda m: m.group(1) or m.group(2), doc).split())


def describe_type(node: dict[str, Any]) -> str:
    """``int``, ``NoneType | str``, ``list of dict`` (a repeated argument), with optional and default."""
    kinds = " | ".join(node["type"])
    if node.get("repeat"):
        kinds = f"list of {kinds}"
    parts = [kinds]
    if node.get("optional"):
        parts.append("optional")
        if "default" in node:
            parts.append(f"default: {json.dumps(node['default'])}")
    return ", ".join(parts)


def _walk(
    node: dict[str, Any],
    path: str,
    depth: int,
    argument: Callable[[dict[str, Any], str, int], list[str]],
    variant: Callable[[dict[str, Any], str, str, int], list[str]],
) -> list[str]:
    """Lines of ``node`` (an argument) and, below it, of its fields and of each choice of its variants."""
    lines = argument(node, path, depth)
    for child in node["sub_fields"].values():
        lines += _walk(child, f"{path}/{child['name']}", depth + 1, argument, variant)
    for flag, var in node["sub_variants"].items():
        lines += variant(var, path, flag, depth + 1)
        for choice, sub in var["choice_dict"].items():
            if not sub["sub_fields"] and not sub["sub_variants"]:
                continue
            lines += variant({"choice": choice}, path, flag, depth + 1)
            selected = f"{path}[{flag}={choice}]"
            for child in sub["sub_fields"].values():
                lines += _walk(child, f"{selected}/{child['name']}", depth + 2, argument, variant)
            for inner_flag, inner in sub["sub_variants"].items():
                lines += variant(inner, selected, inner_flag, depth + 2)
    return lines


def _text(tree: dict[str, Any], width: int) -> list[str]:
    def wrapped(text: str, depth: int) -> list[str]:
        indent = INDENT * depth
        return textwrap.wrap(text, width=max(width, 40), initial_indent=indent, subsequent_indent=indent) or []

    def argument(node: dict[str, Any], path: str, depth: int) -> list[str]:
        lines = ["", f"{INDENT * depth}{path}  ({describe_type(node)})"]
        if node["alias"]:
            lines += wrapped("also written: " + ", ".join(node["alias"]), depth + 2)
        return lines + wrapped(plain(node["doc"]), depth + 2)

    def variant(var: dict[str, Any], path: str, flag: str, depth: int) -> list[str]:
        if "choice" in var:
            return ["", f"{INDENT * depth}When {flag} is {var['choice']}:"]
        kind = "optional, " if var["optional"] else ""
        default = f", default: {var['default_tag']}" if var["default_tag"] else ""
        lines = ["", f"{INDENT * depth}{path}/{flag}  (str, {kind}selects the arguments below{default})"]
        lines += wrapped("one of: " + ", ".join(var["choice_dict"]), depth + 2)
        return lines + wrapped(plain(var["doc"]), depth + 2)

    return _walk(tree, tree["name"], 0, argument, variant)[1:]


def _markdown(tree: dict[str, Any]) -> list[str]:
    def argument(node: dict[str, Any], path: str, depth: int) -> list[str]:
        if depth == 0:
            return [f"# `{path}`", "", f"*{describe_type(node)}*", "", plain(node["doc"]), ""]
        item = f"{INDENT * (depth - 1)}- **`{path}`** *({describe_type(node)})*"
        if node["alias"]:
            item += " (also written " + ", ".join(f"`{a}`" for a in node["alias"]) + ")"
        doc = plain(node["doc"])
        return [f"{item}: {doc}" if doc else item]

    def variant(var: dict[str, Any], path: str, flag: str, depth: int) -> list[str]:
        if "choice" in var:
            return [f"{INDENT * (depth - 1)}- When `{flag}` is `{var['choice']}`:"]
        choices = ", ".join(f"`{c}`" for c in var["choice_dict"])
        return [f"{INDENT * (depth - 1)}- **`{path}/{flag}`** *(str, one of {choices})*: {plain(var['doc'])}"]

    return _walk(tree, tree["name"], 0, argument, variant)
