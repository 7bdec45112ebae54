"""Packed storage of a compressed network and exact bit counts.

A :class:`PackedNetwork` is a JSON header plus named NumPy arrays, stored as one ``.npz``
without pickle (the header travels as the uint8 array ``__header__``). Per layer l
(``W_l`` of shape ``(d_{l-1}, d_l)``, sparse ternary: entries 0 or ``+-scale_l``,
row-major order) the weights are stored in one of the formats

``"bitmask"``
    a bit per entry (zero or not) plus a sign bit per non-zero: ``1 + (1 - eps)`` bits per
    weight;
``"2bit"``
    a 2-bit code per entry: 2 bits per weight;
``"entropy"``
    Rice-coded gaps between non-zeros plus a sign bit per non-zero, close to the entropy
    ``H(eps) + (1 - eps)`` bits per weight of an i.i.d. sparse ternary matrix;
``"seeded"``
    no weight bits at all: the PRNG key the weights were drawn from. Valid only for an
    untrained network whose ``params`` are ``net.init(key, p)``, and only under the same
    ``jax.random`` implementation (the header records the PRNG implementation name, the
    JAX version and the dtype of the draw); loading regenerates the weights and verifies
    them against a stored SHA-256 of their ternary codes.

(stream layouts in ``ntkcomp/compress/_pack_codecs.py``), plus, in every format, the
scale ``scale_l`` float32 ``(1,)``, the activation's ``thresholds_l`` / ``levels_l``
float32, ``centers`` float32 ``(L,)`` and the output weights ``w`` float32 ``(d_L,)``. The
header holds the SHA-256 of every array; :func:`load` validates the content completely
(see ``_pack_checks``) and raises ValueError naming the file and the field.

Memory is counted in real bits: ``8 * sum(nbytes)`` of the arrays (the JSON header is
reported separately). See the theory page ``docs/theory/memory.md`` (section Formats)
for both accountings: the real bits and the paper's ``(1 - eps)`` bits per weight
with positions free, which no format can reach.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.compress import _pack_checks as checks
from ntkcomp.compress import _pack_codecs as codecs
from ntkcomp.compress import _pack_seed as seeding
from ntkcomp.io import atomic_write_npz

__all__ = ["EXPLICIT_FORMATS", "FORMATS", "PackedNetwork", "dense_bits", "load",
           "memory_report", "pack", "packed_apply", "save", "unpack"]

FORMATS = checks.FORMATS
EXPLICIT_FORMATS = ("bitmask", "2bit", "entropy")


@dataclasses.dataclass
class PackedNetwork:
    """Header (JSON-able dict) + arrays (name -> numpy array) of a packed network."""
    header: dict
    arrays: dict

    @property
    def bits(self) -> int:
        """Exact storage of all arrays in bits (``8 * sum(nbytes)``)."""
        return int(8 * sum(a.nbytes for a in self.arrays.values()))

    @property
    def weight_bits(self) -> int:
        """Bits of the hidden weights' codes (the PRNG key for ``"seeded"``); scales,
        activation parameters, centres and output weights excluded."""
        names = [n for l in range(len(self.header["widths"]))
                 for n in checks.stream_names(self.header["format"], l)]
        names += ["key"] if self.header["format"] == "seeded" else []
        return int(8 * sum(self.arrays[n].nbytes for n in names))

    @property
    def header_bits(self) -> int:
        """Bits of the JSON header (names, shapes, checksums)."""
        return 8 * len(json.dumps(self.header).encode())


def _activation_record(act) -> dict:
    if act.kind != "piecewise_constant":
        raise ValueError(f"net.activations must be piecewise constant (binary, ternary, "
                         f"k_level) to be packed, got {act.name!r}")
    return {"name": act.name, "params": {k: np.asarray(v, dtype=np.float64).tolist()
                                         for k, v in act.params.items()}}


def _pack_format(params, net, fmt: str, key, layers_codes, verify: bool = True
                 ) -> PackedNetwork:
    arrays, layers = {}, []
    for l, ((codes, scale), act) in enumerate(zip(layers_codes, net.activations)):
        W_shape = [int(s) for s in np.shape(params["W"][l])]
        rec = {"shape": W_shape, "nnz": int(np.count_nonzero(codes)),
               "activation": _activation_record(act),
               "weight_law": {"name": net.weight_laws[l].name, **dict(net.weight_laws[l].params)}}
        if fmt == "seeded":
            rec["codes_sha256"] = checks.array_checksum(codes)
        else:
            streams, fields = codecs.encode(codes, fmt)
            arrays.update({f"{name}_{l}": a for name, a in streams.items()})
            rec.update(fields)
        arrays[f"scale_{l}"] = np.asarray([scale], dtype=np.float32)
        arrays[f"thresholds_{l}"] = np.asarray(act.thresholds(), dtype=np.float32)
        arrays[f"levels_{l}"] = np.asarray(act.levels(), dtype=np.float32)
        layers.append(rec)
    arrays["centers"] = np.asarray(net.centers, dtype=np.float32)
    arrays["w"] = np.asarray(params["w"], dtype=np.float32)
    header = {"ntkcomp_packed": checks.VERSION, "format": fmt, "widths": list(net.widths),
              "p": int(np.shape(params["W"][0])[0]), "tau0": float(net.tau0), "layers": layers}
    if fmt == "seeded":
        seed_arrays, header["seed"] = seeding.seeded_arrays(params, net, key,
                                                     [c for c, _ in layers_codes], verify)
        arrays.update(seed_arrays)
    header["checksums"] = {name: checks.array_checksum(a) for name, a in sorted(arrays.items())}
    return PackedNetwork(header=header, arrays=arrays)


def _validated_codes(params, net) -> list:
    net.check_params(params)
    for act in net.activations:
        _activation_record(act)  # validates every layer before any work
    out = [codecs.ternary_codes(W, f"params['W'][{l}]") for l, W in enumerate(params["W"])]
    if not np.all(np.isfinite(np.asarray(params["w"]))):
        raise ValueError("params['w'] must be finite (found NaN or Inf entries)")
    return out


def pack(params: dict, net, *, format: str = "auto", key=None) -> PackedNetwork:
    """Pack ``params`` of a compressed ``net`` (sparse ternary weights, piecewise-constant
    activations).

    Args:
        params: ``{"W": [W_1..W_L], "w": w}`` with ``W_l: (d_{l-1}, d_l)``.
        net: the network description (``ntkcomp.networks.MLP``).
        format: one of :data:`FORMATS`, or ``"auto"`` (default): the smallest of
            :data:`EXPLICIT_FORMATS` in bits.
        key: the ``jax.random`` key with ``params == net.init(key, p)``; needed (only) by
            ``"seeded"``.

    Returns:
        The packed network, its header holding the SHA-256 of every array.

    Raises:
        ValueError: unknown format; weights not sparse ternary or not finite; activations not
            piecewise constant; ``"seeded"`` without a key or with weights that are not the
            key's draw.
    """
    if format not in (*FORMATS, "auto"):
        raise ValueError(f"format must be one of {[*FORMATS, 'auto']}, got {format!r}")
    layers_codes = _validated_codes(params, net)
    if format != "auto":
        return _pack_format(params, net, format, key, layers_codes)
    candidates = [_pack_format(params, net, f, None, layers_codes) for f in EXPLICIT_FORMATS]
    return min(candidates, key=lambda pk: pk.bits)


_INVALID = "not a valid packed network"


def _network(packed: PackedNetwork, origin: str = _INVALID):
    try:
        return seeding.network_from_header(packed.header, packed.arrays)
    except checks.PackError as e:
        raise ValueError(f"{origin}: {e}") from None


def _layer_codes(packed: PackedNetwork, origin: str) -> list:
    """Flat int8 codes of every layer (decoded, or regenerated and verified if seeded)."""
    h, a = packed.header, packed.arrays
    if h["format"] == "seeded":
        s = h["seed"]
        codes = seeding.regenerated_codes(_network(packed, origin), h["p"], a["key"], s)
        for l, c in enumerate(codes):
            if checks.array_checksum(c) != h["layers"][l]["codes_sha256"]:
                raise ValueError(
                    f"{origin}: field layers[{l}].codes_sha256: the weights regenerated from "
                    f"the key do not match (written with jax {s['jax_version']}, PRNG "
                    f"{s['prng_impl']}, dtype {s['dtype']}, x64 {s['x64']}; running jax "
                    f"{jax.__version__}); "
                    "the seeded format needs the same jax.random implementation")
        return codes
    out = []
    for l, rec in enumerate(h["layers"]):
        streams = {n.rsplit("_", 1)[0]: a[n] for n in checks.stream_names(h["format"], l)}
        out.append(codecs.decode(streams, rec, h["format"], rec["shape"][0] * rec["shape"][1],
                                 rec["nnz"]))
    return out


def _checked(packed: PackedNetwork, origin: str = _INVALID) -> None:
    try:
        checks.check_packed(packed.header, packed.arrays)
    except ValueError as e:
        raise ValueError(f"{origin}: {e}") from None


def _weights(packed: PackedNetwork, origin: str = _INVALID) -> list:
    """float64 ``W_l = codes * scale_l`` (the stored float32 scale), shaped per header."""
    codes = _layer_codes(packed, origin)
    return [c.reshape(rec["shape"]) * np.float64(packed.arrays[f"scale_{l}"][0])
            for l, (c, rec) in enumerate(zip(codes, packed.header["layers"]))]


def unpack(packed: PackedNetwork):
    """Return ``(params, net)``: weights decoded from the codes (values ``+-scale_l`` with the
    stored float32 scale, JAX's default float) and the ``MLP`` rebuilt from the header
    (activations as ``k_level`` with the stored float32 thresholds and levels).

    Raises:
        ValueError: the packed network fails validation.
    """
    _checked(packed)
    net = _network(packed)
    dtype = jnp.result_type(float)
    params = {"W": [jnp.asarray(W, dtype) for W in _weights(packed)],
              "w": jnp.asarray(packed.arrays["w"].astype(np.float64), dtype)}
    return params, net


def packed_apply(packed: PackedNetwork, X) -> jax.Array:
    """Forward pass read from the packed arrays: per layer ``g = h @ W_l``, ``sigma`` from
    the stored thresholds/levels, minus the stored centre, divided by ``sqrt(d_l)``; output
    ``h_L @ w``.

    Args:
        packed: a packed network.
        X: inputs ``(n, p)``.

    Returns:
        outputs ``(n,)`` in the dtype of ``X``.
    """
    _checked(packed)
    h = jnp.asarray(X)
    dtype = h.dtype
    for l, (W, d) in enumerate(zip(_weights(packed), packed.header["widths"])):
        thr = jnp.asarray(packed.arrays[f"thresholds_{l}"], dtype)
        lev = jnp.asarray(packed.arrays[f"levels_{l}"], dtype)
        g = h @ jnp.asarray(W, dtype)
        sig = lev[0] + jnp.sum((g[..., None] > thr) * jnp.diff(lev), axis=-1)
        h = (sig - jnp.asarray(packed.arrays["centers"][l], dtype)) / jnp.sqrt(
            jnp.asarray(d, dtype))
    return h @ jnp.asarray(packed.arrays["w"], dtype)


def save(path: str | os.PathLike, packed: PackedNetwork) -> None:
    """Validate ``packed`` and write it to ``path`` (.npz, atomic, no pickle).

    Raises:
        ValueError: the packed network fails validation (nothing is written).
    """
    _checked(packed)
    header = np.frombuffer(json.dumps(packed.header).encode(), dtype=np.uint8)
    atomic_write_npz(path, __header__=header, **packed.arrays)


def load(path: str | os.PathLike) -> PackedNetwork:
    """Read and validate a file written by :func:`save` (seeded: regenerate and verify).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a valid packed network; the message names the file and
            the offending field.
    """
    origin = f"{os.fspath(path)}: {_INVALID}"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in z.files}
        header = json.loads(arrays.pop("__header__").tobytes().decode())
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError,
            UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{origin}: field __header__: the file cannot be read as an .npz "
                         f"with a JSON header ({e!r})") from None
    packed = PackedNetwork(header=header, arrays=arrays)
    _checked(packed, origin)
    _network(packed, origin)
    if header["format"] == "seeded":
        _layer_codes(packed, origin)
    return packed


def dense_bits(widths, p: int) -> int:
    """float32 storage of a dense MLP: all ``W_l`` plus the output weights ``w``."""
    dims = [int(p), *[int(d) for d in widths]]
    return 32 * (sum(a * b for a, b in zip(dims[:-1], dims[1:])) + dims[-1])


def _entropy_bits(eps: float) -> float:
    """``H(eps) + (1 - eps)``: bits per weight of an i.i.d. sparse ternary entry."""
    if eps <= 0.0 or eps >= 1.0:
        return 1.0 - eps if eps <= 0.0 else 0.0
    return -(eps * math.log2(eps) + (1 - eps) * math.log2(1 - eps)) + (1 - eps)


def _accounting(net, params) -> dict:
    sizes = [int(np.size(W)) for W in params["W"]]
    eps = [float(dict(law.params).get("eps", 0.0)) for law in net.weight_laws]
    n_w = sum(sizes)
    nnz = sum(int(np.count_nonzero(np.asarray(W))) for W in params["W"])
    paper = sum(n * (1 - e) for n, e in zip(sizes, eps))
    entropy = sum(n * _entropy_bits(e) for n, e in zip(sizes, eps))
    return {"n_weights": n_w, "nnz": nnz, "measured_density": nnz / n_w,
            "paper_weight_bits": paper, "paper_bits_per_weight": paper / n_w,
            "entropy_weight_bits": entropy, "entropy_bits_per_weight": entropy / n_w}


def memory_report(net, p: int, *, seed: int = 0, params: dict | None = None,
                  key=None) -> dict:
    """Exact bit counts of one packed draw in every format, and both accountings.

    Args:
        net: a compressed network description.
        p: input dimension.
        seed: draw ``params = net.init(PRNGKey(seed), p)`` when ``params`` is None.
        params: the draw to count (default: the one of ``seed``).
        key: the key of ``params`` (enables the ``"seeded"`` format when ``params`` is
            given; implied by ``seed`` otherwise).

    Returns:
        ``{"dense_bits", "formats", "format", "packed_bits", "header_bits",
        "memory_factor", "bits_per_hidden_weight", "accounting", "reference"}``:
        ``formats[f]`` holds ``packed_bits``, ``weight_bits``, ``header_bits``,
        ``bits_per_weight`` (weight bits per hidden weight) and ``memory_factor`` for each
        format; ``format`` is the smallest explicit format (never ``"seeded"``), whose
        numbers fill the top-level fields; ``accounting`` compares the real bits with the
        paper's ``(1 - eps)`` bits per weight and the entropy ``H(eps) + (1 - eps)``.
    """
    drawn = params is None
    if drawn:
        key = jax.random.PRNGKey(seed)
        params = net.init(key, p)
    layers_codes = _validated_codes(params, net)
    out = {"dense_bits": dense_bits(net.widths, p), "formats": {}}
    acc = _accounting(net, params)
    for fmt in FORMATS if key is not None else EXPLICIT_FORMATS:
        pk = _pack_format(params, net, fmt, key, layers_codes, verify=not drawn)
        out["formats"][fmt] = {"packed_bits": pk.bits, "weight_bits": pk.weight_bits,
                               "header_bits": pk.header_bits,
                               "bits_per_weight": pk.weight_bits / acc["n_weights"],
                               "memory_factor": out["dense_bits"] / pk.bits}
    fmt = min(EXPLICIT_FORMATS, key=lambda f: out["formats"][f]["packed_bits"])
    best = out["formats"][fmt]
    out.update(format=fmt, packed_bits=best["packed_bits"], header_bits=best["header_bits"],
               memory_factor=best["memory_factor"], n_weights=acc["n_weights"],
               bits_per_hidden_weight=(best["packed_bits"] - 32 * net.widths[-1])
               / acc["n_weights"])
    paper_bits = out["packed_bits"] - best["weight_bits"] + acc["paper_weight_bits"]
    out["accounting"] = {**acc, "paper_memory_factor": out["dense_bits"] / paper_bits,
                         "weight_bits_over_entropy": best["weight_bits"]
                         / acc["entropy_weight_bits"] if acc["entropy_weight_bits"] else None}
    e = 1.0 - acc["paper_bits_per_weight"]
    out["reference"] = {"official_accounting_factor": 32.0 / max(1.0 - e, 1e-12),
                        "entropy_bits_per_weight": acc["entropy_bits_per_weight"],
                        "measured_density": acc["measured_density"]}
    return out
