"""The bad-input table (issue 8, item 1): invalid inputs across the public API and the CLI.

Every API case must raise the listed exception (ValueError unless stated) whose message
names the offending parameter (a word match of ``param`` in the message). Every CLI case
must exit non-zero with exactly one readable line ``ntkcomp: error: ...`` on stderr naming
the option, print no traceback (unless ``--debug``), and leave nothing behind in ``--out``.

``tests/BAD_INPUTS.md`` (the closing note's table) is generated from these tables:

    python tests/test_bad_inputs.py > tests/BAD_INPUTS.md
"""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # generating BAD_INPUTS.md (with the package installed)
    import ntkcomp

    ntkcomp.enable_x64()


@dataclass
class Case:
    id: str                    # short description (the table's first column)
    call: Callable[[Path], Any]  # receives a fresh temporary directory
    param: str                 # the parameter the message must name
    exc: type = ValueError
    area: str = ""

    def run(self, tmp: Path) -> BaseException:
        try:
            self.call(tmp)
        except BaseException as e:  # noqa: BLE001 - examined by the caller
            return e
        raise AssertionError(f"{self.id}: no exception raised")


# ---------------------------------------------------------------------------------------
# helpers building inputs (imports inside so collection stays cheap)
def _net(widths=(8, 8), act="relu", **kw):
    from ntkcomp.networks import MLP

    return MLP(list(widths), act, **kw)


def _params(net, p=5):
    import jax

    return net.init(jax.random.key(0), p)


def _X(n=6, p=5):
    return np.random.default_rng(0).standard_normal((n, p)) / np.sqrt(p)


def _sample(n=6, p=5, K=2):
    import jax

    from ntkcomp.data import gmm_preset

    return gmm_preset("mixed", p, K=K).sample(jax.random.key(0), n)


def _packed_file(tmp: Path) -> Path:
    """A valid packed compressed network on disk (built once per call)."""
    import jax

    from ntkcomp.compress.packing import pack, save
    from ntkcomp.networks import MLP

    net = MLP([8, 4], "binary", weights="rademacher", tau0=1.0)
    f = tmp / "net.npz"
    save(f, pack(net.init(jax.random.key(0), 5), net))
    return f


def _truncated_packed(tmp: Path):
    from ntkcomp.compress.packing import load

    f = _packed_file(tmp)
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    return load(f)


def _tampered_packed(tmp: Path):
    """Valid zip, but one weight array has lost entries (header disagrees with arrays)."""
    from ntkcomp.compress.packing import load

    f = _packed_file(tmp)
    with np.load(f) as z:
        arrays = {k: z[k] for k in z.files}
    key = next(k for k in arrays if k.startswith(("mask", "sign", "codes")))
    arrays[key] = arrays[key][:-1]
    bad = tmp / "tampered.npz"
    np.savez(bad, **arrays)
    return load(bad)


def _garbage_packed(tmp: Path):
    from ntkcomp.compress.packing import load

    f = tmp / "garbage.npz"
    f.write_bytes(b"this is not a zip archive")
    return load(f)


def _infeasible_layer(tmp: Path):
    from ntkcomp.activations import get
    from ntkcomp.compress import SolverOptions, solve_layer, target_from_activation

    # THEORY 8: no two-level function matches tau_L together with (a1^2, a2^2) for ReLU.
    tgt = target_from_activation(get("relu"), 1.0)
    return solve_layer(tgt, 1.0, family="binary", match_tau=True, require_feasible=True,
                       solver=SolverOptions(n_starts=2))


def _bad_idx(tmp: Path):
    from ntkcomp.data import read_idx

    f = tmp / "train-images-idx3-ubyte"
    f.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">iii", 10, 28, 28) + b"\x00" * 100)
    return read_idx(f)


def _a_file(tmp: Path) -> Path:
    f = tmp / "a_file"
    f.write_text("x")
    return f


