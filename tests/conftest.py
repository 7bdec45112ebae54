"""Test configuration: every test runs in float64 (see ntkcomp.config.enable_x64)."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import ntkcomp  # noqa: E402

ntkcomp.enable_x64()
