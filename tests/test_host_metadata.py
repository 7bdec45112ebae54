"""Host metadata recorded next to every timing (``ntkcomp._io.versions()['cpu']``).

Benchmark ratios depend on the host (see experiments/benchmarks/README.md, runs 12-13), so
each result file names the CPU kind; these tests check the /proc/cpuinfo parser on fixed
texts (x86 and ARM layouts) and that the live description is well formed."""
from __future__ import annotations

import os

from ntkcomp._io import cpu_description, parse_cpuinfo, versions

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
