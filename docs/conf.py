"""Sphinx configuration. Build with: sphinx-build -W -b html docs docs/_build/html"""

project = "skimp"
author = "the skimp developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
html_theme = "alabaster"
# Inherited sklearn and skorch docstrings link to their own docs labels.
suppress_warnings = ["myst.header", "ref.ref"]
