"""Layer-wise coefficients of the CK / NTK equivalents (THEORY.md sections 4-7).

All recursions are pure functions of the Gaussian moments of each activation
(``ntkcomp.activations.moments``) evaluated at the layer's input scale ``tau_{l-1}``:

CK (section 4), ``alpha_0 = (1, 0, 0, 1)`` and for ``l >= 1``::

    alpha_{l,1} = a1^2 alpha_{l-1,1}
    alpha_{l,2} = a1^2 alpha_{l-1,2} + (1/4) a2^2 alpha_{l-1,4}^2
    alpha_{l,3} = a1^2 alpha_{l-1,3} + (1/2) a2^2 alpha_{l-1,1}^2
    alpha_{l,4} = (1/2) q alpha_{l-1,4}
    tau_l^2     = Var[sigma_l(tau_{l-1} xi)]

NTK (section 5), ``beta_0 = (1, 0, 0)``, ``kappa_0^2 = tau_0^2``::

    beta_{l,1} = alpha_{l,1} + a1^2 beta_{l-1,1}
    beta_{l,2} = alpha_{l,2} + a1^2 beta_{l-1,2}
    beta_{l,3} = alpha_{l,3} + a1^2 beta_{l-1,3} + a2^2 alpha_{l-1,1} beta_{l-1,1}
    kappa_l^2  = tau_l^2 + s_l kappa_{l-1}^2          (s_l at tau_{l-1})

Step activations (``kind == "piecewise_constant"``): ``s = E[sigma'^2]`` is infinite.
ntkcomp follows the **autodiff convention** (THEORY section 5): sigma' = 0 almost
everywhere, so the back-propagated factor ``E[sigma'(u) sigma'(v)]`` of such a layer is 0
and the NTK recursion uses ``(a1, a2, s) -> (0, 0, 0)`` *in the beta/kappa recursion only*
(the CK recursion keeps the true Stein moments a1, a2, q, which are finite). The effective
values are stored in ``a1_ntk, a2_ntk, s_ntk``; ``s`` keeps the raw ``inf``. With
``step_derivative="raise"`` a ValueError is raised instead.

Weight kurtosis (section 7): with layer-1 weights of fourth cumulant kappa4,
``alpha_{1,3} T -> (a2^2/4)(2 T + kappa4 T_diag)``. The T_diag coefficient is kept in a
separate slot ``alpha_diag`` (``alpha_diag_1 = a2_1^2 kappa4(W_1) / 4``, then
``alpha_diag_l = a1^2 alpha_diag_{l-1}``; NTK: ``beta_diag_l = alpha_diag_l +
a1_ntk^2 beta_diag_{l-1}``), so the correction can be switched on or off.

Finite width (section 6): ``b_1 = 0, v_0 = 0`` and for ``l >= 2``::

    b_l = a1^2 b_{l-1} + (a2^2/2) v_{l-1} + (a2^2/4) kappa4(W_l) tau_{l-1}^4 / d_{l-1}
    v_l = a1^4 v_{l-1} + tau_l^4 / d_l          (v_1 = tau_1^4 / d_1)

so that ``E_W[CK_L] ~ K~_L + b_L (1 1^T - I)`` at finite widths ``d_l``.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_choice

__all__ = ["STEP_CONVENTIONS", "Coefficients", "coefficients"]

STEP_CONVENTIONS = ("autodiff", "raise")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Coefficients:
    """Per-layer equivalent coefficients, index ``l = 0..L`` (row 0 = input layer).

    Array fields (leaves):
      alpha (L+1, 4): alpha_{l,1..4}.       alpha_diag (L+1,): kurtosis T_diag coefficient.
      beta (L+1, 3): beta_{l,1..3}.         beta_diag (L+1,): NTK kurtosis coefficient.
      tau (L+1,): tau_0..tau_L.             kappa (L+1,): kappa_l = sqrt(kappa_l^2).
      kappa2 (L+1,): kappa_l^2.             b (L+1,), v (L+1,): finite-width terms (b_0=v_0=0).
      a1, a2, q, s, mean (L+1,): moments of sigma_l at tau_{l-1}; entry 0 is the identity
        layer convention (a1=1, a2=0, q=2, s=1, mean=0).
      a1_ntk, a2_ntk, s_ntk (L+1,): the values used by the NTK recursion (0 for step layers
        under the autodiff convention).
      kappa4 (L+1,): fourth cumulant of W_l (entry 0 unused, 0).
      widths (L+1,): d_0 = p (nan if unknown), d_1..d_L.
    Static: names, kinds (per layer 1..L), step_convention.
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
        line = lambda r: "  ".join(x.rjust(w) for x, w in zip(r, widths))
        out = [line(cols), line(["-" * w for w in widths])] + [line(r) for r in rows]
        out.append(f"(step-activation NTK convention: {self.step_convention}; "
                   "alphaD = kurtosis T_diag coefficient; b = finite-width off-diagonal term)")
        return "\n".join(out)

    def __str__(self) -> str:  # pragma: no cover - formatting only
        return self.summary()


def _moments(act, tau):
    from ntkcomp.activations import moments

    return moments(act, tau)


def _kappa4(law) -> float:
    k = getattr(law, "kappa4", 0.0)
    return k() if callable(k) else k


