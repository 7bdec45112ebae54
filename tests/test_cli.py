"""The ntkcomp command line: help texts, one-line errors (exit 2), run directories."""
import json
import subprocess
import sys

import numpy as np
import pytest

from experiments.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("cmd", [[], ["compress"], ["spectrum"], ["check"], ["figure"],
                                 ["bench"]])
def test_help_exits_zero_and_teaches(capsys, cmd):
    assert main([*cmd, "--help"]) == 0
    text = capsys.readouterr().out
    assert "usage: ntkcomp" in text
    if cmd == ["compress"]:
        for word in ("--eps", "--family", "--activations", "--widths", "--data", "--out",
                     "memory factor", "identity shift", "sparse ternary"):
            assert word.lower() in text.lower()


BAD = [
    (["compress", "--eps", "1.5"], "eps"),
    (["compress", "--eps", "abc"], "eps"),
    (["compress", "--data", "cifar"], "data"),
    (["compress", "--widths", "10,x"], "widths"),
    (["compress", "--widths", "0,10"], "widths"),
    (["compress", "--activations", "nope"], "activation"),
    (["compress", "--widths", "8,8", "--depth", "3"], "depth"),
    (["compress", "--n", "1"], "n"),
    (["compress", "--family", "quinary"], "family"),
    (["compress", "--family", "k_level"], "levels"),
    (["compress", "--hidden-tau", "big"], "hidden-tau"),
    (["spectrum", "--kinds", "ck,foo"], "kinds"),
    (["spectrum", "--activations", "relu,relu", "--widths", "8,8,8"], "activations"),
    (["frobnicate"], "invalid choice"),
    (["figure", "fig99"], "name"),
    (["check", "no_such_check"], "name"),
    (["bench", "no_such_bench"], "name"),
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv, needle):
    out_dir = tmp_path / "out"
    extra = ["--out", str(out_dir), "--no-progress"] if argv[0] in ("compress",
                                                                     "spectrum") else []
    code, out, err = _run(capsys, *argv, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err                      # one readable line, no traceback
    assert lines[0].startswith("ntkcomp: error: ")
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not out_dir.exists()                      # nothing written before validation


def test_debug_shows_traceback(capsys, tmp_path):
    code, _, err = _run(capsys, "compress", "--eps", "1.5", "--out", str(tmp_path / "o"),
                        "--debug")
    assert code == 2 and "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("ntkcomp: error: ")


def test_unwritable_output_is_a_one_line_error(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = _run(capsys, "spectrum", "--n", "16", "--p", "8", "--widths", "8",
                        "--out", str(f), "--no-progress")
    assert code == 2 and "out" in err and len(err.strip().splitlines()) == 1


def test_listing_names(capsys):
    code, out, _ = _run(capsys, "figure")
    assert code == 0 and "available for 'ntkcomp figure'" in out


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "experiments.cli", "compress", "--eps", "2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("ntkcomp: error: ") and "eps" in r.stderr


def test_spectrum_run_writes_run_directory(capsys, tmp_path):
    out = tmp_path / "spec"
    code, stdout, err = _run(capsys, "spectrum", "--n", "48", "--p", "24", "--widths", "32,32",
                             "--no-exact", "--out", str(out), "--no-progress", "--seed", "3")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metadata.json", "results.json", "results.npz", "spectra.png",
            "spectra.pdf"} <= names
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["n"] == 48 and cfg["widths"] == [32, 32] and cfg["seeds"]["data"] == 3
    meta = json.loads((out / "metadata.json").read_text())
    assert {"ntkcomp", "jax", "numpy"} <= set(meta["versions"]) and "git_revision" in meta
    res = json.loads((out / "results.json").read_text())
    arr = np.load(out / "results.npz")
    # independent check of the stored single-draw CK spectrum: recompute it from scratch
    import jax

    from ntkcomp.data import gmm_preset
    from ntkcomp.networks import MLP

    k_train, _ = jax.random.split(jax.random.PRNGKey(3))
    s = gmm_preset("mixed", 24).sample(k_train, 48)
    net = MLP([32, 32], "relu", tau0=float(s.stats.tau0))
    H = net.features(net.init(jax.random.PRNGKey(4), 24), s.X)[-1]
    ev = np.linalg.eigvalsh(np.asarray(H @ H.T))
    # same float64 matrix, two eigensolvers: agreement to 1e-10 absolute
    np.testing.assert_allclose(np.sort(arr["ck_single"]), ev, atol=1e-10)
    assert res["ck"]["w1_single_equiv"] >= 0 and "W1" in stdout
    # the random-features overlay (default on): n - d_L = 16 zero eigenvalues like the draw
    assert "ck_rf" in arr.files and "random-features law" in stdout
    assert np.sum(np.abs(arr["ck_rf"]) < 1e-10 * arr["ck_rf"].max()) == 48 - 32
    assert res["ck"]["w1_single_rf"] >= 0 and "ck_rf" not in cfg.get("kinds", [])
    assert cfg["rf_law"] is True and cfg["seeds"]["rf_law"] == 3 + 5


def test_spectrum_no_rf_law(capsys, tmp_path):
    out = tmp_path / "spec"
    code, stdout, err = _run(capsys, "spectrum", "--n", "32", "--p", "16", "--widths", "16",
                             "--no-exact", "--no-rf-law", "--kinds", "ck", "--out", str(out),
                             "--no-progress")
    assert code == 0, err
    assert "ck_rf" not in np.load(out / "results.npz").files
    assert "random-features" not in stdout


def test_spectrum_help_documents_large_n_switch(capsys):
    assert main(["spectrum", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "NTKCOMP_LARGE_N_THRESHOLD" in text and "4096" in text
    for word in ("gram", "slq", "kpm", "dense"):
        assert word in text


def _ck_eigs_from_scratch(seed, n, p, widths):
    """Eigenvalues of the single draw's CK_L = H H^T, (n, n) eigvalsh, independent of the CLI."""
    import jax

    from ntkcomp.data import gmm_preset
    from ntkcomp.networks import MLP

    k_train, _ = jax.random.split(jax.random.PRNGKey(seed))
    s = gmm_preset("mixed", p).sample(k_train, n)
    net = MLP(widths, "relu", tau0=float(s.stats.tau0))
    H = net.features(net.init(jax.random.PRNGKey(seed + 1), p), s.X)[-1]
    return np.linalg.eigvalsh(np.asarray(H @ H.T))


def test_spectrum_method_gram(capsys, tmp_path):
    """--method gram: the CK_L spectrum from the d_L x d_L Gram (d_L = 16 < n = 40) equals
    the n x n eigendecomposition (n - d_L zeros included); the NTK falls back to auto."""
    out = tmp_path / "spec"
    code, stdout, err = _run(capsys, "spectrum", "--n", "40", "--p", "20", "--widths", "24,16",
                             "--method", "gram", "--no-exact", "--out", str(out),
                             "--no-progress", "--seed", "2")
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["ck"]["method"] == "gram" and res["ntk"]["method"] == "dense"
    ev = _ck_eigs_from_scratch(2, 40, 20, [24, 16])
    # same float64 H, H^T H vs H H^T: nonzero eigenvalues agree to rounding (1e-10 abs,
    # eigenvalues are O(1)); the n - d_L = 24 others are exact zeros vs rounding-level ones
    np.testing.assert_allclose(np.sort(np.load(out / "results.npz")["ck_single"]), ev,
                               atol=1e-10)
    assert "[gram]" in stdout


def test_spectrum_auto_switches_above_threshold(capsys, tmp_path, monkeypatch):
    """method auto above LARGE_N_THRESHOLD (lowered to 32 < n = 48): exact Gram for the CK,
    SLQ for the NTK, no exact weight average."""
    monkeypatch.setenv("NTKCOMP_LARGE_N_THRESHOLD", "32")
    out = tmp_path / "spec"
    code, stdout, err = _run(capsys, "spectrum", "--n", "48", "--p", "24", "--widths", "32,16",
                             "--out", str(out), "--no-progress", "--seed", "4")
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["large_n_threshold"] == 32
    assert res["ck"]["method"] == "gram" and res["ntk"]["method"] == "slq"
    assert "relop_expected_equiv" not in res["ck"]
    np.testing.assert_allclose(np.sort(np.load(out / "results.npz")["ck_single"]),
                               _ck_eigs_from_scratch(4, 48, 24, [32, 16]), atol=1e-10)


@pytest.mark.parametrize("extra", [
    ["--no-report"],
    pytest.param([], marks=pytest.mark.slow),     # + spectral report: ~30 s of compiles
])
def test_compress_end_to_end_tiny(capsys, tmp_path, extra):
    """The README's first command at tiny size: every output file, the report keys, and the
    memory factor recomputed independently from the saved packed network."""
    out = tmp_path / "comp"
    code, stdout, err = _run(capsys, "compress", "--n", "32", "--p", "16", "--widths", "16,16",
                             "--family", "ternary", "--eps", "0.5", "--out", str(out),
                             "--no-progress", "--seed", "1", *extra)
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    expected = {"config.json", "metadata.json", "report.json", "results.json", "results.npz",
                "compressed_network.npz"}
    if not extra:
        expected |= {"report.png"}
        assert "report.pdf" not in names            # the report figure is PNG only
    assert expected <= names
    meta = json.loads((out / "metadata.json").read_text())
    assert {"ntkcomp", "jax", "numpy"} <= set(meta["versions"]) and "git_revision" in meta
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["seeds"] == {"data": 1, "solver": 1, "weights": 3}
    assert cfg["family"] == "ternary" and cfg["eps"] == 0.5
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]   # atomic writes
    rep = json.loads((out / "report.json").read_text())
    keys = ["memory_factor", "layers", "identity_shift"]
    if not extra:
        keys += ["ck_rel_diff", "ntk_rel_diff"]
    for key in keys:
        assert key in rep
    assert len(rep["layers"]) == 2 and all("feasible" in L for L in rep["layers"])
    from ntkcomp.compress.packing import load

    packed = load(out / "compressed_network.npz")
    dense_bits = 32 * (16 * 16 + 16 * 16 + 16)       # W_1, W_2 and w as float32
    assert rep["memory_factor"] == pytest.approx(dense_bits / packed.bits, rel=1e-12)
    assert "memory factor" in stdout


def test_compress_cli_defaults_match_the_api():
    """`ntkcomp compress` without options uses compress()'s own default family (ternary),
    and the experiment / figure defaults agree with it."""
    import inspect

    from experiments.cli import build_parser
    from ntkcomp.compress import compress
    from experiments.harness.accuracy import ACCURACY_DEFAULTS
    from experiments.harness.compression import COMPRESSION_DEFAULTS

    api = inspect.signature(compress).parameters["family"].default
    args = build_parser().parse_args(["compress"])
    assert args.family == api == "ternary"
    assert COMPRESSION_DEFAULTS["family"] == api and ACCURACY_DEFAULTS["family"] == api
