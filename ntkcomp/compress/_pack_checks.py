"""Content validation of a packed network (header + arrays) before anything uses it.

Every violation raises ``ValueError("<origin>: field <name>: <what is wrong>")`` where
``origin`` names the file (or "packed network" in memory) and ``name`` the header key or
array. Checked, in order: the header is a JSON object of the known version and format;
``p``, ``widths``, ``tau0`` and the per-layer records are well formed and the layer shapes
chain from ``p`` through the widths; the set of arrays is exactly the one the format needs
and each matches its SHA-256 checksum; the weight streams have the sizes their header
fields imply and decode to exactly ``nnz`` non-zeros (2-bit codes never hold the unused
value 3, padding bits are zero); scales are finite and positive; thresholds are finite and
strictly increasing, levels, centres and output weights finite.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from ntkcomp.compress import _pack_codecs as codecs

__all__ = ["PackError", "array_checksum", "check_packed", "stream_names"]

VERSION = 2
FORMATS = ("bitmask", "2bit", "entropy", "seeded")
_STREAMS = (("bitmask", ("mask", "sign")), ("2bit", ("codes",)),
            ("entropy", ("runs", "low", "sign")), ("seeded", ()))


class PackError(ValueError):
    """A packed network violates its format; ``field`` names the offending entry."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field}: {message}")
        self.field = field


