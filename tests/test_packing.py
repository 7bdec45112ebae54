"""Packed storage of compressed networks: exact bit counts, the entropy-coded and seeded
formats, round trips, and content validation of packed files (one crafted file per rule)."""
import io
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.activations import get
from ntkcomp.compress import _pack_codecs as codecs
from ntkcomp.compress._pack_checks import array_checksum
from ntkcomp.compress.packing import (PackedNetwork, dense_bits, load, memory_report, pack,
                                      packed_apply, save, unpack)
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


BAD = ": not a valid packed network: field "   # load's message: "<file>{BAD}<field>: ..."


def _entropy_bits(eps):
    """H(eps) + (1 - eps), computed here independently of the package."""
    return -(eps * math.log2(eps) + (1 - eps) * math.log2(1 - eps)) + (1 - eps)


def test_bit_counts_by_hand():
    net, params = _small_net(), _hand_params()
    # bitmask: mask ceil(20/8)=3 B, signs ceil(7/8)=1 B | mask ceil(15/8)=2 B, signs ceil(9/8)=2 B
    # per layer: scale 4 B, thresholds 2*4 B, levels 3*4 B; centers 2*4 B; w 3*4 B
    per_layer_floats = 4 + 8 + 12
    bitmask_bytes = (3 + 1) + (2 + 2) + 2 * per_layer_floats + 8 + 12
    # 2bit: ceil(20/4)=5 B and ceil(15/4)=4 B of codes
    twobit_bytes = 5 + 4 + 2 * per_layer_floats + 8 + 12
    # entropy, layer 1: gaps 0,2,0,4,1,5,1 -> k=1 (k=0: 13+7=20 bits, k=1: 5+7+7=19, k=2:
    # 2+7+14=23): unary 12 bits = 2 B, low 7 bits = 1 B, signs 1 B. Layer 2: gaps
    # 0,0,0,2,0,1,1,2,0 -> k=0 (6+9=15 bits, k=1: 2+9+9=20): unary 2 B, signs 2 B.
    entropy_bytes = (2 + 1 + 1) + (2 + 0 + 2) + 2 * per_layer_floats + 8 + 12
    assert pack(params, net, format="bitmask").bits == 8 * bitmask_bytes
    assert pack(params, net, format="2bit").bits == 8 * twobit_bytes
    pk = pack(params, net, format="entropy")
    assert pk.bits == 8 * entropy_bytes and pk.weight_bits == 8 * 8
    assert [r["rice_k"] for r in pk.header["layers"]] == [1, 0]
    assert [r["unary_bits"] for r in pk.header["layers"]] == [12, 15]
    assert dense_bits(net.widths, 4) == 32 * (20 + 15 + 3)
    rep = memory_report(net, 4, params=params)
    best = min(bitmask_bytes, twobit_bytes, entropy_bytes)
    assert rep["packed_bits"] == 8 * best and rep["format"] == "bitmask"   # ties: first
    assert rep["memory_factor"] == pytest.approx(32 * 38 / (8 * best))
    assert "seeded" not in rep["formats"]        # params given without their key


@pytest.mark.parametrize("eps", [0.5, 0.55, 0.618, 0.7, 0.8, 0.9, 0.95, 0.99])
def test_entropy_format_within_5_percent_of_the_bound(eps):
    """Rice-coded gaps + signs of an i.i.d. sparse ternary matrix: lossless, and at most 5 %
    above n (H(e) + (1 - e)) with e the realised fraction of zeros (the information content
    of the drawn matrix up to O(log n) bits). Expected Rice redundancy is <= 3 % on [0.5,
    0.99] (worst near eps = 0.62), and 1e6 entries keep the sampling spread of the code
    length well below the remaining 2 %."""
    rng = np.random.default_rng(int(eps * 1000))
    n = 1_000_000
    codes = np.where(rng.random(n) < eps, 0, rng.choice([-1, 1], n)).astype(np.int8)
    streams, fields = codecs.encode(codes, "entropy")
    nnz = int(np.count_nonzero(codes))
    bits = 8 * sum(a.nbytes for a in streams.values())
    e = 1 - nnz / n
    assert bits <= 1.05 * n * _entropy_bits(e)
    np.testing.assert_array_equal(codecs.decode(streams, fields, "entropy", n, nnz), codes)


