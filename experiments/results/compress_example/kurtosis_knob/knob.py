"""Weight kurtosis as a 4th knob for the ReLU NTK target (issue 5, part 3; exploratory).

The NTK-target last layer has 4 equations (beta_{L,1..3}, kappa_L^2) for 3 free moments
(a1^2, a2^2, tau_L^2): ReLU leaves beta3 at -48 % (rank-(K+1) class-block error). Two
candidate 4th knobs, both from the sparse-ternary fourth cumulant kappa4(eps) = 1/(1-eps)-3:

A. kappa4(W_1) (first layer): adds alpha_diag_L T_diag to the T slot (THEORY 7) at infinite
   width. Given the (CK-matched) hidden layers, beta1 fixes a1^2 and beta2 then fixes a2^2;
   printed: that a2^2 (negative for ReLU: impossible). Design used: a1^2 from beta1,
   a2^2 = 0 (closest feasible), tau_L^2 = kappa_L^2, and kappa4(W_1) solved from the beta3
   equation (T_diag = T for this data set: diagonal covariances); beta2 keeps its residual.
B. kappa4(W_L) (last hidden layer): enters ONLY the finite-width term
   b_L (1 1^T - I), via (a2_L^2/4) kappa4(W_L) tau_{L-1}^4 / d_{L-1} (THEORY 6); vanishes as
   d -> infinity. Printed: what kappa4(W_L) would cancel the beta3 deficit's
   leading (1 1^T / p) component, and the cosine between 1 and the class-block direction.

Evaluated with the equivalents (kurtosis term on), n = 2048, p = 1024, widths 1024/1024/512,
"mixed" GMM, seed 0: ||K_c - delta I - Theta_d|| / ||Theta_d||.

    nice -n 19 python experiments/results/compress_example/kurtosis_knob/knob.py [n]
"""
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
warnings.simplefilter("ignore")

import jax
import numpy as np

import ntkcomp

ntkcomp.enable_x64()
from ntkcomp._io import atomic_write_json, run_metadata
from ntkcomp.compress import compress
from ntkcomp.compress.core import _alpha_from_solutions, coefficient_comparison
from ntkcomp.compress.solver import solve_layer
from ntkcomp.compress.targets import (
    FLOOR_FRAC,
    LinearTarget,
    ntk_last_layer_target,
    target_from_activation,
)
from ntkcomp.data import gmm_preset
from ntkcomp.equivalents import ck_equivalent, coefficients, ntk_equivalent
from ntkcomp.networks import MLP, weight_law
from ntkcomp.spectral.distances import operator_norm

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
p = n // 2
widths = [n // 2, n // 2, n // 4]
L = len(widths)
sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(0), n)
st = sample.stats
tau0 = float(st.tau0)
dense = MLP(widths, "relu", tau0=tau0)
cd = coefficients(dense, tau0)
Nd = np.asarray(ntk_equivalent(dense, sample))
nd = operator_norm(Nd)
T, Td = np.asarray(st.T), np.asarray(st.T_diag)
out = {"n": n, "p": p, "widths": widths, "T": T.tolist(), "T_diag": Td.tolist(),
       "T_diag_vs_T_rel": float(np.linalg.norm(Td - T) / np.linalg.norm(T))}


def kst(eps):
    return 1.0 / (1.0 - eps) - 3.0


def evaluate(acts, eps_list):
    comp = MLP(widths, acts, weights=[weight_law("sparse_ternary", eps=e) for e in eps_list],
               tau0=tau0)
    cc = coefficient_comparison(dense, comp, tau0)
    delta = float(cc["delta_ntk"])
    res = {}
    for kurt in (False, True):
        Kc = np.asarray(ck_equivalent(comp, sample, kurtosis=kurt))
        res["kurtosis" if kurt else "gaussian"] = operator_norm(Kc - delta * np.eye(n) - Nd) / nd
    res["delta_ntk"] = delta
    return comp, res


# ---- standard NTK design (least squares over beta1..3, kappa^2)
std = compress(dense, tau0, eps=0.9, target="ntk", family="ternary", k_max=4, seed=0)
acts_std = list(std.compressed.activations)
out["standard"] = {"last_residuals": dict(std.layers[-1].residuals), "rows": []}
for eps1 in (0.0, 0.5, 2 / 3, 0.9):
    _, r = evaluate(acts_std, [eps1, 0.9, 0.9])
    out["standard"]["rows"].append({"eps": [eps1, 0.9, 0.9], **r})
    print(f"standard design eps_1={eps1:.3f}: {r}", flush=True)

# ---- A: last layer matches (beta1, beta2, kappa^2) exactly, kappa4(W_1) closes beta3
sols = std.layers
alpha_prev = _alpha_from_solutions(sols[:-1], tau0)
full = ntk_last_layer_target(alpha_prev, np.asarray(cd.beta[L]), float(cd.kappa2[L]),
                             FLOOR_FRAC)
# exact requirement from beta1 and beta2 alone (hidden layers fixed):
a1sq_req = float(full.values[0] / full.M[0, 0])
a2sq_req = float((full.values[1] - full.M[1, 0] * a1sq_req) / full.M[1, 1])
out["A_requirements"] = {"a1_sq_from_beta1": a1sq_req, "a2_sq_from_beta2": a2sq_req,
                         "alpha_prev": [float(x) for x in alpha_prev]}