# ---------------------------------------------------------------------------------------
# The API table
def _api_cases() -> list[Case]:
    import jax

    from ntkcomp import activations as A
    from ntkcomp import compress as C
    from ntkcomp import data as D
    from ntkcomp import equivalents as E
    from ntkcomp import kernels as Kk
    from ntkcomp import spectral as S
    from experiments.harness import RunDir, run_sweep
    from ntkcomp.networks import weight_law

    eye2 = np.stack([np.eye(3), np.diag([1.0, -0.5, 1.0])])
    return [
        # data
        Case("GMM: covariance not PSD (eigenvalue -0.5)",
             lambda t: D.GMM(np.zeros((2, 3)), eye2), "covs", area="data"),
        Case("GMM: covariance shape (K, p+1)",
             lambda t: D.GMM(np.zeros((2, 3)), np.ones((2, 4))), "covs", area="data"),
        Case("GMM: proportions sum to 1.1",
             lambda t: D.GMM(np.zeros((2, 3)), np.ones(2), [0.5, 0.6]), "proportions",
             area="data"),
        Case("GMM: empty class (proportion 0)",
             lambda t: D.GMM(np.zeros((2, 3)), np.ones(2), [1.0, 0.0]), "proportions",
             area="data"),
        Case("GMM: K = 0 classes", lambda t: D.GMM(np.zeros((0, 3)), np.ones(0)), "means",
             area="data"),
        Case("GMM: p = 0", lambda t: D.GMM(np.zeros((2, 0)), np.ones(2)), "means", area="data"),
        Case("GMM: NaN in means",
             lambda t: D.GMM(np.full((2, 3), np.nan), np.ones(2)), "means", area="data"),
        Case("GMM.sample: n < K",
             lambda t: D.gmm_preset("means", 8, K=3).sample(jax.random.key(0), 2), "n",
             area="data"),
        Case("gmm_preset: unknown name", lambda t: D.gmm_preset("gauss", 10), "name",
             area="data"),
        Case("gmm_preset: official_mixed with p < 8K",
             lambda t: D.gmm_preset("official_mixed", 8, K=2), "p", area="data"),
        Case("estimate_stats: a class with one sample",
             lambda t: D.estimate_stats(np.ones((3, 2)), np.array([0, 0, 1])), "labels",
             area="data"),
        Case("estimate_stats: X is 1-D", lambda t: D.estimate_stats(np.ones(4), np.zeros(4, int)),
             "X", area="data"),
        Case("read_idx: truncated IDX file", _bad_idx, "path", area="data"),
        Case("load_mnist: missing directory (never downloads)",
             lambda t: D.load_mnist(t / "no_such_dir"), "path", exc=FileNotFoundError,
             area="data"),
        # activations / moments
        Case("activations.get: unknown name", lambda t: A.get("swishy"), "name",
             area="activations"),
        Case("moments: tau = 0", lambda t: A.moments(A.get("tanh"), 0.0), "tau",
             area="activations"),
        Case("moments: tau is a string", lambda t: A.moments(A.get("tanh"), "big"), "tau",
             area="activations"),
        Case("moments: tau = NaN", lambda t: A.moments(A.get("relu"), float("nan")), "tau",
             area="activations"),
        Case("binary: thresholds out of order (s1 > s2)",
             lambda t: A.get("binary", s1=1.0, s2=-1.0, b=1.0), "s1", area="activations"),
        Case("k_level: thresholds not increasing",
             lambda t: A.get("k_level", thresholds=[1.0, 0.0], levels=[0.0, 1.0, 2.0]),
             "thresholds", area="activations"),
        Case("bivariate: cov^2 > var1 * var2",
             lambda t: A.bivariate(A.get("relu"), 1.0, 1.0, 2.0), "cov", area="activations"),
        # networks / weights
        Case("MLP: width 0", lambda t: _net((0, 8)), "widths", area="networks"),
        Case("MLP: no layers", lambda t: _net(()), "widths", area="networks"),
        Case("MLP: tau0 < 0", lambda t: _net(tau0=-1.0), "tau0", area="networks"),
        Case("MLP: 3 activations for 2 layers",
             lambda t: _net(act=["relu"] * 3), "activations", area="networks"),
        Case("MLP: activation given as a number",
             lambda t: _net(act=3.0), "activations", area="networks"),
        Case("MLP.apply: complex-valued X",
             lambda t: _net().apply(_params(_net()), _X().astype(complex)), "X",
             area="networks"),
        Case("MLP.apply: X of strings",
             lambda t: _net().apply(_params(_net()), np.full((6, 5), "a")), "X",
             area="networks"),
        Case("weight_law: sparse_ternary eps = 1", lambda t: weight_law("sparse_ternary", eps=1.0),
             "eps", area="networks"),
        Case("weight_law: sparse_ternary eps < 0",
             lambda t: weight_law("sparse_ternary", eps=-0.1), "eps", area="networks"),
        Case("weight_law: unknown name", lambda t: weight_law("cauchy"), "name",
             area="networks"),
        Case("weight_law: student_t nu <= 4 (infinite kurtosis)",
             lambda t: weight_law("student_t", nu=3.0), "nu", area="networks"),
        # kernels / equivalents
        Case("empirical_ntk: X has wrong feature dimension",
             lambda t: Kk.empirical_ntk(_net(), _params(_net()), _X(p=4)), "X", area="kernels"),
        Case("conjugate_kernels: NaN in X",
             lambda t: Kk.conjugate_kernels(_net(), _params(_net()), np.full((4, 5), np.nan)),
             "X", area="kernels"),
        Case("empirical_ntk: signal_dtype = float16",
             lambda t: Kk.empirical_ntk(_net(), _params(_net()), _X(), signal_dtype="float16"),
             "signal_dtype", area="kernels"),
        Case("expected_kernels: X is 1-D", lambda t: Kk.expected_kernels(_net(), np.ones(5)),
             "X", area="kernels"),
        Case("monte_carlo_kernels: draws = 0",
             lambda t: Kk.monte_carlo_kernels(_net(), _X(), jax.random.key(0), 0), "draws",
             area="kernels"),
        Case("ck_equivalent: layer out of range",
             lambda t: E.ck_equivalent(_net(), _sample(), layer=7), "layer", area="equivalents"),
        Case("ck_equivalent: stats and X disagree on n",
             lambda t: E.ck_equivalent(_net(), _sample().stats, X=_X(n=4)), "X",
             area="equivalents"),
        Case("ntk_equivalent: kurtosis not False / True / 'realised'",
             lambda t: E.ntk_equivalent(_net(), _sample(), kurtosis="realized"), "kurtosis",
             area="equivalents"),
        # compression
        Case("compress: eps = 1", lambda t: C.compress(_net(), 1.0, eps=1.0), "eps",
             area="compress"),
        Case("compress: one eps for two layers given as a list",
             lambda t: C.compress(_net(), 1.0, eps=[0.5]), "eps", area="compress"),
        Case("compress: unknown family", lambda t: C.compress(_net(), 1.0, family="quinary"),
             "family", area="compress"),
        Case("compress: kurtosis_model not 'theory' / 'realised'",
             lambda t: C.compress(_net(), 1.0, kurtosis=C.KurtosisBudget(model="edgeworth")),
             "kurtosis_model",
             area="compress"),
        Case("solve_layer: infeasible target (binary matching ReLU's tau_L too)",
             _infeasible_layer, "binary", exc=C.InfeasibleError, area="compress"),
        Case("load: corrupted packed network (truncated file)", _truncated_packed,
             "packed network", area="compress"),
        Case("load: corrupted packed network (array edited)", _tampered_packed,
             "packed network", area="compress"),
        Case("load: not a zip archive", _garbage_packed,
             "packed network", area="compress"),
        Case("save: destination under an existing file",
             lambda t: C.packing.save(_a_file(t) / "net.npz",
                                      C.packing.load(_packed_file(t))), "path",
             exc=NotADirectoryError, area="compress"),
        Case("pack: a network with non-quantized activations",
             lambda t: C.packing.pack(_params(_net()), _net()), "activations", area="compress"),
        # spectral
        Case("eigenvalues: non-square matrix", lambda t: S.eigenvalues(np.ones((3, 4))), "K",
             area="spectral"),
        Case("eigenvalues: NaN entries", lambda t: S.eigenvalues(np.full((3, 3), np.nan)), "K",
             area="spectral"),
        Case("compounded law: K0 is not X X^T",
             lambda t: S.compounded_random_features_spectrum(
                 2 * np.eye(3), S.expected_layer_maps(_net()), [4] * _net().depth, key=0,
                 X=np.eye(3)), "K0", area="spectral"),
        Case("compounded law: neither K0 nor X",
             lambda t: S.compounded_random_features_spectrum(
                 None, S.expected_layer_maps(_net()), [4] * _net().depth, key=0), "K0",
             area="spectral"),
        Case("layer map: features H with the wrong number of rows",
             lambda t: S.expected_layer_maps(_net(weights=weight_law("rademacher")))[0](np.eye(3), np.ones((2, 4))),
             "H", area="spectral"),
        Case("layer maps: edgeworth_order = 3",
             lambda t: S.expected_layer_maps(_net(), edgeworth_order=3), "edgeworth_order",
             area="spectral"),
        Case("layer maps: edgeworth_order = 2 with student_t nu <= 6 (no sixth moment)",
             lambda t: S.expected_layer_maps(_net(weights=weight_law("student_t", nu=5.0)),
                                             edgeworth_order=2), "edgeworth_order",
             area="spectral"),
        # output
        Case("RunDir: output path is an existing file",
             lambda t: RunDir(_a_file(t)), "out", area="output"),
        Case("RunDir: output directory cannot be created (parent is a file)",
             lambda t: RunDir(_a_file(t) / "sub"), "out", area="output"),
        Case("run_sweep: unknown on_error",
             lambda t: run_sweep(lambda c: 0, [{}], t / "s", on_error="ignore"), "on_error",
             area="output"),
        Case("run_sweep: point config not JSON-able",
             lambda t: run_sweep(lambda c: 0, [{"x": object()}], t / "s"), "points",
             area="output"),
    ]


