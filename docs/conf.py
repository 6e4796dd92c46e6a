"""Sphinx configuration. Build with: sphinx-build -W -b html docs docs/_build/html

Needs ``pip install -e ".[docs]"``. The build never runs the examples; see
``sphinxext/skimp_gallery.py`` and ``sphinx_gallery_conf`` below.
"""

import sys
from pathlib import Path

import skimp

sys.path.insert(0, str(Path(__file__).parent / "sphinxext"))

project = "skimp"
author = "the skimp developers"
copyright = "2026, the skimp developers"
release = skimp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_copybutton",
    # Before sphinx_gallery: it writes the gallery's sources at config-inited.
    "skimp_gallery",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# _gallery_src holds the gallery's generated sources (a header .rst among
# them); sphinx-gallery reads it, Sphinx must not take it for pages.
exclude_patterns = ["_build", "_gallery_src", "sphinxext"]
autosummary_generate = True
# Pages as scikit-learn's: a class page documents every public method, a
# page's title is the object's name (its module is the page above it).
templates_path = ["_templates"]
# The page's contents list a class's methods as fit(), not Class.fit().
toc_object_entries_show_parents = "hide"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Inherited sklearn and skorch docstrings link to their own docs labels and
# glossary terms (set_score_request: "meta-estimator").
suppress_warnings = ["myst.header", "ref.ref", "ref.term"]
myst_heading_anchors = 3

# -- The examples gallery -------------------------------------------------
# The examples take minutes each, so the build shows their committed
# outputs (docs/_static/NAME.png/.txt/.csv from scripts/make_figures.sh)
# instead of running them. How the pages get those outputs: the skimp_gallery
# extension writes a copy of each script into _gallery_src whose docstring
# gains an rst title, an "Output" section with the image, the printed table
# and any CSV, and a sphinx_gallery_thumbnail_path comment. That was chosen
# over editing the scripts' docstrings (the outputs' names would then be
# written twice, and every new script or output file would need a docs edit)
# and over patching sphinx-gallery's generated rst (its layout is
# sphinx-gallery's business, not a stable interface). The scripts stay
# untouched; a new script or output in docs/_static shows up by itself.
sphinx_gallery_conf = {
    "examples_dirs": "_gallery_src",
    "gallery_dirs": "auto_examples",
    # Never execute: nothing matches, and plot_gallery is off as well.
    "plot_gallery": "False",
    "filename_pattern": r"^$",
    "within_subsection_order": "skimp_gallery.ExampleOrder",
    # The scripts parse their command line; a notebook of one would not run.
    "notebook_extensions": set(),
    "download_all_examples": False,
    "remove_config_comments": True,
    "write_computation_times": False,
    "show_signature": False,
    "min_reported_time": float("inf"),
}

# -- HTML -----------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skimp {release}"
html_static_path = ["_static"]
html_css_files = ["skimp.css"]
html_theme_options = {
    "navbar_align": "left",
    # All eight sections in the top bar, none folded into "More".
    "header_links_before_dropdown": 8,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
# A left sidebar only where there are pages to navigate (the gallery, the
# API's generated pages); on the long single pages it would be an empty
# column taking width from the tables.
html_sidebars = {page: [] for page in (
    "index", "getting_started", "user_guide", "results", "performance", "science",
    "changelog")}
# The prompt and output lines of the docs' shell and doctest snippets are
# not copied, only the commands.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


# -- Wide tables ------------------------------------------------------------
# The theme puts every table in a scroll container, but a browser first
# squeezes a wide table's columns until "0.974 ± 0.017" breaks over three
# lines. Short cells (numbers, names) are therefore kept on one line, so a
# wide numeric table scrolls sideways instead; cells with a sentence in them
# still wrap. 24 characters holds "0.550 ± 0.001 (3 seeds)".
SHORT_CELL = 24


def _keep_short_cells_whole(app, doctree):
    from docutils import nodes

    for entry in doctree.findall(nodes.entry):
        if len(entry.astext()) <= SHORT_CELL:
            entry["classes"].append("skimp-nowrap")


# -- Class pages ------------------------------------------------------------
# A class page documents the methods skimp and scikit-learn give the class.
# The networks and MaskedNet also inherit dozens of methods from torch's
# nn.Module and skorch's nets; PyTorch and skorch document those.
FOREIGN_BASES = ("torch", "skorch")


def _skip_torch_and_skorch_members(app, what, name, obj, skip, options):
    # autodoc asks about a class's members with what="class", autosummary's
    # page generator with the member's own type ("method", "property").
    if what == "module":
        return None
    module = getattr(getattr(obj, "fget", obj), "__module__", None) or ""
    return True if module.split(".")[0] in FOREIGN_BASES else None


def setup(app):
    app.connect("doctree-read", _keep_short_cells_whole)
    app.connect("autodoc-skip-member", _skip_torch_and_skorch_members)
