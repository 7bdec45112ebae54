"""Dense spectral toolkit against NumPy/SciPy and closed forms (Marchenko-Pastur)."""
import numpy as np
import pytest
import scipy.stats

from ntkcomp.spectral import (
    class_alignment,
    eigenvalues,
    random_features_density,
    random_features_spectrum,
    relative_operator_error,
    spectral_density,
    spikes,
    top_eigenpairs,
    wasserstein1,
    wasserstein1_to_density,
)
from ntkcomp.spectral._dense import subspace_alignment
from ntkcomp.spectral._distances import density_quantiles, ks_distance
from ntkcomp.spectral._random_features import marchenko_pastur_density, support_edge
from experiments.harness.spectral_plots import plot_eigenvectors, plot_spectrum, save_figure


def _sym(n, seed=0):
    A = np.random.default_rng(seed).standard_normal((n, n))
    return (A + A.T) / np.sqrt(2 * n)


def test_eigenvalues_and_top_pairs():
    K = _sym(80)
    ref = np.linalg.eigvalsh(K)
    np.testing.assert_allclose(eigenvalues(K), ref, atol=1e-12)
    vals, vecs, resid, conv = top_eigenpairs(K, None, 5, method="dense")
    np.testing.assert_allclose(vals, ref[::-1][:5], atol=1e-12)
    np.testing.assert_allclose(K @ vecs, vecs * vals, atol=1e-10)
    np.testing.assert_allclose(resid, np.linalg.norm(K @ vecs - vecs * vals, axis=0))
    assert np.all(conv)
    low = top_eigenpairs(K, None, 3, method="dense", which="smallest")
    np.testing.assert_allclose(low.values, ref[:3], atol=1e-12)
    with pytest.raises(ValueError, match="k must"):
        top_eigenpairs(K, None, 81, method="dense")
    with pytest.raises(ValueError, match="key"):
        top_eigenpairs(K, None, 2)
    with pytest.raises(ValueError, match="square"):
        eigenvalues(np.ones((3, 4)))


def test_distances_vs_scipy():
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=300), rng.gamma(2.0, size=300), rng.normal(1, 2, size=170)
    for x, y in [(a, b), (a, c), (b, c)]:
        np.testing.assert_allclose(wasserstein1(x, y), scipy.stats.wasserstein_distance(x, y),
                                   rtol=1e-12)
        np.testing.assert_allclose(ks_distance(x, y), scipy.stats.ks_2samp(x, y).statistic,
                                   rtol=1e-12)


@pytest.mark.parametrize("n", [50, 700])  # dense eigh path and the eigsh path
def test_relative_operator_error_vs_numpy(n):
    A, B = _sym(n, 2), _sym(n, 3) + 3 * np.eye(n)
    ref = np.linalg.norm(A - B, 2) / np.linalg.norm(B, 2)
    np.testing.assert_allclose(relative_operator_error(A, B), ref, rtol=1e-8)


def test_spectral_density_normalised():
    e = np.random.default_rng(0).normal(size=2000)
    _, f = spectral_density(e, bins=40)
    np.testing.assert_allclose(np.sum(f * np.diff(np.linspace(e.min(), e.max(), 41))), 1.0,
                               rtol=1e-12)
    g = np.linspace(-5, 5, 801)
    _, fk = spectral_density(e, grid=g)
    # the KDE of N(0,1) samples is close to the normal density (bandwidth ~0.2, n = 2000)
    assert np.max(np.abs(fk - scipy.stats.norm.pdf(g))) < 0.05


def test_spikes_planted():
    # Wishart bulk (MP, c = 1/2, edge (1 + sqrt(1/2))^2 = 2.91) plus 3 planted population
    # spikes 8, 12, 20: the sample spikes are well separated from the bulk edge.
    n, d = 400, 800
    rng = np.random.default_rng(4)
    pop = np.ones(n)
    pop[:3] = [20.0, 12.0, 8.0]
    Y = np.sqrt(pop)[:, None] * rng.standard_normal((n, d)) / np.sqrt(d)
    e = eigenvalues(Y @ Y.T)
    found = spikes(e)
    assert found.size == 3 and np.all(found > 5)
    edge = (1 + np.sqrt(n / d)) ** 2
    np.testing.assert_array_equal(spikes(e, edge=edge), found)
    # pure bulk: no spike by the gap rule
    Y0 = rng.standard_normal((n, d)) / np.sqrt(d)
    assert spikes(eigenvalues(Y0 @ Y0.T)).size == 0


