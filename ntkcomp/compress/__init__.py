"""Compression of a dense MLP into sparse ternary weights and quantized activations.

The pipeline, one step per function (each a pure function of small typed values)::

    d = design(net, tau0, family=Family.TERNARY, target=Target.CK)   # moment matching
    s = sparsify(net, d, eps=0.9, budget=KurtosisBudget(tol=0.05), data=sample)
    compressed = build(net, d, s.eps)                                   # the compressed MLP
    a = assess(net, compressed, tau0, target=Target.CK, X=sample.X)     # shift, differences
    packing.memory_report(compressed, p)                                # real packed bits

:func:`compress` runs them all (``compress(net, tau0=..., eps=..., family="ternary")``;
strings convert to the option types). :func:`solve_layer` solves one layer.
``ntkcomp.compress.packing`` holds the storage format (``pack``, ``save``, ``load``).
See the theory page ``docs/theory/compression.md`` (section Design).
"""
from ntkcomp.compress import packing  # noqa: F401 (the storage module, ntkcomp.compress.packing)
from ntkcomp.compress._assess import assess
from ntkcomp.compress._compress import CompressionResult, compress
from ntkcomp.compress._design import build, design
from ntkcomp.compress._options import (Family, HiddenScale, KurtosisBudget, SolverOptions,
                                       Target, layer_eps)
from ntkcomp.compress._solver import InfeasibleError, solve_layer
from ntkcomp.compress._sparsify import sparsify
from ntkcomp.compress._targets import target_from_activation

__all__ = [
    "CompressionResult",
    "Family",
    "HiddenScale",
    "InfeasibleError",
    "KurtosisBudget",
    "SolverOptions",
    "Target",
    "assess",
    "build",
    "compress",
    "design",
    "layer_eps",
    "solve_layer",
    "sparsify",
    "target_from_activation",
]
