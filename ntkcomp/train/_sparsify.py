"""Sparsification baselines at the same sparsity eps as NTK-LC, and their memory in bits.

- :func:`magnitude_prune`: per hidden layer, keep the ``k = round((1 - eps) * size)`` entries
  of largest magnitude (ties broken by position, so exactly k survive) and zero the rest.
- :func:`random_sparsify`: per hidden layer, keep exactly k entries chosen uniformly at random.

Both act on the hidden weights ``W_1..W_L`` only (the output vector ``w`` is trained /
kept dense, as in the NTK-LC setting). With ``rescale=True`` the surviving weights of each
layer are multiplied by one scalar so that the layer's mean squared weight stays 1 (the
network's variance convention), which keeps the centred layer scales comparable; the scalar
is stored with the layer.

Memory (:func:`network_bits`, per layer :func:`sparse_float_bits`): the surviving values as
float32 plus their positions, the cheaper of a bitmask (one bit per entry) and a list of
``ceil(log2(size))``-bit indices, capped by the dense float32 size.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_finite_array, check_in_range

__all__ = [
    "dense_bits",
    "keep_count",
    "magnitude_prune",
    "network_bits",
    "random_sparsify",
    "sparse_float_bits",
]

FLOAT_BITS = 32


def keep_count(size: int, eps: float) -> int:
    """Number of entries kept at sparsity eps: ``round((1 - eps) * size)`` (at least 1)."""
    check_in_range("eps", eps, 0.0, 1.0)
    return max(1, int(round((1.0 - float(eps)) * size)))


def _hidden_weights(params: dict) -> list:
    """``params["W"]`` after checking that every matrix is real and finite."""
    if not isinstance(params, dict) or "W" not in params:
        raise ValueError("params must be a dict {'W': [W_1..W_L], 'w': w}")
    for l, W in enumerate(params["W"]):
        check_finite_array(f"params['W'][{l}]", W)
    return list(params["W"])


def _eps_list(eps, L):
    if np.ndim(eps) == 0:
        return [float(eps)] * L
    eps = [float(e) for e in eps]
    if len(eps) != L:
        raise ValueError(f"eps must be a scalar or a list of {L} (one per layer), got {len(eps)}")
    return eps


def _apply_mask(W, mask, rescale):
    Wm = W * mask
    if rescale:
        k = jnp.sum(mask)
        ms = jnp.sum(Wm * Wm) / k
        Wm = Wm / jnp.sqrt(ms)
    return Wm


def _mask_from_order(order, size, k, shape, dtype):
    mask = np.zeros(size, dtype=bool)
    mask[order[:k]] = True
    return jnp.asarray(mask.reshape(shape), dtype)


def magnitude_prune(params: dict, eps, *, rescale: bool = True) -> tuple[dict, dict]:
    """Keep the largest-magnitude fraction ``1 - eps`` of each hidden layer.

    Args:
      params: ``{"W": [W_1..W_L], "w": w}``.
      eps: sparsity in [0, 1) (fraction of zeros), scalar or per layer.
      rescale: renormalise the kept weights to mean square 1 per layer.

    Returns:
      ``(pruned_params, masks)``; masks has the same structure with 0/1 entries
      (``w``'s mask is all ones).

    Raises:
      ValueError: NaN/Inf in a hidden weight matrix (named), or eps outside [0, 1).
    """
    Ws = _hidden_weights(params)
    eps = _eps_list(eps, len(Ws))
    newW, masks = [], []
    for W, e in zip(Ws, eps):
        a = np.abs(np.asarray(W)).ravel()
        k = keep_count(a.size, e)
        # stable sort on -|W|: ties keep the earlier position -> exactly k entries survive
        order = np.argsort(-a, kind="stable")
        mask = _mask_from_order(order, a.size, k, W.shape, W.dtype)
        newW.append(_apply_mask(W, mask, rescale))
        masks.append(mask)
    return ({"W": newW, "w": params["w"]},
            {"W": masks, "w": jnp.ones_like(params["w"])})


def _random_subset(key: jax.Array, size: int, k: int) -> np.ndarray:
    """The ``k`` indices of a uniformly random ``k``-subset of ``range(size)``: the ``k``
    smallest of ``size`` i.i.d. 32-bit draws (linear-time selection). A tie at the k-th value
    (probability about ``size^2 / 2^33``) is broken by numpy's selection, the same for the
    same draws."""
    if k >= size:
        return np.arange(size)
    bits = np.asarray(jax.random.bits(key, (size,), jnp.uint32))
    return np.argpartition(bits, k - 1)[:k]


def random_sparsify(key: jax.Array, params: dict, eps, *, rescale: bool = True
                    ) -> tuple[dict, dict]:
    """Keep a uniformly random subset of exactly ``round((1 - eps) * size)`` entries per layer.

    Args:
      key: a JAX PRNG key (one subkey per layer).
      params: ``{"W": [W_1..W_L], "w": w}``.
      eps: sparsity in [0, 1) (fraction of zeros), scalar or per layer.
      rescale: renormalise the kept weights to mean square 1 per layer.

    Returns:
      ``(sparse_params, masks)``; masks has the same structure with 0/1 entries (``w``'s
      mask is all ones).

    Raises:
      ValueError: as :func:`magnitude_prune`.
    """
    Ws = _hidden_weights(params)
    eps = _eps_list(eps, len(Ws))
    keys = jax.random.split(key, len(Ws))
    newW, masks = [], []
    for kk, W, e in zip(keys, Ws, eps):
        size = int(np.prod(W.shape))
        k = keep_count(size, e)
        mask = _mask_from_order(_random_subset(kk, size, k), size, k, W.shape, W.dtype)
        newW.append(_apply_mask(W, mask, rescale))
        masks.append(mask)
    return ({"W": newW, "w": params["w"]},
            {"W": masks, "w": jnp.ones_like(params["w"])})


def dense_bits(shape) -> int:
    """float32 storage of a dense array: 32 bits per entry."""
    return FLOAT_BITS * int(np.prod(shape))


def sparse_float_bits(shape, nnz: int) -> int:
    """Bits to store a sparse float32 array with ``nnz`` non-zeros and its positions.

    ``min(bitmask, index list) + 32 nnz + 32`` (one float32 scale), capped by the dense
    size: bitmask = one bit per entry; index list = ``ceil(log2(size))`` bits per non-zero.
    """
    size = int(np.prod(shape))
    idx_bits = max(1, math.ceil(math.log2(max(size, 2))))
    pos = min(size, idx_bits * int(nnz))
    return min(dense_bits(shape), pos + FLOAT_BITS * int(nnz) + FLOAT_BITS)


def network_bits(params: dict, masks: dict | None = None, *, include_output: bool = True) -> int:
    """Memory of a (possibly masked) network's weights in bits (float32 values).

    Hidden layers: dense 32 bits/entry without a mask, :func:`sparse_float_bits` with one.
    See the theory page ``docs/theory/memory.md`` (section Storage accounting).

    Args:
      params: ``{"W": [W_1..W_L], "w": w}``.
      masks: None (dense) or a pytree like ``params`` with 0/1 entries (the stored support).
      include_output: count the output vector ``w`` (dense).

    Returns:
      The number of bits, an int.
    """
    total = 0
    for l, W in enumerate(params["W"]):
        if masks is None:
            total += dense_bits(W.shape)
        else:
            total += sparse_float_bits(W.shape, int(np.count_nonzero(np.asarray(masks["W"][l]))))
    if include_output:
        total += dense_bits(np.shape(params["w"]))
    return total
