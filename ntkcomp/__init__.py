"""ntkcomp: NTK-based compression theory for deep networks, in JAX.

Pipeline (one subpackage per stage)::

    data -> activations/moments -> networks -> kernels -> equivalents
         -> compress -> spectral -> train / experiments / figures / cli

Conventions (see ``../shared/THEORY.md`` in the development tree and DESIGN.md):
arrays are batch first (``X: (n, p)``); weights have mean 0 and variance 1 with
no ``1/sqrt(d)`` inside; hidden representations are ``(sigma(g) - m) / sqrt(d)``.

Submodules are imported lazily so that ``import ntkcomp`` is cheap.
Use :func:`ntkcomp.enable_x64` (or ``JAX_ENABLE_X64=1``) for float64, which every
formula test and theory check uses.
"""
from __future__ import annotations

import importlib
from typing import Any

from ntkcomp.config import enable_x64, x64_enabled

__version__ = "0.1.0"

_SUBMODULES = {
    "data", "activations", "networks", "kernels", "equivalents", "compress",
    "spectral", "train", "config", "guards",
}

__all__ = ["enable_x64", "x64_enabled", "moments", "__version__", *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"ntkcomp.{name}")
    if name == "moments":
        # ``ntkcomp.moments(activation, tau)`` -- the Gaussian moments of THEORY.md section 3.
        return importlib.import_module("ntkcomp.activations").moments
    raise AttributeError(f"module 'ntkcomp' has no attribute {name!r}")
