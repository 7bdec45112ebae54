"""``ntkcomp spectrum``: kernels of one network + their equivalents + a plot."""
from __future__ import annotations

import argparse

from experiments.harness import RunDir, check_out_path
from experiments.harness.definitions import spectral_equivalence, spectral_figure
from experiments.harness.pipeline import parse_activations, resolve_widths, validate_data_config

from ._common import (Progress, add_network_options, add_run_options, check_run_limits,
                      setup_precision)

HELP = "CK/NTK spectra of one network against their high-dimensional equivalents"

DESCRIPTION = """\
Spectra of one random network's kernels against the high-dimensional equivalents.

For a dense network with Gaussian weights on Gaussian-mixture data (the original statement sections
4-6), this computes
  - the conjugate kernel CK_L = H_L H_L^T and the empirical NTK of ONE weight draw,
  - the exact weight-averaged kernel E_W[...] (the infinite-width limit; for n up to the
    spectral module's large-n threshold),
  - the equivalent K~ (a low-rank + identity matrix built from the data statistics),
and compares their eigenvalue distributions (Wasserstein-1 distance) and, for the exact
average, the relative operator-norm error ||E_W K - K~|| / ||E_W K||.

Large n, automatically (--method auto, the default): up to n = LARGE_N_THRESHOLD
(ntkcomp.spectral.slq; default 4096, set it with the environment variable
NTKCOMP_LARGE_N_THRESHOLD, e.g. NTKCOMP_LARGE_N_THRESHOLD=512 ntkcomp spectrum ...) every
spectrum is exact (dense eigvalsh of the n x n kernel). Above it no n x n matrix is formed
or diagonalised: the single draw's CK_L = H H^T (H: n x d_L) is still exact from the
d_L x d_L Gram H^T H when d_L < n ("gram"), the NTK and the equivalents K~ are estimated by
stochastic Lanczos quadrature from matrix-vector products only ("slq"), and the exact
weight average is skipped. So n = 32768 fits on a laptop. The results say which method
each spectrum used. --method dense|gram|slq|kpm forces one ("gram" applies to the CK of
the single draw; the other kernels then use auto).

A single finite-width network does NOT converge to K~ in operator norm: its spectrum is a
Marchenko-Pastur-type spreading of K~'s (error ~ sqrt(n / width)): the plot overlays
that random-features law on the single draw's CK_L (depth 1: eigenvalues of
K~^{1/2} G G^T K~^{1/2} / d_L, G Gaussian; depth >= 2: the compounded law, every hidden
layer a random-features draw of its own), and the summary gives W1(single draw, law).
Compare widths!
"""


