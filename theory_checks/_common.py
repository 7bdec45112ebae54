"""Shared machinery of the theory checks: size ladders, networks, cached exact kernels,
metrics, PASS/FAIL tables, log-log slopes, and atomic markdown + PNG reports.

Every check module defines its criteria as module constants, runs a ladder of sizes
(``n = 256 .. 2048`` by default at fixed ``p/n`` and ``d/n``; ``--quick``: n <= 512;
``--max-n 4096`` optional), prints a table and writes ``theory_checks/reports/<name>.md``
plus PNGs (atomic writes through :mod:`ntkcomp._io`).

Quick mode (n <= 512) evaluates the same claim: the absolute-error thresholds, stated at
n = 2048, are transported to the largest n of the ladder along the *claimed* rate
``n^{-1/2}`` (threshold * sqrt(2048 / n_max)); slopes use the same bound.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np

import ntkcomp

ntkcomp.enable_x64()

import jax

REPORT_DIR = Path(__file__).resolve().parent / "reports"
CACHE_DIR = Path(os.environ.get("NTKCOMP_CHECK_CACHE", "/tmp/ntkcomp_theory_cache"))
FULL_LADDER = (256, 512, 1024, 2048)
QUICK_LADDER = (256, 512)
REFERENCE_N = 2048

# thresholds of step activations, in units of the layer's input scale tau_{l-1}
STEP_THRESHOLDS = {"binary": (-1.5, 0.3), "ternary": (-0.6, 0.8)}


def parse_args(description: str, argv=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="ladder n <= 512 (fast subset)")
    ap.add_argument("--max-n", type=int, default=2048, help="largest n (2048; 4096 optional)")
    ap.add_argument("--no-report", action="store_true", help="print only, write no files")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def ladder(args) -> tuple:
    if getattr(args, "quick", False):
        return QUICK_LADDER
    ns = [n for n in (256, 512, 1024, 2048, 4096) if n <= args.max_n]
    if not ns:
        raise ValueError(f"--max-n must be >= 256, got {args.max_n}")
    return tuple(ns)


def transported(threshold: float, n_max: int, rate: float = 0.5) -> float:
    """A threshold stated at n = 2048 moved to ``n_max`` along the claimed rate n^-rate."""
    return threshold * (REFERENCE_N / n_max) ** rate


# ----------------------------------------------------------------------- building ----

def sample(preset: str, n: int, *, p_over_n: float = 0.5, seed: int = 0, K: int = 2):
    from ntkcomp.data import gmm_preset

    p = max(round(p_over_n * n), 8 * K)
    return gmm_preset(preset, p, K=K).sample(jax.random.PRNGKey(seed), n)


def activation_stack(name: str, L: int, tau0: float):
    """Per-layer Activation objects. Step activations get thresholds proportional to the
    layer's input scale tau_{l-1} (STEP_THRESHOLDS), so deep step networks stay
    non-degenerate (fixed thresholds make tau_l collapse by layer 3)."""
    from ntkcomp.activations import get, moments

    if name not in STEP_THRESHOLDS:
        return [get(name)] * L
    lo, hi = STEP_THRESHOLDS[name]
    acts, tau = [], float(tau0)
    for _ in range(L):
        if name == "binary":
            a = get("binary", s1=lo * tau, s2=hi * tau, b=1.0)
        else:
            a = get("ternary", s1=lo * tau, s2=hi * tau, b_neg=1.0, b_pos=1.0)
        acts.append(a)
        tau = float(np.sqrt(moments(a, tau).var))
    return acts


def make_net(act: str, L: int, s, *, width=None, weights="gaussian"):
    from ntkcomp.networks import MLP

    tau0 = float(s.stats.tau0)
    n = s.X.shape[0]
    widths = width if isinstance(width, (list, tuple)) else [width or n] * L
    return MLP(list(widths), activation_stack(act, L, tau0), weights=weights, tau0=tau0)


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def expected(net, s, tag) -> dict:
    """``expected_kernels(net, s.X)`` as NumPy, cached on disk under CACHE_DIR by ``tag``."""
    from ntkcomp._io import atomic_write_npz
    from ntkcomp.kernels import expected_kernels

    path = CACHE_DIR / f"E_{_key(tag)}.npz"
    if path.exists():
        z = np.load(path)
        L = int(z["L"])
        return {"ck": [z[f"ck{l}"] for l in range(L)], "ntk": z["ntk"]}
    E = expected_kernels(net, s.X)
    out = {"ck": [np.asarray(c) for c in E["ck"]], "ntk": np.asarray(E["ntk"])}
    try:
        atomic_write_npz(path, L=len(out["ck"]), ntk=out["ntk"],
                         **{f"ck{l}": c for l, c in enumerate(out["ck"])})
    except OSError:
        pass
    return out


# ------------------------------------------------------------------------ metrics ----

def loglog_slope(ns, errs) -> float:
    ns, errs = np.asarray(ns, float), np.asarray(errs, float)
    ok = np.isfinite(errs) & (errs > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[ok]), np.log(errs[ok]), 1)[0])


def compare_kernels(K, K_ref, labels, k_top: int = 3) -> dict:
    """Relative operator error, W1 of spectra (absolute and / mean eigenvalue), top
    eigenvalues, top-subspace alignment and class alignment of the leading eigenvector."""
    from ntkcomp.spectral import (
        class_alignment,
        eigenvalues,
        relative_operator_error,
        subspace_alignment,
        wasserstein1,
    )

    K, K_ref = np.asarray(K), np.asarray(K_ref)
    e, e_ref = eigenvalues(K), eigenvalues(K_ref)
    import scipy.linalg

    n = K.shape[0]
    _, U = scipy.linalg.eigh(K, subset_by_index=[n - k_top, n - 1])
    _, U_ref = scipy.linalg.eigh(K_ref, subset_by_index=[n - k_top, n - 1])
    w1 = wasserstein1(e, e_ref)
    return {
        "err": relative_operator_error(K, K_ref),
        "w1": w1,
        "w1_rel": w1 / max(abs(float(np.mean(e_ref))), 1e-300),
        "top": e[::-1][:k_top].tolist(),
        "top_ref": e_ref[::-1][:k_top].tolist(),
        "subspace": subspace_alignment(U, U_ref),
        "class_align": float(class_alignment(U_ref[:, -1], labels)[0]),
        "eigs": e, "eigs_ref": e_ref, "U_ref": U_ref[:, ::-1],
    }


# ------------------------------------------------------------------------- tables ----

@dataclass
class Row:
    """One line of a check's table."""
    config: str
    values: dict
    passed: bool | None
    why: str = ""


