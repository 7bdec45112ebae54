"""Interrupted work (issue 8, item 3): a sweep of real kernel computations killed mid-run by
SIGTERM, or SIGKILL twice, resumes, skips finished points, and ends with exactly the
results of an uninterrupted run; corrupted or half-written point files are never trusted.

The sweep runner is :func:`experiments.harness.run_sweep` (used by paper_figures and the
experiments); files go through :mod:`ntkcomp.io` (atomic temp file + fsync + rename).
``tests/test_sweep.py`` covers the runner's bookkeeping with a toy function; here every
point does real JAX work (GMM sample -> network -> empirical NTK -> eigenvalues) in a child
process, each point's start is logged, and the final results are compared bitwise against
an uninterrupted in-process reference.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ntkcomp.io import _atomic as _io
from experiments.harness import load_sweep, point_key, run_sweep

ROOT = Path(__file__).resolve().parents[1]
N_POINTS = 8
PAD = 150_000  # 1.2 MB of float64 per point: writes take long enough for kills to land mid-write

# The point function, shared verbatim by the child process and the in-process reference.
POINT_SRC = textwrap.dedent("""
    import os, time
    import numpy as np
    import jax
    import ntkcomp
    ntkcomp.enable_x64()
    from ntkcomp.data import gmm_preset
    from ntkcomp.networks import MLP
    from ntkcomp.kernels import empirical_ntk

    def point(cfg, log=None, delay=0.0):
        if log:
            with open(log, "a") as f:
                f.write(f"start {cfg['seed']}\\n")
        s = gmm_preset("mixed", 16, K=2).sample(jax.random.key(cfg["seed"]), 24)
        net = MLP([32, 16], cfg["act"], tau0=float(s.stats.tau0))
        params = net.init(jax.random.key(cfg["seed"] + 1000), 16)
        eig = np.linalg.eigvalsh(np.asarray(empirical_ntk(net, params, s.X)))
        time.sleep(delay)
        return {"seed": cfg["seed"], "top": float(eig[-1]),
                "_arrays": {"eig": eig, "pad": np.full(PAD_, float(cfg["seed"]))}}
""").replace("PAD_", str(PAD))

CHILD_SRC = POINT_SRC + textwrap.dedent("""
    import sys
    from experiments.harness import run_sweep
    out, log = sys.argv[1], sys.argv[2]
    pts = [{"seed": i, "act": "tanh"} for i in range(N_POINTS_)]
    run_sweep(lambda c: point(c, log, 0.4), pts, out, name="interrupt", progress=False)
