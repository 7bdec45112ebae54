"""Run the whole NTK-LC compression on the default GMM and write ``report.json``.

    python experiments/compress_example.py                       # relu, eps=0.9, n=2048
    python experiments/compress_example.py --activation tanh --eps 0.5 --n 512
    python experiments/compress_example.py --sweep --n 2048      # relu/tanh/erf x eps 0/.5/.9
    python experiments/compress_example.py --eps 0.6667 0.9 0.9  # per-layer sparsities
    python experiments/compress_example.py --frontier --n 256    # single draws vs width
    python experiments/compress_example.py --target ntk --sweep  # NTK-target design
    python experiments/compress_example.py --eps 0.9 --kurtosis-tol 0.05   # eps_1 chosen
    python experiments/compress_example.py --single-draw-widths 512 1024 2048 4096 --n 2048 \
        --out experiments/results/compress_example/n2048   # single draws vs width (resumable)

report.json holds at least: memory_factor, layers (family, parameters, residuals, feasible
per layer), identity_shift, ck_rel_diff, ntk_rel_diff, plus the full compression and
spectral reports and run metadata. Definitions:

* ``ck_rel_diff``: ||E_W CK_L(compressed) - delta I - E_W CK_L(dense)|| / ||E_W CK_L(dense)||
  with the exact infinite-width E_W kernels (``--no-exact``: the equivalents instead) and
  delta the reported identity shift;
* ``ck_rel_diff_kurtosis``: the same between the equivalents with the sparse-ternary
  kurtosis term of docs/theory/universality.md switched on for the compressed network -- the leading
  eps-dependence, which the Gaussian E_W limit does not see;
* ``ck_rel_diff_exact_kurtosis``: exact dense E_W CK_L vs (exact compressed E_W CK_L + the
  kurtosis term): the best estimate of the sparse-ternary network's own weight average
  (confirmed by Monte Carlo at n = 512, results/compress_example/kurtosis_check);
* ``ntk_rel_diff``: the same for the NTK (the compressed step network's autodiff NTK is
  its CK_L), with the NTK identity shift removed (``ntk_rel_diff_raw``: without);
* ``ntk_rel_diff_kurtosis`` / ``ntk_rel_diff_exact_kurtosis``: the NTK analogues of the two
  kurtosis keys above;
* ``kurtosis_predicted_loss``: ``compress(..., data=sample).kurtosis["predicted_loss"]``
  (the design target's kernel), ``eps_used``: per-layer eps after ``--kurtosis-tol``;
* ``hidden_max_residual``: max relative residual of the matched hidden-layer moments;
  ``cpu_seconds``: process CPU time of the run.

``--sweep`` also writes ``summary.md`` (markdown table); ``--frontier`` writes
``frontier.json`` and ``frontier.md``. ``--single-draw-widths D...`` runs
``experiments.compression.frontier.single_draw_point`` for every (width, activation) as a resumable
sweep (``OUT/single_draw/``: manifest + one atomic file per finished point; rerun the same
command to resume) and writes ``OUT/single_draw_vs_width.{json,md}``; the table is also
appended to ``OUT/summary.md`` under "## Single-draw agreement vs width". Results and their discussion:
experiments/results/compress_example/README.md.

OUT is a result folder shared by the modes above (and by
``experiments/single_draw_compounded_law.py``): every run is written through
:class:`experiments.harness.RunDir` with ``keep_previous=True``, i.e. into a staging copy of
the previous OUT beside it, where it adds or replaces its own files; OUT is replaced whole
when the run completes and left as it was when the run fails or is interrupted (the
finished points of ``OUT/single_draw`` are kept for the next run). A second run into the
same OUT while one is writing is refused (exit status 2).
"""
from __future__ import annotations

import io
import resource
import sys
import time
from pathlib import Path

import jax

import ntkcomp
from experiments.compression import (lossless_frontier, predicted_single_draw,
                                     single_draw_point, single_draw_table, spectral_report)
