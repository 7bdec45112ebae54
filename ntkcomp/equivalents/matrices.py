"""The equivalent kernel matrices K~_l (CK) and Theta~ (NTK), dense and matrix-free.

Batch-first (THEORY's ``X^T X`` is ``X @ X.T``)::

    K~_l   = alpha_{l,1} X X^T + V A_l V^T + (tau_l^2   - alpha_{l,1} tau_0^2) I_n
    Theta~ = beta_{L,1}  X X^T + V B   V^T + (kappa_L^2 - beta_{L,1}  tau_0^2) I_n

with ``V = [J / sqrt(p), phi]`` (n, K+1) and::

    A_l = [[alpha_{l,2} t t^T + alpha_{l,3} T (+ alpha_diag_l T_diag),  alpha_{l,2} t],
           [alpha_{l,2} t^T,                                            alpha_{l,2}  ]]

(``B`` likewise from beta_{L,2}, beta_{L,3}, beta_diag_L). Optional corrections:

* ``kurtosis=True`` (THEORY section 7): adds the ``alpha_diag T_diag`` block, i.e.
  ``alpha_{1,3} T -> (a2^2/4)(2T + kappa4(W_1) T_diag)`` propagated through ``a1^2``.
  It is zero for Gaussian first-layer weights.
* ``kurtosis="realised"`` (ntkcomp, beyond THEORY; ``theory_checks/kurtosis_realised``):
  the first Edgeworth terms of the layer-1 weight law with the REALISED fourth moments of
  the data. (i) The same coefficient ``alpha_diag_l`` (``beta_diag_L``), but off the diagonal
  the class-block matrix ``J T_diag J^T / p`` is replaced by the realised fourth-moment Gram
  ``Q Q^T``, ``Q = X * X`` (n, p), i.e. ``kappa4 sum_k x_ik^2 x_jk^2``, the cumulant
  ``kappa(u_i, u_i, u_j, u_j)`` itself instead of its class-block means. (ii) The per-sample
  shifts ``mu``, ``delta`` of the mean and the variance of the layer-1 features
  (:func:`kurtosis_shifts`, ``kappa4 sum_k x_ik^4`` terms), carried through the layers as
  shifts of the feature means and norms (:func:`_shift_terms`; without them this is exactly
  the ``alpha_{l,2}`` recursion). They matter most for even activations (``a1 = 0``), for
  which THEORY's term vanishes from layer 2 on. (iii) The ``kappa(u_i, u_i, u_i, u_j) =
  kappa4 sum_k x_ik^3 x_jk`` term, coefficient :func:`cubic_coefficient` (``kappa4 a1 a3 /
  6`` at layer 1, ``a3 = E[sigma^(3)]``, carried like ``alpha_diag``): zero for ReLU and even
  activations, the leading term for step activations (whose ``a2`` can vanish). The
  diagonal is the formula's plus the variance shift. In the structured form ``V`` gains the
  columns ``mu``, ``delta`` and the ``p`` columns of each of ``Q``, ``X``, ``X * X * X``,
  ``M`` the matching blocks (a product costs ``O(n p + p^2)`` more; ``M`` is stored dense,
  ``8 (K + 3 + 3p)^2`` bytes in float64: 44 MB at p = 784, 1.2 GB at p = 4096). Measured
  (ReLU, sparse ternary eps = 0.95, n = 512, p = 256, against a 2^18-neuron Monte Carlo
  E_W[CK_1]): 0.021 from E against 0.074 with ``kurtosis=True``; the
  Gaussian-weight equivalent's own error is 0.042 (NTK, one hidden layer: 0.026 against
  0.052, floor 0.038). Not included: the covariance and per-sample-variance dependence of
  the derivatives (all at ``c = 0``, ``tau0^2``), and for the NTK the shift of the
  derivative kernel ``E[sigma'(u) sigma'(v)]`` (zero at first order for ReLU and abs; step
  layers have none under the autodiff convention).
* ``finite_width=True`` (THEORY section 6, CK only): adds ``b_L (1 1^T - I)``, the mean
  off-diagonal shift of ``E_W[CK_L]`` at finite widths ``d_1..d_{L-1}`` (0 for L = 1).
  Not derived for the NTK: ``ntk_equivalent(..., finite_width=True)`` raises.

``stats`` is a ``GMMSample`` (``.X`` and ``.stats``) or a ``GMMStats`` with ``X=``.
The coefficients are evaluated at ``tau_0 = stats.tau0`` (the data scale); the network is
assumed to be centred at that scale (``net.tau0 == stats.tau0``; otherwise the mean
``E[sigma(tau xi)]`` shifts are not centred out and a rank-one error appears).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.equivalents.coefficients import Coefficients, coefficients

__all__ = [
    "KURTOSIS_MODES",
    "ck_equivalent",
    "ck_equivalent_matvec",
    "cubic_coefficient",
    "equivalent_parts",
    "exact_diagonal",
    "kurtosis_mode",
    "kurtosis_shifts",
    "ntk_equivalent",
    "ntk_equivalent_matvec",
    "small_matrix",
]


def _unpack(stats, X):
    """Return (X (n,p), GMMStats) from a GMMSample or a GMMStats + X."""
    if hasattr(stats, "stats") and hasattr(stats, "X"):
        X_s, st = stats.X, stats.stats
        X = X_s if X is None else X
    else:
        st = stats
        if X is None:
            raise ValueError("X must be given (an (n, p) array) when stats is a GMMStats; "
                             "or pass the GMMSample itself as stats")
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, p), got {tuple(X.shape)}")
    n = X.shape[0]
    if np.shape(st.J)[0] != n or np.shape(st.phi)[0] != n:
        raise ValueError(f"stats (J, phi) describe {np.shape(st.J)[0]} samples but X has n={n}")
    return X, st


def _V(st, p):
    V = getattr(st, "V", None)
    if V is not None:
        return jnp.asarray(V)
    return jnp.concatenate([jnp.asarray(st.J) / jnp.sqrt(p), jnp.asarray(st.phi)[:, None]], 1)


KURTOSIS_MODES = (False, True, "realised")


def kurtosis_mode(kurtosis) -> str | None:
    """Canonical form of the ``kurtosis`` option: ``None`` (off), ``"theory"`` (``True``:
    THEORY section 7's ``T_diag`` block) or ``"realised"`` (see the module docstring)."""
    if isinstance(kurtosis, (bool, np.bool_)):
        return "theory" if kurtosis else None
    if isinstance(kurtosis, str) and kurtosis == "realised":
        return "realised"
    raise ValueError(f"kurtosis must be one of {list(KURTOSIS_MODES)} (False: off; True: "
                     f"THEORY section 7's T_diag correction; 'realised': the realised "
                     f"fourth-moment Gram), got {kurtosis!r}")


def small_matrix(c2, c3, st, *, c_diag=0.0, kurtosis=False):
    """The (K+1, K+1) middle matrix ``[[c2 t t^T + c3 T (+ c_diag T_diag), c2 t], [c2 t^T, c2]]``."""
    t = jnp.asarray(st.t)
    T = jnp.asarray(st.T)
    top = c2 * jnp.outer(t, t) + c3 * T
    if kurtosis:
        top = top + c_diag * _T_diag(st)
    col = (c2 * t)[:, None]
    return jnp.block([[top, col], [col.T, jnp.reshape(c2, (1, 1))]])


def _T_diag(st):
    T_diag = getattr(st, "T_diag", None)
    if T_diag is None:
        raise ValueError("kurtosis needs stats.T_diag (sum_k (C_a)_kk (C_b)_kk / p)")
    return jnp.asarray(T_diag)


def kurtosis_shifts(net, X, coeffs: Coefficients | None = None, tau0=None):
    """Per-sample shifts ``(mu, delta)`` (each (n,)) of the mean and of the variance of a
    layer-1 feature ``sigma_1(u_i) - m_1``, ``u_i = w . x_i``, caused by the weights' fourth
    cumulant ``kappa4`` (first Edgeworth term of a one-dimensional expectation):
    ``E[g(u_i)] - E_gauss[g(u_i)] = kappa4 (sum_k x_ik^4) / 24 E_gauss[g^(4)(u_i)]`` with
    ``E_gauss[g^(4)] = 4 G''(v)``, ``G(v) = E[g(sqrt(v) xi)]`` (heat equation), evaluated at
    the common scale ``v = tau0^2``; ``g = sigma_1`` gives ``mu``, ``g = (sigma_1 - m_1)^2``
    gives ``delta``. Zero for Gaussian layer-1 weights. X: (n, p)."""
    from ntkcomp.activations import moments

    c = coeffs if coeffs is not None else coefficients(net, tau0)
    X = jnp.asarray(X)
    tau0 = c.tau[0] if tau0 is None else jnp.asarray(tau0)
    act = net.activations[0]
    center = net.centers[0] if hasattr(net, "centers") else c.mean[1]

    def mean(v):
        return moments(act, jnp.sqrt(v)).mean

    def second(v):
        m = moments(act, jnp.sqrt(v))
        return m.var + (m.mean - center) ** 2

    v0 = jnp.asarray(tau0, X.dtype) ** 2
    s4 = c.kappa4[1] * jnp.sum(X ** 4, axis=1) / 6
    return (s4 * jax.grad(jax.grad(mean))(v0).astype(X.dtype),
            s4 * jax.grad(jax.grad(second))(v0).astype(X.dtype))


def _shift_terms(c: Coefficients, t, kind: str, layer: int):
    """The kurtosis mean/variance shifts carried through the layers, in the coordinates
    ``[J / sqrt(p) (K), phi, mu, delta]`` of the equivalent's low-rank part.

    The norm deviation of layer-l features is ``U eta_l`` with ``eta_0 = e_psi = [t, 1, 0,
    0]`` (``||x_i||^2 - tau0^2``), ``eta_l = (q_l / 2) eta_{l-1} + [l = 1] e_delta``; the mean
    deviation of layer-l features is ``zeta_l = (a2_l / 2) eta_{l-1} + [l = 1] e_mu``, and
    ``R_l = a1_l^2 R_{l-1} + zeta_l zeta_l^T`` (CK), ``S_l = R_l + a1ntk_l^2 S_{l-1}`` (NTK).
    Without shifts ``R_l = alpha_{l,2} e_psi e_psi^T`` and ``S_L = beta_{L,2} e_psi
    e_psi^T`` (the ``alpha_{l,2}`` / ``beta_{L,2}`` recursions). Returns ``(dR, d_diag)``:
    the change of that (K + 3)-square matrix due to the shifts, and the coefficient of
    ``delta`` in the diagonal shift (``eta_l``'s delta entry for the CK; for the NTK the
    same through ``kappa_l^2 = tau_l^2 + s_l kappa_{l-1}^2``)."""
    K = t.shape[0]
    dt = c.tau.dtype
    e_psi = jnp.concatenate([t.astype(dt), jnp.array([1.0, 0.0, 0.0], dt)])
    e_mu = jnp.zeros(K + 3, dt).at[K + 1].set(1.0)
    e_de = jnp.zeros(K + 3, dt).at[K + 2].set(1.0)
    zero = jnp.zeros((K + 3, K + 3), dt)
    R, R0, S, S0 = zero, zero, zero, zero
    eta, eta0 = e_psi, e_psi
    ck_diag, ntk_diag = jnp.zeros((), dt), jnp.zeros((), dt)
    L = layer if kind == "ck" else c.depth
    for l in range(1, L + 1):
        z = c.a2[l] / 2 * eta + (e_mu if l == 1 else 0.0)
        z0 = c.a2[l] / 2 * eta0
        R = c.a1[l] ** 2 * R + jnp.outer(z, z)
        R0 = c.a1[l] ** 2 * R0 + jnp.outer(z0, z0)
        S = R + c.a1_ntk[l] ** 2 * S
        S0 = R0 + c.a1_ntk[l] ** 2 * S0
        eta = c.q[l] / 2 * eta + (e_de if l == 1 else 0.0)
        eta0 = c.q[l] / 2 * eta0
        ck_diag = eta[K + 2]
        ntk_diag = ck_diag + c.s_ntk[l] * ntk_diag
    if kind == "ck":
        return R - R0, ck_diag
    return S - S0, ntk_diag


def cubic_coefficient(net, coeffs: Coefficients, kind: str = "ck", layer: int | None = None):
    """Coefficient ``c31`` of the ``kappa(u_i, u_i, u_i, u_j) = kappa4 sum_k x_ik^3 x_jk``
    term of ``kurtosis="realised"`` at the target layer: at layer 1 the first Edgeworth term
    ``(kappa4 / 6) E[sigma^(3)(u_i)] E[sigma'(u_j)] sum_k x_ik^3 x_jk`` (+ transpose), i.e.
    ``kappa4 a1 a3 / 6`` with ``a3 = E[sigma^(3)(tau0 xi)] = 2 d a1 / d(tau^2)`` (heat
    equation, autodiff of ``moments``); then carried like ``alpha_diag`` (``a1_l^2`` per CK
    layer; NTK: ``beta_l = alpha_l + a1ntk_l^2 beta_{l-1}``). Zero for ReLU (a3 = 0) and
    even activations (a1 = 0); the leading kurtosis term of step activations."""
    from ntkcomp.activations import moments

    c = coeffs
    act = net.activations[0]

    def a1(v):
        return moments(act, jnp.sqrt(v)).a1

    a3 = 2 * jax.grad(a1)(c.tau[0] ** 2)
    x = c.kappa4[1] * c.a1[1] * a3 / 6
    L = c.depth if layer is None or kind == "ntk" else layer
    if L == 0:
        return jnp.zeros_like(x)
    y = x
    for l in range(2, L + 1):
        x = c.a1[l] ** 2 * x
        y = x + c.a1_ntk[l] ** 2 * y
    return x if kind == "ck" else y


def _realised_kurtosis(X, V, M, c_diag, st, shifts, dR, d_diag, c31):
    """``kurtosis="realised"``: ``(V', M', dvec)`` with ``V' = [V, mu, delta, Q, X, R]``,
    ``Q = X * X``, ``R = X * X * X`` (n, p each), ``M' = blockdiag(M (+) 0_2 + dR, c_diag I_p,
    [[0, c31 I_p], [c31 I_p, 0]])`` and ``dvec`` keeping the formula's diagonal (``c_diag
    (J T_diag J^T / p)_ii`` instead of ``c_diag sum_k x_ik^4``; the shift and ``c31`` terms
    only off the diagonal) plus the variance shift ``d_diag delta``."""
    T_diag = _T_diag(st)
    K = T_diag.shape[0]
    p = X.shape[1]
    VJ = V[:, :K]                                         # J / sqrt(p)
    Xv = X.astype(V.dtype)
    Q = Xv * Xv
    s4 = jnp.sum(Q * Q, axis=1)
    mu, delta = (jnp.asarray(a, V.dtype) for a in shifts)
    U = jnp.concatenate([V[:, :K + 1], mu[:, None], delta[:, None]], axis=1)
    theory_diag = jnp.einsum("ik,kl,il->i", VJ, T_diag.astype(V.dtype), VJ)
    dvec = (c_diag * (theory_diag - s4) - 2 * c31 * s4
            - jnp.einsum("ik,kl,il->i", U, dR, U) + d_diag * delta)
    Vr = jnp.concatenate([U, Q, Xv, Q * Xv], axis=1)
    top = jax.scipy.linalg.block_diag(M, jnp.zeros((2, 2), M.dtype)) + dR.astype(M.dtype)
    eye = jnp.eye(p, dtype=M.dtype)
    zero = jnp.zeros((p, p), M.dtype)
    cubic = jnp.block([[zero, c31 * eye], [c31 * eye, zero]])
    Mr = jax.scipy.linalg.block_diag(top, c_diag * eye, cubic)
    return Vr, Mr, dvec


def _tau0(st):
    return jnp.asarray(st.tau0)


def _check_net_scale(net, tau0):
    t_net = getattr(net, "tau0", None)
    try:
        t_net = float(t_net) if t_net is not None else float(net.taus[0])
        t_dat = float(tau0)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError):  # traced: skip
        return
    if abs(t_net - t_dat) > 1e-3 * max(t_dat, 1e-12):
        warnings.warn(f"net.tau0 = {t_net:.6g} differs from the data scale stats.tau0 = "
                      f"{t_dat:.6g}: the network's centring does not match the data and the "
                      "equivalent will carry an uncentred rank-one error", stacklevel=3)


