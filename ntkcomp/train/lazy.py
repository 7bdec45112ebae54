"""Full-network gradient descent in the lazy (NTK) regime, and its linearised model.

The MLP of THEORY.md section 2 is already in the NTK parameterisation (unit-variance
weights, ``1/sqrt(d_l)`` after each layer), so plain gradient descent with a width-
independent learning rate is the lazy regime: on the mean squared error

    loss(theta) = (1/2n) sum_i (f(x_i; theta) - y_i)^2,

the total parameter displacement ``||theta_t - theta_0||_2`` stays O(1) as the widths grow,
so the relative change of a layer with O(d) (first, output) or O(d^2) (hidden) entries is
O(1/sqrt(d)) or O(1/d), and ``f`` tracks its linearisation

    f_lin(x; theta) = f(x; theta_0) + <grad_theta f(x; theta_0), theta - theta_0>

trained by the same gradient descent, with an O(1/sqrt(d)) deviation (Lee et al. 2019).
:func:`linearize` builds ``f_lin`` with one ``jax.jvp`` (no n x P Jacobian is formed), so
the check scales to wide networks.

Sparse networks (pruned, NTK-LC compressed) are trained on their support: pass ``masks``
(same pytree as params, 1 = trainable entry) and the gradient is multiplied by it. Note
that a network with step activations has zero gradient through its hidden layers
(THEORY.md section 5): full GD then only moves the output layer.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from ntkcomp._validate import check_positive, check_positive_int

__all__ = [
    "LazyResult",
    "lazy_comparison",
    "linearize",
    "mse_loss",
    "param_movement",
    "train_full",
]


class LazyResult(NamedTuple):
    """Parameters after training and the training loss per step ``(steps,)``."""

    params: dict
    losses: jax.Array


def mse_loss(f: Callable, params, X, y) -> jax.Array:
    """``(1/2n) sum (f(params, X) - y)^2``."""
    r = f(params, X) - y
    return 0.5 * jnp.mean(r * r)


class _Linearized:
    """Hashable linearisation of ``f``: ``lin(params, X, params0)`` (params0 is traced)."""

    def __init__(self, f):
        self.f = f

    def __hash__(self):
        return hash(("linearized", self.f))

    def __eq__(self, other):
        return isinstance(other, _Linearized) and other.f == self.f

    def __call__(self, params, X, params0):
        dparams = jax.tree_util.tree_map(lambda a, b: a - b, params, params0)
        y0, dy = jax.jvp(lambda pr: self.f(pr, X), (params0,), (dparams,))
        return y0 + dy


def linearize(f: Callable, params0) -> Callable:
    """The first-order Taylor model of ``f(params, X)`` around ``params0``.

    Returns ``f_lin(params, X) = f(params0, X) + J(params0) (params - params0)`` computed with
    ``jax.jvp`` (forward mode): cost about two forward passes, no Jacobian stored.
    """
    lin = _Linearized(f)
    return lambda params, X: lin(params, X, params0)


@partial(jax.jit, static_argnames=("f", "steps", "optimizer"))
def _gd(f, params, masks, X, y, lr, steps, optimizer, extra=None):
    fx = f if extra is None else (lambda pr, X_: f(pr, X_, extra))
    opt = optax.sgd(lr) if optimizer == "sgd" else optax.adam(lr)
    state = opt.init(params)

    def step(carry, _):
        pr, st = carry
        loss, g = jax.value_and_grad(lambda q: mse_loss(fx, q, X, y))(pr)
        if masks is not None:
            g = jax.tree_util.tree_map(lambda gi, mi: gi * mi, g, masks)
        upd, st = opt.update(g, st, pr)
        return (optax.apply_updates(pr, upd), st), loss

    (params, _), losses = jax.lax.scan(step, (params, state), None, length=steps)
    return params, losses


def train_full(f: Callable, params, X, y, *, lr: float = 0.5, steps: int = 200,
               masks=None, optimizer: str = "sgd", extra=None) -> LazyResult:
    """Full-batch gradient descent on the MSE of ``f(params, X) -> (n,)`` against ``y (n,)``.

    Args:
      f: a pure function ``f(params, X)`` (e.g. ``net.apply`` or :func:`linearize`'s result);
        it must be hashable for jit (bound methods of an MLP are).
      params: initial parameters (any pytree).
      lr: learning rate (``"sgd"``: plain GD, the lazy regime needs lr below
        ``2 / lambda_max(NTK / n)``); steps: number of full-batch steps.
      masks: optional pytree like params with 0/1 entries (trainable support).
      optimizer: ``"sgd"`` (default) or ``"adam"``.
      extra: optional pytree passed as ``f(params, X, extra)`` (traced, not differentiated).
    """
    steps = check_positive_int("steps", steps)
    check_positive("lr", lr)
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be one of ['sgd', 'adam'], got {optimizer!r}")
    X = jnp.asarray(X)
    y = jnp.asarray(y, X.dtype)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (n,) = ({X.shape[0]},), got {y.shape}")
    params, losses = _gd(f, params, masks, X, y, jnp.asarray(lr, X.dtype), steps, optimizer,
                         extra)
    return LazyResult(params, losses)


def param_movement(params0, params1) -> dict:
    """Per-leaf relative change ``||p1 - p0||_F / ||p0||_F`` and the total ``||theta1 - theta0||``.

    Returns ``{"relative": [per leaf, in tree_leaves order], "absolute": [...],
    "total_absolute": float}``.
    """
    l0 = jax.tree_util.tree_leaves(params0)
    l1 = jax.tree_util.tree_leaves(params1)
    absd = [float(jnp.linalg.norm((b - a).ravel())) for a, b in zip(l0, l1)]
    rel = [d / max(float(jnp.linalg.norm(a.ravel())), 1e-300) for d, a in zip(absd, l0)]
    return {"relative": rel, "absolute": absd,
            "total_absolute": float(jnp.sqrt(sum(d * d for d in absd)))}


def lazy_comparison(f: Callable, params0, X_train, y_train, X_test, *, lr: float = 0.5,
                    steps: int = 200, masks=None) -> dict:
    """Train ``f`` and its linearisation with the same GD; compare them.

    Returns a dict with ``f_train``/``f_test`` (nonlinear model after training),
    ``lin_train``/``lin_test`` (linearised model after training), ``f0_test``,
    ``rel_dev`` = ``||f_test - lin_test|| / ||lin_test - f0_test||`` (deviation relative to
    how far the function moved), ``movement`` (:func:`param_movement`), losses of both.
    """
    full = train_full(f, params0, X_train, y_train, lr=lr, steps=steps, masks=masks)
    lin_f = _Linearized(f)
    lin = train_full(lin_f, params0, X_train, y_train, lr=lr, steps=steps, masks=masks,
                     extra=params0)
    f_lin = linearize(f, params0)
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
