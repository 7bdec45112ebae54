"""Time neural-tangents' empirical NTK on given weights/data (run in ``.venv-nt``).

    .venv-nt/bin/python experiments/nt_reference/nt_time.py --data case.npz --impl 1 \
        [--repeats 3] [--save-kernel K.npz] [--max-seconds 60]

``case.npz`` holds ``X`` (n, p) float32, ``W1..WL``, ``w`` and ``centers`` (float64 array),
``p`` and the activation name ``act`` (written by experiments/benchmarks/ntk_speed.py).
The network is built with stax exactly as in compare.py (ntk parameterisation, first
layer ``W_std = sqrt(p)``, ``Elementwise(act - m_l)``, readout ``Dense(1)``).
Prints one JSON line: compile+first-call time, median of the timed calls, peak RSS.
Exits with a JSON error line (and non-zero status) on failure (e.g. out of memory).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--impl", type=int, choices=(1, 2), required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="stop repeating once a timed call took longer than this")
    ap.add_argument("--save-kernel", default=None)
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import neural_tangents as nt
    import numpy as np
    from jax.scipy.special import erf
    from neural_tangents import stax

    acts = {"relu": lambda t: jnp.maximum(t, 0.0), "erf": erf, "tanh": jnp.tanh}
    d = np.load(args.data)
    X = jnp.asarray(d["X"], jnp.float32)
    p = int(d["p"])
    centers = [float(c) for c in d["centers"]]
    L = len(centers)
    fn = acts[str(d["act"])]
    layers = []
    params = []
    for l in range(L):
        W = jnp.asarray(d[f"W{l + 1}"], jnp.float32)
        layers.append(stax.Dense(W.shape[1], W_std=float(np.sqrt(p)) if l == 0 else 1.0,
                                 b_std=None, parameterization="ntk"))
        layers.append(stax.Elementwise(fn=lambda t, m=centers[l]: fn(t) - m))
        params += [(W, None), ()]
    layers.append(stax.Dense(1, W_std=1.0, b_std=None, parameterization="ntk"))
    params.append((jnp.asarray(d["w"], jnp.float32)[:, None], None))
    _, apply_fn, _ = stax.serial(*layers)
    ntk_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=args.impl))
    times, repeat_error = [], None
    try:
        t0 = time.perf_counter()
        K = jax.block_until_ready(ntk_fn(X, None, params))
        first = time.perf_counter() - t0
        K = np.asarray(K)  # host copy: the device buffer is free before the next call
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(ntk_fn(X, None, params))
            times.append(time.perf_counter() - t0)
            if times[-1] > args.max_seconds:
                break
    except Exception as e:  # noqa: BLE001 -- out of memory etc.: report, do not crash
        err = f"{type(e).__name__}: {e}"[:500]
        if not times:  # not even one timed call: no timing to report
            print("RESULT" + json.dumps({"ok": False, "error": err,
                                         "peak_rss_gb": _maxrss_gb()}))
            return 1
        # A later repeat failed (seen: impl 1 at n = 2048 under an 18 GB data limit ran
        # twice, then could not get its 16.4 GB buffer a third time): keep the calls that
        # completed and say why there are fewer than --repeats.
        repeat_error = err
    if args.save_kernel:
        np.save(args.save_kernel, np.asarray(K))
    print("RESULT" + json.dumps({"ok": True, "impl": args.impl, "n": int(X.shape[0]),
                                 "first_call_s": first, "times_s": times,
                                 "median_s": statistics.median(times),
                                 "peak_rss_gb": _maxrss_gb(), "jax": jax.__version__,
                                 "repeat_error": repeat_error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
