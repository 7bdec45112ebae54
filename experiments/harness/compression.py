"""Compression experiment: dense network -> NTK-LC network, memory, kernel agreement.

:func:`compression_point` (config -> JSON-able result; used by sweeps) and
:func:`compression_run` (the same plus files in a :class:`RunDir`; used by
``ntkcomp compress``). Uses ``ntkcomp.compress`` (``compress``, ``pack``/``save``,
``spectral_report``); from the spectral report:

    ck_rel_diff / ntk_rel_diff = ||K_c - delta I - K_d|| / ||K_d|| for the weight-averaged
        CK_L / NTK (see :func:`headline_rel_diffs`), *_raw without removing the identity
        shift delta
    ck_rel_diff_equiv  = ||K~_c - K~_d|| / ||K~_d||             (CK_L equivalents)
    ck_rel_diff_equiv_shifted = ||K~_c - delta I - K~_d|| / ||K~_d||
    ntk_rel_diff_equiv (same for the NTK equivalents; :func:`equivalent_rel_diffs`)

and the spectra of the equivalents and of one finite-width draw of each network's CK_L.

The data sample is always passed to ``compress`` (``data=sample``), so the report carries
the predicted layer-1 weight-kurtosis loss of docs/theory/universality.md
(:mod:`ntkcomp.compress.kurtosis`), and ``kurtosis_tol`` (``ntkcomp compress
--kurtosis-tol``) lets ``compress`` move eps_1 to meet a tolerance. Top-level keys added to
the report (see :func:`kurtosis_fields`): ``kurtosis_predicted_loss``,
``kurtosis_predicted_loss_per_layer``, ``kurtosis_tol``, ``eps_requested``, ``eps_used``,
``eps1_chosen``; the full ``kurtosis`` dict of ``compress`` is kept as well.
"""
from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from experiments.compression import spectral_report
from ntkcomp.compress import Family, HiddenScale, KurtosisBudget, Target, layer_eps, packing

from .pipeline import (
    dense_network,
    load_data,
    parse_activations,
    resolve_widths,
    validate_data_config,
)

__all__ = [
    "COMPRESSION_DEFAULTS",
    "compression_point",
    "compression_run",
    "validate_compression_config",
]

COMPRESSION_DEFAULTS = {"data": "mixed", "n": 512, "p": 256, "K": 2,
                        "widths": [1024, 1024, 512], "activations": ["relu"], "seed": 0,
                        "eps": 0.9, "family": "ternary", "levels": None, "target": "ck",
                        "hidden_tau": None, "report": True, "single_draw": True,
                        "kurtosis_tol": None, "kurtosis_model": "theory"}


def validate_compression_config(cfg: dict) -> dict:
    """Full config with defaults; ValueError naming the option for bad values."""
    cfg = {**COMPRESSION_DEFAULTS, **cfg}
    validate_data_config(cfg["data"], cfg["n"], cfg["p"], cfg["K"])
    cfg["widths"] = resolve_widths(cfg["widths"], cfg.get("depth"))
    cfg["activations"] = parse_activations(cfg["activations"], len(cfg["widths"]))
    # the options of ntkcomp.compress, validated by their own types (ValueError naming them)
    layer_eps(cfg["eps"], len(cfg["widths"]))
    family = Family(cfg["family"]) if cfg["family"] in [f.value for f in Family] else None
    if family is None:
        raise ValueError(f"family must be one of {[f.value for f in Family]}, "
                         f"got {cfg['family']!r}")
    if family is Family.K_LEVEL and cfg["levels"] is None:
        raise ValueError("levels must be given (an integer >= 2) with family k_level")
    lv = cfg["levels"]
    if lv is not None and (isinstance(lv, bool) or not isinstance(lv, int) or lv < 2):
        raise ValueError(f"levels must be an integer >= 2, got {lv!r}")
    if cfg["target"] not in [t.value for t in Target]:
        raise ValueError(f"target must be one of {[t.value for t in Target]}, "
                         f"got {cfg['target']!r}")
    if cfg["hidden_tau"] is not None:
        HiddenScale.parse(cfg["hidden_tau"])
    cfg["kurtosis_tol"] = KurtosisBudget(cfg["kurtosis_tol"], cfg["kurtosis_model"]).tol
    return cfg


