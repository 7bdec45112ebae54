"""Compression experiments: spectral verification report and single-draw frontier studies.

Built on the public API of ``ntkcomp.compress``; everything here writes reports or sweeps
widths and sparsities, the library keeps the maths.
"""
from experiments.compression.frontier import (design_activations, lossless_frontier,
                                              predicted_single_draw, single_draw_point,
                                              single_draw_table)
from experiments.compression.report import SpectralReport, compare_kernels, spectral_report

__all__ = ["SpectralReport", "compare_kernels", "design_activations", "lossless_frontier",
           "predicted_single_draw", "single_draw_point", "single_draw_table",
           "spectral_report"]
