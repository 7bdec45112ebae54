"""Sphinx extension: results pages generated from the committed result files.

At ``config-inited`` (before Sphinx looks for source files) it reads

- ``theory_checks/reports/<name>.md`` (the report each theory check writes),
- the benchmark and experiment result files listed in ``docs/results/sources.toml``,
- ``paper_figures/*.png`` (and a ``<figure>.json`` run record next to it when present),

and writes ``docs/results/generated/*.md`` (the results pages) and
``docs/theory/generated/<check>.md`` (the verdict table each theory page includes). The
pages show the current numbers, the command that reproduces them and the machine they
ran on; nothing is typed by hand, so a regenerated report changes the pages at the next
build. The generated folders are not committed.
"""
from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

try:  # the parsers are also used (and tested) without Sphinx
    from sphinx.util import logging
except ImportError:  # pragma: no cover - Sphinx absent
    import logging

LOGGER = logging.getLogger(__name__)
REPORTS = Path("theory_checks") / "reports"
FIGURES = Path("paper_figures")
MANIFEST = Path("docs") / "results" / "sources.toml"
MAX_ROWS = 24          # a verdict table longer than this shows its FAIL rows only
MAX_COLUMNS = 12       # columns of a benchmark table


# --- theory-check reports ---------------------------------------------------------------

@dataclass
class Table:
    """One markdown table of a report.

    Attributes:
        heading: the section title above the table.
        header: column names.
        rows: cell texts, one list per row.
    """

    heading: str
    header: list[str]
    rows: list[list[str]]

    @property
    def has_verdict(self) -> bool:
        """Whether the last column is a PASS/FAIL verdict."""
        return bool(self.header) and self.header[-1].strip().lower() == "verdict"


@dataclass
class Report:
    """The parsed content of ``theory_checks/reports/<name>.md``.

    Attributes:
        name: the check's name (file stem).
        title: the report's first heading.
        command: the command that wrote it.
        run: the report's run line (mode, revision, date, runtime and machine).
        sections: ``{title: text}`` of the prose sections (Claim, Criteria, Verdict).
        tables: every table, in order.
        images: file names of the figures the report shows.
    """

    name: str
    title: str = ""
    command: str = ""
    run: str = ""
    sections: dict[str, str] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def verdict_rows(self) -> list[tuple[str, str, str]]:
        """Return ``(table heading, configuration, verdict)`` for every verdict row."""
        return [(t.heading, r[0], r[-1]) for t in self.tables if t.has_verdict for r in t.rows]

    def counts(self) -> tuple[int, int]:
        """Return ``(number of PASS rows, number of rows with a PASS or FAIL verdict)``."""
        verdicts = [v for _, _, v in self.verdict_rows()]
        judged = [v for v in verdicts if v.startswith(("PASS", "FAIL"))]
        return sum(v.startswith("PASS") for v in judged), len(judged)


def _neutral(text: str) -> str:
    """Name the stated formulas without pointing at a document outside the repository."""
    text = re.sub(r"THEORY(\.md)?'s", "the stated", text)
    text = re.sub(r"\(THEORY(\.md)? (eq\. )?(section|§) ?[\d\-]+\)", "(stated form)", text)
    text = re.sub(r"THEORY(\.md)? (section|sections|§) ?[\d\-, ]+", "the stated theory ", text)
    return re.sub(r"THEORY(\.md)?", "stated", text)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_report(path: Path) -> Report:
    """Parse one theory-check report.

    Args:
        path: the report file.

    Returns:
        Its title, command, run line, prose sections, tables and figure names.
    """
    report = Report(name=path.stem)
    heading, buffer = "", []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# ") and not report.title:
            report.title = line[2:].strip()
        elif line.startswith("Command:"):
            report.command = line.split(":", 1)[1].strip().strip("`").strip()
        elif line.startswith("Mode:"):
            report.run = line.split(":", 1)[1].strip()
        elif line.startswith("## "):
            if heading:
                report.sections[heading] = "\n".join(buffer).strip()
            heading, buffer = line[3:].strip(), []
        elif line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s\-:|]+\|$",
                                                                       lines[i + 1].strip()):
            header, rows = _cells(line), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            report.tables.append(Table(heading, header, rows))
            continue
        elif line.startswith("!["):
            match = re.search(r"\(([^)]+\.png)\)", line)
            if match:
                report.images.append(match.group(1))
        else:
            buffer.append(line)
        i += 1
    if heading:
        report.sections[heading] = "\n".join(buffer).strip()
    return report