@dataclass
class Table:
    columns: list
    rows: list = field(default_factory=list)

    def add(self, row: Row):
        self.rows.append(row)
        print(self.format_row(row), flush=True)

    @staticmethod
    def _fmt(v):
        if isinstance(v, float):
            return "nan" if not np.isfinite(v) else f"{v:.4g}"
        if isinstance(v, (list, tuple)):
            return "/".join(Table._fmt(float(x)) for x in v)
        return str(v)

    def format_row(self, row: Row) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[row.passed]
        cells = [row.config] + [self._fmt(row.values.get(c, "")) for c in self.columns]
        return " | ".join(cells + [verdict + (f" ({row.why})" if row.why else "")])

    def markdown(self) -> str:
        head = "| config | " + " | ".join(self.columns) + " | verdict |"
        sep = "|" + "---|" * (len(self.columns) + 2)
        return "\n".join([head, sep] + ["| " + self.format_row(r) + " |" for r in self.rows])

    @property
    def n_fail(self) -> int:
        return sum(r.passed is False for r in self.rows)


def header(name: str, columns) -> None:
    print(f"== theory check: {name} ==")
    print(" | ".join(["config", *columns, "verdict"]), flush=True)


# ------------------------------------------------------------------------ reports ----

def write_report(name: str, *, title: str, claim: str, criteria: str, tables: dict,
                 notes: str = "", figures: dict | None = None, args=None,
                 started: float | None = None) -> Path | None:
    """Write ``reports/<name>.md`` (and the PNG figures ``{filename: fig}``) atomically."""
    if args is not None and getattr(args, "no_report", False):
        for f in (figures or {}).values():
            import matplotlib.pyplot as plt

            plt.close(f)
        return None
    from ntkcomp._io import atomic_write_text, git_revision
    from ntkcomp.spectral.plots import save_figure

    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    mode = "quick" if getattr(args, "quick", False) else "full"
    stem = name if mode == "full" else f"{name}_quick"
    command = f"python -m theory_checks.{name}" + (" --quick" if mode == "quick" else "")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runtime = (f"; runtime {time.time() - started:.0f} s (shared 2-core machine)"
               if started else "")
    lines = [f"# {title}", "", f"Command: `{command}`  ",
             f"Mode: {mode}; git: {git_revision()}; generated {when}{runtime}", "",
             "## Claim", "", claim, "", "## Criteria", "", criteria, ""]
    total_fail = 0
    for tname, table in tables.items():
        lines += [f"## {tname}", "", table.markdown(), ""]
        total_fail += table.n_fail
    lines += ["## Verdict", "",
              ("ALL PASS" if total_fail == 0 else f"{total_fail} FAIL(s): see the notes"), ""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    for fname, fig in (figures or {}).items():
        png = f"{stem}_{fname}.png"
        save_figure(fig, REPORT_DIR / png)
        lines += [f"![{fname}]({png})", ""]
    path = REPORT_DIR / f"{stem}.md"
    atomic_write_text(path, "\n".join(lines))
    print(f"report: {path}")
    return path


def error_plot(curves: dict, title: str, *, reference_rate: float = 0.5):
    """Log-log error vs n for ``{label: (ns, errs)}`` with an n^{-1/2} guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (lab, (ns, errs)) in enumerate(curves.items()):
        ax.loglog(ns, errs, "o-", color=f"C{i % 10}", ms=3, lw=1, label=lab)
    if curves:
        ns0 = np.asarray(next(iter(curves.values()))[0], float)
        ax.loglog(ns0, 0.1 * (ns0 / ns0[0]) ** -reference_rate, "k--", lw=1,
                  label=f"n^-{reference_rate}")
    ax.set_xlabel("n")
    ax.set_ylabel("relative operator error")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def exit_code(tables) -> int:
    return 0 if all(t.n_fail == 0 for t in tables) else 1


# ----------------------------------------------------- CK / NTK equivalence ladders ----

EQUIV_CONFIGS = (
    # (activation, L, preset): L = 1 and 3 for each activation family on "mixed", and the
    # two other presets at L = 3 (the full ladder is CPU heavy on the exact E_W kernels of
    # step activations: L = 2 is covered by the quick ladder and the tests)
    *[(a, L, "mixed") for a in ("relu", "erf", "binary", "ternary") for L in (1, 3)],
    ("relu", 3, "means"), ("relu", 3, "covs"), ("erf", 3, "covs"),
)


def run_equivalence(kind: str, args, *, configs=EQUIV_CONFIGS, slope_max=-0.4,
                    err_max_2048=0.06, p_over_n=0.5):
    """Ladder of ``||E_W[K] - K~|| / ||E_W[K]||`` for ``kind`` in {"ck", "ntk"}.

    Returns ``(table, curves, extras)``; extras holds the largest-n spectra/eigenvectors of
    the first config for the plots."""
    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent

    ns = ladder(args)
    thr = transported(err_max_2048, ns[-1])
    cols = ["errors (n ladder)", "slope", f"err@{ns[-1]}", "err exact-diag", "W1",
            "W1/mean", "top eig E", "top eig equiv", "subspace", "class align"]
    header(f"{kind}_equivalence", cols)
    table = Table(cols)
    curves, extras = {}, {}
    for act, L, preset in configs:
        errs, errs_x, last = [], [], None
        t0 = time.time()
        for n in ns:
            s = sample(preset, n, p_over_n=p_over_n, seed=args.seed)
            net = make_net(act, L, s)
            E = expected(net, s, ("E", act, L, preset, n, p_over_n, args.seed,
                                  STEP_THRESHOLDS.get(act)))
            ref = E["ck"][-1] if kind == "ck" else E["ntk"]
            build = ck_equivalent if kind == "ck" else ntk_equivalent
            Kt = np.asarray(build(net, s))
            Kx = np.asarray(build(net, s, diagonal="exact"))
            from ntkcomp.spectral import relative_operator_error

            errs_x.append(relative_operator_error(Kx, ref))
            if n == ns[-1]:
                last = compare_kernels(Kt, ref, np.asarray(s.labels))
                errs.append(last["err"])
            else:
                errs.append(relative_operator_error(Kt, ref))
        slope = loglog_slope(ns, errs)
        ok = bool(slope <= slope_max and errs[-1] <= thr)
        why = [] if ok else ([f"slope {slope:.2f} > {slope_max}"] if slope > slope_max else []) \
            + ([f"err {errs[-1]:.3f} > {thr:.3f}"] if errs[-1] > thr else [])
        cfg = f"{act} L={L} {preset}"
        table.add(Row(cfg, {"errors (n ladder)": errs, "slope": slope,
                            f"err@{ns[-1]}": errs[-1], "err exact-diag": errs_x[-1],
                            "W1": last["w1"], "W1/mean": last["w1_rel"],
                            "top eig E": last["top_ref"], "top eig equiv": last["top"],
                            "subspace": last["subspace"], "class align": last["class_align"]},
                      ok, "; ".join(why)))
        curves[cfg] = (ns, errs)
        if not extras:
            extras = {"cfg": cfg, "eigs": last["eigs"], "eigs_ref": last["eigs_ref"],
                      "U": last["U_ref"], "labels": np.asarray(s.labels)}
        print(f"   ({time.time() - t0:.0f} s)", flush=True)
    return table, curves, extras


def equivalence_figures(kind, curves, extras):
    import matplotlib.pyplot as plt

    from ntkcomp.spectral import spectral_density
    from ntkcomp.spectral.plots import plot_eigenvectors, plot_spectrum

    figs = {"error_vs_n": error_plot(curves, f"{kind.upper()}: ||E_W - equivalent|| / ||E_W||")}
    if extras:
        fig, ax = plt.subplots(figsize=(6, 4))
        g = np.linspace(extras["eigs_ref"].min(), np.quantile(extras["eigs_ref"], 0.99), 300)
        plot_spectrum(extras["eigs_ref"], [(*spectral_density(extras["eigs"], grid=g),
                                            "equivalent (KDE)")], ax=ax, clip_quantile=0.99,
                      label="E_W kernel", title=f"{kind.upper()} spectrum, {extras['cfg']}")
        figs["spectrum"] = fig
        axes = plot_eigenvectors(extras["U"], extras["labels"], k=3,
                                 title=f"top eigenvectors of E_W[{kind.upper()}], {extras['cfg']}")
        figs["eigenvectors"] = axes[0].figure
    return figs
