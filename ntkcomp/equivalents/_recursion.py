"""The layer-wise coefficient recursion of the CK and NTK equivalents, written once.

See the theory page ``docs/theory/equivalents.md`` (section Coefficients and recursion).
One step maps the carry of layer ``l - 1`` and the Gaussian moments of ``sigma_l`` at the
layer's input scale ``tau_{l-1}`` to the carry of layer ``l``:

CK, ``alpha_0 = (1, 0, 0, 1)``::

    alpha_{l,1} = a1^2 alpha_{l-1,1}
    alpha_{l,2} = a1^2 alpha_{l-1,2} + (1/4) a2^2 alpha_{l-1,4}^2
    alpha_{l,3} = a1^2 alpha_{l-1,3} + (1/2) a2^2 alpha_{l-1,1}^2
    alpha_{l,4} = (1/2) q alpha_{l-1,4}
    tau_l^2     = Var[sigma_l(tau_{l-1} xi)]

NTK, ``beta_0 = (1, 0, 0)``, ``kappa_0^2 = tau_0^2``::

    beta_{l,1} = alpha_{l,1} + a1^2 beta_{l-1,1}
    beta_{l,2} = alpha_{l,2} + a1^2 beta_{l-1,2}
    beta_{l,3} = alpha_{l,3} + a1^2 beta_{l-1,3} + a2^2 alpha_{l-1,1} beta_{l-1,1}
    kappa_l^2  = tau_l^2 + s_l kappa_{l-1}^2

Piecewise-constant (step) activations have an infinite ``s = E[sigma'^2]``. The autodiff
convention takes ``sigma' = 0`` almost everywhere, so such a layer uses ``(a1, a2, s) = (0, 0,
0)`` in the NTK (beta, kappa) part of the step only; the CK part keeps the true moments.

Weight kurtosis (theory page ``docs/theory/universality.md``, section Kurtosis
corrections): the fourth cumulant ``kappa4`` of the layer-1 weights adds ``alpha_diag_1 =
a2^2 kappa4 / 4`` (the ``T_diag`` coefficient), then ``alpha_diag_l = a1^2
alpha_diag_{l-1}`` and ``beta_diag_l = alpha_diag_l + a1^2 beta_diag_{l-1}``.

Finite width (theory page ``docs/theory/finite_width.md``, section Mean finite-width
shift), ``b_1 = 0``, ``v_0 = 0``::

    b_l = a1^2 b_{l-1} + (a2^2 / 2) v_{l-1} + (a2^2 / 4) kappa4(W_l) tau_{l-1}^4 / d_{l-1}
    v_l = a1^4 v_{l-1} + tau_l^4 / d_l
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.activations import moments

STEP_CONVENTIONS = ("autodiff", "raise")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LayerCarry:
    """State of the coefficient recursion after one layer (every field is a JAX scalar or
    a small array, so the carry is a pytree usable under ``jit`` and ``grad``).

    Attributes:
      alpha: ``(4,)`` the CK coefficients ``alpha_{l,1..4}``.
      alpha_diag: ``()`` the CK weight-kurtosis ``T_diag`` coefficient.
      beta: ``(3,)`` the NTK coefficients ``beta_{l,1..3}``.
      beta_diag: ``()`` the NTK weight-kurtosis ``T_diag`` coefficient.
      tau: ``()`` the feature scale ``tau_l``.
      kappa2: ``()`` the NTK diagonal scale ``kappa_l^2``.
      b: ``()`` the finite-width off-diagonal shift ``b_l``.
      v: ``()`` the finite-width variance term ``v_l``.
      width: ``()`` the width ``d_l`` of layer ``l`` (``nan`` for the data layer).
    """

    alpha: Any
    alpha_diag: Any
    beta: Any
    beta_diag: Any
    tau: Any
    kappa2: Any
    b: Any
    v: Any
    width: Any

    @classmethod
    def initial(cls, tau0) -> LayerCarry:
        """The carry of the data layer ``l = 0`` at scale ``tau0`` (a positive scalar)."""
        tau0 = jnp.asarray(tau0)
        if not jnp.issubdtype(tau0.dtype, jnp.floating):
            tau0 = tau0.astype(jnp.result_type(float))
        one, zero = jnp.ones_like(tau0), jnp.zeros_like(tau0)
        return cls(alpha=jnp.stack([one, zero, zero, one]), alpha_diag=zero,
                   beta=jnp.stack([one, zero, zero]), beta_diag=zero, tau=tau0,
                   kappa2=tau0 ** 2, b=zero, v=zero, width=jnp.full_like(tau0, jnp.nan))


def layer_step(carry: LayerCarry, m, *, kappa4=0.0, width=math.inf, first: bool = False,
               differentiable: bool = True) -> LayerCarry:
    """One layer of the coefficient recursion (pure; ``jit``- and ``grad``-compatible).

    Args:
      carry: the :class:`LayerCarry` of layer ``l - 1`` (``LayerCarry.initial(tau0)`` for
        the data layer).
      m: the Gaussian moments of ``sigma_l`` at scale ``carry.tau``: any object with
        scalar fields ``a1``, ``a2``, ``q``, ``var`` and, when ``differentiable``, ``s``
        (e.g. ``ntkcomp.activations.moments(act, carry.tau)``).
      kappa4: fourth cumulant of the weights ``W_l`` (0 for Gaussian weights).
      width: the width ``d_l`` of layer ``l`` (enters the finite-width terms only).
      first: True for layer 1 (its ``kappa4`` enters ``alpha_diag``; deeper layers'
        ``kappa4`` enters the finite-width shift ``b``). Static.
      differentiable: False for a piecewise-constant ``sigma_l`` under the autodiff
        convention (``(a1, a2, s) = (0, 0, 0)`` in the NTK part). Static.

    Returns:
      The :class:`LayerCarry` of layer ``l``.
    """
    a1, a2, q, tl2 = m.a1, m.a2, m.q, m.var
    zero = jnp.zeros_like(carry.tau)
    if differentiable:
        a1_n, a2_n, s_n = a1, a2, m.s
    else:
        a1_n, a2_n, s_n = zero, zero, zero
    k4 = jnp.asarray(kappa4, dtype=carry.tau.dtype)
    ap, bp = carry.alpha, carry.beta
    alpha = jnp.stack([
        a1 ** 2 * ap[0],
        a1 ** 2 * ap[1] + 0.25 * a2 ** 2 * ap[3] ** 2,
        a1 ** 2 * ap[2] + 0.5 * a2 ** 2 * ap[0] ** 2,
        0.5 * q * ap[3],
    ])
    alpha_diag = 0.25 * a2 ** 2 * k4 if first else a1 ** 2 * carry.alpha_diag
    beta = jnp.stack([
        alpha[0] + a1_n ** 2 * bp[0],
        alpha[1] + a1_n ** 2 * bp[1],
        alpha[2] + a1_n ** 2 * bp[2] + a2_n ** 2 * ap[0] * bp[0],
    ])
    d_l = jnp.asarray(width, dtype=carry.tau.dtype)
    if first:
        b, v = zero, tl2 ** 2 / d_l
    else:
        b = (a1 ** 2 * carry.b + 0.5 * a2 ** 2 * carry.v
             + 0.25 * a2 ** 2 * k4 * carry.tau ** 4 / carry.width)
        v = a1 ** 4 * carry.v + tl2 ** 2 / d_l
    return LayerCarry(alpha=alpha, alpha_diag=alpha_diag, beta=beta,
                      beta_diag=alpha_diag + a1_n ** 2 * carry.beta_diag, tau=jnp.sqrt(tl2),
                      kappa2=tl2 + s_n * carry.kappa2, b=b, v=v, width=d_l)


#: :func:`layer_step` compiled once per (first, differentiable, dtype): one dispatch per
#: layer instead of some forty scalar operations
_layer_step_jit = jax.jit(layer_step, static_argnames=("first", "differentiable"))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Coefficients:
    """Per-layer equivalent coefficients, index ``l = 0..L`` (row 0 is the data layer).

    Attributes:
      alpha: ``(L+1, 4)`` the CK coefficients ``alpha_{l,1..4}``.
      alpha_diag: ``(L+1,)`` the CK weight-kurtosis ``T_diag`` coefficient.
      beta: ``(L+1, 3)`` the NTK coefficients ``beta_{l,1..3}``.
      beta_diag: ``(L+1,)`` the NTK weight-kurtosis coefficient.
      tau: ``(L+1,)`` the feature scales ``tau_0..tau_L``.
      kappa: ``(L+1,)`` ``sqrt(kappa2)``.
      kappa2: ``(L+1,)`` the NTK diagonal scales ``kappa_l^2``.
      b: ``(L+1,)`` finite-width off-diagonal shifts (``b_0 = 0``).
      v: ``(L+1,)`` finite-width variance terms (``v_0 = 0``).
      a1, a2, q, s, mean: ``(L+1,)`` moments of ``sigma_l`` at ``tau_{l-1}``; entry 0 is
        the identity convention (``a1 = 1, a2 = 0, q = 2, s = 1, mean = 0``).
      a1_ntk, a2_ntk, s_ntk: ``(L+1,)`` the values the NTK part uses (0 for step layers
        under the autodiff convention).
      kappa4: ``(L+1,)`` fourth cumulant of ``W_l`` (entry 0 is 0).
      widths: ``(L+1,)`` ``nan, d_1..d_L``.
      names, kinds: static, per layer ``1..L``: activation names and kinds.
      step_convention: static, ``"autodiff"`` or ``"raise"``.
    """

    alpha: Any
    alpha_diag: Any
    beta: Any
    beta_diag: Any
    tau: Any
    kappa: Any
    kappa2: Any
    b: Any
    v: Any
    a1: Any
    a2: Any
    q: Any
    s: Any
    mean: Any
    a1_ntk: Any
    a2_ntk: Any
    s_ntk: Any
    kappa4: Any
    widths: Any
    names: tuple = dataclasses.field(metadata={"static": True}, default=())
    kinds: tuple = dataclasses.field(metadata={"static": True}, default=())
    step_convention: str = dataclasses.field(metadata={"static": True}, default="autodiff")

    @property
    def depth(self) -> int:
        """The number of layers ``L``."""
        return int(np.shape(self.tau)[0]) - 1

    def summary(self) -> str:
        """A readable per-layer table of every coefficient."""
        cols = ["l", "act", "tau", "a1", "a2", "q", "s", "alpha1", "alpha2", "alpha3",
                "alpha4", "alphaD", "beta1", "beta2", "beta3", "kappa", "b"]
        rows = []
        for l in range(self.depth + 1):
            name = "input" if l == 0 else self.names[l - 1]
            vals = [self.tau[l], self.a1[l], self.a2[l], self.q[l], self.s[l],
                    *[self.alpha[l, k] for k in range(4)], self.alpha_diag[l],
                    *[self.beta[l, k] for k in range(3)], self.kappa[l], self.b[l]]
            rows.append([str(l), name] + [f"{float(x):.4g}" for x in vals])
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        out = [_row(cols, widths), _row(["-" * w for w in widths], widths)]
        out += [_row(r, widths) for r in rows]
        out.append(f"(step-activation NTK convention: {self.step_convention}; "
                   "alphaD = kurtosis T_diag coefficient; b = finite-width off-diagonal term)")
        return "\n".join(out)

    def __str__(self) -> str:  # pragma: no cover - formatting only
        return self.summary()


def _row(cells, widths) -> str:
    return "  ".join(x.rjust(w) for x, w in zip(cells, widths))


def _kappa4(law) -> float:
    if law is None:
        return 0.0
    k = getattr(law, "kappa4", 0.0)
    return k() if callable(k) else k


def _net_tau0(net, tau0):
    if tau0 is None:
        tau0 = getattr(net, "tau0", None)
        if tau0 is None:
            tau0 = net.taus[0]
    return jnp.asarray(tau0, dtype=jnp.result_type(float))


def _kind(act) -> str:
    """The activation's kind as a plain string (``"smooth"`` when it has none)."""
    kind = getattr(act, "kind", "smooth")
    return str(getattr(kind, "value", kind))


