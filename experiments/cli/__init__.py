"""The ``ntkcomp`` command line.

    ntkcomp compress   dense network on a built-in GMM -> NTK-LC compressed network, memory
                       factor, spectral report, figure (the README's first command)
    ntkcomp spectrum   CK/NTK kernels of one network + their equivalents + a plot
    ntkcomp check N    run theory check ``theory_checks.N`` (PASS/FAIL table)
    ntkcomp figure N   regenerate paper figure ``paper_figures.N`` (e.g. fig1)
    ntkcomp bench N    run benchmark ``experiments.benchmarks.N``

Every run writes a run directory (``--out``, by default under the current directory):
``config.json``, ``metadata.json`` (versions, device, git revision, seeds), ``results.json`` +
``results.npz`` and figures (PNG + PDF), committed whole when the run completes
(:class:`experiments.harness.RunDir`). Bad input exits with status 2 and one line
``ntkcomp: error: ...`` on stderr; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import sys

import ntkcomp
from experiments.harness.args import (PLATFORMS, Parser, UsageError, join_negative_values,
                                      run_main, setup_runtime)

from . import compress_cmd, runners, spectrum_cmd

__all__ = ["CLIError", "build_parser", "join_negative_values", "main"]

PROG = "ntkcomp"


class CLIError(UsageError):
    """Bad command-line input (exit status 2, one line on stderr)."""


_Parser = Parser


_DESCRIPTION = """\
ntkcomp: NTK-based "lossless" compression of deep networks (NTK-LC).

A wide random network's conjugate kernel (CK) and neural tangent kernel (NTK) on
high-dimensional Gaussian-mixture data have deterministic equivalents that depend on each
activation only through a few Gaussian moments. NTK-LC replaces every dense layer by
sparse ternary weights and a quantized activation with the same moments, so the
compressed network has (asymptotically) the same kernels at a fraction of the memory.

Start with:   ntkcomp compress            (about 20 s on 2 CPU cores)
Then:         ntkcomp compress --help     (what every option does)
"""

_EPILOG = """\
examples:
  ntkcomp compress --out runs/first
  ntkcomp compress --activations tanh --eps 0.5 --family ternary --out runs/tanh
  ntkcomp spectrum --activations relu --depth 2 --n 512 --out runs/spec
  ntkcomp check ck_equivalence          (see theory_checks/README.md)
  ntkcomp figure fig1                   (see paper_figures/README.md)
  ntkcomp bench spectra_speed           (experiments/benchmarks/)
Add --debug to any command to see full tracebacks.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``ntkcomp`` parser with its sub-commands."""
    parser = _Parser(prog=PROG, description=_DESCRIPTION, epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors (also accepted after the command)")
    parser.add_argument("--platform", default=None, choices=PLATFORMS,
                        help="JAX platform for every command (default: JAX's choice)")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {ntkcomp.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    compress_cmd.add_parser(sub)
    spectrum_cmd.add_parser(sub)
    runners.add_parsers(sub)
    return parser


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.platform is not None:
        setup_runtime(args.platform, float64=not getattr(args, "float32", False))
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ntkcomp`` console script. Returns the exit status: 0 success,
    2 bad input (one line ``ntkcomp: error: ...`` on stderr), 1 internal error, 130 / 143
    interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_main(PROG, _dispatch, argv)
