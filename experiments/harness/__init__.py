"""The lab's shared harness: arguments, transactional run directories, reports, sweeps.

- :mod:`experiments.harness.args` — the one-line-error parser, strict list options,
  ``--out`` / ``--platform`` / ``--debug``, JAX setup (:func:`setup_runtime`) and the
  command wrapper :func:`run_main` (bad input -> exit status 2);
- :class:`RunDir` — one output folder per run (``config.json``, ``metadata.json``,
  ``results.json`` + ``results.npz``, figures), written in a staging directory and
  committed whole, under a lock;
- :func:`write_markdown_report` — a markdown report with its figures in a run directory;
- :func:`run_sweep` / :func:`run_sweep_command` — map ``fn(config) -> result`` over points
  with one result file per point; finished points are reused on restart;
- :mod:`experiments.harness.pipeline`, :mod:`~experiments.harness.definitions`,
  :mod:`~experiments.harness.compression`, :mod:`~experiments.harness.accuracy` — the
  experiment definitions (config -> results) used by the experiments, figures and CLI;
  :mod:`experiments.harness.plots` — figure panels.
"""
from .args import Parser, UsageError, run_main, setup_runtime
from .report import render_markdown, write_markdown_report
from .rundir import RunDir, RunLockedError, check_out_path, check_writable_dir, read_json
from .sweep import (SweepOutcome, canonical_json, load_sweep, point_key, run_sweep,
                    run_sweep_command, sweep_parser)

__all__ = [
           "Parser",
           "RunDir",
           "RunLockedError",
           "SweepOutcome",
           "UsageError",
           "canonical_json",
           "check_out_path",
           "check_writable_dir",
           "load_sweep",
           "point_key",
           "read_json",
           "render_markdown",
           "run_main",
           "run_sweep",
           "run_sweep_command",
           "setup_runtime",
           "sweep_parser",
           "write_markdown_report",
]
