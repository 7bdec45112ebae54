"""``report.json`` headline numbers of ``ntkcomp compress`` (issue 5: ``ck_rel_diff`` and
``ntk_rel_diff`` *after removing the reported identity shift*), recomputed independently
from the exact weight-averaged kernels and numpy's operator norm."""
from __future__ import annotations

import numpy as np
import pytest

import ntkcomp


@pytest.fixture(scope="module")
def tiny():
    ntkcomp.enable_x64()
    from experiments.compression import spectral_report
    from ntkcomp.compress import compress
    from experiments.harness.pipeline import dense_network, load_data

    sample = load_data("mixed", 40, 24, seed=3).train
    tau0 = float(sample.stats.tau0)
    dense = dense_network([32, 16], ["relu", "relu"], tau0)
    with pytest.warns(RuntimeWarning, match="identity shift"):   # ReLU last layer: reported
        res = compress(dense, tau0, eps=0.5, family="ternary")
    rep = spectral_report(dense, res.compressed, sample, coefficients=res.coefficients,
                          single_draw=False, figure=False)
    return sample, dense, res, rep.to_json()


def test_headline_is_the_shift_removed_weight_averaged_difference(tiny):
    from experiments.harness.compression import headline_rel_diffs
    from ntkcomp.kernels import expected_kernels

    sample, dense, res, rj = tiny
    h = headline_rel_diffs(rj)
    X = np.asarray(sample.X)
    Ed, Ec = expected_kernels(dense, X), expected_kernels(res.compressed, X)
    n = X.shape[0]
    for kind, Kd, Kc, delta in (
            ("ck", Ed["ck"][-1], Ec["ck"][-1], res.coefficients.delta_ck[-1]),
            ("ntk", Ed["ntk"], Ec["ntk"], res.coefficients.delta_ntk)):
        Kd, Kc = np.asarray(Kd), np.asarray(Kc)
        norm = np.linalg.norm(Kd, 2)
        # float64 kernels: both sides are the same matrices, up to eigen-solver rounding
        assert h[f"{kind}_rel_diff"] == pytest.approx(
            np.linalg.norm(Kc - delta * np.eye(n) - Kd, 2) / norm, rel=1e-8, abs=1e-12)
        assert h[f"{kind}_rel_diff_raw"] == pytest.approx(
            np.linalg.norm(Kc - Kd, 2) / norm, rel=1e-8, abs=1e-12)
        assert h[f"{kind}_rel_diff_source"] == "exact"
        assert f"{kind}_rel_diff_kurtosis" in h and f"{kind}_rel_diff_exact_kurtosis" in h
    # the identity shift is real here (ReLU last layer, ternary family): removing it changes
    # the CK number, so the test tells the two definitions apart
    assert abs(res.coefficients.delta_ck[-1]) > 1e-6
    assert h["ck_rel_diff"] != pytest.approx(h["ck_rel_diff_raw"], rel=1e-3)


def test_assess_kernel_differences_equal_the_report_headline(tiny):
    """The core's ``assess(..., X=...)`` computes the same exact E_W kernel differences as
    the lab's spectral report (different code paths: rel 1e-8, eigen-solver rounding)."""
    from experiments.harness.compression import headline_rel_diffs
    from ntkcomp.compress import assess

    sample, dense, res, rj = tiny
    h = headline_rel_diffs(rj)
    k = assess(dense, res.compressed, res.tau0, target="ck", X=np.asarray(sample.X)).kernels
    for name in ("ck_rel_diff", "ntk_rel_diff", "ck_rel_diff_raw", "ntk_rel_diff_raw"):
        assert getattr(k, name) == pytest.approx(h[name], rel=1e-8, abs=1e-12)


def test_headline_without_exact_kernels_uses_the_equivalents(tiny):
    from experiments.harness.compression import headline_rel_diffs

    _, _, _, rj = tiny
    rj = {k: v for k, v in rj.items() if k not in ("exact", "exact_kurtosis_corrected")}
    h = headline_rel_diffs(rj)
    L = rj["depth"]
    assert h["ck_rel_diff_source"] == "equivalent"
    assert h["ck_rel_diff"] == rj["equivalent"][f"ck_{L}"]["rel_op_diff_shift_removed"]
    assert h["ntk_rel_diff_raw"] == rj["equivalent"]["ntk"]["rel_op_diff"]
    assert "ck_rel_diff_exact_kurtosis" not in h