API_CASES = _api_cases()


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api_bad_input_names_parameter(case, tmp_path):
    err = case.run(tmp_path)
    assert isinstance(err, case.exc), f"{case.id}: got {type(err).__name__}: {err}"
    msg = str(err)
    assert re.search(rf"(?<![\w]){re.escape(case.param)}(?![\w])", msg), \
        f"{case.id}: message does not name {case.param!r}: {msg}"
    assert "\n" not in msg.strip() or len(msg) < 2000  # readable, not a dump


# ---------------------------------------------------------------------------------------
# The CLI table: (id, argv, option named in the message). Placeholders: @FILE an existing
# file, @LONG a 300-character folder name, @LOCKED a directory another run is writing.
CLI_CASES = [
    ("compress: --eps 1.5 (outside [0, 1))", ["compress", "--eps", "1.5"], "eps"),
    ("compress: --eps with 2 values for 3 layers", ["compress", "--eps", "0.5,0.5"], "eps"),
    ("compress: --eps nan", ["compress", "--eps", "nan"], "eps"),
    ("compress: --n 0", ["compress", "--n", "0"], "n"),
    ("compress: --n 2 (too few samples for the report)", ["compress", "--n", "2"], "n"),
    ("compress: --n abc (not an integer)", ["compress", "--n", "abc"], "--n"),
    ("compress: --n 200000 (memory estimate above the available memory)",
     ["compress", "--n", "200000"], "n"),
    ("compress: --K 0", ["compress", "--K", "0"], "K"),
    ("compress: n < K", ["compress", "--n", "16", "--K", "20", "--p", "32"], "n"),
    ("compress: --p 0", ["compress", "--p", "0"], "p"),
    ("compress: --widths 0,8", ["compress", "--widths", "0,8"], "widths"),
    ("compress: --widths 64,,64 (empty field)", ["compress", "--widths", "64,,64"],
     "--widths"),
    ("compress: --widths , (no value)", ["compress", "--widths", ","], "--widths"),
    ("compress: --widths 100000000,64 (memory estimate, before XLA allocates)",
     ["compress", "--widths", "100000000,64"], "widths"),
    ("compress: --depth 0", ["compress", "--depth", "0"], "depth"),
    ("compress: unknown --activations", ["compress", "--activations", "reluu"], "activations"),
    ("compress: --activations relu,,tanh (empty field)",
     ["compress", "--activations", "relu,,tanh"], "--activations"),
    ("compress: unknown --data", ["compress", "--data", "cifar10"], "data"),
    ("compress: --data official_mixed with p < 8K",
     ["compress", "--data", "official_mixed", "--p", "8", "--K", "2"], "p"),
    ("compress: --family k_level without valid --levels",
     ["compress", "--family", "k_level", "--levels", "1"], "levels"),
    ("compress: --family k_level --levels 200 (unbounded solver work)",
     ["compress", "--family", "k_level", "--levels", "200"], "levels"),
    ("compress: --levels with a family other than k_level",
     ["compress", "--family", "ternary", "--levels", "4"], "levels"),
    ("compress: --kurtosis-tol 1e-12 (the eps_1 search cannot resolve it)",
     ["compress", "--kurtosis-tol", "1e-12"], "kurtosis-tol"),
    ("compress: --kurtosis-tol nan", ["compress", "--kurtosis-tol", "nan"], "kurtosis-tol"),
    ("compress: --hidden-tau -1", ["compress", "--hidden-tau", "-1"], "hidden-tau"),
    ("compress: --seed -1", ["compress", "--seed", "-1"], "seed"),
    ("compress: --seed 2147483647 (derived seeds seed + 1, seed + 2 overflow)",
     ["compress", "--seed", "2147483647"], "seed"),
    ("compress: --seed 99999999999", ["compress", "--seed", "99999999999"], "seed"),
    ("compress: --max-memory-gb 0", ["compress", "--max-memory-gb", "0"], "max-memory-gb"),
    ("compress: --platform quantum", ["compress", "--platform", "quantum"], "--platform"),
    ("compress: --platform tpu in float64 (TPUs have no float64)",
     ["compress", "--platform", "tpu"], "platform"),
    ("compress: --out is an existing file", ["compress", "--out", "@FILE"], "out"),
    ("compress: --out under a file (cannot be created)", ["compress", "--out", "@FILE/sub"],
     "out"),
    ("compress: --out \"\" (empty path)", ["compress", "--out", ""], "out"),
    ("compress: --out with a 300-character folder name", ["compress", "--out", "@LONG"],
     "out"),
    ("compress: --out . (the current directory would be replaced)",
     ["compress", "--out", "."], "out"),
    ("compress: --out / (a file-system root)", ["compress", "--out", "/"], "out"),
    ("compress: --out where another run is writing", ["compress", "--out", "@LOCKED"], "out"),
    ("spectrum: --p -3", ["spectrum", "--p", "-3"], "p"),
    ("spectrum: --kinds bogus", ["spectrum", "--kinds", "bogus"], "kinds"),
    ("spectrum: --kinds ck,,ntk (empty field)", ["spectrum", "--kinds", "ck,,ntk"], "kinds"),
    ("spectrum: unknown --method", ["spectrum", "--method", "exact"], "--method"),
    ("spectrum: --n 1", ["spectrum", "--n", "1"], "n"),
    ("spectrum: --seed -5", ["spectrum", "--seed", "-5"], "seed"),
    ("spectrum: --out \"\" (empty path)", ["spectrum", "--out", ""], "out"),
    ("figure: unknown figure name", ["figure", "fig99"], "name"),
    ("figure: fig1 --widths 64,,64 (empty field)", ["figure", "fig1", "--widths", "64,,64"],
     "widths"),
    ("figure: fig1 --n 1", ["figure", "fig1", "--n", "1"], "n"),
    ("figure: fig1 --out \"\" (empty path)", ["figure", "fig1", "--out", ""], "out"),
    ("figure: fig1 --platform quantum", ["figure", "fig1", "--platform", "quantum"],
     "--platform"),
    ("check: unknown check name", ["check", "no_such_check"], "name"),
    ("check: ck_equivalence --max-n 100", ["check", "ck_equivalence", "--max-n", "100"],
     "--max-n"),
    ("check: ck_equivalence --seed -1", ["check", "ck_equivalence", "--seed", "-1"],
     "--seed"),
    ("check: ck_equivalence --out with a 300-character folder name",
     ["check", "ck_equivalence", "--out", "@LONG"], "out"),
    ("bench: unknown benchmark name", ["bench", "no_such_bench"], "name"),
    ("bench: time_to_first_result --repeats 0",
     ["bench", "time_to_first_result", "--repeats", "0"], "repeats"),
    ("unknown command", ["frobnicate"], "COMMAND"),
    ("--platform quantum before the command", ["--platform", "quantum", "compress"],
     "--platform"),
]


