"""The CK / NTK equivalents (THEORY sections 4-5) against the exact E_W kernels
(`expected_kernels`) on Gaussian mixtures that appear nowhere else: random means and random
FULL covariances (random eigenbases, random spectra), K = 3 classes with unequal
proportions, freshly drawn from a seed. The presets (`gmm_preset`) and the GMM of
tests/test_equivalents.py (diagonal covariances) are not used.

Tolerances are the theory checks' own criteria (theory_checks/ck_equivalence.py,
ntk_equivalence.py: error <= 0.06 (CK) / 0.08 (NTK) at n = 2048) transported to n = 512
along the claimed rate n^{-1/2} (x sqrt(2048/512) = 2: 0.12 / 0.16), plus the rate itself
in a weak, failing-if-wrong form (the error must shrink by a factor <= 0.9 from n = 256 to
n = 512; the claim is 0.71, the committed ladders measure 0.68-0.86 per doubling at L <= 2).
A wrong coefficient gives an error that does not shrink with n (e.g. the official code's
extra alpha_{l,3} tau_0^4, THEORY section 4).
"""
import jax
import numpy as np
import pytest

from ntkcomp.data import GMM
from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
from ntkcomp.kernels import expected_kernels
from ntkcomp.spectral import relative_operator_error
from theory_checks import _common as C

CK_TOL_512 = C.transported(0.06, 512)   # 0.12
NTK_TOL_512 = C.transported(0.08, 512)  # 0.16
RATE_MAX = 0.9                          # err(512) / err(256)


def _random_orthogonal(rng, p):
    q, r = np.linalg.qr(rng.normal(size=(p, p)))
    return q * np.sign(np.diag(r))


def fresh_gmm_sample(n: int, seed: int = 90417, shifts=(-1.5, 0.0, 1.5)):
    """A K = 3 mixture at p = n/2 with random means (norms 2, 2.5, 3) and random full
    covariances C_a = Q_a diag(lambda_a) Q_a^T, lambda_a ~ U(0.5, 1.5) * (1 + s_a/sqrt(p)),
    i.e. trace shifts t_a = tr(C_a - C°)/sqrt(p) ~ s_a = O(1) as in THEORY's regime.

    The default shifts (-1.5, 0, 1.5) keep |t_a| / tau_0^2 <= 1.5, the range of the presets
    on which the criteria were set (mixed/covs: t = +-2 at tau_0^2 = 1.375, i.e. 1.45).
    The error constant grows with |t_a| (measured, erf L = 2, n = 256/512: shifts 0 ->
    0.098/0.065, +-1 -> 0.137/0.093, +-3 -> 0.225/0.158; the rate stays ~n^-1/2), so the
    transported criterion only applies in that range."""
    p, K = n // 2, 3
    rng = np.random.default_rng(seed + n)
    means = rng.normal(size=(K, p))
    means *= np.array([[2.0], [2.5], [3.0]]) / np.linalg.norm(means, axis=1, keepdims=True)
    covs = np.empty((K, p, p))
    for a, shift in enumerate(shifts):
        lam = rng.uniform(0.5, 1.5, size=p) * (1.0 + shift / np.sqrt(p))
        Q = _random_orthogonal(rng, p)
        covs[a] = (Q * lam) @ Q.T
    covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
    gmm = GMM(means, covs, proportions=np.array([0.25, 0.35, 0.40]))
    return gmm.sample(jax.random.PRNGKey(seed + n), n)


# erf (smooth) and ternary (step: NTK = CK_L by the autodiff convention); ReLU on an unseen
# GMM is covered by tests/test_equivalents.py::test_expected_kernels_agree_on_unseen_gmm.
# Measured (CK, NTK) at n = 256 / 512: erf (0.158, 0.148) / (0.108, 0.102); ternary
# (0.137, 0.137) / (0.093, 0.093); ratios 0.68-0.69.
@pytest.mark.parametrize("act,L", [("erf", 2), ("ternary", 2)])
def test_equivalents_match_expected_kernels_on_fresh_gmm(act, L):
    errs = []
    for n in (256, 512):
        s = fresh_gmm_sample(n)
        net = C.make_net(act, L, s)  # width irrelevant (exact infinite-width E_W)
        E = expected_kernels(net, s.X)
        errs.append((relative_operator_error(ck_equivalent(net, s), E["ck"][-1]),
                     relative_operator_error(ntk_equivalent(net, s), E["ntk"])))
    (ck256, ntk256), (ck512, ntk512) = errs
    assert ck512 <= CK_TOL_512 and ntk512 <= NTK_TOL_512, errs
    assert ck512 <= RATE_MAX * ck256 and ntk512 <= RATE_MAX * ntk256, errs
