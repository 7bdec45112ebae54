"""`ntkcomp compress` carries the layer-1 weight-kurtosis prediction (THEORY section 7).

The CLI passes its data sample to ``compress(..., data=sample)``; report.json gets
``kurtosis_predicted_loss`` (+ per layer) and, with ``--kurtosis-tol T``, the eps_1 that the
closed-form interval of :mod:`ntkcomp.compress._kurtosis` predicts. Tiny sizes
(n = 128, widths 32/32/16, ``--no-report``): the kurtosis part needs no spectral report.
"""
import json

import numpy as np
import pytest

from experiments.cli import main

N, P, WIDTHS = 128, 64, "32,32,16"


def _cli(capsys, out, *extra):
    code = main(["compress", "--n", str(N), "--p", str(P), "--widths", WIDTHS,
                 "--activations", "relu", "--no-report", "--no-progress", "--seed", "0",
                 "--out", str(out), *extra])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    return json.loads((out / "report.json").read_text()), cap.out


@pytest.fixture(scope="module")
def sample_and_dense():
    from experiments.harness.pipeline import dense_network, load_data

    sample = load_data("mixed", N, P, K=2, seed=0).train
    dense = dense_network([32, 32, 16], ["relu"] * 3, float(sample.stats.tau0))
    return sample, dense


def test_report_has_the_predicted_loss_of_compress_with_data(capsys, tmp_path,
                                                             sample_and_dense):
    rep, stdout = _cli(capsys, tmp_path / "a", "--eps", "0.9")
    # the existing keys are still there
    for key in ("memory_factor", "layers", "identity_shift"):
        assert key in rep
    loss = rep["kurtosis_predicted_loss"]
    assert loss is not None and np.isfinite(loss) and loss > 0
    assert rep["kurtosis_predicted_loss_per_layer"] == [loss, 0.0, 0.0]
    assert rep["eps_used"] == [0.9, 0.9, 0.9] and rep["eps1_chosen"] is None
    assert rep["kurtosis_tol"] is None
    assert "weight-kurtosis loss" in stdout

    # 1) the same number as the API called directly with the same sample (same code path:
    #    equality to rounding, rtol 1e-12)
    from ntkcomp.compress import compress

    sample, dense = sample_and_dense
    with pytest.warns(RuntimeWarning, match="weight kurtosis"):  # the API warns as the CLI
        res = compress(dense, float(sample.stats.tau0), eps=0.9, family="ternary",
                       data=sample)
    assert loss == pytest.approx(res.kurtosis.predicted_loss, rel=1e-12)

    # 2) independent second implementation: the dense n x n difference of the compressed
    #    CK_3 equivalent with and without its kurtosis term, over the dense equivalent's
    #    norm (full eigendecompositions instead of the K x K block + Lanczos of
    #    ntkcomp.compress.kurtosis). Both are exact float64 linear algebra; the Lanczos tol
    #    is 1e-10, so rtol 1e-8 leaves room for rounding only.
    from ntkcomp.equivalents import ck_equivalent

    Kc_k = np.asarray(ck_equivalent(res.compressed, sample, kurtosis=True))
    Kc = np.asarray(ck_equivalent(res.compressed, sample, kurtosis=False))
    Kd = np.asarray(ck_equivalent(dense, sample))
    ref = (np.max(np.abs(np.linalg.eigvalsh(Kc_k - Kc)))
           / np.max(np.abs(np.linalg.eigvalsh(Kd))))
    assert loss == pytest.approx(ref, rel=1e-8)


