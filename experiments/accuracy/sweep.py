"""Accuracy against memory at equal memory: dense, NTK-LC, magnitude pruning, random sparsity.

The paper's frozen-features protocol: the hidden layers of a random network stay frozen at
initialisation and only a linear readout on the last hidden layer is trained, by

- ``adam``: :func:`ntkcomp.train.train_readout` (Adam on the softmax cross-entropy,
  early-stopped on a validation split carved from the training rows), and
- ``ridge``: :func:`ntkcomp.train.ridge_fit` on centred one-hot targets, the penalty chosen
  on the same kind of validation split (grid :data:`RIDGE_GRID`) and refitted on all the
  training rows.

The test split is only ever used to report the final accuracy.

Methods, all drawn from the same dense design (:func:`ntkcomp.compress.compress` at
``eps = 0`` gives the quantized activations; :func:`ntkcomp.compress.build` attaches
sparse ternary weights at each eps):

- ``dense``: Gaussian weights, the dense activations, 32 bits per hidden weight;
- ``ntk_lc``: sparse ternary weights at sparsity eps and quantized activations; memory
  = the real packed bits of the draw in the smallest explicit format of
  :func:`ntkcomp.compress.packing.memory_report` (scales and thresholds included, the
  output vector excluded), and the paper's accounting ``(1 - eps)`` bits per weight;
- ``magnitude`` / ``random``: the dense draw with all but the largest-``|W|`` (or a random)
  fraction ``1 - eps_p`` of each hidden layer zeroed (:func:`ntkcomp.train.magnitude_prune`,
  :func:`ntkcomp.train.random_sparsify`), where ``eps_p`` is chosen so that the pruned
  network takes the SAME number of bits as the NTK-LC network it is compared with. A
  pruned weight costs its float32 value plus its position at the entropy bound, i.e.
  ``H(eps_p) + 32 (1 - eps_p)`` bits per weight (:func:`pruned_bits_per_weight`), which is
  a lower bound for any position code and so favours the baselines.
"""
from __future__ import annotations

import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp import enable_x64
from ntkcomp.compress import build, compress, layer_eps
from ntkcomp.compress.packing import memory_report
from ntkcomp.networks import MLP
from ntkcomp.train import (magnitude_prune, random_sparsify, ridge_fit, ridge_predict,
                           train_readout)

__all__ = ["METHODS", "READOUTS", "RIDGE_GRID", "accuracy_from_scores", "design",
           "one_seed", "pruned_bits_per_weight", "pruning_eps_for_bits", "readout_accuracy",
           "standardise", "summarise", "validated_ridge"]

METHODS = ("dense", "ntk_lc", "magnitude", "random")
READOUTS = ("adam", "ridge")
#: ridge penalties tried on the validation split (features are normalised so that
#: ``H @ H.T`` is the conjugate kernel, of order one on its diagonal)
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
FLOAT_BITS = 32


def entropy(eps: float) -> float:
    """Binary entropy ``H(eps)`` in bits (0 at 0 and 1)."""
    if eps <= 0.0 or eps >= 1.0:
        return 0.0
    return -(eps * math.log2(eps) + (1.0 - eps) * math.log2(1.0 - eps))


def pruned_bits_per_weight(eps: float) -> float:
    """Bits per weight of a pruned float32 layer at sparsity ``eps``: positions at the
    entropy bound plus one float32 value per kept weight, ``H(eps) + 32 (1 - eps)``."""
    return entropy(eps) + FLOAT_BITS * (1.0 - eps)