def exact_diagonal(net, X, coeffs: Coefficients, kind="ck", layer=None):
    """Exact diagonal of ``E_W[CK_l]`` (or of ``E_W[NTK]``) per sample, from the scalar
    variance recursion ``v_l(i) = E[(sigma_l(sqrt(v_{l-1}(i)) xi) - m_l)^2]``, ``v_0 = ||x_i||^2``
    and ``kappa_l^2(i) = v_l(i) + s_l(v_{l-1}(i)) kappa_{l-1}^2(i)`` (``s -> 0`` for step
    layers, autodiff convention). Cost O(n L) moment evaluations."""
    from ntkcomp.activations import moments

    v = jnp.sum(X * X, axis=1)
    k2 = v
    L = coeffs.depth if layer is None else layer
    for l in range(1, L + 1):
        act = net.activations[l - 1]
        m = moments(act, jnp.sqrt(v))
        center = net.centers[l - 1] if hasattr(net, "centers") else coeffs.mean[l]
        v_new = m.var + (m.mean - center) ** 2
        s = m.s if coeffs.kinds[l - 1] != "piecewise_constant" else jnp.zeros_like(v)
        k2 = v_new + s * k2
        v = v_new
    return v if kind == "ck" else k2


def equivalent_parts(net, stats, kind="ck", layer=None, *, X=None, finite_width=False,
                     kurtosis=False, coeffs: Coefficients | None = None,
                     step_derivative="autodiff", diagonal="theory"):
    """Structured form ``(c_lin, X, V, M, c_id, b, dvec)`` of an equivalent:
    ``K~ = c_lin X X^T + V M V^T + c_id I + b (1 1^T - I) + diag(dvec)``.

    ``diagonal="theory"`` (THEORY's formula, ``dvec = 0``) or ``"exact"``: ``dvec`` replaces
    the diagonal of the formula by the exact per-sample diagonal of ``E_W`` (see
    :func:`exact_diagonal`) -- a refinement, not part of THEORY's claim.

    ``kurtosis``: False, True (THEORY section 7) or ``"realised"`` (then ``V`` is
    ``(n, K + 3 + 3p)`` = ``[J / sqrt(p), phi, mu, delta, X * X, X, X * X * X]``, ``M`` is
    square of that size and ``dvec`` restores the formula's diagonal plus the variance
    shift; see the module docstring)."""
    if diagonal not in ("theory", "exact"):
        raise ValueError(f"diagonal must be one of ['theory', 'exact'], got {diagonal!r}")
    mode = kurtosis_mode(kurtosis)
    X, st = _unpack(stats, X)
    n, p = X.shape
    tau0 = _tau0(st)
    _check_net_scale(net, tau0)
    c = coeffs if coeffs is not None else coefficients(net, tau0, step_derivative=step_derivative)
    L = c.depth
    V = _V(st, getattr(st, "p", p))
    if kind == "ck":
        l = L if layer is None else layer
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 0 <= l <= L:
            raise ValueError(f"layer must be an integer in [0, {L}] (or None for L), got {layer!r}")
        a = c.alpha[l]
        c_diag = c.alpha_diag[l]
        M = small_matrix(a[1], a[2], st, c_diag=c_diag, kurtosis=mode == "theory")
        c_lin = a[0]
        c_id = c.tau[l] ** 2 - a[0] * tau0 ** 2
        b = c.b[l] if finite_width else jnp.zeros_like(c_lin)
    elif kind == "ntk":
        if finite_width:
            raise ValueError("finite_width=True is only derived for the CK (THEORY section 6);"
                             " the NTK finite-width correction is not implemented")
        bt = c.beta[L]
        c_diag = c.beta_diag[L]
        M = small_matrix(bt[1], bt[2], st, c_diag=c_diag, kurtosis=mode == "theory")
        c_lin = bt[0]
        c_id = c.kappa2[L] - bt[0] * tau0 ** 2
        b = jnp.zeros_like(c_lin)
    else:
        raise ValueError(f"kind must be one of ['ck', 'ntk'], got {kind!r}")
    dvec = jnp.zeros((n,), dtype=X.dtype)
    if mode == "realised":
        if V.shape[1] != np.shape(st.t)[0] + 1:
            raise ValueError("kurtosis='realised' needs V = [J / sqrt(p), phi] (K + 1 "
                             f"columns), got stats.V with {V.shape[1]}")
        dR, d_diag = _shift_terms(c, jnp.asarray(st.t), kind,
                                  L if layer is None else layer)
        V, M, dvec = _realised_kurtosis(X, V, M, c_diag, st,
                                        kurtosis_shifts(net, X, c, tau0), dR, d_diag,
                                        cubic_coefficient(net, c, kind, layer))
    if diagonal == "exact":
        target = exact_diagonal(net, X, c, kind, None if kind == "ntk" else
                                (L if layer is None else layer))
        current = c_lin * jnp.sum(X * X, axis=1) + jnp.einsum("ik,kl,il->i", V, M, V) + c_id
        dvec = target - current
    return c_lin, X, V, M, c_id, b, dvec


