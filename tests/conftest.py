"""Test configuration: every test runs in float64 (see ntkcomp.config.enable_x64)."""
import os

# the CPU unless the device check asks for JAX's own choice (``pytest -m gpu`` on an
# accelerator, experiments/benchmarks/device_check.py sets NTKCOMP_TESTS_ON_DEVICE=1)
if os.environ.get("NTKCOMP_TESTS_ON_DEVICE") != "1":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import ntkcomp  # noqa: E402

ntkcomp.enable_x64()