""").replace("N_POINTS_", str(N_POINTS))

POINTS = [{"seed": i, "act": "tanh"} for i in range(N_POINTS)]


def _point_fn():
    ns: dict = {}
    exec(compile(POINT_SRC, "<point>", "exec"), ns)  # noqa: S102 - our own source above
    return ns["point"]


@pytest.fixture(scope="module")
def reference():
    point = _point_fn()
    return {c["seed"]: point(c) for c in POINTS}


def _finished(pdir: Path) -> set[str]:
    return {p.stem for p in pdir.glob("*.json") if not p.name.endswith(".error.json")}


def _run_child_and_kill(out: Path, log: Path, sig: int, at_least_new: int) -> None:
    """Start the sweep in a child, wait until ``at_least_new`` more points finished, kill."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    pdir = out / "points"
    before = len(_finished(pdir)) if pdir.exists() else 0
    proc = subprocess.Popen([sys.executable, "-c", CHILD_SRC, str(out), str(log)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if pdir.exists() and len(_finished(pdir)) >= before + at_least_new:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"child ended early: {proc.stderr.read().decode()[-2000:]}"
        # let the child get into its next point's write for a moment, then kill it
        time.sleep(0.27)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # it was really interrupted, not finished (a lost SIGTERM would let it run to the end)
    assert proc.returncode != 0, proc.stderr.read().decode()[-3000:]


def _check_files_intact(pdir: Path) -> None:
    """Every finished point on disk is complete: its JSON parses, its arrays load."""
    for key in _finished(pdir):
        rec = json.loads((pdir / f"{key}.json").read_text())
        assert rec["key"] == key == point_key(rec["config"])
        with np.load(pdir / f"{key}.npz") as z:
            assert z["pad"].shape == (PAD,)
            assert np.all(z["pad"] == rec["config"]["seed"])


@pytest.mark.parametrize("sig,kills", [(signal.SIGTERM, 1), (signal.SIGKILL, 2)],
                         ids=["SIGTERM", "SIGKILLx2"])
def test_sweep_killed_resumes_to_identical_results(tmp_path, sig, kills, reference):
    out, log = tmp_path / "sweep", tmp_path / "starts.log"
    pdir = out / "points"
    _run_child_and_kill(out, log, sig, at_least_new=2)
    first = _finished(pdir)
    assert 2 <= len(first) < N_POINTS
    _check_files_intact(pdir)
    if sig == signal.SIGTERM:  # orderly exit: temporary files removed
        assert not list(pdir.glob(".*.tmp"))
    second = first
    if kills == 2:  # a second child, killed again
        _run_child_and_kill(out, log, sig, at_least_new=2)
        second = _finished(pdir)
        assert first < second and len(second) < N_POINTS
        _check_files_intact(pdir)

    # Finished points were never started again (by the second child, if any).
    starts = [int(line.split()[1]) for line in log.read_text().splitlines()]
    first_seeds = {json.loads((pdir / f"{k}.json").read_text())["config"]["seed"] for k in first}
    for s in first_seeds:
        assert starts.count(s) == 1, (s, starts)

    # Resume in-process to the end: only unfinished points run, results equal the reference.
    point = _point_fn()
    calls = []

    def fn(cfg):
        calls.append(cfg["seed"])
        return point(cfg)

    res = run_sweep(fn, POINTS, out, name="interrupt", progress=False)
    assert len(calls) == N_POINTS - len(second)
    assert not set(calls) & {json.loads((pdir / f"{k}.json").read_text())["config"]["seed"]
                             for k in second}
    assert not list(pdir.glob(".*.tmp"))  # stale temporaries from SIGKILL are cleaned
    for cfg, r in zip(POINTS, res.results):
        ref = reference[cfg["seed"]]
        assert r["seed"] == cfg["seed"]
        assert r["top"] == ref["top"]  # bitwise: same computation, same machine
        np.testing.assert_array_equal(r["_arrays"]["eig"], ref["_arrays"]["eig"])
    recs = load_sweep(out)
    assert [r["config"]["seed"] for r in recs] == list(range(N_POINTS))


# ---------------------------------------------------------------------------------------
# Corrupted or half-written files are never trusted
def _small_sweep(out, calls):
    def fn(cfg):
        calls.append(cfg["i"])
        return {"y": cfg["i"] * 10, "_arrays": {"v": np.arange(cfg["i"] + 2.0)}}

    return run_sweep(fn, [{"i": i} for i in range(4)], out, progress=False)


def test_truncated_point_json_is_recomputed(tmp_path):
    calls: list = []
    _small_sweep(tmp_path, calls)
    f = tmp_path / "points" / f"{point_key({'i': 2})}.json"
    f.write_text(f.read_text()[:25])  # a truncated file (as a non-atomic writer would leave)
    calls.clear()
    res = _small_sweep(tmp_path, calls)
    assert calls == [2]
    assert [r["y"] for r in res.results] == [0, 10, 20, 30]
    assert json.loads(f.read_text())["result"]["y"] == 20


def test_point_json_with_other_config_is_recomputed(tmp_path):
    calls: list = []
    _small_sweep(tmp_path, calls)
    f = tmp_path / "points" / f"{point_key({'i': 1})}.json"
    rec = json.loads(f.read_text())
    rec["config"] = {"i": 99}
    f.write_text(json.dumps(rec))
    calls.clear()
    res = _small_sweep(tmp_path, calls)
    assert calls == [1] and res.results[1]["y"] == 10


def test_orphan_npz_without_json_is_recomputed(tmp_path):
    """A kill between the .npz and the .json (the .json is the 'finished' marker)."""
    calls: list = []
    _small_sweep(tmp_path, calls)
    (tmp_path / "points" / f"{point_key({'i': 3})}.json").unlink()
    calls.clear()
    res = _small_sweep(tmp_path, calls)
    assert calls == [3]
    np.testing.assert_array_equal(res.results[3]["_arrays"]["v"], np.arange(5.0))


def test_stale_temporary_files_are_removed(tmp_path):
    calls: list = []
    _small_sweep(tmp_path, calls)
    stale = tmp_path / "points" / f".{point_key({'i': 0})}.json.abc123.tmp"
    stale.write_text('{"half": ')
    calls.clear()
    _small_sweep(tmp_path, calls)
    assert calls == [] and not stale.exists()


def test_atomic_write_failure_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    """If the process dies between writing and renaming, the old content survives intact."""
    target = tmp_path / "r.json"
    _io.atomic_write_json(target, {"v": 1})

    def boom(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(_io.os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        _io.atomic_write_json(target, {"v": 2, "big": list(range(10000))})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_atomic_write_nan_is_visible_not_silent(tmp_path):
    """NaN/Inf never vanish silently from a result file: they are written as strings."""
    f = _io.atomic_write_json(tmp_path / "x.json", {"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads(f.read_text()) == {"a": "nan", "b": [1.0, "inf"]}


def test_swallowed_sigterm_still_stops_the_sweep(tmp_path):
    """If the SystemExit raised by the SIGTERM handler is swallowed where it lands (inside a
    ``__del__`` or a C++ callback Python only reports "Exception ignored" for), the sweep
    must still stop before starting another point; the current point is kept."""
    calls = []

    def fn(cfg):
        calls.append(cfg["i"])
        if cfg["i"] == 1:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1.0)  # the handler runs here and raises SystemExit ...
            except SystemExit:
                pass  # ... which this code swallows
        return {"i": cfg["i"]}

    with pytest.raises(SystemExit) as e:
        run_sweep(fn, [{"i": i} for i in range(4)], tmp_path, progress=False)
    assert e.value.code == 128 + signal.SIGTERM
    assert calls == [0, 1]  # stopped before point 2
    assert _finished(tmp_path / "points") == {point_key({"i": 0}), point_key({"i": 1})}
    assert signal.getsignal(signal.SIGTERM) is not None  # handler restored afterwards
    res = run_sweep(fn, [{"i": i} for i in range(4)], tmp_path, progress=False)
    assert calls == [0, 1, 2, 3] and [r["i"] for r in res.results] == [0, 1, 2, 3]


def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path):
    """Results written atomically (temporary file + rename) must be readable like files
    written with plain ``open``: mode 0o666 minus the umask (``mkstemp`` alone gives 0o600)."""
    from ntkcomp.io import atomic_write_json, atomic_write_npz, atomic_write_bytes

    old = os.umask(0o022)
    try:
        paths = [atomic_write_json(tmp_path / "a.json", {"x": 1}),
                 atomic_write_npz(tmp_path / "b.npz", x=np.arange(3)),
                 atomic_write_bytes(tmp_path / "c.txt", "hi")]
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("reference")
        plain = os.stat(tmp_path / "plain.txt").st_mode & 0o777
        assert plain == 0o644
        for p in paths:
            assert os.stat(p).st_mode & 0o777 == plain, p
        os.umask(0o077)
        p = atomic_write_bytes(tmp_path / "d.txt", "private")
        assert os.stat(p).st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_current_umask_reads_without_changing_it(monkeypatch):
    """``_current_umask`` must agree with the set-and-restore reading, and on Linux must
    not call ``os.umask`` at all (setting it, even briefly, races with other threads)."""
    from ntkcomp.io import _atomic as _io

    old = os.umask(0o027)
    try:
        expected = 0o027
        calls = []
        real = os.umask
        if os.path.exists("/proc/self/status"):
            monkeypatch.setattr(os, "umask", lambda m: calls.append(m) or real(m))
        assert _io._current_umask() == expected
        assert calls == []
        monkeypatch.setattr(os, "umask", real)
        # the fallback (no /proc): same value, umask restored afterwards
        monkeypatch.setattr("builtins.open", _raise_oserror)
        assert _io._current_umask() == expected
        monkeypatch.undo()
        assert os.umask(expected) == expected
    finally:
        os.umask(old)


def _raise_oserror(*a, **k):
    raise OSError("no /proc here")


# ---------------------------------------------------------------------------------------
# Transactional run directories (issue 30): ``ntkcomp compress`` interrupted by SIGTERM or
# SIGINT at each step, into a fresh and into a previously used --out, leaves the directory
# either as the old complete run or as the new complete run (never a mixture).

COMPRESS_ARGS = ["--n", "24", "--p", "16", "--widths", "16,16", "--no-progress"]
RUN_FILES = {"compressed_network.npz", "config.json", "metadata.json", "report.json",
             "report.png", "results.json", "results.npz"}

# the child runs the real command; the test side only decides when it signals itself:
# after a named progress step ("data" ... "write": all files written, before the commit),
# or between the two renames of the commit ("commit")
KILL_CHILD_SRC = textwrap.dedent("""
    import os, signal, sys
    from experiments.cli import _common, main
    from experiments.harness import rundir
    step, sig, argv = sys.argv[1], getattr(signal, sys.argv[2]), sys.argv[3:]
    # a test runner's worker may ignore SIGINT, and an ignored signal is inherited: restore
    # Python's own handler, as in a run started from a terminal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if step == "commit":
        real = os.rename
        def rename(a, b):
            real(a, b)
            os.kill(os.getpid(), sig)       # arrives between the renames of the commit
        rundir.os = type(os)("os_patched")
        rundir.os.__dict__.update({**os.__dict__, "rename": rename})
    else:
        real_tick = _common.Progress.__call__
        def tick(self, name):
            real_tick(self, name)
            if name == step:
                os.kill(os.getpid(), sig)
        _common.Progress.__call__ = tick
    sys.exit(main(["compress", *argv]))
""")


def _tree(path: Path) -> dict:
    return {f.name: f.read_bytes() for f in sorted(path.iterdir())} if path.exists() else {}


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A complete earlier run (seed 0), computed once in-process."""
    from experiments.cli import main

    out = tmp_path_factory.mktemp("old") / "run"
    assert main(["compress", *COMPRESS_ARGS, "--seed", "0", "--out", str(out)]) == 0
    return _tree(out)


def _assert_old_or_new(out: Path, old: dict | None) -> str:
    tree = _tree(out)
    if old is not None and tree == old:
        return "old"
    if not tree:
        assert old is None, "the previous run was removed without a new one"
        return "none"
    assert set(tree) == RUN_FILES, f"incomplete run directory: {sorted(tree)}"
    for name in ("config.json", "metadata.json"):
        assert json.loads(tree[name])["seeds"]["data"] == 1, f"{name} is not the new run's"
    if old is not None:
        mixed = [n for n in ("config.json", "report.json", "results.json", "results.npz")
                 if tree[n] == old[n]]
        assert not mixed, f"files of the old run inside the new one: {mixed}"
    return "new"


def _interrupt_compress(tmp_path, step, sig, old, cache):
    out = tmp_path / "run"
    if old is not None:
        out.mkdir()
        for name, data in old.items():
            (out / name).write_bytes(data)
    env = {**os.environ, "NTKCOMP_JAX_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", KILL_CHILD_SRC, step, sig,
                        *COMPRESS_ARGS, "--seed", "1", "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in r.stderr, r.stderr
    state = _assert_old_or_new(out, old)
    # a committed run is complete; a run cut before the commit leaves the old state
    if step == "commit":
        assert state == "new"
    else:
        assert state == ("old" if old is not None else "none"), (step, sig, r.returncode)
        assert r.returncode in (130, -signal.SIGTERM, 143), r.returncode
    return state


FAULT_CASES = [(step, sig, used) for step in ("data", "match", "verify", "write", "commit")
               for sig in ("SIGTERM", "SIGINT") for used in (False, True)]
FAST_FAULT_CASES = [("data", "SIGINT", False), ("match", "SIGTERM", True),
                    ("commit", "SIGTERM", True)]


@pytest.mark.parametrize("step, sig, used", FAST_FAULT_CASES)
def test_compress_interrupted_leaves_old_or_new_run(tmp_path, step, sig, used, old_run,
                                                    tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "jax_cache"
    _interrupt_compress(tmp_path, step, sig, old_run if used else None, cache)


@pytest.mark.slow
@pytest.mark.parametrize("step, sig, used", [c for c in FAULT_CASES
                                             if c not in FAST_FAULT_CASES])
def test_compress_interrupted_every_step(tmp_path, step, sig, used, old_run,
                                         tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "jax_cache"
    _interrupt_compress(tmp_path, step, sig, old_run if used else None, cache)


def test_run_after_interruption_replaces_whole(tmp_path, old_run):
    """A run cut before its commit leaves a staging directory; the next run starts clean
    from it and replaces --out whole (the old run's files are all gone)."""
    from experiments.cli import main
    from experiments.harness import RunDir

    out = tmp_path / "run"
    rd = RunDir(out, {"seed": 9})
    rd.write_json("stale.json", {"x": 1})           # a killed run's leftovers: its staging
    rd._release_lock()                              # directory stays, its lock is gone
    assert not out.exists() and (tmp_path / ".run.partial" / "stale.json").exists()
    assert main(["compress", *COMPRESS_ARGS, "--seed", "1", "--out", str(out)]) == 0
    assert _assert_old_or_new(out, None) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]   # no staging/lock/backup


def test_second_concurrent_run_is_refused(tmp_path, capsys):
    from experiments.cli import main
    from experiments.harness import RunDir

    out = tmp_path / "run"
    holder = RunDir(out, {"holder": True})           # another run in progress
    code = main(["compress", *COMPRESS_ARGS, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "another run is writing into" in err
    assert len(err.strip().splitlines()) == 1
    holder.commit()
    assert json.loads((out / "config.json").read_text())["holder"] is True


def test_backup_of_a_killed_commit_is_restored(tmp_path):
    """SIGKILL between the two renames leaves only ``.<name>.old``: the next run restores
    it before it starts (the old run is never lost)."""
    from experiments.harness import RunDir

    out = tmp_path / "run"
    with RunDir(out, {"v": 1}):
        pass
    os.rename(out, tmp_path / ".run.old")             # the state after the first rename
    rd = RunDir(out, {"v": 2})
    assert json.loads((out / "config.json").read_text())["v"] == 1
    rd.abort()
