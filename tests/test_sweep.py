"""Resumable sweep runner and run directories: atomic files, restart skips finished points,
SIGTERM / SIGKILL mid-sweep lose and corrupt nothing."""
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

from experiments.harness import RunDir, load_sweep, point_key, run_sweep


def _square(cfg):
    return {"y": cfg["x"] ** 2, "_arrays": {"v": np.arange(cfg["x"] + 1, dtype=float)}}


def test_point_key_depends_on_content_not_order():
    assert point_key({"a": 1, "b": 2}) == point_key({"b": 2, "a": 1})
    assert point_key({"a": 1}) != point_key({"a": 2})


def test_sweep_skips_finished_points_and_returns_arrays(tmp_path):
    pts = [{"x": i} for i in range(5)]
    first = run_sweep(_square, pts[:3], tmp_path, progress=False)
    assert len(first.computed) == 3 and not first.skipped
    calls = []

    def counting(cfg):
        calls.append(cfg["x"])
        return _square(cfg)

    second = run_sweep(counting, pts, tmp_path, progress=False)
    assert sorted(calls) == [3, 4]          # only the new points ran
    assert len(second.skipped) == 3
    assert [r["y"] for r in second.results] == [i * i for i in range(5)]
    # arrays come back from disk for skipped points
    np.testing.assert_array_equal(second.results[1]["_arrays"]["v"], np.arange(2.0))
    recs = load_sweep(tmp_path)
    assert [r["result"]["y"] for r in recs] == [i * i for i in range(5)]
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["n_points"] == 5 and "versions" in man and "git_revision" in man


def test_sweep_record_errors_then_retry(tmp_path):
    def flaky(cfg):
        if cfg["x"] == 1:
            raise RuntimeError("boom")
        return {"y": cfg["x"]}

    out = run_sweep(flaky, [{"x": 0}, {"x": 1}], tmp_path, on_error="record", progress=False)
    assert out.results[1] is None and len(out.failed) == 1
    assert (tmp_path / "points" / f"{point_key({'x': 1})}.error.json").exists()
    out2 = run_sweep(lambda c: {"y": c["x"]}, [{"x": 0}, {"x": 1}], tmp_path, progress=False)
    assert out2.results == [{"y": 0}, {"y": 1}] and len(out2.computed) == 1
    assert not (tmp_path / "points" / f"{point_key({'x': 1})}.error.json").exists()


def test_sweep_bad_input(tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        run_sweep(_square, [{"x": 1}], tmp_path, on_error="ignore")
    with pytest.raises(ValueError, match=r"points\[0\]"):
        run_sweep(_square, [{"x": object()}], tmp_path)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="out"):
        run_sweep(_square, [{"x": 1}], f)


_CHILD = textwrap.dedent("""
    import sys, time
    from experiments.harness import run_sweep
    def slow(cfg):
        time.sleep(0.15)
        # a large result: its write takes measurable time, so kills can land mid-write
        return {"x": cfg["x"], "payload": [cfg["x"]] * 20000}
    run_sweep(slow, [{"x": i} for i in range(40)], sys.argv[1], progress=False)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_sweep_survives_kill_and_resumes(tmp_path, sig):
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out)], env=env)
    pdir = out / "points"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pdir.exists() and len(list(pdir.glob("*.json"))) >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    finished_before = {p.stem for p in pdir.glob("*.json")}
    assert 4 <= len(finished_before) < 40
    for p in pdir.glob("*.json"):           # every file on disk is complete JSON
        rec = json.loads(p.read_text())
        assert rec["result"]["payload"] == [rec["config"]["x"]] * 20000
    if sig == signal.SIGTERM:               # orderly exit: no temporary file left behind
        assert not list(pdir.glob(".*.tmp"))
    calls = []

    def fast(cfg):
        calls.append(cfg["x"])
        return {"x": cfg["x"], "payload": [cfg["x"]] * 20000}

    res = run_sweep(fast, [{"x": i} for i in range(40)], out, progress=False)
    assert len(calls) == 40 - len(finished_before)   # finished points were not redone
    assert [r["x"] for r in res.results] == list(range(40))   # nothing lost
    assert not list(pdir.glob(".*.tmp"))


def test_rundir_writes_everything_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with RunDir(tmp_path / "run", {"n": 4, "activations": ["relu"]}, seeds={"data": 1}) as rd:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        rd.save_figure(fig, "fig")
        rd.write_results({"err": 0.5}, {"eig": np.arange(3.0)})
        assert not (tmp_path / "run").exists()     # staged until the run is committed
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["config.json", "fig.pdf", "fig.png", "metadata.json", "results.json",
                     "results.npz"]
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["seeds"] == {"data": 1} and meta["versions"]["jax"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seeds"] == {"data": 1}
    assert (tmp_path / "run" / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "run" / "fig.pdf").read_bytes()[:4] == b"%PDF"