def coefficients(net, tau0=None, *, step_derivative: str = "autodiff") -> Coefficients:
    """Coefficients of the CK and NTK equivalents of ``net`` at input scale ``tau0``.

    Args:
      net: an ``ntkcomp.networks.MLP`` (uses ``activations``, ``weight_laws``, ``widths``).
      tau0: data scale ``sqrt(tr C°/p)``; defaults to ``net.tau0``. Differentiable.
      step_derivative: ``"autodiff"`` (default; piecewise-constant layers contribute 0 to
        the back-propagated part of the NTK, NTK = CK_L for an all-step network) or
        ``"raise"`` (ValueError if a layer has infinite ``s``).
    Returns:
      :class:`Coefficients` (arrays indexed by layer ``l = 0..L``).
    """
    check_choice("step_derivative", step_derivative, STEP_CONVENTIONS)
    acts = tuple(net.activations)
    L = len(acts)
    laws = tuple(getattr(net, "weight_laws", ())) or (None,) * L
    widths = tuple(getattr(net, "widths", ())) or (np.nan,) * L
    if tau0 is None:
        tau0 = getattr(net, "tau0", None)
        if tau0 is None:
            tau0 = net.taus[0]
    tau0 = jnp.asarray(tau0, dtype=jnp.result_type(float))
    one, zero = jnp.ones_like(tau0), jnp.zeros_like(tau0)

    alpha = [jnp.stack([one, zero, zero, one])]
    alpha_d = [zero]
    beta = [jnp.stack([one, zero, zero])]
    beta_d = [zero]
    tau = [tau0]
    kappa2 = [tau0 ** 2]
    a1s, a2s, qs, ss, means = [one], [zero], [2 * one], [one], [zero]
    a1n, a2n, sn = [one], [zero], [one]
    k4s = [zero]
    b, v = [zero], [zero]
    for l in range(1, L + 1):
        act = acts[l - 1]
        m = _moments(act, tau[l - 1])
        a1, a2, q, s = m.a1, m.a2, m.q, m.s
        kind = getattr(act, "kind", "smooth")
        if kind == "piecewise_constant":
            if step_derivative == "raise":
                raise ValueError(
                    f"activations[{l - 1}] ({getattr(act, 'name', act)}) is piecewise constant:"
                    " s = E[sigma'^2] is infinite and the NTK equivalent is undefined; use"
                    " step_derivative='autodiff' (sigma' = 0 a.e., NTK = CK from that layer)")
            a1_n, a2_n, s_n = zero, zero, zero
        else:
            a1_n, a2_n, s_n = a1, a2, s
        k4 = jnp.asarray(_kappa4(laws[l - 1]) if laws[l - 1] is not None else 0.0,
                         dtype=tau0.dtype)
        ap, bp = alpha[-1], beta[-1]
        al = jnp.stack([
            a1 ** 2 * ap[0],
            a1 ** 2 * ap[1] + 0.25 * a2 ** 2 * ap[3] ** 2,
            a1 ** 2 * ap[2] + 0.5 * a2 ** 2 * ap[0] ** 2,
            0.5 * q * ap[3],
        ])
        ald = 0.25 * a2 ** 2 * k4 if l == 1 else a1 ** 2 * alpha_d[-1]
        bl = jnp.stack([
            al[0] + a1_n ** 2 * bp[0],
            al[1] + a1_n ** 2 * bp[1],
            al[2] + a1_n ** 2 * bp[2] + a2_n ** 2 * ap[0] * bp[0],
        ])
        bld = ald + a1_n ** 2 * beta_d[-1]
        tl2 = m.var
        tau_l = jnp.sqrt(tl2)
        k2 = tl2 + s_n * kappa2[-1]
        d_prev = widths[l - 2] if l >= 2 else np.nan
        d_l = widths[l - 1]
        if l == 1:
            bl_fw = zero
            vl = tl2 ** 2 / d_l
        else:
            bl_fw = (a1 ** 2 * b[-1] + 0.5 * a2 ** 2 * v[-1]
                     + 0.25 * a2 ** 2 * k4 * tau[l - 1] ** 4 / d_prev)
            vl = a1 ** 4 * v[-1] + tl2 ** 2 / d_l
        for seq, value in ((alpha, al), (alpha_d, ald), (beta, bl), (beta_d, bld),
                           (tau, tau_l), (kappa2, k2), (b, bl_fw), (v, vl), (a1s, a1),
                           (a2s, a2), (qs, q), (ss, s), (means, m.mean), (a1n, a1_n),
                           (a2n, a2_n), (sn, s_n), (k4s, k4)):
            seq.append(value)

    st = lambda xs: jnp.stack([jnp.asarray(x, dtype=tau0.dtype) for x in xs])
    kappa2_arr = st(kappa2)
    return Coefficients(
        alpha=jnp.stack(alpha), alpha_diag=st(alpha_d), beta=jnp.stack(beta),
        beta_diag=st(beta_d), tau=st(tau), kappa=jnp.sqrt(kappa2_arr), kappa2=kappa2_arr,
        b=st(b), v=st(v), a1=st(a1s), a2=st(a2s), q=st(qs), s=st(ss), mean=st(means),
        a1_ntk=st(a1n), a2_ntk=st(a2n), s_ntk=st(sn), kappa4=st(k4s),
        widths=jnp.asarray([np.nan, *[float(w) for w in widths]], dtype=tau0.dtype),
        names=tuple(str(getattr(a, "name", a)) for a in acts),
        kinds=tuple(str(getattr(a, "kind", "smooth")) for a in acts),
        step_convention=step_derivative,
    )
