"""The realised weight-kurtosis terms of the equivalents (``Kurtosis.REALISED``).

See the theory page ``docs/theory/universality.md`` (section Realised kurtosis term). With
layer-1 weights of fourth cumulant ``kappa4`` the equivalent gains the first Edgeworth terms
of the weight law evaluated with the data's realised fourth moments:

(i) off the diagonal the class-block matrix ``J T_diag J^T / p`` of the ``T_diag`` term is
replaced by the realised fourth-moment Gram ``Q Q^T``, ``Q = X * X``; (ii) the per-sample
shifts ``mu``, ``delta`` of the mean and the variance of the layer-1 features
(:func:`kurtosis_shifts`) are carried through the layers (:func:`_shift_terms`); (iii) the
``kappa4 sum_k x_ik^3 x_jk`` term (:func:`cubic_coefficient`); (iv) the first-order terms
linear in the covariance ``c_ij`` or in each sample's variance deviation
(:func:`covariance_coefficients`); (v) the slope shifts the variance shift causes in layers
``>= 2`` (:func:`deep_slope_terms`). The diagonal is the formula's plus the variance shift.

In the structured form ``V`` gains the columns ``mu``, ``delta``, ``delta * [J / sqrt(p),
phi]`` and ``(K + 3) p`` more (``Q``, ``dv * Q``, ``X`` split by class, ``X^3``-plus-slopes);
``M`` is stored dense, ``((K + 3)(p + 1))^2`` entries. Not included: terms of higher order in
``c_ij``, ``dv_i`` and ``kappa4``; the derivative kernels' own shifts beyond layer 1's.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.activations import moments
from ntkcomp.equivalents._kernel import class_t_diag, small_matrix
from ntkcomp.equivalents._recursion import Coefficients, coefficients


def kurtosis_shifts(net, X, coeffs: Coefficients | None = None, tau0=None):
    """Per-sample shifts ``(mu, delta)`` (each (n,)) of the mean and of the variance of a
    layer-1 feature ``sigma_1(u_i) - m_1``, ``u_i = w . x_i``, caused by the weights' fourth
    cumulant ``kappa4`` (first Edgeworth term of a one-dimensional expectation):
    ``E[g(u_i)] - E_gauss[g(u_i)] = kappa4 (sum_k x_ik^4) / 24 E_gauss[g^(4)(u_i)]`` with
    ``E_gauss[g^(4)] = 4 G''(v)``, ``G(v) = E[g(sqrt(v) xi)]`` (heat equation), evaluated at
    the common scale ``v = tau0^2``; ``g = sigma_1`` gives ``mu``, ``g = (sigma_1 - m_1)^2``
    gives ``delta``. Zero for Gaussian layer-1 weights. X: (n, p)."""
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


def _carry(c: Coefficients, kind: str, layer, x, start: int = 1):
    """A layer-``start`` kernel perturbation's coefficient ``x`` carried to the target layer
    like ``alpha_diag`` (``a1_l^2`` per CK layer; NTK: ``beta_l = alpha_l + a1ntk_l^2
    beta_{l-1}``, the derivative kernels unchanged)."""
    L = c.depth if layer is None or kind == "ntk" else layer
    if L == 0:
        return jnp.zeros_like(x)
    y = x
    for l in range(start + 1, L + 1):
        x = c.a1[l] ** 2 * x
        y = x + c.a1_ntk[l] ** 2 * y
    return x if kind == "ck" else y


def _layer_a(net, c: Coefficients, name: str, order: int, layer: int = 1):
    """``d^order/dv^order`` of the Gaussian moment ``name`` (``a1`` or ``a2``) of layer
    ``layer`` at its input scale ``v = tau_{layer-1}^2`` (autodiff of ``moments``); by the
    heat equation ``E[g^(2k)] = 2^k d^k E[g] / dv^k``, e.g. ``a3 = 2 a1'``, ``a5 = 4 a1''``,
    ``a4 = 2 a2'``."""
    act = net.activations[layer - 1]

    def f(v):
        return getattr(moments(act, jnp.sqrt(v)), name)

    for _ in range(order):
        f = jax.grad(f)
    return f(c.tau[layer - 1] ** 2)