@pytest.mark.parametrize("pattern", ["zeros", "full", "last", "first", "long_gap"])
def test_entropy_codec_edge_cases_round_trip(pattern):
    n = 70_001
    codes = np.zeros(n, np.int8)
    if pattern == "full":
        codes[:] = np.where(np.arange(n) % 3 == 0, -1, 1)
    elif pattern == "last":
        codes[-1] = -1
    elif pattern == "first":
        codes[0] = 1
    elif pattern == "long_gap":
        codes[[0, 1, 2, 3, n - 1]] = [1, -1, 1, 1, -1]
    for fmt in ("bitmask", "2bit", "entropy"):
        streams, fields = codecs.encode(codes, fmt)
        out = codecs.decode(streams, fields, fmt, n, int(np.count_nonzero(codes)))
        np.testing.assert_array_equal(out, codes)


@pytest.mark.parametrize("fmt", ["bitmask", "2bit", "entropy", "seeded"])
def test_round_trip_and_forward(fmt, tmp_path):
    net = _small_net(eps=0.7)
    key = jax.random.PRNGKey(3)
    params = net.init(key, 6)
    pk = pack(params, net, format=fmt, key=key)
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
    key = jax.random.PRNGKey(0)
    params = net.init(key, 9)
    ref, _ = unpack(pack(params, net, format="bitmask"))
    for fmt in ("2bit", "entropy", "seeded"):
        other, _ = unpack(pack(params, net, format=fmt, key=key))
        for Wa, Wb in zip(ref["W"], other["W"]):
            np.testing.assert_array_equal(np.asarray(Wa), np.asarray(Wb))


def test_auto_format_is_the_smallest_explicit_one():
    for eps, expected in ((0.3, "bitmask"), (0.9, "entropy")):
        net = _small_net(eps=eps)
        params = net.init(jax.random.PRNGKey(1), 40)
        bits = {f: pack(params, net, format=f).bits for f in ("bitmask", "2bit", "entropy")}
        pk = pack(params, net)
        assert pk.header["format"] == min(bits, key=bits.get) == expected
        assert pk.bits == min(bits.values())


def test_seeded_format_stores_the_key_and_verifies_the_draw(tmp_path):
    net = _small_net(eps=0.8)
    key = jax.random.PRNGKey(11)
    params = net.init(key, 30)
    pk = pack(params, net, format="seeded", key=key)
    assert pk.weight_bits == 64                    # two uint32 words of threefry key data
    assert pk.header["seed"]["prng_impl"] == "threefry2x32"
    assert pk.header["seed"]["x64"] == bool(jax.config.jax_enable_x64)
    path = tmp_path / "seeded.npz"
    save(path, pk)
    Wl, _ = unpack(load(path))
    for W, Wu in zip(params["W"], Wl["W"]):
        np.testing.assert_allclose(np.asarray(Wu), np.asarray(W), rtol=1e-7, atol=0)
    with pytest.raises(ValueError, match="key"):
        pack(params, net, format="seeded")                       # no key
    with pytest.raises(ValueError, match="not the draw"):
        pack(params, net, format="seeded", key=jax.random.PRNGKey(12))
    # a file whose stored codes hash does not match the regenerated draw
    header = json.loads(json.dumps(pk.header))
    header["layers"][1]["codes_sha256"] = "0" * 64
    bad = tmp_path / "wrong_seed.npz"
    _write_raw(bad, header, pk.arrays)
    with pytest.raises(ValueError, match=rf"wrong_seed.npz{BAD}layers\[1\].codes_sha256"):
        load(bad)


