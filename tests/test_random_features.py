"""Regression tests for the random-features law sampler (THEORY section 6) and its
LAPACK-robust eigensolver (scipy ``eigh`` "Internal Error" seen in compress_example)."""
import jax
import numpy as np
import pytest
import scipy.linalg

from ntkcomp.spectral import _random_features as rfmod
from ntkcomp.spectral import random_features_spectrum


def _kernel(n, rank, seed=0):
    """A PSD kernel of given rank (rank < n: exactly singular, so rounding makes some
    eigenvalues slightly negative -- the case that needs clipping)."""
    A = np.random.default_rng(seed).standard_normal((n, rank))
    K = A @ A.T / rank + 0.5 * np.outer(np.ones(n), np.ones(n)) / n
    return K


def _sqrt_form(K, d, key, draws):
    """Independent reference: the definition M = K^{1/2} G G^T K^{1/2} / d with the square
    root from numpy's eigh and the same Gaussian G (seeds derived exactly as in the module:
    one int per draw from ``jax.random.randint(key, (draws,), 0, 2**31 - 1)``)."""
    w, U = np.linalg.eigh(0.5 * (K + K.T))
    S = (U * np.sqrt(np.clip(w, 0, None))) @ U.T
    seeds = np.asarray(jax.random.randint(key, (draws,), 0, 2 ** 31 - 1))
    out = []
    for s in seeds:
        G = np.random.default_rng(int(s)).standard_normal((K.shape[0], d))
        Y = S @ G / np.sqrt(d)
        out.append(np.sort(np.linalg.eigvalsh(Y @ Y.T)))
    return np.array(out)


@pytest.mark.parametrize("d", [20, 60, 200])   # d < n, d = n, d > n
def test_spectrum_equals_square_root_form(d):
    n = 60
    K = _kernel(n, rank=45)
    key = jax.random.PRNGKey(3)
    got = random_features_spectrum(K, d, key, draws=2)
    ref = _sqrt_form(K, d, key, 2)
    # same G, algebraically identical nonzero spectra: only rounding differs (~1e-13 of
    # the top eigenvalue ~ 5; clipped tiny negatives of the reference are ~1e-15)
    np.testing.assert_allclose(got, np.clip(ref, 0, None), atol=1e-10 * ref.max())


def test_spectrum_moments_match_the_law():
    """E tr(M)/n = tr(K)/n and E tr(M^2)/n = tr(K^2)/n + tr(K)^2/(n d) for Gaussian G
    (Wishart moments): Monte Carlo over 400 draws, tolerance 5 standard errors."""
    n, d = 40, 25
    K = _kernel(n, rank=40, seed=1)
    ev = random_features_spectrum(K, d, 11, draws=400)
    m1 = ev.sum(1) / n
    m2 = (ev ** 2).sum(1) / n
    e1 = np.trace(K) / n
    e2 = np.trace(K @ K) / n + np.trace(K) ** 2 / (n * d)
    assert abs(m1.mean() - e1) <= 5 * m1.std() / np.sqrt(400)
    assert abs(m2.mean() - e2) <= 5 * m2.std() / np.sqrt(400)


def _failing_eigh(real):
    calls = {"n": 0}

    def fake(a, *args, **kw):
        calls["n"] += 1
        if kw.get("driver") in ("evr", "evd", None):
            raise np.linalg.LinAlgError("Internal Error.")   # what scipy raised
        return real(a, *args, **kw)
    return fake, calls


def test_psd_sqrt_survives_lapack_internal_error(monkeypatch):
    """scipy.linalg.eigh raising LinAlgError('Internal Error') (driver evr/evd) must fall
    back to another driver; the square root is checked by squaring it (independent)."""
    fake, calls = _failing_eigh(scipy.linalg.eigh)
    monkeypatch.setattr(rfmod.scipy.linalg, "eigh", fake)
    K = _kernel(50, rank=30, seed=2)
    S, w = rfmod.psd_sqrt(K)
    assert calls["n"] >= 1
    # K is PSD up to rounding: S^2 reproduces it to ~1e-13 relative (eigenvalues clipped
    # at 0 move it by at most the clipped magnitude, ~1e-15)
    np.testing.assert_allclose(S @ S, K, atol=1e-11 * np.abs(K).max())
    assert np.all(w >= 0)


def test_psd_sqrt_all_scipy_drivers_fail_uses_numpy(monkeypatch):
    def always_fail(*a, **k):
        raise np.linalg.LinAlgError("Internal Error.")
    monkeypatch.setattr(rfmod.scipy.linalg, "eigh", always_fail)
    K = _kernel(30, rank=30, seed=4)
    S, _ = rfmod.psd_sqrt(K)
    np.testing.assert_allclose(S @ S, K, atol=1e-11 * np.abs(K).max())
    ev = random_features_spectrum(K, 10, 0)      # d < n path, eigvals only
    assert ev.shape == (1, 30) and np.all(ev >= 0) and np.count_nonzero(ev[0]) == 10


def test_asymmetric_rounding_and_float32_input():
    """A float32, slightly asymmetric kernel (as produced by float32 kernels) is accepted:
    symmetrised in float64; result equals that of the symmetrised float64 matrix."""
    K = _kernel(40, rank=20, seed=5)
    Kn = (K + 1e-7 * np.triu(np.ones_like(K), 1)).astype(np.float32)
    a = random_features_spectrum(Kn, 30, 1)
    Ks = 0.5 * (Kn.astype(np.float64) + Kn.astype(np.float64).T)
    b = random_features_spectrum(Ks, 30, 1)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_kernel_rejected(bad):
    K = _kernel(10, rank=10)
    K[2, 3] = bad
    with pytest.raises(ValueError, match="K_tilde"):
        random_features_spectrum(K, 5, 0)
    with pytest.raises(ValueError, match="square"):
        random_features_spectrum(np.ones((3, 4)), 5, 0)
