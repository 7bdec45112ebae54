"""The device check (``experiments/benchmarks/device_check.py``) on the CPU with ``--smoke``:
its JSON schema, a failing stage recorded (not fatal), the budget, the tqdm stand-in."""
import json
import subprocess
import sys

import pytest

from experiments.benchmarks import device_check as dc

STAGE_KEYS = {"status", "seconds"}


def _run(tmp_path, *extra):
    out = tmp_path / "dc"
    proc = subprocess.run([sys.executable, "-m", "experiments.benchmarks.device_check",
                           str(out), "--smoke", *extra], cwd=dc.REPO, capture_output=True,
                          text=True, timeout=600)
    return proc, out, json.loads((out / "device_check.json").read_text())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """describe + the NTK ladder, with the tests stage made to fail on purpose."""
    return _run(tmp_path_factory.mktemp("smoke"), "--stages", "describe,tests,ntk_benchmark",
                "--fail-stage", "tests")


def test_schema_and_numbers(smoke):
    proc, out, rep = smoke
    assert rep["schema"] == dc.SCHEMA
    for key in ("created", "smoke", "budget_s", "targets", "device", "versions", "stages",
                "verdict", "elapsed_s", "shims"):
        assert key in rep, key
    assert rep["device"]["platform"] == "cpu" and rep["device"]["devices"]
    assert rep["versions"]["jax"]
    assert list(rep["stages"]) == ["describe", "tests", "ntk_benchmark"]
    for st in rep["stages"].values():
        assert STAGE_KEYS <= set(st)
    bench = rep["stages"]["ntk_benchmark"]
    assert bench["status"] == "ok" and bench["gemm_gflops"] > 0
    assert [r["n"] for r in bench["rows"]] == dc.SMOKE["ns"]
    for r in bench["rows"]:
        assert r["finite"] and r["seconds"] > 0
        assert r["gflops"] == pytest.approx(r["gram_flops"] / r["seconds"] / 1e9)
    # no n >= 16384 and no n = 65536 in the smoke ladder: those targets are not measured
    assert rep["verdict"]["gram_ge_60pct_gemm_from_16384"] is None
    assert rep["verdict"]["n65536_le_5s"] is None
    assert (out / "summary.txt").read_text() in proc.stdout


def test_failing_stage_is_recorded_not_fatal(smoke):
    proc, out, rep = smoke
    assert proc.returncode == 1
    st = rep["stages"]["tests"]
    assert st["status"].startswith("failed: exit status 1") and "failure requested" in st["status"]
    # the stages after the failing one still ran
    assert rep["stages"]["ntk_benchmark"]["status"] == "ok"
    assert (out / "logs" / "tests.log").exists()


def test_budget_skips_stages(tmp_path):
    proc, out, rep = _run(tmp_path, "--budget", "1", "--stages", "describe,fig1_full")
    assert proc.returncode == 1
    assert {s["status"] for s in rep["stages"].values()} == {"skipped: budget"}
    assert "skipped: budget" in proc.stdout


def test_memory_and_tile_arithmetic():
    inner = dc.P + 2 * sum(dc.WIDTHS)
    # 80 GB free: 8192-row tiles; the n = 65536 call needs its 17.2 GB output plus signals
    b = dc.block_size_for(65536, inner, 80e9)
    assert b == 8192
    assert dc.memory_needed(65536, inner, b) == 4 * 65536 ** 2 + 4 * 65536 * inner + 28 * b * b
    assert dc.block_size_for(65536, inner, 2e9) == 2048       # small memory: smaller tiles
    assert dc.block_size_for(1000, inner, None) == 1000
    # 8 blocks: 36 of the 64 tiles are computed
    assert dc.gram_flops(65536, inner, 8192) == 2 * 8192 ** 2 * inner * 36


def test_tqdm_stand_in_passes_through(tmp_path):
    code = dc._TQDM_SHIM + "\nprint(sum(tqdm(range(5), disable=True, desc='x', leave=False)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "10"