def _a1ntk_product(c: Coefficients, start: int):
    """``prod_{m > start} a1ntk_m^2``: an NTK-only perturbation at layer ``start`` carried to
    the last layer (the CK part unchanged)."""
    f = 1.0
    for m in range(start + 1, c.depth + 1):
        f = f * c.a1_ntk[m] ** 2
    return f


def deep_slope_terms(net, coeffs: Coefficients, stats, kind: str = "ck",
                     layer: int | None = None):
    """``(c_x, A)`` of the term ``D (c_x X X^T + V A V^T) + (...) D``, ``D = diag(delta)``,
    ``V = [J / sqrt(p), phi]``, of ``kurtosis="realised"``: the slope shifts that the
    layer-1 variance shift ``delta`` (:func:`kurtosis_shifts`) causes in layers l >= 2.

    Layer l's input norms move by ``e_{l-1} delta_i`` (``e_1 = 1``, ``e_m = (q_m / 2)
    e_{m-1}``, as in :func:`_shift_terms`), so its slope ``E[sigma_l'(u_i)]`` moves by
    ``a1_l' e_{l-1} delta_i`` (``a1_l' = d a1_l / d(tau^2)`` at ``tau_{l-1}``) and the
    off-diagonal CK gains ``a1_l a1_l' e_{l-1} (delta_i + delta_j) K~_{l-1, ij}``, with
    ``K~_{l-1} = alpha_{l-1,1} X X^T + V A_{l-1} V^T`` off the diagonal (entries of the same
    order, p^-3/2, as the ``x^3 x`` term); then carried like ``alpha_diag``. For the NTK a
    differentiable layer l adds the same with its derivative kernel:
    ``a1ntk_l a1ntk_l' e_{l-1} (delta_i + delta_j) Theta~_{l-1, ij}``, carried by
    ``a1ntk^2``."""
    c = coeffs
    st = stats
    dt = c.tau.dtype
    K1 = np.shape(st.t)[0] + 1
    L = c.depth if layer is None or kind == "ntk" else layer
    cx = jnp.zeros((), dt)
    A = jnp.zeros((K1, K1), dt)
    e = jnp.ones((), dt)                      # e_{l-1}, starting at e_1 = 1
    for l in range(2, L + 1):
        a1p = _layer_a(net, c, "a1", 1, l)
        s_ck = c.a1[l] * a1p * e
        smooth = c.kinds[l - 1] != "piecewise_constant"
        s_ntk = c.a1_ntk[l] * a1p * e if smooth else jnp.zeros((), dt)
        al, bl = c.alpha[l - 1], c.beta[l - 1]
        w_ck = _carry(c, kind, layer, jnp.ones((), dt), start=l)
        cx = cx + w_ck * s_ck * al[0]
        A = A + w_ck * s_ck * small_matrix(al[1], al[2], st)
        if kind == "ntk":
            f_ntk = _a1ntk_product(c, l)
            cx = cx + f_ntk * s_ntk * bl[0]
            A = A + f_ntk * s_ntk * small_matrix(bl[1], bl[2], st)
        e = c.q[l] / 2 * e
    return cx, A


def cubic_coefficient(net, coeffs: Coefficients, kind: str = "ck", layer: int | None = None):
    """Coefficient ``c31`` of the ``kappa(u_i, u_i, u_i, u_j) = kappa4 sum_k x_ik^3 x_jk``
    term of ``kurtosis="realised"`` at the target layer: at layer 1 the first Edgeworth term
    ``(kappa4 / 6) E[sigma^(3)(u_i)] E[sigma'(u_j)] sum_k x_ik^3 x_jk`` (+ transpose), i.e.
    ``kappa4 a1 a3 / 6`` with ``a3 = E[sigma^(3)(tau0 xi)] = 2 d a1 / d(tau^2)`` (heat
    equation, autodiff of ``moments``); then carried like ``alpha_diag`` (``a1_l^2`` per CK
    layer; NTK: ``beta_l = alpha_l + a1ntk_l^2 beta_{l-1}``). Zero for ReLU (a3 = 0) and
    even activations (a1 = 0); the leading kurtosis term of step activations."""
    c = coeffs
    a3 = 2 * _layer_a(net, c, "a1", 1)
    return _carry(c, kind, layer, c.kappa4[1] * c.a1[1] * a3 / 6)


