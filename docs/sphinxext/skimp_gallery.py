"""The examples gallery, built from the committed outputs, never by running.

Each ``examples/*.py`` takes minutes at its default size, so the docs build
must not run them. Their default-mode outputs are committed instead, by
``scripts/make_figures.sh``: ``docs/_static/NAME.png`` (the figure),
``NAME.txt`` (what the script printed) and, where a script writes one,
``NAME.csv`` (a table), where NAME is the script's name without its
``plot_`` prefix. A script may write several, ``NAME_<something>.*`` (e.g.
``controls_16_levels.png`` of ``plot_controls.py --levels 16``).

sphinx-gallery then only has to lay the pages out. It renders an example's
docstring as reStructuredText and reads per-file settings from comments, so
at ``config-inited`` this writes a copy of every script into
``docs/_gallery_src`` (generated, not committed) whose docstring has an rst
title and ends with an "Output" section that shows the committed files, and
whose last line names the committed figure as the thumbnail
(``# sphinx_gallery_thumbnail_path``). The scripts themselves stay as they
are, plain docstrings that ``--help`` prints, and a new script or a new
output file in ``docs/_static`` joins the gallery without touching the docs.
"""

import ast
import csv
import filecmp
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
EXAMPLES = DOCS.parent / "examples"
STATIC = DOCS / "_static"
GALLERY_SRC = DOCS / "_gallery_src"
HEADER = "GALLERY_HEADER.rst"
# Outputs shown on an example's page, in this order; anything else in
# docs/_static (the site's CSS, say) belongs to no example.
OUTPUT_SUFFIXES = (".png", ".txt", ".csv")
# A CSV up to this many rows reads as a table on the page; a longer one is
# data to download rather than to scroll through.
MAX_TABLE_ROWS = 40
# The gallery's order: the main demo, the paper's four claims, then the
# rest by name (new scripts included).
FIRST = [
    "demo_mnist1d",
    "plot_sparse_double_descent",
    "plot_width_convergence",
    "plot_teacher_student",
    "plot_noise_width_grid",
    "plot_calibration_baselines",
    "plot_controls",
    "plot_cnn_fashion_mnist",
]


def output_name(script_stem):
    """The name a script's committed outputs start with: ``plot_x`` -> ``x``."""
    return script_stem.removeprefix("plot_")


def example_outputs(examples=EXAMPLES, static=STATIC):
    """Map each example script's stem to the stems of its committed outputs.

    An output stem belongs to the script whose output name it equals or
    extends with ``_``; when two scripts' names both fit (``noise`` and
    ``noise_width_grid``), the longer one wins. Each list starts with the
    output named exactly like the script, if there is one.

    Parameters
    ----------
    examples, static : pathlib.Path
        The folder of example scripts, and that of the committed outputs.

    Returns
    -------
    outputs : dict of str to list of str
        Every script's stem, with its output stems (maybe none).
    """
    scripts = sorted(p.stem for p in examples.glob("*.py"))
    outputs = {stem: [] for stem in scripts}
    stems = sorted({p.stem for p in static.iterdir() if p.suffix in OUTPUT_SUFFIXES})
    for stem in stems:
        owners = [s for s in scripts
                  if stem == output_name(s) or stem.startswith(output_name(s) + "_")]
        if owners:
            owner = max(owners, key=lambda s: len(output_name(s)))
            outputs[owner].append(stem)
    for stem, found in outputs.items():
        found.sort(key=lambda s: (s != output_name(stem), s))
    return outputs


def _csv_rows(path):
    with path.open(newline="") as f:
        return sum(1 for _ in csv.reader(f))


def _code_heading(script_stem):
    # The script's code follows the docstring on the page; a heading of its
    # own keeps it out of the Output section in the page's contents.
    return ["", "", "The script", "----------", "",
            f"``examples/{script_stem}.py``, as in the repository:"]


