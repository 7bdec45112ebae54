"""Packed storage of compressed networks: exact bit counts, round trips, corruption."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.activations import get
from ntkcomp.compress.packing import (dense_bits, load, memory_report, pack, packed_apply,
                                      save, unpack)
from ntkcomp.networks import MLP, weight_law


def _small_net(eps=0.5):
    acts = [get("binary", s1=-0.5, s2=0.7, b=1.3), get("ternary", s1=-0.2, s2=0.4, b_neg=0.8,
                                                         b_pos=1.1)]
    return MLP([5, 3], acts, weights=[weight_law("sparse_ternary", eps=eps)] * 2, tau0=1.0)


def _hand_params():
    c = 1.0 / math.sqrt(0.5)
    W1 = np.zeros((4, 5))
    W1.flat[[0, 3, 4, 9, 11, 17, 19]] = c * np.array([1, -1, 1, 1, -1, -1, 1])   # nnz = 7
    W2 = np.zeros((5, 3))
    W2.flat[[0, 1, 2, 5, 6, 8, 10, 13, 14]] = c * np.array([1, 1, -1, 1, -1, 1, 1, -1, -1])  # 9
    w = np.array([0.3, -1.2, 0.7])
    return {"W": [jnp.asarray(W1), jnp.asarray(W2)], "w": jnp.asarray(w)}


def test_bit_counts_by_hand():
    net, params = _small_net(), _hand_params()
    # bitmask: mask ceil(20/8)=3 B, signs ceil(7/8)=1 B | mask ceil(15/8)=2 B, signs ceil(9/8)=2 B
    # per layer: scale 4 B, thresholds 2*4 B, levels 3*4 B; centers 2*4 B; w 3*4 B
    per_layer_floats = 4 + 8 + 12
    bitmask_bytes = (3 + 1) + (2 + 2) + 2 * per_layer_floats + 8 + 12
    # 2bit: ceil(20/4)=5 B and ceil(15/4)=4 B of codes
    twobit_bytes = 5 + 4 + 2 * per_layer_floats + 8 + 12
    assert pack(params, net, format="bitmask").bits == 8 * bitmask_bytes
    assert pack(params, net, format="2bit").bits == 8 * twobit_bytes
    assert dense_bits(net.widths, 4) == 32 * (20 + 15 + 3)
    rep = memory_report(net, 4, params=params)
    assert rep["packed_bits"] == 8 * min(bitmask_bytes, twobit_bytes)
    assert rep["memory_factor"] == pytest.approx(32 * 38 / (8 * min(bitmask_bytes,
                                                                    twobit_bytes)))


@pytest.mark.parametrize("fmt", ["bitmask", "2bit"])
def test_round_trip_and_forward(fmt, tmp_path):
    net = _small_net(eps=0.7)
    params = net.init(jax.random.PRNGKey(3), 6)
    pk = pack(params, net, format=fmt)
    params_u, net_u = unpack(pk)
    for W, Wu in zip(params["W"], params_u["W"]):
        # the scale 1/sqrt(1-eps) is stored as float32: relative rounding <= 2^-24 ~ 6e-8
        np.testing.assert_allclose(np.asarray(Wu), np.asarray(W), rtol=1e-7, atol=0)
        np.testing.assert_array_equal(np.asarray(Wu) == 0, np.asarray(W) == 0)
    X = jax.random.normal(jax.random.PRNGKey(4), (50, 6)) / math.sqrt(6)
    f_packed = np.asarray(packed_apply(pk, X))
    f_unpacked = np.asarray(net_u.apply(params_u, X))
    f_orig = np.asarray(net.apply(params, X))
    # packed forward uses the stored float32 centres, the unpacked MLP recomputes them in
    # float64 from the float32 activation parameters: they differ by ~1e-7 relative
    np.testing.assert_allclose(f_packed, f_unpacked, rtol=1e-6, atol=1e-6)
    # against the original (float64 thresholds): a g within float32 rounding of a threshold
    # could flip; with 50 Gaussian inputs this has probability ~1e-5, so compare closely
    np.testing.assert_allclose(f_packed, f_orig, rtol=1e-5, atol=1e-5)
    path = tmp_path / "net.npz"
    save(path, pk)
    pk2 = load(path)
    assert pk2.header == pk.header
    for k in pk.arrays:
        np.testing.assert_array_equal(pk2.arrays[k], pk.arrays[k])
        assert pk2.arrays[k].dtype == pk.arrays[k].dtype


def test_formats_decode_identically():
    net = _small_net(eps=0.3)
    params = net.init(jax.random.PRNGKey(0), 9)
    a, _ = unpack(pack(params, net, format="bitmask"))
    b, _ = unpack(pack(params, net, format="2bit"))
    for Wa, Wb in zip(a["W"], b["W"]):
        np.testing.assert_array_equal(np.asarray(Wa), np.asarray(Wb))


def test_corrupted_file_names_the_file(tmp_path):
    net = _small_net()
    pk = pack(_hand_params(), net)
    path = tmp_path / "good.npz"
    save(path, pk)
    raw = path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated.npz"):
        load(bad)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an npz at all")
    with pytest.raises(ValueError, match="garbage.npz"):
        load(garbage)
    # structurally valid npz with an inconsistent array
    arrays = dict(pk.arrays)
    arrays["mask_0"] = arrays["mask_0"][:1]
    from ntkcomp.compress.packing import PackedNetwork
    wrong = tmp_path / "inconsistent.npz"
    save(wrong, PackedNetwork(pk.header, arrays))
    with pytest.raises(ValueError, match="inconsistent.npz"):
        load(wrong)


def test_pack_rejects_non_ternary_and_bad_format():
    net = _small_net()
    params = _hand_params()
    params["W"][0] = params["W"][0].at[0, 0].set(0.5)
    with pytest.raises(ValueError, match="not sparse ternary"):
        pack(params, net)
    with pytest.raises(ValueError, match="format"):
        pack(_hand_params(), net, format="3bit")
    dense = MLP([5, 3], "relu", tau0=1.0)
    with pytest.raises(ValueError, match="piecewise constant"):
        pack(_hand_params(), dense)
