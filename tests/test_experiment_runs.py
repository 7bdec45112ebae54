"""Transactional runs of the experiments (issue 30, item 1): every experiment writes its
result folder through :class:`experiments.harness.RunDir`.

For ``experiments/compress_example.py`` and ``experiments/single_draw_compounded_law.py``
(which share a result folder, written with ``keep_previous=True``), at tiny sizes:

* a run completes, writes its files and carries over the folder's other files;
* a second run into the same folder while one is writing is refused (lock, exit status 2);
* a run that fails half-way leaves the folder byte for byte as it was and no staging
  directory or lock beside it; finished points of a resumable sweep are the only thing kept,
  and the next run reuses them.

Also :class:`RunDir`'s ``keep_previous`` / ``resume`` / ``abort`` on their own, the JSON
record of a theory check's report, and the accuracy experiments' JSON + PNG pair.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from experiments.harness import RunDir

TINY = ["--n", "32", "--widths", "16", "16", "8"]


def _tree(path: Path) -> dict:
    """Relative path -> bytes of every file under ``path``."""
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
            if f.is_file()}


def _beside(out: Path) -> list[str]:
    """Staging directories, locks and backups of ``out`` left in its parent."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _previous(out: Path) -> dict:
    """A complete earlier result folder: another command's files and a sweep table."""
    out.mkdir(parents=True)
    (out / "other_command.md").write_text("written by another command\n")
    (out / "sweep.json").write_text(json.dumps({"rows": []}) + "\n")
    (out / "summary.md").write_text("| old table |\n")
    return _tree(out)


# --------------------------------------------------------------------- RunDir itself ----

def test_keep_previous_carries_other_files_and_replaces_whole(tmp_path):
    out = tmp_path / "shared"
    with RunDir(out) as rd:
        rd.write_text("a.md", "a1")
        rd.write_text("b.md", "b1")
    with RunDir(out, keep_previous=True) as rd:
        assert rd.file("a.md").read_text() == "a1"          # the staging copy
        rd.write_text("b.md", "b2")
        rd.write_text("sub/c.md", "c2")
        assert (out / "b.md").read_text() == "b1"           # out untouched until the commit
    assert _tree(out) == {"a.md": b"a1", "b.md": b"b2", "sub/c.md": b"c2"}
    assert _beside(out) == []


def test_abort_removes_staging_but_keeps_new_sweep_points(tmp_path):
    out = tmp_path / "run"
    with RunDir(out, resume=("pts",)) as rd:
        rd.write_text("pts/one.json", "1")
    before = _tree(out)
    with pytest.raises(RuntimeError), RunDir(out, resume=("pts",)) as rd:
        assert rd.file("pts/one.json").exists()             # copied from the previous run
        rd.write_text("results.json", "{}")
        raise RuntimeError("fails before any new point")
    assert _tree(out) == before and _beside(out) == []
    with pytest.raises(RuntimeError), RunDir(out, resume=("pts",)) as rd:
        rd.write_text("pts/two.json", "2")                  # a point finished by this run
        rd.write_text("results.json", "{}")
        raise RuntimeError("fails after a point")
    assert _tree(out) == before
    assert _beside(out) == [".run.partial"]
    assert _tree(tmp_path / ".run.partial") == {"pts/one.json": b"1", "pts/two.json": b"2"}
    with RunDir(out, resume=("pts",)) as rd:                # the next run starts from them
        assert rd.file("pts/two.json").read_text() == "2"
    assert set(_tree(out)) == {"pts/one.json", "pts/two.json"} and _beside(out) == []


# -------------------------------------------------------------- compress_example.py ----

def test_compress_example_sweep_completes_and_keeps_other_files(tmp_path):
    from experiments import compress_example

    out = tmp_path / "n32"
    before = _previous(out)
    assert compress_example.main([*TINY, "--sweep", "--activations", "relu",
                                  "--out", str(out)]) == 0
    files = _tree(out)
    assert files["other_command.md"] == before["other_command.md"]
    for eps in ("0.0", "0.5", "0.9"):
        assert json.loads(files[f"relu_eps{eps}/report.json"])["n"] == 32
        assert f"relu_eps{eps}/spectra.png" in files
    rows = json.loads(files["sweep.json"])["rows"]
    assert [(r["activation"], r["eps"]) for r in rows] == [("relu", 0.0), ("relu", 0.5),
                                                           ("relu", 0.9)]
    assert files["summary.md"].startswith(b"| activation | eps |")
    assert _beside(out) == []


