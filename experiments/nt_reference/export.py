"""Export networks, data and our kernels for the neural-tangents comparison (main venv).

    python experiments/nt_reference/export.py [--out runs/nt_reference/cases.npz]

Writes one ``.npz`` (atomically) with, per case ``<name>``:
  ``<name>__X``, ``<name>__X2`` (float64 data), ``<name>__W<l>``, ``<name>__w`` (float64
  weights), and our kernels:
  - empirical cases: ``K64_sym``, ``K64_cross`` (float64), ``K32_sym``, ``K32_cross``
    (float32 end to end from float32-cast weights and data);
  - analytic cases: ``ck<l>_sym``, ``ntk_sym``, ``ck<l>_cross``, ``ntk_cross`` from
    ``expected_kernels`` (float64);
and ``meta``: a JSON string describing each case (kind, activations, centers m_l, widths,
p) that ``compare.py`` (run in ``.venv-nt``) uses to build the same network with stax.

Mapping to neural-tangents (``parameterization="ntk"``, no biases): our layer
``g_l = h_{l-1} @ W_l`` with ``h_l = (sigma(g_l) - m_l)/sqrt(d_l)`` equals stax
``Dense(d_l, W_std, b_std=None)`` (which computes ``W_std/sqrt(N_in) * x @ W``) with
``W_std = sqrt(p)`` for the first layer (our first layer has no 1/sqrt(p)) and
``W_std = 1`` for the others (the 1/sqrt(d_{l-1}) of h is stax's 1/sqrt(N_in)), applied
to ``sigma(g) - m_l``; the readout is ``Dense(1, W_std=1)``. NT's trainable parameters are
then exactly our ``W_l`` and ``w``, so the empirical NTKs must agree entry by entry, and
the infinite-width kernels agree for centre-free nets (``center=False`` or odd sigma).
"""
from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

import ntkcomp

ntkcomp.enable_x64()

from ntkcomp.io import atomic_write_npz
from ntkcomp.kernels import conjugate_kernels, empirical_ntk, expected_kernels
from ntkcomp.networks import MLP, weight_law

EMPIRICAL = {
    "relu_centred_L3": {"widths": [64, 128, 32], "activations": "relu", "weights": "gaussian"},
    "erf_L2_sparse_ternary": {"widths": [128, 64], "activations": "erf",
                                  "weights": weight_law("sparse_ternary", eps=0.8)},
    "tanh_L4_rademacher": {"widths": [32, 48, 32, 16], "activations": "tanh",
                               "weights": "rademacher"},
    "mixed_L3_student_t": {"widths": [96, 64, 48], "activations": ["relu", "erf", "tanh"],
                               "weights": weight_law("student_t", nu=8.0)},
}
ANALYTIC = {
    "relu_uncentred_L3": {"widths": [10, 10, 10], "activations": "relu", "center": False},
    "erf_L3": {"widths": [10, 10, 10], "activations": "erf"},
}


def _data(key, n, p):
    return jax.random.normal(key, (n, p)) / np.sqrt(p)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/nt_reference/cases.npz")
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--n1", type=int, default=40)
    ap.add_argument("--n2", type=int, default=24)
    args = ap.parse_args(argv)
    arrays, meta = {}, {}
    key = jax.random.PRNGKey(2024)
    for i, (name, cfg) in enumerate({**EMPIRICAL, **ANALYTIC}.items()):
        kx, kx2, kw = jax.random.split(jax.random.fold_in(key, i), 3)
        net = MLP(tau0=1.0, **cfg)
        X, X2 = _data(kx, args.n1, args.p), _data(kx2, args.n2, args.p)
        arrays[f"{name}__X"], arrays[f"{name}__X2"] = X, X2
        analytic = name in ANALYTIC
        meta[name] = {"kind": "analytic" if analytic else "empirical",
                      "activations": [a.name for a in net.activations],
                      "centers": list(net.centers), "widths": list(net.widths), "p": args.p,
                      "weights": [repr(w) for w in net.weight_laws]}
        if analytic:
            for tag, Y in (("sym", None), ("cross", X2)):
                E = expected_kernels(net, X, Y)
                for l, ck in enumerate(E["ck"], start=1):
                    arrays[f"{name}__ck{l}_{tag}"] = ck
                arrays[f"{name}__ntk_{tag}"] = E["ntk"]
            continue
        params = net.init(kw, args.p)
        for l, W in enumerate(params["W"], start=1):
            arrays[f"{name}__W{l}"] = W
        arrays[f"{name}__w"] = params["w"]
        arrays[f"{name}__f"] = net.apply(params, X)
        p32 = jax.tree.map(lambda a: a.astype(jnp.float32), params)
        X32, X232 = X.astype(jnp.float32), X2.astype(jnp.float32)
        arrays[f"{name}__K64_sym"] = empirical_ntk(net, params, X)
        arrays[f"{name}__K64_cross"] = empirical_ntk(net, params, X, X2)
        arrays[f"{name}__K32_sym"] = empirical_ntk(net, p32, X32)
        arrays[f"{name}__K32_cross"] = empirical_ntk(net, p32, X32, X232)
        arrays[f"{name}__ck{net.depth}_sym"] = conjugate_kernels(net, params, X)[-1]
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write_npz(args.out, **{k: np.asarray(v) for k, v in arrays.items()})
    print(f"wrote {args.out}: {len(meta)} cases")


if __name__ == "__main__":
    main()
