"""Experiment definitions: pure functions ``config (dict) -> result (dict)``.

Each result is JSON-able; arrays go under ``result["_arrays"]`` (stored as NPZ by the sweep
runner / RunDir). They are used by ``experiments/*.py`` (through :func:`run_sweep`), the CLI
(``ntkcomp spectrum`` / ``ntkcomp compress``) and ``paper_figures``.

- :func:`spectral_equivalence`: one network on one data set -> spectra of a single draw's
  CK_L / NTK, of the exact weight-averaged kernels (small n) and of their equivalents,
  with W1 distances and relative operator-norm errors.
- :func:`compression_point`: NTK-LC compression of one dense network at one eps ->
  memory factor, identity shift, kernel differences (``ntkcomp.compress``).
- :func:`accuracy_point`: frozen-hidden (ridge / Adam) accuracy of dense, NTK-LC,
  magnitude-pruned and randomly sparsified networks, one seed -> accuracy and bits.
"""
from __future__ import annotations

import os

import numpy as np

from .pipeline import dense_network, eig, load_data, parse_activations, resolve_widths

__all__ = ["SPECTRAL_DEFAULTS", "spectral_equivalence"]

SPECTRAL_DEFAULTS = {"data": "mixed", "n": 1024, "p": 512, "K": 2, "widths": [1024, 1024, 512],
                     "activations": ["relu"], "seed": 0, "kinds": ["ck", "ntk"],
                     "method": "auto", "exact": True, "draws": 0, "top_k": 0,
                     "rf_law": True, "step_thresholds": "fixed"}


def _large_n_threshold() -> int:
    """The size above which ``ntkcomp.spectral.spectrum`` leaves the dense solver: the
    environment variable ``NTKCOMP_LARGE_N_THRESHOLD`` when set, else 4096 (its default)."""
    raw = os.environ.get("NTKCOMP_LARGE_N_THRESHOLD", "").strip()
    return int(raw) if raw else 4096


def _measure(op_or_matrix, method, seed):
    """Spectral measure of one operator. ``method="gram"`` (exact CK spectrum from the
    ``d x d`` Gram ``H^T H`` of a Gram-only operator) applies to the single draw's CK only;
    the other operators (NTK, equivalents: not Gram-only) then fall back to "auto"."""
    import jax

    from ntkcomp.spectral import spectrum

    if method == "gram" and getattr(op_or_matrix, "gram_factors", lambda: None)() is None:
        method = "auto"
    return spectrum(op_or_matrix, method=method, key=jax.random.PRNGKey(seed), bins=200)


def _w1(ma, mb) -> float:
    from ntkcomp.spectral import wasserstein1

    return float(wasserstein1(ma, mb))


