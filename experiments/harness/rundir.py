"""Transactional run directories: one folder per run holding config, results, figures and
metadata, replaced whole or not at all.

Layout of a finished run (``out/``)::

    out/
      config.json      the configuration that produced the run (+ seeds)
      metadata.json    config, seeds, versions (ntkcomp, JAX, NumPy, ...), device, git revision
      results.json     scalar / small results (JSON)
      results.npz      arrays (eigenvalues, kernels' spectra, ...)
      <name>.png/.pdf  figures
      points/          finished points of a sweep (see :mod:`experiments.harness.sweep`)

How a run is written:

1. the caller validates every input first (nothing is written before that);
2. :class:`RunDir` takes a lock beside ``out`` (``.<name>.lock``, an ``flock`` released by
   the operating system when the process ends, however it ends); a second run into the
   same ``out`` is refused with :class:`RunLockedError` (a ``ValueError``: exit status 2);
3. every file goes into a staging directory beside ``out`` (``.<name>.partial``);
4. :meth:`RunDir.commit` moves the staging directory into place: the previous ``out`` is
   renamed to ``.<name>.old``, the staging directory renamed to ``out``, the backup
   removed. SIGINT and SIGTERM are deferred until the commit is complete, and a backup left by
   a killed process is restored by the next run, so ``out`` always holds either the old
   complete run or the new complete run.

A run that fails or is interrupted before :meth:`~RunDir.commit` leaves ``out`` untouched.
:meth:`RunDir.abort` (called when the ``with`` block raises) removes the staging directory
except the finished points of a resumable sweep: the subdirectories named in ``resume``
(default ``points/``) that hold files ``out`` lacks, which the next run into the same ``out``
reuses. A staging directory left by a killed process is cleared, but for its ``resume``
subdirectories, when the next run starts.

A result folder that collects the outputs of several commands (each adding or replacing its
own files, e.g. ``experiments/results/compress_example/n2048``) is written with
``keep_previous=True``: the staging directory starts as a copy of the previous complete
``out``, the run adds or replaces its files there, and the commit replaces ``out`` whole
with the result. The files of the other commands are carried over unchanged; a failed run
changes nothing.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ntkcomp.io import atomic_write_bytes, atomic_write_json, atomic_write_npz, run_metadata

__all__ = ["RunDir", "RunLockedError", "check_out_path", "check_writable_dir", "read_json"]

#: longest file name accepted for a run directory (the staging / backup names add a few
#: characters; most file systems allow 255 bytes)
MAX_NAME_BYTES = 200


class RunLockedError(ValueError):
    """Another process is writing a run into the same output directory."""


def check_out_path(path: str | os.PathLike | None, name: str = "out") -> Path:
    """Validate an output directory path without touching the file system.

    Args:
      path: the directory a run will be written to.
      name: the option named in error messages.

    Returns:
      The path as an absolute :class:`~pathlib.Path`.

    Raises:
      ValueError: empty path, a component longer than ``MAX_NAME_BYTES`` bytes, a NUL
        character, the current directory or a file-system root, or an existing file.
    """
    text = "" if path is None else os.fspath(path)
    if not str(text).strip():
        raise ValueError(f"{name} must be a non-empty directory path, got {text!r}")
    if "\0" in str(text):
        raise ValueError(f"{name} must not contain a NUL character")
    p = Path(text).expanduser().absolute()
    for part in p.parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise ValueError(f"{name}: a folder name is {len(os.fsencode(part))} bytes long; "
                             f"each name must be at most {MAX_NAME_BYTES} bytes")
    p = Path(os.path.normpath(p))
    if p.parent == p:
        raise ValueError(f"{name} must not be a file-system root, got {text!r}")
    if p == Path.cwd():
        raise ValueError(f"{name} must not be the current directory (a run replaces its "
                         f"output directory whole), got {text!r}")
    if p.exists() and not p.is_dir():
        raise ValueError(f"{name} must be a directory, but {str(p)!r} is an existing file")
    return p


def check_writable_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Create ``path`` if needed and check that it is a writable directory.

    Raises:
      ValueError: (naming ``name``) when it is a file or cannot be created or written.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{name} must be a directory, but {str(p)!r} is an existing file")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{name}: cannot create output directory {str(p)!r} "
                         f"({e.strerror})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: output directory {str(p)!r} is not writable")
    return p


def _beside(final: Path, what: str) -> Path:
    return final.parent / f".{final.name}.{what}"


class RunDir:
    """A run's output directory, written in a staging directory and committed whole.

    Use as a context manager (commits on success, leaves ``out`` untouched on an
    exception), or call :meth:`commit` yourself.

    Args:
      path: the final output directory (validated with :func:`check_out_path`).
      config: JSON-able configuration dict of the run; written to ``config.json`` and,
        with versions / git revision / seeds / device, to ``metadata.json``.
      seeds: dict of named integer seeds used by the run.
      name: the option named in error messages (default ``out``).
      keep_previous: start the staging directory as a copy of the previous complete
        ``path`` (a result folder shared by several commands); default: start empty.
      resume: names of the subdirectories that hold the finished points of resumable
        sweeps (:func:`~experiments.harness.run_sweep`): kept from a failed or killed run's
        staging directory and, when missing there, copied from the previous complete run.

    Raises:
      ValueError: a bad path or a parent that cannot be created or written.
      RunLockedError: another process holds the lock of ``path``.
    """

    def __init__(self, path: str | os.PathLike, config: dict | None = None,
                 seeds: dict | None = None, *, name: str = "out", keep_previous: bool = False,
                 resume: tuple[str, ...] | list[str] = ("points",)):
        self.final = check_out_path(path, name)
        check_writable_dir(self.final.parent, name)
        self.keep_previous = bool(keep_previous)
        self.resume = tuple(resume)
        self._lock_fd = self._acquire_lock(name)
        self._restore_backup()
        self.staging = _beside(self.final, "partial")
        self._prepare_staging()
        self.path = self.staging
        self.committed = False
        self.config = dict(config or {})
        self.seeds = dict(seeds or {})
        self.files: list[str] = []
        if config is not None:
            self.write_config(self.config, self.seeds)

    # ------------------------------------------------------------------ lifecycle ----
    def _acquire_lock(self, name: str) -> int:
        lock = _beside(self.final, "lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunLockedError(
                    f"{name}: another run is writing into {str(self.final)!r} (lock "
                    f"{str(lock)!r}); wait for it to finish or choose another {name}") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(_beside(self.final, "lock"))
            os.close(self._lock_fd)
            self._lock_fd = None

    def _restore_backup(self) -> None:
        """A process killed between the two renames of a commit left ``.<name>.old``."""
        backup = _beside(self.final, "old")
        if backup.is_dir():
            if self.final.exists():
                shutil.rmtree(backup, ignore_errors=True)
            else:
                os.rename(backup, self.final)

    def _prepare_staging(self) -> None:
        st = self.staging
        if st.is_dir():            # left by an interrupted run: keep finished sweep points
            for f in st.iterdir():
                if not (f.name in self.resume and _is_dir(f)):
                    _remove(f)
        else:
            st.mkdir()
        if not _is_dir(self.final):
            return
        # resume from the previous complete run; with keep_previous, start from all of it
        names = sorted(f.name for f in self.final.iterdir()) if self.keep_previous \
            else [n for n in self.resume if _is_dir(self.final / n)]
        for n in names:
            src, dst = self.final / n, st / n
            if dst.exists() or dst.is_symlink():
                continue
            if _is_dir(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)

    def _discard_staging(self) -> None:
        """Remove the staging directory, except the ``resume`` subdirectories that hold
        files the previous complete run lacks (finished points of this run)."""
        st = self.staging
        if not _is_dir(st):
            return
        for f in st.iterdir():
            if f.name in self.resume and _is_dir(f) and _has_new_files(f, self.final / f.name):
                continue
            _remove(f)
        with contextlib.suppress(OSError):
            st.rmdir()             # fails (and is meant to) when finished points are kept

    def commit(self) -> Path:
        """Move the staging directory into place (replacing the previous run whole).

        Returns:
          The final directory.
        """
        if self.committed:
            return self.final
        backup = _beside(self.final, "old")
        if backup.exists():
            shutil.rmtree(backup)
        with _deferred_signals():
            if self.final.exists():
                os.rename(self.final, backup)
            os.rename(self.staging, self.final)
            _fsync_dir(self.final.parent)
            shutil.rmtree(backup, ignore_errors=True)
            self.path, self.committed = self.final, True
            self._release_lock()
        return self.final

    def abort(self) -> None:
        """Give up the run: ``out`` stays as it was, the staging directory is removed (except
        finished sweep points, see ``resume``) and the lock released."""
        try:
            if not self.committed and self._lock_fd is not None:
                self._discard_staging()
        finally:
            self._release_lock()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    def __del__(self):
        with contextlib.suppress(Exception):
            self._release_lock()

    # -------------------------------------------------------------------- writing ----
    def file(self, name: str) -> Path:
        """Path of ``name`` inside the run (the staging directory until committed)."""
        if self.committed:
            raise ValueError(f"run directory {str(self.final)!r} is already committed")
        return self.path / name

    def write_config(self, config: dict, seeds: dict | None = None) -> None:
        """Write ``config.json`` (config + seeds) and ``metadata.json`` (+ versions, git)."""
        self.config, self.seeds = dict(config), dict(seeds or self.seeds)
        atomic_write_json(self.file("config.json"), {**self.config, "seeds": self.seeds})
        atomic_write_json(self.file("metadata.json"), run_metadata(self.config, self.seeds))
        self.note("config.json", "metadata.json")

    def write_results(self, results: dict, arrays: dict[str, Any] | None = None) -> None:
        """Write ``results.json`` (scalars, small lists) and ``results.npz`` (arrays).

        Raises:
          ValueError: a NaN anywhere (named by its key) before anything is written;
            +-Inf is allowed (e.g. ``s = inf`` of a piecewise-constant activation).
        """
        check_no_nan(results, "results")
        check_no_nan(arrays or {}, "arrays")
        atomic_write_json(self.file("results.json"), results)
        self.note("results.json")
        if arrays:
            atomic_write_npz(self.file("results.npz"),
                             **{k: np.asarray(v) for k, v in arrays.items()})
            self.note("results.npz")

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as ``name`` (JSON, atomically)."""
        self.note(name)
        return atomic_write_json(self.file(name), obj)

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` as ``name`` (atomically)."""
        return self.write_bytes(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``data`` as ``name`` (atomically; ``name`` may name a subfolder,
        ``"relu_eps0.9/spectra.png"``, created as needed)."""
        self.note(name)
        return atomic_write_bytes(self.file(name), data)

    def save_figure(self, fig, name: str, *, formats=("png", "pdf"), dpi: int = 130,
                    close: bool = True) -> list[Path]:
        """Save a matplotlib figure as ``name.png`` and ``name.pdf``; returns the paths
        (inside the staging directory until the run is committed)."""
        paths = []
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
            paths.append(atomic_write_bytes(self.file(f"{name}.{fmt}"), buf.getvalue()))
            self.note(f"{name}.{fmt}")
        if close and getattr(fig, "number", None) is not None:   # a pyplot-managed figure
            import matplotlib.pyplot as plt

            plt.close(fig)
        return paths

    def note(self, *names: str) -> None:
        """Record files written into the run directory by other means."""
        for n in names:
            if n not in self.files:
                self.files.append(n)

    _note = note


def check_no_nan(obj: Any, where: str) -> None:
    """Raise ValueError naming the first NaN's key path in nested dicts / lists / arrays."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_no_nan(v, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_no_nan(v, f"{where}[{i}]")
    elif isinstance(obj, (float, np.floating, np.ndarray)) or hasattr(obj, "__array__"):
        a = np.asarray(obj)
        if a.dtype.kind in "fc" and np.isnan(a).any():
            raise ValueError(f"{where} contains NaN; nothing was written")


@contextlib.contextmanager
def _deferred_signals():
    """SIGINT / SIGTERM received inside the block are re-sent when it ends (the commit is
    never cut between its renames). Only in the main thread, where handlers can be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for s in dict.fromkeys(received):
            os.kill(os.getpid(), s)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove(path: Path) -> None:
    if _is_dir(path):
        shutil.rmtree(path)
    else:
        path.unlink()


def _has_new_files(folder: Path, previous: Path) -> bool:
    """Whether ``folder`` holds a file whose relative path is missing under ``previous``
    (a sweep's ``manifest.json``, the list of its points, holds no result and is not
    counted)."""
    return any(f.is_file() and f.relative_to(folder) != Path("manifest.json")
               and not (previous / f.relative_to(folder)).exists() for f in folder.rglob("*"))


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file."""
    with open(path) as f:
        return json.load(f)
