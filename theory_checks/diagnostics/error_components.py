"""Split the CK equivalence error D = E_W[CK_L] - K~_L into components, vs n (diagnostic,
no PASS/FAIL; uses the cached exact kernels of ck_equivalence, computes them if absent).

    python -m theory_checks.diagnostics.error_components binary:2:mixed,ternary:2:mixed \
        256,512,1024,2048,4096

Printed, each relative to ||E_W||: err (total), diag (diagonal part), off (off-diagonal
part), offV / offcross / offrest (off-diagonal part projected on span(V) = class
indicators + phi, the cross terms, and the rest), block (the off-diagonal error averaged
over class blocks, J B J^T), mean_off_x_n (n x mean off-diagonal error); s_lin, s_VMV,
const: least-squares multipliers of X X^T, V A V^T and 1 1^T fitted to the off-diagonal
entries of E_W (1 = the equivalent's coefficient is right); then log-log slopes vs n.
"""
import sys
import numpy as np
import scipy.sparse.linalg as sla
from theory_checks import _common as C
from ntkcomp.equivalents.matrices import equivalent_parts, _dense

def opn(M):
    M = np.asarray(M)
    if M.shape[0] <= 1024:
        return float(np.max(np.abs(np.linalg.eigvalsh(M))))
    v = sla.eigsh(M, k=1, which="LM", tol=1e-8, return_eigenvectors=False)
    return float(abs(v[0]))

cfgs = [tuple(c.split(":")) for c in sys.argv[1].split(",")]
ns = [int(x) for x in sys.argv[2].split(",")]
for act, L, preset in cfgs:
    L = int(L)
    rows = []
    for n in ns:
        s = C.sample(preset, n, seed=0)
        net = C.make_net(act, L, s)
        E = C.expected(net, s, ("E", act, L, preset, n, 0.5, 0, C.STEP_THRESHOLDS.get(act)))["ck"][-1]
        parts = equivalent_parts(net, s, "ck")
        c_lin, X, V, M, c_id, b, dvec = [np.asarray(x) for x in parts]
        K = np.asarray(_dense(parts))
        D = E - K
        nE = opn(E)
        Dd = np.diag(np.diag(D)); Do = D - Dd
        Q, _ = np.linalg.qr(V)                      # span(V): class indicators + phi
        Do_Q = Q @ (Q.T @ Do @ Q) @ Q.T
        Do_cross = Q @ (Q.T @ Do) - Do_Q; Do_cross = Do_cross + Do_cross.T
        Do_rest = Do - Do_Q - Do_cross
        # constant (1 1^T) part of the off-diagonal error
        off = ~np.eye(n, dtype=bool)
        mo = float(np.mean(Do[off]))
        # class-block means of Do (K x K), their operator-norm contribution
        lab = np.asarray(s.labels); Kc = lab.max() + 1
        Bm = np.array([[Do[np.ix_(lab == a, lab == c)][off[np.ix_(lab == a, lab == c)]].mean()
                        for c in range(Kc)] for a in range(Kc)])
        J = np.eye(Kc)[lab]
        blk = J @ Bm @ J.T
        # least-squares multipliers of the equivalent's parts on off-diagonal entries of E
        G = X @ X.T; VMV = V @ M @ V.T
        A = np.stack([G[off], VMV[off], np.ones(off.sum())], 1)
        coef, *_ = np.linalg.lstsq(A, E[off], rcond=None)
        r = dict(n=n, err=opn(D)/nE, diag=opn(Dd)/nE, off=opn(Do)/nE, offV=opn(Do_Q)/nE,
                 offcross=opn(Do_cross)/nE, offrest=opn(Do_rest)/nE, block=opn(blk)/nE,
                 mean_off_x_n=abs(mo)*n/nE, s_lin=coef[0]/c_lin, s_VMV=coef[1], const=coef[2],
                 c_lin=float(c_lin))
        rows.append(r)
        print(act, L, preset, " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        del E, D, Do, Dd, Do_Q, Do_cross, Do_rest, G, VMV, A, blk
    nn = [r["n"] for r in rows]
    print("slopes", act, L, preset, {k: round(C.loglog_slope(nn, [abs(r[k]) for r in rows]), 3)
                                    for k in ("err", "diag", "off", "offV", "offcross", "offrest", "block", "mean_off_x_n")}, flush=True)
