"""Shared machinery of the theory checks: size ladders, networks, cached exact kernels,
metrics, PASS/FAIL tables, log-log slopes, and atomic markdown + PNG reports.

Every check module defines its criteria as module constants, runs a ladder of sizes
(``n = 256 .. 2048`` by default at fixed ``p/n`` and ``d/n``; ``--quick``: n <= 512;
``--max-n 4096`` optional), prints a table and writes ``theory_checks/reports/<name>.md``
plus PNGs (atomic writes through :mod:`ntkcomp.io`).

Quick mode (n <= 512) evaluates the same claim: the absolute-error thresholds, stated at
n = 2048, are transported to the largest n of the ladder along the *claimed* rate
``n^{-1/2}`` (threshold * sqrt(2048 / n_max)); slopes use the same bound.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

import ntkcomp
from experiments.harness import RunDir, check_out_path
from experiments.harness.args import Parser, add_run_options, setup_runtime
from experiments.harness.pipeline import STEP_THRESHOLDS  # noqa: F401 (re-exported to checks)
from experiments.harness.report import write_markdown_report

ntkcomp.enable_x64()

CACHE_DIR = Path(os.environ.get("NTKCOMP_CHECK_CACHE", "/tmp/ntkcomp_theory_cache"))
FULL_LADDER = (256, 512, 1024, 2048)
QUICK_LADDER = (256, 512)
REFERENCE_N = 2048



def base_parser(description: str, *, quick_help: str = "ladder n <= 512 (fast subset)"
                ) -> Parser:
    """A check's parser: ``--quick``, ``--no-report`` and the run options (``--out``,
    ``--platform``, ``--no-progress``, ``--debug``)."""
    ap = Parser(prog="ntkcomp check", description=description)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--no-report", action="store_true", help="print only, write no files")
    add_run_options(ap, None, out_help="Default: ntkcomp_runs/check/NAME (NAME_quick with "
                    "--quick) under the current directory; receives NAME.md and its PNGs.")
    return ap


def finish_args(ap: Parser, argv=None):
    """Parse, validate ``--out`` (before any work), set up JAX (platform, float64)."""
    args = ap.parse_args(argv)
    if args.out is not None:
        check_out_path(args.out)
    setup_runtime(args.platform, float64=True)
    return args


def parse_args(description: str, argv=None, *, default_max_n: int = 2048):
    """Options of a ladder check: ``--max-n`` and ``--seed`` besides :func:`base_parser`'s."""
    ap = base_parser(description)
    ap.add_argument("--max-n", type=int, default=default_max_n,
                    help=f"largest n (default {default_max_n}; 256 .. 4096)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.max_n < 256:   # one-line usage error (exit 2), not a traceback
        ap.error(f"--max-n must be >= 256 (the smallest rung of the ladder), got {args.max_n}")
    if not 0 <= args.seed < 2 ** 31:
        ap.error(f"--seed must be an integer in [0, 2^31), got {args.seed}")
    if args.out is not None:
        check_out_path(args.out)
    setup_runtime(args.platform, float64=True)
    return args


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
    from ntkcomp.io import atomic_write_npz
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
        wasserstein1,
    )

    K, K_ref = np.asarray(K), np.asarray(K_ref)
    e, e_ref = eigenvalues(K), eigenvalues(K_ref)
    U, U_ref = top_eigvecs(K, k_top), top_eigvecs(K_ref, k_top)  # descending
    w1 = wasserstein1(e, e_ref)
    return {
        "err": relative_operator_error(K, K_ref),
        "w1": w1,
        "w1_rel": w1 / max(abs(float(np.mean(e_ref))), 1e-300),
        "top": e[::-1][:k_top].tolist(),
        "top_ref": e_ref[::-1][:k_top].tolist(),
        "subspace": float(np.sum((U.T @ U_ref) ** 2) / U.shape[1]),  # ||U^T U_ref||_F^2 / k
        "class_align": float(class_alignment(U_ref[:, 0], labels)[0]),
        "eigs": e, "eigs_ref": e_ref, "U_ref": U_ref,
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
                 started: float | None = None, data: dict | None = None) -> Path | None:
    """Write ``<name>.md``, the PNG figures ``{filename: fig}`` and, if given, the JSON-able
    record ``data`` as ``<name>.json`` into the check's run directory (``--out``, default
    ``ntkcomp_runs/check/<name>[_quick]``), committed whole."""
    if args is not None and getattr(args, "no_report", False):
        import matplotlib.pyplot as plt

        for f in (figures or {}).values():
            plt.close(f)
        return None
    from ntkcomp.io import run_metadata

    mode = "quick" if getattr(args, "quick", False) else "full"
    stem = name if mode == "full" else f"{name}_quick"
    command = f"ntkcomp check {name}" + (" --quick" if mode == "quick" else "")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runtime = f"; runtime {time.time() - started:.0f} s" if started else ""
    sections = [("Claim", claim), ("Criteria", criteria)]
    total_fail = 0
    for tname, table in tables.items():
        sections.append((tname, table.markdown()))
        total_fail += table.n_fail
    sections.append(("Verdict", "ALL PASS" if total_fail == 0 else
                     f"{total_fail} FAIL(s): see the notes"))
    if notes:
        sections.append(("Notes", notes.strip()))
    header = [f"Command: `{command}`  ",
              f"Mode: {mode}; git: {run_metadata({})['git_revision']}; generated {when}{runtime}"]
    out = getattr(args, "out", None) or os.path.join("ntkcomp_runs", "check", stem)
    config = {"check": name, "mode": mode,
              **{k: v for k, v in (vars(args) if args is not None else {}).items()
                 if k not in ("out", "debug", "no_progress", "no_report")}}
    with RunDir(out, config, seeds={"base": getattr(args, "seed", 0)}) as rd:
        write_markdown_report(rd, stem, title=title, header=header, sections=sections,
                              figures={f"{stem}_{k}": f for k, f in (figures or {}).items()})
        if data is not None:
            rd.write_json(f"{stem}.json", data)
    path = rd.final / f"{stem}.md"
    print(f"report: {path}")
    return path


