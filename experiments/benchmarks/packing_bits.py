"""Packed storage of a compressed network: bits per hidden weight against the entropy bound,
and the time to pack and unpack it, for every format.

Network: widths [2000, 2000, 1000], p = 784 (the paper's MNIST setting), sparse ternary
hidden weights at sparsity eps, a ternary activation; one draw ``net.init(PRNGKey(seed),
784)``. For each eps the table gives the weight bits per hidden weight of each format, the
entropy ``H(eps) + (1 - eps)`` of an i.i.d. sparse ternary entry (the information content,
below which no lossless format can go on average), the ratio of the entropy-coded format
to it, and the paper's accounting ``(1 - eps)`` (positions free, not realisable). Times
(median of ``--repeats``, warm) are for ``pack`` to each format, ``save`` + ``load``
(with the full content validation), and decoding the weights (``unpack``). The default
sparsities include 0.62, near the worst case of Rice coding on [0.5, 0.99].

    ntkcomp bench packing_bits [--eps 0.5,0.62,0.9,0.95,0.99] [--repeats 3] [--out PATH]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from ntkcomp.activations import get
from ntkcomp.compress import packing
from ntkcomp.io import atomic_write_json, run_metadata
from ntkcomp.networks import MLP, weight_law

WIDTHS = (2000, 2000, 1000)
P = 784
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "packing_bits.json"


def entropy_bits(eps: float) -> float:
    """``H(eps) + (1 - eps)`` bits per weight."""
    return -(eps * math.log2(eps) + (1 - eps) * math.log2(1 - eps)) + (1 - eps)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(eps: float, seed: int, repeats: int) -> dict:
    act = get("ternary", s1=-0.5, s2=0.5, b_neg=1.0, b_pos=1.0)
    net = MLP(list(WIDTHS), [act] * len(WIDTHS),
              weights=[weight_law("sparse_ternary", eps=eps)] * len(WIDTHS), tau0=1.0)
    key = jax.random.PRNGKey(seed)
    params = jax.block_until_ready(net.init(key, P))
    n_w = sum(int(np.size(W)) for W in params["W"])
    nnz = sum(int(np.count_nonzero(np.asarray(W))) for W in params["W"])
    row = {"eps": eps, "n_weights": n_w, "nnz": nnz,
           "entropy_bits_per_weight": entropy_bits(eps),
           "realised_entropy_bits_per_weight": entropy_bits(1 - nnz / n_w),
           "paper_bits_per_weight": 1 - eps, "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in packing.FORMATS:
            pk = packing.pack(params, net, format=fmt, key=key)
            path = os.path.join(tmp, f"{fmt}.npz")
            packing.pack(params, net, format=fmt, key=key)          # warm
            t_pack = _median_time(lambda: packing.pack(params, net, format=fmt, key=key),
                                  repeats)
            t_load = _median_time(lambda: (packing.save(path, pk), packing.load(path)), repeats)
            t_unpack = _median_time(lambda: jax.block_until_ready(packing.unpack(pk)[0]),
                                    repeats)
            row["formats"][fmt] = {
                "weight_bits": pk.weight_bits, "packed_bits": pk.bits,
                "bits_per_weight": pk.weight_bits / n_w,
                "over_entropy": pk.weight_bits / (n_w * entropy_bits(eps)),
                "pack_s": t_pack, "save_load_s": t_load, "unpack_s": t_unpack}
    return row


def table(rows: list[dict]) -> str:
    head = ("| eps | bound H+(1-eps) | paper (1-eps) | entropy | /bound | bitmask | 2bit | "
            "seeded | pack entropy s | save+load s | unpack s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        f = r["formats"]
        lines.append(
            f"| {r['eps']:.2f} | {r['entropy_bits_per_weight']:.4f} | "
            f"{r['paper_bits_per_weight']:.4f} | {f['entropy']['bits_per_weight']:.4f} | "
            f"{f['entropy']['over_entropy']:.4f} | {f['bitmask']['bits_per_weight']:.4f} | "
            f"{f['2bit']['bits_per_weight']:.4f} | {f['seeded']['bits_per_weight']:.2e} | "
            f"{f['entropy']['pack_s']:.3f} | {f['entropy']['save_load_s']:.3f} | "
            f"{f['entropy']['unpack_s']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", default="0.5,0.62,0.9,0.95,0.99",
                    help="comma-separated sparsities in [0.5, 0.99]")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    try:
        eps_list = [float(e) for e in a.eps.split(",")]
    except ValueError:
        ap.error(f"--eps must be comma-separated numbers, got {a.eps!r}")
    if not all(0.0 < e < 1.0 for e in eps_list):
        ap.error("--eps values must lie in (0, 1)")
    if a.repeats < 1:
        ap.error("--repeats must be >= 1")
    rows = [measure(e, a.seed, a.repeats) for e in eps_list]
    meta = run_metadata({"widths": list(WIDTHS), "p": P, "eps": eps_list,
                         "repeats": a.repeats}, seeds={"weights": a.seed})
    meta["load_average"] = list(os.getloadavg())
    atomic_write_json(a.out, {**meta, "rows": rows})
    print(table(rows))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