from experiments.harness import RunDir, check_out_path, read_json, run_main, run_sweep
from experiments.harness.args import Parser
from experiments.harness.compression import headline_rel_diffs
from ntkcomp.compress import HiddenScale, KurtosisBudget, SolverOptions, compress
from ntkcomp.data import gmm_preset
from ntkcomp.io import run_metadata
from ntkcomp.networks import MLP

ntkcomp.enable_x64()


def _cpu() -> float:
    """CPU seconds of this process (user + system; all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _fmt(x, f=".3g"):
    return "-" if x is None else format(float(x), f)


def _eps_cell(r) -> str:
    used = r.get("eps_used")
    if used is None or all(abs(u - e) < 1e-12 for u, e in zip(
            used, r["eps"] if isinstance(r["eps"], list) else [r["eps"]] * len(used))):
        return str(r["eps"])
    return f"{r['eps']} -> ({', '.join(f'{u:.3g}' for u in used)})"


def summary_table(rows) -> str:
    """Markdown tables of a sweep: CK-target rows, then NTK-target rows (if any).

    ``eps`` shows ``requested -> (used per layer)`` when ``kurtosis_tol`` changed eps_1."""
    ck_rows = [r for r in rows if r.get("target", "ck") == "ck"]
    ntk_rows = [r for r in rows if r.get("target", "ck") == "ntk"]
    out = []
    if ck_rows:
        out.append(
            "| activation | eps | hidden max resid | last-layer resid (a1^2, a2^2, q^2, tau^2) "
            "| delta (CK_L) | tau_L^2 | ck raw | ck shift removed | ck + kurtosis (equiv) "
            "| ck + kurtosis (exact) | predicted kurtosis loss | delta (NTK) | ntk raw "
            "| ntk shift removed | memory factor | CPU s |\n|" + "---|" * 16)
        for r in ck_rows:
            lr = r["last_layer_residuals"]
            last = ", ".join(_fmt(lr.get(k), ".1e") for k in ("a1_sq", "a2_sq", "q_sq",
                                                               "tau_sq"))
            out.append(
                f"| {r['activation']} | {_eps_cell(r)} "
                f"| {_fmt(r['hidden_max_residual'], '.1e')} "
                f"| {last} | {_fmt(r['identity_shift'], '.4f')} "
                f"| {_fmt(r['tau_L_sq_dense'], '.4f')} "
                f"| {_fmt(r['ck_rel_diff_raw'], '.4f')} | {_fmt(r['ck_rel_diff'], '.4f')} "
                f"| {_fmt(r['ck_rel_diff_kurtosis'], '.4f')} "
                f"| {_fmt(r.get('ck_rel_diff_exact_kurtosis'), '.4f')} "
                f"| {_fmt(r.get('kurtosis_predicted_loss'), '.4f')} "
                f"| {_fmt(r['identity_shift_ntk'], '.4f')} | {_fmt(r['ntk_rel_diff_raw'], '.4f')} "
                f"| {_fmt(r['ntk_rel_diff'], '.4f')} | {_fmt(r['memory_factor'], '.1f')} "
                f"| {_fmt(r['cpu_seconds'], '.0f')} |")
    if ntk_rows:
        out.append(
            ("\n" if ck_rows else "")
            + "NTK target (`target=\"ntk\"`):\n\n"
            "| activation | eps | hidden max resid "
            "| last-layer resid (beta1, beta2, beta3, kappa^2) | delta (NTK) | kappa_L^2 dense "
            "| ntk raw | ntk shift removed | ntk + kurtosis (equiv) | ntk + kurtosis (exact) "
            "| predicted kurtosis loss | memory factor | CPU s |\n|" + "---|" * 13)
        for r in ntk_rows:
            lr = r["last_layer_residuals"]
            last = ", ".join(_fmt(lr.get(k), ".1e") for k in ("beta1", "beta2", "beta3",
                                                               "kappa_sq"))
            out.append(
                f"| {r['activation']} | {_eps_cell(r)} "
                f"| {_fmt(r['hidden_max_residual'], '.1e')} | {last} "
                f"| {_fmt(r['identity_shift_ntk'], '.4f')} "
                f"| {_fmt(r.get('kappa2_dense'), '.4f')} "
                f"| {_fmt(r['ntk_rel_diff_raw'], '.4f')} | {_fmt(r['ntk_rel_diff'], '.4f')} "
                f"| {_fmt(r.get('ntk_rel_diff_kurtosis'), '.4f')} "
                f"| {_fmt(r.get('ntk_rel_diff_exact_kurtosis'), '.4f')} "
                f"| {_fmt(r.get('kurtosis_predicted_loss'), '.4f')} "
                f"| {_fmt(r['memory_factor'], '.1f')} | {_fmt(r['cpu_seconds'], '.0f')} |")
    return "\n".join(out) + "\n"


def frontier_table(res: dict) -> str:
    """Markdown tables of ``lossless_frontier`` results (one per activation)."""
    out = []
    for act, fr in res.items():
        out.append(f"### {act} (n={fr['n']}, p={fr['p']}, depth={fr['depth']}, "
                   f"tol={fr['tol']} on w1_rel)\n")
        out.append("| width d | eps | delta | w1_rel measured | w1_rel predicted (RF law) "
                   "| agree (measured) | agree (predicted) | top-eigvec class alignment "
                   "dense / compressed |\n|---|---|---|---|---|---|---|---|")
        for r in fr["rows"]:
            pr = r.get("predicted_w1_rel")
            out.append(f"| {r['width']} | {r['eps']} | {r['identity_shift']:.4f} "
                       f"| {r['w1_rel']:.4f} | {_fmt(pr, '.4f')} | {r['agree']} "
                       f"| {'-' if pr is None else pr <= fr['tol']} "
                       f"| {r['alignment_dense']:.3f} / {r['alignment_compressed']:.3f} |")
        pred_eps = {r["width"]: None for r in fr["rows"]}
        for r in fr["rows"]:
            if r.get("predicted_w1_rel") is not None and r["predicted_w1_rel"] <= fr["tol"]:
                pred_eps[r["width"]] = max(pred_eps[r["width"]] or 0.0, r["eps"])
        out.append(f"\nSmallest width agreeing at eps = 0: measured "
                   f"{fr['smallest_width_agreeing_at_eps0']}, predicted "
                   f"{fr.get('predicted_smallest_width_at_eps0')}. Largest eps agreeing per "
                   f"width: measured {fr['largest_eps_agreeing_per_width']}, predicted "
                   f"{ {str(k): v for k, v in pred_eps.items()} }.\n")
    return "\n".join(out) + "\n"


SINGLE_DRAW_MARKER = "\n## Single-draw agreement vs width"

#: subdirectories of a result folder that hold the finished points of resumable sweeps
#: (``--single-draw-widths`` here, ``experiments/single_draw_compounded_law.py``): a run
#: into the folder that fails keeps them for the next run (:class:`RunDir`'s ``resume``)
RESUME_DIRS = ("single_draw", "single_draw_compounded")


def write_summary(run: RunDir, table: str) -> None:
    """``summary.md`` = ``table`` + the single-draw section (kept across rewrites)."""
    sec = ""
    f = run.file("summary.md")
    if f.exists():
        old = f.read_text()
        i = old.find(SINGLE_DRAW_MARKER)
        if i >= 0:
            sec = old[i:]
    run.write_text("summary.md", table.rstrip("\n") + "\n" + sec)


def single_draw_sweep(run: RunDir, activations, widths, n: int, p: int, depth: int, *,
                      family: str, k_max: int, seed: int, tol: float,
                      law: str = "one_layer", out_label: str | None = None) -> list:
    """Resumable single-draw-vs-width sweep (see module docstring) in ``run``'s
    ``single_draw/``; returns the points. ``out_label``: the ``--out`` shown in the
    regenerate command of ``summary.md`` (default: the run's final directory)."""
    # widths outer, activations inner: a sweep cut short loses the widest (dearest) points
    points = [{"activation": act, "width": int(d), "n": n, "p": p, "depth": depth,
               "eps_grid": [0.0, 0.5, 0.9], "family": family, "k_max": k_max, "seed": seed,
               # the default law stays out of the point key: earlier sweeps resume unchanged
               **({"law": law} if law != "one_layer" else {})}
              for d in sorted(widths) for act in activations]

    def fn(cfg):
        r = single_draw_point(**cfg)
        ck = ", ".join(f"eps {row['eps']}: {row['ck_w1_rel']:.3f} "
                       f"(pred {row.get('ck_w1_rel_predicted', float('nan')):.3f})"
                       for row in r["rows"])
        print(f"\n{cfg['activation']} d={cfg['width']}: CK w1_rel {ck}; null "
              f"{r.get('null_ck_w1_rel', float('nan')):.3f}; {r['seconds']['total']:.0f} s",
              flush=True)
        return r

    res = run_sweep(fn, points, run.file("single_draw"), name="single_draw_vs_width",
                    on_error="record", progress=False)
    done = [r for r in res.results if r is not None]
    table = single_draw_table(done, tol=tol)
    run.write_json("single_draw_vs_width.json",
                   {"points": done, "tol": tol,
                    **run_metadata({"activations": list(activations),
                                    "widths": list(widths), "n": n, "p": p,
                                    "depth": depth, "family": family, "k_max": k_max},
                                   {"seed": seed})})
    run.write_text("single_draw_vs_width.md", table)
    pred = run.file("single_draw_predicted.md")
    if pred.exists():   # written by --single-draw-predict-widths
        table += ("\nRandom-features-law prediction only (no network drawn), widths beyond "
                  "the measured ones: `single_draw_predicted.md`\n\n" + pred.read_text())
    f = run.file("summary.md")
    old = f.read_text() if f.exists() else ""
    i = old.find(SINGLE_DRAW_MARKER)
    head = old if i < 0 else old[:i]
    cmd = (f"nice -n 19 python experiments/compress_example.py --single-draw-widths "
           f"{' '.join(str(d) for d in sorted(widths))} --n {n} "
           f"--out {out_label or run.final}")
    run.write_text("summary.md", head.rstrip("\n") + "\n" + SINGLE_DRAW_MARKER +
                   f" (n = {n}, p = {p}, depth {depth}, one draw each)\n\n"
                   f"Regenerate / resume: `{cmd}`. Columns: "
                   "`experiments.compression.frontier.single_draw_point`; details in "
                   "`single_draw_vs_width.md` and the README one level up.\n\n" + table)
    return done


def single_draw_predict(run: RunDir, activations, widths, n: int, p: int, depth: int, *,
                        family: str, k_max: int, seed: int) -> dict:
    """RF-law predictions of the single-draw CK_L W1 at large widths (eps 0 and 0.9 for
    ReLU; eps 0 only for tanh/erf, whose layer-1 kurtosis term is 0, a2 = 0), written to
    ``run``'s ``single_draw_predicted.{json,md}``."""
    res, lines = {}, []
    for act in activations:
        eps = (0.0, 0.9) if act == "relu" else (0.0,)
        res[act] = predicted_single_draw(act, widths, n=n, p=p, depth=depth, eps_grid=eps,
                                         family=family, k_max=k_max, seed=seed)
        lines = ["| activation | width d | d/n | eps | CK W1 rel predicted (RF law) |",
                 "|---|---|---|---|---|"]
        for a, r in res.items():
            for row in r["rows"]:
                lines.append(f"| {a} | {row['width']} | {row['width'] / n:.3g} | "
                             f"{row['eps']} | {row['ck_w1_rel_predicted']:.3f} |")
                if a == act:
                    print(lines[-1], flush=True)
    run.write_json("single_draw_predicted.json",
                   {"results": res, **run_metadata({"widths": list(widths), "n": n,
                                                    "p": p, "depth": depth},
                                                   {"seed": seed})})
    run.write_text("single_draw_predicted.md", "\n".join(lines) + "\n")
    return res


def run_one(activation: str, eps: float, n: int, p: int, widths, *, family: str, k_max: int,
            hidden_tau, exact: bool, single_draw: bool, seed: int, run: RunDir | None = None,
            where: str = "", target: str = "ck", kurtosis_tol: float | None = None):
    """Compress one dense network and report its kernels; ``(summary row, full report)``.
    With ``run``: writes ``report.json`` and ``spectra.png`` into its folder ``where``
    (``""``: the run directory itself)."""
    sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(seed), n)
    tau0 = float(sample.stats.tau0)
    net = MLP(widths, activation, tau0=tau0)
    cpu0 = _cpu()
    t0 = time.time()
    res = compress(net, tau0, eps=eps, family=family, hidden_tau=hidden_tau, p=p,
                   solver=SolverOptions(seed=seed, k_max=k_max), target=target, data=sample,
                   kurtosis=KurtosisBudget(kurtosis_tol))
    t_compress = time.time() - t0
    t0 = time.time()
    rep = spectral_report(net, res.compressed, sample, coefficients=res.coefficients,
                          exact=exact, single_draw=single_draw, seed=seed,
                          figure=run is not None)
    t_report = time.time() - t0
    d = rep.to_json()
    summary = {
        "activation": activation, "eps": eps, "target": target, "n": n, "p": p,
        "widths": list(widths),
        "memory_factor": res.memory_factor,
        "layers": res.to_json()["layers"],
        "feasible": res.feasible,
        "identity_shift": res.identity_shift,
        "tau_L_sq_dense": res.coefficients.tau_L_sq_dense,
        "kappa2_dense": res.coefficients.kappa2_dense,
        # ck/ntk_rel_diff(_raw, _source, _kurtosis, _exact_kurtosis): same as `ntkcomp compress`
        **headline_rel_diffs(d),
        "identity_shift_ntk": d["identity_shift_ntk"],
        "eps_used": list(res.eps), "kurtosis_tol": kurtosis_tol,
        "kurtosis_predicted_loss": res.kurtosis.predicted_loss,
        "hidden_max_residual": max(float(s.max_residual) for s in res.layers[:-1]),
        "last_layer_residuals": dict(res.layers[-1].residuals),
        "seconds": {"compress": t_compress, "report": t_report},
        "cpu_seconds": _cpu() - cpu0,
    }
    full = {**summary, "compression": res.to_json(), "spectral_report": d,
            **run_metadata({"activation": activation, "eps": eps, "n": n, "p": p,
                            "widths": list(widths), "family": family, "k_max": k_max,
                            "hidden_tau": HiddenScale.parse(hidden_tau).to_json(),
                            "exact": exact, "target": target,
                            "kurtosis_tol": kurtosis_tol},
                           {"seed": seed})}
    if run is not None:
        prefix = f"{where}/" if where else ""
        run.write_json(prefix + "report.json", full)
        if rep.figure is not None:        # a matplotlib Figure, outside pyplot's state
            buf = io.BytesIO()
            rep.figure.savefig(buf, format="png", dpi=110)
            run.write_bytes(prefix + "spectra.png", buf.getvalue())
    return summary, full