def exit_code(tables) -> int:
    return 0 if all(t.n_fail == 0 for t in tables) else 1


# ----------------------------------------------------- CK / NTK equivalence ladders ----

# (activation, L, preset, n_max). All four families at L = 1, 2, 3 on "mixed"; ReLU and erf
# at L = 3 on the other presets; binary and ternary at L = 1 and 3 on "covs" (a second preset
# for the step families). n_max = 4096 where the exact E_W kernels (float64, cached) are
# affordable on the 2-core machine; the step families on "covs" at L = 1 stop at 2048.
EQUIV_CONFIGS = (
    *[(a, L, "mixed", 4096) for a in ("relu", "erf", "binary", "ternary") for L in (1, 2, 3)],
    ("relu", 3, "means", 4096), ("relu", 3, "covs", 4096), ("erf", 3, "covs", 4096),
    ("binary", 1, "covs", 2048), ("binary", 3, "covs", 4096),
    ("ternary", 1, "covs", 2048), ("ternary", 3, "covs", 4096),
)
# configurations whose spectra (at n = REFERENCE_N) are drawn in the report
SPECTRUM_PLOT_CONFIGS = ("relu L=3 mixed", "erf L=3 mixed", "binary L=3 mixed",
                         "ternary L=3 covs")


def _config(c):
    act, L, preset, *rest = c
    return act, int(L), preset, (int(rest[0]) if rest else 10**9)


def top_eigvecs(K, k: int = 3):
    """The ``k`` leading eigenvectors (n, k), descending (Lanczos for n > 1024)."""
    import scipy.linalg
    import scipy.sparse.linalg

    K = np.asarray(K, float)
    n = K.shape[0]
    if n <= 1024:
        _, U = scipy.linalg.eigh(K, subset_by_index=[n - k, n - 1])
        if U.shape[1] < k:  # LAPACK's subset driver can return nothing (seen for the
            U = np.linalg.eigh(K)[1][:, n - k:]  # quadratic equivalent): full solve
        return U[:, ::-1]
    vals, U = scipy.sparse.linalg.eigsh(K, k=k, which="LA", tol=1e-12)
    return U[:, np.argsort(vals)[::-1]]


