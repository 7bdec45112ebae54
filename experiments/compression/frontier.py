"""How far is "lossless"?  Single finite-width draws of compressed vs dense networks.

For given n, p, depth, activation and a tolerance, ``lossless_frontier`` measures on a grid
of widths d (all hidden layers of width d) and sparsities eps, for ONE draw of each network:

* ``w1_rel``: Wasserstein-1 distance between the CK_L spectra of the dense draw and of the
  compressed draw with the identity shift removed (eigenvalues minus delta), divided by
  the dense draw's mean eigenvalue (trace / n);
* ``alignment_gap``: |class alignment of the top eigenvector (dense) - (compressed)|.

They "agree" when ``w1_rel <= tol``. Reported: the smallest width at which they agree for
every eps <= eps_min of the grid (eps = 0 first), and per width the largest eps that agrees.

Prediction (docs/theory/finite_width.md, universality.md): a single draw's spectrum follows the
random-features law
of its own E_W kernel, ``K~^{1/2} G G^T K~^{1/2} / d`` (G Gaussian n x d). Using the CK_L
equivalents -- the compressed one with its sparse-ternary kurtosis term -- we sample that law
for both networks (same d) and report the same ``w1_rel`` between the two predicted spectra
(``predicted_w1_rel``). The kurtosis-free part of the difference comes only from delta: the
random-features law of ``K~ + delta I`` is not the shifted law of ``K~``.

That law is a ONE-layer law (only the last layer's d columns random). For depth >= 2,
``predicted_single_draw(..., law="compounded")`` samples the compounded law of
``ntkcomp.spectral.compounded_random_features_spectrum`` (every hidden layer a random-features draw of
its own). Measured at n = 2048, depth 3, d = 512-4096, relu / tanh / erf, eps 0 / 0.5 / 0.9
(``experiments/single_draw_compounded_law.py``): compounded prediction / measured single-draw
W1 = 0.99-1.02 in all 36 cases, where the one-layer law under-predicts tanh / erf by up to
22 % (``experiments/results/compress_example/n2048/single_draw_compounded.md``).
"""
from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import numpy as np
import scipy.linalg
from scipy.sparse.linalg import eigsh

from ntkcomp.compress import SolverOptions, assess, compress
from ntkcomp.data import gmm_preset
from ntkcomp.equivalents import ck_equivalent
from ntkcomp.kernels import conjugate_kernels, empirical_ntk
from ntkcomp.networks import MLP, weight_law
from ntkcomp.spectral import (class_alignment, compounded_random_features_spectrum,
                              expected_layer_maps, operator_norm, random_features_spectrum,
                              wasserstein1)

__all__ = ["design_activations", "lossless_frontier", "predicted_single_draw",
           "single_draw_point", "single_draw_table"]


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _eps_grid(eps_grid) -> list[float]:
    out = []
    for i, e in enumerate(eps_grid):
        if isinstance(e, bool) or not isinstance(e, (int, float, np.number)) \
                or not 0.0 <= float(e) < 1.0:
            raise ValueError(f"eps[{i}] must be a number in [0, 1), got {e!r}")
        out.append(float(e))
    return out


def _delta(dense, comp, tau0: float, kind: str = "ck") -> float:
    """Identity shift of the CK_L (``kind="ck"``) or NTK equivalent of ``comp`` vs ``dense``."""
    return float(assess(dense, comp, tau0, target=kind).identity_shift)


def _prediction_laws(law: str, predict: bool = True) -> tuple[bool, bool]:
    """``(one_layer, compounded)``: which random-features laws ``law`` asks for."""
    if law not in ("one_layer", "compounded", "both"):
        raise ValueError(f"law must be 'one_layer', 'compounded' or 'both', got {law!r}")
    return predict and law in ("one_layer", "both"), predict and law in ("compounded", "both")


def _input_gram(X) -> np.ndarray:
    """``X X^T`` in float64: the input Gram the compounded law starts from."""
    X = np.asarray(X, np.float64)
    return X @ X.T


