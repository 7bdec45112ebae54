"""``ntkcomp check NAME`` / ``figure NAME`` / ``bench NAME``: run a module of the lab.

The theory checks (``theory_checks``), paper figures (``paper_figures``) and benchmarks
(``experiments.benchmarks``) are installed packages: NAME is found with
:mod:`importlib` and its ``main(argv)`` is called with the arguments after NAME (e.g.
``ntkcomp figure fig1 --n 256``). This works from any directory after ``pip install .``;
outputs go to a run directory under the current directory (or ``--out``).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.resources
import os

_KINDS = {
    "check": ("theory_checks", "run theory check theory_checks.NAME (PASS/FAIL table, plots)",
              ("Runs theory_checks.NAME: a size ladder (n = 256 ... 2048) comparing a "
               "claim of the theory with an independent computation, printing a PASS/FAIL "
               "table and writing NAME.md + PNGs into a run directory (default "
               "ntkcomp_runs/check/NAME under the current directory, or --out DIR; see "
               "theory_checks/README.md for the claim each check tests). Options after "
               "NAME: --quick (n <= 512: 1-2 CPU minutes, but its two-point slopes often "
               "FAIL the full-ladder criteria; the verdicts of record are the full runs), "
               "--max-n N (256 ... 4096), --no-report (print only, write nothing), --seed S, "
               "--platform cpu|gpu|tpu."),
              ["ntkcomp check ck_equivalence --quick",
               "ntkcomp check ntk_equivalence --quick --no-report",
               "ntkcomp check ck_equivalence --help     (the check's own options)"]),
    "figure": ("paper_figures", "regenerate paper figure NAME (fig1 ... fig5)",
               ("Runs paper_figures.NAME (NAME may be the short form fig1, or the "
               "module name fig1_spectra) and writes a run directory (default "
               "ntkcomp_runs/figure/NAME under the current directory: config, versions, "
               "seeds, results JSON + NPZ, PNG + PDF; an interrupted figure resumes where "
               "it stopped). "
               "Default sizes take 1-3 minutes each on 2 cores. Options after NAME: --full "
               "(the paper's sizes: hours on 2 cores), --dry-run (print the configuration "
               "and expected cost, compute nothing), --out DIR, --png PATH, --seed S, "
               "--no-progress, and size overrides --n/--p/--widths/--draws (see "
               "paper_figures/README.md for what each figure shows)."),
               ["ntkcomp figure fig1",
                "ntkcomp figure fig3 --full --dry-run",
                "ntkcomp figure fig1 --n 256 --p 128 --widths 256,256 --out /tmp/fig1_small",
                "ntkcomp figure fig4 --help           (the figure's own options)"]),
    "bench": ("experiments.benchmarks", "run benchmark experiments.benchmarks.NAME",
              ("Runs experiments.benchmarks.NAME and prints its timing table. "
              "Timings are only meaningful on an otherwise idle machine. Pass --out for "
              "each benchmark's result file (see its --help for the default). Smallest "
              "runs: spectra_speed --quick (about 1 CPU minute), ntk_speed --quick, "
              "solver_speed --starts 100 --repeats 1, time_to_first_result --repeats 1."),
              ["ntkcomp bench spectra_speed --quick --out /tmp/spectra_quick.json",
               "ntkcomp bench solver_speed --starts 100 --repeats 1 --out /tmp/solver.json",
               "ntkcomp bench ntk_speed --help       (the benchmark's own options)"]),
}


def add_parsers(sub) -> None:
    """Add the ``check``, ``figure`` and ``bench`` sub-commands."""
    for cmd, (_, help_, desc, examples) in _KINDS.items():
        names = available(cmd)
        epilog = (f"available NAMEs: {', '.join(names) if names else '(none)'}"
                  "\n\nexamples:\n" + "\n".join(f"  {e}" for e in examples) +
                  "\n\nArguments after NAME go to the module; `--help` after NAME shows them.")
        p = sub.add_parser(cmd, help=help_, description=desc, epilog=epilog,
                           formatter_class=_Formatter)
        p.add_argument("name", nargs="?", default=None,
                       help="which one (omit to list the available names)")
        p.add_argument("args", nargs=argparse.REMAINDER,
                       help="arguments passed on to the module (e.g. --quick, --full)")
        p.add_argument("--debug", action="store_true", help="full tracebacks on errors")
        p.set_defaults(func=_make_run(cmd))


class _Formatter(argparse.HelpFormatter):
    """Wraps the description, keeps the epilog's line breaks (examples)."""

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def available(cmd: str) -> list[str]:
    """Module names runnable by ``ntkcomp CMD`` (public modules of the installed package)."""
    pkg = _KINDS[cmd][0]
    root = importlib.resources.files(pkg)
    return sorted(f.name[:-3] for f in root.iterdir()
                  if f.name.endswith(".py") and not f.name.startswith("_"))


def resolve(cmd: str, name: str) -> str:
    """Module name for ``name`` (``fig1`` -> ``fig1_spectra``).

    Raises:
      ValueError: no such module (the message lists the available names).
    """
    names = available(cmd)
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
        rest = [a for a in args.args if a != "--debug"]
        if args.debug or len(rest) < len(args.args):
            os.environ["NTKCOMP_DEBUG"] = "1"
        module = importlib.import_module(f"{_KINDS[cmd][0]}.{target}")
        return int(module.main(rest) or 0)

    return run
