"""CK equivalence error vs n for several class-mean norms ('mixed' preset with
``mean_norm`` varied, cov_scale 4, p = n/2, seed 0): total error and class-block part
(diagnostic, no PASS/FAIL).

    python -m theory_checks.diagnostics.mean_norm_sweep binary 2 0.000001,3.0,6.0 512,1024,2048 \
        [COV_SCALES, default 4.0]
"""
import sys
import jax
import numpy as np
from theory_checks import _common as C
from ntkcomp.data import gmm_preset
from ntkcomp.equivalents import ck_equivalent
from ntkcomp.spectral import relative_operator_error, operator_norm

act, L = sys.argv[1], int(sys.argv[2])
mns = [float(x) for x in sys.argv[3].split(",")]
ns = [int(x) for x in sys.argv[4].split(",")]
css = [float(x) for x in sys.argv[5].split(",")] if len(sys.argv) > 5 else [4.0]
for mn, cs in [(m, c) for c in css for m in mns]:
    errs, blks = [], []
    for n in ns:
        p = n // 2
        s = gmm_preset("mixed", p, K=2, mean_norm=mn, cov_scale=cs).sample(
            jax.random.PRNGKey(0), n)
        net = C.make_net(act, L, s)
        tag = ("E", act, L, "mixed", n, 0.5, 0, C.STEP_THRESHOLDS.get(act))
        if mn != 3.0:
            tag = tag + (("mean_norm", mn),)
        if cs != 4.0:
            tag = tag + (("cov_scale", cs),)
        E = C.expected(net, s, tag)["ck"][-1]
        K = np.asarray(ck_equivalent(net, s))
        D = E - K
        lab = np.asarray(s.labels)
        off = ~np.eye(n, dtype=bool)
        Bm = np.array([[D[np.ix_(lab == a, lab == c)][off[np.ix_(lab == a, lab == c)]].mean()
                        for c in range(2)] for a in range(2)])
        J = np.eye(2)[lab]
        nE = operator_norm(E)
        errs.append(relative_operator_error(K, E))
        blks.append(operator_norm(J @ Bm @ J.T) / nE)
        print(f"mean_norm={mn} cov_scale={cs} n={n} err={errs[-1]:.4g} block={blks[-1]:.4g} Bm={Bm.ravel()}", flush=True)
    print(f"SLOPES mean_norm={mn} cov_scale={cs} err {C.loglog_slope(ns, errs):.3f} block {C.loglog_slope(ns, blks):.3f}", flush=True)
