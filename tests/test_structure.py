"""The shape of the core library, checked from its source (AST, no imports).

Rules (the design contract of ``ntkcomp/``):

* a module has at most ``MAX_MODULE_LINES`` lines and a function at most
  ``MAX_FUNCTION_LINES`` (decorators and docstring included);
* no function-local import of ``ntkcomp`` in the core (imports sit at the top of the module);
* no private name or private module crosses a package: ``ntkcomp.a._b`` may be imported
  only from inside ``ntkcomp.a``; the lab (``experiments``, ``theory_checks``,
  ``paper_figures``) uses public names only;
* every subpackage declares ``__all__`` as a literal list of names it imports explicitly
  (no ``globals()`` tricks), and the core exports fewer than ``MAX_PUBLIC`` names in all;
* no module-level mutable containers (caches, registries) other than ``__all__``.

``EXCEPTIONS`` lists each deliberate departure with its reason.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORE = ROOT / "ntkcomp"
LAB = [ROOT / "experiments", ROOT / "theory_checks", ROOT / "paper_figures"]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MAX_PUBLIC = 100

# (relative path, rule) -> reason
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("experiments/benchmarks/ntk_speed.py", "private_import"):
        "times the empirical-NTK engine stage by stage (signals, tiles), which are internals",
}


def _modules(roots):
    for root in roots:
        if root.exists():
            yield from sorted(p for p in root.rglob("*.py") if "_build" not in p.parts)


def _rel(path):
    return str(path.relative_to(ROOT))


def _package_of(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] != "__init__" else ".".join(parts[:-1])


def _parse(path):
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(node):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names], []
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module], [a.name for a in node.names]
    return [], []


def _allowed(rel, rule):
    return (rel, rule) in EXCEPTIONS


def test_module_and_function_lengths():
    bad = []
    for path in _modules([CORE]):
        rel = _rel(path)
        n = len(path.read_text().splitlines())
        if n > MAX_MODULE_LINES and not _allowed(rel, "module_lines"):
            bad.append(f"{rel}: {n} lines > {MAX_MODULE_LINES}")
        for node in ast.walk(_parse(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = node.end_lineno - start + 1
                if length > MAX_FUNCTION_LINES and not _allowed(rel, f"function:{node.name}"):
                    bad.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert not bad, "\n".join(bad)


def test_no_function_local_imports_of_ntkcomp():
    # the core only: the lab's command line imports JAX-heavy modules lazily so that
    # ``ntkcomp --help`` and argument errors answer without loading JAX
    bad = []
    for path in _modules([CORE]):
        for fn in ast.walk(_parse(path)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                mods, _ = _imported_modules(node)
                rel_import = isinstance(node, ast.ImportFrom) and node.level > 0
                if rel_import or any(m.split(".")[0] in {"ntkcomp", "experiments",
                                                         "theory_checks", "paper_figures"}
                                     for m in mods):
                    bad.append(f"{_rel(path)}:{node.lineno} in {fn.name}")
    assert not bad, "function-local imports:\n" + "\n".join(bad)


def test_no_private_import_across_packages():
    bad = []
    for path in _modules([CORE] + LAB):
        if _allowed(_rel(path), "private_import"):
            continue
        here = _package_of(path)
        for node in ast.walk(_parse(path)):
            mods, names = _imported_modules(node)
            for mod in mods:
                parts = mod.split(".")
                if parts[0] not in {"ntkcomp", "experiments", "theory_checks", "paper_figures"}:
                    continue
                for i, part in enumerate(parts):
                    if part.startswith("_"):
                        owner = ".".join(parts[:i])
                        if not (here == owner or here.startswith(owner + ".")):
                            bad.append(f"{_rel(path)}:{node.lineno} imports {mod}")
                        break
                else:
                    for name in names:
                        if name.startswith("_") and not (here == mod
                                                         or here.startswith(mod + ".")):
                            bad.append(f"{_rel(path)}:{node.lineno} imports {mod}.{name}")
    assert not bad, "private names crossing packages:\n" + "\n".join(bad)


def _all_of(path):
    tree = _parse(path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def test_explicit_public_api():
    bad, total = [], 0
    inits = sorted(CORE.rglob("__init__.py"))
    for path in inits:
        names = _all_of(path)
        if names is None:
            bad.append(f"{_rel(path)}: no literal __all__")
            continue
        subpackages = {p.name for p in path.parent.iterdir() if (p / "__init__.py").exists()}
        total += len([n for n in names if n not in subpackages])
        text = path.read_text()
        if "globals()" in text:
            bad.append(f"{_rel(path)}: manipulates globals()")
    assert not bad, "\n".join(bad)
    assert total < MAX_PUBLIC, f"{total} public names in the core (limit {MAX_PUBLIC})"


def test_no_module_level_mutable_state():
    bad = []
    for path in _modules([CORE]):
        for node in _parse(path).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                    continue
                value = node.value
                mutable = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp,
                                             ast.ListComp, ast.SetComp)) or (
                    isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                    and value.func.id in {"dict", "list", "set", "defaultdict"})
                if mutable and not _allowed(_rel(path), "mutable_state"):
                    bad.append(f"{_rel(path)}:{node.lineno}")
            for deco in getattr(node, "decorator_list", []):
                src = ast.unparse(deco)
                if "lru_cache" in src or src.endswith("cache"):
                    bad.append(f"{_rel(path)}:{node.lineno} module-level cache {src}")
    assert not bad, "module-level mutable state (use tuples / MappingProxyType):\n" + "\n".join(bad)


@pytest.mark.parametrize("root", LAB, ids=lambda p: p.name)
def test_lab_packages_are_packages(root):
    assert (root / "__init__.py").exists(), f"{root.name} must be an importable package"
    bad = [_rel(p) for p in _modules([root]) if "sys.path" in p.read_text()]
    assert not bad, "sys.path manipulation in the lab:\n" + "\n".join(bad)
