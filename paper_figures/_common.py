"""Shared plumbing of the paper figures: options, run directory, resumable points, saving.

Every figure script:
  - parses ``--full`` (paper sizes), ``--out DIR`` (run directory, default
    ``paper_figures/_runs/<name>[_full]``), ``--png PATH`` (where the figure PNG is copied;
    default ``paper_figures/<name>.png`` for default sizes, ``<name>_full.png`` for --full),
    ``--seed``, ``--no-progress``;
  - computes its points through :func:`experiments.harness.run_sweep` inside the run
    directory (``<out>/points``): an interrupted figure restarts where it stopped;
  - writes ``config.json``, ``metadata.json`` (versions, git revision, seeds),
    ``results.json`` + ``results.npz`` and the figure (PNG + PDF) into the run directory.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def setup() -> None:
    """float64, CPU-friendly defaults, Agg backend."""
    os.environ.setdefault("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", "") or "cpu")
    import matplotlib

    matplotlib.use("Agg")
    import ntkcomp

    ntkcomp.enable_x64()


def parser(name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m paper_figures.{name}", description=description)
    p.add_argument("--full", action="store_true",
                   help="the paper's sizes (n = 8000, p = 4000, widths 2000,2000,1000, many "
                        "draws): hours on 2 cores, minutes on a GPU")
    p.add_argument("--out", default=None, help="run directory (default paper_figures/_runs/"
                   "NAME, NAME_full with --full, NAME_custom with any option that changes "
                   "the content, e.g. --n or --seed)")
    p.add_argument("--png", default=None, help="copy the figure PNG here (default "
                   "paper_figures/NAME.png, the committed image; NAME_full.png with --full; "
                   "NAME_custom.png with any content-changing option)")
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
    """Run a figure's ``main(argv)``; bad input (ValueError, missing file or package)
    becomes one line ``<prog>: error: ...`` on stderr and exit status 2, without a
    traceback (unless ``--debug`` is given or ``NTKCOMP_DEBUG=1``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args or os.environ.get("NTKCOMP_DEBUG") == "1"
    try:
        return int(main(argv) or 0)
    except (ValueError, FileNotFoundError, ImportError) as e:
        if debug:
            raise
        kind = "" if isinstance(e, ValueError) else f"{type(e).__name__}: "
        msg = " ".join((str(e).strip() or type(e).__name__).split())
        print(f"python -m {_prog(main)}: error: {kind}{msg}", file=sys.stderr)
        return 2


def _prog(main) -> str:
    name = getattr(main, "__globals__", {}).get("NAME")
    return f"paper_figures.{name}" if name else "paper_figures"


#: options that do not change the figure's content
_NEUTRAL = {"help", "full", "out", "png", "no_progress", "dry_run", "debug"}


def _suffix(args) -> str:
    """``""`` (default sizes), ``"_full"`` (--full) or ``"_custom"`` (any other option that
    changes the content): a custom run never overwrites the default run directory or the
    committed ``paper_figures/NAME.png``."""
    if getattr(args, "custom", None):
        return "_custom"
    return "_full" if args.full else ""


def start(ap: argparse.ArgumentParser, argv) -> tuple[argparse.Namespace, float]:
    """Parse the figure's options, set up float64 / Agg; return (args, start time)."""
    from experiments.cli import _join_negative_values  # --widths -5,10 -> a range error

    args = ap.parse_args(_join_negative_values(ap, sys.argv[1:] if argv is None else argv))
    # options that change what is computed (not where it goes / how it is shown)
    args.custom = [a.option_strings[0] for a in ap._actions
                   if a.option_strings and a.dest not in _NEUTRAL
                   and getattr(args, a.dest, a.default) != a.default]
    setup()
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
    from ntkcomp._validate import check_positive_int

    return check_positive_int(name, value, minimum=minimum)


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
    """``free`` / ``match`` / a positive ratio (argparse type of --hidden-tau)."""
    if text in (None, "free", "match"):
        return text
    try:
        rho = float(text)
    except ValueError:
        rho = -1.0
    if not rho > 0:
        raise argparse.ArgumentTypeError(f"hidden-tau must be free, match or a positive "
                                         f"number, got {text!r}")
    return rho


def apply_overrides(size: dict, args) -> dict:
    """Replace entries of a figure's size dict by the --n/--p/--widths/--draws overrides."""
    from ntkcomp._validate import check_positive_int

    size = dict(size)
    if args.n is not None:
        size["n"] = check_positive_int("n", args.n, minimum=2)
    if args.p is not None:
        size["p"] = check_positive_int("p", args.p)
    if args.widths is not None:
        try:
            widths = [int(w) for w in args.widths.replace(" ", "").split(",") if w]
        except ValueError:
            raise ValueError(f"widths must be comma-separated integers >= 1 like 64,64, "
                             f"got {args.widths!r}") from None
        if not widths:
            raise ValueError(f"widths must be comma-separated integers >= 1 like 64,64, "
                             f"got {args.widths!r}")
        size["widths"] = [check_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths)]
    if args.draws is not None:
        size["draws"] = check_positive_int("draws", args.draws, minimum=0)
    return size


def run_dir_for(name: str, args, config: dict, seeds: dict, cost: str = ""):
    """The figure's RunDir (config + metadata written now). With --dry-run: print the config,
    seeds and ``cost`` (the documented expected cost) and exit with status 0 instead."""
    from experiments.harness import RunDir

    out = args.out or str(HERE / "_runs" / (name + _suffix(args)))
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
    from experiments.harness import run_sweep

    out = run_sweep(fn, cfgs, run_dir.path, name=name, progress=not args.no_progress)
    print(f"[{name}] {len(out.computed)} points computed, {len(out.skipped)} reused from "
          f"{run_dir.path}/points", file=sys.stderr)
    return out.results


def finish(fig, run_dir, name: str, args, results: dict, arrays: dict | None = None,
           t0: float | None = None) -> Path:
    """Save figure (PNG + PDF) and results in the run dir; copy the PNG next to the scripts."""
    from ntkcomp.io import atomic_write_bytes

    if t0 is not None:
        results = {**results, "wall_time_s": time.perf_counter() - t0}
    run_dir.write_results(results, arrays or {})
    png, _ = run_dir.save_figure(fig, name, dpi=120)
    dest = Path(args.png) if args.png else HERE / (name + _suffix(args) + ".png")
    atomic_write_bytes(dest, png.read_bytes())
    print(f"[{name}] wrote {dest} and {run_dir.path}/ "
          f"({', '.join(sorted(run_dir.files))})", file=sys.stderr)
    return dest


def titled(fig, title: str):
    """Figure-wide title (font size 10) and tight layout; returns ``fig``."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def copy_tree(src, dst):  # pragma: no cover - convenience for users
    shutil.copytree(src, dst, dirs_exist_ok=True)