def test_class_alignment_and_subspaces():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    n = labels.size
    u_class = np.where(labels == 1, 1.0, 0.0)
    rng = np.random.default_rng(0)
    r = rng.standard_normal(n)
    r_perp = r.copy()
    for c in range(3):  # remove the class means: orthogonal to every indicator
        r_perp[labels == c] -= r_perp[labels == c].mean()
    al = class_alignment(np.stack([u_class, r_perp, r], 1), labels)
    np.testing.assert_allclose(al[:2], [1.0, 0.0], atol=1e-12)
    # a random unit vector has E ||P_J u||^2 = K/n = 0.03
    assert 0.0 < al[2] < 0.2
    Q, _ = np.linalg.qr(rng.standard_normal((n, 4)))
    np.testing.assert_allclose(subspace_alignment(Q, Q @ np.diag([1, -1, 1, -1])), 1.0)


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_random_features_density_is_marchenko_pastur_for_identity(c):
    n = 300
    grid = np.linspace(1e-3, (1 + np.sqrt(c)) ** 2 * 1.1, 600)
    g, f, atom = random_features_density(np.ones(n), c, grid=grid)
    mp = marchenko_pastur_density(g, c)
    # away from the square-root edges the fixed point reproduces the closed form to ~1e-4
    # (the residual is the final eta = 1e-7 smoothing and Newton tolerance)
    lo, hi = (1 - np.sqrt(c)) ** 2, (1 + np.sqrt(c)) ** 2
    inner = (g > lo + 0.05) & (g < hi - 0.05)
    np.testing.assert_allclose(f[inner], mp[inner], atol=1e-4)
    np.testing.assert_allclose(atom, max(0.0, 1 - 1 / c))
    np.testing.assert_allclose(np.trapezoid(f, g) + atom, 1.0, atol=5e-3)
    np.testing.assert_allclose(support_edge(g, f), hi, rtol=0.02)


def test_random_features_density_vs_sampled_spectrum():
    # population: uniform bulk on [0.5, 2] plus two spikes; n = 400, d = 200 and d = 800
    rng = np.random.default_rng(5)
    lam = np.concatenate([rng.uniform(0.5, 2.0, 398), [9.0, 25.0]])
    Q, _ = np.linalg.qr(rng.standard_normal((400, 400)))
    K = (Q * lam) @ Q.T
    for d in (200, 800):
        c = 400 / d
        g, f, atom = random_features_density(lam, c)
        samp = random_features_spectrum(K, d, key=3, draws=2)
        # finite-n fluctuations of a sampled spectrum around its limit are O(1/n) in the bulk
        # plus the spikes' O(n^-1/2)/n; measured W1 ~ 0.003-0.012 at n = 600: bound 0.025,
        # while a wrong ratio (c -> 2c) moves W1 by > 0.05.
        for e in samp:
            assert wasserstein1_to_density(e, g, f, atom=atom) < 0.025
        if d == 800:
            g2, f2, a2 = random_features_density(lam, 2 * c)
            assert wasserstein1_to_density(samp[0], g2, f2, atom=a2) > 0.05
        # quantiles of the predicted law give an equivalent W1 between spectra
        q = density_quantiles(g, f, 400, atom=atom)
        assert wasserstein1(q, samp[0]) < 0.03


def test_density_quantiles_and_w1_uniform():
    g = np.linspace(0, 1, 1001)
    f = np.ones_like(g)
    q = density_quantiles(g, f, 10)
    np.testing.assert_allclose(q, (np.arange(10) + 0.5) / 10, atol=1e-9)
    # W1 between the point set {0.05, ..., 0.95} and U(0,1) is 1/(4m) = 0.025
    np.testing.assert_allclose(wasserstein1_to_density(q, g, f), 0.025, rtol=1e-3)
    # atom handling: half the mass at 0
    qa = density_quantiles(g, f, 10, atom=0.5)
    np.testing.assert_allclose(qa[:5], 0.0)
    np.testing.assert_allclose(qa[5:], (np.arange(5) + 0.5) / 5, atol=1e-9)
    with pytest.raises(ValueError, match="atom"):
        density_quantiles(g, f, 10, atom=1.0)


def test_plots_write_png(tmp_path):
    import matplotlib.pyplot as plt

    e = np.random.default_rng(0).gamma(3, size=500)
    fig, axes = plt.subplots(1, 2)
    plot_spectrum(e, [(np.linspace(0, 15, 100), scipy.stats.gamma.pdf(np.linspace(0, 15, 100),
                                                                      3), "gamma(3)")],
                  ax=axes[0], clip_quantile=0.99, title="t")
    labels = np.repeat([0, 1], 250)
    plot_eigenvectors(np.random.default_rng(1).standard_normal((500, 2)), labels,
                      axes=[axes[1], axes[1]])
    out = tmp_path / "s.png"
    save_figure(fig, out)
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"