def test_memory_report_every_format_and_both_accountings():
    eps = 0.9
    net = _small_net(eps=eps)
    rep = memory_report(net, 200, seed=4)
    assert set(rep["formats"]) == {"bitmask", "2bit", "entropy", "seeded"}
    explicit = {f: rep["formats"][f]["packed_bits"] for f in ("bitmask", "2bit", "entropy")}
    assert rep["format"] == min(explicit, key=explicit.get)
    assert rep["formats"]["seeded"]["packed_bits"] < rep["packed_bits"]
    n_w = 200 * 5 + 5 * 3
    acc = rep["accounting"]
    assert acc["n_weights"] == n_w
    assert acc["paper_weight_bits"] == pytest.approx(n_w * (1 - eps))
    assert acc["entropy_weight_bits"] == pytest.approx(n_w * _entropy_bits(eps))
    params = net.init(jax.random.PRNGKey(4), 200)
    for f in ("bitmask", "2bit", "entropy"):
        assert rep["formats"][f]["packed_bits"] == pack(params, net, format=f).bits
        assert rep["formats"][f]["bits_per_weight"] == pytest.approx(
            pack(params, net, format=f).weight_bits / n_w)


def _write_raw(path, header, arrays, fix_checksums=True):
    """Write an .npz the way save() does but without validation (crafted files)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if fix_checksums and isinstance(header, dict):
        header = dict(header, checksums={k: array_checksum(v) for k, v in arrays.items()})
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    path.write_bytes(buf.getvalue())


def _good(fmt="bitmask"):
    net = _small_net()
    pk = pack(_hand_params(), net, format=fmt)
    return json.loads(json.dumps(pk.header)), {k: v.copy() for k, v in pk.arrays.items()}


def _set(header, path, value):
    obj = header
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


HEADER_FAULTS = [
    ("version", ("ntkcomp_packed",), 99, "ntkcomp_packed"),
    ("format", ("format",), "3bit", "format"),
    ("p_zero", ("p",), 0, "p"),
    ("p_chain", ("p",), 7, r"layers\[0\].shape"),
    ("width_chain", ("layers", 1, "shape"), [4, 3], r"layers\[1\].shape"),
    ("widths_type", ("widths",), "5,3", "widths"),
    ("tau0_nan", ("tau0",), float("nan"), "tau0"),
    ("nnz_range", ("layers", 0, "nnz"), 21, r"layers\[0\].nnz"),
    ("nnz_mismatch", ("layers", 0, "nnz"), 6, "mask_0"),
    ("weight_law", ("layers", 0, "weight_law"), [], r"layers\[0\].weight_law"),
    ("weight_law_eps", ("layers", 1, "weight_law", "eps"), 1.5, r"layers\[1\].weight_law"),
    ("weight_law_name", ("layers", 0, "weight_law", "name"), "cauchy",
     r"layers\[0\].weight_law"),
]


@pytest.mark.parametrize("name,path,value,field", HEADER_FAULTS, ids=[f[0] for f in HEADER_FAULTS])
def test_header_violations_name_file_and_field(tmp_path, name, path, value, field):
    header, arrays = _good()
    _set(header, path, value)
    f = tmp_path / f"{name}.npz"
    _write_raw(f, header, arrays)
    with pytest.raises(ValueError, match=rf"{name}.npz{BAD}{field}"):
        load(f)


def _nan(a):
    a = a.copy()
    a[0] = np.nan
    return a


ARRAY_FAULTS = [
    ("scale_nan", "bitmask", "scale_0", lambda a: np.array([np.nan], np.float32)),
    ("scale_negative", "bitmask", "scale_0", lambda a: -a),
    ("scale_zero", "bitmask", "scale_1", lambda a: 0 * a),
    ("thresholds_nan", "bitmask", "thresholds_0", _nan),
    ("thresholds_order", "bitmask", "thresholds_1", lambda a: a[::-1].copy()),
    ("levels_inf", "bitmask", "levels_1", lambda a: a + np.inf),
    ("levels_size", "bitmask", "levels_0", lambda a: a[:2].copy()),
    ("centers_nan", "bitmask", "centers", _nan),
    ("w_nan", "bitmask", "w", _nan),
    ("w_size", "bitmask", "w", lambda a: a[:2].copy()),
    ("mask_size", "bitmask", "mask_0", lambda a: a[:1].copy()),
    ("mask_count", "bitmask", "mask_0", lambda a: a | np.uint8(1)),
    ("mask_dtype", "bitmask", "mask_1", lambda a: a.astype(np.int16)),
    ("code_three", "2bit", "codes_0", lambda a: a | np.uint8(3)),
    ("code_padding", "2bit", "codes_1", lambda a: np.concatenate([a[:-1], a[-1:] | 64])),
    ("runs_count", "entropy", "runs_0", lambda a: a | np.uint8(128)),
    ("sign_size", "entropy", "sign_1", lambda a: np.zeros(5, np.uint8)),
]


@pytest.mark.parametrize("name,fmt,array,corrupt", ARRAY_FAULTS, ids=[f[0] for f in ARRAY_FAULTS])
def test_array_violations_name_file_and_field(tmp_path, name, fmt, array, corrupt):
    header, arrays = _good(fmt)
    arrays[array] = corrupt(arrays[array])
    f = tmp_path / f"{name}.npz"
    _write_raw(f, header, arrays)                 # checksums consistent: content checks fire
    with pytest.raises(ValueError, match=rf"{name}.npz{BAD}{array}"):
        load(f)


def test_entropy_gaps_beyond_the_matrix_are_refused(tmp_path):
    header, arrays = _good("entropy")
    header["layers"][1]["rice_k"] = 3            # same streams read with a larger k
    arrays["low_1"] = np.full(math.ceil(9 * 3 / 8), 255, np.uint8)
    f = tmp_path / "gaps.npz"
    _write_raw(f, header, arrays)
    with pytest.raises(ValueError, match="gaps.npz: not a valid packed network: field runs_1"):
        load(f)


def test_checksum_and_container_violations(tmp_path):
    header, arrays = _good()
    good = tmp_path / "good.npz"
    _write_raw(good, header, arrays)
    load(good)                                    # the crafted writer itself is faithful
    flipped = dict(arrays, mask_0=arrays["mask_0"] ^ np.uint8(1))
    f = tmp_path / "flipped.npz"
    _write_raw(f, header, flipped, fix_checksums=False)
    with pytest.raises(ValueError, match=f"flipped.npz{BAD}mask_0: SHA-256"):
        load(f)
    missing = {k: v for k, v in arrays.items() if k != "levels_1"}
    f = tmp_path / "missing.npz"
    _write_raw(f, header, missing)
    with pytest.raises(ValueError, match=f"missing.npz{BAD}levels_1"):
        load(f)
    f = tmp_path / "list_header.npz"
    _write_raw(f, [1, 2, 3], arrays)
    with pytest.raises(ValueError, match=f"list_header.npz{BAD}header: must be a JSON object"):
        load(f)
    raw = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=f"truncated.npz{BAD}__header__"):
        load(tmp_path / "truncated.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not an npz at all")
    with pytest.raises(ValueError, match="garbage.npz"):
        load(tmp_path / "garbage.npz")


def test_save_refuses_an_invalid_packed_network(tmp_path):
    header, arrays = _good()
    arrays["scale_0"] = np.array([np.nan], np.float32)
    header["checksums"]["scale_0"] = array_checksum(arrays["scale_0"])
    with pytest.raises(ValueError, match="field scale_0"):
        save(tmp_path / "x.npz", PackedNetwork(header, arrays))
    assert not (tmp_path / "x.npz").exists()


def test_pack_rejects_non_ternary_and_bad_format():
    net = _small_net()
    params = _hand_params()
    params["W"][0] = params["W"][0].at[0, 0].set(0.5)
    with pytest.raises(ValueError, match="not sparse ternary"):
        pack(params, net)
    params = _hand_params()
    params["W"][1] = params["W"][1].at[0, 0].set(jnp.nan)
    with pytest.raises(ValueError, match=r"params\['W'\]\[1\] must be finite"):
        pack(params, net)
    with pytest.raises(ValueError, match="format"):
        pack(_hand_params(), net, format="3bit")
    dense = MLP([5, 3], "relu", tau0=1.0)
    with pytest.raises(ValueError, match="piecewise constant"):
        pack(_hand_params(), dense)