def kurtosis_fields(kurt: dict | None, eps_requested, eps_used, depth: int) -> dict:
    """Top-level report keys for the layer-1 weight kurtosis (docs/theory/universality.md).

    ``kurtosis_predicted_loss``: ``||Delta|| / ||K_dense||`` of the design target's kernel
    (``compress(..., data=sample).kurtosis["predicted_loss"]``; None without data).
    ``kurtosis_predicted_loss_per_layer``: one entry per layer; only layer 1 is non-zero,
    since the kurtosis of W_l, l >= 2, enters only the O(1/d) finite-width term b_L of
    docs/theory/finite_width.md, not the infinite-width kernel. ``eps1_chosen``: eps_1 picked by
    ``kurtosis_tol`` when it differs from the requested one, else None."""
    kurt = kurt or {}
    loss = kurt.get("predicted_loss")
    req = [float(e) for e in (eps_requested if isinstance(eps_requested, (list, tuple))
                              else [eps_requested] * depth)]
    used = [float(e) for e in eps_used]
    per_layer = None if loss is None else [float(loss)] + [0.0] * (depth - 1)
    return {"kurtosis_predicted_loss": None if loss is None else float(loss),
            "kurtosis_predicted_loss_per_layer": per_layer,
            "kurtosis_predicted_loss_at_requested_eps1":
                kurt.get("predicted_loss_at_requested_eps1"),
            "kurtosis_tol": kurt.get("tol"),
            "kurtosis_kappa4_layer1": kurt.get("kappa4_layer1"),
            "kurtosis_eps1_interval": kurt.get("eps1_interval_meeting_tol"),
            "eps_requested": req, "eps_used": used,
            "eps1_chosen": used[0] if abs(used[0] - req[0]) > 0.0 else None}


def equivalent_rel_diffs(rj: dict) -> dict:
    """``ck_rel_diff_equiv`` / ``ntk_rel_diff_equiv`` = ||K~_c - K~_d|| / ||K~_d|| of the
    CK_L / NTK equivalents (dense ``K~_d``, compressed ``K~_c``) and ``*_shifted``, the same
    after removing the identity shift, from a spectral report's JSON ``rj``."""
    eq = rj["equivalent"]
    out = {}
    for kind, sub in (("ck", f"ck_{rj['depth']}"), ("ntk", "ntk")):
        out[f"{kind}_rel_diff_equiv"] = float(eq[sub]["rel_op_diff"])
        out[f"{kind}_rel_diff_equiv_shifted"] = float(eq[sub]["rel_op_diff_shift_removed"])
    return out


def headline_rel_diffs(rj: dict) -> dict:
    """The headline numbers of ``report.json`` from a spectral report's JSON ``rj`` (same
    keys and definitions as ``experiments/compress_example.py``):

    * ``ck_rel_diff`` / ``ntk_rel_diff`` = ||K_c - delta I - K_d|| / ||K_d|| (operator norms)
      between the weight-averaged CK_L / NTK of the dense (``K_d``) and compressed (``K_c``)
      networks (exact E_W kernels when computed, else the equivalents), after removing the
      identity shift ``delta`` that the moment matching reports (docs/theory/compression.md);
      ``*_rel_diff_raw``: the same without removing it; ``*_rel_diff_source``: which one.
    * ``*_rel_diff_kurtosis``: the equivalents with the sparse-ternary layer-1 kurtosis term
      of docs/theory/universality.md (the exact E_W limit is blind to the weight law);
      ``*_rel_diff_exact_kurtosis``: exact E_W kernels plus that term (best estimate of the
      sparse network's own E_W kernel).

    The NTK is only matched with ``target="ntk"``; with the CK target its difference measures
    what that choice costs.
    """
    src = "exact" if "exact" in rj else "equivalent"
    ck = f"ck_{rj['depth']}"
    out = {"ck_rel_diff": rj[src][ck]["rel_op_diff_shift_removed"],
           "ck_rel_diff_raw": rj[src][ck]["rel_op_diff"],
           "ck_rel_diff_source": src,
           "ntk_rel_diff": rj[src]["ntk"]["rel_op_diff_shift_removed"],
           "ntk_rel_diff_raw": rj[src]["ntk"]["rel_op_diff"],
           "ntk_rel_diff_source": src}
    for kind, sub in (("ck", "ck_L"), ("ntk", "ntk")):
        if sub in rj.get("equivalent_kurtosis", {}):
            out[f"{kind}_rel_diff_kurtosis"] = \
                rj["equivalent_kurtosis"][sub]["rel_op_diff_shift_removed"]
        if sub in rj.get("exact_kurtosis_corrected", {}):
            out[f"{kind}_rel_diff_exact_kurtosis"] = \
                rj["exact_kurtosis_corrected"][sub]["rel_op_diff_shift_removed"]
    return {k: (float(v) if not isinstance(v, str) else v) for k, v in out.items()}


#: largest n at which the dense network's verification is compiled in a worker thread while
#: the design is solved (above it compilation is a small share of the run, and the extra
#: n x n kernels would only cost memory)
WARM_MAX_N = 2048