def _expand(argv, tmp: Path) -> tuple[list[str], Path, list]:
    """Fill the placeholders; returns (argv, the run directory, objects to keep alive)."""
    from experiments.harness import RunDir

    f = tmp / "a_file"
    out = tmp / "out"
    keep = []
    if any("@FILE" in a for a in argv):
        f.write_text("x")
    if "@LOCKED" in argv:
        keep.append(RunDir(tmp / "locked", {"holder": True}))   # another run in progress
    argv = [a.replace("@FILE", str(f)).replace("@LONG", str(tmp / ("a" * 300)))
            .replace("@LOCKED", str(tmp / "locked")) for a in argv]
    if argv[0] in ("compress", "spectrum"):
        if "--out" not in argv:
            argv = [*argv, "--out", str(out)]
        argv = [*argv, "--no-progress"]
    return argv, out, keep


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_one_line_no_traceback_nothing_written(case, tmp_path, capsys,
                                                             monkeypatch):
    from experiments.cli import main

    _, argv, param = case
    monkeypatch.chdir(tmp_path)            # default run directories would go here
    argv, out, keep = _expand(argv, tmp_path)
    code = main(argv)
    cap = capsys.readouterr()
    assert code == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("ntkcomp"), lines[0]
    assert ": error:" in lines[0], lines[0]
    assert "Traceback" not in cap.err
    assert re.search(rf"(?<![\w-]){re.escape(param)}(?![\w])", lines[0]), lines[0]
    # nothing half-written: no output directory, staging directory or lock was left
    left = sorted(p.name for p in tmp_path.iterdir() if "locked" not in p.name)
    assert left in ([], ["a_file"]), left
    for holder in keep:
        holder.abort()


