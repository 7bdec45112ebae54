"""The 1-D device mesh that row-sharded kernels and operators are laid out on (core-internal).

Used by ``ntkcomp.kernels`` (sharded kernel rows) and ``ntkcomp.spectral`` (row-sharded
operators), so that both put rows on the same devices under the same axis name.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh

__all__ = ["ROW_AXIS", "device_mesh"]

#: the default name of the mesh axis the rows are split over
ROW_AXIS = "rows"


def device_mesh(devices: Sequence | None = None, axis_name: str = ROW_AXIS) -> Mesh:
    """A 1-D mesh over ``devices`` (default ``jax.devices()``: every device of every
    process) with one named axis; ValueError for an empty list."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must be a non-empty list of jax devices")
    return Mesh(np.array(devices), (axis_name,))
