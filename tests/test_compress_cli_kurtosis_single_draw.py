"""``experiments.compression.single_draw_point`` (single-draw agreement vs width, issue 5).

Every reported metric is recomputed here from the same draws (same PRNG keys) with
independent code: numpy ``eigvalsh`` instead of LAPACK syevd / Lanczos, and
``scipy.stats.wasserstein_distance`` instead of ``ntkcomp.spectral.wasserstein1``.
Tiny sizes (n = 48, p = 24, width 32, depth 2): ~10 s.
"""
import jax
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

N, P, D, DEPTH, SEED = 48, 24, 32, 2, 3


@pytest.fixture(scope="module")
def point():
    from experiments.compression import single_draw_point

    return single_draw_point("relu", width=D, n=N, p=P, depth=DEPTH, eps_grid=(0.0, 0.9),
                             seed=SEED, k_max=3)


def _opn(M):
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (M + M.T)))))


def test_single_draw_metrics_match_an_independent_recomputation(point):
    from experiments.compression import design_activations
    from ntkcomp.compress import assess
    from ntkcomp.data import gmm_preset
    from ntkcomp.kernels import conjugate_kernels, empirical_ntk
    from ntkcomp.networks import MLP, weight_law

    sample = gmm_preset("mixed", P).sample(jax.random.PRNGKey(SEED), N)
    X, tau0 = np.asarray(sample.X), float(sample.stats.tau0)
    dense = MLP([D] * DEPTH, "relu", tau0=tau0)
    pd = dense.init(jax.random.PRNGKey(SEED + 1000 + D), P)
    CKd = np.asarray(conjugate_kernels(dense, pd, X)[-1])
    NTKd = np.asarray(empirical_ntk(dense, pd, X))
    p2 = dense.init(jax.random.PRNGKey(SEED + 5000 + D), P)
    CK2 = np.asarray(conjugate_kernels(dense, p2, X)[-1])
    ed, e2 = np.linalg.eigvalsh(CKd), np.linalg.eigvalsh(CK2)
    # float64 throughout; the eigenvalue routines differ (syevd / Lanczos vs numpy's),
    # which moves the numbers by ~1e-14 relative: rtol 1e-9
    assert point["null_ck_op_rel"] == pytest.approx(_opn(CK2 - CKd) / _opn(CKd), rel=1e-9)
    assert point["null_ck_w1_rel"] == pytest.approx(
        wasserstein_distance(e2, ed) / np.mean(ed), rel=1e-9)
    assert point["ck_dense_norm"] == pytest.approx(_opn(CKd), rel=1e-9)
    assert point["ntk_dense_norm"] == pytest.approx(_opn(NTKd), rel=1e-9)

    # the designs single_draw_point used (same arguments: served by the same cache)
    designs = {kind: design_activations("relu", DEPTH, tau0, kind, "ternary", 3, SEED)[0]
               for kind in ("ck", "ntk")}
    for row in point["rows"]:
        law = weight_law("sparse_ternary", eps=row["eps"])
        for kind, Kd in (("ck", CKd), ("ntk", NTKd)):
            comp = MLP([D] * DEPTH, designs[kind], weights=law, tau0=tau0)
            delta = assess(dense, comp, tau0, target=kind).identity_shift
            pc = comp.init(jax.random.PRNGKey(SEED + 2000 + D), P)
            Kc = np.asarray(conjugate_kernels(comp, pc, X)[-1])
            # the compressed network's activations are piecewise constant: its autodiff NTK
            # is CK_L, which single_draw_point uses for the NTK comparison
            if kind == "ntk":
                np.testing.assert_allclose(np.asarray(empirical_ntk(comp, pc, X)), Kc,
                                           rtol=0, atol=1e-12 * _opn(Kc))
            assert row[f"{kind}_identity_shift"] == pytest.approx(delta, rel=1e-12)
            assert row[f"{kind}_op_rel"] == pytest.approx(
                _opn(Kc - delta * np.eye(N) - Kd) / _opn(Kd), rel=1e-9)
            ek = np.linalg.eigvalsh(Kd)
            assert row[f"{kind}_w1_rel"] == pytest.approx(
                wasserstein_distance(np.linalg.eigvalsh(Kc) - delta, ek) / np.mean(ek),
                rel=1e-9)
        assert np.isfinite(row["ck_w1_rel_predicted"]) and row["ck_w1_rel_predicted"] > 0


def test_single_draw_table_lists_every_row(point):
    from experiments.compression import single_draw_table

    text = single_draw_table([point])
    lines = [ln for ln in text.splitlines() if ln.startswith("| relu")]
    assert len(lines) == 2
    assert f"**{point['rows'][1]['ck_w1_rel']:.3f}**" in lines[1]


def test_single_draw_point_rejects_bad_width():
    from experiments.compression import single_draw_point

    with pytest.raises(ValueError, match="width"):
        single_draw_point("relu", width=0, n=16)


def test_predicted_single_draw_equals_the_prediction_of_single_draw_point(point):
    """Same equivalents, same G (same keys): the large-width prediction routine reproduces
    single_draw_point's own prediction to rounding (rtol 1e-10)."""
    from experiments.compression import predicted_single_draw

    pr = predicted_single_draw("relu", [D], n=N, p=P, depth=DEPTH, eps_grid=(0.0, 0.9),
                               seed=SEED, k_max=3)
    for a, b in zip(pr["rows"], point["rows"]):
        assert a["ck_w1_rel_predicted"] == pytest.approx(b["ck_w1_rel_predicted"], rel=1e-10)


def test_single_draw_point_compounded_law_equals_predicted_single_draw(point):
    """``law="both"``: the measured keys are those of the default (one-layer) call, the
    one-layer prediction is unchanged, and the compounded prediction equals
    ``predicted_single_draw(law="compounded")`` (same data, design and keys: rtol 1e-10);
    the table gets the compounded column."""
    from experiments.compression import (
        predicted_single_draw,
        single_draw_point,
        single_draw_table,
    )

    both = single_draw_point("relu", width=D, n=N, p=P, depth=DEPTH, eps_grid=(0.0, 0.9),
                             seed=SEED, k_max=3, law="both")
    pr = predicted_single_draw("relu", [D], n=N, p=P, depth=DEPTH, eps_grid=(0.0, 0.9),
                               seed=SEED, k_max=3, law="compounded")
    for a, b, c in zip(both["rows"], point["rows"], pr["rows"]):
        assert a["ck_w1_rel"] == pytest.approx(b["ck_w1_rel"], rel=1e-10)
        assert a["ck_w1_rel_predicted"] == pytest.approx(b["ck_w1_rel_predicted"], rel=1e-10)
        assert a["ck_w1_rel_predicted_compounded"] == pytest.approx(
            c["ck_w1_rel_predicted_compounded"], rel=1e-10)
    assert both["null_ck_w1_rel_predicted_compounded"] >= 0
    assert "compounded law" in single_draw_table([both])
    assert "compounded law" not in single_draw_table([point])
    with pytest.raises(ValueError, match="law"):
        single_draw_point("relu", width=D, n=N, p=P, depth=DEPTH, law="x")
