"""Empirical kernels: closed-form NTK (forward/backward signals, tiled) vs autodiff.

Tolerance 1e-10 relative (float64): both sides are exact formulas for the same sum of
squared partial derivatives; they differ only by float64 rounding in different summation
orders (~1e-15 per entry), far below 1e-10.
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.kernels import conjugate_kernels, empirical_ntk
from ntkcomp.kernels._autodiff import ntk_autodiff
from ntkcomp.networks import MLP, weight_law

# eps = 0.5 keeps all-zero weight columns (exact ReLU ties, see below) improbable at these
# widths (0.5^16 per column); eps = 0.9 is covered with smooth activations below.
LAWS = [weight_law("gaussian"), weight_law("rademacher"), weight_law("sparse_ternary", eps=0.5),
        weight_law("sparse_gaussian", eps=0.5), weight_law("student_t", nu=9.0)]
WIDTHS = [16, 24, 20, 32]
# Every depth mixes ReLU with a smooth activation, so each (law, L) covers both kinds.
MIXED = {1: ["relu"], 2: ["relu", "tanh"], 3: ["erf", "relu", "gelu"],
         4: ["relu", "sin", "relu", "tanh"]}


def _rel(A, B):
    A, B = np.asarray(A), np.asarray(B)
    return np.abs(A - B).max() / np.abs(B).max()


def _data(p=16, n1=7, n2=5, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return (jax.random.normal(k1, (n1, p)) / np.sqrt(p),
            jax.random.normal(k2, (n2, p)) / np.sqrt(p))


def _check_against_autodiff(net, X, X2, key):
    params = net.init(key, X.shape[1])
    # ReLU's derivative at exactly 0 is a convention (act.derivative vs jax's 1/2 for
    # jnp.maximum); sparse laws can give g = 0 exactly (an all-zero weight column), so
    # make sure the draw has no exact tie -- otherwise the comparison is meaningless.
    gs, _ = net.preactivations_and_features(params, jnp.concatenate([X, X2]))
    assert all(bool(jnp.all(g != 0)) for g, a in zip(gs, net.activations) if a.kind != "smooth")
    n1 = X.shape[0]
    ref_all = ntk_autodiff(net, params, jnp.concatenate([X, X2]))  # one Jacobian, both blocks
    ref, ref_x = ref_all[:n1, :n1], ref_all[:n1, n1:]
    assert _rel(empirical_ntk(net, params, X), ref) <= 1e-10
    assert _rel(empirical_ntk(net, params, X, X2, block_size=3), ref_x) <= 1e-10
    return params, ref


@pytest.mark.parametrize("law", LAWS, ids=lambda w: w.name)
def test_ntk_matches_autodiff_all_depths(law):
    """L = 1..4, ReLU and smooth activations, symmetric and cross kernels (tiled with a
    block size that does not divide n, and untiled)."""
    X, X2 = _data(seed=len(law.name))
    for L in range(1, 5):
        net = MLP(WIDTHS[:L], MIXED[L], weights=law, tau0=0.9)
        _check_against_autodiff(net, X, X2, jax.random.PRNGKey(L))


def test_ntk_matches_autodiff_smooth_only_very_sparse():
    X, X2 = _data(seed=3)
    net = MLP(WIDTHS[:3], ["gelu", "tanh", "erf"], weights=weight_law("sparse_ternary", eps=0.9),
              tau0=1.2)
    _check_against_autodiff(net, X, X2, jax.random.PRNGKey(13))


def test_tiling_paths_agree_and_symmetric():
    net = MLP([16, 12], ["relu", "tanh"])
    X, X2 = _data(n1=11, n2=9)
    params = net.init(jax.random.PRNGKey(0), X.shape[1])
    ref = ntk_autodiff(net, params, X)
    for bs in (1, 4, 64):  # one row per tile, a size not dividing n, one tile (64 > n)
        K = empirical_ntk(net, params, X, block_size=bs)
        assert K.shape == (11, 11)
        assert _rel(K, ref) <= 1e-10
        np.testing.assert_array_equal(np.asarray(K), np.asarray(K).T)  # exactly symmetric
        Kx = empirical_ntk(net, params, X, X2, block_size=bs)
        assert Kx.shape == (11, 9)
        assert _rel(Kx, ntk_autodiff(net, params, X, X2)) <= 1e-10


def test_eager_and_traced_engines_agree():
    """The host tile loop (concrete inputs) and the traced program (under jit: tile loop
    unrolled up to STATIC_TILE_LIMIT tiles, fori_loop above) are implementations of the
    same tiling; all are checked against autodiff (1e-10, see the module docstring),
    including ragged last tiles and the CK path. Block sizes: 13 (one tile), 5 (3 x 3
    blocks: unrolled), 1 (13 x 13 blocks, 91 symmetric / 78 cross tiles: the fori_loop)."""
    from ntkcomp.kernels._signals import STATIC_TILE_LIMIT

    assert 3 * 3 <= STATIC_TILE_LIMIT < 13 * 6  # both traced paths are exercised below
    net = MLP([16, 12, 8], ["relu", "tanh", "erf"])
    X, X2 = _data(n1=13, n2=6)
    params = net.init(jax.random.PRNGKey(2), X.shape[1])
    ref, refx = ntk_autodiff(net, params, X), ntk_autodiff(net, params, X, X2)
    for bs in (1, 5, 13):
        jitted = jax.jit(partial(empirical_ntk, net, block_size=bs))
        jittedx = jax.jit(partial(empirical_ntk, net, block_size=bs))
        for K in (empirical_ntk(net, params, X, block_size=bs), jitted(params, X)):
            assert _rel(K, ref) <= 1e-10
            np.testing.assert_array_equal(np.asarray(K), np.asarray(K).T)
        for K in (empirical_ntk(net, params, X, X2, block_size=bs), jittedx(params, X, X2)):
            assert _rel(K, refx) <= 1e-10
        ck_e = conjugate_kernels(net, params, X, block_size=bs)
        ck_t = jax.jit(partial(conjugate_kernels, net, block_size=bs))(params, X)
        H = [np.asarray(h) for h in net.features(params, X)]
        for a, b, h in zip(ck_e, ck_t, H):
            np.testing.assert_allclose(np.asarray(a), h @ h.T, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(np.asarray(b), h @ h.T, rtol=1e-12, atol=1e-14)


def test_conjugate_kernels_are_feature_grams():
    """CK_l = H_l H2_l^T, checked against NumPy Grams of net.features (independent path)."""
    net = MLP([10, 20, 15], ["relu", "erf", "tanh"], weights="rademacher")
    X, X2 = _data(n1=9, n2=4)
    params = net.init(jax.random.PRNGKey(1), X.shape[1])
    H = [np.asarray(h) for h in net.features(params, X)]
    H2 = [np.asarray(h) for h in net.features(params, X2)]
    for bs in (None, 4):
        cks = conjugate_kernels(net, params, X, block_size=bs)
        ckx = conjugate_kernels(net, params, X, X2, block_size=bs)
        assert len(cks) == 3 and len(ckx) == 3
        for c, cx, h, h2 in zip(cks, ckx, H, H2):
            np.testing.assert_allclose(np.asarray(c), h @ h.T, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(np.asarray(cx), h @ h2.T, rtol=1e-12, atol=1e-14)


def test_piecewise_constant_ntk_equals_last_ck():
    """Step activations: sigma' = 0 a.e., so the autodiff NTK is CK_L (THEORY.md section 5)."""
    net = MLP([12, 10], jax_binary())
    X, _ = _data(n1=6)
    params = net.init(jax.random.PRNGKey(2), X.shape[1])
    K = empirical_ntk(net, params, X)
    ck = conjugate_kernels(net, params, X)[-1]
    np.testing.assert_allclose(np.asarray(K), np.asarray(ck), rtol=1e-12, atol=1e-14)
    assert _rel(K, ntk_autodiff(net, params, X)) <= 1e-10


