"""Sphinx extension: write one API page per public ntkcomp module, driven by ``__all__``.

At ``config-inited`` it imports ``ntkcomp`` and, recursively, every module named in an
``__all__``; for each it writes ``docs/api/generated/<module>.rst`` with an autosummary
table of that module's ``__all__`` (autosummary then writes one page per name under
``docs/api/generated/names/``). Nothing is listed by hand: a name added to or removed
from an ``__all__`` appears in or disappears from the reference at the next build.
"""
from __future__ import annotations

import importlib
import inspect
import shutil
from pathlib import Path

try:  # the parsers are also used (and tested) without Sphinx
    from sphinx.util import logging
except ImportError:  # pragma: no cover - Sphinx absent
    import logging

LOGGER = logging.getLogger(__name__)
ROOT_PACKAGE = "ntkcomp"


def public_modules(root: str = ROOT_PACKAGE) -> dict[str, tuple[list[str], list[str]]]:
    """Return the public modules of ``root``: itself and every module named in an ``__all__``.

    Args:
        root: dotted name of the package to start from.

    Returns:
        ``{dotted module name: (submodule names, other public names)}`` in discovery
        order; a module or name that fails to import is reported as a Sphinx warning (the
        build fails under ``-W``) and left out.
    """
    found: dict[str, tuple[list[str], list[str]]] = {}
    queue = [root]
    while queue:
        name = queue.pop(0)
        if name in found:
            continue
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # reported, the build fails under -W
            LOGGER.warning("ntkcomp_api: cannot import %s: %s", name, exc)
            continue
        submodules, members = [], []
        found[name] = (submodules, members)
        for item in getattr(module, "__all__", []):
            if item.startswith("__"):
                continue
            try:
                value = getattr(module, item)
            except Exception as exc:
                LOGGER.warning("ntkcomp_api: %s.%s in __all__ but not importable: %s",
                               name, item, exc)
                continue
            if inspect.ismodule(value):
                if value.__name__.startswith(root + "."):
                    submodules.append(value.__name__)
                    queue.append(value.__name__)
            else:
                members.append(item)
    return found


def _page(name: str, submodules: list[str], members: list[str]) -> str:
    lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", ""]
    if submodules:
        lines += ["Subpackages and modules", "-" * 23, ""]
        lines += [f"- :doc:`{s}`" for s in submodules] + [""]
    if members:
        lines += ["Public names", "-" * 12, "", f".. currentmodule:: {name}", "",
                  ".. autosummary::", "   :toctree: names", "   :nosignatures:", ""]
        lines += [f"   {m}" for m in members] + [""]
    return "\n".join(lines)


def write_pages(app, config=None) -> None:
    """Regenerate ``docs/api/generated`` (called at ``config-inited``, before Sphinx
    looks for source files, so that the pages take part in this build).

    Args:
        app: the Sphinx application.
        config: the Sphinx configuration (unused).
    """
    out = Path(app.srcdir) / "api" / "generated"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    modules = public_modules()
    for name, (submodules, members) in modules.items():
        (out / f"{name}.rst").write_text(_page(name, submodules, members), encoding="utf-8")
    index = ["Modules", "=======", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {name}" for name in modules]
    (out / "index.rst").write_text("\n".join(index) + "\n", encoding="utf-8")


def setup(app):
    """Register the extension.

    Args:
        app: the Sphinx application.

    Returns:
        Sphinx extension metadata.
    """
    app.connect("config-inited", write_pages)
    return {"version": "1", "parallel_read_safe": True}
