"""Spectral equivalence across activations, depths and data presets.

For every (activation, depth, preset) a dense network's exact weight-averaged CK_L and NTK
are compared with their equivalents: relative operator-norm error and W1 between spectra,
plus W1 of one finite-width draw (``ntkcomp.experiments_lib.definitions.spectral_equivalence``).

    python experiments/spectral_equivalence.py            # n = 1024, p = 512
    python experiments/spectral_equivalence.py --quick    # n = 128
"""
from __future__ import annotations

import sys

import _runner

NAME = "spectral_equivalence"
ACTS = ["relu", "tanh", "erf", "sin", "binary", "ternary"]
DEPTHS = [1, 2, 3]
PRESETS = ["means", "covs", "mixed"]


def points(quick: bool):
    n, p, w = (128, 64, 128) if quick else (1024, 512, 1024)
    acts = ACTS[:2] if quick else ACTS
    return [{"data": pr, "n": n, "p": p, "K": 2, "widths": [w] * L, "activations": [a],
             "seed": 0, "kinds": ["ck", "ntk"], "method": "auto", "exact": True}
            for a in acts for L in DEPTHS for pr in PRESETS]


def point(cfg):
    from ntkcomp.experiments_lib.definitions import spectral_equivalence

    r = spectral_equivalence(cfg)
    r.pop("_arrays")
    return r


def summarize(ok):
    table = [{"activation": c["activations"][0], "L": len(c["widths"]), "preset": c["data"],
              "ck_relop": r["ck"].get("relop_expected_equiv", float("nan")),
              "ntk_relop": r["ntk"].get("relop_expected_equiv", float("nan")),
              "ck_w1_single": r["ck"]["w1_single_equiv"],
              "ck_w1_single_rf": r["ck"].get("w1_single_rf", float("nan"))} for c, r in ok]
    return table, None


if __name__ == "__main__":
    args = _runner.parse(NAME, __doc__)
    sys.exit(_runner.run(NAME, point, points(args.quick), args, summarize))
