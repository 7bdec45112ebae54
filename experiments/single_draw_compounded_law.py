"""Single-draw CK_L agreement (compressed vs dense) at n = 2048: the measured values of
``experiments/results/compress_example/n2048/single_draw_vs_width.json`` against two
predictions -- the one-layer random-features law of docs/theory/finite_width.md (already in that
table) and the compounded law (``ntkcomp.spectral.compounded_random_features_spectrum``), which
``theory_checks/finite_width_depth`` found to be the right law of one deep draw.

    python experiments/single_draw_compounded_law.py [--widths 512 1024 2048 4096]
        [--activations relu tanh erf] [--out experiments/results/compress_example/n2048]
    python experiments/single_draw_compounded_law.py --widths 8192 16384 32768 --eps 0 0.9
    python experiments/single_draw_compounded_law.py --widths 65536 --eps 0

Same data (``mixed`` GMM, n = 2048, p = 1024, seed 0), same designs and eps grid as the
measured table (``experiments.compression.frontier.predicted_single_draw(law="compounded")``).
Resumable: one JSON entry per (activation, width), written atomically; a rerun skips the
finished ones. Writes ``single_draw_compounded.json`` and ``single_draw_compounded.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def table(entries: dict, measured: dict) -> str:
    lines = ["| activation | width d | d/n | eps | CK W1 rel measured (one draw each) | "
             "predicted, one-layer law | predicted, compounded law | compounded / measured |",
             "|---|---|---|---|---|---|---|---|"]
    order = {"relu": 0, "tanh": 1, "erf": 2}
    for key in sorted(entries, key=lambda k: (order.get(k.split(":")[0], 9),
                                              int(k.split(":")[1]))):
        act, d = key.split(":")
        for row in entries[key]["rows"]:
            m = measured.get((act, int(d), row["eps"]), {})
            meas, one = m.get("ck_w1_rel"), m.get("ck_w1_rel_predicted")
            comp = row["ck_w1_rel_predicted_compounded"]
            ratio = "-" if not meas else f"{comp / meas:.2f}"
            f = (lambda x: "-" if x is None else f"{x:.3f}")
            lines.append(f"| {act} | {d} | {int(d) / entries[key]['n']:.3g} | {row['eps']} | "
                         f"{f(meas)} | {f(one)} | {f(comp)} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    ap.add_argument("--activations", nargs="+", default=["relu", "tanh", "erf"])
    ap.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.5, 0.9])
    ap.add_argument("--out", type=Path,
                    default=Path("experiments/results/compress_example/n2048"),
                    help="directory of the compress_example n = 2048 sweep (read) where the "
                         "tables are written (default: the committed one, relative to the "
                         "current directory)")
    a = ap.parse_args(argv)

    import ntkcomp

    ntkcomp.enable_x64()
    from ntkcomp.io import atomic_write_json, atomic_write_bytes, run_metadata
    from experiments.compression.frontier import predicted_single_draw

    src = a.out / "single_draw_vs_width.json"
    if not src.exists():
        raise SystemExit(f"error: {src} not found (run compress_example.py "
                         "--single-draw-widths first)")
    pts = json.loads(src.read_text())["points"]
    n, p, depth, seed = pts[0]["n"], pts[0]["p"], pts[0]["depth"], pts[0]["seed"]
    family, k_max = pts[0]["family"], pts[0]["k_max"]
    measured = {(q["activation"], q["width"], r["eps"]): r for q in pts for r in q["rows"]}
    pred = a.out / "single_draw_predicted.json"   # one-layer law at widths never drawn
    if pred.exists():
        for act, res in json.loads(pred.read_text())["results"].items():
            for r in res["rows"]:
                measured.setdefault((act, r["width"], r["eps"]),
                                    {"ck_w1_rel_predicted": r["ck_w1_rel_predicted"]})
    out_json = a.out / "single_draw_compounded.json"
    done = json.loads(out_json.read_text())["entries"] if out_json.exists() else {}
    cfg = {"n": n, "p": p, "depth": depth, "seed": seed, "family": family, "k_max": k_max,
           "eps": a.eps}
    for act in a.activations:
        for d in a.widths:
            key = f"{act}:{d}"
            if key in done:
                continue
            t0 = time.time()
            r = predicted_single_draw(act, [d], n=n, p=p, depth=depth, eps_grid=a.eps,
                                      family=family, k_max=k_max, seed=seed, law="compounded")
            r["seconds"] = time.time() - t0
            done[key] = r
            atomic_write_json(out_json, {"entries": done, **run_metadata(cfg, {"seed": seed})})
            print(f"{key}: " + ", ".join(f"eps {row['eps']}: "
                                         f"{row['ck_w1_rel_predicted_compounded']:.3f}"
                                         for row in r["rows"]) + f" ({r['seconds']:.0f} s)",
                  flush=True)
    md = table(done, measured)
    atomic_write_bytes(a.out / "single_draw_compounded.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
