"""The benchmark suite runs end to end (``--smoke``: tiny sizes, no measurement)."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def run_all(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "bench_training", "bench_patience", "bench_compact",
                 "bench_parallel", "bench_threads", "bench_cost", "bench_last_batch",
                 "bench_openlth", "bench_calibration", "run_all"):
        sys.modules.pop(name, None)
    import run_all
    return run_all


def test_run_all_smoke_prints_every_ratio(run_all, capsys):
    table = run_all.main(["--smoke"])
    out = capsys.readouterr().out
    for fact in ("cpu", "cores", "torch", "skorch", "sklearn", "torch threads", "device"):
        assert f"  {fact} " in out
    names = [row[0] for row in table]
    assert sum(name.startswith("1. training") for name in names) == 3
    assert any("LR schedule" in line for line in out.splitlines() if "skimp" in line)
    assert sum(name.startswith("1. early_stopping=True / False") for name in names) == 1
    assert any(line.startswith("early_stopping=True / False") and "ratio median" in line
               for line in out.splitlines())
    assert any(name.startswith("2. patience") for name in names)
    assert any(name.startswith("3. compact speedup") for name in names)
    assert any(name.startswith("3. bytes") for name in names)
    for scope in ("global", "layerwise"):
        assert any(name.startswith(f"3. compact Conv-2 ({scope})") for name in names)
    assert any(name.startswith("4. GridSearchCV") for name in names)
    assert sum(name.startswith("5. threads") for name in names) >= 2
    assert "| measurement | median | min |" in out


def test_contention_cases_smoke(run_all, capsys):
    import bench_compact
    import bench_threads

    compact = bench_compact.main(["--smoke", "--contention"])["contention"]
    assert [r["case"] for r in compact] == list(bench_compact.CONTENTION)
    busy = bench_threads.main(["--smoke", "--busy"])
    assert [r["case"] for r in busy] == list(bench_threads.BUSY)
    out = capsys.readouterr().out
    assert "compact / its 1-thread time" in out and "threads 'auto' chose" in out


def test_calibration_cost_smoke(run_all, capsys):
    import bench_calibration

    r = bench_calibration.main(["--smoke", "--busy"])
    out = capsys.readouterr().out
    assert r["levels"] == 2
    assert 0 < r["share of a 120-epoch level (%)"] < r["share of a 60-epoch level (%)"] < 100
    assert "calibration_noise='estimate', extra (s)" in out


def test_cost_estimate_smoke(run_all, capsys):
    import bench_cost

    r = bench_cost.main(["--smoke"])
    out = capsys.readouterr().out
    assert r["run"] == pytest.approx(18 * r["level"])
    assert r["level"] > 120 * r["per_epoch"]
    assert "extrapolated: one level of 120 epochs" in out


def test_last_batch_smoke(run_all, capsys):
    import bench_last_batch

    table = bench_last_batch.main(["--smoke"])
    out = capsys.readouterr().out
    assert list(table) == ["4 rows, drop_last=True", "4 rows", "32 rows"]
    assert "| 4 rows |" in out


def test_progress_smoke(run_all, capsys):
    import bench_progress

    bench_progress.main(["--smoke"])
    out = capsys.readouterr().out
    # One row per level but the last, each with the printed and the true time left.
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 3
    assert "estimate after level 0" in out and "first line printed" in out


def test_openlth_benchmark_refuses_without_a_checkout(run_all, tmp_path):
    import bench_openlth

    # It never downloads: without an OpenLTH clone it stops and says how to get one.
    for argv in ([], ["--openlth", str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:
            bench_openlth.main(argv)
        assert "No OpenLTH checkout" in str(exc.value)
        assert "git clone https://github.com/facebookresearch/open_lth" in str(exc.value)


def test_openlth_benchmark_refuses_without_the_data(run_all, tmp_path):
    import bench_openlth

    checkout = tmp_path / "open_lth"
    (checkout / "datasets").mkdir(parents=True)
    (checkout / "open_lth.py").write_text("")
    (checkout / "datasets" / "mnist.py").write_text("")
    with pytest.raises(SystemExit) as exc:
        bench_openlth.main(["--openlth", str(checkout), "--data", str(tmp_path / "none")])
    assert "Fashion-MNIST not found" in str(exc.value) and "--data" in str(exc.value)