def jax_binary():
    from ntkcomp.activations import get

    return get("binary", s1=-0.3, s2=0.4, b=1.0)


def test_float32_close_to_float64():
    """float32 end to end vs the float64 autodiff reference: rounding ~ 1e-7 per product,
    sums of O(100) terms -> 1e-5 relative is a safe bound."""
    net = MLP([64, 64, 64], "relu")
    X, X2 = _data(p=20, n1=33, n2=17)
    params = net.init(jax.random.PRNGKey(3), 20)
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), params)
    K32 = empirical_ntk(net, p32, X.astype(jnp.float32), block_size=8)
    assert K32.dtype == jnp.float32
    assert _rel(K32, ntk_autodiff(net, params, X)) <= 1e-5
    K32x = empirical_ntk(net, p32, X.astype(jnp.float32), X2.astype(jnp.float32))
    assert _rel(K32x, ntk_autodiff(net, params, X, X2)) <= 1e-5


def test_kernel_input_errors():
    net = MLP([4], "relu")
    params = net.init(jax.random.PRNGKey(0), 3)
    X = jnp.ones((5, 3))
    with pytest.raises(ValueError, match="X2 has feature dimension 4"):
        empirical_ntk(net, params, X, jnp.ones((2, 4)))
    bad = np.ones((5, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        empirical_ntk(net, params, bad)
    with pytest.raises(ValueError, match="X2 must be finite"):
        conjugate_kernels(net, params, X, bad)
    with pytest.raises(ValueError, match="block_size"):
        empirical_ntk(net, params, X, block_size=0)
    with pytest.raises(ValueError, match="feature dimension"):
        conjugate_kernels(net, params, jnp.ones((5, 2)))


def test_default_block_size_rules():
    """The default tiling: one tile below 1536 rows (symmetric), otherwise >= 4 row blocks of
    a multiple of 128 rows, never above DEFAULT_BLOCK_SIZE, and covering n."""
    from ntkcomp.kernels._signals import DEFAULT_BLOCK_SIZE, default_block_size
    for n in (1, 7, 1000, 1535):
        assert default_block_size(n) == n
    for n in (1536, 2048, 3000, 4096, 16384, 40000):
        b = default_block_size(n)
        assert b % 128 == 0 and b <= DEFAULT_BLOCK_SIZE, (n, b)
        assert -(-n // b) >= 4, (n, b)
    assert default_block_size(5000, symmetric=False) == DEFAULT_BLOCK_SIZE
    assert default_block_size(300, symmetric=False) == 300


def test_default_tiling_matches_single_tile_float64():
    """n = 1600 takes the multi-tile default path (4 blocks of 512 rows, the last partial);
    it must equal the single-tile kernel to rounding (float64: 1e-12 relative)."""
    net = MLP([16, 16], "relu")
    key = jax.random.PRNGKey(5)
    X = jax.random.normal(key, (1600, 8), dtype=jnp.float64)
    params = net.init(jax.random.PRNGKey(6), 8)
    K_default = empirical_ntk(net, params, X)
    K_one = empirical_ntk(net, params, X, block_size=1600)
    assert _rel(K_default, K_one) <= 1e-12


def _planted_near_zero(n=96, p=64, seed=11):
    """float32 data and weights of a ReLU net where ``m = 64`` layer-1 pre-activations are
    planted at ~0: for sample i and unit i the last weight of column i is set (rounded to
    float32) so that ``x_i . w_i`` cancels up to ~2^-24 of its terms. Their float32 signs
    are then decided by summation rounding, their float64 signs by the exact value."""
    net = MLP([128, 128], "relu")
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    X = np.asarray(jax.random.normal(k1, (n, p)) / np.sqrt(p), np.float32)
    params = net.init(k2, p)
    W1 = np.asarray(params["W"][0], np.float32).copy()
    for i in range(64):
        S = X[i, :-1].astype(np.float64) @ W1[:-1, i].astype(np.float64)
        W1[-1, i] = np.float32(-S / np.float64(X[i, -1]))
    p32 = {"W": [jnp.asarray(W1), params["W"][1].astype(jnp.float32)],
           "w": params["w"].astype(jnp.float32)}
    return net, p32, jnp.asarray(X)


def test_signal_dtype_float64_removes_float32_relu_flips():
    """Mixed precision (float64 signals, float32 Grams) equals the float64 kernel of the same
    float32 inputs to the Gram rounding, even where float32 pre-activations sit at ReLU's
    jump. Reference: every signal and Gram in float64 (a second computation of the same
    kernel). Tolerance 1e-5 max-entry relative: float32 Gram products of inner dimension
    <= 2 * 128 + 64 carry ~sqrt(k) * 6e-8 ~ 1e-6 (measured 8e-7 .. 1.1e-6 at n = 2048). One
    flipped ReLU derivative moves its sample's row by O(1/d) ~ 1e-2 relative, so ignoring
    ``signal_dtype`` fails this unless float32 rounds all 64 planted signs like float64
    (each one is a coin toss). The planted pre-activations are checked to be tiny."""
    net, p32, X32 = _planted_near_zero()
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), p32)
    X64 = X32.astype(jnp.float64)
    g1 = np.asarray(net.preactivations_and_features(p64, X64)[0][0])
    planted = np.abs(g1[np.arange(64), np.arange(64)])
    assert planted.max() < 1e-6 * np.abs(g1).mean()
    K64 = empirical_ntk(net, p64, X64)
    X2, X2_64 = X32[:40], X64[:40]
    for kw in ({}, {"block_size": 32}):
        K = empirical_ntk(net, p32, X32, signal_dtype="float64", **kw)
        assert K.dtype == jnp.float32
        assert _rel(K, K64) <= 1e-5
    Kx = empirical_ntk(net, p32, X32, X2, signal_dtype=jnp.float64)
    assert _rel(Kx, empirical_ntk(net, p64, X64, X2_64)) <= 1e-5
    traced = jax.jit(lambda p, x: empirical_ntk(net, p, x, signal_dtype="float64"))
    assert _rel(traced(p32, X32), K64) <= 1e-5
    C = conjugate_kernels(net, p32, X32, signal_dtype="float64")
    for a, b in zip(C, conjugate_kernels(net, p64, X64)):
        assert a.dtype == jnp.float32 and _rel(a, b) <= 1e-5


def test_signal_dtype_errors():
    net = MLP([4], "relu")
    params = net.init(jax.random.PRNGKey(0), 3)          # float64 (tests run in x64)
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), params)
    X = jnp.ones((5, 3))
    for bad in ("float16", "int32", "bogus", 3):
        with pytest.raises(ValueError, match="signal_dtype must be None, 'float32' or"):
            empirical_ntk(net, p32, X, signal_dtype=bad)
    with pytest.raises(ValueError, match="signal_dtype=float32 is below the parameters' "
                                         "dtype float64"):
        conjugate_kernels(net, params, X, signal_dtype="float32")
    # equal to the parameters' dtype: a no-op
    assert _rel(empirical_ntk(net, params, X, signal_dtype="float64"),
                empirical_ntk(net, params, X)) == 0.0
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="needs 64-bit JAX: call ntkcomp.enable_x64"):
            empirical_ntk(net, p32, X.astype(jnp.float32), signal_dtype="float64")
    finally:
        jax.config.update("jax_enable_x64", True)
