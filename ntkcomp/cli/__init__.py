"""The ``ntkcomp`` command line.

    ntkcomp compress   dense network on a built-in GMM -> NTK-LC compressed network, memory
                       factor, spectral report, figure (the README's first command)
    ntkcomp spectrum   CK/NTK kernels of one network + their equivalents + a plot
    ntkcomp check N    run theory check ``theory_checks.N`` (PASS/FAIL table)
    ntkcomp figure N   regenerate paper figure ``paper_figures.N`` (e.g. fig1)
    ntkcomp bench N    run benchmark ``experiments/benchmarks/N.py``

Every run writes into its output directory (``--out``): ``config.json``, ``metadata.json``
(versions, git revision, seeds), ``results.json`` + ``results.npz`` and figures (PNG + PDF),
all atomically. Bad input exits with status 2 and one line ``ntkcomp: error: ...`` on
stderr; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

__all__ = ["CLIError", "build_parser", "main"]

PROG = "ntkcomp"
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


class CLIError(ValueError):
    """Bad command-line input (exit status 2, one line on stderr)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line ``ntkcomp: error: ...`` (exit 2)."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


_DESCRIPTION = """\
ntkcomp: NTK-based "lossless" compression of deep networks (NTK-LC).

A wide random network's conjugate kernel (CK) and neural tangent kernel (NTK) on
high-dimensional Gaussian-mixture data have deterministic equivalents that depend on each
activation only through a few Gaussian moments. NTK-LC replaces every dense layer by
sparse ternary weights and a quantized activation with the same moments, so the
compressed network has (asymptotically) the same kernels at a fraction of the memory.

Start with:   ntkcomp compress            (about a minute on 2 CPU cores)
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
    from . import compress_cmd, runners, spectrum_cmd

    parser = _Parser(prog=PROG, description=_DESCRIPTION, epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors (also accepted after the command)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    compress_cmd.add_parser(sub)
    spectrum_cmd.add_parser(sub)
    runners.add_parsers(sub)
    return parser


def _version() -> str:
    from ntkcomp import __version__

    return __version__


def _one_line(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return " ".join(msg.split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ntkcomp`` console script. Returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is honoured even if parsing fails later
    debug = "--debug" in argv or os.environ.get("NTKCOMP_DEBUG") == "1"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError,
            ImportError) as e:
        if debug:
            traceback.print_exc()
        kind = "" if isinstance(e, ValueError) else f"{type(e).__name__}: "
        print(f"{PROG}: error: {kind}{_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - last-resort handler of the CLI
        if debug:
            traceback.print_exc()
        print(f"{PROG}: internal error: {type(e).__name__}: {_one_line(e)} "
              f"(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