def run_equivalence(kind: str, args, *, configs=EQUIV_CONFIGS, slope_max=-0.4,
                    err_max_2048=0.06, p_over_n=0.5):
    """Ladder of ``||E_W[K] - K~|| / ||E_W[K]||`` for ``kind`` in {"ck", "ntk"}.

    The criterion is the issue's, unchanged: fitted log-log slope over the whole ladder
    <= ``slope_max`` and error at n = 2048 <= ``err_max_2048`` (quick mode, whose ladder
    stops below 2048: the threshold transported to its largest n along n^{-1/2}). Rungs at
    n = 4096 (where the config allows and ``--max-n`` >= 4096) enter the slope; the
    spectral metrics (W1, top eigenvalues, alignments) are taken at n = 2048 (the
    reference n; at n = 4096 a dense float64 eigendecomposition costs ~30 CPU-s each).

    Returns ``(table, curves, extras)``: ``curves[cfg] = (ns, errs, errs_exact_diag)``;
    ``extras[cfg]`` holds the spectra/eigenvectors of the configurations in
    SPECTRUM_PLOT_CONFIGS (or of the first config)."""
    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.spectral import relative_operator_error

    base = ladder(args)
    cols = ["errors (n ladder)", "slope", "slope to 2048", "last-doubling slope", "err@2048",
            "err@4096", "err exact-diag (ladder)", "slope exact-diag", "W1@2048",
            "W1/mean", "top eig E", "top eig equiv", "subspace", "class align", "time"]
    header(f"{kind}_equivalence", cols)
    table = Table(cols)
    curves, extras, first = {}, {}, None
    for c in configs:
        act, L, preset, n_cap = _config(c)
        ns = tuple(n for n in base if n <= n_cap)
        n_ref = REFERENCE_N if REFERENCE_N in ns else ns[-1]
        thr = err_max_2048 if n_ref == REFERENCE_N else transported(err_max_2048, n_ref)
        cfg = f"{act} L={L} {preset}"
        errs, errs_x, spec = [], [], None
        t0 = time.time()
        for n in ns:
            s = sample(preset, n, p_over_n=p_over_n, seed=args.seed)
            net = make_net(act, L, s)
            E = expected(net, s, ("E", act, L, preset, n, p_over_n, args.seed,
                                  STEP_THRESHOLDS.get(act)))
            ref = E["ck"][-1] if kind == "ck" else E["ntk"]
            del E
            build = ck_equivalent if kind == "ck" else ntk_equivalent
            Kt = np.asarray(build(net, s))
            errs.append(relative_operator_error(Kt, ref))
            Kx = np.asarray(build(net, s, diagonal="exact"))
            errs_x.append(relative_operator_error(Kx, ref))
            del Kx
            if n == n_ref:
                spec = compare_kernels(Kt, ref, np.asarray(s.labels))
                ex = {"eigs": spec["eigs"], "eigs_ref": spec["eigs_ref"],
                      "U": spec["U_ref"], "labels": np.asarray(s.labels), "n": n}
                if cfg in SPECTRUM_PLOT_CONFIGS:
                    extras[cfg] = ex
                elif first is None:
                    first = (cfg, ex)
            del Kt, ref
        slope = loglog_slope(ns, errs)
        i_ref = ns.index(n_ref)
        slope_ref = loglog_slope(ns[:i_ref + 1], errs[:i_ref + 1])
        last = (float(np.log(errs[-1] / errs[-2]) / np.log(ns[-1] / ns[-2]))
                if len(ns) > 1 else float("nan"))
        err_ref = errs[i_ref]
        ok = bool(slope <= slope_max and err_ref <= thr)
        why = ([f"slope {slope:.2f} > {slope_max}"] if slope > slope_max else []) + \
            ([f"err@{n_ref} {err_ref:.4f} > {thr:.3f}"] if err_ref > thr else [])
        table.add(Row(cfg, {"errors (n ladder)": errs, "slope": slope,
                            "slope to 2048": slope_ref, "last-doubling slope": last,
                            "err@2048": err_ref,
                            "err@4096": errs[-1] if ns[-1] == 4096 else "-",
                            "err exact-diag (ladder)": errs_x,
                            "slope exact-diag": loglog_slope(ns, errs_x),
                            "W1@2048": spec["w1"], "W1/mean": spec["w1_rel"],
                            "top eig E": spec["top_ref"], "top eig equiv": spec["top"],
                            "subspace": spec["subspace"], "class align": spec["class_align"],
                            "time": f"{time.time() - t0:.0f} s"},
                      ok, "; ".join(why)))
        curves[cfg] = (ns, errs, errs_x)
    if not extras and first is not None:
        extras[first[0]] = first[1]
    return table, curves, extras


def equivalence_criteria(slope_max: float, err_max_2048: float) -> str:
    """The PASS rule of the CK/NTK equivalence reports (:func:`run_equivalence`)."""
    return (f"PASS iff fitted slope <= {slope_max} and error at n = 2048 <= "
            f"{err_max_2048} (quick mode: threshold * sqrt(2048/n_max)). "
            "'err exact-diag' (info): same equivalent with its diagonal replaced by the "
            "exact per-sample diagonal (ntkcomp option diagonal='exact'). W1 is absolute "
            "(eigenvalue units); W1/mean divides by the mean eigenvalue of E_W. "
            "Step thresholds scale with tau_{l-1}: " + str(STEP_THRESHOLDS))


