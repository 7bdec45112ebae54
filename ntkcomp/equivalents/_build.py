"""The CK and NTK equivalents as structured kernels.

See the theory page ``docs/theory/equivalents.md`` (sections CK equivalent, NTK
equivalent). With samples as rows (the theory's ``X^T X`` is ``X @ X.T``)::

    K~_l   = alpha_{l,1} X X^T + V A_l V^T + (tau_l^2   - alpha_{l,1} tau_0^2) I_n
    Theta~ = beta_{L,1}  X X^T + V B   V^T + (kappa_L^2 - beta_{L,1}  tau_0^2) I_n

with ``V = [J / sqrt(p), phi]`` ``(n, K + 1)`` and
``A_l = [[alpha_{l,2} t t^T + alpha_{l,3} T, alpha_{l,2} t], [alpha_{l,2} t^T, alpha_{l,2}]]``
(``B`` likewise from ``beta_{L,2}``, ``beta_{L,3}``). The coefficients are evaluated at
``tau_0 = stats.tau0``; the network is assumed to be centred at that scale.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_data
from ntkcomp.activations import moments
from ntkcomp.equivalents._kernel import EquivalentKernel, small_matrix
from ntkcomp.equivalents._options import Kurtosis, Variant, as_kurtosis, as_variant, \
    check_diagonal
from ntkcomp.equivalents._realised import realised_parts
from ntkcomp.equivalents._recursion import Coefficients, coefficients, reference_kappa2


def unpack_sample(sample, X=None):
    """``(X (n, p), stats)`` from a ``GMMSample`` or from statistics plus ``X``.

    Raises:
      ValueError: ``X`` missing for bare statistics, not 2-D, with NaN/Inf entries or
        entries whose Gram would overflow, or its ``n`` differs from the statistics' ``J``,
        ``phi``.
    """
    if hasattr(sample, "stats") and hasattr(sample, "X"):
        st = sample.stats
        X = sample.X if X is None else X
    else:
        st = sample
        if X is None:
            raise ValueError("X must be given (an (n, p) array) when stats is a GMMStats; "
                             "or pass the GMMSample itself as stats")
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, p), got {tuple(X.shape)}")
    check_data("X", X)  # NaN/Inf entries, or entries whose Gram would overflow
    n = X.shape[0]
    if np.shape(st.J)[0] != n or np.shape(st.phi)[0] != n:
        raise ValueError(f"stats (J, phi) describe {np.shape(st.J)[0]} samples but X has n={n}")
    return X, st


def _low_rank_factor(st, p) -> jax.Array:
    V = getattr(st, "V", None)
    if V is not None:
        return jnp.asarray(V)
    return jnp.concatenate([jnp.asarray(st.J) / jnp.sqrt(p), jnp.asarray(st.phi)[:, None]], 1)


def _check_net_scale(net, tau0) -> None:
    t_net = getattr(net, "tau0", None)
    try:
        t_net = float(t_net) if t_net is not None else float(net.taus[0])
        t_dat = float(tau0)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError):  # traced: skip
        return
    if abs(t_net - t_dat) > 1e-3 * max(t_dat, 1e-12):
        warnings.warn(f"net.tau0 = {t_net:.6g} differs from the data scale stats.tau0 = "
                      f"{t_dat:.6g}: the network's centring does not match the data and the "
                      "equivalent will carry an uncentred rank-one error", stacklevel=4)


def exact_diagonal(net, X, coeffs: Coefficients, kind: str = "ck", layer=None) -> jax.Array:
    """Exact per-sample diagonal ``(n,)`` of ``E_W[CK_l]`` (``kind="ck"``) or ``E_W[NTK]``.

    From the scalar recursion ``v_l(i) = E[(sigma_l(sqrt(v_{l-1}(i)) xi) - m_l)^2]``,
    ``v_0 = ||x_i||^2``, ``kappa_l^2(i) = v_l(i) + s_l(v_{l-1}(i)) kappa_{l-1}^2(i)`` (``s = 0``
    for step layers, autodiff convention). ``O(n L)`` moment evaluations. X: ``(n, p)``.
    See the theory page ``docs/theory/equivalents.md`` (section Exact diagonal).
    """
    v = jnp.sum(X * X, axis=1)
    k2 = v
    L = coeffs.depth if layer is None else layer
    for l in range(1, L + 1):
        m = moments(net.activations[l - 1], jnp.sqrt(v))
        center = net.centers[l - 1] if hasattr(net, "centers") else coeffs.mean[l]
        v_new = m.var + (m.mean - center) ** 2
        s = m.s if coeffs.kinds[l - 1] != "piecewise_constant" else jnp.zeros_like(v)
        k2 = v_new + s * k2
        v = v_new
    return v if kind == "ck" else k2


def _check_layer(layer, L: int) -> int:
    l = L if layer is None else layer
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 0 <= l <= L:
        raise ValueError(f"layer must be an integer in [0, {L}] (or None for L), got {layer!r}")
    return int(l)


def _kernel(net, X, st, c: Coefficients, kind: str, layer: int, kurtosis: Kurtosis,
            diagonal: str, b, variant: Variant) -> EquivalentKernel:
    """The structured kernel of ``kind`` (``"ck"`` at ``layer`` or ``"ntk"``)."""
    n, p = X.shape
    tau0 = jnp.asarray(st.tau0)
    V = _low_rank_factor(st, getattr(st, "p", p))
    if kind == "ck":
        lin, c2, c3, c_diag = c.alpha[layer][0], c.alpha[layer][1], c.alpha[layer][2], \
            c.alpha_diag[layer]
        c_id = c.tau[layer] ** 2 - lin * tau0 ** 2
    else:
        lin, c2, c3, c_diag = c.beta[layer][0], c.beta[layer][1], c.beta[layer][2], \
            c.beta_diag[layer]
        c_id = c.kappa2[layer] - lin * tau0 ** 2
    if variant is Variant.REFERENCE:
        c_id = _reference_identity(net, c, kind, layer, tau0)
    M = small_matrix(c2, c3, st, c_diag if kurtosis is Kurtosis.THEORY else None)
    dvec = jnp.zeros((n,), dtype=X.dtype)
    if kurtosis is Kurtosis.REALISED:
        V, M, dvec = realised_parts(net, c, st, X, V, M, c_diag, kind, layer)
    k = EquivalentKernel(c_lin=jnp.asarray(lin), X=X, V=V, M=M, c_id=jnp.asarray(c_id),
                         b=jnp.asarray(b, dtype=jnp.result_type(lin)), dvec=dvec)
    if diagonal == "exact":
        target = exact_diagonal(net, X, c, kind, layer)
        k = EquivalentKernel(c_lin=k.c_lin, X=X, V=k.V, M=k.M, c_id=k.c_id, b=k.b,
                             dvec=dvec + target - k.diagonal())
    return k


def _reference_identity(net, c: Coefficients, kind: str, layer: int, tau0):
    """The identity coefficient of the reference code (``Variant.REFERENCE``):
    ``tau_l^2 - alpha_{l,1} tau0^2 - alpha_{l,3} tau0^4`` (CK) and ``(kappa_L^2)^2 -
    beta_{L,1} tau0^2 - beta_{L,3} tau0^4`` (NTK) with the reference's ``kappa_L^2``
    (:func:`reference_kappa2`; the reference squares it once more)."""
    if kind == "ck":
        a = c.alpha[layer]
        return c.tau[layer] ** 2 - a[0] * tau0 ** 2 - a[2] * tau0 ** 4
    bt = c.beta[layer]
    return reference_kappa2(net, c) ** 2 - bt[0] * tau0 ** 2 - bt[2] * tau0 ** 4


def _prepare(net, sample, X, coeffs, step_derivative: str = "autodiff"):
    X, st = unpack_sample(sample, X)
    tau0 = jnp.asarray(st.tau0)
    _check_net_scale(net, tau0)
    c = coeffs if coeffs is not None else coefficients(net, tau0,
                                                       step_derivative=step_derivative)
    return X, st, c


def ck_equivalent(net, sample, layer=None, *, kurtosis=Kurtosis.NONE, finite_width=False,
                  diagonal="theory", coeffs=None, X=None,
                  variant=Variant.STANDARD) -> EquivalentKernel:
    """The equivalent ``K~_l`` of the expected conjugate kernel ``E_W[CK_l]``.

    See the theory page ``docs/theory/equivalents.md`` (section CK equivalent).

    Args:
      net: an ``ntkcomp.networks.MLP``.
      sample: a ``GMMSample`` (``.X (n, p)`` and ``.stats``), or statistics together
        with ``X``.
      layer: ``0..L`` (default ``L``); ``layer=0`` gives ``X X^T``.
      kurtosis: a :class:`Kurtosis` member or its string value (``False`` and ``True``
        are accepted for one release as ``"none"`` and ``"theory"``).
      finite_width: add ``b_l (1 1^T - I)``, the mean off-diagonal shift at finite widths
        (theory page ``docs/theory/finite_width.md``, section Mean finite-width shift).
      diagonal: ``"theory"`` (the formula's diagonal) or ``"exact"`` (the exact
        per-sample diagonal of ``E_W[CK_l]``, an ``O(n)`` refinement).
      coeffs: precomputed :func:`coefficients` (default: computed at ``stats.tau0``).
      X: the data ``(n, p)`` when ``sample`` is bare statistics.
      variant: a :class:`Variant` member or its string value: ``"standard"`` or
        ``"reference"`` (the identity coefficient of the paper's public reference code,
        ``tau_l^2 - alpha_{l,1} tau0^2 - alpha_{l,3} tau0^4``).

    Returns:
      :class:`EquivalentKernel` (``np.asarray`` of it is the ``(n, n)`` matrix).

    Raises:
      ValueError: bad ``layer``, ``kurtosis``, ``diagonal`` or ``variant``, or a
        sample/``X`` mismatch.
    """
    kurtosis, variant = as_kurtosis(kurtosis), as_variant(variant)
    check_diagonal(diagonal)
    X, st, c = _prepare(net, sample, X, coeffs)
    l = _check_layer(layer, c.depth)
    b = c.b[l] if finite_width else 0.0
    return _kernel(net, X, st, c, "ck", l, kurtosis, diagonal, b, variant)


def ntk_equivalent(net, sample, *, kurtosis=Kurtosis.NONE, diagonal="theory", coeffs=None,
                   X=None, step_derivative="autodiff",
                   variant=Variant.STANDARD) -> EquivalentKernel:
    """The equivalent ``Theta~`` of the expected NTK ``E_W[NTK]``.

    See the theory page ``docs/theory/equivalents.md`` (section NTK equivalent). For
    piecewise-constant activations the autodiff convention applies (``sigma' = 0``
    almost everywhere); ``step_derivative="raise"`` refuses such networks instead.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      sample: a ``GMMSample`` (``.X (n, p)`` and ``.stats``), or statistics together
        with ``X``.
      kurtosis: a :class:`Kurtosis` member or its string value (as for
        :func:`ck_equivalent`).
      diagonal: ``"theory"`` or ``"exact"`` (as for :func:`ck_equivalent`).
      coeffs: precomputed :func:`coefficients` (default: computed at ``stats.tau0``).
      X: the data ``(n, p)`` when ``sample`` is bare statistics.
      variant: ``"standard"`` or ``"reference"``: the reference code's identity
        coefficient ``(kappa_L^2)^2 - beta_{L,1} tau0^2 - beta_{L,3} tau0^4`` with its own
        ``kappa`` recursion (``kappa_0^2 = tau0``; each step at the layer's output scale).
      step_derivative: ``"autodiff"`` or ``"raise"`` (used when ``coeffs`` is None).

    Returns:
      :class:`EquivalentKernel` (``np.asarray`` of it is the ``(n, n)`` matrix).

    Raises:
      ValueError: bad options, a sample/``X`` mismatch, or a step layer with
        ``step_derivative="raise"``.
    """
    kurtosis, variant = as_kurtosis(kurtosis), as_variant(variant)
    check_diagonal(diagonal)
    X, st, c = _prepare(net, sample, X, coeffs, step_derivative)
    return _kernel(net, X, st, c, "ntk", c.depth, kurtosis, diagonal, 0.0, variant)
