"""The reference-spectrum figure's pieces: the shipped reference histograms, the binned W1,
the structured eigenvalues, and the cheap part of the n = 8000 comparison.

The reference histograms are the 50-bin tables committed by the paper's reference code
(``tests/data/reference_hist_*.csv``, sources in ``tests/data/reference_hist_sources.json``).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest

import ntkcomp
from ntkcomp.activations import get
from ntkcomp.data import GMMSample, gmm_preset
from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
from ntkcomp.networks import MLP
from paper_figures import reference_spectrum as R

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True, scope="module")
def _x64():
    ntkcomp.enable_x64()


def _csv_histogram(name):
    with open(DATA / f"reference_hist_{name}.csv") as f:
        rows = list(csv.DictReader(f))
    edges = np.array([float(r["bins1"]) for r in rows])
    counts = np.array([float(r["n1"]) for r in rows])
    assert counts[-1] == 0.0  # the reference appends a 0 to n1 to match the 51 edges
    return edges, counts[:-1]


@pytest.mark.parametrize("name,n", [("means_binary_n8000", 8000), ("mnist68_n3200", 3200)])
def test_embedded_reference_tables_equal_the_shipped_files(name, n):
    edges, counts = _csv_histogram(name)
    e, c = R.reference_histogram(name)
    np.testing.assert_allclose(e, edges, rtol=1e-13)
    np.testing.assert_array_equal(c, counts)
    assert counts.sum() == n
    sources = json.loads((DATA / "reference_hist_sources.json").read_text())
    assert f"reference_hist_{name}.csv" in sources["files"]
    assert len(sources["commit"]) == 40


def _direct_w1(xa, wa, xb, wb):
    """W1 of two discrete distributions: the integral of ``|F_a - F_b|`` over the union of
    their supports (written out here, independent of ``ntkcomp.spectral``)."""
    x = np.union1d(xa, xb)
    Fa = np.array([wa[xa <= v].sum() for v in x]) / wa.sum()
    Fb = np.array([wb[xb <= v].sum() for v in x]) / wb.sum()
    return float(np.sum(np.abs(Fa - Fb)[:-1] * np.diff(x)))


def test_binned_w1_against_direct_definition():
    """Zero against its own histogram; a shift of every eigenvalue by ``d`` gives ``d``; an
    unrelated spectrum gives the W1 of the two bin-centre distributions computed directly."""
    rng = np.random.default_rng(0)
    eigs = np.concatenate([np.full(500, 0.3), rng.uniform(0.3, 4.4, 500), [13.6]])
    edges, counts = R.reference_binning(eigs)
    assert len(edges) == 51 and counts.sum() == eigs.size
    assert R.binned_w1(eigs, edges, counts) == pytest.approx(0.0, abs=1e-12)
    assert R.binned_w1(eigs + 0.37, edges, counts) == pytest.approx(0.37, rel=1e-9)
    other = rng.gamma(2.0, 0.7, 800)
    c2, e2 = np.histogram(other, bins=50, range=(other.min(), other.max()))
    centres = lambda x: 0.5 * (x[1:] + x[:-1])  # noqa: E731
    expected = _direct_w1(centres(e2), c2.astype(float), centres(edges), counts)
    assert R.binned_w1(other, edges, counts) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("kind", ["ck", "ntk"])
def test_structured_eigenvalues_equal_dense(kind):
    s = gmm_preset("official_mixed", 24, K=2).sample(jax.random.PRNGKey(1), 70)
    net = MLP([50, 50], [get("tanh"), get("sin")], tau0=float(s.stats.tau0))
    k = (ck_equivalent if kind == "ck" else ntk_equivalent)(net, s)
    dense = np.linalg.eigvalsh(np.asarray(k, dtype=float))
    np.testing.assert_allclose(R.structured_eigenvalues(k), dense, rtol=1e-10, atol=1e-10)


def test_reference_stats_follow_the_reference_definitions():
    """``tau0^2 = mean_i ||x_i||^2`` and ``t = (tr(C_a)/p - tau0^2) sqrt(p)`` (the reference's
    ``estim_tau_tensor`` and ``calculate_NTK_tilde``), other statistics unchanged."""
    p = 300
    s = gmm_preset("official_mixed", p, K=2).sample(jax.random.PRNGKey(2), 200)
    st = R.reference_stats(s)
    X = np.asarray(s.X)
    tau0_sq = np.mean(np.diag(X @ X.T))
    np.testing.assert_allclose(float(st.tau0) ** 2, tau0_sq, rtol=1e-12)
    traces = np.array([1.0, 1.0 + 8 / math.sqrt(p)])
    np.testing.assert_allclose(np.asarray(st.t), (traces - tau0_sq) * math.sqrt(p), rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(st.T), np.asarray(s.stats.T))
    np.testing.assert_array_equal(np.asarray(st.phi), np.asarray(s.stats.phi))


# Binned W1 of ntkcomp's NTK equivalent (sin x 3, official_means_binary, p = n/2) to the
# reference's n = 8000 histogram, computed at n = 2000 (the same p/n).
W1_TOL = 0.04


def _equivalent_w1(n, *, p=None, act="sin", kind="ntk", preset="official_means_binary",
                   seed=0):
    edges, counts = R.reference_histogram("means_binary_n8000")
    s = gmm_preset(preset, p or n // 2, K=2).sample(jax.random.PRNGKey(seed), n)
    s = GMMSample(X=s.X, labels=s.labels, stats=R.reference_stats(s), Z=s.Z)
    net = MLP(list(R.WIDTHS), [get(act)] * len(R.WIDTHS), tau0=float(s.stats.tau0))
    k = (ntk_equivalent if kind == "ntk" else ck_equivalent)(net, s)
    return R.binned_w1(R.structured_eigenvalues(k), edges, counts)


def test_equivalent_reproduces_the_reference_n8000_histogram():
    """ntkcomp's NTK equivalent at n = 2000, p = 1000 (the reference's p/n = 1/2) against
    the reference's committed n = 8000 histogram: binned W1 <= ``W1_TOL`` = 0.04, about 4 %
    of the histogram's mean eigenvalue (1.07) and a seventh of its bin width (0.27).

    Why this tolerance. At the same p/n the law of the spectrum is the same; what differs
    at n = 2000 is: the isolated spike's mass (1/n against 1/8000, about 12.5 above the
    bulk's mean: ``(1/2000 - 1/8000) * 12.5 ~ 0.005``); the spike's position, which sets
    the bin width of the reference-style binning (50 bins up to the largest eigenvalue) and
    so where the bulk's mass sits inside each bin (up to half a bin width, 0.14, for a
    fraction of the bulk); and the identity level ``kappa^2 - beta_1 tau0^2`` through the
    drawn ``tau0^2 = 1 + 8/p + O(1/sqrt(n p))``. Data seeds 0, 1, 2 give binned W1 of
    0.016 to 0.024; the tolerance is about twice the largest. Settings the test must reject
    are far above it: the CK instead of the NTK, tanh instead of sin, p/n = 0.4 instead of
    0.5, the ``official_mixed`` data (each checked here, at n = 1000, to exceed twice the
    tolerance; two layers instead of three is not rejected: for sin the layer-2 and
    layer-3 NTK spectra are too close for a 50-bin histogram to tell apart)."""
    w1 = _equivalent_w1(2000)
    assert w1 <= W1_TOL, w1
    for wrong in ({"kind": "ck"}, {"act": "tanh"}, {"p": 400},
                  {"preset": "official_mixed"}):
        assert _equivalent_w1(1000, **wrong) > 2 * W1_TOL, wrong
