"""Codecs of sparse ternary weight matrices (entries 0 or ``+-scale``), vectorised in NumPy.

A layer is coded from its flat row-major ternary codes ``c`` (``int8``: -1, 0, +1) of
``size = d_in * d_out`` entries with ``nnz`` non-zeros. Each codec returns named ``uint8``
arrays and a small dict of header fields; decoding returns ``c`` again.

``bitmask``
    ``mask``: packbits of ``c != 0`` (``ceil(size / 8)`` bytes); ``sign``: packbits of
    ``c < 0`` over the non-zeros (``ceil(nnz / 8)`` bytes): ``1 + (1 - eps)`` bits per weight.
``2bit``
    ``codes``: four 2-bit codes per byte, code j of a byte in bits ``2j .. 2j + 1``;
    0 -> 0, 1 -> +1, 2 -> -1 (the value 3 never occurs): 2 bits per weight.
``entropy``
    Rice code of the gaps between non-zeros plus one sign bit per non-zero, in three
    streams so that decoding is vectorised. With ``g_i`` the number of zeros before the
    i-th non-zero and the Rice parameter ``k``: ``runs`` holds, for each i, ``g_i >> k``
    zero bits followed by a one bit (packbits, ``unary_bits`` bits in all); ``low`` holds
    the ``k`` low bits of each ``g_i``, most significant first (``ceil(nnz k / 8)`` bytes);
    ``sign`` is as for ``bitmask``. Zeros after the last non-zero are implied by ``size``.
    ``k`` minimises the exact stream length. For i.i.d. entries with ``P(0) = eps`` the
    gaps are geometric and the Rice code is within a few percent of the entropy
    ``H(eps) + (1 - eps)`` bits per weight for eps in [0.5, 0.99]; see the theory page
    ``docs/theory/memory.md`` (section Formats).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["decode", "encode", "ternary_codes"]

_RICE_MAX = 40


def ternary_codes(W, name: str, rtol: float = 1e-6) -> tuple[np.ndarray, float]:
    """Flat int8 codes (-1, 0, +1) and the common magnitude ``scale`` of a ternary matrix.

    Raises:
        ValueError: the non-zero magnitudes of ``W`` differ by more than ``rtol`` relative,
            or ``W`` holds NaN/Inf (the message names ``name``).
    """
    W = np.asarray(W, dtype=np.float64)
    if not np.all(np.isfinite(W)):
        raise ValueError(f"{name} must be finite (found NaN or Inf entries)")
    flat = W.ravel()
    codes = np.sign(flat).astype(np.int8)
    mags = np.abs(flat[codes != 0])
    if mags.size == 0:
        return codes, 1.0
    scale = float(mags[0])
    if np.max(np.abs(mags - scale)) > rtol * scale:
        raise ValueError(f"{name} is not sparse ternary (entries must be 0 or +-scale with one "
                         f"scale per layer); magnitudes range over [{mags.min()}, {mags.max()}]")
    return codes, scale


def _encode_bitmask(codes: np.ndarray):
    nz = codes != 0
    return {"mask": np.packbits(nz), "sign": np.packbits(codes[nz] < 0)}, {}


def _encode_2bit(codes: np.ndarray):
    c = np.where(codes < 0, 2, codes).astype(np.uint8)
    c = np.concatenate([c, np.zeros((-c.size) % 4, np.uint8)]).reshape(-1, 4)
    packed = c[:, 0] | (c[:, 1] << 2) | (c[:, 2] << 4) | (c[:, 3] << 6)
    return {"codes": packed.astype(np.uint8)}, {}


def _rice_parameter(gaps: np.ndarray) -> int:
    """The ``k`` minimising ``sum(g >> k) + nnz (k + 1)`` (exact Rice stream length)."""
    if gaps.size == 0:
        return 0
    guess = max(0, int(math.log2(max(float(np.mean(gaps)), 1.0) * math.log(2) + 1e-12)))
    candidates = range(max(0, guess - 2), min(_RICE_MAX, guess + 3))
    return min(candidates, key=lambda k: int(np.sum(gaps >> k)) + gaps.size * (k + 1))


def _encode_entropy(codes: np.ndarray):
    pos = np.flatnonzero(codes)
    gaps = np.diff(pos, prepend=-1) - 1
    k = _rice_parameter(gaps)
    ends = np.cumsum((gaps >> k) + 1) - 1
    unary_bits = int(ends[-1]) + 1 if pos.size else 0
    unary = np.zeros(unary_bits, np.uint8)
    unary[ends] = 1
    if k:
        low = (gaps[:, None] >> np.arange(k - 1, -1, -1)) & 1
        low = np.packbits(low.astype(np.uint8).ravel())
    else:
        low = np.zeros(0, np.uint8)
    arrays = {"runs": np.packbits(unary), "low": low, "sign": np.packbits(codes[pos] < 0)}
    return arrays, {"rice_k": int(k), "unary_bits": unary_bits}


def encode(codes: np.ndarray, fmt: str) -> tuple[dict, dict]:
    """``(arrays, fields)`` of the flat int8 ternary ``codes`` in format ``fmt``
    (``"bitmask"``, ``"2bit"`` or ``"entropy"``); ``arrays`` maps the stream names of the
    module docstring to uint8 arrays, ``fields`` holds the header fields the format needs."""
    return {"bitmask": _encode_bitmask, "2bit": _encode_2bit,
            "entropy": _encode_entropy}[fmt](codes)


def _signed(size: int, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    codes = np.zeros(size, np.int8)
    codes[pos] = np.where(neg, -1, 1)
    return codes


def _decode_entropy(arrays: dict, fields: dict, size: int, nnz: int) -> np.ndarray:
    k, unary_bits = int(fields["rice_k"]), int(fields["unary_bits"])
    ends = np.flatnonzero(np.unpackbits(arrays["runs"], count=unary_bits))
    if ends.size != nnz:
        raise ValueError(f"the gap stream holds {ends.size} gaps, expected nnz = {nnz}")
    if nnz and ends[-1] != unary_bits - 1:
        raise ValueError(f"unary_bits = {unary_bits} does not end at the last gap")
    gaps = (np.diff(ends, prepend=-1) - 1).astype(np.int64) << k
    if k:
        low = np.unpackbits(arrays["low"], count=nnz * k).reshape(nnz, k).astype(np.int64)
        gaps |= low @ (np.int64(1) << np.arange(k - 1, -1, -1, dtype=np.int64))
    pos = np.cumsum(gaps + 1) - 1
    if nnz and pos[-1] >= size:
        raise ValueError(f"the gaps reach position {int(pos[-1])} beyond the {size} entries")
    neg = np.unpackbits(arrays["sign"], count=nnz).astype(bool)
    return _signed(size, pos, neg)


def decode(arrays: dict, fields: dict, fmt: str, size: int, nnz: int) -> np.ndarray:
    """Flat int8 codes ``(size,)`` from the streams of :func:`encode`.

    Raises:
        ValueError: the streams are inconsistent with ``size`` and ``nnz``.
    """
    if fmt == "bitmask":
        nz = np.unpackbits(arrays["mask"], count=size).astype(bool)
        neg = np.unpackbits(arrays["sign"], count=nnz).astype(bool)
        return _signed(size, np.flatnonzero(nz), neg)
    if fmt == "2bit":
        b = arrays["codes"]
        c = np.stack([(b >> (2 * j)) & 3 for j in range(4)], axis=1).ravel()[:size]
        return np.where(c == 2, -1, c).astype(np.int8)
    return _decode_entropy(arrays, fields, size, nnz)