def pruning_eps_for_bits(bits_per_weight: float) -> float:
    """The sparsity ``eps_p`` in ``[0.5, 1)`` whose :func:`pruned_bits_per_weight` equals
    ``bits_per_weight`` (bisection; ``pruned_bits_per_weight`` decreases on [0.5, 1))."""
    lo, hi = 0.5, 1.0 - 1e-9
    if bits_per_weight >= pruned_bits_per_weight(lo):
        return lo
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if pruned_bits_per_weight(mid) > bits_per_weight:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def design(dense: MLP, tau0: float, family: str = "ternary", hidden_tau=None,
           levels: int | None = None):
    """The NTK-LC design of ``dense`` at data scale ``tau0`` (solved in float64, then the
    float mode is restored).

    Args:
        dense: the dense MLP.
        tau0: data scale.
        family: activation family of :func:`ntkcomp.compress.compress`.
        hidden_tau: its ``hidden_tau`` rule (None: compress's default).
        levels: number of levels of ``family="k_level"``.

    Returns:
        The :class:`~ntkcomp.compress.CompressionResult` at ``eps = 0``.
    """
    was64 = bool(jax.config.jax_enable_x64)
    enable_x64(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            kw = {} if hidden_tau is None else {"hidden_tau": hidden_tau}
            return compress(dense, float(tau0), eps=0.0, family=family, levels=levels, **kw)
    finally:
        enable_x64(was64)


def accuracy_from_scores(scores, labels) -> float:
    """Fraction of rows whose argmax of ``scores (n, K)`` equals ``labels (n,)``."""
    return float(np.mean(np.argmax(np.asarray(scores), axis=1) == np.asarray(labels)))


def _targets(labels, K: int):
    return jax.nn.one_hot(jnp.asarray(labels), K) - 1.0 / K


def validated_ridge(Htr, ytr, K: int, *, seed: int = 0, validation_fraction: float = 0.2,
                    grid=RIDGE_GRID) -> tuple[float, dict]:
    """Choose the ridge penalty on a validation split of the training rows, refit on all.

    Args:
        Htr: training features ``(n, d)``.
        ytr: training labels ``(n,)`` in ``[0, K)``.
        K: number of classes.
        seed: seed of the validation split.
        validation_fraction: fraction of the training rows held out.
        grid: penalties tried.

    Returns:
        ``(lam, model)``: the chosen penalty and the ridge model refitted on all rows.
    """
    n = Htr.shape[0]
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed + 7), n))
    n_val = max(K, int(round(validation_fraction * n)))
    val, fit = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    ytr = np.asarray(ytr)
    T = _targets(ytr[fit], K)
    accs = [accuracy_from_scores(ridge_predict(ridge_fit(Htr[fit], T, lam), Htr[val]),
                                 ytr[val]) for lam in grid]
    lam = float(grid[int(np.argmax(accs))])
    return lam, ridge_fit(Htr, _targets(ytr, K), lam)


def standardise(Htr, Hte):
    """Centre both feature sets by the training mean and divide by the training root mean
    square entry (a fixed affine map of the features, so the Adam readout's step size
    means the same for every network).

    Args:
        Htr: training features ``(n, d)``.
        Hte: test features ``(m, d)``.

    Returns:
        ``(Htr, Hte)`` transformed.
    """
    mu = jnp.mean(Htr, axis=0)
    s = jnp.sqrt(jnp.mean((Htr - mu) ** 2))
    s = jnp.where(s > 0, s, 1.0)
    return (Htr - mu) / s, (Hte - mu) / s


def readout_accuracy(Htr, ytr, Hte, yte, K: int, readout: str, *, seed: int = 0,
                     steps: int = 300, lr: float = 1e-2) -> dict:
    """Train one readout on frozen features and measure it.

    Args:
        Htr, Hte: training / test features ``(n, d)``, ``(m, d)``.
        ytr, yte: their labels ``(n,)``, ``(m,)``.
        K: number of classes.
        readout: ``"adam"`` or ``"ridge"``.
        seed: seed of the validation split.
        steps: Adam steps (full batch).
        lr: Adam learning rate.

    Returns:
        ``{"train_acc", "test_acc", "lam" or "best_step"}``. The Adam readout sees
        :func:`standardise`'d features.
    """
    if readout == "ridge":
        lam, model = validated_ridge(Htr, ytr, K, seed=seed)
        return {"train_acc": accuracy_from_scores(ridge_predict(model, Htr), ytr),
                "test_acc": accuracy_from_scores(ridge_predict(model, Hte), yte), "lam": lam}
    if readout != "adam":
        raise ValueError(f"readout must be one of {list(READOUTS)}, got {readout!r}")
    Htr, Hte = standardise(Htr, Hte)
    head = train_readout(Htr, ytr, num_classes=K, steps=steps, lr=lr,
                         validation_fraction=0.1, seed=seed)
    return {"train_acc": accuracy_from_scores(Htr @ head.W + head.b, ytr),
            "test_acc": accuracy_from_scores(Hte @ head.W + head.b, yte),
            "best_step": int(head.best_step)}


def _hidden_weights(widths, p: int) -> int:
    dims = [int(p), *[int(d) for d in widths]]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:]))


