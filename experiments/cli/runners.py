"""``ntkcomp check NAME`` / ``figure NAME`` / ``bench NAME``: run a module of the source tree.

These run scripts that live next to the package in a source checkout (``theory_checks/``,
``paper_figures/``, ``experiments/benchmarks/``): the repository root is found from the
installed package (editable install) or the current directory. Arguments after NAME are
passed to the script (e.g. ``ntkcomp figure fig1 --full``).
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path

_KINDS = {
    "check": ("theory_checks", "run theory check theory_checks.NAME (PASS/FAIL table, plots)",
              ("Runs `python -m theory_checks.NAME`: a size ladder (n = 256 ... 2048) comparing "
              "a claim of THEORY.md with an independent computation, printing a PASS/FAIL "
              "table and writing theory_checks/reports/NAME.md + PNGs (NAME_quick.md with "
              "--quick; see "
              "theory_checks/README.md for the claim each check tests). Options after NAME: "
              "--quick (n <= 512: 1-2 CPU minutes, but its two-point slopes often FAIL the "
              "full-ladder criteria; the verdicts of record are the full runs), --max-n N (256 ... 4096), --no-report "
              "(print only, write nothing), --seed S."),
              ["ntkcomp check ck_equivalence --quick",
               "ntkcomp check ntk_equivalence --quick --no-report",
               "ntkcomp check ck_equivalence --help     (the check's own options)"]),
    "figure": ("paper_figures", "regenerate paper figure NAME (fig1 ... fig5)",
               ("Runs `python -m paper_figures.NAME` (NAME may be the short form fig1, or the "
               "module name fig1_spectra) and writes paper_figures/NAME.png plus a run "
               "directory paper_figures/_runs/NAME/ (config, versions, seeds, results "
               "JSON + NPZ, PNG + PDF; an interrupted figure resumes where it stopped). "
               "Default sizes take 1-3 minutes each on 2 cores. Options after NAME: --full "
               "(the paper's sizes: hours on 2 cores), --dry-run (print the configuration "
               "and expected cost, compute nothing), --out DIR, --png PATH, --seed S, "
               "--no-progress, and size overrides --n/--p/--widths/--draws (see "
               "paper_figures/README.md for what each figure shows)."),
               ["ntkcomp figure fig1",
                "ntkcomp figure fig3 --full --dry-run",
                "ntkcomp figure fig1 --n 256 --p 128 --widths 256,256 --out /tmp/fig1_small",
                "ntkcomp figure fig4 --help           (the figure's own options)"]),
    "bench": ("experiments/benchmarks", "run benchmark experiments/benchmarks/NAME.py",
              ("Runs `python experiments/benchmarks/NAME.py` and prints its timing table. "
              "Timings are only meaningful on an otherwise idle machine. The default --out "
              "of a full spectra_speed run and of solver_speed is the COMMITTED results "
              "file (spectra_speed merges rows into it per n and refuses a file written "
              "with another configuration; --quick writes runs/benchmarks/): pass "
              "--out /tmp/... for trial runs. Smallest runs: spectra_speed --quick (about 1 CPU minute), "
              "ntk_speed --quick, solver_speed --starts 100 --repeats 1."),
              ["ntkcomp bench spectra_speed --quick --out /tmp/spectra_quick.json",
               "ntkcomp bench solver_speed --starts 100 --repeats 1 --out /tmp/solver.json",
               "ntkcomp bench ntk_speed --help       (the benchmark's own options)"]),
}


def add_parsers(sub) -> None:
    for cmd, (_, help_, desc, examples) in _KINDS.items():
        names = available(cmd)
        epilog = (f"available NAMEs: {', '.join(names) if names else '(none: run from a clone)'}"
                  "\n\nexamples:\n" + "\n".join(f"  {e}" for e in examples) +
                  "\n\nArguments after NAME go to the script; `--help` after NAME shows them.")
        p = sub.add_parser(cmd, help=help_, description=desc, epilog=epilog,
                           formatter_class=_Formatter)
        p.add_argument("name", nargs="?", default=None,
                       help="which one (omit to list the available names)")
        p.add_argument("args", nargs=argparse.REMAINDER,
                       help="arguments passed on to the script (e.g. --quick, --full)")
        p.add_argument("--debug", action="store_true", help="full tracebacks on errors")
        p.set_defaults(func=_make_run(cmd))


class _Formatter(argparse.HelpFormatter):
    """Wraps the description, keeps the epilog's line breaks (examples)."""

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


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
        if args.debug or len(rest) < len(args.args):
            os.environ["NTKCOMP_DEBUG"] = "1"   # scripts re-raise instead of one-line errors
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
                sys.modules.pop(mod, None)  # run it fresh as __main__, not beside a stale import
                runpy.run_module(mod, run_name="__main__", alter_sys=True)
        except SystemExit as e:       # scripts end with sys.exit(status)
            code = e.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        finally:
            sys.argv = old_argv
        return 0

    return run
