"""The docs site builds with warnings as errors, every local link and image in
it resolves, every example has a page showing its committed outputs, and the
API reference lists the whole public API."""

import ast
import html
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
STATIC = DOCS / "_static"
MODULES = ["calibration", "checkpoints", "compact", "datasets", "imp", "masks", "metrics",
           "model_selection", "modules", "noise", "plotting", "pruning", "training", "transforms"]
NAVBAR = ["Getting started", "User guide", "Examples", "Results", "Performance", "Science",
          "API", "Changelog"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once for this module: ``(html folder, sphinx result)``.

    The docs tools are in the ``test`` extras, so a missing one fails here
    rather than skipping the build.
    """
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True)
    return out / "html", result


class _Page(HTMLParser):
    """Links, images, ids, nav labels and visible text of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs, self.imgs, self.ids, self.text = [], [], set(), []
        self.tables = 0
        self.scroll_containers = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("a", "link") and attrs.get("href"):
            self.refs.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.refs.append(attrs["src"])
            if tag == "img":
                self.imgs.append(attrs["src"])
        if tag == "table":
            self.tables += 1
        if tag == "div" and "pst-scrollable-table-container" in attrs.get("class", ""):
            self.scroll_containers += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def local_target(page_path, ref):
    """The file and fragment a local reference points to, or None when it
    leaves the site (a URL, mailto:, data:)."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("//"):
        return None
    target = page_path if not parts.path else (page_path.parent / unquote(parts.path))
    return target.resolve(), unquote(parts.fragment)


def test_sphinx_builds_without_warnings(site):
    html_dir, result = site
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (html_dir / "generated" / "skimp.PrunedNetClassifier.html").exists()
    assert (html_dir / "generated" / "skimp.metrics.smooth_calibration_error.html").exists()


def test_every_local_link_and_image_resolves(site):
    html_dir, _ = site
    # _static holds the theme's files as they are, Jinja macros included,
    # not pages of the site.
    pages = sorted(p for p in html_dir.rglob("*.html")
                   if p.relative_to(html_dir).parts[0] != "_static")
    assert len(pages) > 50
    parsed = {p.resolve(): parse(p) for p in pages}
    broken = []
    for path, page in parsed.items():
        for ref in page.refs:
            target = local_target(path, ref)
            if target is None:
                continue
            file, fragment = target
            if not file.is_file():
                broken.append(f"{path.relative_to(html_dir.resolve())}: {ref} (no such file)")
            elif fragment and file in parsed and fragment not in parsed[file].ids:
                broken.append(f"{path.relative_to(html_dir.resolve())}: {ref} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_landing_page_and_navbar(site):
    html_dir, _ = site
    index = (html_dir / "index.html").read_text(encoding="utf-8")
    assert "Quick start" in index and "PrunedNetClassifier(" in page_text(html_dir / "index.html")
    # The theme's top bar (repeated in the mobile sidebar).
    bar = re.search(r'<ul class="bd-navbar-elements navbar-nav">(.*?)</ul>', index, flags=re.S)
    assert bar, "the theme's top navbar is missing"
    labels = [html.unescape(label) for label in
              re.findall(r'<a class="nav-link[^"]*" href="[^"]+">\s*(.+?)\s*</a>', bar.group(1),
                         flags=re.S)]
    assert labels == NAVBAR
    # Copy buttons on code cells.
    assert "copybutton" in index


def test_wide_tables_scroll(site):
    html_dir, _ = site
    for name in ("results.html", "performance.html", "science.html"):
        page = parse(html_dir / name)
        assert page.tables > 0
        # The theme's sideways scroll container around every table.
        assert page.scroll_containers == page.tables, name
    css = (html_dir / "_static" / "skimp.css").read_text()
    assert "skimp-nowrap" in css
    assert 'class="skimp-nowrap"' in (html_dir / "results.html").read_text(encoding="utf-8")


def committed_outputs(stem):
    """docs/_static outputs of examples/STEM.py: NAME.* and NAME_*.*, with
    NAME the stem without "plot_", unless another script's name fits them
    better (longer)."""
    names = [p.stem.removeprefix("plot_") for p in EXAMPLES.glob("*.py")]
    name = stem.removeprefix("plot_")
    found = []
    for path in sorted(STATIC.iterdir()):
        fits = [n for n in names if path.stem == n or path.stem.startswith(n + "_")]
        if fits and max(fits, key=len) == name:
            found.append(path)
    return found


def page_text(path):
    # Sphinx typesets quotes ("smartquotes"); compare with the plain ones.
    return "".join(parse(path).text).replace("\u2019", "'").replace("\u201c", '"').replace(
        "\u201d", '"')


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_page_with_its_outputs(site, script):
    html_dir, _ = site
    stem = script.removesuffix(".py")
    page_path = html_dir / "auto_examples" / f"{stem}.html"
    assert page_path.is_file(), f"no gallery page for examples/{script}"
    page = parse(page_path)
    text = page_text(page_path)
    # The docstring is the prose and the code is shown.
    title = ast.get_docstring(ast.parse((EXAMPLES / script).read_text())).splitlines()[0]
    assert title.removesuffix(".") in text
    assert "def main(" in text
    outputs = committed_outputs(stem)
    shown = {Path(unquote(urlsplit(src).path)).name for src in page.imgs}
    for path in outputs:
        if path.suffix == ".png":
            assert path.name in shown, f"{page_path.name} does not show {path.name}"
        elif path.suffix == ".txt":
            for line in path.read_text().splitlines():
                assert line.strip() in text, f"{page_path.name} lacks {path.name}: {line!r}"
        elif path.suffix == ".csv":
            assert any(Path(unquote(urlsplit(ref).path)).name == path.name for ref in page.refs), (
                f"{page_path.name} does not link {path.name}")
    # Examples without a committed figure (cifar10_resnet20 so far) still
    # get a page, which says so.
    if not any(p.suffix == ".png" for p in outputs):
        assert "No output of" in text


def test_gallery_thumbnails_are_the_committed_figures(site):
    html_dir, _ = site
    thumbs = DOCS / "auto_examples" / "images" / "thumb"
    with_figure, without = {}, {}
    for script in EXAMPLES.glob("*.py"):
        thumb = (thumbs / f"sphx_glr_{script.stem}_thumb.png").read_bytes()
        has_figure = any(p.suffix == ".png" for p in committed_outputs(script.stem))
        (with_figure if has_figure else without)[script.name] = thumb
    # Figure-less examples share sphinx-gallery's placeholder; every other
    # thumbnail is made from its own figure, so no two are alike.
    assert len(set(without.values())) <= 1
    assert len(set(with_figure.values())) == len(with_figure)
    assert not set(with_figure.values()) & set(without.values())
    index = parse(html_dir / "auto_examples" / "index.html")
    assert len([s for s in index.imgs if "thumb" in s]) == len(list(EXAMPLES.glob("*.py")))


def test_the_build_ran_no_example(site):
    # An executed example leaves its figures as images/sphx_glr_NAME_001.png.
    assert not list((DOCS / "auto_examples" / "images").glob("sphx_glr_*_0*.png"))


def load_gallery_extension():
    spec = importlib.util.spec_from_file_location(
        "skimp_gallery", DOCS / "sphinxext" / "skimp_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gallery_outputs_are_found_by_name(tmp_path):
    gallery = load_gallery_extension()
    examples, static = tmp_path / "examples", tmp_path / "static"
    examples.mkdir()
    static.mkdir()
    for name in ("plot_noise", "plot_noise_width_grid", "plot_controls", "demo"):
        (examples / f"{name}.py").write_text('"""Title."""\n')
    for name in ("noise.png", "noise_width_grid.png", "noise_width_grid.txt",
                 "noise_extra.png", "controls_symmetric.png", "controls_symmetric.csv",
                 "controls_pairflip.png", "controls.txt", "skimp.css", "unrelated.png"):
        (static / name).write_text("x")
    outputs = gallery.example_outputs(examples, static)
    assert outputs == {
        "demo": [],
        "plot_controls": ["controls", "controls_pairflip", "controls_symmetric"],
        "plot_noise": ["noise", "noise_extra"],
        "plot_noise_width_grid": ["noise_width_grid"],
    }


def test_gallery_source_changes_only_the_docstring(tmp_path):
    gallery = load_gallery_extension()
    static = tmp_path / "static"
    static.mkdir()
    (static / "demo_a.png").write_text("x")
    (static / "demo_a.txt").write_text("printed\n")
    (static / "demo_b.csv").write_text("level,acc\n0,0.5\n1,0.7\n")
    script = tmp_path / "plot_demo.py"
    code = 'import argparse\n\n\ndef main():\n    return __doc__.splitlines()[0]\n'
    script.write_text('"""A demo title.\n\nProse with ``code``.\n"""\n\n' + code)
    out = gallery.gallery_source(script, ["demo_a", "demo_b"], static)
    tree = ast.parse(out)
    doc = ast.get_docstring(tree)
    assert doc.startswith("A demo title\n============\n\nProse with ``code``.")
    assert ".. image:: /_static/demo_a.png" in doc
    assert ".. literalinclude:: /_static/demo_a.txt" in doc
    assert ".. csv-table:: demo_b.csv" in doc and ":download:`demo_b.csv" in doc
    assert out.endswith('# sphinx_gallery_thumbnail_path = "_static/demo_a.png"\n')
    # Everything after the docstring is the script's own code.
    assert code in out
    # A script without a docstring is refused with a message that says why.
    (tmp_path / "bare.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="no module docstring"):
        gallery.gallery_source(tmp_path / "bare.py", [], static)


def api_reference_names():
    """Every name the API pages list: autosummary entries, data entries and
    double-backquoted names, qualified by the page's current module."""
    listed = set()
    for page in [DOCS / "api.rst", *sorted((DOCS / "api").glob("*.rst"))]:
        module = "skimp"
        for line in page.read_text().splitlines():
            current = re.match(r"\.\. currentmodule:: skimp\.?([\w.]*)$", line)
            if current:
                module = current.group(1)
                continue
            entry = re.match(r"^\s+(~?[\w.]+)$", line) or re.match(
                r"^\.\. (?:py:data|autodata):: ([\w.]+)$", line)
            names = [entry.group(1)] if entry else []
            names += re.findall(r"``([\w.]+)``", line)
            for name in names:
                listed.add(name)
                if module:
                    listed.add(f"{module}.{name}")
    return listed


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_is_in_the_api_reference(name):
    listed = api_reference_names()
    module = importlib.import_module(f"skimp.{name}")
    missing = [f"{name}.{obj}" for obj in module.__all__ if f"{name}.{obj}" not in listed]
    assert not missing, f"add these to the API pages (docs/api/*.rst): {missing}"


# Methods that torch's nn.Module and skorch's nets give skimp's networks and
# MaskedNet are documented by PyTorch and skorch (docs/conf.py skips them).
FOREIGN_BASES = ("torch", "skorch")


def public_methods(cls):
    """The public methods of ``cls``, inherited ones included, that skimp or
    scikit-learn define."""
    methods = []
    for name in dir(cls):
        value = getattr(cls, name, None)
        if name.startswith("_") or not inspect.isroutine(value):
            continue
        if (getattr(value, "__module__", None) or "").split(".")[0] not in FOREIGN_BASES:
            methods.append(name)
    return methods


def public_classes():
    """``(module, name, class)`` for every class in ``skimp.__all__`` and the
    ``__all__`` of every module of the API reference."""
    found = []
    for module_name in ["skimp", *(f"skimp.{m}" for m in MODULES)]:
        module = importlib.import_module(module_name)
        found += [(module_name, name, getattr(module, name)) for name in module.__all__
                  if inspect.isclass(getattr(module, name))]
    return found


def test_every_public_method_has_an_entry_on_its_class_page(site):
    """Issue 22, item 14: a class page documents every public method, with an
    entry (an HTML id) of its own, not only a line in a summary table."""
    html_dir, _ = site
    classes = public_classes()
    checked = {cls for _, _, cls in classes}
    # The estimator and the displays at least; the method lists come from
    # the classes, so new parameters' methods are checked as they appear.
    assert {"PrunedNetClassifier", "ImpPathDisplay", "ReliabilityDisplay",
            "ConnectivityDisplay", "ControlsDisplay"} <= {c.__name__ for c in checked}
    missing, without_page = [], []
    for cls in checked:
        homes = [f"{m}.{n}" for m, n, c in classes if c is cls]
        pages = [html_dir / "generated" / f"{home}.html" for home in homes]
        # A class exported by two modules (imp.LevelState is
        # checkpoints.LevelState) has one page, under one of them.
        if not any(page.is_file() for page in pages):
            without_page.append(homes)
        for home, page in zip(homes, pages):
            if page.is_file():
                ids = parse(page).ids
                methods = public_methods(cls)
                missing += [f"{home}.{method}" for method in methods
                            if f"{home}.{method}" not in ids]
                # The Methods table: one row per method, each linking its entry.
                table = re.search(r'<table class="[^"]*autosummary[^"]*">(.*?)</table>',
                                  page.read_text(encoding="utf-8"), flags=re.S)
                rows = (table.group(1) if table else "").split("<tr")[1:]
                # A row's first link is its method's; the summary may link more.
                linked = {unquote(urlsplit(ref.group(1)).fragment)
                          for ref in (re.search(r'href="([^"]+)"', row) for row in rows) if ref}
                assert (len(rows), linked) == (
                    len(methods), {f"{home}.{m}" for m in methods}), home
    assert not without_page, f"classes without a page: {without_page}"
    assert not missing, f"methods without an entry on their class page: {sorted(missing)}"
    estimator = parse(html_dir / "generated" / "skimp.PrunedNetClassifier.html").ids
    for method in ("fit", "predict_proba", "staged_predict_proba", "level_module",
                   "compact_module", "calibration_report", "get_params", "score"):
        assert f"skimp.PrunedNetClassifier.{method}" in estimator


def test_the_api_reference_puts_internals_apart(site):
    """The public API lists no training-loop internals: not in the tables of
    its module pages, not in the contents of the API reference, which links
    the developer API as one page of its own."""
    html_dir, _ = site
    developer = {f"skimp.{m}.{n}" for m in ("imp", "training", "checkpoints")
                 for n in importlib.import_module(f"skimp.{m}").__all__}

    def listed(page, pattern):
        found = set()
        for block in re.findall(pattern, page.read_text(encoding="utf-8"), flags=re.S):
            content = _Page()
            content.feed(block)
            found |= {Path(urlsplit(ref).path).stem for ref in content.refs}
        return found

    tables = r'<table class="[^"]*autosummary[^"]*">(.*?)</table>'
    for page in sorted((html_dir / "api").glob("*.html")):
        shown = listed(page, tables)
        assert shown, f"{page.name} lists no object"
        if page.stem != "developer":
            assert not shown & developer, (page.name, sorted(shown & developer))
    contents = listed(html_dir / "api.html", r'<div class="toctree-wrapper compound">(.*?)</div>')
    assert "skimp.PrunedNetClassifier" in contents and "developer" in contents
    assert not contents & developer, sorted(contents & developer)
    scorers = page_text(html_dir / "api" / "metrics.html")
    for scorer in ("ece_scorer", "mce_scorer", "classwise_ece_scorer", "brier_scorer"):
        assert scorer in scorers


def test_every_referenced_image_exists():
    root = DOCS.parent
    pages = [root / "README.md", *sorted(DOCS.glob("*.md"))]
    referenced = []
    for page in pages:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                referenced.append(page.parent / target)
                assert (page.parent / target).is_file(), f"{page.name} shows missing {target}"
    # The README's top figure, and every example's figure on the results page.
    assert root / "docs" / "_static" / "sparse_double_descent.png" in referenced
    results = (DOCS / "results.md").read_text()
    controls = [f"controls_{setting}" for setting in
                ("fashion2k", "demo", "sdd", "teacher", "cnn")]
    for name in ("sparse_double_descent", "width_convergence", "teacher_student",
                 "noise_width_grid", "calibration_baselines", *controls,
                 "cnn_fashion_mnist"):
        assert f"_static/{name}.png" in results, f"results.md does not show {name}.png"


def test_the_docs_say_what_the_code_does():
    """Claims the code contradicts (issue 15, items 15 and 16), kept out of
    the pages and the docstrings: the validation split is drawn on the labels
    as passed, before the simulated noise, which reaches both sides; compact
    conv tickets are CompactConvNet and export too."""
    from skimp import PrunedNetClassifier

    root = DOCS.parent
    texts = {page.name: page.read_text() for page in [root / "README.md", *DOCS.glob("*.md")]}
    texts["PrunedNetClassifier"] = PrunedNetClassifier.__doc__
    for name, text in texts.items():
        flat = " ".join(text.split())
        assert "before the validation split" not in flat, name
        assert "applied before the split" not in flat, name
        assert "for MLPs of `Linear` and `ReLU` layers only" not in flat, name
    guide = " ".join(texts["user_guide.md"].split())
    assert "CompactConvNet" in guide
    assert "drawn by `noise_model`" in guide
    assert "drawn by ``noise_model``" in PrunedNetClassifier.__doc__


def test_the_docs_state_the_thread_default_the_estimator_has():
    """Issue 22, item 19: results.md called ``n_threads=1`` the estimator's
    default, which is ``"auto"``."""
    from skimp import PrunedNetClassifier

    default = f"n_threads={PrunedNetClassifier().get_params()['n_threads']!r}".replace("'", '"')
    stated = []
    for page in [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]:
        flat = " ".join(page.read_text().split())
        stated += [(page.name, m) for m in re.findall(
            r"`(n_threads=[^`]+)`[^.`]*\(the estimator's default\)", flat)]
        stated += [(page.name, m) for m in re.findall(
            r"estimator's default,? `(n_threads=[^`]+)`", flat)]
    assert stated, "results.md no longer says which thread count its fits used"
    assert all(value == default for _, value in stated), (default, stated)


def test_the_landing_page_install_block_runs_from_a_clone():
    """Issue 22, item 19: the landing page's install block started from a
    wheel the newcomer does not have; every file it names must be in the
    repository, as the README's are."""
    index = (DOCS / "index.md").read_text()
    block = re.search(r"## Install\n.*?```bash\n(.*?)```", index, flags=re.S).group(1)
    assert "bash scripts/install.sh" in block
    named = [re.sub(r"\[.*\]$", "", token.strip("\"'"))
             for token in block.split() if re.search(r"\.(py|sh|whl)\b", token)]
    assert named
    for token in named:
        assert (DOCS.parent / token).is_file(), f"the install block names {token}"