def _check_step(act, index: int, step_derivative: str) -> bool:
    """True when layer ``index`` (0-based) is differentiable for the NTK recursion."""
    if _kind(act) != "piecewise_constant":
        return True
    if step_derivative == "raise":
        raise ValueError(
            f"activations[{index}] ({getattr(act, 'name', act)}) is piecewise constant:"
            " s = E[sigma'^2] is infinite and the NTK equivalent is undefined; use"
            " step_derivative='autodiff' (sigma' = 0 a.e., NTK = CK from that layer)")
    return False


def coefficients(net, tau0=None, *, step_derivative: str = "autodiff") -> Coefficients:
    """Coefficients of the CK and NTK equivalents of ``net`` at data scale ``tau0``.

    Runs :func:`layer_step` over the layers of ``net``. See the theory page
    ``docs/theory/equivalents.md`` (section Coefficients and recursion).

    Args:
      net: an ``ntkcomp.networks.MLP`` (its ``activations``, ``weight_laws``, ``widths``).
      tau0: data scale ``sqrt(tr C / p)``, positive; defaults to ``net.tau0``.
        Differentiable.
      step_derivative: ``"autodiff"`` (default; piecewise-constant layers contribute 0 to
        the back-propagated part of the NTK) or ``"raise"``.

    Returns:
      :class:`Coefficients`, arrays indexed by layer ``l = 0..L``.

    Raises:
      ValueError: ``step_derivative`` not in ``("autodiff", "raise")``, or ``"raise"``
        with a piecewise-constant layer.
    """
    if step_derivative not in STEP_CONVENTIONS:
        raise ValueError(f"step_derivative must be one of {list(STEP_CONVENTIONS)}, "
                         f"got {step_derivative!r}")
    acts = tuple(net.activations)
    L = len(acts)
    laws = tuple(getattr(net, "weight_laws", ())) or (None,) * L
    widths = tuple(getattr(net, "widths", ())) or (np.nan,) * L
    tau0 = _net_tau0(net, tau0)
    carry = LayerCarry.initial(tau0)
    one, zero = jnp.ones_like(tau0), jnp.zeros_like(tau0)
    carries = [carry]
    cols = {k: [v] for k, v in dict(a1=one, a2=zero, q=2 * one, s=one, mean=zero, a1_ntk=one,
                                     a2_ntk=zero, s_ntk=one, kappa4=zero).items()}
    for l in range(1, L + 1):
        act = acts[l - 1]
        m = moments(act, carry.tau)
        smooth = _check_step(act, l - 1, step_derivative)
        k4 = jnp.asarray(_kappa4(laws[l - 1]), dtype=tau0.dtype)
        carry = _layer_step_jit(carry, m, kappa4=k4,
                                width=jnp.asarray(float(widths[l - 1]), dtype=tau0.dtype),
                                first=l == 1, differentiable=smooth)
        carries.append(carry)
        row = dict(a1=m.a1, a2=m.a2, q=m.q, s=m.s, mean=m.mean, kappa4=k4,
                   a1_ntk=m.a1 if smooth else zero, a2_ntk=m.a2 if smooth else zero,
                   s_ntk=m.s if smooth else zero)
        for k, v in row.items():
            cols[k].append(v)
    st = lambda xs: jnp.stack([jnp.asarray(x, dtype=tau0.dtype) for x in xs])
    field = lambda name: st([getattr(c, name) for c in carries])
    kappa2 = field("kappa2")
    return Coefficients(
        alpha=jnp.stack([c.alpha for c in carries]), alpha_diag=field("alpha_diag"),
        beta=jnp.stack([c.beta for c in carries]), beta_diag=field("beta_diag"),
        tau=field("tau"), kappa=jnp.sqrt(kappa2), kappa2=kappa2, b=field("b"), v=field("v"),
        **{k: st(v) for k, v in cols.items()},
        widths=jnp.asarray([np.nan, *[float(w) for w in widths]], dtype=tau0.dtype),
        names=tuple(str(getattr(a, "name", a)) for a in acts),
        kinds=tuple(_kind(a) for a in acts),
        step_convention=step_derivative,
    )


def reference_kappa2(net, c: Coefficients):
    """``kappa_L^2`` as the paper's public reference code computes it (``Variant.REFERENCE``).

    The reference starts from ``kappa_0^2 = tau_0`` (not ``tau_0^2``) and evaluates both
    terms of the step at the layer's output scale ``tau_l`` instead of its input scale:
    ``kappa_l^2 = Var[sigma_l(tau_l xi)] + E[sigma_l'(tau_l xi)^2] kappa_{l-1}^2``. Step
    layers use ``sigma' = 0`` (the autodiff convention). Returns a scalar.
    """
    k2 = c.tau[0]
    for l in range(1, c.depth + 1):
        m = moments(net.activations[l - 1], c.tau[l])
        s = m.s if c.kinds[l - 1] != "piecewise_constant" else jnp.zeros_like(m.s)
        k2 = m.var + s * k2
    return k2
