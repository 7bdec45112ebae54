"""NTK-LC compression: quantized activations + sparse ternary weights matched to a dense MLP.

Public API::

    res = compress(net, tau0, eps=0.9, family="auto", target="ck", p=p,
                   data=sample, kurtosis_tol=0.05)   # kurtosis-aware eps_1 (optional)
    res.kurtosis["predicted_loss"]     # layer-1 weight-kurtosis loss (THEORY section 7)
    compress(..., data=sample, kurtosis_model="realised")   # the realised-moment prediction
    res.to_json()                      # per-layer family, parameters, residuals, feasible,
                                       # identity_shift, memory_factor, ...
    rep = spectral_report(net, res.compressed, sample)   # exact E_W kernels + equivalents
    rep.to_json(); rep.figure
    solve_layer(target, tau_c, family=...)               # one layer (LM, multi-start)
    packed = pack(params, net); unpack(packed); save(path, packed); load(path)
    lossless_frontier(...)

See THEORY.md section 8 and the module docstrings of ``core``, ``solver``, ``families``,
``packing``, ``report``, ``frontier``.
"""
from ntkcomp.compress.core import (CompressionResult, check_eps, coefficient_comparison,
                                   compress)
from ntkcomp.compress.families import FAMILIES, family_moments, step_moments
from ntkcomp.compress.solver import (InfeasibleError, LayerSolution, solve_fewest_levels,
                                     solve_layer)
from ntkcomp.compress.targets import (MomentTarget, linear_fraction_bound,
                                      lloyd_max_linear_fraction, target_from_activation)
from ntkcomp.compress.end_to_end import solve_end_to_end
from ntkcomp.compress.kurtosis import (KURTOSIS_MODELS, choose_eps1, eps_interval,
                                       kurtosis_loss_per_unit, realised_kurtosis_loss,
                                       sparse_ternary_kappa4)

__all__ = ["compress", "CompressionResult", "coefficient_comparison", "check_eps",
           "solve_layer", "solve_fewest_levels", "LayerSolution", "InfeasibleError",
           "MomentTarget", "target_from_activation", "FAMILIES", "family_moments",
           "step_moments", "linear_fraction_bound", "lloyd_max_linear_fraction",
           "solve_end_to_end", "kurtosis_loss_per_unit", "realised_kurtosis_loss",
           "KURTOSIS_MODELS", "eps_interval", "choose_eps1",
           "sparse_ternary_kappa4"]

try:  # storage, verification and frontier (optional until written)
    from ntkcomp.compress.packing import (PackedNetwork, load, memory_report, pack,  # noqa
                                          packed_apply, save, unpack)
    __all__ += ["PackedNetwork", "pack", "unpack", "save", "load", "packed_apply",
                "memory_report"]
except ImportError:  # pragma: no cover
    pass
try:
    from ntkcomp.compress.report import SpectralReport, spectral_report  # noqa
    __all__ += ["spectral_report", "SpectralReport"]
except ImportError:  # pragma: no cover
    pass
try:
    from ntkcomp.compress.frontier import lossless_frontier  # noqa
    __all__ += ["lossless_frontier"]
except ImportError:  # pragma: no cover
    pass