def _cli_process(argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "experiments.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_process_exit_code_and_debug_traceback(tmp_path):
    """A real process: exit status 2, one stderr line; --debug adds the traceback."""
    argv = ["compress", "--eps", "1.5", "--out", str(tmp_path / "o"), "--no-progress"]
    r = _cli_process(argv)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "eps" in r.stderr and "Traceback" not in r.stderr
    r = _cli_process([*argv, "--debug"])
    assert r.returncode == 2 and "Traceback (most recent call last)" in r.stderr
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------
def test_table_is_large_and_closing_note_lists_every_case():
    assert len(API_CASES) + len(CLI_CASES) >= 60
    assert len(CLI_CASES) >= 50
    assert len({c.id for c in API_CASES}) == len(API_CASES)
    note = (Path(__file__).parent / "BAD_INPUTS.md").read_text()
    for c in API_CASES:
        assert c.id in note, f"BAD_INPUTS.md lacks {c.id!r}: regenerate it"
    for cid, _, _ in CLI_CASES:
        assert cid in note, f"BAD_INPUTS.md lacks {cid!r}: regenerate it"


def test_closing_note_table_is_current():
    """BAD_INPUTS.md is exactly what the tables produce today (messages included): a
    changed message or choice list must be regenerated, not left stale."""
    note = (Path(__file__).parent / "BAD_INPUTS.md").read_text()
    assert _markdown() == note, ("tests/BAD_INPUTS.md is stale: regenerate it with "
                                 "`python tests/test_bad_inputs.py > tests/BAD_INPUTS.md`")


def _markdown() -> str:
    """The closing note: every bad input and the exact error it gets (run the table)."""
    import contextlib
    import io
    import tempfile

    from experiments.cli import main

    rows = ["# Bad inputs and the errors they get", "",
            "Generated by `python tests/test_bad_inputs.py > tests/BAD_INPUTS.md` from the",
            "tables in `tests/test_bad_inputs.py` (which assert each of these).", "",
            "## Python API", "", "| area | bad input | exception | message |",
            "|---|---|---|---|"]
    for c in API_CASES:
        with tempfile.TemporaryDirectory() as d:
            e = c.run(Path(d))
        msg = " ".join(str(e).split()).replace(d, "<tmp>").replace("|", "\\|")
        rows.append(f"| {c.area} | {c.id} | `{type(e).__name__}` | {msg} |")
    rows += ["", "## Command line (`ntkcomp ...`)", "",
             "Every case exits with status 2, prints this one line on stderr (no traceback "
             "unless `--debug`) and writes nothing.", "",
             "| bad input | arguments | stderr |", "|---|---|---|"]
    cwd = os.getcwd()
    for cid, argv, _ in CLI_CASES:
        with tempfile.TemporaryDirectory() as d:
            os.chdir(d)
            try:
                full, _, keep = _expand(argv, Path(d))
                err = io.StringIO()
                with contextlib.redirect_stderr(err), \
                        contextlib.redirect_stdout(io.StringIO()):
                    code = main(full)
                for holder in keep:
                    holder.abort()
            finally:
                os.chdir(cwd)
        shown = " ".join(a.replace("@FILE", "<existing file>").replace("@LONG", "<300 x a>")
                         .replace("@LOCKED", "<dir being written>") or '""' for a in argv)
        line = err.getvalue().strip().replace(d, "<tmp>").replace("|", "\\|")
        # the available memory is the host's: shown as a placeholder
        line = re.sub(r"more than the [0-9.e+]+ GB available", "more than the <available> GB "
                      "available", line)
        rows.append(f"| {cid} | `ntkcomp {shown}` | {line} (exit {code}) |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(_markdown())
