"""The benchmark pooling helper reproduces the README's pooled speedups from the committed
result files, and its bootstrap behaves (ratio of medians inside its own interval)."""
import importlib
import importlib.resources
from pathlib import Path

import pytest

# the committed result files, installed as package data of experiments.benchmarks
RESULTS = Path(str(importlib.resources.files("experiments.benchmarks") / "results"))


def _module():
    return importlib.import_module("experiments.benchmarks.pool_ntk_speed")


def test_pooled_speedup_synthetic():
    pool = _module()
    nt = [70.0, 80.0, 75.0]
    ours = [0.14, 0.16, 0.15, 0.15]
    ratio, (lo, hi) = pool.pooled_speedup(nt, ours, resamples=2000, seed=1)
    assert ratio == pytest.approx(75.0 / 0.15)  # medians 75 and 0.15
    assert lo <= ratio <= hi
    # the bootstrap ratio can only take values between the extreme ratios of medians
    assert lo >= 70.0 / 0.16 - 1e-9 and hi <= 80.0 / 0.14 + 1e-9
    with pytest.raises(ValueError, match="at least one"):
        pool.pooled_speedup([], ours)


def test_pool_reproduces_readme_numbers(capsys):
    """README (runs 3-5 pool): 495.4x; with run 6: 487.2x -- recomputed from the JSON files."""
    pool = _module()
    files = [RESULTS / f for f in ("ntk_speed_run3_malloc_r3.json",
                                   "ntk_speed_run3_malloc_r5.json",
                                   "ntk_speed_run4_2048.json", "ntk_speed_run5_2048.json")]
    nt, ours = [], []
    for f in files:
        a, b = pool.call_times(pool.load_row(f, 2048, "w1000x3", "float32"))
        nt += a
        ours += b
    assert (len(nt), len(ours)) == (18, 36)
    ratio, _ = pool.pooled_speedup(nt, ours, resamples=200)
    assert round(ratio, 1) == 495.4
    assert pool.main([str(f) for f in files] + [str(RESULTS / "ntk_speed_run6_2048.json"),
                                                "--resamples", "500"]) == 0
    assert "487.2x" in capsys.readouterr().out
