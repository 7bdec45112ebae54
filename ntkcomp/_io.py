"""Former location of :mod:`ntkcomp.io` (kept so existing imports keep working)."""
from ntkcomp.io._atomic import _current_umask, _default_file_mode  # noqa: F401
from ntkcomp.io._atomic import atomic_write_bytes as _atomic_write_bytes  # noqa: F401
from ntkcomp.io._atomic import to_jsonable as _to_jsonable  # noqa: F401
from ntkcomp.io._atomic import (atomic_write_bytes, atomic_write_json,  # noqa: F401
                                atomic_write_npz, atomic_write_text, read_json)
from ntkcomp.io._metadata import (cpu_description, git_revision, parse_cpuinfo,  # noqa: F401
                                  run_metadata, versions)