def equivalence_notes(kind: str) -> str:
    """Where the error of the stated CK (``kind = "ck"``) or NTK (``"ntk"``) equivalent comes
    from (report notes)."""
    diag, coef = ("tau_L^2", "alpha_{L,1}") if kind == "ck" else ("kappa_L^2", "beta_{L,1}")
    return f"""
FAILs (if any) are analysed at the end of the report and in theory_checks/README.md. The error of
the stated formula
splits into (i) a diagonal part: the formula's diagonal is {diag} + {coef} delta_i
+ ..., while the exact diagonal is {diag}(||x_i||) = {diag} + (d {diag}/d tau_0^2)
delta_i + ..., an O(p^{{-1/2}}) per-sample mismatch whose operator norm is max_i |delta_i|
~ sqrt(log n / p) -- the 'err exact-diag' column removes it; (ii) an off-diagonal part
of order n^{{-1/2}} (and O(1/p) terms from the means, visible in the 'means' preset).
"""


def error_plot(curves: dict, title: str, *, reference_rate: float = 0.5):
    """Log-log error vs n, one panel per activation family; legend: fitted slope.

    ``curves``: ``{label: (ns, errs)}`` or ``{label: (ns, errs, errs_exact_diag)}`` (the
    latter drawn dotted). The dashed line is an n^{-1/2} guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fams = []
    for lab in curves:
        f = lab.split()[0]
        if f not in fams:
            fams.append(f)
    ncol = min(2, len(fams))
    nrow = -(-len(fams) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.6 * nrow), squeeze=False)
    for ax, fam in zip(axes.ravel(), fams):
        i, ticks = 0, set()
        for lab, cur in curves.items():
            if lab.split()[0] != fam:
                continue
            ns, errs = np.asarray(cur[0], float), np.asarray(cur[1], float)
            ax.loglog(ns, errs, "o-", color=f"C{i % 10}", ms=3, lw=1,
                      label=f"{lab} (slope {loglog_slope(ns, errs):.2f})")
            if len(cur) > 2:
                ax.loglog(ns, cur[2], "x:", color=f"C{i % 10}", ms=3, lw=0.8)
            i += 1
            n_all = ns
            ticks |= {int(v) for v in ns}
        ax.loglog(n_all, 0.1 * (n_all / n_all[0]) ** -reference_rate, "k--", lw=0.8,
                  label=f"n^-{reference_rate}")
        ticks = sorted(ticks)
        ax.set_xticks(ticks, [str(t) for t in ticks])  # the ladder, not 3x10^2 labels
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("n")
        ax.set_ylabel("relative operator error")
        ax.set_title(f"{fam}: {title}", fontsize=8)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(fams):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def equivalence_figures(kind, curves, extras):
    """error_vs_n (all configs; dotted: exact diagonal), spectra E_W vs equivalent and top
    eigenvectors of E_W for the configurations in ``extras``."""
    import matplotlib.pyplot as plt

    from ntkcomp.spectral import spectral_density
    from experiments.harness.spectral_plots import plot_eigenvectors, plot_spectrum

    figs = {"error_vs_n": error_plot(
        curves, f"||E_W - {kind.upper()} equiv.|| / ||E_W|| (dotted: exact diagonal)")}
    if extras:
        k = len(extras)
        ncol = min(2, k)
        nrow = -(-k // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.6 * nrow), squeeze=False)
        for ax, (cfg, ex) in zip(axes.ravel(), extras.items()):
            edges = np.linspace(ex["eigs_ref"].min(), np.quantile(ex["eigs_ref"], 0.99), 81)
            gc_, fe = spectral_density(ex["eigs"], bins=edges)
            frac = float(np.mean((ex["eigs"] >= edges[0]) & (ex["eigs"] <= edges[-1])))
            plot_spectrum(ex["eigs_ref"], [(gc_, fe * frac, "equivalent (histogram)")], ax=ax,
                          bins=edges, clip_quantile=0.99,
                          label="E_W kernel",
                          title=f"{kind.upper()} spectrum, {cfg}, n = {ex['n']}")
            # the equivalent puts n - p eigenvalues exactly at its identity coefficient
            # (rank(X X^T) = p): a tall atom; clip the y axis to the E_W bulk
            h_ref, _ = np.histogram(ex["eigs_ref"], bins=edges, density=True)
            if fe.max() * frac > 2 * h_ref.max():
                ax.set_ylim(0, 2 * h_ref.max())
                ax.text(0.98, 0.6, f"equivalent: atom of height {fe.max() * frac:.3g}\n"
                        "(n - p eigenvalues at the identity coefficient)",
                        transform=ax.transAxes, ha="right", fontsize=6)
            ax.legend(fontsize=6)
        for ax in axes.ravel()[k:]:
            ax.axis("off")
        fig.tight_layout()
        figs["spectrum"] = fig
        cfg, ex = next(iter(extras.items()))
        axes = plot_eigenvectors(ex["U"], ex["labels"], k=3,
                                 title=f"top eigenvectors of E_W[{kind.upper()}], {cfg}, "
                                       f"n = {ex['n']}")
        figs["eigenvectors"] = axes[0].figure
    return figs
