"""Packed storage of a compressed network and exact bit counts.

Format (one :class:`PackedNetwork` = a JSON header + named numpy arrays, stored as one
``.npz`` without pickle; the header travels as a uint8 array ``__header__``):

Per layer l (``W_l`` of shape ``(d_{l-1}, d_l)``, sparse ternary: entries 0 or
``+-scale_l``, row-major order):

``format="bitmask"`` (default)
    ``mask_l``  uint8, ``ceil(d_{l-1} d_l / 8)`` bytes: np.packbits of ``W != 0``;
    ``sign_l``  uint8, ``ceil(nnz / 8)`` bytes: packbits of ``W < 0`` over the non-zeros;
    -> ``1 + (1 - eps)`` bits per weight.
``format="2bit"``
    ``codes_l`` uint8, ``ceil(d_{l-1} d_l / 4)`` bytes: 2-bit codes 0 -> 0, 1 -> +1, 2 -> -1,
    four per byte (code j of a byte in bits 2j..2j+1) -> 2 bits per weight.

plus ``scale_l`` float32 (1,), the activation's ``thresholds_l`` / ``levels_l`` float32,
``centers`` float32 (L,) (the centring m_l) and the output weights ``w`` float32 (d_L,),
which are not compressed. The memory factor is ``dense bits / packed bits`` where dense is
float32 weights + w and packed is ``8 * sum(nbytes)`` of the arrays above (the JSON header --
names and shapes -- is reported separately, ``header_bits``).
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

from ntkcomp._io import atomic_write_npz
from ntkcomp._validate import check_choice

__all__ = ["PackedNetwork", "pack", "unpack", "packed_apply", "save", "load",
           "memory_report", "FORMATS"]

FORMATS = ("bitmask", "2bit")
_VERSION = 1


@dataclasses.dataclass
class PackedNetwork:
    """Header (JSON-able dict) + arrays (name -> numpy array) of a packed network."""
    header: dict
    arrays: dict

    @property
    def bits(self) -> int:
        """Exact storage of the arrays in bits (8 * total nbytes)."""
        return int(8 * sum(a.nbytes for a in self.arrays.values()))

    @property
    def header_bits(self) -> int:
        return 8 * len(json.dumps(self.header).encode())


def _ternary_codes(W: np.ndarray, name: str, rtol: float = 1e-6):
    W = np.asarray(W, dtype=np.float64)
    nz = W != 0
    if not np.any(nz):
        return nz, np.zeros_like(nz), 1.0
    mags = np.abs(W[nz])
    scale = float(np.median(mags))
    if np.max(np.abs(mags - scale)) > rtol * scale:
        raise ValueError(f"{name} is not sparse ternary (entries must be 0 or +-scale with one "
                         f"scale per layer); magnitudes range over [{mags.min()}, {mags.max()}]")
    return nz, W < 0, scale


def _activation_record(act) -> dict:
    if act.kind != "piecewise_constant":
        raise ValueError(f"net.activations must be piecewise constant (binary, ternary, "
                         f"k_level) to be packed, got {act.name!r}")
    return {"name": act.name, "params": {k: np.asarray(v, dtype=np.float64).tolist()
                                         for k, v in act.params.items()}}


def pack(params: dict, net, *, format: str = "bitmask") -> PackedNetwork:
    """Pack ``params`` (from ``net.init``) of a compressed ``net`` (sparse ternary weights,
    piecewise-constant activations). Raises ValueError for anything else."""
    check_choice("format", format, FORMATS)
    net.check_params(params)
    arrays, layers = {}, []
    for act in net.activations:
        _activation_record(act)  # validates every layer before any work
    for l, (W, act) in enumerate(zip(params["W"], net.activations)):
        W = np.asarray(W)
        nz, neg, scale = _ternary_codes(W, f"params['W'][{l}]")
        flat_nz, flat_neg = nz.ravel(), neg.ravel()
        if format == "bitmask":
            arrays[f"mask_{l}"] = np.packbits(flat_nz)
            arrays[f"sign_{l}"] = np.packbits(flat_neg[flat_nz])
        else:
            codes = np.where(flat_nz, np.where(flat_neg, 2, 1), 0).astype(np.uint8)
            pad = (-codes.size) % 4
            codes = np.concatenate([codes, np.zeros(pad, np.uint8)]).reshape(-1, 4)
            arrays[f"codes_{l}"] = (codes[:, 0] | (codes[:, 1] << 2) | (codes[:, 2] << 4)
                                    | (codes[:, 3] << 6)).astype(np.uint8)
        arrays[f"scale_{l}"] = np.asarray([scale], dtype=np.float32)
        arrays[f"thresholds_{l}"] = np.asarray(act.thresholds(), dtype=np.float32)
        arrays[f"levels_{l}"] = np.asarray(act.levels(), dtype=np.float32)
        layers.append({"shape": list(W.shape), "nnz": int(flat_nz.sum()),
                       "activation": _activation_record(act),
                       "weight_law": {"name": net.weight_laws[l].name,
                                      **dict(net.weight_laws[l].params)}})
    arrays["centers"] = np.asarray(net.centers, dtype=np.float32)
    arrays["w"] = np.asarray(params["w"], dtype=np.float32)
    header = {"ntkcomp_packed": _VERSION, "format": format, "widths": list(net.widths),
              "p": int(np.shape(params["W"][0])[0]), "tau0": float(net.tau0),
              "layers": layers}
    return PackedNetwork(header=header, arrays=arrays)


def _decode_weights(packed: PackedNetwork, l: int) -> np.ndarray:
    h = packed.header
    shape = tuple(h["layers"][l]["shape"])
    size = shape[0] * shape[1]
    scale = np.float64(packed.arrays[f"scale_{l}"][0])
    if h["format"] == "bitmask":
        nz = np.unpackbits(packed.arrays[f"mask_{l}"], count=size).astype(bool)
        nnz = int(nz.sum())
        neg = np.unpackbits(packed.arrays[f"sign_{l}"], count=nnz).astype(bool)
        vals = np.zeros(size)
        vals[nz] = np.where(neg, -scale, scale)
    else:
        b = packed.arrays[f"codes_{l}"]
        codes = np.stack([(b >> (2 * j)) & 3 for j in range(4)], axis=1).ravel()[:size]
        vals = np.select([codes == 1, codes == 2], [scale, -scale], 0.0)
    return vals.reshape(shape)


def _check_consistent(packed: PackedNetwork, origin: str = "packed network"):
    h, a = packed.header, packed.arrays
    try:
        if h.get("ntkcomp_packed") != _VERSION or h["format"] not in FORMATS:
            raise ValueError("unknown header version or format")
        for l, rec in enumerate(h["layers"]):
            size = int(rec["shape"][0]) * int(rec["shape"][1])
            if h["format"] == "bitmask":
                if a[f"mask_{l}"].dtype != np.uint8 or a[f"mask_{l}"].size != math.ceil(size / 8):
                    raise ValueError(f"mask_{l} has the wrong size")
                nnz = int(np.unpackbits(a[f"mask_{l}"], count=size).sum())
                if nnz != rec["nnz"] or a[f"sign_{l}"].size != math.ceil(nnz / 8):
                    raise ValueError(f"sign_{l} / nnz inconsistent")
            elif a[f"codes_{l}"].size != math.ceil(size / 4):
                raise ValueError(f"codes_{l} has the wrong size")
            if a[f"levels_{l}"].size != a[f"thresholds_{l}"].size + 1:
                raise ValueError(f"levels_{l} / thresholds_{l} inconsistent")
        if a["w"].size != h["widths"][-1] or a["centers"].size != len(h["widths"]):
            raise ValueError("w / centers have the wrong size")
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"{origin}: corrupted or incomplete packed network ({e!r})") from None
    except ValueError as e:
        raise ValueError(f"{origin}: corrupted packed network: {e}") from None


def unpack(packed: PackedNetwork):
    """Return ``(params, net)``: float64 weights decoded from the packed codes (values
    ``+-scale_l`` with the stored float32 scale) and the ``MLP`` rebuilt from the header
    (activation parameters as stored, i.e. rounded to float32)."""
    from ntkcomp.activations import get
    from ntkcomp.networks import MLP, weight_law

    _check_consistent(packed)
    h = packed.header
    acts, laws = [], []
    for l, rec in enumerate(h["layers"]):
        thr = packed.arrays[f"thresholds_{l}"].astype(np.float64)
        lev = packed.arrays[f"levels_{l}"].astype(np.float64)
        acts.append(get("k_level", thresholds=thr, levels=lev))
        wl = dict(rec["weight_law"])
        laws.append(weight_law(wl.pop("name"), **wl))
    net = MLP(h["widths"], acts, weights=laws, tau0=h["tau0"])
    dtype = jnp.result_type(float)
    params = {"W": [jnp.asarray(_decode_weights(packed, l), dtype) for l in range(len(acts))],
              "w": jnp.asarray(packed.arrays["w"].astype(np.float64), dtype)}
    return params, net


def packed_apply(packed: PackedNetwork, X) -> jax.Array:
    """Forward pass read directly from the packed arrays: per layer decode the codes,
    ``g = h @ W``, ``sigma`` from the stored thresholds/levels, subtract the stored centre,
    divide by sqrt(d_l); output ``h_L @ w``. Shape ``(n,)``."""
    _check_consistent(packed)
    h = jnp.asarray(X)
    dtype = h.dtype
    for l, d in enumerate(packed.header["widths"]):
        W = jnp.asarray(_decode_weights(packed, l), dtype)
        thr = jnp.asarray(packed.arrays[f"thresholds_{l}"], dtype)
        lev = jnp.asarray(packed.arrays[f"levels_{l}"], dtype)
        g = h @ W
        sig = lev[0] + jnp.sum((g[..., None] > thr) * jnp.diff(lev), axis=-1)
        h = (sig - jnp.asarray(packed.arrays["centers"][l], dtype)) / jnp.sqrt(
            jnp.asarray(d, dtype))
    return h @ jnp.asarray(packed.arrays["w"], dtype)


def save(path: str | os.PathLike, packed: PackedNetwork) -> None:
    """Write ``packed`` to ``path`` (.npz, atomic, no pickle)."""
    header = np.frombuffer(json.dumps(packed.header).encode(), dtype=np.uint8)
    atomic_write_npz(path, __header__=header, **packed.arrays)


def load(path: str | os.PathLike) -> PackedNetwork:
    """Read a file written by :func:`save`; any corruption -> ValueError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in z.files}
        header = json.loads(arrays.pop("__header__").tobytes().decode())
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError,
            UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{os.fspath(path)}: not a valid ntkcomp packed network ({e!r})") \
            from None
    packed = PackedNetwork(header=header, arrays=arrays)
    _check_consistent(packed, origin=os.fspath(path))
    return packed


