"""The accuracy protocol at equal memory (experiments.accuracy): memory matching, readouts,
summaries, the GMM-gap kernel ridge and the generated write-up."""
from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from experiments.accuracy import gmm_gap, report, sweep


@pytest.mark.parametrize("eps", [0.5, 0.9, 0.99])
def test_pruned_bits_formula_and_inverse(eps):
    h = -(eps * math.log2(eps) + (1 - eps) * math.log2(1 - eps))
    assert sweep.pruned_bits_per_weight(eps) == pytest.approx(h + 32 * (1 - eps), rel=1e-14)
    target = sweep.pruned_bits_per_weight(eps)
    assert sweep.pruning_eps_for_bits(target) == pytest.approx(eps, abs=1e-8)


def test_pruning_eps_for_bits_is_monotone_and_bounded():
    eps = [sweep.pruning_eps_for_bits(b) for b in (1.5, 0.5, 0.1)]
    assert eps == sorted(eps) and all(0.5 <= e < 1 for e in eps)
    assert sweep.pruning_eps_for_bits(100.0) == 0.5


@pytest.fixture(scope="module")
def tiny_run():
    from experiments.harness.pipeline import load_data
    from ntkcomp.networks import MLP

    data = load_data("mixed", 60, 20, K=2, seed=0, n_test=40)
    tau0 = float(data.train.stats.tau0)
    dense = MLP([32, 32], ["relu", "relu"], "gaussian", tau0=tau0)
    res = sweep.design(dense, tau0)
    split = (data.train.X, data.train.labels, data.test.X, data.test.labels, 2)
    rows = sweep.one_seed(dense, res, split, [0.5, 0.9], 0, steps=20, log=lambda m: None)
    return dense, res, rows


def test_one_seed_equal_memory(tiny_run):
    from ntkcomp.compress import build
    from ntkcomp.compress.packing import memory_report

    dense, res, rows = tiny_run
    n_w = 20 * 32 + 32 * 32
    d = [r for r in rows if r["method"] == "dense"]
    assert {r["bits"] for r in d} == {32 * n_w}
    for eps in (0.5, 0.9):
        by = {r["method"]: r for r in rows if r["eps"] == eps and r["readout"] == "ridge"}
        # NTK-LC bits: an independent packing of the same draw (key folded as in one_seed)
        comp = build(dense, res.design, eps)
        kc = jax.random.fold_in(jax.random.split(jax.random.PRNGKey(0), 3)[1],
                                [0.5, 0.9].index(eps))
        rep = memory_report(comp, 20, params=comp.init(kc, 20), key=kc)
        assert by["ntk_lc"]["bits"] == rep["packed_bits"] - 32 * 32
        assert by["ntk_lc"]["paper_bits"] == pytest.approx(n_w * (1 - eps), rel=1e-2)
        # the baselines take the same bits (rounding per layer only)
        assert abs(by["magnitude"]["bits"] - by["ntk_lc"]["bits"]) <= 3
        assert by["random"]["bits"] == by["magnitude"]["bits"]
        assert by["magnitude"]["eps_used"] > eps
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in rows)
    assert {r["readout"] for r in rows} == {"adam", "ridge"}


def test_summarise_matches_numpy():
    rows = [{"method": "ntk_lc", "eps": 0.9, "readout": "adam", "bits": b, "paper_bits": 1.0,
             "bits_per_weight": 0.5, "eps_used": 0.9, "test_acc": a}
            for a, b in ((0.7, 10), (0.8, 12), (0.95, 14))]
    (s,) = sweep.summarise(rows)
    assert s["acc_mean"] == pytest.approx(np.mean([0.7, 0.8, 0.95]), rel=1e-15)
    assert s["acc_std"] == pytest.approx(np.std([0.7, 0.8, 0.95], ddof=1), rel=1e-15)
    assert s["bits"] == 12 and s["n_seeds"] == 3


def test_validated_ridge_uses_training_rows_only():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(80, 10))
    y = (H[:, 0] > 0).astype(int)
    lam, model = sweep.validated_ridge(H, y, 2, seed=0)
    assert lam in sweep.RIDGE_GRID
    # refitted on all training rows: identical to a direct fit at the chosen penalty
    from ntkcomp.train import ridge_fit

    direct = ridge_fit(H, jax.nn.one_hot(y, 2) - 0.5, lam)
    np.testing.assert_allclose(np.asarray(model.W), np.asarray(direct.W), rtol=1e-6)


def test_kernel_ridge_matches_primal_ridge():
    """Dual kernel ridge with K = X X^T equals the primal ridge (X^T X + lam I)^-1 X^T t
    (push-through identity)."""
    rng = np.random.default_rng(1)
    X, Xt = rng.normal(size=(50, 8)), rng.normal(size=(30, 8))
    y = (X[:, 0] + 0.3 * rng.normal(size=50) > 0).astype(int)
    yt = (Xt[:, 0] > 0).astype(int)
    lam = 0.3
    t = 2.0 * y - 1.0
    w = np.linalg.solve(X.T @ X + lam * np.eye(8), X.T @ (t - t.mean()))
    acc_primal = np.mean(((Xt @ w + t.mean()) > 0) == (yt == 1))
    assert gmm_gap.kernel_ridge_accuracy(X @ X.T, Xt @ X.T, y, yt, lam) == acc_primal


def test_report_renders_numbers(tmp_path):
    row = {"method": "dense", "eps": 0.0, "readout": "adam", "n_seeds": 2, "bits": 3200.0,
           "paper_bits": 3200.0, "bits_per_weight": 32.0, "eps_used": 0.0, "acc_mean": 0.8766,
           "acc_std": 0.0123}
    res = {"config": {"widths": [8], "eps": [0.9], "seeds": 2},
           "tasks": {"t": {"summary": [row, {**row, "readout": "ridge", "acc_mean": 0.5}]}}}
    (tmp_path / "mnist.json").write_text(json.dumps(res))
    text = report.render(tmp_path)
    assert "0.877 ± 0.012" in text and "| dense float32 | 0 |" in text


def test_dispatch(tmp_path, capsys):
    from experiments.accuracy.__main__ import main

    assert main([]) == 2 and "usage" in capsys.readouterr().err
    assert main(["report", "--results", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text().startswith("# Accuracy against memory")
