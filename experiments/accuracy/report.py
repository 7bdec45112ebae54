"""Generate ``results/README.md``: the accuracy experiments' numbers and what they say.

    python -m experiments.accuracy report

Reads the committed result files of this package (``mnist.json``, ``mnist_full.json``,
``mnist10_full.json``,
``fig4.json`` (the figure's run: its config, results and metadata files),
``cifar.json``, ``cifar_synthetic.json``, ``gmm_gap.json``, ``gmm_fixes.json``,
``both_kernels.json``; absent
ones are skipped) and writes the write-up; every number in it comes from those files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ntkcomp.io import atomic_write_bytes

__all__ = ["accuracy_section", "both_kernels_section", "gmm_fixes_section", "gmm_gap_section",
           "main", "render"]

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = {"dense": "dense float32", "ntk_lc": "NTK-LC", "magnitude": "magnitude pruning",
         "random": "random sparsification"}


def _pm(a) -> str:
    return f"{a['acc_mean']:.3f} ± {a['acc_std']:.3f}"


def accuracy_section(result: dict, title: str) -> list[str]:
    """Markdown tables (one per task) of an accuracy-vs-memory result.

    Args:
        result: the JSON of the MNIST or CIFAR experiment.
        title: section title.

    Returns:
        Lines of markdown.
    """
    cfg = result["config"]
    out = [f"## {title}", "",
           f"Widths {cfg['widths']}, NTK-LC eps {cfg['eps']}, {cfg['seeds']} seeds "
           "(mean ± standard deviation of the test accuracy). Memory: bits of the hidden "
           "layers per hidden weight — real packed bits for NTK-LC (smallest explicit "
           "format), the paper's (1 - eps) in the next column; the pruning baselines are "
           "given exactly the NTK-LC bits (float32 values, positions at the entropy bound), "
           "which forces their sparsity eps_p.", ""]
    for task, tr in result["tasks"].items():
        summ = tr["summary"]
        out += [f"### {task}", "",
                "| method | eps (eps_p) | bits/weight | paper bits/weight | Adam | ridge |",
                "|---|---|---|---|---|---|"]
        keys = sorted({(r["method"], r["eps"]) for r in summ},
                      key=lambda k: (list(NAMES).index(k[0]), k[1]))
        n_w = None
        for m, e in keys:
            by = {r["readout"]: r for r in summ if r["method"] == m and r["eps"] == e}
            a = next(iter(by.values()))
            n_w = a["bits"] / a["bits_per_weight"]
            eps_txt = f"{e:g}" if m in ("dense", "ntk_lc") else f"{e:g} ({a['eps_used']:.4f})"
            paper = f"{a['paper_bits'] / n_w:.4f}" if m == "ntk_lc" else "—"
            out.append(f"| {NAMES[m]} | {eps_txt} | {a['bits_per_weight']:.4f} | {paper} | "
                       f"{_pm(by['adam']) if 'adam' in by else '—'} | "
                       f"{_pm(by['ridge']) if 'ridge' in by else '—'} |")
        out.append("")
        out += _accuracy_verdict(summ)
    return out


def _accuracy_verdict(summ) -> list[str]:
    lines = []
    for ro in ("adam", "ridge"):
        dense = [r for r in summ if r["method"] == "dense" and r["readout"] == ro]
        if not dense:
            continue
        d = dense[0]["acc_mean"]
        lc = sorted((r for r in summ if r["method"] == "ntk_lc" and r["readout"] == ro),
                    key=lambda r: r["eps"])
        gaps = ", ".join(f"eps {r['eps']:g}: {100 * (d - r['acc_mean']):+.1f}" for r in lc)
        best = []
        for r in lc:
            mag = [q for q in summ if q["method"] == "magnitude" and q["readout"] == ro
                   and q["eps"] == r["eps"]]
            if mag:
                best.append(f"eps {r['eps']:g}: NTK-LC {100 * (r['acc_mean'] - mag[0]['acc_mean']):+.1f}")
        lines.append(f"- {ro}: dense minus NTK-LC, points: {gaps}. At equal memory, NTK-LC "
                     f"minus magnitude pruning, points: {', '.join(best)}.")
    return lines + [""]


def _g(summary, *path):
    node = summary
    for p in path:
        node = node[p]
    return node


def _f(node) -> str:
    return f"{node['mean']:.3f} ± {node['std']:.3f}"


def gmm_gap_section(res: dict) -> list[str]:
    """The GMM gap decomposition as markdown.

    Args:
        res: ``gmm_gap.json``.

    Returns:
        Lines of markdown.
    """
    s, cfg = res["summary"], res["config"]
    gap = lambda a, b: 100 * (a["mean"] - b["mean"])  # noqa: E731
    out = ["## The GMM panel: why NTK-LC loses accuracy", "",
           f"GMM `{cfg['data']}`, K = {cfg['K']}, p = {cfg['p']}, n = {cfg['n']} training and "
           f"{cfg['n_test']} test samples, widths {cfg['widths']}, NTK-LC eps {cfg['eps']}, "
           f"ridge readout, {cfg['seeds']} seeds (data and weights redrawn). Test accuracy, "
           "mean ± standard deviation.", "",
           "| factor | dense | NTK-LC | gap (points) |", "|---|---|---|---|"]
    rows = [("fixed penalty lam = 0.1 (the old figure)", s["fixed_lam"]["dense"],
             s["fixed_lam"]["ntk_lc"]),
            ("identity shift subtracted (lam - delta)", s["fixed_lam"]["dense"],
             s["shift_subtracted"]["ntk_lc"]),
            ("penalty tuned per network on validation", s["tuned_lam"]["dense"],
             s["tuned_lam"]["ntk_lc"])]
    rows += [(f"width {w} (tuned)", v["dense"], v["ntk_lc"]) for w, v in s["width"].items()]
    rows += [("infinite width: exact E_W CK_L, kernel ridge (tuned)",
              s["expected_kernel"]["dense"], s["expected_kernel"]["ntk_lc"]),
             ("infinite width, shift subtracted", s["expected_kernel"]["dense"],
              s["expected_kernel"]["ntk_lc_shift_subtracted"])] if "expected_kernel" in s else []
    for name, a, b in rows:
        out.append(f"| {name} | {_f(a)} | {_f(b)} | {gap(a, b):+.1f} |")
    dt = s["tuned_lam"]["dense"]
    out += ["", f"Identity shift of the design: delta = {s['delta']['mean']:.4f} "
            f"(against the fixed penalty {cfg['lam']}).", "",
            "| first-layer sparsity eps_1 (deeper layers 0.9), tuned | NTK-LC | gap to dense |",
            "|---|---|---|"]
    for e1, v in s["eps1"].items():
        out.append(f"| {float(e1):.3f} (excess kurtosis {1 / (1 - float(e1)) - 3:.1f}) | "
                   f"{_f(v['ntk_lc'])} | {gap(dt, v['ntk_lc']):+.1f} |")
    c = s["components"]
    out += ["", "| substitution (width as above, tuned) | accuracy | gap to dense |",
            "|---|---|---|",
            f"| Gaussian weights, quantized activations | "
            f"{_f(c['gaussian_weights_quantized_act'])} | "
            f"{gap(dt, c['gaussian_weights_quantized_act']):+.1f} |",
            f"| sparse ternary weights (eps 0.9), ReLU | {_f(c['sparse_weights_relu'])} | "
            f"{gap(dt, c['sparse_weights_relu']):+.1f} |", ""]
    return out


def gmm_fixes_section(res: dict) -> list[str]:
    """The candidate fixes of the GMM gap as markdown.

    Args:
        res: ``gmm_fixes.json``.

    Returns:
        Lines of markdown.
    """
    s, cfg = res["summary"], res["config"]
    d = s["dense"]
    out = ["### Candidate fixes (tuned ridge)", "",
           f"Same data; {cfg['seeds']} seeds. Bits: hidden layers (real packed bits for "
           "NTK-LC).", "",
           "| network | hidden bits | memory vs dense | accuracy | gap to dense (points) |",
           "|---|---|---|---|---|"]
    for name, v in s.items():
        ratio = d["bits"]["mean"] / v["bits"]["mean"]
        out.append(f"| {name} | {v['bits']['mean']:.0f} | {ratio:.1f}x smaller | "
                   f"{_f(v['acc'])} | {100 * (d['acc']['mean'] - v['acc']['mean']):+.1f} |")
    return out + [""]


def both_kernels_section(res: dict) -> list[str]:
    """The both-kernels measurement as markdown.

    Args:
        res: ``both_kernels.json``.

    Returns:
        Lines of markdown.
    """
    cfg = res["config"]
    out = ["## Both kernels: CK and NTK at once?", "",
           f"Dense network of the default `ntkcomp compress` run (GMM `{cfg['data']}`, "
           f"n = {cfg['n']}, p = {cfg['p']}, widths {cfg['widths']}, ReLU, eps {cfg['eps']}); "
           "relative operator-norm differences of the exact weight-averaged kernels after "
           "removing each kernel's identity shift.", "",
           "| family | levels per layer | target | CK_L diff | NTK diff | both < "
           f"{cfg['tol']} |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        fam = r["family"] + (f" ({r['levels']})" if r["levels"] else "")
        out.append(f"| {fam} | {r['n_levels']} | {r['target']} | {r['ck_rel_diff']:.4f} | "
                   f"{r['ntk_rel_diff']:.4f} | {'yes' if r['both_within_tol'] else 'no'} |")
    any_both = any(r["both_within_tol"] for r in res["rows"])
    best_ck = min(r["ntk_rel_diff"] for r in res["rows"] if r["target"] == "ck")
    best_ntk = min(r["ck_rel_diff"] for r in res["rows"] if r["target"] == "ntk")
    out += ["", ("Some design matches both kernels within the tolerance." if any_both else
                 f"No measured design matches both within {cfg['tol']}: with the CK target "
                 f"the smallest NTK difference is {best_ck:.3f}, with the NTK target the "
                 f"smallest CK_L difference is {best_ntk:.3f}, whatever the number of levels."),
            ""]
    return out


def render(results_dir: Path = RESULTS) -> str:
    """The whole write-up from the result files in ``results_dir``.

    Args:
        results_dir: directory of the result JSON files.

    Returns:
        Markdown text.
    """
    lines = ["# Accuracy against memory, the GMM gap and the two kernels", "",
             "Generated by `python -m experiments.accuracy report` from the result files in "
             "this directory; do not edit by hand.", ""]
    for name, title in (("mnist.json", "MNIST (bundled 5,000-image subset)"),
                        ("mnist_full.json", "MNIST at the reference widths"),
                        ("mnist10_full.json", "MNIST, 10 classes, at the reference widths"),
                        ("fig4.json", "Figure 4 run (paper_figures/fig4_accuracy_memory.png; "
                                      "float64, MNIST and the GMM panel)"),
                        ("cifar.json", "CIFAR-10 trunk features"),
                        ("cifar_synthetic.json", "Synthetic files in the CIFAR-10 format "
                                                 "(pipeline check only)")):
        if (results_dir / name).is_file():
            lines += accuracy_section(json.loads((results_dir / name).read_text()), title)
    if (results_dir / "gmm_gap.json").is_file():
        lines += gmm_gap_section(json.loads((results_dir / "gmm_gap.json").read_text()))
    if (results_dir / "gmm_fixes.json").is_file():
        lines += gmm_fixes_section(json.loads((results_dir / "gmm_fixes.json").read_text()))
    if (results_dir / "both_kernels.json").is_file():
        lines += both_kernels_section(json.loads((results_dir / "both_kernels.json").read_text()))
    notes = results_dir / "analysis.md"
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Write ``results/README.md``.

    Args:
        argv: command-line arguments (``--results DIR``).

    Returns:
        0.
    """
    ap = argparse.ArgumentParser(prog="python -m experiments.accuracy report",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    atomic_write_bytes(args.results / "README.md", render(args.results))
    print(f"wrote {args.results / 'README.md'}")
    return 0
