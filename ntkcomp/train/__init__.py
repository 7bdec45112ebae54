"""Training with optax: the frozen-hidden protocol, ridge readouts, lazy full GD, baselines.

(a) Official protocol (:mod:`.frozen`, :mod:`.ridge`): hidden layers frozen at
    initialisation, a linear readout on ``h_L`` trained by Adam + cross-entropy
    (:func:`train_readout`) or solved in closed form by ridge regression (:func:`ridge_fit`);
    :func:`frozen_protocol` returns train/test accuracy.
(b) Lazy regime (:mod:`.lazy`): full-network gradient descent on the MSE in the NTK
    parameterisation (:func:`train_full`), its linearised model (:func:`linearize`) and the
    comparison of both (:func:`lazy_comparison`).
Baselines (:mod:`.baselines`): magnitude pruning and random sparsification at the same
sparsity eps, with honest bit counts (:func:`network_bits`).
:mod:`.protocol` runs all of it for dense / NTK-LC / pruned / random networks over seeds
(mean +- std, accuracy against memory in bits).
"""
from .baselines import (
                        dense_bits,
                        keep_count,
                        magnitude_prune,
                        network_bits,
                        random_sparsify,
                        sparse_float_bits,
)
from .frozen import (
                        ReadoutResult,
                        accuracy,
                        frozen_protocol,
                        last_features,
                        readout_logits,
                        train_readout,
)
from .lazy import LazyResult, lazy_comparison, linearize, mse_loss, param_movement, train_full
from .protocol import METHODS, aggregate, compare_methods, ternary_bits
from .ridge import RidgeModel, class_targets, ridge_fit, ridge_predict

__all__ = [
                        "METHODS",
                        "LazyResult",
                        "ReadoutResult",
                        "RidgeModel",
                        "accuracy",
                        "aggregate",
                        "class_targets",
                        "compare_methods",
                        "dense_bits",
                        "frozen_protocol",
                        "keep_count",
                        "last_features",
                        "lazy_comparison",
                        "linearize",
                        "magnitude_prune",
                        "mse_loss",
                        "network_bits",
                        "param_movement",
                        "random_sparsify",
                        "readout_logits",
                        "ridge_fit",
                        "ridge_predict",
                        "sparse_float_bits",
                        "ternary_bits",
                        "train_full",
                        "train_readout",
]
