"""Every example runs end to end in its tiny smoke mode."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, argv):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_demo_mnist1d_smoke(tmp_path, capsys):
    pytest.importorskip("mnist1d")
    out_png = tmp_path / "demo.png"
    clf = run_example("demo_mnist1d", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    assert "dense (level 0)" in out and f"ticket (level {clf.best_level_})" in out
    assert "ECE" in out and "NLL" in out and "fit wall time" in out
    # The gallery shows the IMP path's figure (issue 22, item 16).
    assert out.rstrip().endswith(f"figure saved to {out_png}")
    assert out_png.stat().st_size > 10_000


def test_demo_mnist1d_seeds_smoke(tmp_path, capsys):
    pytest.importorskip("mnist1d")
    out_png = tmp_path / "demo.png"
    rows = run_example("demo_mnist1d", ["--smoke", "--seeds", "0", "1", "--out", str(out_png)])
    out = capsys.readouterr().out
    # One figure, of the first seed.
    assert out.count("figure saved to") == 1 and out_png.stat().st_size > 10_000
    assert [row["seed"] for row in rows] == [0, 1]
    for row in rows:
        assert f"{row['dense_acc']:.4f} | {row['ticket_acc']:.4f}" in out
        assert row["ticket_weights"] <= row["dense_weights"]
    assert "**mean ± std (2 seeds)**" in out


def test_calibration_baselines_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "rel.png"
    run_example("plot_calibration_baselines", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| dense") or "ticket" in line]
    assert len(rows) == 9
    assert out_png.stat().st_size > 10_000


# -- one script per claim of Arora et al. (UAI 2023) ------------------------

def test_sparse_double_descent_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "dd.png"
    results = run_example("plot_sparse_double_descent", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    row = results.iloc[0]
    # The printed comparison is the returned one, and it is a real IMP path.
    assert f"{row.dense_train_acc:.4f}" in out and f"{row.ticket_test_acc:.4f}" in out
    assert "dense_train_acc" in out
    assert row.ticket_weights <= row.dense_weights
    assert row.gain == pytest.approx(row.ticket_test_acc - row.dense_test_acc)
    assert out_png.stat().st_size > 10_000


def test_width_convergence_smoke(tmp_path, capsys):
    pytest.importorskip("mnist1d")
    out_png = tmp_path / "width.png"
    results = run_example("plot_width_convergence", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    assert results.width.tolist() == [8, 64]
    assert results.dense_weights.tolist() == [40 * 8, 40 * 64]
    assert (results.ticket_weights <= results.dense_weights).all()
    for row in results.itertuples():
        assert f"{row.dense_weights:>6} -> ticket {row.ticket_weights:>5} weights" in out
    assert "spread" in out and out_png.stat().st_size > 10_000


def test_teacher_student_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "ts.png"
    results = run_example("plot_teacher_student", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    assert results.teacher_hidden.tolist() == [1, 16]
    assert (results.kl_dense > 0).all() and (results.kl_ticket > 0).all()
    for row in results.itertuples():
        assert (f"KL {row.kl_dense:.3f} (dense) -> {row.kl_ticket:.3f} (ticket)") in out
    assert out_png.stat().st_size > 10_000


def test_noise_width_grid_smoke(tmp_path, capsys):
    pytest.importorskip("mnist1d")
    out_png = tmp_path / "grid.png"
    table = run_example("plot_noise_width_grid",
                        ["--smoke", "--n-jobs", "1", "--out", str(out_png)])
    out = capsys.readouterr().out
    # 4 noise levels x 2 widths, dense and ticket side by side, from cv_results_.
    assert len(table) == 8
    assert sorted(set(table.label_noise)) == [0.0, 0.1, 0.2, 0.4]
    assert (table.dense_weights == 40 * table.width).all()
    assert (table.ticket_weights <= table.dense_weights).all()
    assert table[["dense_ece", "ticket_ece"]].gt(0).all().all()
    assert "16 candidates x 2 folds" in out and out_png.stat().st_size > 10_000


# -- the default runs reproduce the paper's effects (minutes each) ----------

@pytest.mark.slow
def test_sparse_double_descent_effect(tmp_path):
    pytest.importorskip("matplotlib")
    results = run_example("plot_sparse_double_descent", ["--out", str(tmp_path / "dd.png")])
    row = results.iloc[0]
    # The claim needs a dense net that memorises much of the noise, not a
    # given digit of it. 20% symmetric noise over 10 classes leaves 82% of the
    # training labels right, so train accuracy above 0.9 means it also fits
    # more than 40% of the wrong ones. Machines differ here: the dense net
    # reached 0.97 on one and 0.936 on another, with the gain intact, as
    # constant-rate SGD at lr 0.1 sits at the edge of stability
    # (docs/results.md); the default recipe stays as the figures ran it.
    assert row.dense_train_acc > 0.9
    assert row.gain > 0.02             # and the chosen ticket beats it on clean labels
    assert row.ticket_weights < 0.1 * row.dense_weights


@pytest.mark.slow
def test_width_convergence_effect(tmp_path):
    pytest.importorskip("mnist1d")
    results = run_example("plot_width_convergence", ["--out", str(tmp_path / "w.png")])
    dense, ticket = results.dense_weights, results.ticket_weights
    assert dense.max() / dense.min() >= 100
    assert ticket.max() / ticket.min() <= 4


@pytest.mark.slow
def test_teacher_student_effect(tmp_path):
    results = run_example("plot_teacher_student", ["--out", str(tmp_path / "ts.png")])
    assert (results.kl_ticket < 0.5 * results.kl_dense).all()
    assert (results.kl_clean_ticket < results.kl_clean_dense).all()
    size = results.groupby("teacher_hidden").ticket_weights.mean()
    assert size.iloc[-1] > 2 * size.iloc[0]  # harder teacher, bigger ticket


@pytest.mark.slow
def test_noise_width_grid_effect(tmp_path):
    pytest.importorskip("mnist1d")
    table = run_example("plot_noise_width_grid", ["--out", str(tmp_path / "g.png")])
    # Nets wide enough to memorise the noise (h >= 128); the 32-wide dense net
    # has too few weights to memorise 20% noise and is no more overconfident.
    noisy = table[(table.label_noise > 0) & (table.width >= 128)]
    assert len(noisy) == 6
    assert (noisy.ticket_ece < noisy.dense_ece).all()


@pytest.mark.parametrize("setting", ["fashion2k", "demo", "sdd", "teacher", "cnn"])
def test_controls_smoke(setting, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    if setting == "demo":
        pytest.importorskip("mnist1d")
    out_png = tmp_path / "controls.png"
    results = run_example("plot_controls", ["--setting", setting, "--smoke",
                                            "--out", str(out_png)])
    out = capsys.readouterr().out
    methods = ["imp", "random", "reinit", "lr_rewind", "early_stopping", "small_dense"]
    assert list(dict.fromkeys(results.method)) == methods
    # Matched densities: every pruning method removes the same weights per level.
    pruned = results[results.method.isin(methods[:4])]
    n_params = pruned.pivot_table(index="level", columns="method", values="n_params")
    assert (n_params.nunique(axis=1) == 1).all()
    # One chosen row per method, and the printed tables quote them.
    assert results.groupby("method").chosen.sum().eq(1).all()
    chosen = results[results.chosen == 1].set_index("method")
    for method in methods:
        assert f"{chosen.test_accuracy[method]:.3f} ± 0.000" in out
    assert "IMP minus" in out and ("kl" in results) == (setting == "teacher")
    assert out_png.stat().st_size > 10_000
    assert (tmp_path / "controls.csv").is_file()


def test_controls_resume_keeps_the_finished_jobs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    argv = ["--setting", "teacher", "--smoke", "--out", str(tmp_path / "c.png")]
    first = run_example("plot_controls", [*argv, "--methods", "imp", "early_stopping"])
    assert set(first.method) == {"imp", "early_stopping"}
    resumed = run_example("plot_controls", [*argv, "--resume"])
    assert "resuming from" in capsys.readouterr().out
    assert list(dict.fromkeys(resumed.method)) == ["imp", "random", "reinit", "lr_rewind",
                                                  "early_stopping", "small_dense"]
    kept = resumed[resumed.method.isin(["imp", "early_stopping"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept.drop(columns="fit_time"), first.drop(columns="fit_time"),
                                  check_dtype=False)
    # early_stopping was finished, so it was read back, not fitted again.
    early = resumed.method == "early_stopping"
    assert resumed.fit_time[early].tolist() == pytest.approx(
        first.fit_time[first.method == "early_stopping"].tolist(), rel=1e-12)
    replotted = run_example("plot_controls", [*argv, "--from-csv"])
    assert replotted.test_accuracy.tolist() == resumed.test_accuracy.tolist()


def test_cifar10_resnet20_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "cifar.png"
    table = run_example("cifar10_resnet20", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    row = table.iloc[0]
    assert row.width == 4 and row.ticket_weights <= row.dense_weights
    assert "dense net vs chosen ticket" in out and out_png.stat().st_size > 5_000


def test_cifar10_resnet20_cost_smoke(capsys):
    table = run_example("cifar10_resnet20", ["--cost", "--smoke"])
    row = table.iloc[0]
    assert row.min_per_level * 60 > 160 * row.s_per_epoch
    assert row.h_per_run == pytest.approx(21 * row.min_per_level / 60)
    assert "extrapolated" in capsys.readouterr().out


def test_cnn_fashion_mnist_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "cnn.png"
    results = run_example("plot_cnn_fashion_mnist", ["--smoke", "--out", str(out_png)])
    out = capsys.readouterr().out
    assert results.seed.tolist() == [0]
    row = results.iloc[0]
    # The printed comparison is the returned one, from a real IMP path of a ConvNet.
    assert "dense net vs chosen ticket" in out and "dense_train_acc" in out
    for value in (row.dense_train_acc, row.dense_test_acc, row.dense_ece, row.dense_nll,
                  row.ticket_test_acc, row.ticket_ece, row.ticket_nll):
        assert f"{value:.4f}" in out
    assert f"ticket = level {int(row.ticket_level)}" in out
    assert row.ticket_weights <= row.dense_weights
    assert (row.ticket_level == 0) == (row.ticket_weights == row.dense_weights)
    assert row.gain == pytest.approx(row.ticket_test_acc - row.dense_test_acc)
    assert 0 < row.dense_ece < 1 and row.dense_nll > 0 and row.ticket_nll > 0
    assert out_png.stat().st_size > 10_000


def test_early_stopped_tickets_smoke(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.syspath_prepend(str(EXAMPLES))  # it reuses plot_controls' tables
    base = ["--setting", "teacher", "--smoke", "--seeds", "0", "--early-stopping"]
    full = run_example("plot_controls", [
        *base, "--methods", "imp", "imp_last_epoch", "early_stopping",
        "--out", str(tmp_path / "early_stopped_tickets_teacher.png")])
    # One IMP fit gives the three answers: the baseline is its level 0.
    level0 = full[(full.method == "imp") & (full.level == 0)]
    early = full[full.method == "early_stopping"]
    assert early.test_accuracy.tolist() == level0.test_accuracy.tolist()
    run_example("plot_controls", [*base, "--n-iter-no-change", "5", "--methods", "imp",
                                  "early_stopping",
                                  "--out", str(tmp_path / "early_stopped_tickets_teacher_n5.png")])
    capsys.readouterr()
    run_example("early_stopped_tickets", ["--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "## teacher: seeds [0]" in out
    for answer in ("IMP, last epoch", "dense, stopped early", "IMP, early-stopped"):
        assert answer in out
    assert "n_iter_no_change=5 trains" in out and "default rule:" in out
    assert "early_stopping default by the rule, over 1 runs at 20% noise" in out


def test_early_stopped_tickets_masks_smoke(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    table = run_example("early_stopped_tickets", ["--masks", "teacher", "--smoke"])
    out = capsys.readouterr().out
    assert table["level"].tolist() == [0, 1, 2]
    # Level 0 is dense either way; the masks of later levels are compared.
    assert table["shared"].iloc[0] == "1.000"
    assert "n_iter_no_change=5: chosen level" in out


def test_calibrated_tickets_smoke(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    pytest.importorskip("cleanlab")
    monkeypatch.syspath_prepend(str(EXAMPLES))  # it reuses plot_controls' settings
    argv = ["--smoke", "--out-dir", str(tmp_path), "--cache", str(tmp_path / "cache")]
    rows = run_example("calibrated_tickets", ["--setting", "teacher", "--figure", *argv])
    # The noise-aware temperature never changes a prediction.
    for answer in ("last_epoch", "dense_early", "early_stopped"):
        accuracy = rows[rows.answer == answer].groupby("calibration").accuracy.first()
        assert accuracy["none"] == accuracy["noise_aware"]
    assert (tmp_path / "calibrated_tickets_teacher_reliability.png").stat().st_size > 10_000
    again = run_example("calibrated_tickets", ["--setting", "teacher", *argv])
    pd.testing.assert_frame_equal(again, rows)  # scored again from the checkpoints
    capsys.readouterr()
    verdicts = run_example("calibrated_tickets", ["--summary", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "## At a glance" in out and "part 3: early_stopping=True" in out
    assert verdicts.run.tolist() == ["teacher"]