def test_kurtosis_tol_moves_eps1_to_the_closed_form_interval_end(capsys, tmp_path):
    """loss(eps_1) = g |kappa4(eps_1)|, kappa4 = 1/(1-eps) - 3 (7 at eps = 0.9).

    With T = loss(0.9) / 2 the largest admissible eps_1 solves kappa4 = 3.5:
    eps_1 = 1 - 1/6.5, whatever g is. With eps = 0 (kappa4 = -2, too dense) and
    T = loss(0.9) / 7 = g the smallest admissible eps_1 solves kappa4 = -1: eps_1 = 1/2.
    eps_interval rounds inwards by a few ulps, hence abs 1e-12 on eps."""
    base, _ = _cli(capsys, tmp_path / "base", "--eps", "0.9")
    loss9 = base["kurtosis_predicted_loss"]
    g = base["kurtosis"]["loss_per_unit_kappa4"]
    assert loss9 == pytest.approx(7.0 * g, rel=1e-12)

    T = loss9 / 2
    rep, stdout = _cli(capsys, tmp_path / "hi", "--eps", "0.9", "--kurtosis-tol", repr(T))
    assert rep["eps1_chosen"] == pytest.approx(1 - 1 / 6.5, abs=1e-12)
    assert rep["eps_used"][0] == rep["eps1_chosen"] and rep["eps_used"][1:] == [0.9, 0.9]
    assert rep["eps_requested"] == [0.9, 0.9, 0.9]
    assert rep["layers"][0]["eps"] == rep["eps1_chosen"]          # the network uses it
    assert rep["kurtosis_predicted_loss"] == pytest.approx(T, rel=1e-9)
    assert rep["kurtosis_predicted_loss"] <= T
    assert rep["kurtosis_predicted_loss_at_requested_eps1"] == pytest.approx(loss9, rel=1e-12)
    assert rep["kurtosis_tol"] == T
    assert "moved eps_1" in stdout
    # sparser layers 2-3 unchanged, layer 1 denser: memory factor between eps 0 and 0.9 runs
    assert rep["memory_factor"] < base["memory_factor"]

    rep0, _ = _cli(capsys, tmp_path / "lo", "--eps", "0", "--kurtosis-tol", repr(g))
    assert rep0["eps1_chosen"] == pytest.approx(0.5, abs=1e-12)
    assert rep0["eps_used"][1:] == [0.0, 0.0]
    assert rep0["kurtosis_predicted_loss"] == pytest.approx(g, rel=1e-9)


@pytest.mark.parametrize("bad", ["0", "-0.1", "nan", "inf"])
def test_bad_kurtosis_tol_is_one_line_exit_2(capsys, tmp_path, bad):
    out = tmp_path / "o"
    code = main(["compress", "--kurtosis-tol", bad, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().startswith("ntkcomp: error: ") and len(err.strip().splitlines()) == 1
    assert "kurtosis-tol" in err or "kurtosis_tol" in err     # names the option
    assert not out.exists()


def test_help_teaches_kurtosis_tol(capsys):
    try:
        code = main(["compress", "--help"])
    except SystemExit as e:          # argparse's own exit, if main lets it through
        code = e.code
    assert code == 0
    text = capsys.readouterr().out
    assert "--kurtosis-tol" in text and "kappa4" in text


def test_kurtosis_model_realised_end_to_end(capsys, tmp_path, sample_and_dense):
    """--kurtosis-model realised: report.json's prediction is the realised one (checked
    against the dense n x n realised equivalents at the chosen eps_1, a second
    implementation), --kurtosis-tol uses it, and the spectral report's kurtosis-corrected
    comparison uses the same term."""
    from ntkcomp.equivalents import ck_equivalent
    from ntkcomp.networks import MLP, weight_law

    T = 0.02
    rep, stdout = _cli(capsys, tmp_path / "r", "--eps", "0.9", "--kurtosis-tol", repr(T),
                       "--kurtosis-model", "realised")
    assert rep["kurtosis"]["model"] == "realised"
    assert "realised moments" in stdout
    e1 = rep["eps_used"][0]
    assert 2 / 3 < e1 < 0.9 and rep["eps1_chosen"] == e1
    assert rep["kurtosis_predicted_loss"] <= T

    sample, dense = sample_and_dense
    from ntkcomp.compress import compress
    with pytest.warns(RuntimeWarning):
        res = compress(dense, float(sample.stats.tau0), eps=[e1, 0.9, 0.9], family="ternary")
    comp = res.compressed
    nrm = lambda A: np.max(np.abs(np.linalg.eigvalsh(0.5 * (A + A.T))))
    D = (np.asarray(ck_equivalent(comp, sample, kurtosis="realised"))
         - np.asarray(ck_equivalent(comp, sample)))
    want = nrm(D) / nrm(np.asarray(ck_equivalent(dense, sample)))
    assert rep["kurtosis_predicted_loss"] == pytest.approx(want, rel=1e-8)
    # a slightly sparser layer 1 misses T (e1 is the interval's upper end)
    laws = [weight_law("sparse_ternary", eps=e1 + 1e-3)] + list(comp.weight_laws[1:])
    sparser = MLP(comp.widths, list(comp.activations), weights=laws, tau0=comp.tau0)
    D2 = (np.asarray(ck_equivalent(sparser, sample, kurtosis="realised"))
          - np.asarray(ck_equivalent(comp, sample)))
    assert nrm(D2) / nrm(np.asarray(ck_equivalent(dense, sample))) > T

    code = main(["compress", "--kurtosis-model", "edgeworth", "--out", str(tmp_path / "x"),
                 "--no-progress"])
    assert code == 2
    assert "kurtosis-model" in capsys.readouterr().err
