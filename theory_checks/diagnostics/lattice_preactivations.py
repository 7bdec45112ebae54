"""Step activations fed by step activations: why the weight-kurtosis (Edgeworth) term fails
there (diagnostic, no PASS/FAIL).

``theory_checks/weight_kurtosis_depth.py`` found that the first Edgeworth (fourth-cumulant)
correction of the expected-next-layer map (``ntkcomp.spectral.random_features_depth``)
helps ReLU and erf networks with sparse ternary weights but makes ternary-activation
networks slightly worse at d = n. The hypothesis there: from layer 2 on, a pre-activation
``g_i = sum_k W_k h_ik`` of a ternary network is a sum of few non-zero terms taking values on
a lattice (ternary weights times ternary-valued features), and the expansion of a *step*
function of a lattice variable has discreteness terms that a cumulant expansion cannot
carry. This module tests that on the diagonal of the layer-2 map,
``E_W[(sigma(g_i) - m)^2]``, which sets the bulk position of the spectrum:

* ``exact_diagonal`` computes it EXACTLY for i.i.d. sparse ternary weights when every row
  of the input features takes few distinct values (here: the three levels of a ternary
  layer 1), by enumerating the law of the integer counts behind ``g_i``;
* the comparators are the Gaussian map (``expected_layer_maps(net, weight_kurtosis=False)``)
  and the corrected map ``F(M, H)`` with the true features H.

The lattice: with layer-1 levels ``a_k in {-1, 0, 1}`` and centre ``m_1``, ``g_i sqrt(d (1 -
eps)) = A - m_1 B`` with integers ``A = sum_k xi_k a_k`` and ``B = sum_k xi_k``. Given B,
``g_i`` lives on a lattice of spacing ``u = 1/sqrt(d (1 - eps))``; B varies, so the support
is the set ``u (A - m_1 B)``, which for ``m_1`` close to a rational ``-1/q`` (here
``m_1 = -0.0624 ~ -1/16``) is nearly a lattice of spacing ``u / q``. A step activation's
expectation then depends on where its thresholds sit on these lattices.

Tables printed (n = 512 samples of the ``mixed`` GMM, p = n/2, ternary layer 1 of width d,
one draw of W_1, key as in ``weight_kurtosis_depth``; errors are means over the samples of
the map's diagonal minus the exact one):

1. activation of layer 2 in {erf, tanh, ReLU, ternary} on the same ternary features;
2. ternary layer 2 with both thresholds shifted by ``delta * u``, ``delta = j / PHASES``
   over one coarse period: the phase mean (and range) of each map's error, i.e. the error
   averaged over where the thresholds sit on the lattice, and the first ``FIRST`` phases of
   eps = 0.8 (the fine period ``|m_1| u``);
3. control: ternary layer 2 on CONTINUOUS features (ReLU, erf layer 1), where no
   enumeration exists, against a Monte Carlo over ``--mc`` neurons (+- standard error).

    python -m theory_checks.diagnostics.lattice_preactivations [--n 512] [--mc 100000] [--out F]

Output of the default run: ``theory_checks/reports/lattice_preactivations_diagnostic.md``
(~6 min on 2 cores).
"""
from __future__ import annotations

import builtins
import time

import numpy as np

from theory_checks.diagnostics import diagnostic_args

#: at most this many distinct values per input row for the exact enumeration
MAX_VALUES = 4
#: probabilities below this are dropped from the enumerated laws (their total is reported)
PMF_FLOOR = 1e-16
#: threshold shifts per lattice unit u in table 2, and how many of them are listed
PHASES = 256
FIRST = 20