def spectral_equivalence(cfg: dict, *, progress=None) -> dict:
    """Spectra of one network's kernels against their high-dimensional equivalents.

    Config keys (defaults in ``SPECTRAL_DEFAULTS``): data, n, p, K, widths, activations,
    seed, kinds (subset of ["ck", "ntk"]), method ("auto": dense ``eigvalsh`` up to the
    spectral module's ``LARGE_N_THRESHOLD``, above it the exact d x d Gram for a single
    draw's CK when d_L < n and SLQ otherwise; "dense", "slq", "kpm"; "gram": the exact
    Gram spectrum for the single draw's CK at any n, "auto" for the other operators), exact (also compute the
    exact weight-averaged kernel when n is at most the threshold), rf_law (CK_L only, dense
    spectra only: also sample the random-features law of ONE finite-width draw -- what a
    single draw should be compared with -- and its W1 to the single draw: at depth 1 the
    law of docs/theory/finite_width.md, the eigenvalues of ``K~^{1/2} G G^T K~^{1/2} / d_L`` with
    ``G`` (n, d_L) Gaussian; at depth >= 2 the compounded law of
    ``ntkcomp.spectral.compounded_random_features_spectrum``, every layer a Gaussian random-features
    draw of its exact expected-next-layer map, since the one-layer law misses the hidden
    layers' fluctuations (``theory_checks/finite_width_depth``); ``rf_law`` in the result
    says which, and ``w1_single_rf_one_layer`` keeps the one-layer W1 for comparison),
    step_thresholds ("fixed" or "scaled": binary/ternary thresholds proportional to each
    layer's input scale, :func:`~experiments.harness.pipeline.network_activations`).

    Result: per kind ``{"w1_single_equiv", "w1_expected_equiv", "relop_expected_equiv",
    "top_single", "top_equiv", "top_expected", "method"}`` (+ ``w1_single_rf`` for the CK
    with ``rf_law``) plus tau0 and the network's taus; arrays ``{kind}_single``,
    ``{kind}_equiv``, ``{kind}_expected`` (eigenvalues or measure nodes), ``ck_rf``
    (random-features law, one sampled draw) and ``{kind}_*_w`` (weights).
    """
    import jax

    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.kernels import ck_operator, ntk_operator

    cfg = {**SPECTRAL_DEFAULTS, **cfg}
    tick = progress or (lambda msg: None)
    widths = resolve_widths(cfg["widths"], cfg.get("depth"))
    acts = parse_activations(cfg["activations"], len(widths))
    kinds = list(cfg["kinds"])
    for k in kinds:
        if k not in ("ck", "ntk"):
            raise ValueError(f"kinds must be a subset of ['ck', 'ntk'], got {kinds!r}")
    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=cfg["K"], seed=cfg["seed"])
    tick("data")
    sample = data.train
    n = int(sample.X.shape[0])
    tau0 = float(sample.stats.tau0)
    net = dense_network(widths, acts, tau0, cfg["step_thresholds"])
    params = net.init(jax.random.PRNGKey(cfg["seed"] + 1), data.p)
    tick("network")
    thr = _large_n_threshold()
    method = cfg["method"]
    exact = bool(cfg["exact"]) and n <= thr and method in ("auto", "dense", "gram")
    expected = None
    if exact:
        from ntkcomp.kernels import expected_kernels

        expected = expected_kernels(net, sample.X)
        tick("expected kernels")
    elif int(cfg.get("draws") or 0) > 0:
        # weight average by Monte Carlo (large n): mean of `draws` independent networks
        from ntkcomp.kernels import monte_carlo_kernels

        expected = monte_carlo_kernels(net, sample.X, jax.random.PRNGKey(cfg["seed"] + 100),
                                       int(cfg["draws"]), progress=False)
        tick("expected kernels")
    res = {"n": n, "p": data.p, "tau0": tau0, "taus": list(net.taus), "widths": widths,
           "activations": acts, "step_thresholds": cfg["step_thresholds"],
           "activation_params": [repr(a) for a in net.activations], "large_n_threshold": thr}
    arrays = {"labels": np.asarray(sample.labels)}
    for kind in kinds:
        single_op = (ck_operator(net, params, sample.X) if kind == "ck"
                     else ntk_operator(net, params, sample.X))
        equiv_op = (ck_equivalent if kind == "ck" else ntk_equivalent)(net, sample)
        m_single = _measure(single_op, method, cfg["seed"])
        m_equiv = _measure(equiv_op, method, cfg["seed"] + 7)
        r = {"method": m_single.method,
             "w1_single_equiv": _w1(m_single, m_equiv),
             "top_single": float(np.max(m_single.nodes)),
             "top_equiv": float(np.max(m_equiv.nodes))}
        arrays[f"{kind}_single"] = np.asarray(m_single.nodes)
        arrays[f"{kind}_single_w"] = np.asarray(m_single.weights)
        arrays[f"{kind}_equiv"] = np.asarray(m_equiv.nodes)
        arrays[f"{kind}_equiv_w"] = np.asarray(m_equiv.weights)
        if (kind == "ck" and cfg.get("rf_law", True) and n <= thr
                and m_single.method in ("dense", "gram")):
            from ntkcomp.spectral import (
                compounded_random_features_spectrum,
                expected_layer_maps,
                random_features_spectrum,
            )

            key = jax.random.PRNGKey(cfg["seed"] + 5)
            ev_one = random_features_spectrum(np.asarray(equiv_op), widths[-1],
                                              key)[0]
            single_sorted = np.sort(np.asarray(m_single.nodes))
            if len(widths) == 1:
                ev_rf, r["rf_law"] = ev_one, "one_layer"
            else:   # depth >= 2: every hidden layer is a random-features draw of its own
                X64 = np.asarray(sample.X, np.float64)
                ev_rf = compounded_random_features_spectrum(
                    X64 @ X64.T, expected_layer_maps(net), widths, key)[0]
                r["rf_law"] = "compounded"
                r["w1_single_rf_one_layer"] = float(np.mean(np.abs(single_sorted - ev_one)))
            arrays["ck_rf"] = ev_rf
            # both are n eigenvalues: W1 of the empirical measures = mean |sorted diff|
            r["w1_single_rf"] = float(np.mean(np.abs(single_sorted - ev_rf)))
        if expected is not None:
            from ntkcomp.spectral import relative_operator_error

            K_exp = np.asarray(expected["ck"][-1] if kind == "ck" else expected["ntk"])
            K_eq = np.asarray(equiv_op)
            e_exp = eig(K_exp)
            r["w1_expected_equiv"] = float(np.mean(np.abs(e_exp - np.sort(m_equiv.nodes))))
            r["relop_expected_equiv"] = relative_operator_error(K_eq, K_exp)
            r["top_expected"] = float(e_exp[-1])
            r["expected_source"] = "exact" if exact else f"monte_carlo({cfg['draws']})"
            arrays[f"{kind}_expected"] = e_exp
            k = int(cfg.get("top_k") or 0)
            if k > 0:
                from ntkcomp.spectral import class_alignment, top_eigenpairs

                U_exp = top_eigenpairs(K_exp, None, k, method="dense").vectors
                U_eq = top_eigenpairs(K_eq, None, k, method="dense").vectors
                U_single = None
                if n <= thr:
                    U_single = top_eigenpairs(np.asarray(single_op.dense()), None, k,
                                              method="dense").vectors
                    arrays[f"{kind}_vecs_single"] = U_single
                arrays[f"{kind}_vecs_expected"] = U_exp
                arrays[f"{kind}_vecs_equiv"] = U_eq
                r["vec_overlap_expected_equiv"] = [float(abs(U_exp[:, j] @ U_eq[:, j]))
                                                   for j in range(k)]
                r["class_alignment_expected"] = class_alignment(U_exp, sample.labels).tolist()
                r["class_alignment_equiv"] = class_alignment(U_eq, sample.labels).tolist()
        res[kind] = r
        tick(f"{kind} spectra")
    return {**res, "_arrays": arrays}