def load_reports(root: Path) -> dict[str, Report]:
    """Parse every full report (not ``*_quick.md``) under ``theory_checks/reports``.

    Args:
        root: the repository root.

    Returns:
        ``{check name: Report}`` sorted by name; diagnostics (no verdict) included.
    """
    folder = root / REPORTS
    paths = sorted(p for p in folder.glob("*.md") if not p.stem.endswith("_quick"))
    return {p.stem: parse_report(p) for p in paths}


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _verdict_word(verdict: str) -> str:
    return verdict.split(" ", 1)[0] if verdict else ""


def _check_link(name: str) -> str:
    return f"{{ref}}`ntkcomp check {name} <check-{name}>`"


def verdict_fragment(report: Report) -> str:
    """Markdown for a theory page: command, verdict count and the verdict table.

    Args:
        report: the parsed report.

    Returns:
        The fragment (a line and a table; FAIL rows only when the table is long).
    """
    passed, total = report.counts()
    head = (f"**Check** {_check_link(report.name)} "
            f"(`theory_checks/{report.name}.py`): **{passed}/{total} PASS**")
    rows = report.verdict_rows()
    if not rows:
        return head + " (no verdict rows)\n"
    shown = rows if len(rows) <= MAX_ROWS else [r for r in rows if not r[2].startswith("PASS")]
    note = "" if len(rows) <= MAX_ROWS else f" (showing the {len(shown)} rows that do not pass)"
    parts = {h for h, _, _ in shown}
    if len(parts) > 1:
        table = _md_table(["part", "configuration", "verdict"],
                          [[_neutral(h), c, _neutral(v)] for h, c, v in shown])
    else:
        table = _md_table(["configuration", "verdict"],
                          [[c, _neutral(v)] for _, c, v in shown]) if shown else ""
    return f"{head}{note}\n\n{table}\n"


def theory_checks_page(reports: dict[str, Report], images_dir: Path, root: Path) -> str:
    """The results page of the theory checks.

    Args:
        reports: parsed reports.
        images_dir: folder into which the reports' figures are copied.
        root: the repository root.

    Returns:
        The page's markdown.
    """
    checks = {k: r for k, r in reports.items() if r.verdict_rows()}
    lines = ["# Theory checks", "",
             "Each check compares a formula of the [theory pages](../../theory/index.md) "
             "with an independent computation over a size ladder and judges each row "
             "against criteria fixed in the check's module. Regenerate a report with the "
             "command shown (`--quick` for a small ladder).", "",
             _md_table(["check", "verdict", "run"],
                       [[_check_link(k), "{}/{} PASS".format(*r.counts()), r.run]
                        for k, r in checks.items()]), ""]
    for name, report in checks.items():
        lines += [f"(check-{name})=", f"## {name}: {_neutral(report.title)}", "",
                  f"Command: `ntkcomp check {name}` "
                  f"(equivalently `python -m theory_checks.{name}`; the report's run: "
                  f"`{report.command or 'not recorded'}`)  ",
                  f"Run: {report.run or 'not recorded'}", ""]
        for title in ("Claim", "Criteria", "Verdict"):
            if report.sections.get(title):
                lines += [f"**{title}.** {_neutral(report.sections[title])}", ""]
        for table in report.tables:
            lines += [f"**{_neutral(table.heading)}**", "",
                      _md_table([_neutral(h) for h in table.header],
                                [[_neutral(c) for c in r] for r in table.rows]), ""]
        for image in report.images:
            src = root / REPORTS / image
            if src.exists():
                shutil.copyfile(src, images_dir / src.name)
                lines += [f"![{src.stem}](img/{src.name})", ""]
    return "\n".join(lines)