def ternary_sum_pmf(count: int, eps: float) -> np.ndarray:
    """Law of ``S = xi_1 + ... + xi_count``, ``xi`` i.i.d. in {-1, 0, +1} with
    ``P(0) = eps``, ``P(+-1) = (1 - eps)/2``: ``pmf[j] = P(S = j - count)``, shape
    ``(2 count + 1,)`` (binary powering of the 3-point convolution)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be in [0, 1), got {eps}")
    base = np.array([(1 - eps) / 2, eps, (1 - eps) / 2])
    out, k = np.ones(1), int(count)
    while k:
        if k & 1:
            out = np.convolve(out, base)
        k >>= 1
        if k:
            base = np.convolve(base, base)
    return out


def preactivation_laws(H, eps: float) -> tuple[list, float]:
    """Exact law of each ``g_i = sum_k H_ik W_k``, ``W_k = xi_k / sqrt(1 - eps)`` i.i.d.
    sparse ternary (unit variance; eps = 0 is Rademacher).

    Args:
      H: ``(n, d)`` input features; each row may take at most ``MAX_VALUES`` distinct values
        (e.g. a ternary layer's output), else ValueError.
      eps: sparsity in [0, 1).
    Returns:
      ``(laws, dropped)``: ``laws[i] = (points, probs)``, the support of ``g_i`` and its
      probabilities; ``dropped`` is the largest probability mass left out of a row by
      ``PMF_FLOOR``.

    Row i: with ``c_v`` the number of entries equal to ``v``, ``g_i = sum_v v S_v /
    sqrt(1 - eps)`` with independent ``S_v ~ ternary_sum_pmf(c_v, eps)``; the law is the
    convolution over v, enumerated on its (merged) support.
    """
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be in [0, 1), got {eps}")
    H = np.asarray(H, np.float64)
    if H.ndim != 2:
        raise ValueError(f"H must have shape (n, d), got {H.shape}")
    laws, dropped = [], 0.0
    for i, row in enumerate(H):
        vals, counts = np.unique(row, return_counts=True)
        if len(vals) > MAX_VALUES:
            raise ValueError(f"H row {i} takes {len(vals)} distinct values; the enumeration "
                             f"handles at most MAX_VALUES = {MAX_VALUES} (use Monte Carlo)")
        points, probs = np.zeros(1), np.ones(1)
        for v, c in zip(vals, counts):
            pmf = ternary_sum_pmf(int(c), eps)
            keep = pmf > PMF_FLOOR
            dropped = max(dropped, float(pmf[~keep].sum()))
            s = np.arange(-c, c + 1)[keep]
            points = (points[:, None] + v * s[None, :]).ravel()
            probs = (probs[:, None] * pmf[keep][None, :]).ravel()
            points, inv = np.unique(np.round(points, 12), return_inverse=True)
            probs = np.bincount(inv.ravel(), probs)
        laws.append((points / np.sqrt(1.0 - eps), probs / probs.sum()))
    return laws, dropped


def exact_diagonal(act, center: float, H, eps: float, laws=None) -> tuple[np.ndarray, float]:
    """Exact ``E_W[(act(g_i) - center)^2]``, shape ``(n,)``, for ``g = H @ W`` with i.i.d.
    sparse ternary weights (see :func:`preactivation_laws`; pass its ``laws`` to reuse
    them). Returns ``(diag, dropped)``; ``dropped`` (see :func:`preactivation_laws`) is 0.0
    when ``laws`` are passed in -- it was reported when they were enumerated."""
    dropped = 0.0
    if laws is None:
        laws, dropped = preactivation_laws(H, eps)
    diag = np.array([np.sum(p * (np.asarray(act(g), np.float64) - center) ** 2)
                     for g, p in laws])
    return diag, dropped


def sparse_ternary(rng: np.random.Generator, shape, eps: float) -> np.ndarray:
    """I.i.d. unit-variance sparse ternary weights ``xi / sqrt(1 - eps)``, ``xi`` in
    {-1, 0, +1} with ``P(0) = eps`` (NumPy, for the Monte Carlo references)."""
    return rng.choice([-1.0, 0.0, 1.0], size=shape,
                      p=[(1 - eps) / 2, eps, (1 - eps) / 2]) / np.sqrt(1 - eps)


def monte_carlo_diagonal(act, center: float, H, eps: float, draws: int, seed: int = 1,
                         chunk: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo estimate of :func:`exact_diagonal` over ``draws`` independent weight
    vectors (neurons): ``(mean, standard error)``, each ``(n,)``."""
    H = np.asarray(H, np.float64)
    rng = np.random.default_rng(seed)
    s1 = np.zeros(H.shape[0])
    s2 = np.zeros(H.shape[0])
    done = 0
    while done < draws:
        b = min(chunk, draws - done)
        f = (np.asarray(act(H @ sparse_ternary(rng, (H.shape[1], b), eps)), np.float64)
             - center) ** 2
        s1 += f.sum(1)
        s2 += (f * f).sum(1)
        done += b
    mean = s1 / draws
    return mean, np.sqrt(np.maximum(s2 / draws - mean ** 2, 0.0) / draws)


def layer2_maps(net, H):
    """Diagonals of the Gaussian and the corrected layer-2 maps of ``net`` at features H."""
    from ntkcomp.spectral.random_features_depth import expected_layer_maps

    M = H @ H.T
    gauss = np.diag(expected_layer_maps(net, weight_kurtosis=False)[1](M))
    corr = np.diag(expected_layer_maps(net)[1](M, H))
    return gauss, corr


def _setup(n: int, d: int, eps: float, first: str = "ternary"):
    """Data, a two-layer net (layer 1 ``first``, layer 2 ternary as in the checks) and the
    layer-1 features of one draw."""
    from ntkcomp.activations import get, moments
    from ntkcomp.networks import MLP, weight_law
    from theory_checks import _common as C
    from theory_checks.weight_kurtosis_depth import draw_key

    s = C.sample("mixed", n, p_over_n=0.5, seed=0)
    tau0 = float(s.stats.tau0)
    a1 = C.activation_stack("ternary", 1, tau0)[0] if first == "ternary" else get(first)
    tau1 = float(np.sqrt(moments(a1, tau0).var))
    lo, hi = C.STEP_THRESHOLDS["ternary"]
    a2 = get("ternary", s1=lo * tau1, s2=hi * tau1, b_neg=1.0, b_pos=1.0)
    law = weight_law("sparse_ternary", eps=eps)
    net = MLP([d, d], [a1, a2], weights=law, tau0=tau0)
    params = net.init(draw_key(n, 2, 0), s.X.shape[1])
    H = np.asarray(net.features(params, s.X)[0], np.float64)
    return net, H


def _with_layer2(net, act):
    from ntkcomp.networks import MLP

    return MLP(list(net.widths), [net.activations[0], act], weights=list(net.weight_laws),
               tau0=net.tau0)


def table_activations(n, configs):
    from ntkcomp.activations import get

    rows = []
    for eps, d in configs:
        base, H = _setup(n, d, eps)
        for name in ("erf", "tanh", "relu", "ternary"):
            net = base if name == "ternary" else _with_layer2(base, get(name))
            act, m = net.activations[1], float(net.centers[1])
            ex, _ = exact_diagonal(act, m, H, eps)
            g, c = layer2_maps(net, H)
            eg, ec = float(np.mean(g - ex)), float(np.mean(c - ex))
            rows.append((eps, d, name, float(ex.mean()), eg, ec,
                         abs(ec) / abs(eg) if eg else float("nan")))
    return rows


def table_phase(n, eps, d, phases=256, rows=128):
    """Ternary layer 2 on ternary features with both thresholds shifted by ``delta * u``,
    ``delta = j / phases`` (j < phases), on the first ``rows`` samples (the laws of their
    pre-activations are enumerated once). Returns ``(u, m1, table)`` with table rows
    ``(delta, exact mean, mean Gaussian - exact, mean corrected - exact)``."""
    from ntkcomp.activations import get

    base, H = _setup(n, d, eps)
    H = H[:rows]
    laws, _ = preactivation_laws(H, eps)
    p = {k: float(v) for k, v in base.activations[1].params.items()}
    u = 1.0 / np.sqrt(d * (1 - eps))
    table = []
    for j in range(phases):
        delta = j / phases
        act = get("ternary", s1=p["s1"] + delta * u, s2=p["s2"] + delta * u,
                  b_neg=1.0, b_pos=1.0)
        net = _with_layer2(base, act)
        ex, _ = exact_diagonal(net.activations[1], float(net.centers[1]), H, eps, laws)
        g, c = layer2_maps(net, H)
        table.append((delta, float(ex.mean()), float(np.mean(g - ex)), float(np.mean(c - ex))))
    return u, float(base.centers[0]), table


def table_continuous(n, eps, d, draws):
    rows = []
    for first in ("relu", "erf", "ternary"):
        net, H = _setup(n, d, eps, first)
        act, m = net.activations[1], float(net.centers[1])
        mc, se = monte_carlo_diagonal(act, m, H, eps, draws)
        g, c = layer2_maps(net, H)
        # the mean over samples of a shared-neuron estimate: its standard error is at most
        # the mean of the per-sample ones (perfect correlation)
        rows.append((first, float(mc.mean()), float(se.mean()), float(np.mean(g - mc)),
                     float(np.mean(c - mc))))
    return rows


def main(argv=None) -> int:
    args = diagnostic_args(
        __doc__.splitlines()[0], argv,
        {"n": (512, 16, "samples (>= 16)"), "mc": (100_000, 1000, "Monte Carlo neurons (>= 1000)")},
        extra=lambda ap: ap.add_argument(
            "--out", default=None, help="also write the tables to this markdown file (atomically)"))
    t0 = time.time()
    n = args.n
    lines = [f"# Lattice pre-activations (diagnostic)\n\n`python -m "
             f"theory_checks.diagnostics.lattice_preactivations --n {n} --mc {args.mc}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; see the module "
             f"docstring for the setting.\n"]

    def print(*a, flush=False):  # noqa: A001 -- echo to stdout and keep for --out
        text = " ".join(str(x) for x in a)
        lines.append(text)
        builtins.print(text, flush=True)

    print(f"1. layer-2 activation on ternary layer-1 features (n = {n}); mean diagonal "
          "error against the exact enumeration")
    print("| eps | d | layer 2 | exact | Gaussian map - exact | corrected - exact | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in table_activations(n, [(0.8, n), (0.8, n // 4), (0.95, n), (0.95, n // 4)]):
        print(f"| {r[0]:g} | {r[1]} | {r[2]} | {r[3]:.5f} | {r[4]:+.6f} | {r[5]:+.6f} "
              f"| {r[6]:.2f} |", flush=True)
    rows = min(n, 128)
    print(f"\n2. ternary on ternary, d = {n}, first {rows} samples: both thresholds shifted by "
          f"delta * u, u = 1/sqrt(d (1 - eps)), delta = j/{PHASES}, j < {PHASES} (one period "
          "of the coarse lattice)")
    print("| eps | u | m_1 | Gaussian - exact: phase mean [min, max] | corrected - exact: "
          "phase mean [min, max] |")
    print("|---|---|---|---|---|")
    details = {}
    for eps in (0.95, 0.8):
        u, m1, tab = table_phase(n, eps, n, PHASES, rows)
        g = np.array([r[2] for r in tab])
        c = np.array([r[3] for r in tab])
        details[eps] = tab
        print(f"| {eps:g} | {u:.4f} | {m1:+.5f} (1/m_1 = {1 / m1:+.2f}) | {g.mean():+.6f} "
              f"[{g.min():+.5f}, {g.max():+.5f}] | {c.mean():+.6f} [{c.min():+.5f}, "
              f"{c.max():+.5f}] |", flush=True)
    print(f"\nFirst {FIRST} phases of eps = 0.8 (the fine period |m_1| u):")
    print("| delta | exact | Gaussian - exact | corrected - exact |")
    print("|---|---|---|---|")
    for r in details[0.8][:FIRST]:
        print(f"| {r[0]:.5f} | {r[1]:.5f} | {r[2]:+.5f} | {r[3]:+.5f} |")
    print(f"\n3. ternary layer 2 on continuous (ReLU, erf) and ternary layer-1 features, "
          f"eps = 0.95, d = {n}; Monte Carlo over {args.mc} neurons")
    print("| layer 1 | MC mean | +- se (upper bound) | Gaussian map - MC | corrected - MC |")
    print("|---|---|---|---|---|")
    for r in table_continuous(n, 0.95, n, args.mc):
        print(f"| {r[0]} | {r[1]:.5f} | {r[2]:.5f} | {r[3]:+.5f} | {r[4]:+.5f} |", flush=True)
    print(f"\n({time.time() - t0:.0f} s)")
    if args.out:
        from ntkcomp._io import atomic_write_text

        atomic_write_text(args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
