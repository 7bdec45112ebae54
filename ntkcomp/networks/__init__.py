"""Network descriptions: the centred MLP of THEORY.md section 2 and its weight laws.

- :class:`MLP` (frozen, hashable): ``init(key, p)``, ``apply(params, X)``,
  ``features(params, X)``, ``as_flax()``; attributes ``depth, widths, activations,
  weight_laws, taus, centers``.
- :func:`weight_law` / :class:`WeightLaw`: gaussian, rademacher, sparse_ternary(eps),
  sparse_gaussian(eps), student_t(nu); ``.sample(key, shape, dtype)``, ``.kappa4``.
- :func:`to_flax_variables`, :func:`from_flax_variables`: params <-> flax variables.
"""
from ntkcomp.networks.mlp import MLP
from ntkcomp.networks.weights import WeightLaw, available_weight_laws, weight_law


def __getattr__(name):  # flax is imported only when the flax view is used
    if name in ("FlaxMLP", "to_flax_variables", "from_flax_variables"):
        from ntkcomp.networks import flax_module

        return getattr(flax_module, name)
    raise AttributeError(f"module 'ntkcomp.networks' has no attribute {name!r}")


__all__ = [
    "MLP",
    "FlaxMLP",
    "WeightLaw",
    "available_weight_laws",
    "from_flax_variables",
    "to_flax_variables",
    "weight_law",
]