def covariance_coefficients(net, coeffs: Coefficients, kind: str = "ck",
                            layer: int | None = None):
    """Coefficients ``(c_slope, c_hadamard, c_scale)`` of the first-order kurtosis terms of
    ``kurtosis="realised"`` that are linear in the covariance ``c_ij = x_i . x_j`` or in the
    per-sample variance deviation ``dv_i = ||x_i||^2 - tau0^2`` (entries of the same order,
    ``p^-3/2``, as the ``x^3 x`` term), at layer 1 and carried like ``alpha_diag``:

    * ``c_slope = kappa4 a1 a5 / 24``: the ``kappa4 sum_k x_ik^4`` shift of the slope
      ``E[sigma'(u_i)]``, times ``(s4_i + s4_j) c_ij`` (``s4_i = sum_k x_ik^4``);
    * ``c_hadamard = kappa4 a3^2 / 4``: ``E[sigma'' sigma'']`` at covariance ``c``, i.e. the
      Gram term times ``c_ij`` -- ``(J T_diag J^T / p) o X X^T`` (class-block fourth moments:
      the realised fluctuations change it by ``O(p^-1/2)`` relative);
    * ``c_scale = kappa4 a2 a4 / 8``: the Gram term's ``a2^2`` at each sample's own variance,
      ``(Q Q^T) o (dv 1^T + 1 dv^T)``.

    ``a_k = E[sigma^(k)(tau0 xi)]`` by the heat equation (``a3 = 2 a1'``, ``a5 = 4 a1''``,
    ``a4 = 2 a2'``, derivatives in ``v = tau^2``). For the NTK with a differentiable layer 1
    the derivative kernel ``E[sigma'(u_i) sigma'(u_j)]``, which multiplies ``Theta_0 = X
    X^T``, adds the first two terms once more (its mean shift times ``E[sigma'] = a1``, its
    Gram term ``a3^2``)."""
    c = coeffs
    k4 = c.kappa4[1]
    a3 = 2 * _layer_a(net, c, "a1", 1)
    a5 = 4 * _layer_a(net, c, "a1", 2)
    a4 = 2 * _layer_a(net, c, "a2", 1)
    a2 = _layer_a(net, c, "a2", 0)
    x_slope, x_had = k4 * c.a1[1] * a5 / 24, k4 * a3 ** 2 / 4
    out = [_carry(c, kind, layer, x_slope), _carry(c, kind, layer, x_had),
           _carry(c, kind, layer, k4 * a2 * a4 / 8)]
    if kind == "ntk" and c.kinds[0] != "piecewise_constant":
        # the derivative kernel E[sigma'(u_i) sigma'(u_j)] of layer 1 (times Theta_0 = X X^T
        # in the NTK) has the same two terms with the same coefficients: its kappa4 sum_k
        # x_ik^4 mean shift (a5) times E[sigma'] = a1, and its Gram term (E[sigma^(3)])^2 =
        # a3^2 -- at c = 0, times c_ij from Theta_0; carried by a1ntk_l^2 alone
        f = _a1ntk_product(c, 1)
        out[0] = out[0] + f * x_slope
        out[1] = out[1] + f * x_had
    return tuple(out)


