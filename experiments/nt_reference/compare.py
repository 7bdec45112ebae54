"""Compare our kernels with neural-tangents 0.6.5 (run in the pinned ``.venv-nt``).

    bash experiments/nt_reference/setup_env.sh              # once: builds .venv-nt
    .venv/bin/python experiments/nt_reference/export.py     # our weights, data, kernels
    .venv-nt/bin/python experiments/nt_reference/compare.py [--cases runs/nt_reference/cases.npz]

For every empirical case: ``nt.empirical_ntk_fn`` with implementations 1
(JACOBIAN_CONTRACTION) and 2 (NTK_VECTOR_PRODUCTS) in float32, on the same weights (see
export.py for the parameter mapping), against our float32 and float64 ``empirical_ntk``
(symmetric ``x2=None`` and cross). For every analytic case: ``stax`` ``kernel_fn`` (Relu,
Erf) in float64 against our ``expected_kernels`` (CK of every layer via truncated
networks + readout, and the NTK). Prints max relative differences
``max|A - B| / max|B|`` and writes them to ``runs/nt_reference/compare.json``.
This script does not import ntkcomp (different JAX version).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile


import jax

jax.config.update("jax_enable_x64", True)  # arrays are cast to float32 explicitly below

import jax.numpy as jnp
import neural_tangents as nt
import numpy as np
from jax.scipy.special import erf
from neural_tangents import stax

ACTS = {"relu": lambda t: jnp.maximum(t, 0.0), "erf": erf, "tanh": jnp.tanh}
ANALYTIC_LAYERS = {"relu": stax.Relu, "erf": stax.Erf}


def _rel(A, B) -> float:
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return float(np.abs(A - B).max() / np.abs(B).max())


def _atomic_json(path, obj):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def stax_network(meta, analytic: bool, upto: int | None = None):
    """stax.serial equal to our MLP (ntk parameterisation, no bias); see export.py."""
    layers = []
    L = len(meta["widths"]) if upto is None else upto
    for l in range(L):
        W_std = float(np.sqrt(meta["p"])) if l == 0 else 1.0
        layers.append(stax.Dense(meta["widths"][l], W_std=W_std, b_std=None,
                                 parameterization="ntk"))
        name, m = meta["activations"][l], meta["centers"][l]
        if analytic:
            if m != 0.0:
                raise ValueError("analytic comparison needs centre-free layers")
            layers.append(ANALYTIC_LAYERS[name]())
        else:
            fn = ACTS[name]
            layers.append(stax.Elementwise(fn=lambda t, fn=fn, m=m: fn(t) - m))
    layers.append(stax.Dense(1, W_std=1.0, b_std=None, parameterization="ntk"))
    return stax.serial(*layers)


def nt_params(data, name, L, dtype):
    """NT's parameter list: (W, None) per Dense, () per Elementwise."""
    params = []
    for l in range(1, L + 1):
        params.append((jnp.asarray(data[f"{name}__W{l}"], dtype), None))
        params.append(())
    params.append((jnp.asarray(data[f"{name}__w"], dtype)[:, None], None))
    return params


def compare_empirical(data, name, meta):
    L = len(meta["widths"])
    _, apply_fn, _ = stax_network(meta, analytic=False)
    params = nt_params(data, name, L, jnp.float32)
    X = jnp.asarray(data[f"{name}__X"], jnp.float32)
    X2 = jnp.asarray(data[f"{name}__X2"], jnp.float32)
    # the parameter mapping first: same forward pass f(X)
    out = {"forward_f32_vs_ours64": _rel(apply_fn(params, X)[:, 0], data[f"{name}__f"])}
    for impl in (1, 2):
        fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=impl))
        K_sym = fn(X, None, params)
        K_cross = fn(X, X2, params)
        out[f"impl{impl}"] = {
            "vs_ours32_sym": _rel(K_sym, data[f"{name}__K32_sym"]),
            "vs_ours32_cross": _rel(K_cross, data[f"{name}__K32_cross"]),
            "vs_ours64_sym": _rel(K_sym, data[f"{name}__K64_sym"]),
            "vs_ours64_cross": _rel(K_cross, data[f"{name}__K64_cross"]),
        }
    out["ours32_vs_ours64_sym"] = _rel(data[f"{name}__K32_sym"], data[f"{name}__K64_sym"])
    out["ours32_vs_ours64_cross"] = _rel(data[f"{name}__K32_cross"],
                                         data[f"{name}__K64_cross"])
    return out


