"""Every example runs end to end in its tiny smoke mode."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, argv):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_demo_mnist1d_smoke(capsys):
    pytest.importorskip("mnist1d")
    clf = run_example("demo_mnist1d", ["--smoke"])
    out = capsys.readouterr().out
    assert "dense (level 0)" in out and f"ticket (level {clf.best_level_})" in out
    assert "fit wall time" in out


def test_calibration_baselines_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "rel.png"
    run_example("plot_calibration_baselines", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| dense") or "ticket" in line]
    assert len(rows) == 9
    assert out_png.stat().st_size > 10_000