def parser() -> Parser:
    """The command-line options (``--help``)."""
    ap = Parser(prog="python -m experiments.compress_example",
                description=__doc__.split("\n")[0])
    ap.add_argument("--activation", default="relu", choices=["relu", "tanh", "erf"])
    ap.add_argument("--eps", type=float, nargs="+", default=[0.9],
                    help="one value, or one per layer (e.g. 0.6667 0.9 0.9: kappa4 = 0 at "
                         "layer 1, which removes the kurtosis term of docs/theory/universality.md)")
    ap.add_argument("--append-to-sweep", action="store_true",
                    help="single run: add the row to OUT/sweep.json and OUT/summary.md and "
                         "write the run to OUT/<activation>_eps<...>")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--p", type=int, default=None, help="default n // 2")
    ap.add_argument("--widths", type=int, nargs="+", default=None,
                    help="default [n/2, n/2, n/4] (the official proportions)")
    ap.add_argument("--family", default="ternary")
    ap.add_argument("--k-max", type=int, default=4)
    ap.add_argument("--hidden-tau", default="free")
    ap.add_argument("--target", default="ck", choices=["ck", "ntk"],
                    help="design target of compress: the CK (default) or the NTK (the last "
                         "layer matches beta_L and kappa_L^2 of the dense NTK equivalent)")
    ap.add_argument("--kurtosis-tol", type=float, default=None,
                    help="kurtosis-aware design: eps_1 is replaced by the nearest value whose "
                         "predicted layer-1 kurtosis loss (docs/theory/universality.md) is <= this")
    ap.add_argument("--no-exact", action="store_true")
    ap.add_argument("--no-single-draw", action="store_true")
    ap.add_argument("--sweep", action="store_true",
                    help="relu/tanh/erf x eps in {0, 0.5, 0.9}; writes sweep.json")
    ap.add_argument("--activations", nargs="+", default=["relu", "tanh", "erf"],
                    choices=["relu", "tanh", "erf"], help="activations of --sweep/--frontier")
    ap.add_argument("--frontier", action="store_true",
                    help="single-draw agreement vs width and eps (lossless_frontier); "
                         "writes frontier.json")
    ap.add_argument("--frontier-widths", type=int, nargs="+", default=[128, 256, 512, 1024,
                                                                        2048])
    ap.add_argument("--single-draw-widths", type=int, nargs="+", default=None,
                    metavar="D",
                    help="single draws vs width (all hidden widths D) for --activations x "
                         "eps 0/0.5/0.9: CK_L and NTK, dense-vs-dense null, random-features "
                         "prediction; resumable sweep in OUT/single_draw")
    ap.add_argument("--single-draw-predict-widths", type=int, nargs="+", default=None,
                    metavar="D", help="random-features-law prediction only (no network "
                    "drawn) of the single-draw CK_L W1 at these widths; writes "
                    "OUT/single_draw_predicted.{json,md}")
    ap.add_argument("--single-draw-law", default="one_layer",
                    choices=["one_layer", "compounded", "both"],
                    help="prediction law of --single-draw-widths: the stated one-layer "
                         "random-features law (default), the compounded layer-by-layer law "
                         "(right at depth >= 2), or both columns")
    ap.add_argument("--depth", type=int, default=3, help="depth of --single-draw-widths")
    ap.add_argument("--tol", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="experiments/results/compress_example",
                    help="result folder, shared by the modes of this command: a run adds or "
                         "replaces its own files and keeps the others; the folder is replaced "
                         "whole when the run completes and left as it was if it fails or is "
                         "interrupted (a second run into the same folder is refused)")
    return ap


