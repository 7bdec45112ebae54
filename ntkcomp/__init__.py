"""ntkcomp: NTK-based compression theory for deep networks, in JAX.

Pipeline (one subpackage per stage)::

    data -> activations -> networks -> kernels -> equivalents -> compress -> spectral
         -> train -> io

Conventions: arrays are batch first (``X: (n, p)``); weights have mean 0 and variance 1
with no ``1/sqrt(d)`` inside; hidden representations are ``(sigma(g) - m) / sqrt(d)``.
See the theory page ``docs/theory/network.md`` (section Centred network).

Use :func:`ntkcomp.enable_x64` (or ``JAX_ENABLE_X64=1``) for float64, which every formula
test and theory check uses. The subpackages are imported on first access
(``ntkcomp.spectral``), so that ``import ntkcomp`` does not load all of them.
"""
from __future__ import annotations

import importlib
from typing import Any

from ntkcomp.config import enable_x64, x64_enabled

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "activations",
    "compress",
    "data",
    "enable_x64",
    "equivalents",
    "io",
    "kernels",
    "moments",
    "networks",
    "spectral",
    "train",
    "x64_enabled",
]

#: subpackages loaded on first attribute access (import cost of ``import ntkcomp``)
_SUBPACKAGES = frozenset({"activations", "compress", "data", "equivalents", "io", "kernels",
                          "networks", "spectral", "train"})


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"ntkcomp.{name}")
    if name == "moments":
        # ``ntkcomp.moments(activation, tau)``: the Gaussian moments of an activation
        return importlib.import_module("ntkcomp.activations").moments
    raise AttributeError(f"module 'ntkcomp' has no attribute {name!r}")
