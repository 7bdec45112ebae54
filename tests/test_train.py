"""ntkcomp.train: ridge closed form, Adam readout with early stopping on a validation split,
lazy regime, pruning baselines (and the lab's frozen protocol built on them)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.accuracy.protocol import class_targets, frozen_protocol, lazy_comparison
from ntkcomp.networks import MLP
from ntkcomp.train import (
    magnitude_prune,
    network_bits,
    random_sparsify,
    ridge_fit,
    ridge_predict,
    train_readout,
)
from ntkcomp.train._sparsify import keep_count, sparse_float_bits


@pytest.mark.parametrize("n,d,K", [(40, 10, 1), (12, 30, 3)])   # primal and dual branch
def test_ridge_matches_lstsq_on_augmented_system(n, d, K):
    rng = np.random.default_rng(0)
    H = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, K)) if K > 1 else rng.standard_normal(n)
    lam = 0.3
    model = ridge_fit(H, Y, lam)
    # independent solve: min ||[H 1] [W; b] - Y||^2 + lam ||W||^2 as one least squares
    A = np.block([[H, np.ones((n, 1))], [np.sqrt(lam) * np.eye(d), np.zeros((d, 1))]])
    Yb = np.concatenate([Y.reshape(n, -1), np.zeros((d, Y.reshape(n, -1).shape[1]))])
    sol = np.linalg.lstsq(A, Yb, rcond=None)[0]
    # both are backward-stable solves of a system with condition number <= ~1e3 here:
    # agreement to 1e-10 in float64 leaves a wide margin
    np.testing.assert_allclose(np.asarray(model.W).reshape(d, -1), sol[:d], atol=1e-10)
    np.testing.assert_allclose(np.asarray(model.b).reshape(-1), sol[d], atol=1e-10)
    np.testing.assert_allclose(np.asarray(ridge_predict(model, H)).reshape(n, -1),
                               A[:n] @ sol, atol=1e-10)


def test_ridge_bad_input():
    with pytest.raises(ValueError, match="lam"):
        ridge_fit(np.ones((3, 2)), np.ones(3), 0.0)
    with pytest.raises(ValueError, match="Y"):
        ridge_fit(np.ones((3, 2)), np.ones(4), 1.0)
    with pytest.raises(ValueError, match="H"):
        ridge_fit(np.full((3, 2), np.nan), np.ones(3), 1.0)


def _blobs(n, p, seed):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), n // 2)
    mu = np.zeros((2, p))
    mu[0, 0], mu[1, 1] = 3.0, 3.0
    X = (mu[labels] + rng.standard_normal((n, p))) / np.sqrt(p)
    return jnp.asarray(X), jnp.asarray(labels)


def test_adam_readout_reduces_cross_entropy_and_classifies():
    X, y = _blobs(64, 8, 0)
    net = MLP([64], "relu")
    H = net.features(net.init(jax.random.PRNGKey(0), 8), X)[-1]
    res = train_readout(H, y, steps=300, lr=0.05)
    assert float(res.losses[0]) == pytest.approx(np.log(2), rel=1e-12)  # zero head: log K
    assert float(res.losses[-1]) < 0.5 * float(res.losses[0])
    assert np.all(np.diff(np.asarray(res.losses[:50])) < 0)  # monotone start
    out = frozen_protocol(net, net.init(jax.random.PRNGKey(0), 8), X, y, X, y, method="adam",
                          steps=300, lr=0.05)
    assert out["train_acc"] >= 0.9
    out_r = frozen_protocol(net, net.init(jax.random.PRNGKey(0), 8), X, y, X, y, lam=1e-2)
    assert out_r["train_acc"] >= 0.9
    with pytest.raises(ValueError, match="method"):
        frozen_protocol(net, net.init(jax.random.PRNGKey(0), 8), X, y, X, y, method="sgd")


def _cross_entropy(H, y, W, b):
    """Mean softmax cross-entropy in NumPy (independent of optax)."""
    z = np.asarray(H) @ np.asarray(W) + np.asarray(b)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-np.mean(logp[np.arange(len(y)), np.asarray(y)]))


def test_readout_early_stops_on_a_validation_split_of_the_training_rows():
    # no signal (random labels) and d > n: the fitted rows are memorised, the held-out
    # validation loss rises after a few steps, so early stopping must pick an early step
    rng = np.random.default_rng(5)
    n, d = 60, 80
    H = jnp.asarray(rng.standard_normal((n, d)))
    y = jnp.asarray(rng.integers(0, 3, n))
    steps, patience = 200, 15
    res = train_readout(H, y, steps=steps, lr=0.05, validation_fraction=0.25,
                        patience=patience, seed=3)
    val = np.asarray(res.val_index)
    fit = np.setdiff1d(np.arange(n), val)
    assert val.size == 15 and np.unique(val).size == 15
    vl = np.asarray(res.val_losses)
    assert vl.shape == (steps,) and res.best_step < steps - patience
    # the returned head has the reported validation loss (independent NumPy evaluation)...
    assert _cross_entropy(H[val], y[val], res.W, res.b) == pytest.approx(
        vl[res.best_step], rel=1e-10)
    # ...which is the lowest before `patience` steps without improvement
    assert vl[res.best_step] == vl[: res.best_step + patience + 1].min()
    assert np.all(vl[res.best_step + 1: res.best_step + patience + 1] >= vl[res.best_step])
    # the validation rows were never fitted: the same head comes from training on the
    # other rows alone for best_step + 1 steps
    ref = train_readout(H[fit], y[fit], num_classes=3, steps=res.best_step + 1, lr=0.05,
                        validation_fraction=0.0)
    np.testing.assert_allclose(np.asarray(res.W), np.asarray(ref.W), rtol=1e-9, atol=1e-12)
    assert ref.val_losses.shape == (0,) and ref.best_step == res.best_step


def test_readout_bad_input_names_the_parameter():
    H, y = jnp.ones((10, 3)), jnp.asarray([0, 1] * 5)
    for kwargs, name in (({"validation_fraction": 1.0}, "validation_fraction"),
                         ({"patience": 0}, "patience"), ({"steps": 2.5}, "steps"),
                         ({"lr": float("nan")}, "lr"), ({"num_classes": 1}, "num_classes")):
        with pytest.raises(ValueError, match=name):
            train_readout(H, y, **kwargs)
    with pytest.raises(ValueError, match="H must be finite"):
        train_readout(H.at[0, 0].set(jnp.inf), y)
    with pytest.raises(ValueError, match="labels must lie"):
        train_readout(H, y.at[0].set(5), num_classes=2)


def test_class_targets_centred():
    T = class_targets(jnp.array([0, 2, 1]), 3)
    np.testing.assert_allclose(T.sum(1), 0.0, atol=1e-15)
    assert list(np.asarray(T.argmax(1))) == [0, 2, 1]


@functools.cache
def _net(d):
    return MLP([d, d], "tanh")


def _lazy_run(d, seed):
    rng = np.random.default_rng(3)
    n, p = 24, 16
    X = jnp.asarray(rng.standard_normal((n, p)) / np.sqrt(p))
    y = jnp.sign(X[:, 0])
    Xt = jnp.asarray(rng.standard_normal((16, p)) / np.sqrt(p))
    net = _net(d)
    return lazy_comparison(net.apply, net.init(jax.random.PRNGKey(seed), p), X, y, Xt,
                           lr=1.0, steps=100)


def _mean_runs(d, seeds=(0, 1)):
    runs = [_lazy_run(d, s) for s in seeds]
    return {"loss0": np.mean([float(r["loss"][0]) for r in runs]),
            "loss": np.mean([float(r["loss"][-1]) for r in runs]),
            "total": np.mean([r["movement"]["total_absolute"] for r in runs]),
            "rel": np.mean([r["movement"]["relative"] for r in runs], axis=0),
            "rel_dev": np.mean([r["rel_dev"] for r in runs])}


def test_lazy_regime_movement_and_linearisation():
    # averages over 2 weight draws (single draws fluctuate by ~20%)
    small, big = _mean_runs(64), _mean_runs(256)
    for r in (small, big):       # full GD fits the data
        assert r["loss"] < 0.15 * r["loss0"]
    # ||theta_t - theta_0|| is O(1), independent of width (NTK parameterisation): a 4x
    # wider network moves by the same total amount up to finite-width fluctuations (x1.5)
    ratio_total = big["total"] / small["total"]
    assert 1 / 1.5 < ratio_total < 1.5
    # relative change per layer: first layer (p x d) and output (d,) ~ d^-1/2 -> ratio 0.5
    # for 4x width; hidden (d x d) ~ d^-1 -> ratio 0.25. Allow +50% for finite-size effects.
    rel_s, rel_b = small["rel"], big["rel"]
    assert rel_b[0] / rel_s[0] < 0.75 and rel_b[2] / rel_s[2] < 0.75
    assert rel_b[1] / rel_s[1] < 0.375
    assert max(rel_b) < 0.25
    # the trained network tracks its trained linearisation: deviation O(1/sqrt(d)) relative
    # to how far the function moved (Lee et al. 2019) -> shrinks by >= 1/1.5 for 4x width,
    # and is below 10% at d = 256 (measured ~2.5%)
    assert big["rel_dev"] < 0.1
    assert big["rel_dev"] < small["rel_dev"] / 1.5


@pytest.mark.parametrize("eps", [0.0, 0.5, 0.9, 0.97])
def test_pruning_keeps_exact_fraction(eps):
    net = MLP([30, 20], "relu")
    params = net.init(jax.random.PRNGKey(1), 10)
    for pruned, masks in (magnitude_prune(params, eps),
                          random_sparsify(jax.random.PRNGKey(2), params, eps)):
        for W0, W, M in zip(params["W"], pruned["W"], masks["W"]):
            k = int(round((1 - eps) * W0.size))
            assert int(np.count_nonzero(np.asarray(M))) == k == keep_count(W0.size, eps)
            assert int(np.count_nonzero(np.asarray(W))) == k
            # rescaled to unit mean square on the support
            np.testing.assert_allclose(float(jnp.sum(W * W)) / k, 1.0, rtol=1e-12)
        np.testing.assert_array_equal(pruned["w"], params["w"])
    # magnitude pruning keeps the largest entries
    pruned, masks = magnitude_prune(params, eps)
    for W0, M in zip(params["W"], masks["W"]):
        a, m = np.abs(np.asarray(W0)), np.asarray(M).astype(bool)
        if (~m).any():
            assert a[m].min() >= a[~m].max()


def test_random_sparsify_subset_is_uniform():
    """Every position is kept with probability k / size: over 3000 keys the keep count of
    each of 20 positions (k = 5) is Binomial(3000, 1/4), mean 750, sd 23.7; 5 sd bounds
    fail with probability < 1e-5 for the 20 positions together. Distinct keys give
    distinct subsets."""
    params = {"W": [jnp.ones((4, 5))], "w": jnp.ones(5)}
    counts = np.zeros(20)
    subsets = set()
    for i in range(3000):
        _, masks = random_sparsify(jax.random.PRNGKey(i), params, 0.75)
        m = np.asarray(masks["W"][0]).ravel().astype(bool)
        assert m.sum() == 5
        counts += m
        subsets.add(tuple(np.flatnonzero(m)))
    assert np.all(np.abs(counts - 750.0) < 5 * np.sqrt(3000 * 0.25 * 0.75)), counts
    assert len(subsets) > 1000          # 15504 possible subsets, 3000 draws


def test_pruning_ties_and_bad_eps():
    params = {"W": [jnp.ones((4, 5))], "w": jnp.ones(5)}
    pruned, masks = magnitude_prune(params, 0.5)
    assert int(np.count_nonzero(np.asarray(masks["W"][0]))) == 10
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="eps"):
            magnitude_prune(params, bad)
    nan = {"W": [jnp.ones((4, 5)), jnp.ones((5, 2)).at[1, 1].set(jnp.nan)], "w": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"params\['W'\]\[1\] must be finite"):
        magnitude_prune(nan, 0.5)
    with pytest.raises(ValueError, match=r"params\['W'\]\[1\] must be finite"):
        random_sparsify(jax.random.PRNGKey(0), nan, 0.5)


def test_bit_counts():
    # dense: 32 bits per weight; 90% sparse 100x100: bitmask 10^4 + 32 * 1000 + scale
    assert sparse_float_bits((100, 100), 1000) == 10_000 + 32_000 + 32
    # very sparse: index list (14 bits each) beats the bitmask
    assert sparse_float_bits((100, 100), 10) == 14 * 10 + 320 + 32
    assert sparse_float_bits((10, 10), 100) == 3200      # capped at dense
    params = {"W": [jnp.ones((100, 100))], "w": jnp.ones(100)}
    assert network_bits(params) == 32 * 10_100
