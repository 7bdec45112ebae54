"""``ntkcomp check NAME`` / ``figure NAME`` / ``bench NAME``: run a module of the source tree.

These run scripts that live next to the package in a source checkout (``theory_checks/``,
``paper_figures/``, ``experiments/benchmarks/``): the repository root is found from the
installed package (editable install) or the current directory. Arguments after NAME are
passed to the script (e.g. ``ntkcomp figure fig1 --full``).
"""
from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

_KINDS = {
    "check": ("theory_checks", "run theory check theory_checks.NAME (PASS/FAIL table, plots)",
              "Runs `python -m theory_checks.NAME`: a size ladder comparing a claim of "
              "THEORY.md with an independent computation, printing a PASS/FAIL table."),
    "figure": ("paper_figures", "regenerate paper figure NAME (fig1 ... fig5)",
               "Runs `python -m paper_figures.NAME` (NAME may be the short form fig1, or the "
               "module name fig1_spectra). Default sizes take minutes on 2 cores; pass "
               "--full after NAME for the paper's sizes."),
    "bench": ("experiments/benchmarks", "run benchmark experiments/benchmarks/NAME.py",
              "Runs `python experiments/benchmarks/NAME.py` and prints its timing table."),
}


def add_parsers(sub) -> None:
    for cmd, (_, help_, desc) in _KINDS.items():
        p = sub.add_parser(cmd, help=help_, description=desc)
        p.add_argument("name", nargs="?", default=None,
                       help="which one (omit to list the available names)")
        p.add_argument("args", nargs=argparse.REMAINDER,
                       help="arguments passed on to the script")
        p.add_argument("--debug", action="store_true", help="full tracebacks on errors")
        p.set_defaults(func=_make_run(cmd))


def repo_root() -> Path | None:
    """The source checkout holding theory_checks/, paper_figures/, experiments/ (or None)."""
    here = Path(__file__).resolve().parents[2]   # .../ntkcomp/cli/runners.py -> repo root
    for cand in (here, Path.cwd()):
        if (cand / "paper_figures").is_dir() or (cand / "theory_checks").is_dir():
            return cand
    return None


def available(cmd: str) -> list[str]:
    root = repo_root()
    if root is None:
        return []
    d = root / _KINDS[cmd][0]
    if not d.is_dir():
        return []
    return sorted(f.stem for f in d.glob("*.py") if not f.name.startswith("_"))


def resolve(cmd: str, name: str) -> str:
    """Module / script name for ``name`` (``fig1`` -> ``fig1_spectra``); ValueError if none."""
    names = available(cmd)
    if repo_root() is None:
        raise ValueError(f"ntkcomp {cmd} needs the source tree ({_KINDS[cmd][0]}/ not found next "
                         f"to the ntkcomp package or in the current directory); run it from a "
                         f"clone of the repository")
    if name in names:
        return name
    matches = [m for m in names if m.startswith(name + "_")]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"name must be one of {names} for 'ntkcomp {cmd}', got {name!r}")


def _make_run(cmd: str):
    def run(args) -> int:
        if args.name is None:
            names = available(cmd)
            print(f"available for 'ntkcomp {cmd}': " + (", ".join(names) if names else "(none)"))
            return 0
        target = resolve(cmd, args.name)
        root = repo_root()
        rest = [a for a in args.args if a != "--debug"]
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        old_argv = sys.argv
        try:
            if cmd == "bench":
                path = root / _KINDS[cmd][0] / f"{target}.py"
                sys.argv = [str(path), *rest]
                runpy.run_path(str(path), run_name="__main__")
            else:
                mod = f"{_KINDS[cmd][0]}.{target}"
                sys.argv = [mod, *rest]
                runpy.run_module(mod, run_name="__main__", alter_sys=True)
        except SystemExit as e:       # scripts end with sys.exit(status)
            code = e.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        finally:
            sys.argv = old_argv
        return 0

    return run
