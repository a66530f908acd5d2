"""Sphinx configuration of the DPDispatcher documentation (built by ``tox -e docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))  # the project's own small directives

project = "DPDispatcher"
author = "DPDispatcher contributors"
copyright = "DPDispatcher contributors"

extensions = ["myst_parser", "dargs.sphinx", "plugin_arguments", "cli_help"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]

html_theme = "furo"
html_title = "DPDispatcher"
