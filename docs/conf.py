"""Sphinx configuration for the ntkcomp documentation.

Build (warnings are errors, every tutorial is executed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Set ``NTKCOMP_DOCS_EXECUTE=off`` to skip executing the tutorials (a quick look at the
text only; CI never sets it).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "ntkcomp"
author = "ntkcomp contributors"
copyright = "ntkcomp contributors"  # noqa: A001 (Sphinx's name)

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "ntkcomp_api",
    "ntkcomp_results",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "jupyter_execute", "_ext", "_templates", "**/README.md",
                    "theory/generated"]

# --- MyST / notebooks -------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off" if os.environ.get("NTKCOMP_DOCS_EXECUTE") == "off" else "force"
# Unexecuted notebooks carry no kernel language: their cells have no lexer to name.
suppress_warnings = ["mystnb.lexer", "myst-nb.lexer"] if nb_execution_mode == "off" else []
nb_execution_timeout = 240          # seconds per notebook cell
nb_execution_raise_on_error = True  # a failing tutorial fails the build
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference ----------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
napoleon_use_ivar = True  # Attributes sections as fields: no duplicate of autodoc's members

# --- HTML -------------------------------------------------------------------------------
html_theme = "furo"
html_title = "ntkcomp"
html_static_path = []
