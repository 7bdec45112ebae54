"""Is the ReLU eps = 0.9 gap (ck_rel_diff_kurtosis = 0.149 at n = 512) real?

Independent Monte Carlo estimate of the weight-averaged CK_L of the COMPRESSED network
(ternary step activations designed by ``compress``) with sparse-ternary layer-1 weights,
at infinite width:

* layer 1: E over w (p,) i.i.d. sparse ternary (0 w.p. eps, +-1/sqrt(1-eps)) of
  (sigma_1(x_a.w) - m_1)(sigma_1(x_b.w) - m_1), by Monte Carlo over D columns (float32
  matmuls, float64 accumulation); the same with Gaussian w as a control;
* layers 2..L: exact Gaussian bivariate map (``ntkcomp.activations.bivariate``) -- at
  infinite width the layer-l pre-activations are Gaussian by the CLT over d_{l-1}, whatever
  the weight law; only layer 1 (sum over p fixed coordinates) sees the kurtosis.

Compared with: the exact E_W kernels (Gaussian limit) of dense and compressed, and the
kurtosis-corrected prediction (exact + equivalent kurtosis term, THEORY section 7; and with
``kurtosis="realised"``, the refinement of ``theory_checks/kurtosis_realised``).
Also the class-block means of (sparse - Gaussian) against the predicted kurtosis term
(projection onto span(J): Monte Carlo noise averages out there).

    nice -n 19 python experiments/results/compress_example/kurtosis_check/check.py --n 512
"""
import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
warnings.simplefilter("ignore")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import ntkcomp  # noqa: E402

ntkcomp.enable_x64()
from ntkcomp._io import atomic_write_json, run_metadata  # noqa: E402
from ntkcomp.activations import bivariate, moments  # noqa: E402
from ntkcomp.compress import compress  # noqa: E402
from ntkcomp.compress.report import _op_norm  # noqa: E402
from ntkcomp.data import gmm_preset  # noqa: E402
from ntkcomp.equivalents import ck_equivalent  # noqa: E402
from ntkcomp.kernels import expected_kernels  # noqa: E402
from ntkcomp.networks import MLP  # noqa: E402


def layer1_mc(act, m1, X, law, eps, D, chunk, rng):
    n, p = X.shape
    X32 = X.astype(np.float32)
    thr = np.asarray(act.thresholds(), np.float64)
    lev = np.asarray(act.levels(), np.float64)
    K = np.zeros((n, n))
    done = 0
    while done < D:
        c = min(chunk, D - done)
        if law == "gauss":
            W = rng.standard_normal((p, c), dtype=np.float32)
        else:
            W = (rng.random((p, c), dtype=np.float32) >= eps) * rng.choice(
                np.array([-1.0, 1.0], np.float32), size=(p, c)) / np.float32(np.sqrt(1 - eps))
        G = X32 @ W
        F = (lev[np.searchsorted(thr, G.astype(np.float64), side="left")] - m1)
        K += F @ F.T
        done += c
    return K / D


def propagate(net, K1):
    """Exact Gaussian bivariate map for layers 2..L (as in expected_kernels)."""
    C = jnp.asarray(K1)
    v = jnp.diag(C)
    n = C.shape[0]
    i = jnp.arange(n)
    for act, m in list(zip(net.activations, net.centers))[1:]:
        ck, _ = bivariate(act, v[:, None], v[None, :], C, center=m)
        mom = moments(act, jnp.sqrt(v))
        v = mom.var + (mom.mean - m) ** 2
        C = ck.at[i, i].set(v)
    return np.asarray(C)


def blocks(A, labels):
    ks = np.unique(labels)
    return np.array([[A[np.ix_(labels == a, labels == b)].mean() for b in ks] for a in ks])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--eps", type=float, default=0.9)
    ap.add_argument("--D", type=int, default=400_000)
    ap.add_argument("--chunk", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    n, p = a.n, a.n // 2
    t0 = time.time()
    sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(a.seed), n)
    X, labels = np.asarray(sample.X), np.asarray(sample.labels)
    tau0 = float(sample.stats.tau0)
    dense = MLP([n // 2, n // 2, n // 4], a.activation, tau0=tau0)
    res = compress(dense, tau0, eps=a.eps, family="ternary", k_max=4, seed=a.seed)
    comp = res.compressed
    delta = res.identity_shift
    Ed = np.asarray(expected_kernels(dense, X)["ck"][-1])
    Ec = np.asarray(expected_kernels(comp, X)["ck"][-1])
    Kc_eq = np.asarray(ck_equivalent(comp, sample))
    Kc_eq_k = np.asarray(ck_equivalent(comp, sample, kurtosis=True))
    kterm = Kc_eq_k - Kc_eq
    # kurtosis="realised" (session 13): realised sum_k x_ik^2 x_jk^2 + mean / variance shifts
    kterm_r = np.asarray(ck_equivalent(comp, sample, kurtosis="realised")) - Kc_eq
    act1, m1 = comp.activations[0], float(comp.centers[0])
    rng = np.random.default_rng(a.seed + 1)
    K1s = layer1_mc(act1, m1, X, "sparse", a.eps, a.D, a.chunk, rng)
    K1g = layer1_mc(act1, m1, X, "gauss", a.eps, a.D, a.chunk, rng)
    Ks, Kg = propagate(comp, K1s), propagate(comp, K1g)
    I = np.eye(n)
    nd = _op_norm(Ed)
    rel = lambda K: _op_norm(K - delta * I - Ed) / nd  # noqa: E731
    out = {
        "n": n, "p": p, "activation": a.activation, "eps": a.eps,
        "kappa4": 1 / (1 - a.eps) - 3, "D_layer1_columns": a.D, "identity_shift": delta,
        "rel_diff_exact_gaussian_limit": rel(Ec),
        "rel_diff_exact_plus_kurtosis_prediction": rel(Ec + kterm),
        "rel_diff_exact_plus_realised_kurtosis_prediction": rel(Ec + kterm_r),
        "rel_diff_mc_sparse_ternary": rel(Ks),
        "prediction_vs_mc_rel_op": _op_norm(Ec + kterm - Ks) / nd,
        "realised_prediction_vs_mc_rel_op": _op_norm(Ec + kterm_r - Ks) / nd,
        "rel_diff_mc_gaussian_control": rel(Kg),
        "mc_gaussian_vs_exact_rel_op": _op_norm(Kg - Ec) / nd,
        "kurtosis_term_rel_op_predicted": _op_norm(kterm) / nd,
        "sparse_minus_gauss_mc_rel_op": _op_norm(Ks - Kg) / nd,
        "class_blocks_sparse_minus_gauss_mc": blocks(Ks - Kg, labels).tolist(),
        "class_blocks_kurtosis_term_predicted": blocks(kterm, labels).tolist(),
        "class_blocks_realised_kurtosis_term_predicted": blocks(kterm_r, labels).tolist(),
        "seconds": time.time() - t0,
    }
    print(json.dumps(out, indent=1))
    here = Path(__file__).resolve().parent
    atomic_write_json(here / f"{a.activation}_eps{a.eps}_n{n}.json",
                      {**out, **run_metadata(vars(a), {"seed": a.seed})})


if __name__ == "__main__":
    main()