def _dense(parts):
    c_lin, X, V, M, c_id, b, dvec = parts
    n = X.shape[0]
    K = (c_lin * (X @ X.T) + V @ M @ V.T + (c_id - b) * jnp.eye(n, dtype=X.dtype) + b
         + jnp.diag(dvec))
    return 0.5 * (K + K.T)


def ck_equivalent(net, stats, layer=None, *, X=None, finite_width=False, kurtosis=False,
                  coeffs=None, diagonal="theory"):
    """Equivalent ``K~_l`` (n, n) of ``E_W[CK_l]`` (THEORY section 4).

    Args:
      net: MLP. stats: GMMSample, or GMMStats together with ``X`` (n, p).
      layer: 0..L (default L). ``layer=0`` gives ``X X^T``.
      finite_width: add ``b_l (1 1^T - I)`` (section 6). kurtosis: False; True (the
        weight fourth-cumulant ``T_diag`` correction, section 7); or ``"realised"`` (its
        off-diagonal class-block means replaced by the realised ``sum_k x_ik^2 x_jk^2``,
        plus the ``sum_k x_ik^3 x_jk`` term and the layer-1 mean / variance shifts; module
        docstring).
      coeffs: precomputed :func:`coefficients` (default: computed at ``stats.tau0``).
      diagonal: ``"theory"`` (the formula) or ``"exact"`` (exact per-sample diagonal, an
        O(n) refinement beyond THEORY; see :func:`exact_diagonal`).
    """
    return _dense(equivalent_parts(net, stats, "ck", layer, X=X, finite_width=finite_width,
                                   kurtosis=kurtosis, coeffs=coeffs, diagonal=diagonal))