def _compounded_eigs(K0, net, width: int, key) -> np.ndarray:
    """One sample (eigenvalues, ascending) of the compounded random-features law of ``net``
    with every hidden width ``width`` (``ntkcomp.spectral.compounded_random_features_spectrum``)."""
    return compounded_random_features_spectrum(K0, expected_layer_maps(net),
                                               [width] * net.depth, key)[0]


def lossless_frontier(n: int = 256, p: int | None = None, depth: int = 2,
                      activation: str = "relu", tol: float = 0.1,
                      widths: Sequence[int] = (128, 256, 512, 1024),
                      eps_grid: Sequence[float] = (0.0, 0.5, 0.9), *, preset: str = "mixed",
                      family: str = "ternary", k_max: int = 3, seed: int = 0,
                      predict: bool = True, law: str = "both") -> dict:
    """Measure (and predict) single-draw agreement of compressed vs dense; JSON-able dict.

    ``law`` (with ``predict``): ``"one_layer"`` -> ``predicted_w1_rel`` and
    ``predicted_smallest_width_at_eps0`` from the one-layer RF law of the equivalents;
    ``"compounded"`` -> ``predicted_w1_rel_compounded`` and
    ``predicted_smallest_width_at_eps0_compounded`` from the compounded law (the right one
    at depth >= 2, see the module docstring); ``"both"`` (default) -> all four keys."""

    one, cmp_ = _prediction_laws(law, predict)
    n = _positive_int("n", n)
    p = _positive_int("p", p if p is not None else max(n // 2, 1))
    depth = _positive_int("depth", depth)
    _positive("tol", tol)
    widths = [_positive_int("widths[i]", int(d)) for d in widths]
    eps_grid = _eps_grid(eps_grid)
    sample = gmm_preset(preset, p).sample(jax.random.PRNGKey(seed), n)
    X, labels = np.asarray(sample.X), np.asarray(sample.labels)
    tau0 = float(sample.stats.tau0)
    K0 = _input_gram(X) if cmp_ else None
    base = MLP([widths[0]] * depth, activation, tau0=tau0)
    design = compress(base, tau0, eps=0.0, family=family,
                      solver=SolverOptions(seed=seed, k_max=k_max))
    acts = list(design.compressed.activations)
    rows = []
    for d in widths:
        dense = MLP([d] * depth, activation, tau0=tau0)
        pd = dense.init(jax.random.PRNGKey(seed + 1000 + d), p)
        CKd = np.asarray(conjugate_kernels(dense, pd, X)[-1])
        ed, Vd = np.linalg.eigh(CKd)
        mean_d = float(np.mean(ed))
        al_d = float(class_alignment(Vd[:, -1], labels)[0])
        Kd_eq = np.asarray(ck_equivalent(dense, sample)) if one else None
        rf_d = random_features_spectrum(Kd_eq, d, seed + 7)[0] if one else None
        cf_d = _compounded_eigs(K0, dense, d, seed + 7) if cmp_ else None
        for e in eps_grid:
            comp = MLP([d] * depth, list(acts), weights=weight_law("sparse_ternary", eps=e),
                       tau0=tau0)
            delta = _delta(dense, comp, tau0)
            pc = comp.init(jax.random.PRNGKey(seed + 2000 + d), p)
            CKc = np.asarray(conjugate_kernels(comp, pc, X)[-1])
            ec, Vc = np.linalg.eigh(CKc)
            row = {"width": d, "eps": e, "identity_shift": delta,
                   "w1_rel": float(wasserstein1(ec - delta, ed)) / mean_d,
                   "alignment_dense": al_d,
                   "alignment_compressed": float(class_alignment(Vc[:, -1], labels)[0])}
            row["alignment_gap"] = abs(row["alignment_dense"] - row["alignment_compressed"])
            row["agree"] = bool(row["w1_rel"] <= tol)
            if one:
                Kc_eq = np.asarray(ck_equivalent(comp, sample, kurtosis=True))
                rf_c = random_features_spectrum(Kc_eq, d, seed + 7)[0]
                row["predicted_w1_rel"] = float(wasserstein1(rf_c - delta, rf_d)) / float(
                    np.mean(rf_d))
            if cmp_:
                cf_c = _compounded_eigs(K0, comp, d, seed + 7)
                row["predicted_w1_rel_compounded"] = float(
                    wasserstein1(cf_c - delta, cf_d)) / float(np.mean(cf_d))
            rows.append(row)
    agree = {(r["width"], r["eps"]): r["agree"] for r in rows}
    smallest = next((d for d in widths if agree.get((d, eps_grid[0]), False)), None) \
        if eps_grid else None
    largest_eps = {d: max([e for e in eps_grid if agree[(d, e)]], default=None) for d in widths}
    out = {"n": n, "p": p, "depth": depth, "activation": activation, "tol": tol,
           "preset": preset, "design": design.to_json(), "rows": rows,
           "smallest_width_agreeing_at_eps0": smallest,
           "largest_eps_agreeing_per_width": {str(k): v for k, v in largest_eps.items()}}
    for key, on in (("predicted_w1_rel", one), ("predicted_w1_rel_compounded", cmp_)):
        if not on:
            continue
        pa = {(r["width"], r["eps"]): r[key] <= tol for r in rows}
        suffix = "_compounded" if key.endswith("compounded") else ""
        out["predicted_smallest_width_at_eps0" + suffix] = next(
            (d for d in widths if pa.get((d, eps_grid[0]), False)), None) if eps_grid else None
    return out


# --------------------------------------------------------------------------------------
# Single-draw agreement against width at one (activation, width): CK_L and NTK, with a
# dense-vs-dense null and the random-features prediction (one sweep point).
# --------------------------------------------------------------------------------------


def _eigvals(K) -> np.ndarray:
    """Ascending eigenvalues of a symmetric matrix (LAPACK syevd: ~6x faster than the
    default driver at n = 2048)."""

    K = np.asarray(K, dtype=np.float64)
    return scipy.linalg.eigh(0.5 * (K + K.T), eigvals_only=True, driver="evd")


@functools.lru_cache(maxsize=64)
def _design_cached(activation, depth, tau0, target, family, k_max, seed):
    base = MLP([64] * depth, activation, tau0=tau0)
    res = compress(base, tau0, eps=0.0, family=family, target=target,
                   solver=SolverOptions(seed=seed, k_max=k_max))
    return tuple(res.compressed.activations), res.to_json()


def design_activations(activation: str, depth: int, tau0: float, target: str = "ck",
                       family: str = "ternary", k_max: int = 4,
                       seed: int = 0) -> tuple[list, dict]:
    """Activations of the compressed network and its design report, designed at
    ``tau0`` rounded to 15 digits (eps-independent; widths do not enter the Gaussian
    moments), cached per process."""
    acts, rep = _design_cached(activation, depth, round(float(tau0), 15), target, family,
                               k_max, seed)
    return list(acts), rep


_design = design_activations


def single_draw_point(activation: str = "relu", width: int = 512, n: int = 256,
                      p: int | None = None, depth: int = 3,
                      eps_grid: Sequence[float] = (0.0, 0.5, 0.9), *, preset: str = "mixed",
                      family: str = "ternary", k_max: int = 4, seed: int = 0,
                      predict: bool = True, null: bool = True,
                      law: str = "one_layer") -> dict:
    """ONE draw of the dense network (all hidden widths ``width``) against ONE draw of the
    compressed network per eps: CK_L (CK-target design) and NTK (NTK-target design).

    Per eps, for ``kind`` in ``ck`` / ``ntk``:

    * ``{kind}_op_rel = ||K_c - delta I - K_d|| / ||K_d||`` (operator norms; ``K_d`` the
      dense draw's CK_L / autodiff NTK, ``K_c`` the compressed draw's CK_L -- for the step
      activations of the compressed network the autodiff NTK equals CK_L -- and ``delta``
      the design's identity shift, ``delta_ck[L]`` resp. ``delta_ntk``);
    * ``{kind}_w1_rel = W1(eig(K_c) - delta, eig(K_d)) / mean(eig(K_d))``;
    * ``ck_w1_rel_predicted``: the same W1 between samples of the random-features law
      ``K~^{1/2} G G^T K~^{1/2} / d`` of the two CK_L equivalents (compressed with its
      layer-1 kurtosis term; docs/theory/finite_width.md, universality.md). No prediction
      for the NTK (not a one-layer random-features matrix).

    ``null=True`` adds a second, independent dense draw: ``null_{kind}_op_rel`` /
    ``null_{kind}_w1_rel`` (dense vs dense, the floor a compressed draw cannot beat) and
    ``null_ck_w1_rel_predicted`` (two independent RF-law samples of the dense equivalent).
    ``law``: ``"one_layer"`` (default; the keys above), ``"compounded"`` or ``"both"``: the
    compounded law (:func:`predicted_single_draw`) gives ``ck_w1_rel_predicted_compounded``
    and ``null_ck_w1_rel_predicted_compounded`` (one-layer keys only with ``"both"``).
    Returns a JSON-able dict with ``rows`` (one per eps) and ``seconds``.
    """



    t_start = time.time()
    one, cmp_ = _prediction_laws(law, predict)
    n = _positive_int("n", n)
    p = _positive_int("p", p if p is not None else max(n // 2, 1))
    depth = _positive_int("depth", depth)
    d = _positive_int("width", width)
    k_max = _positive_int("k_max", k_max, minimum=3)
    eps_grid = _eps_grid(eps_grid)
    sample = gmm_preset(preset, p).sample(jax.random.PRNGKey(seed), n)
    X, labels = np.asarray(sample.X), np.asarray(sample.labels)
    tau0 = float(sample.stats.tau0)

    def top_alignment(K):
        _, v = eigsh(0.5 * (K + K.T), k=1, which="LA", tol=1e-8)
        return float(class_alignment(v[:, 0], labels)[0])

    def rel_op(Kc, Kd, norm_d):
        return operator_norm(Kc - Kd) / norm_d

    def w1_rel(ec, ed):
        return float(wasserstein1(ec, ed)) / float(np.mean(ed))

    acts_ck, design_ck = _design(activation, depth, tau0, "ck", family, k_max, seed)
    acts_ntk, design_ntk = _design(activation, depth, tau0, "ntk", family, k_max, seed)
    dense = MLP([d] * depth, activation, tau0=tau0)
    secs = {}
    t0 = time.time()
    pd = dense.init(jax.random.PRNGKey(seed + 1000 + d), p)
    CKd = np.asarray(conjugate_kernels(dense, pd, X)[-1])
    NTKd = np.asarray(empirical_ntk(dense, pd, X))
    del pd
    ev = {"ck_d": _eigvals(CKd), "ntk_d": _eigvals(NTKd)}
    norm = {"ck": float(np.max(np.abs(ev["ck_d"]))), "ntk": float(np.max(np.abs(ev["ntk_d"])))}
    out = {"activation": activation, "width": d, "n": n, "p": p, "depth": depth,
           "preset": preset, "family": family, "k_max": k_max, "seed": seed,
           "tau0": tau0, "ck_dense_norm": norm["ck"], "ntk_dense_norm": norm["ntk"],
           "ck_dense_mean_eig": float(np.mean(ev["ck_d"])),
           "ntk_dense_mean_eig": float(np.mean(ev["ntk_d"])),
           "alignment_dense": top_alignment(CKd),
           "design": {"ck": design_ck["layers"], "ntk": design_ntk["layers"]}}
    secs["dense"] = time.time() - t0
    if null:
        t0 = time.time()
        p2 = dense.init(jax.random.PRNGKey(seed + 5000 + d), p)
        CK2 = np.asarray(conjugate_kernels(dense, p2, X)[-1])
        NTK2 = np.asarray(empirical_ntk(dense, p2, X))
        del p2
        out["null_ck_op_rel"] = rel_op(CK2, CKd, norm["ck"])
        out["null_ntk_op_rel"] = rel_op(NTK2, NTKd, norm["ntk"])
        out["null_ck_w1_rel"] = w1_rel(_eigvals(CK2), ev["ck_d"])
        out["null_ntk_w1_rel"] = w1_rel(_eigvals(NTK2), ev["ntk_d"])
        del CK2, NTK2
        secs["null"] = time.time() - t0
    rf_d = cf_d = None
    K0 = _input_gram(X) if cmp_ else None
    if one:
        t0 = time.time()
        Kd_eq = np.asarray(ck_equivalent(dense, sample))
        rf_d = random_features_spectrum(Kd_eq, d, seed + 7)[0]
        if null:
            rf_d2 = random_features_spectrum(Kd_eq, d, seed + 11)[0]
            out["null_ck_w1_rel_predicted"] = w1_rel(rf_d2, rf_d)
        secs["predict_dense"] = time.time() - t0
    if cmp_:
        t0 = time.time()
        cf_d = _compounded_eigs(K0, dense, d, seed + 7)
        if null:
            cf_d2 = _compounded_eigs(K0, dense, d, seed + 11)
            out["null_ck_w1_rel_predicted_compounded"] = w1_rel(cf_d2, cf_d)
        secs["predict_dense_compounded"] = time.time() - t0
    rows = []
    for e in eps_grid:
        t0 = time.time()
        row = {"eps": e, "kappa4_weights": 1.0 / (1.0 - e) - 3.0}
        for kind, acts in (("ck", acts_ck), ("ntk", acts_ntk)):
            comp = MLP([d] * depth, list(acts), weights=weight_law("sparse_ternary", eps=e),
                       tau0=tau0)
            delta = _delta(dense, comp, tau0, kind)
            pc = comp.init(jax.random.PRNGKey(seed + 2000 + d), p)
            # the compressed activations are piecewise constant: autodiff NTK = CK_L
            Kc = np.asarray(conjugate_kernels(comp, pc, X)[-1])
            del pc
            Kd = CKd if kind == "ck" else NTKd
            row[f"{kind}_identity_shift"] = delta
            row[f"{kind}_op_rel"] = rel_op(Kc - delta * np.eye(n), Kd, norm[kind])
            ec = _eigvals(Kc)
            row[f"{kind}_w1_rel"] = w1_rel(ec - delta, ev[f"{kind}_d"])
            if kind == "ck":
                row["alignment_compressed"] = top_alignment(Kc)
                if one:
                    Kc_eq = np.asarray(ck_equivalent(comp, sample, kurtosis=True))
                    rf_c = random_features_spectrum(Kc_eq, d, seed + 7)[0]
                    row["ck_w1_rel_predicted"] = w1_rel(rf_c - delta, rf_d)
                if cmp_:
                    cf_c = _compounded_eigs(K0, comp, d, seed + 7)
                    row["ck_w1_rel_predicted_compounded"] = w1_rel(cf_c - delta, cf_d)
            del Kc
        row["seconds"] = time.time() - t0
        rows.append(row)
    out["rows"] = rows
    secs["total"] = time.time() - t_start
    out["seconds"] = secs
    return out


def single_draw_table(points: Sequence[dict], tol: float = 0.1) -> str:
    """Markdown table (one row per activation, width, eps) of :func:`single_draw_point`
    results, sorted by activation then width."""
    def f(x):
        return "-" if x is None else f"{float(x):.3f}"

    order = {"relu": 0, "tanh": 1, "erf": 2}
    pts = sorted(points, key=lambda r: (order.get(r["activation"], 9), r["activation"],
                                        r["width"]))
    comp = any("ck_w1_rel_predicted_compounded" in row for r in pts for row in r["rows"])
    header = ("| activation | width d | d/n | eps | CK op rel | CK W1 rel | CK W1 rel "
              "predicted (RF law) | " + ("CK W1 rel predicted (compounded law) | " if comp
                                        else "")
              + "CK null op / W1 (dense vs dense) | CK W1 null predicted "
              "| NTK op rel | NTK W1 rel | NTK null op / W1 | top-eigvec class alignment "
              "dense / compressed |")
    lines = [header, "|" + "---|" * (15 if comp else 14)]
    for r in pts:
        for row in r["rows"]:
            extra = f"| {f(row.get('ck_w1_rel_predicted_compounded'))} " if comp else ""
            lines.append(
                f"| {r['activation']} | {r['width']} | {r['width'] / r['n']:.2g} "
                f"| {row['eps']} | {f(row['ck_op_rel'])} | **{f(row['ck_w1_rel'])}** "
                f"| {f(row.get('ck_w1_rel_predicted'))} " + extra +
                f"| {f(r.get('null_ck_op_rel'))} / {f(r.get('null_ck_w1_rel'))} "
                f"| {f(r.get('null_ck_w1_rel_predicted'))} "
                f"| {f(row['ntk_op_rel'])} | {f(row['ntk_w1_rel'])} "
                f"| {f(r.get('null_ntk_op_rel'))} / {f(r.get('null_ntk_w1_rel'))} "
                f"| {r['alignment_dense']:.3f} / {row['alignment_compressed']:.3f} |")
    return "\n".join(lines) + "\n"


def predicted_single_draw(activation: str = "relu", widths: Sequence[int] = (8192,),
                          n: int = 256, p: int | None = None, depth: int = 3,
                          eps_grid: Sequence[float] = (0.0, 0.9), *, preset: str = "mixed",
                          family: str = "ternary", k_max: int = 4, seed: int = 0,
                          law: str = "one_layer") -> dict:
    """Random-features-law prediction of ``ck_w1_rel`` (see :func:`single_draw_point`) at
    widths too large to draw a network: no network is drawn, only ``K~^{1/2} G G^T K~^{1/2}
    / d`` samples of the dense and compressed CK_L equivalents (compressed: with its
    kurtosis term), with the same keys as :func:`single_draw_point`. Cost per sample
    O(n^2 d) (forming G G^T). A one-layer law: for tanh/erf it underestimates the measured
    value (the hidden layers' own fluctuations, ``frontier_n256/investigation``).

    ``law="compounded"`` (or ``"both"``) adds ``ck_w1_rel_predicted_compounded``: the same
    W1 between samples of the compounded law of
    ``ntkcomp.spectral.compounded_random_features_spectrum`` (every layer a Gaussian random-features
    draw of its exact expected-next-layer map, from ``X X^T``; same seeds for both
    networks), which ``theory_checks/finite_width_depth`` found to be the right law of one
    deep draw. It sees the compressed network through its activations only (the maps are
    Gaussian-limit maps: the sparse-ternary layer-1 kurtosis term is not in it). Cost per
    sample ``L`` times that of the one-layer law plus ``L`` n x n eigendecompositions."""

    n = _positive_int("n", n)
    p = _positive_int("p", p if p is not None else max(n // 2, 1))
    depth = _positive_int("depth", depth)
    widths = [_positive_int("widths[i]", int(d)) for d in widths]
    eps_grid = _eps_grid(eps_grid)
    sample = gmm_preset(preset, p).sample(jax.random.PRNGKey(seed), n)
    tau0 = float(sample.stats.tau0)
    one, comp_law = _prediction_laws(law)
    acts, _ = _design(activation, depth, tau0, "ck", family, k_max, seed)
    K0 = _input_gram(sample.X) if comp_law else None
    rows = []
    for d in widths:
        dense = MLP([d] * depth, activation, tau0=tau0)
        if one:
            rf_d = random_features_spectrum(np.asarray(ck_equivalent(dense, sample)), d,
                                            seed + 7)[0]
        if comp_law:
            cf_d = _compounded_eigs(K0, dense, d, seed + 7)
        for e in eps_grid:
            comp = MLP([d] * depth, list(acts), weights=weight_law("sparse_ternary", eps=e),
                       tau0=tau0)
            delta = _delta(dense, comp, tau0)
            row = {"width": d, "eps": e, "identity_shift": delta}
            if one:
                rf_c = random_features_spectrum(
                    np.asarray(ck_equivalent(comp, sample, kurtosis=True)), d, seed + 7)[0]
                row["ck_w1_rel_predicted"] = float(wasserstein1(rf_c - delta, rf_d)) / \
                    float(np.mean(rf_d))
            if comp_law:
                cf_c = _compounded_eigs(K0, comp, d, seed + 7)
                row["ck_w1_rel_predicted_compounded"] = \
                    float(wasserstein1(cf_c - delta, cf_d)) / float(np.mean(cf_d))
            rows.append(row)
    return {"activation": activation, "n": n, "p": p, "depth": depth, "law": law,
            "rows": rows}