def add_parser(sub) -> None:
    p = sub.add_parser("spectrum", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_network_options(p, n=1024, p_dim=512)
    g = p.add_argument_group("spectrum")
    g.add_argument("--kinds", default="ck,ntk", metavar="ck|ntk|ck,ntk",
                   help="which kernels: ck (the last layer's conjugate kernel CK_L), ntk, or "
                        "ck,ntk (default)")
    g.add_argument("--method", default="auto", choices=["auto", "dense", "gram", "slq", "kpm"],
                   help="eigenvalue method. auto (default): dense eigvalsh for n <= "
                        "NTKCOMP_LARGE_N_THRESHOLD (environment variable, default 4096); "
                        "above it the exact d_L x d_L Gram for the single draw's CK_L "
                        "(when d_L < n) and SLQ for the NTK and the equivalents. dense: "
                        "n x n eigvalsh. gram: exact CK_L spectrum from the d_L x d_L Gram "
                        "H^T H at any n (other kernels: auto). slq / kpm: matrix-free "
                        "stochastic Lanczos quadrature / kernel polynomial method (smoothed "
                        "densities from matrix-vector products; the exact weight average and "
                        "the random-features overlay need dense spectra and are skipped)")
    g.add_argument("--no-exact", action="store_true",
                   help="skip the exact weight-averaged kernel (O(n^2 L) bivariate integrals)")
    g.add_argument("--no-rf-law", action="store_true",
                   help="do not overlay the random-features law on the single draw's CK_L "
                        "(by default, with dense spectra, one sample of the eigenvalues of "
                        "K~^{1/2} G G^T K~^{1/2} / d_L, G Gaussian (n, d_L): the original "
                        "statement "
                        "section 6's law for ONE finite-width network)")
    add_run_options(p, "ntkcomp_runs/spectrum")
    p.set_defaults(func=run)


def config_from_args(args) -> dict:
    widths = resolve_widths(args.widths, args.depth)
    kinds = [k.strip() for k in args.kinds.split(",")]
    if not kinds or any(k not in ("ck", "ntk") for k in kinds):
        raise ValueError(f"kinds must be ck, ntk or ck,ntk, got {args.kinds!r}")
    return {"command": "spectrum", "data": args.data, "n": args.n, "p": args.p, "K": args.K,
            "widths": widths, "activations": args.activations, "seed": args.seed,
            "kinds": kinds, "method": args.method, "exact": not args.no_exact,
            "rf_law": not args.no_rf_law,
            "float64": not args.float32}


def run(args) -> int:
    """``ntkcomp spectrum``: validate everything, then compute and commit the run."""
    check_out_path(args.out)
    cfg = config_from_args(args)
    check_run_limits(args, cfg["widths"])
    setup_precision(args)
    # validate names and sizes before any output is written
    validate_data_config(cfg["data"], cfg["n"], cfg["p"], cfg["K"])
    parse_activations(cfg["activations"], len(cfg["widths"]))
    seeds = {"data": args.seed, "weights": args.seed + 1, "rf_law": args.seed + 5}
    steps = ["data", "network"] + (["expected kernels"] if cfg["exact"] else []) + \
        [f"{k} spectra" for k in cfg["kinds"]] + ["write"]
    with RunDir(args.out, cfg, seeds=seeds) as run_dir, \
            Progress(steps, "ntkcomp spectrum", not args.no_progress) as tick:
        res = spectral_equivalence(cfg, progress=tick)
        fig = spectral_figure(res, title=f"({cfg['data']}, n={res['n']}, "
                                         f"{'/'.join(cfg['activations'])})")
        run_dir.save_figure(fig, "spectra")
        arrays = res.pop("_arrays")
        res["timings_s"] = dict(tick.times)
        run_dir.write_results(res, arrays)
        tick("write")
    print(_summary(res, run_dir, cfg["exact"], cfg["method"]))
    return 0


def _summary(res, run_dir, cfg_exact: bool = False, method: str = "auto") -> str:
    lines = [f"n = {res['n']}, p = {res['p']}, widths {res['widths']}, "
             f"activations {res['activations']}, tau0 = {res['tau0']:.4g}"]
    for kind in ("ck", "ntk"):
        if kind not in res:
            continue
        r = res[kind]
        s = (f"  {kind.upper():3s} [{r['method']}]  W1(single draw, equivalent) = "
             f"{r['w1_single_equiv']:.4g}")
        if "w1_single_rf" in r:
            law = "compounded " if r.get("rf_law") == "compounded" else ""
            s += f", W1(single draw, {law}random-features law) = {r['w1_single_rf']:.4g}"
            if "w1_single_rf_one_layer" in r:
                s += f" (one-layer law: {r['w1_single_rf_one_layer']:.4g})"
        if "relop_expected_equiv" in r:
            s += (f";  exact E_W vs equivalent: rel. op. error {r['relop_expected_equiv']:.4g},"
                  f" W1 {r['w1_expected_equiv']:.4g}")
        lines.append(s)
    if cfg_exact and not any("relop_expected_equiv" in res.get(k, {}) for k in ("ck", "ntk")):
        lines.append(f"  (no exact E_W comparison: it needs dense spectra, n <= "
                     f"{res.get('large_n_threshold')} and --method auto/dense/gram; this run: "
                     f"n = {res['n']}, --method {method})")
    lines.append(f"wrote {run_dir.final}/ (config.json, metadata.json, results.json, "
                 f"results.npz, spectra.png/.pdf)")
    return "\n".join(lines)