def _variants(dense, res, eps_list, p, key):
    """(method, eps, eps_p, net, params, bits, paper_bits) for one seed."""
    kd, kc, kr = jax.random.split(key, 3)
    params_d = dense.init(kd, p)
    n_w = _hidden_weights(dense.widths, p)
    L = dense.depth
    out = [("dense", 0.0, 0.0, dense, params_d, FLOAT_BITS * n_w, FLOAT_BITS * n_w)]
    for i, eps in enumerate(eps_list):
        comp = build(dense, res.design, layer_eps(eps, L))
        kci = jax.random.fold_in(kc, i)
        params_c = comp.init(kci, p)
        rep = memory_report(comp, p, params=params_c, key=kci)
        bits = int(rep["packed_bits"]) - FLOAT_BITS * int(dense.widths[-1])
        paper = float(rep["accounting"]["paper_weight_bits"])
        out.append(("ntk_lc", eps, eps, comp, params_c, bits, paper))
        eps_p = pruning_eps_for_bits((bits - FLOAT_BITS * L) / n_w)
        pm, _ = magnitude_prune(params_d, eps_p)
        pr, _ = random_sparsify(jax.random.fold_in(kr, i), params_d, eps_p)
        pbits = sum(math.ceil(np.size(W) * pruned_bits_per_weight(eps_p)) + FLOAT_BITS
                    for W in params_d["W"])
        out.append(("magnitude", eps, eps_p, dense, pm, pbits, pbits))
        out.append(("random", eps, eps_p, dense, pr, pbits, pbits))
    return out


def one_seed(dense: MLP, res, split, eps_list, seed: int, *, readouts=READOUTS,
             steps: int = 300, lr: float = 1e-2, log=print) -> list[dict]:
    """All methods and readouts for one weight draw.

    Args:
        dense: the dense MLP.
        res: its NTK-LC design (:func:`design`).
        split: ``(X_train (n, p), y_train (n,), X_test (m, p), y_test (m,), K)``.
        eps_list: NTK-LC sparsities (one memory point each).
        seed: seed of the weight draws and validation splits.
        readouts: readouts to train.
        steps: Adam steps.
        lr: Adam learning rate.
        log: progress printer.

    Returns:
        One row per (method, eps, readout): ``method, eps, eps_used, bits, paper_bits,
        bits_per_weight, readout, train_acc, test_acc, seed`` (and ``lam`` / ``best_step``).
    """
    Xtr, ytr, Xte, yte, K = split
    p = int(Xtr.shape[1])
    n_w = _hidden_weights(dense.widths, p)
    rows = []
    for method, eps, eps_used, net, params, bits, paper in _variants(
            dense, res, eps_list, p, jax.random.PRNGKey(seed)):
        t0 = time.perf_counter()
        Htr, Hte = net.features(params, Xtr)[-1], net.features(params, Xte)[-1]
        for ro in readouts:
            r = readout_accuracy(Htr, ytr, Hte, yte, K, ro, seed=seed, steps=steps, lr=lr)
            rows.append({"method": method, "eps": float(eps), "eps_used": float(eps_used),
                         "bits": int(bits), "paper_bits": float(paper),
                         "bits_per_weight": bits / n_w, "readout": ro, "seed": int(seed),
                         **r})
        log(f"  seed {seed} {method:9s} eps {eps:<5} eps_used {eps_used:.4f} "
            f"bits/weight {bits / n_w:8.4f} " + " ".join(
                f"{r['readout']} {r['test_acc']:.3f}" for r in rows[-len(readouts):])
            + f" ({time.perf_counter() - t0:.1f} s)")
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds per (method, eps, readout).

    Args:
        rows: rows of :func:`one_seed` (several seeds).

    Returns:
        Rows ``method, eps, readout, n_seeds, bits, paper_bits, bits_per_weight, eps_used,
        acc_mean, acc_std`` (std with ``ddof = 1``; 0 for one seed).
    """
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["method"], r["eps"], r["readout"]), []).append(r)
    out = []
    for (m, e, ro), rs in sorted(groups.items(), key=lambda kv: (METHODS.index(kv[0][0]),
                                                                 kv[0][1], kv[0][2])):
        acc = np.array([r["test_acc"] for r in rs])
        out.append({"method": m, "eps": e, "readout": ro, "n_seeds": len(rs),
                    "bits": float(np.mean([r["bits"] for r in rs])),
                    "paper_bits": float(np.mean([r["paper_bits"] for r in rs])),
                    "bits_per_weight": float(np.mean([r["bits_per_weight"] for r in rs])),
                    "eps_used": float(np.mean([r["eps_used"] for r in rs])),
                    "acc_mean": float(acc.mean()),
                    "acc_std": float(acc.std(ddof=1)) if len(rs) > 1 else 0.0})
    return out
