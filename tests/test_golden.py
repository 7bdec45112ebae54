"""Golden outputs: the numbers the library produced at fixed seeds, kept across refactors.

The arrays in ``tests/data/golden_outputs.npz`` were computed through the public API by
:func:`compute_golden`. A refactor that does not change a computation must reproduce them
to rounding (relative 1e-12 of each array's largest entry: float64 reassociation of the same
sums, far below any modelling error the library reports), or to 1e-15 absolute for entries
that vanish by symmetry. A deliberate change of a
computation regenerates the file with::

    NTKCOMP_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py

and says why in the commit.
"""
from __future__ import annotations

import os
import pathlib
import warnings

import jax
import numpy as np
import ntkcomp
from ntkcomp import activations, data, equivalents, kernels, networks

GOLDEN = pathlib.Path(__file__).parent / "data" / "golden_outputs.npz"
RTOL = 1e-12
# Entries that are zero by symmetry (e.g. E[tanh''] = 0) come out at the rounding level of the
# O(1) quantities around them; a difference below ATOL is float64 rounding, not a change.
ATOL = 1e-15


def _nets(tau0: float):
    relu3 = networks.MLP([96, 80, 64], [activations.get("relu")] * 3, tau0=tau0)
    tanh2 = networks.MLP([72, 56], ["tanh", "erf"], tau0=tau0)
    return {"relu3": relu3, "tanh2": tanh2}


def compute_golden() -> dict[str, np.ndarray]:
    """Every golden array, keyed by a stable name."""
    out: dict[str, np.ndarray] = {}
    taus = np.array([0.3, 1.0, 2.5])
    for name in ["relu", "tanh", "erf", "abs", "sin", "gelu", "softplus"]:
        m = ntkcomp.moments(activations.get(name), taus)
        for field in m._fields:
            out[f"moments/{name}/{field}"] = np.asarray(getattr(m, field))
        ck, dd = activations.bivariate(activations.get(name), np.array([1.0, 0.7]),
                                       np.array([1.2, 0.9]), np.array([0.4, -0.2]),
                                       center=float(m.mean[1]))
        out[f"bivariate/{name}/ck"] = np.asarray(ck)
        out[f"bivariate/{name}/dd"] = np.asarray(dd)

    gmm = data.gmm_preset("mixed", 64, K=2)
    sample = gmm.sample(jax.random.PRNGKey(3), 120)
    out["sample/X"] = np.asarray(sample.X)
    out["sample/labels"] = np.asarray(sample.labels)
    for field in ["tau0", "t", "T", "J", "phi"]:
        out[f"sample/stats/{field}"] = np.asarray(getattr(sample.stats, field))

    tau0 = float(sample.stats.tau0)
    for key, net in _nets(tau0).items():
        params = net.init(jax.random.PRNGKey(7), 64)
        cks = kernels.conjugate_kernels(net, params, sample.X)
        for l, K in enumerate(cks):
            out[f"{key}/empirical_ck/{l + 1}"] = np.asarray(K)
        out[f"{key}/empirical_ntk"] = np.asarray(kernels.empirical_ntk(net, params, sample.X))
        out[f"{key}/apply"] = np.asarray(net.apply(params, sample.X))
        ex = kernels.expected_kernels(net, sample.X)
        for l, K in enumerate(ex["ck"]):
            out[f"{key}/expected_ck/{l + 1}"] = np.asarray(K)
        out[f"{key}/expected_ntk"] = np.asarray(ex["ntk"])
        out[f"{key}/ck_equivalent"] = np.asarray(equivalents.ck_equivalent(net, sample))
        out[f"{key}/ntk_equivalent"] = np.asarray(equivalents.ntk_equivalent(net, sample))

    relu = _nets(tau0)["relu3"]
    sparse = networks.MLP(relu.widths, relu.activations,
                          weights=networks.weight_law("sparse_ternary", eps=0.9), tau0=tau0)
    for mode in [True, "realised"]:
        tag = "theory" if mode is True else "realised"
        out[f"relu3_sparse/ck_equivalent/kurtosis_{tag}"] = np.asarray(
            equivalents.ck_equivalent(sparse, sample, kurtosis=mode))
        out[f"relu3_sparse/ntk_equivalent/kurtosis_{tag}"] = np.asarray(
            equivalents.ntk_equivalent(sparse, sample, kurtosis=mode))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for target in ["ck", "ntk"]:
            res = ntkcomp.compress.compress(relu, tau0=tau0, eps=0.9, family="ternary",
                                            target=target,
                                            solver=ntkcomp.compress.SolverOptions(n_starts=16))
            for l, s in enumerate(res.layers):
                act = s.activation()
                out[f"compress/{target}/layer{l + 1}/thresholds"] = np.asarray(act.thresholds())
                out[f"compress/{target}/layer{l + 1}/levels"] = np.asarray(act.levels())
            out[f"compress/{target}/identity_shift"] = np.asarray(res.identity_shift)
            out[f"compress/{target}/compressed_ntk_equivalent"] = np.asarray(
                equivalents.ntk_equivalent(res.compressed, sample))
    return out


def _compare(new: dict, old) -> list[str]:
    bad = []
    for k in old.files:
        if k not in new:
            bad.append(f"{k}: missing")
            continue
        a, b = np.asarray(new[k]), old[k]
        if a.shape != b.shape:
            bad.append(f"{k}: shape {a.shape} != {b.shape}")
            continue
        if not b.size:
            continue
        diff = float(np.max(np.abs(a - b)))
        err = diff / max(float(np.max(np.abs(b))), 1e-300)
        if not (err <= RTOL or diff <= ATOL):
            bad.append(f"{k}: relative difference {err:.3g}")
    return bad


def test_golden_outputs_unchanged():
    assert ntkcomp.x64_enabled(), "golden outputs are float64 (tests/conftest.py enables it)"
    new = compute_golden()
    if os.environ.get("NTKCOMP_REGENERATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        np.savez_compressed(GOLDEN, **new)
    old = np.load(GOLDEN)
    assert len(old.files) >= 100
    bad = _compare(new, old)
    assert not bad, "golden outputs changed:\n" + "\n".join(bad)
