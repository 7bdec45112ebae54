"""Shared plumbing of the paper figures: options, run directory, resumable points, saving.

Every figure module (``ntkcomp figure NAME`` or ``python -m paper_figures.NAME``):
  - parses ``--full`` (paper sizes), ``--out DIR`` (run directory, default
    ``ntkcomp_runs/figure/<name>[_full|_custom]`` under the current directory), ``--png PATH``
    (also copy the figure PNG there, e.g. ``paper_figures/fig1_spectra.png`` in a checkout
    to refresh the committed image), ``--seed``, ``--platform``, ``--no-progress``;
  - computes its points through :func:`experiments.harness.run_sweep` inside the run's
    staging directory: an interrupted figure restarts where it stopped;
  - writes ``config.json``, ``metadata.json`` (versions, device, git revision, seeds),
    ``results.json`` + ``results.npz`` and the figure (PNG + PDF), committed whole
    (:class:`experiments.harness.RunDir`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from experiments.harness import RunDir, check_out_path, run_main, run_sweep, setup_runtime
from experiments.harness.args import PLATFORMS, Parser, int_list
from ntkcomp.io import atomic_write_bytes
from ntkcomp.compress import HiddenScale


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """A figure's parser: ``--full``, ``--out``, ``--png``, ``--seed``, ``--platform``,
    ``--dry-run``, size overrides ``--n/--p/--widths/--draws``."""
    p = Parser(prog=f"ntkcomp figure {name}", description=description)
    p.add_argument("--full", action="store_true",
                   help="the paper's sizes (spectra: n = 8000, p = 4000, widths "
                        "2000,2000,1000; accuracy: widths 2000,2000,1100): 4-24 minutes "
                        "each on 2 cores (--dry-run states the size and cost)")
    p.add_argument("--out", default=None, help="run directory (default ntkcomp_runs/figure/"
                   "NAME under the current directory, NAME_full with --full, NAME_custom "
                   "with any option that changes the content, e.g. --n or --seed); "
                   "replaced whole when the figure completes")
    p.add_argument("--png", default=None, help="also copy the figure PNG here (e.g. "
                   "paper_figures/NAME.png in a checkout: the committed image)")
    p.add_argument("--platform", default=None, choices=PLATFORMS,
                   help="JAX platform (default: JAX's choice)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--dry-run", action="store_true",
                   help="print the run's configuration (every point) and its expected cost, "
                        "then exit without computing or writing anything (e.g. with --full)")
    p.add_argument("--debug", action="store_true", help="full tracebacks on errors")
    g = p.add_argument_group("size overrides (for quick looks and smoke tests; a figure "
                             "that has no such size rejects the option)")
    g.add_argument("--n", type=int, default=None, help="number of samples (>= 2)")
    g.add_argument("--p", type=int, default=None, help="data dimension of the GMM (>= 1)")
    g.add_argument("--widths", default=None, metavar="D1,D2,...",
                   help="hidden widths (each >= 1), e.g. 64,64; sets the depth")
    g.add_argument("--draws", type=int, default=None,
                   help="Monte Carlo weight draws (>= 0; 0: none, the figures use the exact "
                        "weight average at default sizes)")
    return p


def cli(main, argv=None) -> int:
    """Run a figure's ``main(argv)`` as a command: bad input becomes one line
    ``<prog>: error: ...`` on stderr and exit status 2 (``--debug``: the traceback)."""
    return run_main(_prog(main), main, argv)


def _prog(main) -> str:
    name = getattr(main, "__globals__", {}).get("NAME")
    return f"ntkcomp figure {name}" if name else "ntkcomp figure"


#: options that do not change the figure's content
_NEUTRAL = {"help", "full", "out", "png", "no_progress", "dry_run", "debug", "platform"}


def _suffix(args) -> str:
    """``""`` (default sizes), ``"_full"`` (--full) or ``"_custom"`` (any other option that
    changes the content): a custom run never overwrites the default run directory or the
    committed ``paper_figures/NAME.png``."""
    if getattr(args, "custom", None):
        return "_custom"
    return "_full" if args.full else ""


def start(ap: argparse.ArgumentParser, argv) -> tuple[argparse.Namespace, float]:
    """Parse the figure's options, validate ``--out``/``--png``, set up JAX (platform,
    float64) and the Agg backend; return (args, start time)."""
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.out is not None:
        check_out_path(args.out)
    if args.png is not None and not str(args.png).strip():
        raise ValueError(f"png must be a non-empty file path, got {args.png!r}")
    # options that change what is computed (not where it goes / how it is shown)
    args.custom = [a.option_strings[0] for a in ap._actions
                   if a.option_strings and a.dest not in _NEUTRAL
                   and getattr(args, a.dest, a.default) != a.default]
    setup_runtime(args.platform, float64=True)
    return args, time.perf_counter()


def sizes(args, default: dict, full: dict) -> dict:
    """The figure's size dict: ``full`` with --full, else ``default``; then the overrides
    (validated: ValueError naming the option)."""
    return apply_overrides(full if args.full else default, args)


def reject(args, names, why: str) -> None:
    """ValueError if any of the size overrides ``names`` (e.g. ``["n", "draws"]``) was given
    to a figure that has no such size (instead of silently ignoring it)."""
    given = [f"--{k}" for k in names if getattr(args, k, None) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} not supported by this figure: {why}")


def check_count(name: str, value, minimum: int = 1):
    """``value`` (an int option that may be None = default) must be >= ``minimum``."""
    if value is None:
        return None
    return _positive_int(name, value, minimum)


def check_points(cfgs: list[dict]) -> None:
    """Validate the data / network part of every point config before anything is written:
    data preset and sizes, widths, activation names (ValueError naming the option)."""
    from experiments.harness.pipeline import parse_activations, validate_data_config

    for c in cfgs:
        if "data" in c and "n" in c:
            validate_data_config(c["data"], c["n"], c.get("p", 1), c.get("K", 2))
        widths = c.get("widths") or ([c["width"]] * c["depth"] if "width" in c else None)
        if widths is not None:
            acts = c.get("activations") or [c.get("activation", "relu")]
            parse_activations(acts, len(widths))


def add_compress_options(ap: argparse.ArgumentParser) -> None:
    """--family / --hidden-tau of ``ntkcomp.compress.compress`` (defaults: compress's own)."""
    ap.add_argument("--family", default="ternary", choices=["ternary", "binary", "auto"],
                    help="compress family (default ternary, as ntkcomp.compress.compress)")
    ap.add_argument("--hidden-tau", default=None, type=hidden_tau, metavar="free|match|RHO",
                    help="compress hidden_tau rule: free, match or a ratio RHO > 0 "
                         "(default: compress's own)")


def hidden_tau(text):
    """``free`` / ``match`` / a positive ratio (argparse type of --hidden-tau; the rule is
    ``ntkcomp.compress.HiddenScale``)."""
    if text is None:
        return None
    try:
        HiddenScale.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text if text in ("free", "match") else float(text)


def apply_overrides(size: dict, args) -> dict:
    """Replace entries of a figure's size dict by the --n/--p/--widths/--draws overrides."""
    size = dict(size)
    if args.n is not None:
        size["n"] = _positive_int("n", args.n, 2)
    if args.p is not None:
        size["p"] = _positive_int("p", args.p, 1)
    if args.widths is not None:
        try:
            widths = int_list(args.widths)
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"widths: {e}") from None
        size["widths"] = [_positive_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    if args.draws is not None:
        size["draws"] = _positive_int("draws", args.draws, 0)
    return size


def _positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def run_dir_for(name: str, args, config: dict, seeds: dict, cost: str = ""):
    """The figure's RunDir (config + metadata written now). With --dry-run: print the config,
    seeds and ``cost`` (the documented expected cost) and exit with status 0 instead."""
    out = args.out or os.path.join("ntkcomp_runs", "figure", name + _suffix(args))
    full_cfg = {"figure": name, "full": bool(args.full), **config}
    if getattr(args, "dry_run", False):
        import json

        print(json.dumps({"run_dir": out, "config": full_cfg, "seeds": seeds}, indent=1,
                         default=str))
        print(f"[{name}] dry run: nothing computed or written. Expected cost: "
              f"{cost or 'see paper_figures/README.md'}")
        raise SystemExit(0)
    return RunDir(out, full_cfg, seeds=seeds)


def points(fn, cfgs, run_dir, name, args):
    """Run ``fn`` over ``cfgs`` resumably in ``run_dir/points``; return results in order."""
    out = run_sweep(fn, cfgs, run_dir.path, name=name, progress=not args.no_progress)
    print(f"[{name}] {len(out.computed)} points computed, {len(out.skipped)} reused from "
          f"the previous run of {run_dir.final}", file=sys.stderr)
    return out.results


def finish(fig, run_dir, name: str, args, results: dict, arrays: dict | None = None,
           t0: float | None = None) -> Path:
    """Save the figure (PNG + PDF) and results, commit the run directory; copy the PNG to
    ``--png`` if given. Returns the PNG's path."""
    if t0 is not None:
        results = {**results, "wall_time_s": time.perf_counter() - t0}
    run_dir.write_results(results, arrays or {})
    run_dir.save_figure(fig, name, dpi=120)
    final = run_dir.commit()
    png = final / f"{name}.png"
    if args.png:
        png = atomic_write_bytes(Path(args.png), png.read_bytes())
    print(f"[{name}] wrote {final}/ ({', '.join(sorted(run_dir.files))})"
          + (f" and {png}" if args.png else ""), file=sys.stderr)
    return png


def titled(fig, title: str):
    """Figure-wide title (font size 10) and tight layout; returns ``fig``."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig

