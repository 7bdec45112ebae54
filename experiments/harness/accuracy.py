"""Accuracy against memory: one (eps, seed) point -> rows for dense / NTK-LC / pruning.

The NTK-LC design (moment matching of the activations) depends on the network and tau0
only: the sparsity eps enters the weight law, not the matched moments (the kurtosis term of
docs/theory/universality.md is not matched). :func:`compressed_network` therefore solves once per
(widths, activations, tau0, family, hidden_tau), caches it within a process, and attaches
``sparse_ternary(eps)`` weights per call. tau0 is rounded to 3 significant digits for the
cache (a 0.1% change of the design scale is far below the solver's other tolerances).
"""
from __future__ import annotations

import functools
import warnings

from .pipeline import dense_network, load_data, parse_activations, resolve_widths

__all__ = ["ACCURACY_DEFAULTS", "accuracy_point", "compressed_network"]

ACCURACY_DEFAULTS = {"data": "mixed", "n": 512, "n_test": 512, "p": 256, "K": 2,
                     "widths": [512, 512], "activations": ["relu"], "eps": 0.9,
                     "family": "ternary", "hidden_tau": None, "seed": 0, "protocol": "frozen",
                     "readout": "ridge", "lam": 1e-2, "steps": 300, "lr": 1e-2,
                     "lazy_lr": 0.5, "methods": ["dense", "ntk_lc", "magnitude", "random"]}


def _round3(x: float) -> float:
    return float(f"{x:.3g}")


@functools.lru_cache(maxsize=64)
def _compress_cached(widths, activations, tau0, family, hidden_tau):
    from ntkcomp.compress import compress

    dense = dense_network(list(widths), list(activations), tau0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # infeasibility is in the result
        kw = {} if hidden_tau is None else {"hidden_tau": hidden_tau}
        res = compress(dense, tau0, eps=0.0, family=family, **kw)
    return res


def compressed_network(widths, activations, tau0, eps, family="ternary", hidden_tau=None):
    """(dense MLP, CompressionResult at eps = 0, compressed MLP with sparse_ternary(eps)
    weights) for the design scale tau0 (the solve is cached)."""
    from ntkcomp.compress import layer_eps
    from ntkcomp.networks import MLP, weight_law

    t = _round3(tau0)
    res = _compress_cached(tuple(widths), tuple(activations), t, family, hidden_tau)
    eps_l = layer_eps(eps, len(widths))
    comp = MLP(list(widths), list(res.compressed.activations),
               weights=[weight_law("sparse_ternary", eps=e) for e in eps_l], tau0=t)
    return res.dense, res, comp


def accuracy_point(cfg: dict) -> dict:
    """One seed of the accuracy-vs-memory experiment; ``{"rows": [...], "compress": {...}}``.

    Config keys: ``ACCURACY_DEFAULTS`` (+ ``classes``: MNIST digits, default 0..K-1).
    """
    from experiments.accuracy.protocol import compare_methods

    cfg = {**ACCURACY_DEFAULTS, **cfg}
    widths = resolve_widths(cfg["widths"], cfg.get("depth"))
    acts = parse_activations(cfg["activations"], len(widths))
    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=cfg["K"], seed=cfg["seed"],
                     n_test=cfg["n_test"], classes=cfg.get("classes"))
    tau0 = float(data.train.stats.tau0)
    methods = list(cfg["methods"])
    info = {}
    compressed, cbits = None, None
    if "ntk_lc" in methods:
        dense, res, compressed = compressed_network(widths, acts, tau0, cfg["eps"],
                                                    cfg["family"], cfg["hidden_tau"])
        info = {"feasible": bool(res.feasible), "identity_shift": float(res.identity_shift),
                "families": [s.family for s in res.layers],
                "n_levels": [int(s.n_levels) for s in res.layers],
                "design_tau0": float(res.tau0)}
    else:
        dense = dense_network(widths, acts, _round3(tau0))
    rows = compare_methods(dense, compressed, data.train, data.test, eps=cfg["eps"],
                           seed=cfg["seed"], protocol=cfg["protocol"], readout=cfg["readout"],
                           lam=cfg["lam"], steps=cfg["steps"], lr=cfg["lr"],
                           lazy_lr=cfg["lazy_lr"], methods=methods, compressed_bits=cbits)
    for r in rows:
        r["eps"] = cfg["eps"]
    return {"rows": rows, "compress": info, "tau0": tau0}