def spectral_figure(result: dict, title: str = ""):
    """One panel per kind: single draw, exact E_W kernel (if any) and equivalent spectra."""
    from experiments.harness.plots import figure, spectra_panel
    from ntkcomp.spectral import SpectralMeasure

    arrays = result["_arrays"]
    kinds = [k for k in ("ck", "ntk") if k in result]
    fig, axes = figure(1, len(kinds), width=4.6)
    for ax, kind in zip(axes[0], kinds):
        spectra = {}
        for part, label in (("single", "one network (single draw)"),
                            ("rf", "random-features law of K~ (d = d_L)"),
                            ("expected", "exact E_W kernel"),
                            ("equiv", "equivalent K~")):
            if f"{kind}_{part}" not in arrays:
                continue
            nodes = arrays[f"{kind}_{part}"]
            w = arrays.get(f"{kind}_{part}_w")
            if result[kind]["method"] not in ("dense", "gram") and w is not None:
                spectra[label] = SpectralMeasure(nodes, w, None, None, "dense", len(nodes), {})
            else:
                spectra[label] = nodes
        name = "CK_L" if kind == "ck" else "NTK"
        spectra_panel(ax, spectra, title=f"{name} {title}".strip(),
                      styles={"random-features law of K~ (d = d_L)": {"ls": "--"}})
    fig.tight_layout()
    return fig
