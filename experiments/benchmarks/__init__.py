"""Timing benchmarks, run with ``ntkcomp bench NAME``."""

__all__: list[str] = []
