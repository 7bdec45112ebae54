"""Accuracy against memory: dense, NTK-LC and pruned networks under the frozen-readout and
lazy-training protocols (:mod:`experiments.accuracy.protocol`)."""
