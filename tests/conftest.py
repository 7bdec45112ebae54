"""Test configuration: every test runs in float64 (see ntkcomp.config.enable_x64).

On the CPU (the default) the test process keeps JAX's persistent compilation cache in
``$XDG_CACHE_HOME/ntkcomp/jax-tests`` (``~/.cache/...``; ``NTKCOMP_TESTS_JAX_CACHE=DIR`` picks
another folder, ``NTKCOMP_TESTS_JAX_CACHE=off`` turns it off). Most of the default suite's time
is XLA compilation of small programs, so a second run of the suite reuses the compiled
executables (the same programs: results are bitwise those of a fresh compilation). Child
processes started by tests share it through ``NTKCOMP_JAX_CACHE`` unless a test sets its own."""
import os

# the CPU unless the device check asks for JAX's own choice (``pytest -m gpu`` on an
# accelerator, experiments/benchmarks/device_check.py sets NTKCOMP_TESTS_ON_DEVICE=1)
ON_DEVICE = os.environ.get("NTKCOMP_TESTS_ON_DEVICE") == "1"
if not ON_DEVICE:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

import ntkcomp  # noqa: E402

ntkcomp.enable_x64()


def _jax_cache_dir():
    choice = os.environ.get("NTKCOMP_TESTS_JAX_CACHE", "")
    if choice.lower() in ("off", "0", "no", "false"):
        return None
    if choice:
        return choice
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ntkcomp", "jax-tests")


if not ON_DEVICE and _jax_cache_dir() is not None:
    # child processes (CLI runs started by tests) share it through the CLI's own variable
    os.environ.setdefault("NTKCOMP_JAX_CACHE", _jax_cache_dir())
    jax.config.update("jax_compilation_cache_dir", _jax_cache_dir())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
