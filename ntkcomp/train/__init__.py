"""Training on frozen or lazily trained networks, and the sparsification baselines.

- :func:`train_readout`: a linear softmax head on frozen features ``H: (n, d)`` trained by
  Adam on the cross-entropy, early-stopped on a validation split carved from the training
  rows; it returns a named tuple ``(W, b, losses, val_losses, best_step, val_index)``.
- :func:`ridge_fit` / :func:`ridge_predict`: the closed-form ridge readout.
- :func:`train_full` / :func:`linearize`: full-network gradient descent on the MSE in the
  lazy (NTK) regime and the first-order model it tracks.
- :func:`magnitude_prune` / :func:`random_sparsify`: the pruning baselines at sparsity eps,
  and :func:`network_bits`, their memory in bits (float32 values plus positions).
"""
from ntkcomp.train._lazy import linearize, train_full
from ntkcomp.train._readout import train_readout
from ntkcomp.train._ridge import ridge_fit, ridge_predict
from ntkcomp.train._sparsify import magnitude_prune, network_bits, random_sparsify

__all__ = [
    "linearize",
    "magnitude_prune",
    "network_bits",
    "random_sparsify",
    "ridge_fit",
    "ridge_predict",
    "train_full",
    "train_readout",
]
