"""Full-network gradient descent in the lazy (NTK) regime, and its linearised model.

The MLP is in the NTK parameterisation (unit-variance weights, ``1/sqrt(d_l)`` after each
layer; see the theory page ``docs/theory/network.md``, section Centred network), so plain
gradient descent with a width-independent learning rate is the lazy regime. On the mean
squared error::

    loss(theta) = (1/2n) sum_i (f(x_i; theta) - y_i)^2,

the total parameter displacement ``||theta_t - theta_0||_2`` stays O(1) as the widths grow,
so the relative change of a layer with O(d) (first, output) or O(d^2) (hidden) entries is
O(1/sqrt(d)) or O(1/d), and ``f`` tracks its linearisation::

    f_lin(x; theta) = f(x; theta_0) + <grad_theta f(x; theta_0), theta - theta_0>

trained by the same gradient descent, with an O(1/sqrt(d)) deviation (Lee et al. 2019).
:func:`linearize` builds ``f_lin`` with one ``jax.jvp`` (no n x P Jacobian is formed), so
the check scales to wide networks.

Sparse networks (pruned, NTK-LC compressed) are trained on their support: pass ``masks``
(same pytree as params, 1 = trainable entry) and the gradient is multiplied by it. Note
that a network with step activations has zero gradient through its hidden layers: full GD
then only moves the output layer.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from ntkcomp._validate import check_finite_array, check_positive, check_positive_int

__all__ = ["LazyResult", "linearize", "mse_loss", "train_full"]


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

    The model is computed with ``jax.jvp`` (forward mode): cost about two forward passes,
    no Jacobian stored.

    Args:
      f: a pure function ``f(params, X)``.
      params0: the expansion point (a pytree like ``params``).

    Returns:
      ``f_lin(params, X) = f(params0, X) + J(params0) (params - params0)``, a callable with
      the signature of ``f``.
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
      X: ``(n, p)`` inputs.
      y: ``(n,)`` targets.
      lr: learning rate (``"sgd"``: plain GD, the lazy regime needs lr below
        ``2 / lambda_max(NTK / n)``).
      steps: number of full-batch steps.
      masks: optional pytree like params with 0/1 entries (trainable support).
      optimizer: ``"sgd"`` (default) or ``"adam"``.
      extra: optional pytree passed as ``f(params, X, extra)`` (traced, not differentiated).

    Returns:
      :class:`LazyResult`: the trained parameters and the loss per step ``(steps,)``.

    Raises:
      ValueError: ``steps < 1``, ``lr <= 0``, an unknown optimizer, NaN/Inf in ``X`` or
        ``y``, or ``y`` not of shape ``(n,)``.
    """
    steps = check_positive_int("steps", steps)
    check_positive("lr", lr)
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be one of ['sgd', 'adam'], got {optimizer!r}")
    check_finite_array("X", X)
    check_finite_array("y", y)
    X = jnp.asarray(X)
    y = jnp.asarray(y, X.dtype)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (n,) = ({X.shape[0]},), got {y.shape}")
    params, losses = _gd(f, params, masks, X, y, jnp.asarray(lr, X.dtype), steps, optimizer,
                         extra)
    return LazyResult(params, losses)
