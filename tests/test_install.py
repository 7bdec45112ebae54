"""A non-editable ``pip install .`` runs the lab from any directory (issue 26, item 1).

The package is built and installed (not editable) into a fresh virtual environment; its
dependencies come from the running environment (no network): the environment's
site-packages directory is appended to the new one's path by a ``.pth`` line, which adds
the directory without running its ``.pth`` files (so an editable install there cannot
shadow the installed copy). Every command runs from an empty temporary directory with no
``PYTHONPATH``, and must import ``ntkcomp``, ``experiments``, ``theory_checks`` and
``paper_figures`` from the new environment and write only under that directory.

The default suite installs and runs ``--help``, the listings and a tiny compress run; the
documented commands (``check ck_equivalence --quick``, ``figure fig1`` at a small size,
the default ``compress``) run with ``-m slow``.
"""
from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with ntkcomp installed from a wheel of this checkout (not editable)."""
    base = tmp_path_factory.mktemp("install")
    env_dir, wheels = base / "venv", base / "wheels"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], check=True, capture_output=True,
                             text=True).stdout.strip()
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
            if Path(p).is_dir()]
    Path(purelib, "_ntkcomp_test_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("ntkcomp-*.whl"))
    # the running pip installs into the new environment (console script included)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True)
    return env_dir


def _run(venv, tmp_path, *argv, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NTKCOMP_JAX_CACHE"] = str(tmp_path / "jax_cache")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([str(venv / "bin" / "ntkcomp"), *argv], cwd=work, env=env,
                          capture_output=True, text=True, timeout=timeout), work


def test_installed_packages_come_from_the_venv(venv, tmp_path):
    code = ("import ntkcomp, experiments.cli, theory_checks, paper_figures, "
            "experiments.benchmarks; print('\\n'.join(m.__file__ for m in (ntkcomp, "
            "experiments.cli, theory_checks, paper_figures, experiments.benchmarks)))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, env=env,
                       capture_output=True, text=True, check=True)
    for f in r.stdout.split():
        assert f.startswith(str(venv)), f"{f} is not the installed copy"


def test_installed_help_listing_and_tiny_compress(venv, tmp_path):
    r, work = _run(venv, tmp_path, "--help")
    assert r.returncode == 0 and "usage: ntkcomp" in r.stdout
    for cmd, name in (("check", "ck_equivalence"), ("figure", "fig1_spectra"),
                      ("bench", "time_to_first_result")):
        r, _ = _run(venv, tmp_path, cmd)
        assert r.returncode == 0 and name in r.stdout, r.stdout + r.stderr
    r, work = _run(venv, tmp_path, "compress", "--n", "16", "--p", "8", "--widths", "8,8",
                   "--no-report", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (work / "ntkcomp_runs" / "compress" / "report.json").exists()
    assert sorted(p.name for p in work.iterdir()) == ["ntkcomp_runs"]


@pytest.mark.slow
@pytest.mark.parametrize("argv, produced", [
    (["check", "ck_equivalence", "--quick"], "ntkcomp_runs/check/ck_equivalence_quick"),
    (["figure", "fig1", "--n", "128", "--p", "64", "--widths", "128,128"],
     "ntkcomp_runs/figure/fig1_spectra_custom"),
    (["compress"], "ntkcomp_runs/compress"),
])
def test_installed_documented_commands(venv, tmp_path, argv, produced):
    r, work = _run(venv, tmp_path, *argv, "--no-progress", timeout=3000)
    if argv[0] == "check":      # its exit status is the verdict (1: a FAIL in the table)
        assert r.returncode in (0, 1), r.stderr
    else:
        assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert any((work / produced).iterdir())
    assert sorted(p.name for p in work.iterdir()) == ["ntkcomp_runs"]
