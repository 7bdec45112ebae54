"""A linear softmax readout on frozen features, trained by Adam with early stopping.

Features are the last hidden representation ``H = h_L: (n, d)`` of a network whose hidden
layers stay frozen. The head ``logits = H @ W + b`` (``W: (d, K)``, ``b: (K,)``) starts at
zero and is trained full batch by Adam (``optax.adamw``) on the mean softmax cross-entropy.

Early stopping uses a validation split carved from the training rows only (a seeded random
subset of ``validation_fraction`` of them, never fitted): after every step the validation
cross-entropy is evaluated, and the head returned is the one with the lowest validation
loss among the steps before ``patience`` consecutive steps without improvement. Test data
never enters the function, so nothing can be tuned on it.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntkcomp._validate import check_finite_array, check_in_range, check_positive, check_positive_int

__all__ = ["ReadoutResult", "train_readout"]


class ReadoutResult(NamedTuple):
    """A trained linear head and its training record.

    Attributes:
        W: weights ``(d, K)``.
        b: biases ``(K,)``.
        losses: training cross-entropy on the fitted rows before each step ``(steps,)``.
        val_losses: validation cross-entropy after each step ``(steps,)``; empty ``(0,)``
            without a validation split.
        best_step: the step (0-based) whose head is returned.
        val_index: the rows of ``H`` held out for validation ``(n_val,)``.
    """

    W: jax.Array
    b: jax.Array
    losses: jax.Array
    val_losses: jax.Array
    best_step: int
    val_index: jax.Array


def _cross_entropy(pr, H, labels):
    logits = H @ pr["W"] + pr["b"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@partial(jax.jit, static_argnames=("num_classes", "steps", "patience"))
def _adam_readout(H, labels, Hv, labels_v, lr, weight_decay, num_classes, steps, patience):
    params = {"W": jnp.zeros((H.shape[1], num_classes), H.dtype),
              "b": jnp.zeros((num_classes,), H.dtype)}
    opt = optax.adamw(lr, weight_decay=weight_decay)
    validate = Hv.shape[0] > 0

    def step(carry, t):
        pr, st, best, best_loss, best_t, since = carry
        loss, g = jax.value_and_grad(_cross_entropy)(pr, H, labels)
        upd, st = opt.update(g, st, pr)
        pr = optax.apply_updates(pr, upd)
        v = _cross_entropy(pr, Hv, labels_v) if validate else jnp.zeros((), H.dtype)
        improve = (v < best_loss) & (since < patience) if validate else True
        best = jax.tree_util.tree_map(lambda a, b: jnp.where(improve, a, b), pr, best)
        best_loss = jnp.where(improve, v, best_loss)
        best_t = jnp.where(improve, t, best_t)
        since = jnp.where(improve, 0, since + 1)
        return (pr, st, best, best_loss, best_t, since), (loss, v)

    init = (params, opt.init(params), params, jnp.asarray(jnp.inf, H.dtype),
            jnp.asarray(0), jnp.asarray(0))
    (_, _, best, _, best_t, _), (losses, vals) = jax.lax.scan(step, init, jnp.arange(steps))
    return best["W"], best["b"], losses, vals, best_t


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit rows, validation rows)``: a seeded random subset of ``round(fraction n)`` rows
    (at least one when ``fraction > 0``) is held out."""
    n_val = 0 if fraction == 0 else max(1, int(round(fraction * n)))
    if n - n_val < 1:
        raise ValueError(f"validation_fraction = {fraction} leaves no training rows of n = {n}")
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed), n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def train_readout(H: jax.Array, labels: jax.Array, *, num_classes: int | None = None,
                  steps: int = 300, lr: float = 1e-2, weight_decay: float = 0.0,
                  validation_fraction: float = 0.1, patience: int = 20,
                  seed: int = 0) -> ReadoutResult:
    """Adam on the softmax cross-entropy of a linear head, with early stopping.

    Args:
        H: frozen training features ``(n, d)``, finite.
        labels: integer classes ``(n,)`` in ``[0, K)``.
        num_classes: ``K`` (default ``labels.max() + 1``), at least 2.
        steps: number of full-batch Adam steps, >= 1.
        lr: learning rate, > 0.
        weight_decay: decoupled weight decay of ``optax.adamw``, >= 0.
        validation_fraction: fraction of the training rows held out for early stopping,
            in ``[0, 1)``; 0 trains on all rows and returns the head after ``steps`` steps.
        patience: consecutive steps without a lower validation loss after which later
            steps are ignored, >= 1.
        seed: seed of the validation split (the head itself starts at zero).

    Returns:
        ``ReadoutResult(W, b, losses, val_losses, best_step, val_index)`` (see the class).

    Raises:
        ValueError: bad shapes, non-finite ``H``, labels outside ``[0, K)``, or a parameter
            outside its range (the message names it).
    """
    H = jnp.asarray(H)
    if H.ndim != 2 or np.shape(labels) != (H.shape[0],):
        raise ValueError(f"H must be (n, d) and labels (n,), got {H.shape} and "
                         f"{np.shape(labels)}")
    check_finite_array("H", H)
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu" and not np.array_equal(lab, np.round(lab)):
        raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
    steps = check_positive_int("steps", steps)
    patience = check_positive_int("patience", patience)
    check_positive("lr", lr)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    check_in_range("validation_fraction", validation_fraction, 0.0, 1.0)
    K = int(num_classes) if num_classes is not None else int(lab.max()) + 1
    check_positive_int("num_classes", K, minimum=2)
    if lab.min() < 0 or lab.max() >= K:
        raise ValueError(f"labels must lie in [0, {K}), got range [{lab.min()}, {lab.max()}]")
    fit, val = _split(H.shape[0], float(validation_fraction), int(seed))
    lab = jnp.asarray(lab, jnp.int32)
    W, b, losses, vals, best = _adam_readout(
        H[fit], lab[fit], H[val], lab[val], jnp.asarray(lr, H.dtype),
        jnp.asarray(weight_decay, H.dtype), K, steps, patience)
    if val.size == 0:
        vals, best = vals[:0], steps - 1
    return ReadoutResult(W, b, losses, vals, int(best), jnp.asarray(val))
