"""Run metadata: package versions, git revision, host CPU and the JAX device used.

Timings and numerical results are only comparable on the same host, device and software;
:func:`run_metadata` gathers all of it for a result file.
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import jax
import jaxlib
import numpy as np
import scipy

import ntkcomp

__all__ = ["cpu_description", "device_description", "git_revision", "parse_cpuinfo",
           "run_metadata", "versions"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_SIMD_UNITS = ("avx512f", "amx_tile", "amx_bf16", "avx2", "fma", "neon", "sve")


def git_revision(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit of a directory's checkout.

    Args:
        cwd: a directory inside the checkout (default: the package's directory).

    Returns:
        The commit hash, with the suffix ``-dirty`` when the work tree has uncommitted
        changes; None outside a git checkout or when git is unavailable.
    """
    try:
        cwd = cwd or _PACKAGE_DIR
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True,
                               text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def parse_cpuinfo(text: str) -> tuple[str | None, list[str]]:
    """``(model, units)`` from the text of Linux ``/proc/cpuinfo``.

    ``model`` is the first ``model name``; ``units`` lists, in a fixed order, the vector and
    matrix units of the first ``flags`` (x86) or ``Features`` (ARM) line among ``avx512f``,
    ``amx_tile``, ``amx_bf16``, ``avx2``, ``fma``, ``neon`` (ARM's ``asimd``) and ``sve``.
    """
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
        if model is not None and flags is not None:
            break
    flags = flags or set()
    if "asimd" in flags:
        flags.add("neon")
    return model, [u for u in _SIMD_UNITS if u in flags]


def cpu_description() -> str:
    """CPU model, logical core count and its vector / matrix units, e.g.
    ``"AMD EPYC 7B13, 2 cores, avx2 fma"`` (Linux ``/proc/cpuinfo``;
    ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            model, units = parse_cpuinfo(f.read())
    except OSError:
        model, units = None, []
    model = model or platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores" + (f", {' '.join(units)}" if units else "")


def device_description() -> dict:
    """The JAX device computations run on by default: ``{"platform", "kind", "count"}``
    (``jax.devices()[0].platform`` such as ``"cpu"``, ``"gpu"`` or ``"tpu"``, its
    ``device_kind`` such as ``"NVIDIA H100 80GB HBM3"``, and the number of devices)."""
    devices = jax.devices()
    first = devices[0]
    return {"platform": str(first.platform), "kind": str(getattr(first, "device_kind", "")),
            "count": len(devices)}


def versions() -> dict[str, str]:
    """Versions of ntkcomp and its numerical stack, and a description of the machine.

    Returns:
        A dict of strings: the package versions (``ntkcomp``, ``jax``, ``jaxlib``,
        ``numpy``, ...), the platform, the host CPU, the JAX devices (``device_platform``,
        ``device_kind``, ``devices``) and the float64 switch (``x64``).
    """
    dev = device_description()
    return {
        "ntkcomp": str(getattr(ntkcomp, "__version__", "unknown")),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "device_platform": dev["platform"],
        "device_kind": dev["kind"],
        "devices": ", ".join(str(d) for d in jax.devices()),
        "x64": str(bool(jax.config.jax_enable_x64)),
    }


def run_metadata(config: dict, seeds: dict | None = None) -> dict:
    """Everything a result file records about how it was made.

    Args:
        config: the run's parameters (stored as given).
        seeds: named PRNG seeds (default none).

    Returns:
        ``{"config", "seeds", "versions", "device", "git_revision"}`` with ``versions`` from
        :func:`versions` and ``device`` from :func:`device_description`.
    """
    return {"config": config, "seeds": seeds or {}, "versions": versions(),
            "device": device_description(), "git_revision": git_revision()}