def test_compress_example_second_concurrent_run_is_refused(tmp_path, capsys):
    from experiments import compress_example

    out = tmp_path / "n32"
    before = _previous(out)
    holder = RunDir(out, keep_previous=True)                # another run in progress
    code = compress_example.main([*TINY, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "another run is writing into" in err
    assert len(err.strip().splitlines()) == 1
    holder.abort()
    assert _tree(out) == before and _beside(out) == []


def test_compress_example_failed_run_leaves_previous_content(tmp_path, monkeypatch, capsys):
    from experiments import compress_example

    real, calls = compress_example.run_one, []

    def run_one(*args, **kw):                               # the second point fails
        calls.append(kw["where"])
        if len(calls) == 2:
            raise RuntimeError("injected failure")
        return real(*args, **kw)

    monkeypatch.setattr(compress_example, "run_one", run_one)
    out = tmp_path / "n32"
    before = _previous(out)
    code = compress_example.main([*TINY, "--sweep", "--activations", "relu", "--no-exact",
                                  "--no-single-draw", "--out", str(out)])
    assert code == 1 and "injected failure" in capsys.readouterr().err
    assert calls == ["relu_eps0.0", "relu_eps0.5"]          # the first point was written
    assert _tree(out) == before and _beside(out) == []


def test_compress_example_failed_single_draw_sweep_resumes(tmp_path, monkeypatch):
    """A single-draw sweep that fails after its point finished keeps only that point
    (in the staging directory); the next run reuses it and computes nothing."""
    from experiments import compress_example

    out = tmp_path / "n32"
    before = _previous(out)
    argv = [*TINY, "--single-draw-widths", "16", "--activations", "relu", "--depth", "2",
            "--out", str(out)]

    def fail(*args, **kw):
        raise RuntimeError("injected failure after the sweep")

    with monkeypatch.context() as m:
        m.setattr(compress_example, "single_draw_table", fail)
        assert compress_example.main(argv) == 1
    assert _tree(out) == before
    assert _beside(out) == [".n32.partial"]
    kept = _tree(tmp_path / ".n32.partial")
    assert kept and all(k.startswith("single_draw/") for k in kept)
    assert any(k.startswith("single_draw/points/") for k in kept)

    def no_recompute(**cfg):
        raise AssertionError("a finished point was computed again")

    monkeypatch.setattr(compress_example, "single_draw_point", no_recompute)
    assert compress_example.main(argv) == 0
    files = _tree(out)
    assert files["other_command.md"] == before["other_command.md"]
    assert json.loads(files["single_draw_vs_width.json"])["points"][0]["width"] == 16
    assert b"## Single-draw agreement vs width" in files["summary.md"]
    assert files["summary.md"].startswith(b"| old table |")
    assert f"--out {out}".encode() in files["summary.md"]   # the final folder, not staging
    assert _beside(out) == []


# ------------------------------------------------------ single_draw_compounded_law.py ----

def _measured(out: Path) -> dict:
    """A compress_example result folder with a (hand-made) measured single-draw table."""
    out.mkdir(parents=True)
    point = {"activation": "relu", "width": 16, "n": 32, "p": 16, "depth": 2, "seed": 0,
             "family": "ternary", "k_max": 4,
             "rows": [{"eps": 0.0, "ck_w1_rel": 0.5, "ck_w1_rel_predicted": 0.4}]}
    (out / "single_draw_vs_width.json").write_text(json.dumps({"points": [point]}))
    (out / "other_command.md").write_text("written by another command\n")
    return _tree(out)


COMPOUNDED = ["--activations", "relu", "--eps", "0"]


def test_compounded_law_completes_keeps_other_files_and_resumes(tmp_path, monkeypatch):
    from experiments import single_draw_compounded_law as law
    from experiments.compression import frontier

    out = tmp_path / "n32"
    before = _measured(out)
    assert law.main([*COMPOUNDED, "--widths", "16", "--out", str(out)]) == 0
    files = _tree(out)
    assert {k: files[k] for k in before} == before
    assert set(files) == set(before) | {law.JSON, "single_draw_compounded.md"}
    entries = json.loads(files[law.JSON])["entries"]
    assert list(entries) == ["relu:16"]
    assert b"| relu | 16 | 0.5 | 0.0 | 0.500 | 0.400 |" in files["single_draw_compounded.md"]
    assert _beside(out) == []

    def no_recompute(*args, **kw):
        raise AssertionError("an entry of the JSON was computed again")

    monkeypatch.setattr(frontier, "predicted_single_draw", no_recompute)
    assert law.main([*COMPOUNDED, "--widths", "16", "--out", str(out)]) == 0
    assert json.loads((out / law.JSON).read_text())["entries"] == entries


def test_compounded_law_second_concurrent_run_is_refused(tmp_path, capsys):
    from experiments import single_draw_compounded_law as law

    out = tmp_path / "n32"
    before = _measured(out)
    holder = RunDir(out, keep_previous=True)                # another run in progress
    code = law.main([*COMPOUNDED, "--widths", "16", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "another run is writing into" in err
    holder.abort()
    assert _tree(out) == before and _beside(out) == []


def test_compounded_law_failed_run_leaves_previous_content(tmp_path, monkeypatch, capsys):
    """The second point fails: the folder is unchanged; the finished first point is all that
    is kept, and the next run computes only the second one."""
    from experiments import single_draw_compounded_law as law
    from experiments.compression import frontier

    real, calls = frontier.predicted_single_draw, []

    def fail_at_32(act, widths, **kw):
        calls.append(widths[0])
        if widths[0] == 32:
            raise RuntimeError("injected failure")
        return real(act, widths, **kw)

    out = tmp_path / "n32"
    before = _measured(out)
    argv = [*COMPOUNDED, "--widths", "16", "32", "--out", str(out)]
    monkeypatch.setattr(frontier, "predicted_single_draw", fail_at_32)
    assert law.main(argv) == 1 and "injected failure" in capsys.readouterr().err
    assert _tree(out) == before
    assert _beside(out) == [".n32.partial"]
    kept = _tree(tmp_path / ".n32.partial")
    assert kept and all(k.startswith(f"{law.SWEEP_DIR}/") for k in kept)

    calls.clear()
    monkeypatch.setattr(frontier, "predicted_single_draw",
                        lambda act, widths, **kw: (calls.append(widths[0]),
                                                   real(act, widths, **kw))[1])
    assert law.main(argv) == 0
    assert calls == [32]
    assert list(json.loads((out / law.JSON).read_text())["entries"]) == ["relu:16", "relu:32"]
    assert law.SWEEP_DIR not in {p.name for p in out.iterdir()}
    assert _beside(out) == []


def test_compounded_law_fails_before_its_first_point_leaves_nothing(tmp_path, monkeypatch):
    from experiments import single_draw_compounded_law as law
    from experiments.compression import frontier

    def fail(*args, **kw):
        raise RuntimeError("injected failure")

    out = tmp_path / "n32"
    before = _measured(out)
    monkeypatch.setattr(frontier, "predicted_single_draw", fail)
    assert law.main([*COMPOUNDED, "--widths", "16", "--out", str(out)]) == 1
    assert _tree(out) == before and _beside(out) == []
    assert law.main([*COMPOUNDED, "--out", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "missing").exists() and _beside(tmp_path / "missing") == []


def test_both_commands_keep_each_others_sweep_points():
    from experiments import compress_example, single_draw_compounded_law as law

    assert {"single_draw", law.SWEEP_DIR} <= set(compress_example.RESUME_DIRS)


# ------------------------------------------------- theory checks, accuracy experiments ----

def test_theory_check_report_writes_its_json_record_inside_the_run(tmp_path):
    from theory_checks import _common as C

    out = tmp_path / "check"
    args = argparse.Namespace(out=str(out), quick=True, no_report=False, seed=0, debug=False,
                              no_progress=True)
    path = C.write_report("demo", title="t", claim="c", criteria="k", tables={}, args=args,
                          data={"rows": [1, 2]})
    assert path == out / "demo_quick.md"
    assert json.loads((out / "demo_quick.json").read_text()) == {"rows": [1, 2]}
    assert _beside(out) == []


def test_accuracy_result_and_figure_are_written_together(tmp_path):
    import matplotlib.pyplot as plt

    from experiments.accuracy import plots

    fig = plt.figure()
    plots.write_result(tmp_path / "res" / "mnist.json", {"a": 1}, fig)
    assert json.loads((tmp_path / "res" / "mnist.json").read_text()) == {"a": 1}
    assert (tmp_path / "res" / "mnist.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["mnist.json", "mnist.png"]
