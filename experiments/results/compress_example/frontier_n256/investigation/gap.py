"""Why is the measured single-draw frontier metric for tanh/erf 25-40 % above the RF-law
prediction (frontier.md)?  n = 256, p = 128, depth 3, eps = 0, "mixed" GMM, seeds 0..S-1.

w1_rel(dense draw, compressed draw) as in ``lossless_frontier``, for
  A  measured: all layers of width d (as in frontier.md), independent draws;
  B  measured, wide hidden layers (widths [H, H, d], H = 16384): removes the finite-width
     fluctuations of layers 1-2, keeps the last layer's;
  C  predicted, same G for both networks (what lossless_frontier does: seed + 7 for both);
  D  predicted, independent G for the two networks.
Hypotheses: (i) the prediction shares the Gaussian G between the two predicted spectra
(common random numbers) while the measured draws are independent -> D > C; (ii) the
prediction models only the last layer's randomness; hidden-layer noise adds -> A > B.

    nice -n 19 python experiments/results/compress_example/frontier_n256/investigation/gap.py
"""
import os, sys, warnings
from pathlib import Path
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parents[5]))
warnings.simplefilter("ignore")
import jax  # noqa: E402
import numpy as np  # noqa: E402
import ntkcomp  # noqa: E402
ntkcomp.enable_x64()
from ntkcomp._io import atomic_write_json, run_metadata  # noqa: E402
from ntkcomp.compress import compress  # noqa: E402
from ntkcomp.compress.core import coefficient_comparison  # noqa: E402
from ntkcomp.data import gmm_preset  # noqa: E402
from ntkcomp.equivalents import ck_equivalent  # noqa: E402
from ntkcomp.kernels import conjugate_kernels  # noqa: E402
from ntkcomp.networks import MLP, weight_law  # noqa: E402
from ntkcomp.spectral import random_features_spectrum, wasserstein1  # noqa: E402

n, p, d, H = 256, 128, int(os.environ.get("D", 2048)), 16384
S = int(os.environ.get("S", 3))
acts = sys.argv[1:] or ["tanh", "relu"]
sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(0), n)
X = np.asarray(sample.X)
tau0 = float(sample.stats.tau0)
out = {}
for act in acts:
    design = compress(MLP([d] * 3, act, tau0=tau0), tau0, eps=0.0, family="ternary", k_max=3)
    cacts = design.compressed.activations
    res = {k: [] for k in "ABCD"}
    for widths, key in (([d] * 3, "A"), ([H, H, d], "B")):
        dense = MLP(widths, act, tau0=tau0)
        comp = MLP(widths, cacts, weights=weight_law("sparse_ternary", eps=0.0), tau0=tau0)
        delta = coefficient_comparison(dense, comp, tau0)["delta_ck"][-1]
        for s in range(S):
            CKd = np.asarray(conjugate_kernels(dense, dense.init(jax.random.PRNGKey(1000 + s), p), X)[-1])
            CKc = np.asarray(conjugate_kernels(comp, comp.init(jax.random.PRNGKey(2000 + s), p), X)[-1])
            ed, ec = np.linalg.eigvalsh(CKd), np.linalg.eigvalsh(CKc)
            res[key].append(float(wasserstein1(ec - delta, ed)) / float(np.mean(ed)))
    dense = MLP([d] * 3, act, tau0=tau0)
    comp = MLP([d] * 3, cacts, weights=weight_law("sparse_ternary", eps=0.0), tau0=tau0)
    delta = coefficient_comparison(dense, comp, tau0)["delta_ck"][-1]
    Kd = np.asarray(ck_equivalent(dense, sample))
    Kc = np.asarray(ck_equivalent(comp, sample, kurtosis=True))
    for s in range(S):
        rd = random_features_spectrum(Kd, d, 7 + s)[0]
        rc_same = random_features_spectrum(Kc, d, 7 + s)[0]
        rc_ind = random_features_spectrum(Kc, d, 107 + s)[0]
        res["C"].append(float(wasserstein1(rc_same - delta, rd)) / float(np.mean(rd)))
        res["D"].append(float(wasserstein1(rc_ind - delta, rd)) / float(np.mean(rd)))
    out[act] = {"delta": delta, **{k: {"values": v, "mean": float(np.mean(v))} for k, v in res.items()}}
    print(act, {k: round(float(np.mean(v)), 4) for k, v in res.items()}, flush=True)
atomic_write_json(Path(__file__).resolve().parent / f"gap_d{d}_{'_'.join(acts)}.json",
                  {"n": n, "p": p, "d": d, "H": H, "seeds": S, "results": out,
                   **run_metadata({"acts": acts}, {"seeds": list(range(S))})})
