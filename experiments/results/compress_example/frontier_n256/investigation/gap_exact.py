"""Follow-up of gap.py: prediction E = RF law sampled from the EXACT E_W CK_L kernels
(bivariate Gaussian map; ``expected_kernels``) instead of the equivalents, same G seeds as C.
(eps = 0: the kurtosis term is ~0 for tanh/erf; for ReLU it is added as in lossless_frontier.)

    nice -n 19 python experiments/results/compress_example/frontier_n256/investigation/gap_exact.py tanh
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
from ntkcomp.kernels import expected_kernels  # noqa: E402
from ntkcomp.networks import MLP, weight_law  # noqa: E402
from ntkcomp.spectral import random_features_spectrum, wasserstein1  # noqa: E402

n, p, d = 256, 128, int(os.environ.get("D", 2048))
S = int(os.environ.get("S", 3))
sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(0), n)
X = np.asarray(sample.X)
tau0 = float(sample.stats.tau0)
out = {}
for act in sys.argv[1:] or ["tanh"]:
    design = compress(MLP([d] * 3, act, tau0=tau0), tau0, eps=0.0, family="ternary", k_max=3)
    dense = MLP([d] * 3, act, tau0=tau0)
    comp = MLP([d] * 3, design.compressed.activations,
               weights=weight_law("sparse_ternary", eps=0.0), tau0=tau0)
    delta = coefficient_comparison(dense, comp, tau0)["delta_ck"][-1]
    kt = (np.asarray(ck_equivalent(comp, sample, kurtosis=True))
          - np.asarray(ck_equivalent(comp, sample)))
    Ed = np.asarray(expected_kernels(dense, X)["ck"][-1])
    Ec = np.asarray(expected_kernels(comp, X)["ck"][-1]) + kt
    vals = []
    for s in range(S):
        rd = random_features_spectrum(Ed, d, 7 + s)[0]
        rc = random_features_spectrum(Ec, d, 7 + s)[0]
        vals.append(float(wasserstein1(rc - delta, rd)) / float(np.mean(rd)))
    out[act] = {"E": {"values": vals, "mean": float(np.mean(vals))}}
    print(act, "E", round(float(np.mean(vals)), 4), flush=True)
atomic_write_json(Path(__file__).resolve().parent / f"gap_exact_d{d}_{'_'.join(sys.argv[1:] or ['tanh'])}.json",
                  {"n": n, "p": p, "d": d, "seeds": S, "results": out,
                   **run_metadata({"acts": sys.argv[1:]}, {"seeds": list(range(S))})})
