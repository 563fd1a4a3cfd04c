"""The evidence in one page: execute the notebooks, export each to HTML, write an index.

``python manage.py build_report`` (``make report``) writes ``reports/index.html`` linking one
HTML page per notebook, each with its charts; the index shows every notebook's title, its
opening paragraph and its first chart.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO_DIR = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_DIR / "notebooks"
REPORTS_DIR = REPO_DIR / "reports"


@dataclass(frozen=True)
class NotebookEntry:
    path: Path
    title: str
    abstract: str
    first_chart_png: str | None  # base64
    html_name: str


def execute_notebook(path: Path, *, save_to: Path | None = None, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel of this environment; save the outputs to ``save_to`` (default: in place)."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, save_to or path)
    return notebook


def _markdown_cells(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


def describe(path: Path, notebook) -> NotebookEntry:
    """Title (first heading), abstract (first paragraph after it) and first chart of a notebook."""
    title, abstract = path.stem, ""
    for source in _markdown_cells(notebook):
        lines = source.strip().splitlines()
        if lines and lines[0].startswith("#"):
            title = lines[0].lstrip("#").strip()
            rest = "\n".join(lines[1:]).strip().split("\n\n")
            abstract = rest[0].strip() if rest and rest[0].strip() else ""
            break
    chart = next(
        (
            output["data"]["image/png"]
            for cell in notebook.cells
            if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if "image/png" in output.get("data", {})
        ),
        None,
    )
    return NotebookEntry(path, title, abstract, chart, path.stem + ".html")


def export_html(notebook, destination: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    destination.write_text(body, encoding="utf-8")


def _inline_markdown(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def render_budgets(bench: dict | None) -> str:
    """The perf_bench table (reports/bench.json) as HTML: every budget and whether it holds."""
    if not bench:
        return "<p class='muted'>No benchmark yet: run <code>make report</code> (it runs perf_bench --quick).</p>"
    header = "".join(
        f"<th>{name}</th>"
        for name in ("path", "size", "statements", "budget", "baseline statements", "median", "time budget",
                     "vs baseline", "vs SQL", "holds")
    )

    def cell(value, suffix=""):
        return "–" if value is None else f"{value:,.2f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"

    body = "".join(
        "<tr>" + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                row["path"], row["size"], cell(row["statements"]), row["statement_budget"],
                cell(row["baseline_statements"]), cell(row["median_ms"], " ms"), row["time_budget"],
                cell(row["speedup"], "x"), cell(row["floor_ratio"], "x"),
                "yes" if row["statements_ok"] is not False and row["time_ok"] is not False else "NO",
            )
        ) + "</tr>"
        for row in bench["rows"]
    )
    return (
        f"<p>perf_bench, {html.escape(bench['scale'])} run ({bench['seconds']} s): "
        f"{'every budget holds' if bench['all_hold'] else 'a budget is missed'}.</p>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
    )


def render_index(entries: list[NotebookEntry], bench: dict | None = None) -> str:
    sections = [f"<section><h2>Budgets</h2>{render_budgets(bench)}</section>"]
    for entry in entries:
        chart = (
            f'<img alt="chart of {html.escape(entry.title)}" src="data:image/png;base64,{entry.first_chart_png}">'
            if entry.first_chart_png
            else ""
        )
        sections.append(
            f'<section><h2><a href="{entry.html_name}">{html.escape(entry.title)}</a></h2>'
            f"<p>{_inline_markdown(entry.abstract)}</p>{chart}"
            f'<p class="muted">Notebook: <code>notebooks/{entry.path.name}</code> · '
            f'<a href="{entry.html_name}">full page with every figure</a></p></section>'
        )
    return _PAGE.format(body="\n".join(sections))


def build_report(
    *, notebooks_dir: Path = NOTEBOOKS_DIR, out_dir: Path = REPORTS_DIR, execute: bool = True, log=print
) -> Path:
    """Execute (optionally) and export every notebook; return the index's path.

    Executed copies go to ``out_dir/notebooks/``: the committed notebooks (and their outputs) stay as they are,
    so a report leaves the working tree clean; ``make notebooks`` is what re-executes them in place.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for path in sorted(notebooks_dir.glob("[0-9]*.ipynb")):
        if execute:
            log(f"executing {path.name} ...")
            notebook = execute_notebook(path, save_to=out_dir / "notebooks" / path.name)
        else:
            notebook = nbformat.read(path, as_version=4)
        entry = describe(path, notebook)
        export_html(notebook, out_dir / entry.html_name)
        entries.append(entry)
        log(f"  wrote {out_dir / entry.html_name}")
    bench_file = out_dir / "bench.json"
    bench = json.loads(bench_file.read_text()) if bench_file.exists() else None
    index = out_dir / "index.html"
    index.write_text(render_index(entries, bench), encoding="utf-8")
    log(f"wrote {index}")
    return index


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tformance: performance evidence</title>
<style>
body {{ font: 15px/1.55 system-ui, sans-serif; color: #1f2328; max-width: 920px; margin: 2rem auto; padding: 0 1rem; }}
section {{ border-top: 1px solid #d0d7de; padding: 1rem 0; }}
img {{ max-width: 100%; border: 1px solid #d0d7de; border-radius: 6px; }}
.muted {{ color: #656d76; font-size: 0.9em; }}
code {{ background: #f6f8fa; padding: 0 .25em; border-radius: 4px; }}
table {{ border-collapse: collapse; font-size: .85em; width: 100%; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: .3em .5em; text-align: left; }}
</style></head>
<body>
<h1>tformance: performance evidence</h1>
<p>Every claim below is reproduced, fixed and measured in an executable notebook that CI re-runs under nbval.</p>
{body}
</body></html>
"""
