"""Numerical precision switch.

JAX computes in float32 by default. Every formula test and theory check in ntkcomp
runs in float64: call :func:`enable_x64` once, before creating arrays, or set the
environment variable ``JAX_ENABLE_X64=1``. ``tests/conftest.py`` and the
``theory_checks`` modules do this for you.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def enable_x64(enabled: bool = True) -> None:
    """Switch JAX to float64 (``jax_enable_x64``) globally. Call before creating arrays.

    Args:
        enabled: True for float64 as the default float, False for float32.
    """
    jax.config.update("jax_enable_x64", bool(enabled))


def x64_enabled() -> bool:
    """Whether JAX's default float is float64.

    Returns:
        True when ``jax_enable_x64`` is on, else False.
    """
    return bool(jax.config.jax_enable_x64)


def default_float():
    """The default floating dtype under the current setting (float64 or float32)."""
    return jnp.float64 if x64_enabled() else jnp.float32