def warm_dense_verification(dense, sample, *, seed: int, single_draw: bool) -> None:
    """Run the dense network's share of :func:`spectral_report` once and discard it: its
    exact weight-averaged kernels, its equivalents and its single draw's CK_L. Called in a
    worker thread while the design is solved (for ``n <= WARM_MAX_N``), so that the
    verification's programs for the dense network are compiled concurrently with the
    solver; the report then finds them in JAX's compilation cache."""
    import jax

    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.kernels import conjugate_kernels, expected_kernels

    X = np.asarray(sample.X)
    out = [expected_kernels(dense, X)["ntk"], ntk_equivalent(dense, sample)]
    out += [ck_equivalent(dense, sample, l) for l in range(1, dense.depth + 1)]
    if single_draw:
        params = dense.init(jax.random.PRNGKey(seed), X.shape[1])
        out.append(conjugate_kernels(dense, params, X)[-1])
    jax.block_until_ready(out)


def compression_point(cfg: dict, *, progress=None, run_dir=None) -> dict:
    """Compress one dense network; return the report (JSON-able, arrays under ``_arrays``).

    Config keys: see ``COMPRESSION_DEFAULTS``. With ``run_dir`` the packed network,
    ``report.json`` and the figure are written there too.
    """
    import jax

    from ntkcomp import compress as C

    tick = progress or (lambda name: None)
    cfg = validate_compression_config(cfg)
    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=cfg["K"], seed=cfg["seed"])
    sample = data.train
    tau0 = float(sample.stats.tau0)
    tick("data")
    dense = dense_network(cfg["widths"], cfg["activations"], tau0)
    tick("dense")
    with warnings.catch_warnings(record=True) as caught, ThreadPoolExecutor(1) as pool:
        warnings.simplefilter("always")
        warm = pool.submit(warm_dense_verification, dense, sample, seed=cfg["seed"],
                           single_draw=bool(cfg.get("single_draw", True))) \
            if cfg["report"] and sample.X.shape[0] <= WARM_MAX_N else None
        kw = {} if cfg["hidden_tau"] is None else {"hidden_tau": cfg["hidden_tau"]}
        res = C.compress(dense, tau0, eps=cfg["eps"], family=cfg["family"],
                         levels=cfg["levels"], target=cfg["target"],
                         solver=C.SolverOptions(seed=cfg["seed"]), p=data.p, data=sample,
                         kurtosis=C.KurtosisBudget(cfg["kurtosis_tol"], cfg["kurtosis_model"]),
                         **kw)
        if warm is not None:
            warm.result()
    tick("match")
    compressed = res.compressed
    report = res.to_json()
    report["warnings"] = [str(w.message) for w in caught]
    report.update(kurtosis_fields(report.get("kurtosis"), cfg["eps"], res.eps, dense.depth))
    arrays = {"labels": np.asarray(sample.labels)}
    # one packed draw of the compressed network (the real storage format)
    key_c = jax.random.PRNGKey(cfg["seed"] + 3)
    params_c = compressed.init(key_c, data.p)
    # memory of THIS draw in every format (seeded too); the smallest explicit one is saved
    mem = packing.memory_report(compressed, data.p, params=params_c, key=key_c)
    report["memory"] = mem
    report["memory_factor"] = float(mem["memory_factor"])
    packed = packing.pack(params_c, compressed, format=mem["format"])
    if run_dir is not None:
        packing.save(run_dir.file("compressed_network.npz"), packed)
        run_dir._note("compressed_network.npz")
    tick("pack")
    fig = None
    if cfg["report"]:
        rep = spectral_report(dense, compressed, sample, seed=cfg["seed"],
                              single_draw=bool(cfg.get("single_draw", True)),
                              kurtosis="realised" if cfg["kurtosis_model"] == "realised"
                              else True)
        rj = rep.to_json()
        report.update(equivalent_rel_diffs(rj))
        arrays.update(rep.arrays)
        report["spectral_report"] = rj
        report.update(headline_rel_diffs(rj))
        fig = getattr(rep, "figure", None)
        tick("verify")
    report["config"] = cfg
    report["_arrays"] = arrays
    report["_figure"] = fig
    return report


