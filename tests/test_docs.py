"""The documentation: docstrings of every public name, and the docs build's configuration.

The full build (``python -m sphinx -W --keep-going -b html docs docs/_build/html``, which
also executes every tutorial) runs in ``.ci/run``; here only what is fast.
"""
from __future__ import annotations

import ast
import enum
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ARGS_HEADINGS = ("Args:", "Arguments:", "Parameters:", "Keyword Args:", "Keyword Arguments:")
RETURNS_HEADINGS = ("Returns:", "Return:", "Yields:")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def public_names(root: str = "ntkcomp") -> list[tuple[str, object]]:
    """``(dotted name, object)`` for every non-module name in the ``__all__`` of ``root``
    and of every module reachable from it through ``__all__``."""
    seen, out, queue = set(), [], [root]
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        module = importlib.import_module(name)
        for item in getattr(module, "__all__", []):
            if item.startswith("__"):
                continue
            value = getattr(module, item)
            if inspect.ismodule(value):
                if value.__name__.startswith(root + "."):
                    queue.append(value.__name__)
            else:
                out.append((f"{name}.{item}", value))
    return out


def _section(doc: str, headings: tuple[str, ...]) -> str | None:
    """The body of the first Google-style section among ``headings`` (None if absent)."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in headings:
            indent = len(line) - len(line.lstrip())
            body = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt)
            return "\n".join(body)
    return None


def _documented_params(section: str) -> set[str]:
    names = set()
    for line in textwrap.dedent(section).splitlines():
        match = re.match(r"^\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:", line)
        if match and not line.startswith(" "):
            names.add(match.group(1))
        listed = re.match(r"^([A-Za-z_]\w*(?:,\s*[A-Za-z_]\w*)+)\s*:", line)
        if listed:
            names.update(n.strip() for n in listed.group(1).split(","))
    return names


def _returns_value(func) -> bool:
    """Whether ``func`` returns something other than None (annotation, else its source)."""
    try:
        hints = inspect.signature(func).return_annotation
    except (TypeError, ValueError):
        hints = inspect.Signature.empty
    if hints is not inspect.Signature.empty:
        return hints not in (None, "None", type(None))
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return True
    body = tree.body[0]
    for node in ast.walk(body):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return True
    return False


def _parameters(func) -> list[str]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values() if p.name not in ("self", "cls")]


def docstring_problems(name: str, obj) -> list[str]:
    """What the docstring of public name ``name`` lacks (empty list when complete)."""
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return [f"{name}: no docstring"]
    problems = []
    if inspect.isclass(obj):
        if issubclass(obj, enum.Enum) or issubclass(obj, Exception):
            return []
        params = _parameters(obj)
        has_attrs = _section(doc, ("Attributes:",)) is not None
        args = _section(doc, ARGS_HEADINGS)
        if params and not has_attrs and args is None:
            problems.append(f"{name}: class without an 'Attributes:' or 'Args:' section")
        elif params and not has_attrs:
            missing = set(params) - _documented_params(args)
            if missing:
                problems.append(f"{name}: Args does not name {sorted(missing)}")
        return problems
    if callable(obj):
        params = _parameters(obj)
        if params:
            args = _section(doc, ARGS_HEADINGS)
            if args is None:
                problems.append(f"{name}: no 'Args:' section for {params}")
            else:
                missing = set(params) - _documented_params(args)
                if missing:
                    problems.append(f"{name}: Args does not name {sorted(missing)}")
        if _returns_value(obj) and _section(doc, RETURNS_HEADINGS) is None:
            problems.append(f"{name}: no 'Returns:' section")
    return problems


# --- docstrings ---------------------------------------------------------------------------

def test_docstring_checker_catches_a_bad_docstring():
    def good(x, y=1):
        """Add.

        Args:
            x: first.
            y: second.

        Returns:
            The sum.
        """
        return x + y

    def bad(x, y=1):
        """Add.

        Args:
            x: first.
        """
        return x + y

    assert docstring_problems("good", good) == []
    found = docstring_problems("bad", bad)
    assert any("['y']" in p for p in found) and any("Returns" in p for p in found)


def test_every_public_name_documents_its_arguments_and_result():
    problems = [p for name, obj in public_names() for p in docstring_problems(name, obj)]
    assert not problems, f"{len(problems)} docstring problems:\n" + "\n".join(problems)


# --- docs build configuration ------------------------------------------------------------

def test_docs_configuration_loads():
    conf = _load(DOCS / "conf.py", "ntkcomp_docs_conf")
    assert conf.nb_execution_raise_on_error is True
    assert conf.nb_execution_timeout > 0
    for ext in ("myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary",
                "sphinx.ext.napoleon", "sphinx.ext.mathjax"):
        assert ext in conf.extensions
    for local in ("ntkcomp_api", "ntkcomp_results"):
        assert local in conf.extensions and (DOCS / "_ext" / f"{local}.py").exists()
    for page in ("index.md", "api/index.md", "results/index.md", "tutorials/index.md",
                 *(f"theory/{p}.md" for p in ("data", "network", "moments", "equivalents",
                                              "finite_width", "universality", "compression",
                                              "memory"))):
        assert (DOCS / page).exists(), page


def test_results_sources_exist():
    """Every result file the results pages show is in the repository."""
    manifest = tomllib.loads((DOCS / "results" / "sources.toml").read_text())
    files = [e["file"] for spec in manifest.values() for e in spec.get("entry", [])]
    assert files
    missing = [f for f in files if not (ROOT / f).exists()]
    assert not missing, missing


def test_report_parser_counts_verdicts():
    """The verdict counts the theory pages show agree with an independent count of the
    report's PASS/FAIL cells."""
    results = _load(DOCS / "_ext" / "ntkcomp_results.py", "ntkcomp_docs_results")
    reports = results.load_reports(ROOT)
    judged = {k: r for k, r in reports.items() if r.verdict_rows()}
    assert judged, "no theory-check report with a verdict table"
    for name, report in judged.items():
        text = (ROOT / "theory_checks" / "reports" / f"{name}.md").read_text()
        cells = [line.rstrip().rstrip("|").rsplit("|", 1)[-1].strip()
                 for line in text.splitlines() if line.startswith("|")]
        passed = sum(c.startswith("PASS") for c in cells)
        failed = sum(c.startswith("FAIL") for c in cells)
        assert report.counts() == (passed, passed + failed), name
        assert report.command.startswith(("python -m theory_checks.", "ntkcomp check ")), name


# --- README -------------------------------------------------------------------------------

def readme_python_blocks() -> list[str]:
    """The fenced ``python`` blocks of README.md, in order."""
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_example_runs(tmp_path):
    """The README's example, executed as written in a fresh interpreter (from an empty
    directory, so that it imports the installed package): exit status 0 and the lines it
    prints."""
    blocks = readme_python_blocks()
    assert blocks, "README.md has no python example"
    script = tmp_path / "readme_example.py"
    script.write_text("\n".join(blocks))
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["PYTHONPATH"] = str(ROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "relative operator-norm error of the equivalent" in proc.stdout
    assert "memory factor" in proc.stdout
