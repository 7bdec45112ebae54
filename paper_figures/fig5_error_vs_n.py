"""Figure 5: relative error of the equivalents against n (log-log), with fitted slopes.

    python -m paper_figures.fig5_error_vs_n                    # n = 256 ... 2048, L = 2
    python -m paper_figures.fig5_error_vs_n --full             # n = 256 ... 8192, L = 3
    python -m paper_figures.fig5_error_vs_n --full --dry-run   # time estimate only

Error = ||E_W[K] - K~|| / ||E_W[K]|| (operator norm), with E_W[K] the exact weight-averaged
kernel (``ntkcomp.kernels.expected_kernels``, closed form, no sampling) and K~ the
equivalent (theory page ``docs/theory/equivalents.md``), for CK_L and NTK and several
activations (the binary step with thresholds (-1.5, 0.3) x each layer's input scale
tau_{l-1}, so that deep step networks do not collapse). The theory predicts errors of
order n^{-1/2} (slopes about -0.5).

Sizes. ``--full``: n = 256 ... 8192 (up to the paper's n = 8000, rounded to a power of two),
p = n/2 (the paper's p/n: n = 8000, p = 4000 in the reference code's run
``GMM-mixed_8000_4000_none_rrr_[2000, 2000, 1000]``,
github.com/Model-Compression/Lossless_Compression), depth 3 (as the paper's networks), width
1024 in every layer, 3 data draws per n; the ladder itself is this figure's, not a figure of
the paper. Every (activation, n, seed) is a resumable point; the error is computed in
float64 (it compares two kernels that differ by a few percent, so float32 would also do, but
the closed forms are cheap next to the Gram product) with ARPACK for the operator norms (no
dense eigendecomposition).
"""
from __future__ import annotations

from paper_figures import _common

NAME = "fig5_error_vs_n"
ACTIVATIONS = ["relu", "tanh", "erf", "binary"]
DEFAULT_COST = "about 2.5 CPU minutes (32 points)"


def full_cost(cfgs: list) -> str:
    """Time estimate of the ladder from its FLOP counts: per point one Gram product for
    E_W and one per equivalent, the entrywise maps and two ARPACK norms."""
    from paper_figures import _full_size

    parts = {"Gram products": sum(3 * 2 * c["n"] ** 2 * c["p"] for c in cfgs),
             "E_W entrywise maps": sum(200 * c["depth"] * c["n"] ** 2 for c in cfgs),
             "ARPACK norms": sum(2 * 300 * 2 * c["n"] ** 2 for c in cfgs)}
    return _full_size.cost_model(parts, f"{len(cfgs)} points")


