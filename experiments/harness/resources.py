"""Memory estimates checked before a run starts (refuse with the estimate, never abort
inside XLA half-way through a run)."""
from __future__ import annotations

import os

__all__ = ["available_memory_bytes", "check_memory", "dense_run_bytes"]

#: fraction of the available memory a run may plan to use
HEADROOM = 0.8


def available_memory_bytes() -> int:
    """Memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``, else
    the physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def dense_run_bytes(n: int, p: int, widths: list[int], *, float64: bool = True,
                    n_by_n: int = 24, copies: int = 4) -> int:
    """Peak-memory estimate of a run on ``n`` samples through a dense network.

    Args:
      n: samples; p: data dimension; widths: hidden widths.
      float64: 8-byte floats (else 4).
      n_by_n: how many ``n x n`` matrices are alive at once (kernels, equivalents,
        eigendecompositions and their workspaces).
      copies: how many copies of the weights and of the ``n x d`` activations are alive
        (dense and compressed networks, forward values and derivatives).

    Returns:
      Bytes.
    """
    item = 8 if float64 else 4
    dims = [p, *widths]
    weights = sum(a * b for a, b in zip(dims[:-1], dims[1:])) + widths[-1]
    activations = n * sum(dims)
    return item * (n_by_n * n * n + copies * (weights + activations))


def check_memory(estimate: int, what: str, *, limit: int | None = None) -> None:
    """Refuse a run whose estimate exceeds the available memory.

    Args:
      estimate: bytes the run is expected to need.
      what: the sizes that drive it, named as options (e.g. ``"--n 200000"``).
      limit: bytes allowed (default: ``HEADROOM`` x the available memory).

    Raises:
      ValueError: estimate above the limit (the message gives both in GB).
    """
    allowed = int(HEADROOM * available_memory_bytes()) if limit is None else int(limit)
    if estimate > allowed:
        raise ValueError(f"{what}: the run needs about {estimate / 1e9:.3g} GB of memory, "
                         f"more than the {allowed / 1e9:.3g} GB available (reduce the sizes, "
                         f"or set --max-memory-gb to override)")