def ntk_equivalent(net, stats, *, X=None, kurtosis=False, finite_width=False, coeffs=None,
                   step_derivative="autodiff", diagonal="theory"):
    """Equivalent ``Theta~`` (n, n) of ``E_W[NTK]`` (THEORY section 5).

    For piecewise-constant activations the autodiff convention applies (see
    :mod:`ntkcomp.equivalents.coefficients`): ``step_derivative="raise"`` refuses instead.
    """
    return _dense(equivalent_parts(net, stats, "ntk", None, X=X, finite_width=finite_width,
                                   kurtosis=kurtosis, coeffs=coeffs,
                                   step_derivative=step_derivative, diagonal=diagonal))


def _matvec(parts) -> Callable:
    c_lin, X, V, M, c_id, b, dvec = parts

    def mv(v):
        v = jnp.asarray(v)
        squeeze = v.ndim == 1
        w = v[:, None] if squeeze else v
        out = (c_lin * (X @ (X.T @ w)) + V @ (M @ (V.T @ w)) + (c_id - b) * w
               + b * jnp.sum(w, axis=0, keepdims=True) + dvec[:, None] * w)
        return out[:, 0] if squeeze else out

    mv.n = X.shape[0]
    mv.dtype = X.dtype
    return mv


def ck_equivalent_matvec(net, stats, layer=None, *, X=None, finite_width=False,
                         kurtosis=False, coeffs=None, diagonal="theory") -> Callable:
    """Matrix-free ``v -> K~_l v`` for ``v`` of shape (n,) or (n, m); O(n (p + K)) per vector.

    The returned callable has attributes ``n`` and ``dtype``."""
    return _matvec(equivalent_parts(net, stats, "ck", layer, X=X, finite_width=finite_width,
                                    kurtosis=kurtosis, coeffs=coeffs, diagonal=diagonal))


def ntk_equivalent_matvec(net, stats, *, X=None, kurtosis=False, coeffs=None,
                          step_derivative="autodiff", diagonal="theory") -> Callable:
    """Matrix-free ``v -> Theta~ v`` (see :func:`ck_equivalent_matvec`)."""
    return _matvec(equivalent_parts(net, stats, "ntk", None, X=X, kurtosis=kurtosis,
                                    coeffs=coeffs, step_derivative=step_derivative,
                                    diagonal=diagonal))

