"""Does the layer-1 kurtosis gap shrink with p?  Relative operator norm of the kurtosis
term of the compressed network's CK_L equivalent (THEORY section 7), and of
||K_c^{eq,kurtosis} - delta I - K_d^{eq}|| / ||K_d^{eq}||, for n = 256 ... 2048 (p = n/2,
widths n/2, n/2, n/4, "mixed" GMM, ReLU, ternary design) and eps in {0, 0.5, 0.9}.

    nice -n 19 python experiments/results/compress_example/kurtosis_check/scaling.py
"""
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
warnings.simplefilter("ignore")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import ntkcomp  # noqa: E402

ntkcomp.enable_x64()
from ntkcomp._io import atomic_write_json, run_metadata  # noqa: E402
from ntkcomp.compress import compress  # noqa: E402
from ntkcomp.compress.report import _op_norm  # noqa: E402
from ntkcomp.data import gmm_preset  # noqa: E402
from ntkcomp.equivalents import ck_equivalent  # noqa: E402
from ntkcomp.networks import MLP  # noqa: E402

rows = []
for n in (256, 512, 1024, 2048):
    p = n // 2
    sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(0), n)
    tau0 = float(sample.stats.tau0)
    dense = MLP([n // 2, n // 2, n // 4], "relu", tau0=tau0)
    Kd = np.asarray(ck_equivalent(dense, sample))
    nd = _op_norm(Kd)
    for eps in (0.0, 0.5, 0.9):
        res = compress(dense, tau0, eps=eps, family="ternary", k_max=4)
        Kc = np.asarray(ck_equivalent(res.compressed, sample))
        Kck = np.asarray(ck_equivalent(res.compressed, sample, kurtosis=True))
        row = {"n": n, "p": p, "eps": eps, "kappa4": 1 / (1 - eps) - 3,
               "alpha_diag_L": res.coefficients["alpha_diag_compressed"][-1],
               "kurtosis_term_rel_op": _op_norm(Kck - Kc) / nd,
               "ck_rel_diff_kurtosis": _op_norm(Kck - res.identity_shift * np.eye(n) - Kd)
               / nd}
        rows.append(row)
        print(row, flush=True)
atomic_write_json(Path(__file__).resolve().parent / "scaling.json",
                  {"rows": rows, **run_metadata({"activation": "relu"}, {"seed": 0})})
