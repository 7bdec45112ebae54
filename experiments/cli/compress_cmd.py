"""``ntkcomp compress``: dense network -> NTK-LC compressed network + report + figure."""
from __future__ import annotations

import argparse

from experiments.harness import RunDir, check_out_path
from experiments.harness.compression import compression_run, validate_compression_config
from ntkcomp.compress import Family, HiddenScale, Target
from ntkcomp.equivalents import Kurtosis

from ._common import (Progress, add_network_options, add_run_options, check_run_limits,
                      float_list, setup_precision)

#: most levels of ``--family k_level`` (the solver's work grows with the level count)
MAX_LEVELS = 12
#: smallest ``--kurtosis-tol`` (the eps_1 search resolves losses down to this size)
MIN_KURTOSIS_TOL = 1e-4

HELP = "compress a dense network by NTK-LC; report memory factor and kernel agreement"

DESCRIPTION = """\
NTK-LC compression of a dense random network (the main job of ntkcomp).

What happens, step by step:
  1. data     sample a built-in Gaussian mixture (--data, --n, --p; nothing is downloaded)
              and its exact statistics (tau0, class means/covariances terms);
  2. dense    the dense network: Gaussian weights, activations --activations, widths
              --widths, each activation centred at its Gaussian mean;
  3. match    each layer is replaced by SPARSE TERNARY weights (a fraction --eps of zeros,
              the rest +-1/sqrt(1-eps)) and a QUANTIZED activation (--family: binary,
              ternary (default), k_level, or auto = fewest levels) whose Gaussian moments
              (a1^2, a2^2, q, and tau_L at the last layer) equal the dense layer's,
              solved by a jit-compiled Levenberg-Marquardt multi-start;
  4. pack     one draw of the compressed weights in a real packed format (2-bit ternary
              codes + scales + thresholds): the MEMORY FACTOR is dense float32 bits /
              packed bits, counted from the actual bytes;
  5. verify   the spectral report: exact weight-averaged CK/NTK of both networks and their
              equivalents; relative operator-norm differences with and without the
              reported identity shift (a last layer that cannot be matched exactly shifts
              the equivalent by delta * I: reported, never hidden), W1 between spectra;
  6. write    config.json, metadata.json, report.json, results.json/.npz,
              compressed_network.npz and report.png into --out.

Read report.json: memory_factor, identity_shift, ck_rel_diff, ntk_rel_diff and per-layer
family / parameters / residuals / feasible; kurtosis_predicted_loss (and _per_layer),
eps_used and eps1_chosen (see --kurtosis-tol, --kurtosis-model). "Lossless" holds for the
weight-averaged kernels (width -> infinity); single finite-width draws add sqrt(n / width)
noise.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("compress", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # n = 512 keeps the default run (dominated by the exact E_W kernels and ~50 dense
    # eigendecompositions of the spectral report, O(n^3)) under 3 minutes on 2 cores
    add_network_options(p, n=512, p_dim=256)
    g = p.add_argument_group("compression")
    g.add_argument("--eps", type=float_list, default=[0.9], metavar="EPS[,EPS...]",
                   help="sparsity of the ternary weights in [0, 1): fraction of zeros, one "
                        "value or one per layer (default 0.9)")
    g.add_argument("--family", default="ternary",
                   choices=[f.value for f in Family],
                   help="quantized activation family (default ternary, as "
                        "ntkcomp.compress.compress: it keeps every layer's output scale close "
                        "to the dense one; binary matches ReLU hidden layers exactly but "
                        "inflates the later scales and the last layer's identity shift; "
                        "auto: per layer the fewest levels meeting the tolerance)")
    g.add_argument("--levels", type=int, default=None,
                   help="number of levels for --family k_level: required there, an integer "
                        ">= 2 (no default; 2 = binary, 3 = ternary, 4-6 typical)")
    g.add_argument("--target", default="ck", choices=[t.value for t in Target],
                   help="kernel to preserve: ck (conjugate kernel, default) or ntk")
    g.add_argument("--hidden-tau", default=None, metavar="free|match|RHO",
                   help="hidden-layer output scale rule of the solver: free (hidden layers "
                        "match a1^2, a2^2, q only), match (also tau_l), or a ratio RHO "
                        "(tau_l^c = RHO tau_l^dense); default: ntkcomp.compress's default")
    g.add_argument("--kurtosis-tol", type=float, default=None, metavar="T",
                   help="kurtosis-aware sparsity. Sparse ternary weights have fourth cumulant "
                        "kappa4 = 1/(1-eps) - 3 (-2 at eps=0, 0 at eps=2/3, 7 at eps=0.9); at "
                        "layer 1 it adds a class-block term to the kernel that moment matching "
                        "cannot remove (docs/theory/universality.md). report.json always gives its "
                        "size, "
                        "kurtosis_predicted_loss = ||Delta|| / ||K_dense|| (no sampling). With "
                        "T > 0, eps of layer 1 is moved to the nearest value whose predicted "
                        "loss is <= T (e.g. 3-layer ReLU, eps 0.9, T=0.05 -> eps_1 ~ 0.82); "
                        "deeper layers keep --eps. Default: no adjustment")
    g.add_argument("--kurtosis-model", default="theory",
                   choices=[m.value for m in Kurtosis if m is not Kurtosis.NONE],
                   help="prediction behind kurtosis_predicted_loss and --kurtosis-tol: theory "
                        "(default; docs/theory/universality.md's class-block term, linear in "
                        "kappa4, zero "
                        "for odd activations such as tanh) or realised (the data's realised "
                        "fourth moments plus the x^3 x, shift and covariance terms of the first "
                        "Edgeworth order; nonzero for tanh designs, whose quantized layer-1 step "
                        "has a1 a3 != 0; closer to Monte Carlo, see ntkcomp.compress.kurtosis)")
    g.add_argument("--no-report", action="store_true",
                   help="skip the spectral verification (step 5)")
    add_run_options(p, "ntkcomp_runs/compress")
    p.set_defaults(func=run)


def config_from_args(args) -> dict:
    from experiments.harness.pipeline import resolve_widths

    widths = resolve_widths(args.widths, args.depth)
    eps = args.eps[0] if len(args.eps) == 1 else list(args.eps)
    try:   # --hidden-tau -> HiddenScale ("free", "match" or a ratio rho > 0)
        ht = None if args.hidden_tau is None else HiddenScale.parse(args.hidden_tau).to_json()
    except ValueError as err:
        raise ValueError(str(err).replace("hidden_tau", "hidden-tau")) from None
    return {"command": "compress", "data": args.data, "n": args.n, "p": args.p, "K": args.K,
            "widths": widths, "activations": args.activations, "seed": args.seed,
            "eps": eps, "family": args.family, "levels": args.levels, "target": args.target,
            "hidden_tau": ht, "report": not args.no_report, "float64": not args.float32,
            "kurtosis_tol": args.kurtosis_tol, "kurtosis_model": args.kurtosis_model}


def check_options(args) -> None:
    """Options that do not apply to the chosen family, and bounds of the iterative ones.

    Raises:
      ValueError: naming the option.
    """
    if args.levels is not None:
        if args.family != "k_level":
            raise ValueError(f"levels applies only to --family k_level, got --family "
                             f"{args.family} with --levels {args.levels}")
        if not 2 <= args.levels <= MAX_LEVELS:
            raise ValueError(f"levels must be an integer in [2, {MAX_LEVELS}], "
                             f"got {args.levels}")
    kt = args.kurtosis_tol
    if kt is not None and not MIN_KURTOSIS_TOL <= kt < float("inf"):
        raise ValueError(f"kurtosis-tol must be a finite number >= {MIN_KURTOSIS_TOL}, "
                         f"got {kt}")


def run(args) -> int:
    """``ntkcomp compress``: validate everything, then compute and commit the run."""
    check_out_path(args.out)
    check_options(args)
    cfg = config_from_args(args)
    check_run_limits(args, cfg["widths"])
    setup_precision(args)
    cfg = validate_compression_config(cfg)       # before anything is written
    seeds = {"data": args.seed, "solver": args.seed, "weights": args.seed + 2}
    steps = ["data", "dense", "match", "pack"] + (["verify"] if cfg["report"] else []) + \
        ["write"]
    with RunDir(args.out, cfg, seeds=seeds) as run_dir, \
            Progress(steps, "ntkcomp compress", not args.no_progress) as tick:
        out = compression_run(cfg, run_dir, progress=tick)
    print(out["summary"])
    print(f"total {tick.total:.1f} s; wrote {run_dir.final}/ "
          f"({', '.join(sorted(run_dir.files))})")
    return 0
