"""Dense vs NTK-LC vs magnitude pruning vs random sparsification: accuracy and memory.

:func:`frozen_protocol` trains only the readout of a network with frozen hidden layers
(Adam on the cross-entropy, early-stopped on a validation split of the training rows, or
ridge in closed form) and reports train/test accuracy; :func:`lazy_comparison` trains a
whole network and its linearisation by the same gradient descent.
:func:`compare_methods` trains the readout (frozen protocol) or the whole network (lazy
protocol) of each variant of one network draw and returns accuracy and memory in bits;
:func:`aggregate` turns per-seed rows into mean +- std.

Variants (same dense draw for the dense and both pruning baselines):
- ``dense``      Gaussian weights, the dense activations; 32 bits per hidden weight;
- ``ntk_lc``     the compressed description (sparse ternary weights, quantized
                 activations); bits of the compress module's real packed format
                 (``memory_report``: the smallest explicit format, scales and
                 thresholds; the output vector removed), else :func:`ternary_bits`;
- ``magnitude``  dense draw, the fraction eps of smallest |W| per layer zeroed;
- ``random``     dense draw, a random fraction eps per layer zeroed;
pruned variants store float32 values + positions (``ntkcomp.train.network_bits``).
Memory counts the hidden layers only (the trained readout is identical for all).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.compress.packing import memory_report
from ntkcomp.train import (linearize, magnitude_prune, network_bits, random_sparsify,
                           ridge_fit, ridge_predict, train_full, train_readout)

__all__ = ["METHODS", "accuracy", "aggregate", "class_targets", "compare_methods",
           "frozen_protocol", "lazy_comparison", "param_movement", "ternary_bits"]

METHODS = ("dense", "ntk_lc", "magnitude", "random")


def ternary_bits(shape, nnz: int) -> int:
    """Sparse ternary layer: cheaper of 2-bit codes per entry and bitmask + 1 sign bit per
    non-zero, plus one float32 scale."""
    size = int(np.prod(shape))
    return min(2 * size, size + int(nnz)) + 32


def _ntk_lc_bits(params_c, net=None, p: int | None = None) -> int:
    """Hidden-layer bits of an NTK-LC draw: the smallest explicit packed format
    (``ntkcomp.compress.packing.memory_report``, output vector removed), else
    :func:`ternary_bits` per layer."""
    if net is not None and p is not None:
        rep = memory_report(net, p, params=params_c)
        return int(rep["packed_bits"]) - 32 * int(net.widths[-1])
    return sum(ternary_bits(W.shape, int(np.count_nonzero(np.asarray(W))))
               for W in params_c["W"])


def class_targets(labels, num_classes: int) -> jax.Array:
    """Centred one-hot targets ``(n, K)``: ``onehot - 1/K`` (argmax decodes the class)."""
    return jax.nn.one_hot(jnp.asarray(labels), num_classes) - 1.0 / num_classes


def accuracy(scores, labels) -> float:
    """Fraction of rows whose argmax (or sign, for 1-D scores and labels in {0, 1}) is right."""
    scores = jnp.asarray(scores)
    pred = scores.argmax(-1) if scores.ndim == 2 else (scores > 0).astype(jnp.int32)
    return float(jnp.mean(pred == jnp.asarray(labels)))


def frozen_protocol(net, params, X_train, y_train, X_test, y_test, *, method: str = "ridge",
                    num_classes: int | None = None, lam: float = 1e-2, steps: int = 300,
                    lr: float = 1e-2, validation_fraction: float = 0.1, seed: int = 0) -> dict:
    """Train only the readout on the frozen last hidden layer; return accuracies.

    Args:
        net, params: a network description and its parameters (``net.features``).
        X_train: ``(n, p)``; y_train: ``(n,)``; X_test: ``(m, p)``; y_test: ``(m,)``.
        method: ``"ridge"`` (closed form, penalty ``lam``) or ``"adam"`` (cross-entropy,
            early-stopped on ``validation_fraction`` of the training rows).

    Returns:
        ``{"train_acc", "test_acc", "final_loss"}`` (``final_loss``: the training
        cross-entropy at the returned step for Adam, the mean squared error on centred
        one-hot targets for ridge).
    """
    if method not in ("ridge", "adam"):
        raise ValueError(f"method must be one of ['ridge', 'adam'], got {method!r}")
    K = int(num_classes) if num_classes is not None else int(np.max(np.asarray(y_train))) + 1
    Htr = net.features(params, X_train)[-1]
    Hte = net.features(params, X_test)[-1]
    if method == "ridge":
        T = class_targets(y_train, K)
        model = ridge_fit(Htr, T, lam)
        s_tr, s_te = ridge_predict(model, Htr), ridge_predict(model, Hte)
        loss = float(jnp.mean((s_tr - T) ** 2))
    else:
        head = train_readout(Htr, y_train, num_classes=K, steps=steps, lr=lr,
                             validation_fraction=validation_fraction, seed=seed)
        s_tr, s_te = Htr @ head.W + head.b, Hte @ head.W + head.b
        loss = float(head.losses[head.best_step])
    return {"train_acc": accuracy(s_tr, y_train), "test_acc": accuracy(s_te, y_test),
            "final_loss": loss}


def param_movement(params0, params1) -> dict:
    """Per-leaf relative change ``||p1 - p0||_F / ||p0||_F`` and the total distance.

    Returns ``{"relative": [per leaf, in tree_leaves order], "absolute": [...],
    "total_absolute": float}``.
    """
    l0 = jax.tree_util.tree_leaves(params0)
    l1 = jax.tree_util.tree_leaves(params1)
    absd = [float(jnp.linalg.norm((b - a).ravel())) for a, b in zip(l0, l1)]
    rel = [d / max(float(jnp.linalg.norm(a.ravel())), 1e-300) for d, a in zip(absd, l0)]
    return {"relative": rel, "absolute": absd,
            "total_absolute": float(jnp.sqrt(sum(d * d for d in absd)))}


def lazy_comparison(f, params0, X_train, y_train, X_test, *, lr: float = 0.5,
                    steps: int = 200, masks=None) -> dict:
    """Train ``f`` and its linearisation around ``params0`` by the same gradient descent.

    Returns ``f_train``/``f_test`` (trained network), ``lin_train``/``lin_test`` (trained
    linearisation), ``f0_test``, ``rel_dev = ||f_test - lin_test|| / ||lin_test - f0_test||``
    (deviation relative to how far the function moved), ``movement``
    (:func:`param_movement`), ``loss``/``lin_loss`` per step and the trained ``params``.
    """
    full = train_full(f, params0, X_train, y_train, lr=lr, steps=steps, masks=masks)
    f_lin = linearize(f, params0)
    lin = train_full(f_lin, params0, X_train, y_train, lr=lr, steps=steps, masks=masks)
    f_test, lin_test = f(full.params, X_test), f_lin(lin.params, X_test)
    f0_test = f(params0, X_test)
    moved = float(jnp.linalg.norm(lin_test - f0_test))
    return {
        "f_train": f(full.params, X_train), "lin_train": f_lin(lin.params, X_train),
        "f_test": f_test, "lin_test": lin_test, "f0_test": f0_test,
        "rel_dev": float(jnp.linalg.norm(f_test - lin_test)) / max(moved, 1e-300),
        "movement": param_movement(params0, full.params),
        "loss": full.losses, "lin_loss": lin.losses, "params": full.params,
    }


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
