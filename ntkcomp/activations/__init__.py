"""Activation families, each owning its maths: sigma, derivatives, Gaussian moments and
the bivariate map (closed forms where known, quadrature and the Mehler series otherwise).

Public API::

    act = get("relu")                      # or get("binary", s1=-0.5, s2=1.0, b=1.0)
    act(t), act.derivative(t), act.breakpoints(), act.tau_range()
    m = moments(act, tau)                  # Moments(mean, var, a1, a2, q, s)
    ck, dd = bivariate(act, var1, var2, cov, center=m.mean)
    available()                            # the built-in names

A new family is a subclass of :class:`Activation` (set ``name``, ``kind``, declare the
parameters as fields, implement ``sigma``); pass its instance wherever an activation is
accepted. See the theory page ``docs/theory/moments.md``.
"""
from ntkcomp.activations._base import Activation
from ntkcomp.activations._builtins import available, bivariate, get, moments
from ntkcomp.activations._types import Kind, Moments

__all__ = [
    "Activation",
    "Kind",
    "Moments",
    "available",
    "bivariate",
    "get",
    "moments",
]
