"""The official protocol: hidden layers frozen at initialisation, only a readout trained.

Features are the last hidden representation ``H = h_L: (n, d_L)`` of a network
(``net.features(params, X)[-1]``). The readout is either
- trained by Adam on the softmax cross-entropy (:func:`train_readout`), a linear head
  ``logits = H @ W + b`` with ``W: (d_L, K)`` (full batch, ``lax.scan`` loop, jit), or
- solved in closed form by ridge regression on centred one-hot targets
  (:func:`ntkcomp.train.ridge.ridge_fit`).

:func:`frozen_protocol` runs either on (train, test) data and returns accuracies.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntkcomp._validate import check_choice, check_positive, check_positive_int

from .ridge import class_targets, ridge_fit, ridge_predict

__all__ = [
    "ReadoutResult",
    "accuracy",
    "frozen_protocol",
    "last_features",
    "readout_logits",
    "train_readout",
]


class ReadoutResult(NamedTuple):
    """Trained linear head ``logits = H @ W + b`` and the loss per step ``(steps,)``."""

    W: jax.Array
    b: jax.Array
    losses: jax.Array


def readout_logits(head, H: jax.Array) -> jax.Array:
    return jnp.asarray(H) @ head.W + head.b


def accuracy(scores: jax.Array, labels: jax.Array) -> float:
    """Fraction of rows whose argmax (or sign, for 1-D scores and labels in {0,1}) is right."""
    scores = jnp.asarray(scores)
    pred = scores.argmax(-1) if scores.ndim == 2 else (scores > 0).astype(jnp.int32)
    return float(jnp.mean(pred == jnp.asarray(labels)))


@partial(jax.jit, static_argnames=("num_classes", "steps"))
def _adam_readout(H, labels, key, lr, weight_decay, num_classes, steps):
    d = H.shape[1]
    del key  # the head starts at zero: convex problem, deterministic result
    params = {"W": jnp.zeros((d, num_classes), H.dtype), "b": jnp.zeros((num_classes,), H.dtype)}
    opt = optax.adamw(lr, weight_decay=weight_decay)
    state = opt.init(params)

    def loss_fn(pr):
        logits = H @ pr["W"] + pr["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    def step(carry, _):
        pr, st = carry
        loss, g = jax.value_and_grad(loss_fn)(pr)
        upd, st = opt.update(g, st, pr)
        return (optax.apply_updates(pr, upd), st), loss

    (params, _), losses = jax.lax.scan(step, (params, state), None, length=steps)
    return params["W"], params["b"], losses


def train_readout(H: jax.Array, labels: jax.Array, *, num_classes: int | None = None,
                  steps: int = 300, lr: float = 1e-2, weight_decay: float = 0.0,
                  seed: int = 0) -> ReadoutResult:
    """Adam (optax.adamw) on the mean softmax cross-entropy of a linear head, full batch.

    Args:
      H: frozen features ``(n, d)``; labels: ``(n,)`` integers in ``[0, K)``.
      num_classes: K (default ``labels.max() + 1``); steps, lr, weight_decay: optimiser.
      seed: kept for the interface (the head starts at zero, so the result is
        deterministic and does not depend on it).
    """
    H = jnp.asarray(H)
    labels = jnp.asarray(labels, jnp.int32)
    if H.ndim != 2 or labels.shape != (H.shape[0],):
        raise ValueError(f"H must be (n, d) and labels (n,), got {H.shape} and {labels.shape}")
    steps = check_positive_int("steps", steps)
    check_positive("lr", lr)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    K = int(num_classes) if num_classes is not None else int(np.max(np.asarray(labels))) + 1
    check_positive_int("num_classes", K, minimum=2)
    W, b, losses = _adam_readout(H, labels, jax.random.PRNGKey(seed), jnp.asarray(lr, H.dtype),
                                 jnp.asarray(weight_decay, H.dtype), K, steps)
    return ReadoutResult(W, b, losses)


def last_features(net, params, X: jax.Array) -> jax.Array:
    """``h_L`` of ``net`` at ``params``: ``(n, d_L)`` (hidden layers frozen)."""
    return net.features(params, X)[-1]


def frozen_protocol(net, params, X_train, y_train, X_test, y_test, *, method: str = "ridge",
                    num_classes: int | None = None, lam: float = 1e-2, steps: int = 300,
                    lr: float = 1e-2, seed: int = 0) -> dict:
    """Train only the readout on frozen random features; return accuracies and the loss.

    Args:
      net, params: a network description and its parameters (``net.features`` is used;
        dense, compressed and pruned networks alike).
      X_train ``(n, p)``, y_train ``(n,)``, X_test ``(m, p)``, y_test ``(m,)``.
      method: ``"ridge"`` (closed form, penalty ``lam``) or ``"adam"`` (cross-entropy).

    Returns:
      ``{"train_acc", "test_acc", "final_loss"}`` (``final_loss`` is the cross-entropy for
      Adam, the mean squared error on centred one-hot targets for ridge).
    """
    check_choice("method", method, ["ridge", "adam"])
    K = int(num_classes) if num_classes is not None else int(np.max(np.asarray(y_train))) + 1
    Htr = last_features(net, params, X_train)
    Hte = last_features(net, params, X_test)
    if method == "ridge":
        model = ridge_fit(Htr, class_targets(jnp.asarray(y_train), K), lam)
        s_tr, s_te = ridge_predict(model, Htr), ridge_predict(model, Hte)
        loss = float(jnp.mean((s_tr - class_targets(jnp.asarray(y_train), K)) ** 2))
    else:
        head = train_readout(Htr, y_train, num_classes=K, steps=steps, lr=lr, seed=seed)
        s_tr, s_te = readout_logits(head, Htr), readout_logits(head, Hte)
        loss = float(head.losses[-1])
    return {"train_acc": accuracy(s_tr, y_train), "test_acc": accuracy(s_te, y_test),
            "final_loss": loss}
