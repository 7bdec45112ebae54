"""Which layers need the weight-kurtosis (Edgeworth) correction? (diagnostic, no PASS/FAIL)

For one deep network with sparse ternary weights, W1 (relative to the mean eigenvalue, mean
over seeds) between one draw's CK_L spectrum and the compounded law with the Gaussian map at
every layer ("gauss"), the corrected map at every layer ("all") and at layer 1 only
("layer1"); plus the draw-to-draw null and the top eigenvalues. Used for the ternary rows
of ``theory_checks/weight_kurtosis_depth.py``'s notes.

    python -m theory_checks.diagnostics.kurtosis_layers [act:L:eps:d_over_n,...] [n] [seeds]

Default: ternary:2:0.95:1,ternary:3:0.95:1,ternary:2:0.95:0.25,relu:2:0.95:1 512 10.
"""
import sys

import jax
import numpy as np

from ntkcomp.networks import weight_law
from ntkcomp.spectral import wasserstein1
from ntkcomp.spectral.random_features_depth import (
    compounded_random_features_spectrum,
    expected_layer_maps,
)
from theory_checks import _common as C
from theory_checks.weight_kurtosis_depth import draw_spectra

DEFAULT = "ternary:2:0.95:1,ternary:3:0.95:1,ternary:2:0.95:0.25,relu:2:0.95:1"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configs = (argv[0] if argv else DEFAULT).split(",")
    n = int(argv[1]) if len(argv) > 1 else 512
    seeds = int(argv[2]) if len(argv) > 2 else 10
    jax.config.update("jax_enable_x64", True)
    for cfg in configs:
        act, L, eps, dn = cfg.split(":")
        L, eps, dn = int(L), float(eps), float(dn)
        s = C.sample("mixed", n, p_over_n=0.5, seed=0)
        d = int(dn * n)
        net = C.make_net(act, L, s, width=d, weights=weight_law("sparse_ternary", eps=eps))
        X = np.asarray(s.X, np.float64)
        eigs = draw_spectra(net, s.X, n, L, seeds + 1)  # weight_kurtosis_depth's networks
        m = np.mean([e.mean() for e in eigs])
        on, off = expected_layer_maps(net), expected_layer_maps(net, weight_kurtosis=False)
        null = np.mean([wasserstein1(eigs[r], eigs[r + 1]) for r in range(seeds)]) / m
        line = (f"{act} L={L} eps={eps:g} d={dn:g}n: null {null:.4f}, top draw "
                f"{np.mean([e.max() for e in eigs[:seeds]]):.3f}")
        for name, maps in (("gauss", off), ("all", on), ("layer1", [on[0], *off[1:]])):
            c = compounded_random_features_spectrum(X @ X.T, maps, [d] * L, key=n + L,
                                                    draws=seeds, X=X)
            w = np.mean([wasserstein1(eigs[r], c[r]) for r in range(seeds)]) / m
            line += f" | {name} {w:.4f} (top {c.max(1).mean():.3f})"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