def point(cfg: dict) -> dict:
    import numpy as np

    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from experiments.harness.pipeline import dense_network, load_data
    from ntkcomp.kernels import expected_kernels
    from ntkcomp.spectral import relative_operator_error

    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=2, seed=cfg["seed"])
    s = data.train
    net = dense_network([cfg["width"]] * cfg["depth"], [cfg["activation"]] * cfg["depth"],
                        float(s.stats.tau0), cfg.get("step_thresholds", "fixed"))
    E = expected_kernels(net, s.X)
    out = {"ck": relative_operator_error(np.asarray(ck_equivalent(net, s)),
                                         np.asarray(E["ck"][-1]))}
    out["ntk"] = relative_operator_error(np.asarray(ntk_equivalent(net, s)), np.asarray(E["ntk"]))
    return out


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="data draws per n (2; full 3)")
    ap.add_argument("--ns", default=None, help="comma-separated n values")
    ap.add_argument("--activations", default=",".join(ACTIVATIONS),
                    help=f"comma-separated activations (default {','.join(ACTIVATIONS)})")
    args, t0 = _common.start(ap, argv)
    _common.reject(args, ["n", "p", "draws"], "it runs a ladder of n with p = n/2 and the "
                                              "exact weight average (use --ns, --seeds)")
    _common.check_count("seeds", args.seeds)
    if args.full:
        ns, depth, seeds = [256, 512, 1024, 2048, 4096, 8192], 3, args.seeds or 3
    else:
        ns, depth, seeds = [256, 512, 1024, 2048], 2, args.seeds or 2
    width = 1024
    if args.widths is not None:
        widths = _common.apply_overrides({}, args)["widths"]
        if len(set(widths)) != 1:
            raise ValueError(f"widths must be equal for this figure (one width for every "
                             f"layer, e.g. 512,512), got {args.widths!r}")
        width, depth = widths[0], len(widths)
    if args.ns:
        ns = _ns_list(args.ns)
    acts = [a for a in args.activations.replace(" ", "").split(",") if a]
    # step activations: thresholds proportional to each layer's input scale (fixed ones
    # make tau_l collapse with depth; experiments.harness.pipeline.STEP_THRESHOLDS)
    cfgs = [{"data": "mixed", "n": n, "p": n // 2, "width": width, "depth": depth,
             "activation": a, "seed": args.seed + s,
             **({"step_thresholds": "scaled"} if a in ("binary", "ternary") else {})}
            for a in acts for n in ns for s in range(seeds)]
    _common.check_points(cfgs)
    run = _common.run_dir_for(NAME, args, {"ns": ns, "depth": depth, "width": width,
                                           "seeds": seeds,
                                           "activations": acts, "data": "mixed",
                                           "p_over_n": 0.5}, {"base": args.seed},
                              full_cost(cfgs) if args.full else DEFAULT_COST)
    res = _common.points(point, cfgs, run, NAME, args)
    import numpy as np

    table = {}
    for a in acts:
        for kind in ("ck", "ntk"):
            errs = np.array([[r[kind] for c, r in zip(cfgs, res)
                              if c["activation"] == a and c["n"] == n] for n in ns])
            table[f"{a}/{kind}"] = {"n": ns, "mean": errs.mean(1).tolist(),
                                    "std": errs.std(1).tolist()}
    fig, slopes = plot(table, ns, depth, acts)
    arrays = {"ns": np.asarray(ns), **{f"{k.replace('/', '_')}_{s}": np.asarray(v[s])
                                        for k, v in table.items() for s in ("mean", "std")}}
    _common.finish(fig, run, NAME, args, {"table": table, "slopes": slopes}, arrays, t0=t0)
    for k, v in table.items():
        print(f"{k:12s} " + "  ".join(f"n={n}: {m:.4f}" for n, m in zip(ns, v["mean"]))
              + f"   slope {slopes[k]:.2f}")
    return 0


def _ns_list(text: str) -> list[int]:
    """``--ns 256,512`` -> [256, 512]; ValueError unless at least two distinct integers
    >= 16 (p = n/2 must hold the class means; a slope needs two n)."""
    try:
        ns = sorted({int(v) for v in text.replace(" ", "").split(",") if v})
    except ValueError:
        ns = []
    if len(ns) < 2 or ns[0] < 16:
        raise ValueError(f"ns must be at least two distinct comma-separated integers >= 16 "
                         f"like 256,512,1024, got {text!r}")
    return ns


def plot(table, ns, depth, acts=tuple(ACTIVATIONS)):
    from experiments.harness.plots import COLORS, figure, loglog_fit

    fig, axes = figure(1, 2, width=4.8, height=3.8)
    slopes = {}
    for ax, kind, name in ((axes[0, 0], "ck", "CK_L"), (axes[0, 1], "ntk", "NTK")):
        for i, a in enumerate(acts):
            t = table[f"{a}/{kind}"]
            slopes[f"{a}/{kind}"] = loglog_fit(ax, ns, t["mean"], yerr=t["std"], label=a,
                                               color=COLORS[i])
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("n  (p = n/2)")
        ax.set_ylabel("||E_W K - K~|| / ||E_W K||")
        ax.set_title(f"{name} equivalent, L = {depth}", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
    _common.titled(fig, "Equivalence error against n (exact weight average, GMM 'mixed')")
    return fig, slopes


if __name__ == "__main__":
    raise SystemExit(_common.cli(main))
