"""Property-based fuzz of the ``ntkcomp`` command line (issue 30, item 6).

Hypothesis generates argument vectors for ``ntkcomp compress`` and ``ntkcomp spectrum``:
options with valid small values mixed with bad ones (empty fields, signs, huge numbers,
NaN, random text, unknown options, odd paths). Each vector runs in a child process under
a timeout (one child per generated batch, so JAX is imported once per batch). Property:
every run exits with 0 or 2, prints no traceback, never hangs or aborts; exit 2 ends with
one line ``ntkcomp: error: ...``; exit 0 leaves a complete run directory; neither leaves a
staging directory or lock beside it.

A short fuzz runs in the default suite; ``-m slow`` runs a long one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

#: seconds a single run may take (tiny sizes; the first run of a child also compiles)
PER_RUN_S = 120

GOOD = {
    "--n": ["16", "24", "32"], "--p": ["4", "8", "16"], "--K": ["1", "2", "3"],
    "--widths": ["8", "8,8", "16,8", "12"], "--depth": ["1", "2"],
    "--activations": ["relu", "tanh", "erf", "relu,tanh", "binary", "abs"],
    "--seed": ["0", "7"], "--data": ["mixed", "means", "covs"],
}
COMPRESS_GOOD = {
    "--eps": ["0", "0.5", "0.9", "0.5,0.9"], "--family": ["ternary", "binary", "auto",
                                                           "k_level"],
    "--levels": ["3", "4"], "--target": ["ck", "ntk"], "--hidden-tau": ["free", "match", "0.7"],
    "--kurtosis-tol": ["0.05", "0.2"], "--kurtosis-model": ["theory", "realised"],
}
SPECTRUM_GOOD = {"--kinds": ["ck", "ntk", "ck,ntk"], "--method": ["auto", "dense", "slq"]}
FLAGS = {"compress": ["--no-report", "--float32"],
         "spectrum": ["--no-exact", "--no-rf-law", "--float32"]}
BAD_VALUES = ["", ",", "-1", "0", "1e400", "nan", "inf", "-0", "99999999999", "64,,64",
              "1,-2", "NaN,1", " ", "0x10", "1.5", "2147483647", "100000000,8", "a" * 300]
ALWAYS = ["--n", "--p", "--widths"]       # kept small unless fuzzed (a valid run stays tiny)

CHILD = textwrap.dedent("""
    import contextlib, io, json, sys
    from experiments.cli import main
    for i, argv in enumerate(json.loads(sys.stdin.read())):
        print(json.dumps({"start": i}), flush=True)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except BaseException as e:          # reported, then the property fails
                code = f"raised {type(e).__name__}: {e}"
        print(json.dumps({"done": i, "code": code, "stderr": err.getvalue()}), flush=True)
""")


@st.composite
def argvs(draw):
    cmd = draw(st.sampled_from(["compress", "spectrum"]))
    good = {**GOOD, **(COMPRESS_GOOD if cmd == "compress" else SPECTRUM_GOOD)}
    chosen = draw(st.lists(st.sampled_from(sorted(good)), max_size=5, unique=True))
    bad = draw(st.lists(st.sampled_from(sorted(good)), max_size=2, unique=True))
    args = {k: draw(st.sampled_from(good[k])) for k in sorted(set(ALWAYS) | set(chosen))}
    for k in bad:
        args[k] = draw(st.sampled_from(BAD_VALUES) | st.text(max_size=8))
    argv = [cmd]
    for k, v in args.items():
        argv += [k, v]
    argv += draw(st.lists(st.sampled_from(FLAGS[cmd]), max_size=2, unique=True))
    if draw(st.booleans()):
        argv += [draw(st.sampled_from(["--bogus", "--n", "--widths=", "-x", "extra"]))]
    return argv


def _run_batch(batch: list[list[str]], tmp: Path) -> list[dict]:
    outs = []
    full = []
    for i, argv in enumerate(batch):
        out = tmp / f"run{i}"
        outs.append(out)
        full.append([*argv, "--no-progress", "--out", str(out)])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NTKCOMP_JAX_CACHE": str(tmp / "cache")}
    try:
        r = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(full), env=env,
                           capture_output=True, text=True, timeout=60 + PER_RUN_S * len(batch))
    except subprocess.TimeoutExpired as e:
        lines = [json.loads(x) for x in (e.stdout or b"").decode().splitlines()
                 if x.startswith("{")]
        started = [x["start"] for x in lines if "start" in x]
        raise AssertionError(f"hang: {full[started[-1]] if started else full}") from None
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    done = [x for x in lines if "done" in x]
    if len(done) < len(batch):
        started = [x["start"] for x in lines if "start" in x]
        raise AssertionError(f"process died (exit {r.returncode}) running "
                             f"{full[started[-1]]}: {r.stderr[-2000:]}")
    for x in done:
        x["argv"], x["out"] = full[x["done"]], outs[x["done"]]
    return done


def _check(results: list[dict]) -> None:
    for x in results:
        argv, code, err = x["argv"], x["code"], x["stderr"]
        assert code in (0, 2), f"{argv}: exit {code}: {err[-1500:]}"
        assert "Traceback" not in err, f"{argv}: {err[-1500:]}"
        out = Path(x["out"])
        if code == 2:
            last = err.strip().splitlines()[-1]
            assert last.startswith("ntkcomp: error: "), f"{argv}: {err}"
            assert not out.exists(), f"{argv}: rejected but wrote {out}"
        else:
            assert (out / "config.json").exists() and (out / "results.json").exists(), argv
        strays = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
        assert not strays, f"{argv}: left {strays}"


FUZZ_SHORT = settings(max_examples=1, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
FUZZ_LONG = settings(max_examples=25, deadline=None, derandomize=False, database=None,
                     suppress_health_check=list(HealthCheck))


@FUZZ_SHORT
@given(batch=st.lists(argvs(), min_size=8, max_size=8))
def test_cli_fuzz_exit_0_or_2(batch, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    _check(_run_batch(batch, tmp))


@pytest.mark.slow
@FUZZ_LONG
@given(batch=st.lists(argvs(), min_size=10, max_size=10))
def test_cli_fuzz_long(batch, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    _check(_run_batch(batch, tmp))