print(f"A: beta1 -> a1^2 = {a1sq_req:.4g}; beta2 then needs a2^2 = {a2sq_req:.4g}", flush=True)
# a2^2 < 0 is impossible: keep a2 = 0 (closest feasible), match beta1 and kappa^2 exactly
M = np.array([full.M[0], [0.0, 1.0, 0.0, 0.0], full.M[0], full.M[3]])
vals = np.array([full.values[0], 0.0 if a2sq_req < 0 else a2sq_req, full.values[0],
                 full.values[3]])
scales = np.array([full.scales[0], a1sq_req, full.scales[0], full.scales[3]])
lin = LinearTarget(M, vals, scales, ("beta1", "a2_sq", "beta1_dup", "kappa_sq"))
tau_c = float(np.sqrt(sols[-2].achieved["var"]))
t = target_from_activation(dense.activations[-1], float(cd.tau[L - 1]))
sol = solve_layer(t, tau_c, family="ternary", match_tau=True, tol=1e-10, seed=L,
                  n_starts=64, linear=lin)
print(f"A last layer: feasible {sol.feasible} residuals {sol.residuals}", flush=True)
a1sq, a2sq = sol.achieved["a1"] ** 2, sol.achieved["a2"] ** 2
beta3_c = alpha_prev[2] * a1sq + 0.5 * alpha_prev[0] ** 2 * a2sq
deficit = float(cd.beta[L][2]) - beta3_c
acts_A = [s.activation() for s in sols[:-1]] + [sol.activation()]
probe = MLP(widths, acts_A, weights=[weight_law("sparse_ternary", eps=0.75)] +
            [weight_law("sparse_ternary", eps=0.9)] * (L - 1), tau0=tau0)
c_unit = float(coefficients(probe, tau0).alpha_diag[L]) / kst(0.75)
k4 = deficit / c_unit
eps1 = 1.0 - 1.0 / (3.0 + k4) if k4 > -2 else None
out["A"] = {"last_residuals": dict(sol.residuals), "feasible_last": bool(sol.feasible),
            "beta3_dense": float(cd.beta[L][2]), "beta3_compressed_gaussian": beta3_c,
            "alpha_diag_L_per_unit_kappa4": c_unit, "kappa4_W1": k4, "eps1": eps1,
            "rows": []}
print(f"A: last layer residuals {sol.residuals}, beta3 deficit {deficit:.4g}, "
      f"kappa4(W_1) = {k4:.4g} -> eps_1 = {eps1}", flush=True)
for e1 in ([eps1] if eps1 is not None else []) + [0.0, 0.5, 2 / 3, 0.9]:
    comp, r = evaluate(acts_A, [e1, 0.9, 0.9])
    out["A"]["rows"].append({"eps": [e1, 0.9, 0.9], **r})
    print(f"A design eps_1={e1:.4f}: {r}", flush=True)

# ---- B: what kappa4(W_L) would need to be (finite-width b_L, 1 1^T direction)
J = np.asarray(st.J)
v = J @ T @ J.T / p                       # class block of the beta3 term, per unit beta3
w, U = np.linalg.eigh(v)
u = U[:, -1]
cos = float(abs(u @ np.ones(n)) / np.sqrt(n))
ones_part = float(np.ones(n) @ v @ np.ones(n) / n ** 2)   # v ~ ones_part * 1 1^T
cc_std = coefficients(std.compressed, tau0)
a2L = float(cc_std.a2[L]) if hasattr(cc_std, "a2") else None
tauLm1 = float(cc_std.tau[L - 1])
need_b = float(-std.layers[-1].residuals["beta3"] * abs(cd.beta[L][2])) * ones_part
k4L = need_b / (a2L ** 2 / 4 * tauLm1 ** 4 / widths[L - 2]) if a2L else None
out["B"] = {"cos_top_class_block_vs_ones": cos, "class_block_ones_coefficient": ones_part,
            "b_needed": need_b, "a2_L": a2L, "tau_Lm1": tauLm1, "d_Lm1": widths[L - 2],
            "kappa4_W_L_needed": k4L,
            "eps_L_needed": (1 - 1 / (3 + k4L)) if (k4L is not None and k4L > -2) else None}
print("B:", out["B"], flush=True)
atomic_write_json(Path(__file__).with_name(f"knob_n{n}.json"),
                  {**out, **run_metadata({"n": n}, {"seed": 0})})

# ---- kappa4(W_1) as a tuning knob on the operator-norm error itself (both designs)
from scipy.optimize import minimize_scalar

for name, acts in (("standard", acts_std), ("A", acts_A)):
    def f(e1, acts=acts):
        return evaluate(acts, [e1, 0.9, 0.9])[1]["kurtosis"]

    r = minimize_scalar(f, bounds=(0.0, 0.97), method="bounded", options={"xatol": 2e-3})
    out[name]["best_eps1_opnorm"] = {"eps1": float(r.x), "kappa4_W1": kst(float(r.x)),
                                     "rel_err_kurtosis": float(r.fun), "evals": int(r.nfev)}
    print(f"{name}: best eps_1 = {r.x:.4f} (kappa4 {kst(r.x):.3f}) -> {r.fun:.4f}", flush=True)
atomic_write_json(Path(__file__).with_name(f"knob_n{n}.json"),
                  {**out, **run_metadata({"n": n}, {"seed": 0})})
