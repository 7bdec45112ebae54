"""Activations with metadata and their exact Gaussian moments (THEORY.md section 3).

Public API::

    act = get("relu")                      # or get("binary", s1=-0.5, s2=1.0, b=1.0)
    act(t), act.derivative(t), act.breakpoints()
    m = moments(act, tau)                  # Moments(mean, var, a1, a2, q, s)
    ck, dd = bivariate(act, var1, var2, cov, center=m.mean)
    register("mine", lambda: jnp.tanh)     # user activations
    available()

See :mod:`.registry`, :mod:`.moments`, :mod:`.bivariate`.
"""
from ntkcomp.activations.moments import Moments, has_closed_form, moments
from ntkcomp.activations.registry import KINDS, Activation, available, get, register

from ntkcomp.activations.bivariate import bivariate, bvn_upper, mehler_error_bound

__all__ = [
    "KINDS",
    "Activation",
    "Moments",
    "available",
    "bivariate",
    "bvn_upper",
    "get",
    "has_closed_form",
    "mehler_error_bound",
    "moments",
    "register",
]