# --- benchmarks and experiments (sources.toml) -----------------------------------------

def _scalar(value) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value).replace("|", "/")


def _machine(meta: dict) -> str:
    versions = meta.get("versions", {}) if isinstance(meta, dict) else {}
    parts = [versions.get("cpu"), versions.get("devices"),
             f"jax {versions['jax']}" if "jax" in versions else None,
             versions.get("platform") if not versions.get("cpu") else None]
    load = meta.get("load_average") if isinstance(meta, dict) else None
    if isinstance(load, list) and load:
        parts.append(f"1-min load average {float(load[0]):.1f} at the start")
    text = ", ".join(p for p in parts if p)
    return text or "not recorded"


def _find_meta(data) -> dict:
    if isinstance(data, dict):
        if "versions" in data:
            return data
        for key in ("meta", "metadata"):
            if isinstance(data.get(key), dict):
                return data[key]
    return {}


def _rows(data, key):
    if isinstance(key, list):  # several keys: one row per dict, the rows of each list
        rows = []
        for name in key:
            value = data
            for part in name.split("."):
                value = value[part]
            if isinstance(value, dict):
                rows.append({"name": name, **value})
            else:
                rows += [{"name": f"{name}[{i}]", **r} for i, r in enumerate(value)]
        return rows
    if key:
        for part in key.split("."):
            data = data[part]
        if isinstance(data, dict):  # {name: {...}} -> one row per name
            return [{"name": k, **(v if isinstance(v, dict) else {"value": v})}
                    for k, v in data.items()]
        return data
    for candidate in ("rows", "results", "table", "points"):
        if isinstance(data, dict) and isinstance(data.get(candidate), list):
            return data[candidate]
    return []


