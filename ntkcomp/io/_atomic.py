"""Atomic file writes and their readers.

Every file ntkcomp writes goes through :func:`atomic_write_bytes`: the data is written to a
temporary file in the destination directory, flushed, ``fsync``'ed, then renamed over the
target (``os.replace`` is atomic on POSIX), so a killed run never leaves a half-written file
behind; the new file gets the mode ``open(path, "w")`` would give it (``0o666`` minus the
umask).
"""
from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_npz", "read_json",
           "to_jsonable"]


def _current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux >= 4.7:
    ``/proc/self/status``). Elsewhere it falls back to setting and restoring it, which is
    not thread-safe: a file another thread creates in that instant would get mode 0o666."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_file_mode() -> int:
    """``0o666`` minus the process umask (``mkstemp`` alone would create ``0o600``)."""
    return 0o666 & ~_current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent directories.

    Args:
        path: destination file.
        data: the file's complete content; a ``str`` is written encoded as UTF-8.

    Returns:
        ``Path(path)``.

    Raises:
        NotADirectoryError: a parent of ``path`` is an existing file.
        OSError: the write failed; the previous content of ``path`` is then untouched and no
            temporary file is left behind.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"path {str(path)!r} cannot be written: a parent of it is an "
                                 "existing file, not a directory") from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), _default_file_mode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """A JSON-serialisable copy of ``obj``.

    Dict keys become strings, tuples become lists, NumPy/JAX arrays and scalars become
    (nested) Python lists and numbers, paths become strings. JSON has no NaN or Inf: such
    floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (visible, never
    silently dropped). Other objects are returned unchanged.

    Args:
        obj: any nesting of dicts, lists, tuples, arrays, scalars and paths.

    Returns:
        The converted copy (``obj`` itself is not modified).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return to_jsonable(np.asarray(obj).tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else str(f)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``to_jsonable(obj)`` as indented JSON (2 spaces, trailing newline) atomically.

    The file is written to a temporary name in the same directory and renamed over
    ``path``: a reader sees the old file or the new one, never a partial one.

    Args:
        path: destination file (missing parent directories are created).
        obj: the value, converted by :func:`to_jsonable`.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        TypeError: ``obj`` holds a value JSON cannot represent.
    """
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def atomic_write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write the named arrays to an uncompressed ``.npz`` atomically.

    Args:
        path: destination file (missing parent directories are created).
        arrays: name to array (anything :func:`numpy.asarray` accepts).

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: an array has dtype object (no pickle is ever written).
    """
    buf = io.BytesIO()
    converted = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in converted.items():
        if v.dtype.kind == "O":
            raise ValueError(f"array {k!r} has dtype object; only numeric arrays are written")
    np.savez(buf, **converted)
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`.

    Args:
        path: the file.

    Returns:
        The decoded value (non-finite floats stay the strings :func:`to_jsonable` wrote).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not valid UTF-8 JSON (the message names the file).
    """
    try:
        return json.loads(Path(path).read_bytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{os.fspath(path)}: not a valid JSON file ({e})") from None
