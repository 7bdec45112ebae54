"""Files and run records: atomic writes, their readers, and run metadata.

Every file a run writes goes through the atomic writers (temporary file, ``fsync``,
rename), so an interrupted run never leaves a half-written file. :func:`run_metadata`
records what a result depends on: configuration, seeds, package versions, git revision,
host CPU and the JAX device actually used (``jax.devices()[0].platform`` and its kind).
"""
from ntkcomp.io._atomic import (atomic_write_bytes, atomic_write_json, atomic_write_npz,
                                read_json, to_jsonable)
from ntkcomp.io._metadata import run_metadata, versions

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_npz", "read_json",
           "run_metadata", "to_jsonable", "versions"]
