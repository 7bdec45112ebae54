"""Run directories: one folder per run holding config, results, figures and metadata.

Layout written by :class:`RunDir` (every file atomically, through :mod:`ntkcomp.io`)::

    out/
      config.json      the configuration that produced the run (+ seeds)
      metadata.json    config, seeds, versions (ntkcomp, JAX, NumPy, ...), git revision
      results.json     scalar / small results (JSON)
      results.npz      arrays (eigenvalues, kernels' spectra, ...)
      <name>.png/.pdf  figures

A file either exists complete or not at all: a run killed at any point never leaves a
half-written file (temporary file + fsync + ``os.replace``).
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ntkcomp.io import atomic_write_bytes, atomic_write_json, atomic_write_npz, run_metadata


def check_writable_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Create ``path`` if needed and check that it is a writable directory.

    Raises ValueError (naming ``name``) when it is a file or cannot be written,
    before any computation starts.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{name} must be a directory, but {str(p)!r} is an existing file")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{name}: cannot create output directory {str(p)!r} ({e.strerror})")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: output directory {str(p)!r} is not writable")
    return p


class RunDir:
    """A run's output directory (created on construction; writes are atomic).

    Args:
      path: the directory (created with parents if missing).
      config: JSON-able configuration dict of the run; written to ``config.json`` and,
        with versions / git revision / seeds, to ``metadata.json``.
      seeds: dict of named integer seeds used by the run.
    """

    def __init__(self, path: str | os.PathLike, config: dict | None = None,
                 seeds: dict | None = None):
        self.path = check_writable_dir(path)
        self.config = dict(config or {})
        self.seeds = dict(seeds or {})
        self.files: list[str] = []
        if config is not None:
            self.write_config(self.config, self.seeds)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict, seeds: dict | None = None) -> None:
        """Write ``config.json`` (config + seeds) and ``metadata.json`` (+ versions, git)."""
        self.config, self.seeds = dict(config), dict(seeds or self.seeds)
        atomic_write_json(self.file("config.json"), {**self.config, "seeds": self.seeds})
        atomic_write_json(self.file("metadata.json"), run_metadata(self.config, self.seeds))
        self._note("config.json", "metadata.json")

    def write_results(self, results: dict, arrays: dict[str, Any] | None = None) -> None:
        """Write ``results.json`` (scalars, small lists) and ``results.npz`` (arrays).

        Numerical guard: a NaN anywhere raises :class:`ntkcomp.guards.NonFiniteError` naming
        the key before anything is written (+-Inf is allowed: e.g. ``s = inf`` of a
        piecewise-constant activation, or an unreachable residual)."""
        from ntkcomp.guards import check_report_finite
        check_report_finite({"results": results, "arrays": arrays or {}}, name="run",
                            where=f"{self.path}", allow_inf=("results", "arrays"))
        atomic_write_json(self.file("results.json"), results)
        self._note("results.json")
        if arrays:
            atomic_write_npz(self.file("results.npz"),
                             **{k: np.asarray(v) for k, v in arrays.items()})
            self._note("results.npz")

    def write_json(self, name: str, obj: Any) -> Path:
        self._note(name)
        return atomic_write_json(self.file(name), obj)

    def save_figure(self, fig, name: str, *, formats=("png", "pdf"), dpi: int = 130,
                    close: bool = True) -> list[Path]:
        """Save a matplotlib figure as ``name.png`` and ``name.pdf`` atomically."""
        paths = []
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
            paths.append(atomic_write_bytes(self.file(f"{name}.{fmt}"), buf.getvalue()))
            self._note(f"{name}.{fmt}")
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
        return paths

    def _note(self, *names: str) -> None:
        for n in names:
            if n not in self.files:
                self.files.append(n)


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)
