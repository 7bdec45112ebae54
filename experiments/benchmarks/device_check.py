"""Device check: the accelerator path of ntkcomp on one machine, in one command, within a budget.

    PYTHONPATH=. python -m experiments.benchmarks.device_check OUTDIR     # from a checkout
    ntkcomp bench device_check OUTDIR                                     # installed
    python -m experiments.benchmarks.device_check OUTDIR --smoke          # tiny sizes, CPU

Written for one machine with a single NVIDIA H100 or H200 where JAX with CUDA, flax, optax,
SciPy, matplotlib and pytest are installed and nothing can be downloaded; it needs no other
package (a missing ``tqdm`` is replaced by a pass-through stand-in put on the children's
``PYTHONPATH``) and never chooses the JAX platform: every stage runs on JAX's default device.

Stages, each in its own child process (a crash, an out-of-memory abort or a hang in one
stage is recorded and the next stage still runs):

1. ``describe``: ``jax.devices()``, the device's memory, library versions, float64 support.
2. ``tests``: ``pytest -m gpu tests/test_gpu.py`` (kernels vs autodiff, exact weight averages
   and equivalents vs closed forms, solver, packing; float32 and float64) on the device.
3. ``ntk_benchmark``: ``ntkcomp.kernels.empirical_ntk`` of a ReLU MLP with widths
   ``1000 x 3`` on ``p = 784`` inputs in float32 at n = 4096 ... 65536, against the float32
   GEMM rate measured in the same process (``precision=HIGHEST``, the precision of the
   kernels' Gram products: true float32, no TF32). Tile sizes are chosen from the device's
   memory; the ladder stops early when the next size's estimated memory does not fit or its
   extrapolated time would pass the budget.
4. ``fig1_full``, ``fig3_full``: ``paper_figures.fig1_spectra --full`` and
   ``paper_figures.fig3_compressed_spectra --full`` (the paper's sizes), timed.

Targets, printed as a benchmark verdict (never an assertion): Gram products at >= 60 % of
the same run's float32 GEMM rate for n >= 16384; n = 65536 in <= 5 s; each full-size
figure in <= 3 minutes; everything within the budget (default 8 minutes: a stage that
would start with too little time left is recorded as ``skipped: budget``, a running
stage is stopped at the budget and recorded as ``timeout``).

Output in OUTDIR: ``device_check.json`` (rewritten after every stage: device, versions,
every number, each stage's status and seconds), ``summary.txt`` (the printed table),
``logs/<stage>.log`` (each child's output), ``junit.xml`` (the tests) and the figures' run
directories. Exit status 0 when every stage passed, 1 otherwise (the JSON says which).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

NAME = "device_check"
SCHEMA = "ntkcomp.device_check/1"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUDGET_S = 480.0
RESERVE_S = 10.0                      # kept for writing the JSON and the summary
STAGES = ("describe", "tests", "ntk_benchmark", "fig1_full", "fig3_full")
#: (longest run, least time worth starting with) per stage, seconds
LIMITS = {"describe": (90, 20), "tests": (180, 45), "ntk_benchmark": (150, 40),
          "fig1_full": (240, 60), "fig3_full": (240, 60)}
#: the benchmark's network and sizes
WIDTHS, P = [1000, 1000, 1000], 784
NS = [4096, 8192, 16384, 32768, 65536]
SMOKE = {"widths": [32, 32, 32], "p": 48, "ns": [256, 512], "gemm": 256}
TARGETS = {"gram_vs_gemm_min": 0.60, "gram_vs_gemm_from_n": 16384, "n65536_max_s": 5.0,
           "figure_max_s": 180.0}
FIGURES = {"fig1_full": "paper_figures.fig1_spectra",
           "fig3_full": "paper_figures.fig3_compressed_spectra"}
#: --smoke: the figures' paper-size code path at a tiny size
SMOKE_FIGURE_ARGS = ["--full", "--n", "128", "--p", "64", "--widths", "32,32,16"]


# ------------------------------------------------------------------------------ parent
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"ntkcomp bench {NAME}", description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", help="directory for device_check.json, summary.txt, "
                    "logs/ and the figures (created; files of a previous check are replaced)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU): "
                    "checks the script, not the device")
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                    help=f"total seconds (default {DEFAULT_BUDGET_S:.0f})")
    ap.add_argument("--stages", default=",".join(STAGES),
                    help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--fail-stage", default=None, choices=STAGES,
                    help="make this stage fail on purpose (tests the failure record)")
    ap.add_argument("--stage", default=None, choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.budget <= 0:
        raise SystemExit(f"{NAME}: error: budget must be > 0 seconds, got {args.budget}")
    if args.stage is not None:                     # child process of one stage
        return child(args)
    if not args.outdir:
        parser().error("OUTDIR is required")
    stages = [s for s in args.stages.replace(" ", "").split(",") if s]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        parser().error(f"stages must be a subset of {list(STAGES)}, got {bad}")
    return run_all(Path(args.outdir), stages, args)


def run_all(out: Path, stages: list, args) -> int:
    t0 = time.time()
    deadline = t0 + args.budget
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    env, shims = child_env(out)
    report = {"schema": SCHEMA, "created": _now(), "argv": sys.argv[1:], "smoke": args.smoke,
              "budget_s": args.budget, "targets": TARGETS, "shims": shims,
              "python": sys.version.split()[0], "repo": str(REPO), "git": _git_rev(),
              "device": None, "versions": None, "stages": {}, "verdict": {}}
    for name in STAGES:
        if name not in stages:
            continue
        longest, least = LIMITS[name]
        left = deadline - time.time() - RESERVE_S
        if left < min(least, longest) * (0.05 if args.smoke else 1.0):
            report["stages"][name] = {"status": "skipped: budget", "seconds": 0.0}
        else:
            report["stages"][name] = run_stage(name, out, env, min(longest, left), args)
            if name == "describe":
                report["device"] = report["stages"][name].pop("device", None)
                report["versions"] = report["stages"][name].pop("versions", None)
        report["elapsed_s"] = time.time() - t0
        write_json(out / "device_check.json", report)
    report["verdict"] = verdict(report)
    report["elapsed_s"] = time.time() - t0
    write_json(out / "device_check.json", report)
    text = summary(report)
    write_text(out / "summary.txt", text)
    print(text)
    ok = all(s["status"] == "ok" for s in report["stages"].values())
    return 0 if ok else 1


def child_env(out: Path) -> tuple[dict, list]:
    """Environment of the children: the checkout first on PYTHONPATH (no install needed),
    a pass-through ``tqdm`` when the real one is missing, the tests on JAX's own device."""
    env = dict(os.environ)
    paths = [str(REPO)]
    shims = []
    if importlib.util.find_spec("tqdm") is None:
        shim = out / "_shims"
        (shim / "tqdm").mkdir(parents=True, exist_ok=True)
        (shim / "tqdm" / "__init__.py").write_text(_TQDM_SHIM)
        (shim / "tqdm" / "auto.py").write_text("from tqdm import tqdm\n")
        paths.append(str(shim))
        shims.append("tqdm")
    old = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    env["NTKCOMP_TESTS_ON_DEVICE"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env, shims


_TQDM_SHIM = '''"""Pass-through stand-in for tqdm (written by the device check: tqdm is not installed)."""


class tqdm:
    def __init__(self, iterable=None, *args, **kwargs):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, *args, **kwargs):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass
'''


def stage_command(name: str, out: Path, args, deadline: float) -> list:
    py = [sys.executable]
    if name == "tests":
        return py + ["-m", "pytest", "-m", "gpu", "-q", "-rfE", "-p", "no:cacheprovider",
                     f"--junitxml={out / 'junit.xml'}", "tests/test_gpu.py",
                     *(["-k", "device_is_used"] if args.smoke else [])]
    if name in FIGURES:
        size = SMOKE_FIGURE_ARGS if args.smoke else ["--full"]
        return py + ["-m", FIGURES[name], *size, "--out", str(out / name), "--no-progress",
                     "--png", str(out / f"{name}.png")]
    cmd = py + ["-m", "experiments.benchmarks.device_check", "--stage", name,
                "--result", str(out / f"{name}.partial.json"), "--deadline", str(deadline)]
    return cmd + (["--smoke"] if args.smoke else [])


def run_stage(name: str, out: Path, env: dict, limit: float, args) -> dict:
    """Run one stage's child with a time limit; its record (status, seconds, numbers)."""
    t = time.time()
    cmd = stage_command(name, out, args, t + limit - 2.0)
    if args.fail_stage == name:
        cmd = [sys.executable, "-c", f"raise SystemExit('{name}: failure requested')"]
    partial = out / f"{name}.partial.json"
    partial.unlink(missing_ok=True)
    log = out / "logs" / f"{name}.log"
    status = "ok"
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        try:
            rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                timeout=limit).returncode
            if rc != 0:
                status = f"failed: exit status {rc}: {_last_line(log)}"
        except subprocess.TimeoutExpired:
            status = f"timeout: stopped after {limit:.0f} s"
        except OSError as err:
            status = f"failed: could not start: {err}"
    rec = {"status": status, "seconds": round(time.time() - t, 3), "log": str(log)}
    try:
        rec.update(collect(name, out, partial))
    except Exception as err:                       # a stage's numbers are optional
        rec["collect_error"] = f"{type(err).__name__}: {err}"
    print(f"[{NAME}] {name}: {status} ({rec['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return rec


def collect(name: str, out: Path, partial: Path) -> dict:
    """The numbers a stage left behind: its partial JSON, the junit file, a figure's
    results.json."""
    if name == "tests":
        return _junit(out / "junit.xml")
    if name in FIGURES:
        res = out / name / "results.json"
        if res.exists():
            r = json.loads(res.read_text())
            return {"run_dir": str(out / name), "figure_wall_time_s": r.get("wall_time_s"),
                    "png": str(out / f"{name}.png"), "results": r}
        return {}
    return json.loads(partial.read_text()) if partial.exists() else {}


def _junit(path: Path) -> dict:
    if not path.exists():
        return {}
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = []
    for c in suite.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if c.find(tag) is not None:
                outcome = tag
        cases.append({"name": c.get("name"), "seconds": float(c.get("time", 0)),
                      "outcome": outcome})
    count = {k: sum(c["outcome"] == k for c in cases)
             for k in ("passed", "failure", "error", "skipped")}
    return {"tests": count, "cases": cases}


def verdict(report: dict) -> dict:
    """The targets, met or not (None: not measured)."""
    v = {}
    bench = report["stages"].get("ntk_benchmark", {})
    rows = bench.get("rows", [])
    big = [r for r in rows if r["n"] >= TARGETS["gram_vs_gemm_from_n"]]
    v["gram_ge_60pct_gemm_from_16384"] = (all(r["fraction_of_gemm"] >= TARGETS["gram_vs_gemm_min"]
                                              for r in big) if big else None)
    last = [r for r in rows if r["n"] == 65536]
    v["n65536_le_5s"] = last[0]["seconds"] <= TARGETS["n65536_max_s"] if last else None
    for name in FIGURES:
        st = report["stages"].get(name, {})
        v[f"{name}_le_180s"] = (st["seconds"] <= TARGETS["figure_max_s"]
                                if st.get("status") == "ok" else None)
    v["within_budget"] = report.get("elapsed_s", 0.0) <= report["budget_s"]
    return v


def summary(report: dict) -> str:
    dev = report.get("device") or {}
    lines = [f"ntkcomp device check ({'smoke' if report['smoke'] else 'full'}): "
             f"{dev.get('description', 'device unknown')}",
             f"elapsed {report.get('elapsed_s', 0):.1f} s of a {report['budget_s']:.0f} s budget",
             "", f"{'stage':15s} {'status':40s} {'seconds':>8s}"]
    for name, st in report["stages"].items():
        lines.append(f"{name:15s} {st['status'][:40]:40s} {st['seconds']:8.1f}")
    tests = report["stages"].get("tests", {}).get("tests")
    if tests:
        lines.append("tests: " + ", ".join(f"{k} {v}" for k, v in tests.items()))
    bench = report["stages"].get("ntk_benchmark", {})
    if bench.get("rows"):
        lines += ["", f"empirical NTK, float32, widths {bench.get('widths')}, p = {bench.get('p')}"
                  f"; float32 GEMM {bench.get('gemm_gflops', 0):.0f} GFLOP/s",
                  f"{'n':>7s} {'block':>6s} {'seconds':>8s} {'first s':>8s} {'GFLOP/s':>9s} "
                  f"{'% GEMM':>7s}"]
        for r in bench["rows"]:
            lines.append(f"{r['n']:7d} {r['block_size']:6d} {r['seconds']:8.3f} "
                         f"{r['first_seconds']:8.3f} {r['gflops']:9.0f} "
                         f"{100 * r['fraction_of_gemm']:6.1f}%")
        if bench.get("stopped"):
            lines.append(f"ladder stopped: {bench['stopped']}")
    lines += ["", "benchmark verdict (targets, not assertions):"]
    for k, v in report.get("verdict", {}).items():
        lines.append(f"  {k:32s} {'not measured' if v is None else ('met' if v else 'NOT met')}")
    return "\n".join(lines) + "\n"


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(obj, indent=1, default=str))


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (temporary file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _git_rev() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


# ------------------------------------------------------------------------------ children
def child(args) -> int:
    """One stage in this process; its numbers go to ``--result`` (rewritten as they come,
    so a stage stopped at the budget still leaves what it measured)."""
    result = Path(args.result)
    rec: dict = {}

    def save(**kw):
        rec.update(kw)
        write_json(result, rec)

    deadline = args.deadline or (time.time() + LIMITS[args.stage][0])
    if args.stage == "describe":
        describe(save)
    elif args.stage == "ntk_benchmark":
        ntk_benchmark(save, deadline, args.smoke)
    else:
        raise SystemExit(f"stage {args.stage} has no child")
    return 0


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def describe(save) -> None:
    import jax
    import jax.numpy as jnp

    devs = jax.devices()
    d0 = devs[0]
    mem = _memory(d0)
    desc = f"{d0.platform}: {getattr(d0, 'device_kind', '?')} x {len(devs)}"
    save(device={"description": desc, "platform": d0.platform, "default_backend":
                 jax.default_backend(), "devices": [str(d) for d in devs],
                 "device_kind": getattr(d0, "device_kind", None), "memory": mem,
                 "process_count": jax.process_count()},
         versions={m: _version(m) for m in ("jax", "jaxlib", "jax-cuda12-plugin",
                                            "jax-cuda12-pjrt", "jax-cuda13-plugin",
                                            "jax-cuda13-pjrt", "flax", "optax", "numpy",
                                            "scipy", "matplotlib", "pytest", "tqdm")})
    save(nvidia_smi=_nvidia_smi())
    try:
        with jax.enable_x64(True):
            x = jnp.arange(4, dtype=jnp.float64) * 1.5
            ok = bool(x.dtype == jnp.float64 and float(x @ x) == 31.5)
        save(float64={"supported": ok})
    except Exception as err:
        save(float64={"supported": False, "error": f"{type(err).__name__}: {err}"})


def _nvidia_smi() -> str | None:
    """``nvidia-smi``'s name, memory, driver and clocks of each GPU (None without it)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,memory.used,"
                               "driver_version,clocks.max.sm,power.limit", "--format=csv"],
                              capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _memory(device) -> dict:
    """Device memory (bytes) from ``memory_stats`` (accelerators), else the host's RAM."""
    try:
        st = device.memory_stats() or {}
    except Exception:
        st = {}
    if st.get("bytes_limit"):
        return {"source": "memory_stats", "bytes_limit": int(st["bytes_limit"]),
                "bytes_in_use": int(st.get("bytes_in_use", 0)),
                "available": int(st["bytes_limit"]) - int(st.get("bytes_in_use", 0))}
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        avail = None
    return {"source": "host RAM", "available": avail}


def block_size_for(n: int, inner: int, available: int | None) -> int:
    """Tile side of the benchmark: a multiple of 1024 up to 8192 whose seven float32
    tile-sized temporaries fit in a tenth of the free memory; one tile for small n."""
    if n <= 2048:
        return n
    b = 8192
    if available:
        while b > 1024 and 7 * 4 * b * b > 0.1 * available:
            b //= 2
    return min(b, n)


def memory_needed(n: int, inner: int, b: int) -> int:
    """Bytes of one float32 ``empirical_ntk`` call: the output, the signals, the tiles."""
    return 4 * n * n + 4 * n * inner + 7 * 4 * b * b


def gram_flops(n: int, inner: int, b: int) -> int:
    """FLOPs of the Gram products the symmetric tile loop performs (tiles on and above the
    diagonal, ``inner = p + 2 sum(widths)`` columns per row)."""
    nb = -(-n // b)
    return 2 * b * b * inner * (nb * (nb + 1) // 2)


def gemm_rate(size: int) -> dict:
    """float32 GEMM rate (GFLOP/s, median of 5 after a warm-up) at ``precision=HIGHEST``
    (the kernels' precision) and at JAX's default precision (TF32 on recent GPUs)."""
    import jax
    import jax.numpy as jnp

    A = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    B = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.float32)
    out = {}
    for label, prec in (("highest", jax.lax.Precision.HIGHEST), ("default", None)):
        f = jax.jit(lambda a, b, prec=prec: jnp.matmul(a, b, precision=prec))
        jax.block_until_ready(f(A, B))
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            jax.block_until_ready(f(A, B))
            ts.append(time.perf_counter() - t)
        out[label] = 2 * size ** 3 / statistics.median(ts) / 1e9
    return out


def ntk_benchmark(save, deadline: float, smoke: bool) -> None:
    import jax
    import jax.numpy as jnp

    from ntkcomp.kernels import empirical_ntk
    from ntkcomp.networks import MLP

    widths, p, ns = (SMOKE["widths"], SMOKE["p"], SMOKE["ns"]) if smoke else (WIDTHS, P, NS)
    inner = p + 2 * sum(widths)
    dev = jax.devices()[0]
    gemm = gemm_rate(SMOKE["gemm"] if smoke else 8192)
    save(widths=widths, p=p, dtype="float32", ns_planned=ns, device=str(dev),
         gemm_gflops=gemm["highest"], gemm_gflops_default_precision=gemm["default"],
         gemm_size=SMOKE["gemm"] if smoke else 8192, rows=[], stopped=None)
    net = MLP(widths, ["relu"] * len(widths), tau0=1.0)
    params = net.init(jax.random.PRNGKey(1), p, dtype=jnp.float32)
    rows, last = [], None
    for n in ns:
        avail = _memory(dev).get("available")
        b = block_size_for(n, inner, avail)
        need = memory_needed(n, inner, b)
        if avail and need > 0.9 * avail:
            save(stopped=f"n = {n}: needs about {need / 1e9:.1f} GB, {avail / 1e9:.1f} GB free")
            break
        if last is not None:
            guess = 2 * last["seconds"] * (n / last["n"]) ** 2 + last["first_seconds"]
            if time.time() + guess > deadline:
                save(stopped=f"n = {n}: about {guess:.0f} s expected, past the budget")
                break
        X = jax.random.normal(jax.random.PRNGKey(n), (n, p), jnp.float32) / p ** 0.5
        try:
            t = time.perf_counter()
            K = jax.block_until_ready(empirical_ntk(net, params, X, block_size=b))
            first = time.perf_counter() - t
            del K
            t = time.perf_counter()
            K = jax.block_until_ready(empirical_ntk(net, params, X, block_size=b))
            sec = time.perf_counter() - t
        except ValueError as err:          # the kernels' own memory check refused n
            save(stopped=f"n = {n}: {err}")
            break
        finite = bool(jnp.isfinite(K[:: max(1, n // 64), :: max(1, n // 64)]).all())
        del K, X
        fl = gram_flops(n, inner, b)
        last = {"n": n, "block_size": b, "seconds": sec, "first_seconds": first,
                "gram_flops": fl, "gflops": fl / sec / 1e9,
                "fraction_of_gemm": fl / sec / 1e9 / gemm["highest"],
                "memory_estimate_bytes": need, "finite": finite}
        rows.append(last)
        save(rows=rows)


if __name__ == "__main__":
    sys.exit(main())