def _realised_kurtosis(X, V, M, c_diag, st, shifts, dR, d_diag, c31, ccov, deep):
    """``kurtosis="realised"``: ``(V', M', dvec)`` with ``V' = [U, Q, G, D_1 X .. D_K X, Y]``:
    ``U = [V, mu, delta]``, ``Q = X * X``, ``G = c_scale dv * Q``, ``D_a X`` the rows of class
    a, ``Y = c31 X^3 + c_slope s4 * X`` (n, p each); ``M' = blockdiag(M (+) 0_2 + dR,
    [[c_diag I, I], [I, 0]], [[c_hadamard T_diag / p (x) I_p, 1_K (x) I_p], [1_K^T (x) I_p,
    0]])``, i.e. ``c_diag Q Q^T + c_scale (D_dv Q Q^T + Q Q^T D_dv) + c_hadamard (J T_diag J^T
    / p) o X X^T + X Y^T + Y X^T``; ``dvec`` keeps the formula's diagonal (``c_diag (J T_diag
    J^T / p)_ii`` instead of ``c_diag s4_i``; the other terms only off the diagonal) plus the
    variance shift ``d_diag delta``. ``deep = (c_x, A)`` (:func:`deep_slope_terms`) adds
    ``c_x delta * X`` to ``Y`` and the columns ``delta * V`` (K + 1) with blocks ``A`` against
    ``V``'s."""
    c_slope, c_had, c_scale = ccov
    c_x, A_deep = deep
    T_diag = class_t_diag(st)
    K = T_diag.shape[0]
    p = X.shape[1]
    VJ = V[:, :K]                                         # J / sqrt(p)
    Xv = X.astype(V.dtype)
    Q = Xv * Xv
    s4 = jnp.sum(Q * Q, axis=1)
    nx2 = jnp.sum(Q, axis=1)
    dv = nx2 - jnp.asarray(st.tau0, V.dtype) ** 2
    Jm = VJ * jnp.sqrt(jnp.asarray(getattr(st, "p", p), V.dtype))     # J (0/1)
    mu, delta = (jnp.asarray(a, V.dtype) for a in shifts)
    U = jnp.concatenate([V[:, :K + 1], mu[:, None], delta[:, None]], axis=1)
    theory_diag = jnp.einsum("ik,kl,il->i", VJ, T_diag.astype(V.dtype), VJ)
    own_T = jnp.einsum("ik,kl,il->i", Jm, T_diag.astype(V.dtype), Jm) / p
    V0 = V[:, :K + 1]
    dvec = (c_diag * (theory_diag - s4) - 2 * c31 * s4
            - jnp.einsum("ik,kl,il->i", U, dR, U) + d_diag * delta
            - 2 * c_slope * s4 * nx2 - c_had * own_T * nx2 - 2 * c_scale * dv * s4
            - 2 * delta * (c_x * nx2 + jnp.einsum("ik,kl,il->i", V0, A_deep, V0)))
    G = c_scale * dv[:, None] * Q
    DX = [Jm[:, a:a + 1] * Xv for a in range(K)]
    Y = c31 * Q * Xv + c_slope * s4[:, None] * Xv + c_x * delta[:, None] * Xv
    Vr = jnp.concatenate([U, delta[:, None] * V0, Q, G] + DX + [Y], axis=1)
    top = jax.scipy.linalg.block_diag(M, jnp.zeros((2, 2), M.dtype)) + dR.astype(M.dtype)
    E = jnp.zeros((K + 3, K + 1), M.dtype).at[:K + 1, :].set(A_deep.astype(M.dtype))
    top = jnp.block([[top, E], [E.T, jnp.zeros((K + 1, K + 1), M.dtype)]])
    eye = jnp.eye(p, dtype=M.dtype)
    zero = jnp.zeros((p, p), M.dtype)
    gram = jnp.block([[c_diag * eye, eye], [eye, zero]])
    had = jnp.kron(c_had * T_diag.astype(M.dtype) / p, eye)
    ones = jnp.kron(jnp.ones((K, 1), M.dtype), eye)
    xy = jnp.block([[had, ones], [ones.T, zero]])
    Mr = jax.scipy.linalg.block_diag(top, gram, xy)
    return Vr, Mr, dvec


def realised_parts(net, c: Coefficients, st, X, V, M, c_diag, kind: str, layer: int):
    """``(V', M', dvec)`` of ``Kurtosis.REALISED`` for the target ``kind`` (``"ck"`` at
    ``layer``, or ``"ntk"``), from the plain equivalent's ``V (n, K + 1)``, ``M`` and its
    ``T_diag`` coefficient ``c_diag``. X: ``(n, p)``.

    Raises:
      ValueError: ``V`` is not ``[J / sqrt(p), phi]`` (``K + 1`` columns).
    """
    if V.shape[1] != np.shape(st.t)[0] + 1:
        raise ValueError("kurtosis='realised' needs V = [J / sqrt(p), phi] (K + 1 "
                         f"columns), got stats.V with {V.shape[1]}")
    dR, d_diag = _shift_terms(c, jnp.asarray(st.t), kind, layer)
    return _realised_kurtosis(X, V, M, c_diag, st,
                              kurtosis_shifts(net, X, c, jnp.asarray(st.tau0)), dR, d_diag,
                              cubic_coefficient(net, c, kind, layer),
                              covariance_coefficients(net, c, kind, layer),
                              deep_slope_terms(net, c, st, kind, layer))
