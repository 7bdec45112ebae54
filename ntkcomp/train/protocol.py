"""Dense vs NTK-LC vs magnitude pruning vs random sparsification: accuracy and memory.

:func:`compare_methods` trains the readout (frozen protocol) or the whole network (lazy
protocol) of each variant of one network draw and returns accuracy and memory in bits;
:func:`aggregate` turns per-seed rows into mean +- std.

Variants (same dense draw for the dense and both pruning baselines):
- ``dense``      Gaussian weights, the dense activations; 32 bits per hidden weight;
- ``ntk_lc``     the compressed description (sparse ternary weights, quantized
                 activations); bits of the compress module's real packed format
                 (``memory_report``: bitmask or 2-bit codes, scales and thresholds; the
                 output vector removed), else :func:`ternary_bits`;
- ``magnitude``  dense draw, the fraction eps of smallest |W| per layer zeroed;
- ``random``     dense draw, a random fraction eps per layer zeroed;
pruned variants store float32 values + positions (:func:`~.baselines.sparse_float_bits`).
Memory counts the hidden layers only (the trained readout is identical for all).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .baselines import magnitude_prune, network_bits, random_sparsify
from .frozen import frozen_protocol
from .lazy import train_full

__all__ = ["METHODS", "aggregate", "compare_methods", "ternary_bits"]

METHODS = ("dense", "ntk_lc", "magnitude", "random")


def ternary_bits(shape, nnz: int) -> int:
    """Sparse ternary layer: cheaper of 2-bit codes per entry and bitmask + 1 sign bit per
    non-zero, plus one float32 scale."""
    size = int(np.prod(shape))
    return min(2 * size, size + int(nnz)) + 32


def _ntk_lc_bits(params_c, net=None, p: int | None = None) -> int:
    """Hidden-layer bits of an NTK-LC draw: the compress module's real packed format
    (``ntkcomp.compress.memory_report``, output vector removed) when available, else
    :func:`ternary_bits` per layer."""
    if net is not None and p is not None:
        try:
            from ntkcomp.compress.packing import memory_report
        except ImportError:
            memory_report = None
        if memory_report is not None:
            rep = memory_report(net, p, params=params_c)
            return int(rep["packed_bits"]) - 32 * int(net.widths[-1])
    return sum(ternary_bits(W.shape, int(np.count_nonzero(np.asarray(W))))
               for W in params_c["W"])


def _lazy_accuracy(net, params, masks, Xtr, ytr, Xte, yte, *, lr, steps):
    """Full GD on the MSE with +-1 targets (two classes); accuracy of sign(f)."""
    t_tr = 2.0 * jnp.asarray(ytr, Xtr.dtype) - 1.0
    res = train_full(net.apply, params, Xtr, t_tr, lr=lr, steps=steps, masks=masks)
    f_tr, f_te = net.apply(res.params, Xtr), net.apply(res.params, Xte)
    return {"train_acc": float(jnp.mean((f_tr > 0) == (jnp.asarray(ytr) == 1))),
            "test_acc": float(jnp.mean((f_te > 0) == (jnp.asarray(yte) == 1))),
            "final_loss": float(res.losses[-1])}


def compare_methods(dense, compressed, train, test, *, eps, seed: int = 0,
                    protocol: str = "frozen", readout: str = "ridge", lam: float = 1e-2,
                    steps: int = 300, lr: float = 1e-2, lazy_lr: float = 0.5,
                    methods=METHODS, compressed_bits: int | None = None) -> list[dict]:
    """One seed: accuracy and hidden-layer bits of each method.

    Args:
      dense, compressed: MLP descriptions (``compressed`` may be None to skip ``ntk_lc``).
      train, test: samples with ``.X (n, p)`` and ``.labels (n,)``.
      eps: sparsity used for the pruning baselines (scalar or per layer).
      protocol: ``"frozen"`` (readout only: ``readout`` = ridge | adam) or ``"lazy"``
        (full GD, two classes, ``lazy_lr``, ``steps``).
      compressed_bits: bits of the NTK-LC hidden layers (e.g. from the packed format);
        default :func:`ternary_bits` of the drawn weights.
    Returns:
      rows ``{"method", "seed", "bits", "train_acc", "test_acc", "final_loss"}``.
    """
    if protocol not in ("frozen", "lazy"):
        raise ValueError(f"protocol must be one of ['frozen', 'lazy'], got {protocol!r}")
    p = int(train.X.shape[1])
    kd, kc, kr = jax.random.split(jax.random.PRNGKey(seed), 3)
    params_d = dense.init(kd, p)
    variants = {}
    if "dense" in methods:
        variants["dense"] = (dense, params_d, None,
                             network_bits(params_d, include_output=False))
    if "ntk_lc" in methods and compressed is not None:
        params_c = compressed.init(kc, p)
        masks_c = {"W": [(jnp.asarray(W) != 0).astype(W.dtype) for W in params_c["W"]],
                   "w": jnp.ones_like(params_c["w"])}
        bits = (compressed_bits if compressed_bits is not None
                else _ntk_lc_bits(params_c, compressed, p))
        variants["ntk_lc"] = (compressed, params_c, masks_c, int(bits))
    if "magnitude" in methods:
        pr, m = magnitude_prune(params_d, eps)
        variants["magnitude"] = (dense, pr, m, network_bits(pr, m, include_output=False))
    if "random" in methods:
        pr, m = random_sparsify(kr, params_d, eps)
        variants["random"] = (dense, pr, m, network_bits(pr, m, include_output=False))
    rows = []
    for name, (net, params, masks, bits) in variants.items():
        if protocol == "frozen":
            r = frozen_protocol(net, params, train.X, train.labels, test.X, test.labels,
                                method=readout, lam=lam, steps=steps, lr=lr, seed=seed)
        else:
            r = _lazy_accuracy(net, params, masks, train.X, train.labels, test.X,
                               test.labels, lr=lazy_lr, steps=steps)
        rows.append({"method": name, "seed": int(seed), "bits": int(bits), **r})
    return rows


def aggregate(rows: list[dict], keys=("method",)) -> list[dict]:
    """Group rows by ``keys``; mean and std (ddof=0) of accuracies, mean bits, count."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        te = np.array([r["test_acc"] for r in rs], float)
        tr = np.array([r["train_acc"] for r in rs], float)
        out.append({**dict(zip(keys, key)), "n_seeds": len(rs),
                    "bits": float(np.mean([r["bits"] for r in rs])),
                    "acc_mean": float(te.mean()), "acc_std": float(te.std()),
                    "train_acc_mean": float(tr.mean()), "train_acc_std": float(tr.std())})
    return out


def bits_to_factor(dense_bits: float, bits: float) -> float:
    return float(dense_bits) / float(bits) if bits else math.inf
