"""Memory of the device that will hold a kernel: limits for tiles and for ``n x n`` outputs.

The available memory is read per device: ``device.memory_stats()`` (``bytes_limit`` minus
``bytes_in_use``) on accelerators that report it, the host's available RAM otherwise
(``MemAvailable`` from ``/proc/meminfo``, else ``os.sysconf``). Before a kernel of several
``n1 x n2`` arrays is allocated, :func:`check_fits` compares its size with that and refuses
with a ValueError giving both numbers.
"""
from __future__ import annotations

import os

import jax

__all__ = ["available_bytes", "check_fits", "format_bytes", "tile_cap"]

#: fraction of the available memory one tile's temporaries may use
TILE_FRACTION = 0.05


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def available_bytes(device=None) -> int | None:
    """Free memory of ``device`` (default: the first local device) in bytes, or None.

    Accelerators: ``bytes_limit - bytes_in_use`` from ``device.memory_stats()``; CPU (or a
    device without statistics): the host's available RAM.
    """
    device = jax.local_devices()[0] if device is None else device
    stats = None
    try:
        stats = device.memory_stats()
    except (AttributeError, NotImplementedError, RuntimeError):
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return _host_available()


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable string (``"1.5 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024.0
    return f"{n:.1f} TiB"


def check_fits(what: str, estimate: int, max_bytes: int | None = None, device=None) -> None:
    """Refuse an allocation of ``estimate`` bytes that exceeds the limit.

    Args:
      what: the object being allocated (named in the message).
      estimate: its size in bytes.
      max_bytes: the limit (None: :func:`available_bytes` of ``device``; unknown memory is
        not checked). Pass a larger value to override the check.
      device: the device that will hold it.
    Raises:
      ValueError: ``estimate > limit``, with both numbers and the way to override.
    """
    if max_bytes is None:
        limit = available_bytes(device)
        source = "available memory"
    else:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, float)) or \
                max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        limit, source = max_bytes, "max_bytes"
    if limit is not None and estimate > limit:
        raise ValueError(f"{what} needs about {format_bytes(estimate)} but the {source} is "
                         f"{format_bytes(limit)}; reduce n, or pass max_bytes= a larger limit "
                         "to override this check")


def tile_cap(itemsize: int, factors: int, device=None) -> int:
    """Largest tile side ``b`` whose ``factors`` temporaries of ``b x b`` elements of
    ``itemsize`` bytes use at most ``TILE_FRACTION`` of the device's available memory."""
    avail = available_bytes(device)
    if avail is None:
        return 1 << 30
    per = max(1, int(itemsize) * max(1, int(factors)))
    return max(128, int((TILE_FRACTION * avail / per) ** 0.5))