def output_section(script_stem, stems, static=STATIC):
    """reStructuredText showing a script's committed outputs, then the
    heading of the code that follows."""
    run = f"python examples/{script_stem}.py"
    if not stems:
        lines = [
            "", "", "Output", "------", "",
            f"No output of ``{run}`` is committed for the docs (they are built "
            "without running the examples); run it to see its table. The "
            ":doc:`/results` page records what it measured.",
        ]
        return "\n".join(lines + _code_heading(script_stem)) + "\n"
    lines = [
        "", "", "Output", "------", "",
        f"What ``{run}`` saved and printed, as committed in ``docs/_static`` "
        "(by ``scripts/make_figures.sh``, which runs the default mode, or the "
        "commands above); building the docs does not run the example.",
    ]
    for stem in stems:
        if len(stems) > 1:
            lines += ["", f"``{stem}``", "~" * (len(stem) + 4)]
        if (static / f"{stem}.png").exists():
            lines += ["", f".. image:: /_static/{stem}.png",
                      f"   :alt: {stem}.png, the figure of {script_stem}.py",
                      "   :class: sg-output-figure"]
        if (static / f"{stem}.txt").exists():
            lines += ["", f".. literalinclude:: /_static/{stem}.txt",
                      "   :language: text", f"   :caption: {stem}.txt (printed)"]
        csv_path = static / f"{stem}.csv"
        if csv_path.exists():
            if _csv_rows(csv_path) <= MAX_TABLE_ROWS:
                lines += ["", f".. csv-table:: {stem}.csv",
                          f"   :file: /_static/{stem}.csv", "   :header-rows: 1"]
            lines += ["", f"Download the table: :download:`{stem}.csv </_static/{stem}.csv>`."]
    return "\n".join(lines + _code_heading(script_stem)) + "\n"


def gallery_source(script, stems, static=STATIC):
    """The text of ``script`` as the gallery shows it.

    Only the module docstring changes: its first paragraph becomes an rst
    title, and the output section is appended to it. A thumbnail comment is
    added at the end when a figure is committed.
    """
    source = script.read_text()
    tree = ast.parse(source)
    if not (tree.body and isinstance(tree.body[0], ast.Expr)
            and isinstance(tree.body[0].value, ast.Constant)
            and isinstance(tree.body[0].value.value, str)):
        raise ValueError(
            f"{script} has no module docstring; the gallery shows it as the "
            "example's text. Start the script with one (a one-line title, a "
            "blank line, then the prose).")
    node = tree.body[0].value
    lines = source.splitlines(keepends=True)
    # The closing quotes: insert the output section just before them.
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    end = offsets[node.end_lineno - 1] + node.end_col_offset - 3
    start = offsets[node.lineno - 1] + node.col_offset
    prefix_len = len(source[start:]) - len(source[start:].lstrip("rRuU"))
    body_start = start + prefix_len + 3
    text = source[body_start:end]
    head, sep, rest = text.partition("\n\n")
    # Titles read without a closing full stop; a question keeps its mark.
    title = " ".join(head.split()).removesuffix(".")
    titled = f"{title}\n{'=' * len(title)}{sep}{rest.rstrip()}"
    new_doc = titled + output_section(script.stem, stems, static)
    out = source[:body_start] + new_doc + source[end:]
    pngs = [s for s in stems if (static / f"{s}.png").exists()]
    if pngs:
        out = out.rstrip("\n") + f'\n\n# sphinx_gallery_thumbnail_path = "_static/{pngs[0]}.png"\n'
    return out


def _write_if_changed(path, text):
    # sphinx-gallery re-renders a page when its source's md5 changes, so
    # unchanged copies keep incremental builds incremental.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_gallery_sources(app=None, config=None):
    """Write ``docs/_gallery_src``: one copy per example, and the header."""
    GALLERY_SRC.mkdir(exist_ok=True)
    outputs = example_outputs()
    for stem, stems in outputs.items():
        _write_if_changed(GALLERY_SRC / f"{stem}.py",
                          gallery_source(EXAMPLES / f"{stem}.py", stems))
    header = GALLERY_SRC / HEADER
    if not header.exists() or not filecmp.cmp(EXAMPLES / HEADER, header, shallow=False):
        shutil.copyfile(EXAMPLES / HEADER, header)
    # A script removed from examples/ leaves the gallery too.
    for old in GALLERY_SRC.glob("*.py"):
        if old.stem not in outputs:
            old.unlink()


class ExampleOrder:
    """sphinx-gallery sort key: the order of ``FIRST``, then by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        stem = Path(filename).stem
        return (FIRST.index(stem) if stem in FIRST else len(FIRST), stem)

    def __repr__(self):
        return "ExampleOrder"


def setup(app):
    # Before sphinx-gallery reads its examples_dirs (builder-inited).
    app.connect("config-inited", write_gallery_sources, priority=5)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
