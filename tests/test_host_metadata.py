"""Host metadata recorded next to every timing (``ntkcomp.io.versions()['cpu']``) and the
JAX device a run used (``ntkcomp.io.run_metadata(...)["device"]``).

Benchmark ratios depend on the host (see experiments/benchmarks/README.md, runs 12-13), so
each result file names the CPU kind; these tests check the /proc/cpuinfo parser on fixed
texts (x86 and ARM layouts) and that the live description is well formed."""
from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from ntkcomp.io import atomic_write_json, read_json, run_metadata, to_jsonable, versions
from ntkcomp.io._metadata import cpu_description, parse_cpuinfo

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2
processor\t: 1
model name\t: SOMETHING ELSE
flags\t\t: avx512f amx_tile
"""

X86_AMX = """model name\t: Intel(R) Xeon(R) Platinum
flags\t\t: avx2 fma avx512f avx512bw amx_bf16 amx_tile amx_int8
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes sve
CPU implementer\t: 0x41
"""


def test_parse_cpuinfo_x86_first_processor_only():
    model, units = parse_cpuinfo(X86)
    assert model == "AMD EPYC 7B13"            # the first model name, not the second
    assert units == ["avx2", "fma"]            # the first flags line; avx (no 2) not a unit


def test_parse_cpuinfo_orders_units_widest_first():
    _, units = parse_cpuinfo(X86_AMX)
    assert units == ["avx512f", "amx_tile", "amx_bf16", "avx2", "fma"]


def test_parse_cpuinfo_arm_features_line():
    model, units = parse_cpuinfo(ARM)
    assert model is None                        # ARM kernels often print no model name
    assert units == ["neon", "sve"]


def test_parse_cpuinfo_empty():
    assert parse_cpuinfo("") == (None, [])


def test_cpu_description_live_and_in_versions():
    desc = cpu_description()
    assert f", {os.cpu_count()} cores" in desc
    assert desc.split(",")[0].strip()           # a non-empty model string
    assert versions()["cpu"] == desc


def test_run_metadata_records_the_device_used():
    meta = run_metadata({"n": 3}, seeds={"data": 1})
    dev = jax.devices()[0]
    assert meta["device"] == {"platform": dev.platform, "kind": dev.device_kind,
                              "count": len(jax.devices())}
    assert meta["versions"]["device_platform"] == dev.platform
    assert meta["config"] == {"n": 3} and meta["seeds"] == {"data": 1}
    assert "git_revision" in meta


def test_json_round_trip_writes_non_finite_as_strings(tmp_path):
    obj = {"a": np.arange(3), "b": (1.5, float("nan")), 2: float("-inf")}
    assert to_jsonable(obj) == {"a": [0, 1, 2], "b": [1.5, "nan"], "2": "-inf"}
    path = atomic_write_json(tmp_path / "sub" / "x.json", obj)
    assert read_json(path) == {"a": [0, 1, 2], "b": [1.5, "nan"], "2": "-inf"}


def test_read_json_names_a_corrupted_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    with pytest.raises(ValueError, match="bad.json"):
        read_json(bad)