def _flatten(row: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif _scalar(value):
            flat[f"{prefix}{key}"] = value
    return flat


def result_section(entry: dict, root: Path, images_dir: Path) -> str:
    """One section of a results page, from one entry of ``sources.toml``.

    Args:
        entry: ``title``, ``file``, ``command``, ``what`` and optionally ``rows`` (dotted
            key of the row list, or of a ``{name: row}`` dict; or a list of such keys, a
            dict there being one row), ``columns`` (the columns to show) and ``image``.
        root: the repository root.
        images_dir: folder into which the entry's image is copied.

    Returns:
        The section's markdown (a warning line if the file is missing).
    """
    path = root / entry["file"]
    lines = [f"## {entry['title']}", "", entry.get("what", ""), "",
             f"Command: `{entry['command']}`  ", f"File: `{entry['file']}`  "]
    if not path.exists():
        LOGGER.warning("ntkcomp_results: %s listed in sources.toml is missing", entry["file"])
        return "\n".join(lines + ["", "(file missing)", ""])
    data = json.loads(path.read_text(encoding="utf-8"))
    meta = _find_meta(data)
    sibling = path.with_name("metadata.json")   # a run directory's own record
    if not meta and sibling.exists() and sibling != path:
        meta = _find_meta(json.loads(sibling.read_text(encoding="utf-8")))
    revision = meta.get("git_revision", "not recorded")
    lines += [f"Machine: {_machine(meta)}  ", f"Revision: `{revision}`", ""]
    rows = [_flatten(r) for r in _rows(data, entry.get("rows")) if isinstance(r, dict)]
    if rows:
        columns = entry.get("columns") or [k for k in rows[0] if _scalar(rows[0][k])]
        columns = columns[:MAX_COLUMNS] if not entry.get("columns") else columns
        lines += [_md_table(columns, [[_fmt(r.get(c)) for c in columns] for r in rows]), ""]
    if entry.get("image") and (root / entry["image"]).exists():
        src = root / entry["image"]
        shutil.copyfile(src, images_dir / src.name)
        lines += [f"![{src.stem}](img/{src.name})", ""]
    return "\n".join(lines)


def figures_page(root: Path, images_dir: Path) -> str:
    """The results page of the paper figures (``paper_figures/*.png``).

    Args:
        root: the repository root.
        images_dir: folder into which the figures are copied.

    Returns:
        The page's markdown.
    """
    lines = ["# Paper figures", "",
             "The committed figures at their default (small) sizes and, from `--full`, at "
             "the paper's sizes with their measured time. Each figure is written by one "
             "command.", ""]
    for png in sorted((root / FIGURES).glob("fig*.png")):
        full = png.stem.endswith("_full")
        stem = png.stem[: -len("_full")] if full else png.stem
        module = root / FIGURES / f"{stem}.py"
        doc = ""
        if module.exists() and not full:
            match = re.search(r'^"""(.*?)(\n\s*\n|""")', module.read_text(encoding="utf-8"),
                              re.S)
            doc = " ".join(match.group(1).split()) if match else ""
        short = stem.split("_", 1)[0]
        # the run record: next to the figure, or an experiment's results/<short>.json
        records = [png.with_suffix(".json"),
                   *([] if full else sorted(root.glob(f"experiments/*/results/{short}.json")))]
        record = next((r for r in records if r.exists()), None)
        data = json.loads(record.read_text(encoding="utf-8")) if record else {}
        meta = _find_meta(data)
        shutil.copyfile(png, images_dir / png.name)
        flag = " --full" if full else ""
        heading = f"{short} at the paper's size" if full else short
        timing = []
        if full and isinstance(data.get("timing"), dict):
            t = data["timing"]
            timing = [f"Wall time {float(t['wall_s']):.0f} s, CPU time "
                      f"{float(t['cpu_s']):.0f} s, peak memory {float(t['max_rss_gb']):.1f} GB  "]
        lines += [f"## {heading}", "", _neutral(doc), "",
                  f"Command: `ntkcomp figure {short}{flag}` "
                  f"(equivalently `python -m paper_figures.{stem}{flag}`)  ",
                  *timing,
                  f"Machine: {_machine(meta)}", "", f"![{png.stem}](img/{png.name})", ""]
    return "\n".join(lines)


# --- entry point --------------------------------------------------------------------------

def write_pages(app, config=None) -> None:
    """Regenerate the results pages and the theory verdict fragments.

    Args:
        app: the Sphinx application.
        config: the Sphinx configuration (unused).
    """
    docs = Path(app.srcdir)
    root = docs.parent
    out, theory_out = docs / "results" / "generated", docs / "theory" / "generated"
    for folder in (out, theory_out):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    images = out / "img"
    images.mkdir()
    reports = load_reports(root)
    for name, report in reports.items():
        if report.verdict_rows():
            (theory_out / f"{name}.md").write_text(verdict_fragment(report),
                                                   encoding="utf-8")
    (out / "theory_checks.md").write_text(theory_checks_page(reports, images, root),
                                          encoding="utf-8")
    (out / "figures.md").write_text(figures_page(root, images), encoding="utf-8")
    manifest = tomllib.loads((root / MANIFEST).read_text(encoding="utf-8"))
    for page, spec in manifest.items():
        body = [f"# {spec['title']}", "", spec.get("intro", ""), ""]
        body += [result_section(entry, root, images) for entry in spec.get("entry", [])]
        (out / f"{page}.md").write_text("\n".join(body), encoding="utf-8")


def setup(app):
    """Register the extension.

    Args:
        app: the Sphinx application.

    Returns:
        Sphinx extension metadata.
    """
    app.connect("config-inited", write_pages)
    return {"version": "1", "parallel_read_safe": True}
