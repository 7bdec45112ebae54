"""Step activations on lattice-valued pre-activations (theory_checks/diagnostics/
lattice_preactivations.py): the exact enumeration, and the diagnosis it supports -- the
first Edgeworth (weight-kurtosis) term is right for smooth activations on quantized
inputs, and for a step activation there only on average over where its thresholds sit on
the lattice of pre-activation values: for one network the lattice phase term dominates. Also the
Monte Carlo layer map of theory_checks/diagnostics/relu_sparse_layers.py (last test).

Setting (small, ~5 s): n = 32 samples of the ``mixed`` GMM, a ternary layer 1 of width
d = 128 with sparse ternary weights eps = 0.95 (so ~6 non-zero weights per layer-2 neuron,
where the lattice is coarse: u = 1/sqrt(d (1 - eps)) = 0.40 against tau_1 ~ 0.7).
"""
import numpy as np
import pytest

from ntkcomp.activations import get
from theory_checks.diagnostics.lattice_preactivations import (
    MAX_VALUES,
    _setup,
    _with_layer2,
    exact_diagonal,
    layer2_maps,
    monte_carlo_diagonal,
    table_phase,
    ternary_sum_pmf,
)

N, D, EPS = 32, 128, 0.95


@pytest.fixture(scope="module")
def ternary_features():
    return _setup(N, D, EPS)


def test_ternary_sum_pmf_against_direct_enumeration():
    import itertools

    eps, c = 0.7, 5
    p = {-1: (1 - eps) / 2, 0: eps, 1: (1 - eps) / 2}
    direct = np.zeros(2 * c + 1)
    for xs in itertools.product((-1, 0, 1), repeat=c):
        direct[sum(xs) + c] += np.prod([p[x] for x in xs])
    np.testing.assert_allclose(ternary_sum_pmf(c, eps), direct, rtol=1e-13, atol=1e-16)


def test_exact_diagonal_against_monte_carlo(ternary_features):
    # 50000 independent neurons: per-sample z-scores; the max over 32 samples of |N(0,1)|
    # exceeds 4.5 with probability ~2e-4, so 4.5 tolerates only the Monte Carlo noise
    net, H = ternary_features
    act, m = net.activations[1], float(net.centers[1])
    ex, dropped = exact_diagonal(act, m, H, EPS)
    mc, se = monte_carlo_diagonal(act, m, H, EPS, draws=50_000, seed=3)
    assert dropped < 1e-12
    assert np.max(np.abs(mc - ex) / se) < 4.5


@pytest.mark.parametrize("name", ["erf", "tanh"])
def test_correction_is_right_for_smooth_activations_on_quantized_inputs(ternary_features,
                                                                        name):
    # measured: Gaussian-map error +7.8e-3 (erf) / +5.9e-3 (tanh), corrected 3.9e-4 / 2.8e-4
    # (the next order, (kappa4 / k)^2 with ~6 non-zero weights); 0.1 leaves 2x room
    base, H = ternary_features
    net = _with_layer2(base, get(name))
    ex, _ = exact_diagonal(net.activations[1], float(net.centers[1]), H, EPS)
    g, c = layer2_maps(net, H)
    assert np.max(np.abs(c - ex)) < 0.1 * np.max(np.abs(g - ex))
    assert abs(np.mean(c - ex)) < 0.1 * abs(np.mean(g - ex))


def test_step_activation_on_lattice_kurtosis_term_right_on_phase_average_only():
    # Ternary on ternary features, d = 512 (26 non-zero weights per neuron), 32 samples;
    # both thresholds shifted by delta * u over one lattice unit in 256 steps (the fine
    # period |m_1| u ~ u/16 gets 16 steps). Measured: the Gaussian map's error ranges over
    # [-0.0042, +0.0077] with phase mean +3.4e-3; the corrected map's phase mean is -1.2e-4
    # (0.04 of it) while its own range [-0.0082, +0.0044] is 3.6x its mean shift from the
    # Gaussian map (-3.5e-3): the kappa4 term is right on average over the threshold's
    # position on the lattice, but for one network the lattice phase term dominates.
    u, m1, rows = table_phase(32, EPS, 512, phases=256, rows=32)
    g = np.array([r[2] for r in rows])
    c = np.array([r[3] for r in rows])
    assert u == pytest.approx(1 / np.sqrt(512 * (1 - EPS)))
    assert g.max() > 0 > g.min() and c.max() > 0 > c.min()
    assert abs(c.mean()) < 0.15 * abs(g.mean())
    assert c.max() - c.min() > 2 * abs(np.mean(c - g))


def test_exact_diagonal_bad_inputs():
    act = get("erf")
    with pytest.raises(ValueError, match="MAX_VALUES"):
        exact_diagonal(act, 0.0, np.linspace(0, 1, 2 * (MAX_VALUES + 1)).reshape(2, -1), 0.5)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\)"):
        exact_diagonal(act, 0.0, np.ones((2, 3)), 1.0)
    with pytest.raises(ValueError, match="shape"):
        exact_diagonal(act, 0.0, np.ones(3), 0.5)
    with pytest.raises(ValueError, match="count"):
        ternary_sum_pmf(-1, 0.5)


def test_relu_sparse_layers_monte_carlo_map_and_its_noise():
    # theory_checks/diagnostics/relu_sparse_layers.mc_layer_map against the exact
    # expectation over all 2^10 Rademacher weight vectors (eps = 0), and its noise estimate
    # (two halves) against the actual error over 8 independent runs: the ratio of a
    # chi-like rms over 8 runs to its expectation lies in [0.6, 1.6] with probability
    # > 0.99 (each run's error is a sum over 24000 draws, close to Gaussian)
    import itertools

    from theory_checks.diagnostics.relu_sparse_layers import mc_layer_map

    act = get("relu")
    rng = np.random.default_rng(0)
    H = rng.standard_normal((6, 10)) / np.sqrt(10)
    m = 0.3
    exact = np.zeros((6, 6))
    for w in itertools.product((-1.0, 1.0), repeat=10):
        h = np.asarray(act(H @ np.asarray(w))) - m
        exact += np.outer(h, h) / 2 ** 10
    # (measured ratios 1.03-1.24 in three sets of 8 runs). Unbiasedness: the mean of the 8
    # estimates is within 2x its own noise (noise / sqrt(8)) of the exact matrix (a wrong
    # normalisation, e.g. dividing by the wrong number of draws, fails both checks).
    Es, errs, noises = [], [], []
    for seed in range(8):
        E, noise = mc_layer_map(act, m, H, 0.0, 24_000, np.random.default_rng(seed), chunk=2000)
        Es.append(E)
        errs.append(np.linalg.norm(E - exact) / np.linalg.norm(exact))
        noises.append(noise)
    rms = np.sqrt(np.mean(np.square(errs)))
    assert 0.6 < rms / np.mean(noises) < 1.6
    bias = np.linalg.norm(np.mean(Es, axis=0) - exact) / np.linalg.norm(exact)
    assert bias < 2 * np.mean(noises) / np.sqrt(8)
