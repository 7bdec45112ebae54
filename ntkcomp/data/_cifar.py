"""CIFAR-10 from the standard binary files at a path you give (never downloaded).

The binary version of CIFAR-10 (``cifar-10-binary.tar.gz``, directory
``cifar-10-batches-bin``) holds ``data_batch_1.bin`` ... ``data_batch_5.bin`` (training,
10,000 images each) and ``test_batch.bin`` (10,000 test images). Every record is 3073
bytes: one label byte in ``0..9``, then 3072 pixel bytes, the 1024 red, 1024 green and 1024
blue values of a 32 x 32 image in row-major order.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["CIFAR10_FILES", "load_cifar10", "read_cifar10_batch"]

RECORD_BYTES = 3073
CIFAR10_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
_GET_FILES_HINT = (
    "load_cifar10 never downloads: get the CIFAR-10 binary version (cifar-10-binary.tar.gz "
    "from https://www.cs.toronto.edu/~kriz/cifar.html), unpack it and pass the directory "
    "cifar-10-batches-bin, which holds " + ", ".join(CIFAR10_FILES))


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch file.

    Args:
        path: a file of 3073-byte records (label byte, then 3072 channel-major pixels).

    Returns:
        ``(images, labels)``: ``uint8 (n, 32, 32, 3)`` (height, width, channel) and
        ``int64 (n,)`` in ``0..9``.

    Raises:
        FileNotFoundError: the file does not exist (the message says how to get it).
        ValueError: the size is not a positive multiple of 3073 bytes or a label exceeds 9.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} does not exist. {_GET_FILES_HINT}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise ValueError(f"path {str(path)!r} has {raw.size} bytes, not a positive multiple of "
                         f"the {RECORD_BYTES}-byte CIFAR-10 record")
    rec = raw.reshape(-1, RECORD_BYTES)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"path {str(path)!r}: label {int(labels.max())} outside 0..9 "
                         "(not a CIFAR-10 binary batch)")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar10(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """All of CIFAR-10 from a directory of the six standard binary files.

    Args:
        path: the directory holding ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
            ``test_batch.bin`` (:data:`CIFAR10_FILES`).

    Returns:
        ``(x_train, y_train, x_test, y_test)``: ``uint8 (n, 32, 32, 3)`` images and
        ``int64`` labels in ``0..9``, training batches concatenated in order.

    Raises:
        FileNotFoundError: ``path`` is not a directory or misses a file; the message names
            the missing files and where to get them.
        ValueError: a malformed file (see :func:`read_cifar10_batch`).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a directory path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"path {str(path)!r} is not a directory. {_GET_FILES_HINT}")
    missing = [f for f in CIFAR10_FILES if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"path {str(path)!r} lacks {missing}. {_GET_FILES_HINT}")
    train = [read_cifar10_batch(path / f) for f in CIFAR10_FILES[:-1]]
    x_test, y_test = read_cifar10_batch(path / CIFAR10_FILES[-1])
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
            x_test, y_test)
