"""Diagnostics of the theory checks (no PASS/FAIL): tables that split an error or a FAIL."""
from __future__ import annotations

import argparse
from collections.abc import Callable


def diagnostic_args(description: str, argv, options: dict,
                    extra: Callable[[argparse.ArgumentParser], None] | None = None):
    """Parse a diagnostic's command line, then switch JAX to float64.

    ``options``: ``{name: (default, minimum, help)}`` integer options ``--name``; a value
    below its minimum is a one-line usage error (exit 2) ``--name must be >= minimum, got
    value``. ``extra(ap)`` may add further arguments before parsing."""
    ap = argparse.ArgumentParser(description=description)
    for name, (default, _, text) in options.items():
        ap.add_argument(f"--{name}", type=int, default=default, help=text)
    if extra is not None:
        extra(ap)
    args = ap.parse_args(argv)
    for name, (_, minimum, _) in options.items():
        if getattr(args, name) < minimum:
            ap.error(f"--{name} must be >= {minimum}, got {getattr(args, name)}")
    import jax

    jax.config.update("jax_enable_x64", True)
    return args
