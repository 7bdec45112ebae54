"""Markdown reports written into a run directory (theory checks, experiment summaries)."""
from __future__ import annotations

from pathlib import Path

from .rundir import RunDir

__all__ = ["render_markdown", "write_markdown_report"]


def render_markdown(title: str, header: list[str], sections: list[tuple[str, str]],
                    images: list[str] = ()) -> str:
    """A report's markdown text: ``# title``, header lines, ``## name`` sections, images.

    Args:
      title: the report's title.
      header: lines printed under the title (command, mode, revision, date).
      sections: ``(heading, body)`` pairs, in order.
      images: PNG file names (relative to the report) appended as images.

    Returns:
      The markdown text (ends with a newline).
    """
    lines = [f"# {title}", "", *header, ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", body.rstrip(), ""]
    for png in images:
        lines += [f"![{Path(png).stem}]({png})", ""]
    return "\n".join(lines)


def write_markdown_report(run_dir: RunDir, stem: str, *, title: str, header: list[str],
                          sections: list[tuple[str, str]], figures: dict | None = None) -> Path:
    """Write ``<stem>.md`` and the figures ``{file_stem: matplotlib figure}`` (PNG) into
    ``run_dir``; returns the report's path inside the run directory."""
    images = []
    for fstem, fig in (figures or {}).items():
        run_dir.save_figure(fig, fstem, formats=("png",))
        images.append(f"{fstem}.png")
    return run_dir.write_text(f"{stem}.md", render_markdown(title, header, sections, images))