def array_checksum(a: np.ndarray) -> str:
    """SHA-256 (hex) of an array's dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def stream_names(fmt: str, l: int) -> list[str]:
    """Names of the weight-code arrays of layer ``l`` in format ``fmt``."""
    return [f"{s}_{l}" for s in dict(_STREAMS)[fmt]]


def expected_arrays(header: dict) -> set[str]:
    """Every array name a packed network of this (already checked) header must hold."""
    names = {"centers", "w"} | ({"key"} if header["format"] == "seeded" else set())
    for l in range(len(header["widths"])):
        names |= {f"scale_{l}", f"thresholds_{l}", f"levels_{l}"}
        names |= set(stream_names(header["format"], l))
    return names


def _positive_int(field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PackError(field, f"must be a positive integer, got {value!r}")
    return value


def _check_header(h) -> None:
    if not isinstance(h, dict):
        raise PackError("header", f"must be a JSON object, got {type(h).__name__}")
    if h.get("ntkcomp_packed") != VERSION:
        raise PackError("ntkcomp_packed", f"must be version {VERSION}, got "
                        f"{h.get('ntkcomp_packed')!r}")
    if h.get("format") not in FORMATS:
        raise PackError("format", f"must be one of {list(FORMATS)}, got {h.get('format')!r}")
    p = _positive_int("p", h.get("p"))
    widths = h.get("widths")
    if not isinstance(widths, list) or not widths:
        raise PackError("widths", f"must be a non-empty list, got {widths!r}")
    for l, d in enumerate(widths):
        _positive_int(f"widths[{l}]", d)
    tau0 = h.get("tau0")
    if not isinstance(tau0, (int, float)) or not math.isfinite(tau0) or tau0 <= 0:
        raise PackError("tau0", f"must be a finite number > 0, got {tau0!r}")
    layers = h.get("layers")
    if not isinstance(layers, list) or len(layers) != len(widths):
        raise PackError("layers", f"must be a list of {len(widths)} layer records")
    if not isinstance(h.get("checksums"), dict):
        raise PackError("checksums", "must be an object mapping array names to SHA-256")
    dims = [p, *widths]
    for l, rec in enumerate(layers):
        if not isinstance(rec, dict):
            raise PackError(f"layers[{l}]", "must be a JSON object")
        if rec.get("shape") != [dims[l], dims[l + 1]]:
            raise PackError(f"layers[{l}].shape", f"must be [{dims[l]}, {dims[l + 1]}] "
                            f"(chained from p through the widths), got {rec.get('shape')!r}")
        nnz, size = rec.get("nnz"), dims[l] * dims[l + 1]
        if isinstance(nnz, bool) or not isinstance(nnz, int) or not 0 <= nnz <= size:
            raise PackError(f"layers[{l}].nnz", f"must be an integer in [0, {size}], "
                            f"got {nnz!r}")
        for key in ("activation", "weight_law"):
            if not isinstance(rec.get(key), dict) or not isinstance(rec[key].get("name"), str):
                raise PackError(f"layers[{l}].{key}", "must be an object with a 'name'")


def _check_checksums(h: dict, arrays: dict) -> None:
    need = expected_arrays(h)
    missing, extra = sorted(need - set(arrays)), sorted(set(arrays) - need)
    if missing or extra:
        raise PackError(missing[0] if missing else extra[0],
                        f"arrays missing {missing} / unexpected {extra}")
    for name in sorted(need):
        if h["checksums"].get(name) != array_checksum(arrays[name]):
            raise PackError(name, "SHA-256 checksum does not match the header")


def _check_streams(h: dict, arrays: dict, l: int) -> None:
    rec, fmt = h["layers"][l], h["format"]
    size, nnz = rec["shape"][0] * rec["shape"][1], rec["nnz"]
    names = stream_names(fmt, l)
    for name in names:
        if arrays[name].dtype != np.uint8 or arrays[name].ndim != 1:
            raise PackError(name, f"must be a 1-D uint8 array, got {arrays[name].dtype} "
                            f"{arrays[name].shape}")
    if fmt == "entropy":
        for key, top in (("rice_k", 40), ("unary_bits", 64 * size + 1)):
            v = rec.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < top:
                raise PackError(f"layers[{l}].{key}", f"must be an integer in [0, {top}), "
                                f"got {v!r}")
    sizes = {"bitmask": (math.ceil(size / 8), math.ceil(nnz / 8)),
             "2bit": (math.ceil(size / 4),),
             "entropy": (math.ceil(rec.get("unary_bits", 0) / 8),
                         math.ceil(nnz * rec.get("rice_k", 0) / 8), math.ceil(nnz / 8))}[fmt]
    for name, n in zip(names, sizes):
        if arrays[name].size != n:
            raise PackError(name, f"must hold {n} bytes, got {arrays[name].size}")
    if fmt == "2bit":
        b = arrays[names[0]]
        c = np.stack([(b >> (2 * j)) & 3 for j in range(4)], axis=1).ravel()
        if np.any(c == 3):
            raise PackError(names[0], "holds the unused 2-bit code 3")
        if np.any(c[size:]):
            raise PackError(names[0], "padding codes after the last entry must be 0")
    if fmt == "bitmask" and int(np.unpackbits(arrays[names[0]]).sum()) != nnz:
        raise PackError(names[0], f"must mark exactly nnz = {nnz} non-zeros (padding bits 0)")
    _check_decoded(names[0], {n.rsplit("_", 1)[0]: arrays[n] for n in names}, rec, fmt)


def _check_decoded(name: str, streams: dict, rec: dict, fmt: str) -> None:
    size, nnz = rec["shape"][0] * rec["shape"][1], rec["nnz"]
    try:
        codes = codecs.decode(streams, rec, fmt, size, nnz)
    except ValueError as e:
        raise PackError(name, str(e)) from None
    if int(np.count_nonzero(codes)) != nnz:
        raise PackError(name, f"decodes to {int(np.count_nonzero(codes))} non-zeros, "
                        f"expected nnz = {nnz}")


def _finite(name: str, a: np.ndarray, size: int | None = None) -> np.ndarray:
    if a.dtype.kind != "f":
        raise PackError(name, f"must be a float array, got dtype {a.dtype}")
    if size is not None and a.shape != (size,):
        raise PackError(name, f"must have shape ({size},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise PackError(name, "must be finite (found NaN or Inf)")
    return a


def _check_values(h: dict, arrays: dict) -> None:
    widths = h["widths"]
    for l in range(len(widths)):
        if not _finite(f"scale_{l}", arrays[f"scale_{l}"], 1)[0] > 0:
            raise PackError(f"scale_{l}", f"must be > 0, got {arrays[f'scale_{l}'][0]!r}")
        thr = _finite(f"thresholds_{l}", arrays[f"thresholds_{l}"])
        if thr.ndim != 1 or np.any(np.diff(thr) <= 0):
            raise PackError(f"thresholds_{l}", "must be a strictly increasing 1-D array")
        _finite(f"levels_{l}", arrays[f"levels_{l}"], thr.size + 1)
    _finite("centers", arrays["centers"], len(widths))
    _finite("w", arrays["w"], widths[-1])
    if h["format"] == "seeded":
        key = arrays["key"]
        if key.dtype != np.uint32 or key.ndim != 1 or key.size == 0:
            raise PackError("key", f"must be a 1-D uint32 array, got {key.dtype} {key.shape}")
        seed = h.get("seed")
        if not isinstance(seed, dict) or not isinstance(seed.get("x64"), bool) or not all(
                isinstance(seed.get(k), str) for k in ("prng_impl", "jax_version", "dtype")):
            raise PackError("seed", "must be an object with prng_impl, jax_version, dtype "
                            "(strings) and x64 (bool)")
        for l, rec in enumerate(h["layers"]):
            if not isinstance(rec.get("codes_sha256"), str):
                raise PackError(f"layers[{l}].codes_sha256", "must be a SHA-256 hex string")


def check_packed(header, arrays: dict) -> None:
    """Validate a packed network completely (see the module docstring).

    Raises:
        PackError: the first violation found, naming its field.
    """
    _check_header(header)
    _check_checksums(header, arrays)
    _check_values(header, arrays)
    if header["format"] != "seeded":
        for l in range(len(header["widths"])):
            _check_streams(header, arrays, l)