def compare_analytic(data, name, meta):
    L = len(meta["widths"])
    X = jnp.asarray(data[f"{name}__X"], jnp.float64)
    X2 = jnp.asarray(data[f"{name}__X2"], jnp.float64)
    out = {}
    for tag, Y in (("sym", None), ("cross", X2)):
        for l in range(1, L + 1):
            _, _, kernel_fn = stax_network(meta, analytic=True, upto=l)
            k = kernel_fn(X, Y, ("nngp", "ntk"))
            out[f"ck{l}_{tag}"] = _rel(k.nngp, data[f"{name}__ck{l}_{tag}"])
            if l == L:
                out[f"ntk_{tag}"] = _rel(k.ntk, data[f"{name}__ntk_{tag}"])
                if tag == "sym":
                    out["ntk_offdiag_sym"] = _rel(_offdiag(k.ntk),
                                                  _offdiag(data[f"{name}__ntk_sym"]))
                    if meta["activations"] == ["relu"] * L and meta["centers"] == [0.0] * L:
                        # exact diagonal: CK_l(x,x) = |x|^2/2^l, Theta_l = CK_l + Theta_{l-1}/2
                        v = np.sum(np.asarray(X) ** 2, axis=1)
                        th = v.copy()
                        for _ in range(L):
                            v = v / 2
                            th = v + th / 2
                        out["ntk_diag_nt_vs_exact"] = _rel(np.diag(np.asarray(k.ntk)), th)
                        out["ntk_diag_ours_vs_exact"] = _rel(
                            np.diag(data[f"{name}__ntk_sym"]), th)
    return out


def _offdiag(A):
    A = np.array(A, np.float64)
    np.fill_diagonal(A, 0.0)
    return A


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="runs/nt_reference/cases.npz")
    ap.add_argument("--out", default="runs/nt_reference/compare.json")
    args = ap.parse_args(argv)
    data = np.load(args.cases)
    meta = json.loads(str(data["meta"]))
    results = {"neural_tangents": getattr(nt, "__version__", "0.6.5"), "jax": jax.__version__,
               "cases": {}}
    for name, m in meta.items():
        if m["kind"] == "empirical":
            r = compare_empirical(data, name, m)
            print(f"{name:24s} NT impl1 vs ours(f32): sym {r['impl1']['vs_ours32_sym']:.2e} "
                  f"cross {r['impl1']['vs_ours32_cross']:.2e} | impl2: sym "
                  f"{r['impl2']['vs_ours32_sym']:.2e} cross {r['impl2']['vs_ours32_cross']:.2e}"
                  f" | NT impl1 vs ours(f64): {r['impl1']['vs_ours64_sym']:.2e}"
                  f" | ours f32 vs f64: {r['ours32_vs_ours64_sym']:.2e}")
        else:
            r = compare_analytic(data, name, m)
            print(f"{name:24s} stax analytic (f64) vs expected_kernels: "
                  + ", ".join(f"{k} {v:.1e}" for k, v in r.items()))
        results["cases"][name] = {"meta": m, "max_rel_diff": r}
    _atomic_json(args.out, results)
    print(f"wrote {args.out}")
    worst_emp = max((v for c in results["cases"].values() if c["meta"]["kind"] == "empirical"
                     for impl in ("impl1", "impl2")
                     for k, v in c["max_rel_diff"][impl].items() if "ours32" in k), default=0)
    worst_ana = max((v for c in results["cases"].values() if c["meta"]["kind"] == "analytic"
                     for v in c["max_rel_diff"].values()), default=0)
    print(f"worst empirical (f32, NT vs ours): {worst_emp:.2e} (target <= 1e-5); "
          f"worst analytic (f64): {worst_ana:.2e}")
    return 0 if worst_emp <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
