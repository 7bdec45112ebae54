"""Atomic result writing and run metadata (config, versions, git revision, seeds).

Every file ntkcomp writes goes through these helpers: data is written to a
temporary file in the destination directory, flushed, fsync'ed, then renamed
over the target (``os.replace`` is atomic on POSIX), so a killed run never
leaves a half-written file behind.
"""
from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


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
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` would give a new file
    (``mkstemp`` creates ``0o600``, which would make results unreadable to co-workers)."""
    return 0o666 & ~_current_umask()


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
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


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return _to_jsonable(np.asarray(obj).tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        if f != f or f in (float("inf"), float("-inf")):
            return str(f)  # JSON has no NaN/Inf: write them as strings, visibly
        return f
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy/JAX arrays become lists)."""
    text = json.dumps(_to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return _atomic_write_bytes(path, (text + "\n").encode())


def atomic_write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write arrays to an ``.npz`` atomically (no pickle: object arrays are refused)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return _atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return _atomic_write_bytes(path, text.encode())


def git_revision(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit (with ``-dirty`` if the tree has changes), or None."""
    try:
        cwd = cwd or Path(__file__).resolve().parent
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True,
                               text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except Exception:
        return None


def parse_cpuinfo(text: str) -> tuple[str | None, list[str]]:
    """``(model, units)`` from the text of Linux ``/proc/cpuinfo``: the first ``model name``
    and, of the first ``flags`` (x86) or ``Features`` (ARM) line, the widest vector /
    matrix units present, in a fixed order (ARM's ``asimd`` reported as ``neon``)."""
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
        if model is not None and flags is not None:
            break
    flags = flags or set()
    if "asimd" in flags:
        flags.add("neon")
    units = [u for u in ("avx512f", "amx_tile", "amx_bf16", "avx2", "fma", "neon", "sve")
             if u in flags]
    return model, units


def cpu_description() -> str:
    """CPU model, logical core count and its widest vector / matrix units (e.g.
    ``"AMD EPYC, 2 cores, avx2 fma"``): timings are only comparable on the same host kind
    (Linux ``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            model, units = parse_cpuinfo(f.read())
    except OSError:
        model, units = None, []
    model = model or platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores" + (f", {' '.join(units)}" if units else "")


def versions() -> dict[str, str]:
    """Versions of ntkcomp and its numerical stack, plus the platform."""
    import jax
    import jaxlib
    import scipy

    import ntkcomp

    return {
        "ntkcomp": ntkcomp.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "devices": ", ".join(str(d) for d in jax.devices()),
        "x64": str(bool(jax.config.jax_enable_x64)),
    }


def run_metadata(config: dict, seeds: dict | None = None) -> dict:
    """Everything a result file must record: config, seeds, versions, git revision."""
    return {"config": config, "seeds": seeds or {}, "versions": versions(),
            "git_revision": git_revision()}
