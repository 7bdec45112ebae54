"""Compression across eps and widths: memory factor, identity shift, and how far the
compressed network's kernels are from the dense ones (weight-averaged equivalents and one
finite-width draw), for a 3-layer ReLU network on the 'mixed' GMM.

    python experiments/compression_sweep.py            # n = 1024, widths 256 ... 2048
    python experiments/compression_sweep.py --quick
"""
from __future__ import annotations

import sys

import _runner

NAME = "compression_sweep"


def points(quick: bool):
    if quick:
        return [{"n": 96, "p": 48, "widths": [w, w], "eps": e, "family": "ternary",
                 "hidden_tau": 0.7, "seed": 0} for w in (32, 64) for e in (0.0, 0.9)]
    return [{"n": 1024, "p": 512, "widths": [w, w, w // 2], "eps": e, "seed": 0}
            for w in (256, 512, 1024, 2048) for e in (0.0, 0.5, 0.9, 0.95)]


def point(cfg):
    import numpy as np

    from ntkcomp.experiments_lib.compression import compression_point
    from ntkcomp.spectral.distances import wasserstein1

    r = compression_point({"data": "mixed", **cfg})
    a = r.pop("_arrays")
    r.pop("_figure", None)
    r["w1_single_draw"] = float(wasserstein1(a["ck_single_compressed"], a["ck_single_dense"]))
    keep = ("memory_factor", "identity_shift", "feasible", "ck_rel_diff_equiv",
            "ck_rel_diff_equiv_shifted", "ntk_rel_diff_equiv", "ntk_rel_diff_equiv_shifted",
            "w1_single_draw")
    return {k: (float(r[k]) if isinstance(r.get(k), (float, np.floating)) else r.get(k))
            for k in keep}


def summarize(ok):
    table = [{"width": c["widths"][0], "eps": c["eps"], **r} for c, r in ok]
    return table, None


if __name__ == "__main__":
    args = _runner.parse(NAME, __doc__)
    sys.exit(_runner.run(NAME, point, points(args.quick), args, summarize))
