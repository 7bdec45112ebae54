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
import re
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

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(_join_negative_values(self, args), namespace)


_NEGATIVE = re.compile(r"^-(\d|\.\d)")


def _join_negative_values(parser: argparse.ArgumentParser, args):
    """``--widths -5,10`` -> ``--widths=-5,10`` for options that take one value.

    argparse reads a value that starts with ``-`` and is not a plain negative number (e.g.
    ``-5,10``) as an option and fails with "expected one argument"; joining it keeps the
    value, so the validation names the parameter and its range ("widths[0] must be an
    integer >= 1, got -5"). Arguments after a sub-command are left to its own parser."""
    if args is None:
        return None
    takes_value = {o for a in parser._actions if a.option_strings and a.nargs is None
                   and not isinstance(a, (argparse._StoreConstAction,
                                          argparse._StoreTrueAction,
                                          argparse._StoreFalseAction,
                                          argparse._CountAction, argparse._HelpAction,
                                          argparse._VersionAction))
                   for o in a.option_strings}
    sub_names = {n for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                 for n in a.choices}
    args, out, i = list(args), [], 0
    while i < len(args):
        a = args[i]
        if a in sub_names or a == "--":
            out.extend(args[i:])
            break
        if a in takes_value and i + 1 < len(args) and _NEGATIVE.match(args[i + 1]):
            out.append(f"{a}={args[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


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