def main(argv=None) -> int:
    """Run the command (``--help`` for the options); returns the exit status (2: bad input,
    or another run is writing into ``--out``)."""
    return run_main("python -m experiments.compress_example", _main, argv)


def _main(argv) -> int:
    a = parser().parse_args(argv)
    check_out_path(a.out)
    with RunDir(a.out, keep_previous=True, resume=RESUME_DIRS) as rd:
        _run(a, rd)
    print(f"[compress_example] wrote {rd.final}/", file=sys.stderr)
    return 0


def _run(a, rd: RunDir) -> None:
    p = a.p or a.n // 2
    widths = a.widths or [a.n // 2, a.n // 2, a.n // 4]
    ht = HiddenScale.parse(a.hidden_tau)
    kw = dict(family=a.family, k_max=a.k_max, hidden_tau=ht, exact=not a.no_exact,
              single_draw=not a.no_single_draw, seed=a.seed, target=a.target,
              kurtosis_tol=a.kurtosis_tol)
    if a.single_draw_predict_widths:
        single_draw_predict(rd, a.activations, a.single_draw_predict_widths, a.n, p,
                            a.depth, family=a.family, k_max=a.k_max, seed=a.seed)
        if not a.single_draw_widths:
            return
    if a.single_draw_widths:
        single_draw_sweep(rd, a.activations, a.single_draw_widths, a.n, p, a.depth,
                          family=a.family, k_max=a.k_max, seed=a.seed, tol=a.tol,
                          law=a.single_draw_law, out_label=str(Path(a.out)))
        return
    if a.frontier:
        _frontier(a, rd, p, widths)
        return
    if not a.sweep:
        eps = a.eps[0] if len(a.eps) == 1 else list(a.eps)
        tag = "-".join(f"{e:g}" for e in a.eps)
        tag += "" if a.target == "ck" else f"_{a.target}"
        tag += "" if a.kurtosis_tol is None else f"_ktol{a.kurtosis_tol:g}"
        where = f"{a.activation}_eps{tag}" if a.append_to_sweep else ""
        if a.append_to_sweep and not rd.file("sweep.json").exists():
            raise ValueError(f"append-to-sweep: {a.out}/sweep.json not found (run --sweep "
                             "into that folder first)")
        s, _ = run_one(a.activation, eps, a.n, p, widths, run=rd, where=where, **kw)
        print({k: v for k, v in s.items() if k != "layers"})
        if a.append_to_sweep:
            prev = read_json(rd.file("sweep.json"))
            rows = [r for r in prev["rows"] if not (
                r["activation"] == a.activation and r["eps"] == eps
                and r.get("target", "ck") == a.target
                and r.get("kurtosis_tol") == a.kurtosis_tol)]
            rows.append({k: v for k, v in s.items() if k != "layers"})
            rd.write_json("sweep.json", {**prev, "rows": rows})
            write_summary(rd, summary_table(rows))
        return
    rows = []
    for act in a.activations:
        for eps in (0.0, 0.5, 0.9):
            # the exact E_W kernels (Gaussian limit) do not depend on eps; they are
            # recomputed per eps (cheap) and their spectra come from spectral_report's cache
            sub = f"{act}_eps{eps}" + ("" if a.target == "ck" else f"_{a.target}")
            s, _ = run_one(act, eps, a.n, p, widths, run=rd, where=sub, **kw)
            rows.append({k: v for k, v in s.items() if k != "layers"})
            print(f"{act:5s} eps={eps:.1f} feasible={s['feasible']} "
                  f"hidden resid={s['hidden_max_residual']:.1e} "
                  f"delta={s['identity_shift']:.4g} (tau_L^2={s['tau_L_sq_dense']:.4g}) "
                  f"ck_rel_diff={s['ck_rel_diff']:.4f} kurtosis={s['ck_rel_diff_kurtosis']:.4f} "
                  f"exact+kurt={s.get('ck_rel_diff_exact_kurtosis', float('nan')):.4f} "
                  f"ntk_rel_diff={s['ntk_rel_diff']:.4f} memory x{s['memory_factor']:.1f} "
                  f"cpu {s['cpu_seconds']:.0f}s", flush=True)
    rd.write_json("sweep.json", {"rows": rows, **run_metadata(vars(a))})
    write_summary(rd, summary_table(rows))


def _frontier(a, rd: RunDir, p: int, widths) -> None:
    """``--frontier``: ``lossless_frontier`` per activation -> frontier.{json,md}."""
    res = {}
    for act in a.activations:
        fr = lossless_frontier(n=a.n, p=p, depth=len(widths), activation=act, tol=a.tol,
                               widths=a.frontier_widths, eps_grid=(0.0, 0.5, 0.9),
                               family=a.family, k_max=a.k_max, seed=a.seed)
        res[act] = fr
        print(f"{act}: smallest width agreeing at eps=0: "
              f"{fr['smallest_width_agreeing_at_eps0']} (predicted "
              f"{fr.get('predicted_smallest_width_at_eps0')}); largest eps per width: "
              f"{fr['largest_eps_agreeing_per_width']}")
        for r in fr["rows"]:
            print(f"   d={r['width']:5d} eps={r['eps']:.1f} w1_rel={r['w1_rel']:.4f} "
                  f"predicted={r.get('predicted_w1_rel', float('nan')):.4f} "
                  f"align d/c={r['alignment_dense']:.3f}/{r['alignment_compressed']:.3f}",
                  flush=True)
    rd.write_json("frontier.json", {"results": res, **run_metadata(vars(a))})
    rd.write_text("frontier.md", frontier_table(res))


if __name__ == "__main__":
    sys.exit(main())
