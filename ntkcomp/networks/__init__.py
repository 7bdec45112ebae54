"""Network descriptions: the centred MLP and its weight laws.

See the theory page ``docs/theory/network.md``.

- :class:`MLP` (frozen, hashable, usable as a static ``jax.jit`` argument): ``init(key, p)``
  gives the parameter pytree ``{"W": [W_1..W_L], "w": w}``; ``apply(params, X)``,
  ``features(params, X)``, ``as_flax()``; attributes ``depth, widths, activations,
  weight_laws, tau0, taus, centers``.
- :func:`weight_law` / :class:`WeightLaw`: gaussian, rademacher, sparse_ternary(eps),
  sparse_gaussian(eps), student_t(nu); ``.sample(key, shape, dtype)``, ``.kappa4``;
  ``WeightLaw.available()`` lists the names.
- ``MLP.flax_variables`` / ``MLP.params_from_flax``: parameters <-> flax variables
  (flax itself is imported only by ``MLP.as_flax``).
"""
from ntkcomp.networks._mlp import MLP
from ntkcomp.networks._weights import WeightLaw, weight_law

__all__ = [
    "MLP",
    "WeightLaw",
    "weight_law",
]
