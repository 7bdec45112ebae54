"""Command-line plumbing shared by the ``ntkcomp`` command, the theory checks, the paper
figures, the experiments and the benchmarks.

- :class:`Parser`: an ``argparse`` parser whose errors are one line (exit status 2) and
  which accepts negative list values (``--widths -5,10`` reaches the validation, which
  names the option and its range);
- strict list types (:func:`int_list`, :func:`float_list`, :func:`str_list`): an empty
  field (``64,,64``) is an error, never dropped;
- :func:`add_run_options` (``--out``, ``--platform``, ``--no-progress``, ``--debug``) and
  :func:`setup_runtime` (JAX platform, float64, persistent compilation cache, the Agg
  backend), called before the first JAX computation;
- :func:`run_main`: runs a command's ``main`` and turns bad input into one line on stderr
  and exit status 2, an interruption into 130 / 143.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "PLATFORMS", "Parser", "UsageError",
           "add_run_options", "compilation_cache_dir", "float_list", "int_list",
           "join_negative_values", "run_main", "setup_runtime", "str_list"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1

#: ``--platform`` choices (JAX's own names: ``gpu`` covers CUDA and ROCm)
PLATFORMS = ("cpu", "gpu", "tpu")

#: environment variable that turns the persistent compilation cache off (``0``) or moves it
CACHE_ENV = "NTKCOMP_JAX_CACHE"


class UsageError(ValueError):
    """Bad command-line input (exit status 2, one line on stderr)."""


_NEGATIVE = re.compile(r"^-(\d|\.\d)")


def join_negative_values(parser: argparse.ArgumentParser, args):
    """``--widths -5,10`` -> ``--widths=-5,10`` for options that take one value.

    argparse reads a value that starts with ``-`` and is not a plain negative number as an
    option ("expected one argument"); joining it keeps the value, so that the validation
    names the parameter and its range. Arguments after a sub-command are left to its own
    parser.
    """
    if args is None:
        return None
    flag_actions = (argparse._StoreConstAction, argparse._StoreTrueAction,
                    argparse._StoreFalseAction, argparse._CountAction,
                    argparse._HelpAction, argparse._VersionAction)
    takes_value = {o for a in parser._actions if a.option_strings and a.nargs is None
                   and not isinstance(a, flag_actions) for o in a.option_strings}
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


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors raise :class:`UsageError` (one line, exit status 2)."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(join_negative_values(self, args), namespace)


def _split(text: str, what: str, example: str) -> list[str]:
    fields = [t.strip() for t in str(text).split(",")]
    if not any(fields):
        raise argparse.ArgumentTypeError(f"expected {what} like {example}, got {text!r}")
    if any(not f for f in fields):
        raise argparse.ArgumentTypeError(
            f"expected {what} like {example}, got an empty field in {text!r}")
    return fields


def _num_list(text: str, conv, what: str, example: str) -> list:
    fields = _split(text, what, example)
    try:
        return [conv(t) for t in fields]
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"expected {what} like {example}, got {text!r}") from None


def int_list(text: str) -> list[int]:
    """``"1024,1024,512"`` -> ``[1024, 1024, 512]`` (an empty field is an error)."""
    return _num_list(text, int, "comma-separated integers", "1024,1024,512")


def float_list(text: str) -> list[float]:
    """``"0.9"`` or ``"0.5,0.9,0.9"`` -> list of floats (an empty field is an error)."""
    return _num_list(text, float, "a number or comma-separated numbers", "0.5,0.9")


def str_list(text: str) -> list[str]:
    """``"relu,tanh"`` -> ``["relu", "tanh"]`` (an empty field is an error)."""
    return _split(text, "comma-separated names", "relu,tanh")


def add_run_options(p: argparse.ArgumentParser, default_out: str | None, *,
                    out_help: str = "") -> None:
    """``--out``, ``--platform``, ``--no-progress`` and ``--debug``."""
    g = p.add_argument_group("run")
    where = f" (default {default_out}, under the current directory)" if default_out else ""
    g.add_argument("--out", default=default_out, metavar="DIR",
                   help=f"run directory{where}; replaced whole when the run completes, "
                        f"left as it was if the run fails or is interrupted. {out_help}")
    g.add_argument("--platform", default=None, choices=PLATFORMS,
                   help="JAX platform to compute on (default: JAX's choice, i.e. an "
                        "accelerator when one is installed, else the CPU; the JAX_PLATFORMS "
                        "environment variable works too)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--debug", action="store_true", help="full tracebacks on errors")


def compilation_cache_dir() -> Path | None:
    """Directory of JAX's persistent compilation cache used by the lab, or None when off.

    ``NTKCOMP_JAX_CACHE=0`` turns it off, ``NTKCOMP_JAX_CACHE=DIR`` moves it; the default is
    ``$XDG_CACHE_HOME/ntkcomp/jax`` (``~/.cache/ntkcomp/jax``).
    """
    env = os.environ.get(CACHE_ENV, "")
    if env.strip().lower() in ("0", "off", "false", "no"):
        return None
    if env.strip():
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ntkcomp" / "jax"


def setup_runtime(platform: str | None = None, *, float64: bool = True,
                  cache: bool = True) -> None:
    """Configure JAX before its first computation.

    Args:
      platform: ``cpu``, ``gpu``, ``tpu`` or None (JAX's default choice).
      float64: enable 64-bit floats (the checks compare with relative errors of a few
        percent, where float32 rounding can matter).
      cache: use JAX's persistent compilation cache (:func:`compilation_cache_dir`).

    Raises:
      ValueError: an unknown platform, or float64 asked of a TPU (which has none).
    """
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {list(PLATFORMS)}, got {platform!r}")
    chosen = platform or os.environ.get("JAX_PLATFORMS", "").split(",")[0].strip() or None
    if float64 and chosen == "tpu":
        raise ValueError("platform tpu computes in float32 only, and this run needs float64 "
                         "(use --float32 where the command has it, or --platform cpu|gpu)")
    import jax
    import matplotlib

    matplotlib.use("Agg")
    if platform is not None:
        jax.config.update("jax_platforms", platform)
    jax.config.update("jax_enable_x64", bool(float64))
    where = compilation_cache_dir() if cache else None
    if where is not None:
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError:
            return                      # an unwritable cache is no reason to fail a run
        jax.config.update("jax_compilation_cache_dir", str(where))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or type(exc).__name__).split())


def run_main(prog: str, main, argv=None) -> int:
    """Run ``main(argv) -> int`` as a command: bad input (``ValueError``, a missing file,
    a missing optional package) -> ``<prog>: error: ...`` on stderr and exit status 2;
    Ctrl-C -> 130, SIGTERM -> 143; any other exception -> exit status 1 with one line.
    ``--debug`` (or ``NTKCOMP_DEBUG=1``) prints the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("NTKCOMP_DEBUG") == "1"
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError,
            ImportError, MemoryError) as e:
        if debug:
            traceback.print_exc()
        kind = "" if isinstance(e, ValueError) else f"{type(e).__name__}: "
        print(f"{prog}: error: {kind}{_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_BAD_INPUT)
    except Exception as e:  # noqa: BLE001 - last-resort handler of a command
        if debug:
            traceback.print_exc()
        print(f"{prog}: internal error: {type(e).__name__}: {_one_line(e)} "
              f"(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
