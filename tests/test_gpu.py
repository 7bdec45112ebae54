"""Core computations on JAX's default device, in float32 and float64 (``pytest -m gpu``).

The marker selects, it does not skip: these tests are small and also run in the default
suite on the CPU. On a machine with an accelerator they run there (the device check
``experiments/benchmarks/device_check.py`` runs ``pytest -m gpu`` with
``NTKCOMP_TESTS_ON_DEVICE=1``, which keeps ``tests/conftest.py`` from pinning the CPU).

References (independent of the code under test):
* kernels: ``ntk_autodiff`` (private; the Jacobian contracted by autodiff) and the
  conjugate kernels written out as ``H_l H_l^T`` from a forward pass written here;
* equivalents and exact weight averages: the arc-cosine closed forms of the centred ReLU
  network (written out below in NumPy float64) and, for the linear activation, ``X X^T``;
* solver: the moment-matching residuals it reports and the lossless claim (compressed
  equivalent minus its identity shift equals the dense equivalent);
* packing: the unpacked weights and the network's own forward pass.

Tolerances: float64 results agree to rounding (``1e-9`` relative); float32 results carry a
relative rounding of about ``sqrt(k) 2^-24`` per inner product of length ``k <= 10^3`` plus
the activations' own rounding, so they are compared at ``2e-4`` of the largest entry.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.activations import get
from ntkcomp.compress import compress
from ntkcomp.compress.packing import load, pack, packed_apply, save, unpack
from ntkcomp.data import gmm_preset
from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
from ntkcomp.kernels import conjugate_kernels, empirical_ntk, expected_kernels
from ntkcomp.kernels._autodiff import ntk_autodiff
from ntkcomp.networks import MLP

pytestmark = pytest.mark.gpu

DTYPES = ["float32", "float64"]
RTOL = {"float32": 2e-4, "float64": 1e-9}


def _sample(n, p, seed=0):
    return gmm_preset("mixed", p).sample(jax.random.PRNGKey(seed), n)


def _cast(tree, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)


def _close(a, b, dtype):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    err = float(np.max(np.abs(a - b))) / scale
    assert err <= RTOL[dtype], (err, RTOL[dtype])


def relu_arccos(X, L, centers):
    """Exact E_W CK_l and NTK of the centred ReLU MLP (arc-cosine closed forms)."""
    X = np.asarray(X, np.float64)
    C = X @ X.T
    v = np.diag(C).copy()
    theta = C.copy()
    cks = []
    for m in centers:
        s = np.sqrt(np.outer(v, v))
        th = np.arccos(np.clip(C / s, -1, 1))
        ee = s / (2 * np.pi) * (np.sin(th) + (np.pi - th) * np.cos(th))
        eu = np.sqrt(v / (2 * np.pi))
        ck = ee - m * (eu[:, None] + eu[None, :]) + m * m
        dd = (np.pi - th) / (2 * np.pi)
        np.fill_diagonal(dd, 0.5)
        theta = ck + theta * dd
        C, v = ck, np.diag(ck).copy()
        cks.append(ck)
    return cks, theta


@pytest.mark.parametrize("dtype", DTYPES)
def test_device_is_used_and_dtype_kept(dtype):
    s = _sample(32, 16)
    net = MLP([24, 24], ["tanh", "tanh"], tau0=float(s.stats.tau0))
    params = net.init(jax.random.PRNGKey(1), 16, dtype=jnp.dtype(dtype))
    K = empirical_ntk(net, params, jnp.asarray(s.X, dtype))
    assert K.dtype == jnp.dtype(dtype)
    assert list(K.devices())[0] == jax.devices()[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_empirical_ntk_matches_autodiff(dtype):
    s = _sample(48, 32)
    net = MLP([64, 48], ["tanh", "erf"], tau0=float(s.stats.tau0))
    params = net.init(jax.random.PRNGKey(2), 32, dtype=jnp.dtype(dtype))
    X = jnp.asarray(s.X, dtype)
    _close(empirical_ntk(net, params, X), ntk_autodiff(net, params, X), dtype)
    # tiled path (several blocks, mirrored tiles) against the same reference
    _close(empirical_ntk(net, params, X, block_size=16), ntk_autodiff(net, params, X), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conjugate_kernels_match_forward_pass(dtype):
    s = _sample(40, 24)
    net = MLP([32, 16], ["tanh", "relu"], tau0=float(s.stats.tau0))
    params = net.init(jax.random.PRNGKey(3), 24, dtype=jnp.dtype(dtype))
    X = jnp.asarray(s.X, dtype)
    cks = conjugate_kernels(net, params, X)
    # forward pass written out: h_l = (sigma_l(h_{l-1} W_l) - m_l) / sqrt(d_l), h_0 = X,
    # in float64 from the same (float32-representable) weights
    h = np.asarray(X, np.float64)
    for l, (W, act) in enumerate(zip(params["W"], net.activations)):
        W = np.asarray(W, np.float64)
        g = h @ W
        a = np.tanh(g) if l == 0 else np.maximum(g, 0.0)
        h = (a - float(net.centers[l])) / math.sqrt(W.shape[1])
        if dtype == "float32" and l == 1:
            # ReLU: a pre-activation within float32 rounding of 0 may land on either
            # side; compare only when none is that close (true for this seed)
            assert np.min(np.abs(g)) > 1e-5
        _close(cks[l], h @ h.T, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_expected_kernels_and_equivalents_vs_arccos(dtype):
    x64 = dtype == "float64"
    s = _sample(256, 128, seed=1)
    with jax.enable_x64(x64):
        net = MLP([512, 512], ["relu", "relu"], tau0=float(s.stats.tau0))
        E = expected_kernels(net, jnp.asarray(s.X, dtype))
        ck_eq, ntk_eq = np.asarray(ck_equivalent(net, s)), np.asarray(ntk_equivalent(net, s))
        assert E["ntk"].dtype == jnp.dtype(dtype)
    cks, theta = relu_arccos(s.X, 2, [float(m) for m in net.centers])
    # exact weight averages: the closed form to rounding (float32: a few ulps through the
    # arccos maps, about 3e-7 of the largest entry on a CPU; 1e-5 leaves room for another
    # device's transcendental functions)
    tol = 1e-9 if x64 else 1e-5
    for k, ref in ((E["ck"][-1], cks[-1]), (E["ntk"], theta)):
        err = np.max(np.abs(np.asarray(k, np.float64) - ref)) / np.max(np.abs(ref))
        assert err <= tol, err
    # equivalents: operator-norm error O(n^-1/2), within 0.15 at n = 256 for L <= 3
    # (the ladder measured by paper_figures/fig5_error_vs_n)
    for k, ref in ((ck_eq, cks[-1]), (ntk_eq, theta)):
        rel = np.linalg.norm(k - ref, 2) / np.linalg.norm(ref, 2)
        assert rel < 0.15, rel


def test_linear_equivalent_is_exact_in_float32():
    s = _sample(96, 48)
    lin = get("polynomial", coeffs=[0.0, 1.0])
    with jax.enable_x64(False):
        net = MLP([64, 64], [lin, lin], tau0=float(s.stats.tau0))
        K = np.asarray(ntk_equivalent(net, s), np.float64)
    G = np.asarray(s.X, np.float64) @ np.asarray(s.X, np.float64).T
    err = np.max(np.abs(K - 3 * G)) / np.max(np.abs(3 * G))
    assert err <= 1e-5, err


def test_solver_matches_moments_and_is_lossless():
    s = _sample(128, 64, seed=2)
    tau0 = float(s.stats.tau0)
    net = MLP([256, 256], ["relu", "relu"], tau0=tau0)
    with pytest.warns(RuntimeWarning, match="identity shift"):  # ReLU last layer: reported
        res = compress(net, tau0=tau0, eps=0.5, family="ternary")
    # the first layer is solved to the solver's tolerance (1e-10 on the moment equations)
    assert res.layers[0].max_residual <= 1e-8
    delta = float(res.identity_shift)
    Kd = np.asarray(ck_equivalent(net, s))
    Kc = np.asarray(ck_equivalent(res.compressed, s)) - delta * np.eye(s.X.shape[0])
    rel = np.linalg.norm(Kc - Kd, 2) / np.linalg.norm(Kd, 2)
    # lossless CK: the compressed equivalent minus the reported identity shift is the dense
    # equivalent (same coefficients up to the solver's float64 rounding)
    assert rel <= 1e-8, rel


@pytest.mark.parametrize("dtype", DTYPES)
def test_packing_round_trip_on_device(dtype, tmp_path):
    s = _sample(64, 32, seed=3)
    tau0 = float(s.stats.tau0)
    res = compress(MLP([48, 32], ["relu", "relu"], tau0=tau0), tau0=tau0, eps=0.6,
                   family="ternary")
    key = jax.random.PRNGKey(5)
    params = res.compressed.init(key, 32)
    pk = pack(params, res.compressed, format="entropy")
    save(tmp_path / "net.npz", pk)
    params_u, net_u = unpack(load(tmp_path / "net.npz"))
    for W, Wu in zip(params["W"], params_u["W"]):
        np.testing.assert_array_equal(np.asarray(Wu) == 0, np.asarray(W) == 0)
        np.testing.assert_allclose(np.asarray(Wu), np.asarray(W), rtol=1e-7)
    X = jnp.asarray(s.X, dtype)
    # packed_apply's products follow JAX's default matmul precision (TF32 for float32 on
    # recent NVIDIA GPUs, a 10-bit mantissa); the tolerance below is for true float32
    with jax.default_matmul_precision("highest"):
        f = packed_apply(pk, X)
    assert f.dtype == jnp.dtype(dtype)
    ref = np.asarray(res.compressed.apply(params, jnp.asarray(s.X, jnp.float64)))
    # stored float32 thresholds and levels: a pre-activation within float32 rounding of a
    # threshold could flip a level (probability ~1e-5 here); otherwise float32 rounding
    np.testing.assert_allclose(np.asarray(f, np.float64), ref, rtol=1e-4, atol=1e-4)
