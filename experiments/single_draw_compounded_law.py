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
Writes ``single_draw_compounded.json`` (one entry per (activation, width)) and
``single_draw_compounded.md`` into OUT, the compress_example result folder, through
:class:`experiments.harness.RunDir` (``keep_previous=True``: the other files of OUT are
carried over; OUT is replaced whole when the run completes, left as it was when it fails or
is interrupted; a second run into OUT while one is writing is refused). Resumable: an
(activation, width) already in ``single_draw_compounded.json`` is skipped, and the others
run as a resumable sweep (:func:`experiments.harness.run_sweep`, one atomic file per
finished point in ``OUT/single_draw_compounded/``, a staging folder that a failed or
interrupted run keeps for the next one and a completed run folds into the JSON).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from experiments.harness import RunDir, check_out_path, read_json, run_main, run_sweep
from experiments.harness.args import Parser

#: the result file; and the folder of the finished points of an unfinished run
JSON = "single_draw_compounded.json"
SWEEP_DIR = "single_draw_compounded"


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


def parser() -> Parser:
    """The command-line options (``--help``)."""
    ap = Parser(prog="python -m experiments.single_draw_compounded_law",
                description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    ap.add_argument("--activations", nargs="+", default=["relu", "tanh", "erf"])
    ap.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.5, 0.9])
    ap.add_argument("--out", type=Path,
                    default=Path("experiments/results/compress_example/n2048"),
                    help="directory of the compress_example n = 2048 sweep (read) where the "
                         "tables are written (default: the committed one, relative to the "
                         "current directory)")
    return ap


def main(argv=None) -> int:
    """Run the command (``--help`` for the options); returns the exit status (2: bad input,
    a missing measured table, or another run is writing into ``--out``)."""
    return run_main("python -m experiments.single_draw_compounded_law", _main, argv)


def _main(argv) -> int:
    a = parser().parse_args(argv)
    out = check_out_path(a.out)
    if not (out / "single_draw_vs_width.json").is_file():
        raise ValueError(f"out: {a.out / 'single_draw_vs_width.json'} not found (run "
                         "compress_example.py --single-draw-widths first)")

    import ntkcomp

    ntkcomp.enable_x64()
    from experiments.compress_example import RESUME_DIRS

    with RunDir(out, keep_previous=True, resume=RESUME_DIRS) as rd:
        md = _run(a, rd)
    print(md)
    return 0


def _run(a, rd: RunDir) -> str:
    """Compute the missing entries in ``rd`` and write the two files; returns the table."""
    from experiments.compression.frontier import predicted_single_draw
    from ntkcomp.io import run_metadata

    pts = read_json(rd.file("single_draw_vs_width.json"))["points"]
    n, p, depth, seed = pts[0]["n"], pts[0]["p"], pts[0]["depth"], pts[0]["seed"]
    family, k_max = pts[0]["family"], pts[0]["k_max"]
    measured = {(q["activation"], q["width"], r["eps"]): r for q in pts for r in q["rows"]}
    pred = rd.file("single_draw_predicted.json")   # one-layer law at widths never drawn
    if pred.exists():
        for act, res in read_json(pred)["results"].items():
            for r in res["rows"]:
                measured.setdefault((act, r["width"], r["eps"]),
                                    {"ck_w1_rel_predicted": r["ck_w1_rel_predicted"]})
    out_json = rd.file(JSON)
    done = read_json(out_json)["entries"] if out_json.exists() else {}
    cfg = {"n": n, "p": p, "depth": depth, "seed": seed, "family": family, "k_max": k_max,
           "eps": a.eps}
    todo = [{"activation": act, "width": d, **cfg} for act in a.activations
            for d in a.widths if f"{act}:{d}" not in done]

    def point(c):
        t0 = time.time()
        r = predicted_single_draw(c["activation"], [c["width"]], n=n, p=p, depth=depth,
                                  eps_grid=c["eps"], family=family, k_max=k_max, seed=seed,
                                  law="compounded")
        r["seconds"] = time.time() - t0
        print(f"{c['activation']}:{c['width']}: "
              + ", ".join(f"eps {row['eps']}: {row['ck_w1_rel_predicted_compounded']:.3f}"
                          for row in r["rows"]) + f" ({r['seconds']:.0f} s)", flush=True)
        return r

    if todo:
        res = run_sweep(point, todo, rd.file(SWEEP_DIR), name="single_draw_compounded",
                        progress=False)
        for c, r in zip(todo, res.results):
            done[f"{c['activation']}:{c['width']}"] = r
    shutil.rmtree(rd.file(SWEEP_DIR), ignore_errors=True)   # folded into the JSON
    rd.write_json(JSON, {"entries": done, **run_metadata(cfg, {"seed": seed})})
    md = table(done, measured)
    rd.write_text("single_draw_compounded.md", md)
    return md


if __name__ == "__main__":
    sys.exit(main())