def compression_figure(report: dict):
    """Spectra of the CK_L / NTK equivalents (dense vs compressed, and compressed minus the
    reported identity shift for the matched kernel) and of single finite-width draws."""
    from experiments.harness.plots import figure, spectra_panel

    a = report["_arrays"]
    delta = float(report.get("identity_shift", 0.0))
    target = report.get("target", "ck")
    panels = []
    for kind, name in (("ck", "CK_L"), ("ntk", "NTK")):
        if f"{kind}_equiv_dense" not in a:
            continue
        sp = {"dense": a[f"{kind}_equiv_dense"], "compressed": a[f"{kind}_equiv_compressed"]}
        styles = {}
        if kind == target and delta != 0.0:
            lab = f"compressed - delta I (delta = {delta:.3g})"
            sp[lab] = a[f"{kind}_equiv_compressed"] - delta
            styles[lab] = {"ls": "--"}
        panels.append((f"{name} equivalents", sp, styles))
    if "ck_single_dense" in a:
        panels.append(("CK_L, one finite-width draw each",
                       {"dense": a["ck_single_dense"],
                        "compressed": a["ck_single_compressed"]}, {}))
    if not panels:
        return None
    fig, axes = figure(1, len(panels), width=4.6)
    for ax, (title, sp, styles) in zip(axes[0], panels):
        spectra_panel(ax, sp, title=title, styles=styles)
    mf = report.get("memory_factor")
    fig.suptitle(f"NTK-LC: eps = {report.get('eps')}, memory factor "
                 f"{'n/a' if mf is None else f'{mf:.1f}x'}", fontsize=10)
    fig.tight_layout()
    return fig


def summary(report: dict) -> str:
    lines = []
    mf = report.get("memory_factor")
    lines.append(f"memory factor (dense float32 / packed): "
                 f"{'n/a' if mf is None else f'{mf:.1f}x'}")
    for L in report.get("layers", []):
        lines.append(f"  layer {L.get('layer')}: {L.get('family')} "
                     f"({L.get('n_levels', '?')} levels), eps {L.get('eps')}, feasible "
                     f"{L.get('feasible')}, max residual {L.get('max_residual', float('nan')):.2e}")
    lines.append(f"identity shift delta ({report.get('target', 'ck').upper()}): "
                 f"{report.get('identity_shift', float('nan')):.4g}")
    for k in ("ck", "ntk"):
        if f"{k}_rel_diff" in report:
            r = report[f"{k}_rel_diff"]
            r = r[-1] if isinstance(r, list) else r
            s = (f"{k.upper()} relative difference (dense vs compressed, weight-averaged, "
                 f"delta I removed): {float(r):.4g}")
            if f"{k}_rel_diff_raw" in report:
                s += f" (with delta I: {float(report[f'{k}_rel_diff_raw']):.4g})"
            if f"{k}_rel_diff_exact_kurtosis" in report:
                s += (f"; with the sparse-weight kurtosis term: "
                      f"{float(report[f'{k}_rel_diff_exact_kurtosis']):.4g}")
            if f"{k}_rel_diff_equiv_shifted" in report:
                s += (f"; equivalents {report[f'{k}_rel_diff_equiv']:.4g}, after removing "
                      f"delta I {report[f'{k}_rel_diff_equiv_shifted']:.4g}")
            if k != report.get("target", "ck"):
                s += f" [not the matched kernel: use --target {k} to match it]"
            lines.append(s)
    kl = report.get("kurtosis_predicted_loss")
    if kl is not None:
        model = (report.get("kurtosis") or {}).get("model", "theory")
        s = (f"predicted layer-1 weight-kurtosis loss ({report.get('target', 'ck').upper()}, "
             f"{'stated term' if model == 'theory' else 'realised moments'}): {kl:.4g}")
        if report.get("eps1_chosen") is not None:
            s += (f"; --kurtosis-tol {report.get('kurtosis_tol'):g} moved eps_1 "
                  f"{report['eps_requested'][0]:g} -> {report['eps1_chosen']:.4g} (loss at "
                  f"the requested eps_1: "
                  f"{report.get('kurtosis_predicted_loss_at_requested_eps1', float('nan')):.4g})")
        elif kl > 0.1:
            s += " (above 0.1: try --kurtosis-tol 0.05)"
        lines.append(s)
    if not report.get("feasible", True):
        lines.append("NOTE: not every layer met the solver tolerance (see report.json "
                     "'layers' and 'attempts'): the kernels differ by the identity shift above "
                     "and possibly more.")
    return "\n".join(lines)


def compression_run(cfg: dict, run_dir, *, progress=None) -> dict:
    """:func:`compression_point` + files: report.json, results.json/.npz, report.png."""
    tick = progress or (lambda name: None)
    report = compression_point(cfg, progress=tick, run_dir=run_dir)
    arrays = report.pop("_arrays")
    fig = report.pop("_figure")
    if fig is None and cfg.get("report", True):
        fig = compression_figure({**report, "_arrays": arrays})
    if fig is not None:
        run_dir.save_figure(fig, "report", formats=("png",))
    report["timings_s"] = dict(getattr(progress, "times", {}))
    run_dir.write_json("report.json", report)
    run_dir.write_results(report, arrays)
    tick("write")
    return {"report": report, "summary": summary(report)}