def dense_bits(widths, p: int) -> int:
    """float32 storage of a dense MLP: all W_l plus the output weights w."""
    dims = [int(p), *[int(d) for d in widths]]
    return 32 * (sum(a * b for a, b in zip(dims[:-1], dims[1:])) + dims[-1])


def memory_report(net, p: int, *, seed: int = 0, params: dict | None = None) -> dict:
    """Exact bit counts, dense float32 vs the real packed formats, from one packed draw.

    Returns dense_bits, packed_bits (chosen = the smaller of "bitmask" and "2bit"),
    per-format bits, header bits, bits per weight, ``memory_factor = dense / packed``, and
    for reference the "official accounting" 32/(1-eps) and the entropy bound
    ``H(eps) + (1 - eps)`` bits per weight (no real format here reaches it).
    """
    if params is None:
        params = net.init(jax.random.PRNGKey(seed), p)
    out = {"dense_bits": dense_bits(net.widths, p), "formats": {}}
    for fmt in FORMATS:
        pk = pack(params, net, format=fmt)
        out["formats"][fmt] = {"packed_bits": pk.bits, "header_bits": pk.header_bits}
    fmt = min(out["formats"], key=lambda f: out["formats"][f]["packed_bits"])
    n_w = sum(int(np.size(W)) for W in params["W"])
    out.update(format=fmt, packed_bits=out["formats"][fmt]["packed_bits"],
               header_bits=out["formats"][fmt]["header_bits"], n_weights=n_w)
    out["memory_factor"] = out["dense_bits"] / out["packed_bits"]
    nnz = sum(int(np.count_nonzero(np.asarray(W))) for W in params["W"])
    out["bits_per_hidden_weight"] = (out["packed_bits"] - 32 * net.widths[-1]) / n_w
    eps = [float(dict(law.params).get("eps", 0.0)) for law in net.weight_laws]
    e = float(np.mean(eps))
    H = 0.0 if e in (0.0, 1.0) else -(e * math.log2(e) + (1 - e) * math.log2(1 - e))
    out["reference"] = {"official_accounting_factor": 32.0 / max(1.0 - e, 1e-12),
                        "entropy_bits_per_weight": H + (1 - e),
                        "measured_density": nnz / n_w}
    return out
