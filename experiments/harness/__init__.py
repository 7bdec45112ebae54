"""Experiment infrastructure: run directories, the resumable sweep runner, and the
experiment definitions (config -> results) used by ``experiments/`` and the CLI.

- :class:`RunDir` — one output folder per run: ``config.json``, ``metadata.json``
  (versions, git revision, seeds), ``results.json`` + ``results.npz``, figures (PNG + PDF);
  all writes atomic.
- :func:`run_sweep` — map ``fn(config) -> result`` over points with one atomic result file
  per point and a manifest; finished points are skipped on restart (SIGTERM/SIGKILL safe).
- :mod:`experiments.harness.definitions` — spectral equivalence, compression and
  accuracy-vs-memory experiments (imported lazily: they need JAX).
"""
from .rundir import RunDir, check_writable_dir, read_json
from .sweep import SweepOutcome, canonical_json, load_sweep, point_key, run_sweep

__all__ = [
           "RunDir",
           "SweepOutcome",
           "canonical_json",
           "check_writable_dir",
           "load_sweep",
           "point_key",
           "read_json",
           "run_sweep",
]
