"""The evidence in one page: execute the notebooks, export each to HTML, write an index.

``python manage.py build_report`` (``make report``) writes ``reports/index.html`` linking one
HTML page per notebook, each with its charts. The index reads at a glance: a headline naming every missed
budget (or saying all are met), the machine (CPU cores, PostgreSQL, Python), the perf_bench verdict (gated or
reported only) and table (misses highlighted, each row linked to its notebook, every column defined), then every
notebook's title, its opening paragraph and its first chart beside its perf_bench rows' baseline and fix figures.
Each notebook's start and elapsed time are logged as it runs.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

REPO_DIR = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_DIR / "notebooks"
REPORTS_DIR = REPO_DIR / "reports"

# nbclient's "Executing notebook with kernel: python3" (INFO): build_report logs each notebook itself.
_NBCLIENT_LOG = logging.getLogger(__name__ + ".nbclient")
_NBCLIENT_LOG.setLevel(logging.WARNING)


@dataclass(frozen=True)
class NotebookEntry:
    path: Path
    title: str
    abstract: str
    first_chart_png: str | None  # base64
    html_name: str
    seconds: float | None = None  # executing and exporting it, when build_report executed it


def execute_notebook(path: Path, *, save_to: Path | None = None, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel of this environment; save the outputs to ``save_to`` (default: in place).

    The kernel talks over unix sockets in a private temporary folder (IPC transport), not TCP: no ports, and
    no "Kernel is running over TCP without encryption" warning from ipykernel. The socket path is absolute
    because the kernel runs in the notebook's folder and the client here.
    """
    from nbclient import NotebookClient
    from traitlets.config import Config

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="tformance-kernel-") as sockets:
        config = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
        NotebookClient(
            notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
            config=config, log=_NBCLIENT_LOG,
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


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")

# nbconvert's lab template writes <img> without alt (and its exporter warns "Alternative text is missing"):
# the same blocks, with the alt text export_html puts in each image output's metadata.
_ALT_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- macro with_alt(img, output, mimetype) -%}
{{ img | replace('<img ', '<img alt="' ~ (output | get_metadata('alt', mimetype) | escape_html) ~ '" ', 1) }}
{%- endmacro -%}
{% block data_png scoped %}{{ with_alt(super(), output, 'image/png') }}{% endblock data_png %}
{% block data_jpg scoped %}{{ with_alt(super(), output, 'image/jpeg') }}{% endblock data_jpg %}
{% block data_svg scoped %}{{ with_alt(super(), output, 'image/svg+xml') }}{% endblock data_svg %}
"""


def with_alt_text(notebook, title: str):
    """A copy of ``notebook`` whose every image output has an alt text: its figure number, the heading of its
    section and the notebook's title (an alt text already there is kept)."""
    notebook = copy.deepcopy(notebook)
    heading, number = "", 0
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            heading = cell.source.strip().splitlines()[0].lstrip("#").strip()
        for output in cell.get("outputs", []):
            for mimetype in _IMAGE_TYPES:
                if mimetype in output.get("data", {}):
                    number += 1
                    section = f": {heading}" if heading and heading != title else ""
                    metadata = output.setdefault("metadata", {}).setdefault(mimetype, {})
                    metadata.setdefault("alt", f"Figure {number} of {title}{section}")
    return notebook


def export_html(notebook, destination: Path, *, title: str = "") -> None:
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"report.html.j2": _ALT_TEMPLATE})],
                            template_file="report.html.j2")
    body, _ = exporter.from_notebook_node(with_alt_text(notebook, title or destination.stem))
    destination.write_text(body, encoding="utf-8")


def _inline_markdown(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def render_verdict(bench: dict) -> str:
    """The headline: every missed budget by name, split into gated (the run fails) and reported only."""
    from apps.perflab.bench import Report

    report = Report.from_dict(bench)
    verdict = report.verdict()
    gate = "" if "gate" not in bench else f", --gate {html.escape(verdict.gate)}"
    parts = [
        f"<p class='headline'>perf_bench, {html.escape(report.scale)} run ({report.seconds} s{gate}): "
        f"<b>{html.escape(verdict.headline)}</b>.</p>"
    ]
    for title, items in verdict.sections():
        listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        parts.append(f"<p>{html.escape(title[0].upper() + title[1:])}:</p><ul>{listed}</ul>")
    return "".join(parts)


# Which notebook reproduces the problem each perf_bench row measures (a row's ``path``, see apps/perflab/bench.py
# and the modules it calls). Rows left out (the connections opened by N syncs) have no notebook of their own.
NOTEBOOK_OF_ROW = {
    "get_team_breakdown": "01_team_breakdown.ipynb",
    "copilot sync (cold)": "02_copilot_sync.ipynb",
    "copilot sync (unchanged)": "02_copilot_sync.ipynb",
    "pr_list_export": "03_pr_export.ipynb",
    "get_key_metrics (cold)": "04_cache.ipynb",
    "get_key_metrics (warm)": "04_cache.ipynb",
    "get_key_metrics_comparison": "05_period_comparison.ipynb",
    "comparison, stock PG planner": "05_period_comparison.ipynb",
    "aggregate_team_weekly_metrics": "07_weekly_aggregation.ipynb",
    "dashboard page (cold cache)": "09_dashboard_and_scaling.ipynb",
    "dashboard page (warm cache)": "09_dashboard_and_scaling.ipynb",
    "AI impact (cold)": "09_dashboard_and_scaling.ipynb",
    "AI impact (warm)": "09_dashboard_and_scaling.ipynb",
    "Copilot adoption (cold)": "09_dashboard_and_scaling.ipynb",
    "Copilot adoption (warm)": "09_dashboard_and_scaling.ipynb",
    "get_member_page": "09_dashboard_and_scaling.ipynb",
    "member page": "09_dashboard_and_scaling.ipynb",
    "PR sync (initial)": "10_pr_sync.ipynb",
    "PR sync (vs baseline)": "10_pr_sync.ipynb",
    "PR sync (unchanged)": "10_pr_sync.ipynb",
}

_BUDGET_KINDS = ("statements", "time")


def notebook_page(notebook: str) -> str:
    """The HTML page build_report exports a notebook to (as ``describe`` names it)."""
    return Path(notebook).stem + ".html"


def rows_of_notebook(rows: list[dict], notebook: str) -> list[dict]:
    """The perf_bench rows that measure the problem of ``notebook`` (a file name), in the bench's order."""
    return [row for row in rows if NOTEBOOK_OF_ROW.get(row["path"]) == notebook]


def _budget_name(row: dict, kind: str) -> str:
    return f"{row['path']} at {row['size']}: {kind}" if row.get("size") else f"{row['path']}: {kind}"


def budget_results(rows: list[dict]) -> list[tuple[str, bool]]:
    """(name, held) of every budget the rows judged: a row's statement and time budgets, each when it has a verdict."""
    return [
        (_budget_name(row, kind), row[f"{kind}_ok"])
        for row in rows
        for kind in _BUDGET_KINDS
        if row.get(f"{kind}_ok") is not None
    ]


def render_headline(bench: dict | None) -> str:
    """The page's first line: every missed budget by name, or that all of them are met."""
    if not bench:
        return "<p class='glance'>No benchmark yet: the budgets are not judged.</p>"
    results = budget_results(bench["rows"])
    missed = [name for name, held in results if not held]
    if not missed:
        return f"<p class='glance met'>All {len(results)} budget{'' if len(results) == 1 else 's'} met.</p>"
    count = "1 budget missed" if len(missed) == 1 else f"{len(missed)} budgets missed"
    names = "; ".join(html.escape(name) for name in missed)
    return f"<p class='glance missed'><b>{count}</b> (of {len(results)}): {names}.</p>"


@dataclass(frozen=True)
class Machine:
    cpu_cores: int | None
    postgresql: str | None
    python: str


def _server_version() -> str | None:
    """PostgreSQL's version through Django's connection; None without one (no settings, no server, no access)."""
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]
    except Exception:  # the report is still worth writing without it
        return None


def machine_of(bench: dict | None, *, server_version: Callable[[], str | None] | None = None) -> Machine:
    """The machine the figures come from: its cores and PostgreSQL's version as the bench recorded them
    (``cpu_count``, ``server_version``), else read now (``server_version``, default: through Django's connection)."""
    recorded = (bench or {}).get("server_version")
    cores = (bench or {}).get("cpu_count") or os.cpu_count()
    return Machine(cores, recorded or (server_version or _server_version)(), platform.python_version())


def render_machine(machine: Machine) -> str:
    cores = "CPU cores unknown" if machine.cpu_cores is None else (
        f"{machine.cpu_cores} CPU core{'' if machine.cpu_cores == 1 else 's'}")
    postgresql = f"PostgreSQL {machine.postgresql}" if machine.postgresql else "PostgreSQL version unknown"
    return (f"<p class='machine'>Machine: {html.escape(cores)} · {html.escape(postgresql)} · "
            f"Python {html.escape(machine.python)}</p>")


def _number(value, suffix="") -> str:
    return "–" if value is None else f"{value:,.2f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"


def _missed_kinds(row: dict) -> list[str]:
    return [kind for kind in _BUDGET_KINDS if row.get(f"{kind}_ok") is False]


def _holds_cell(row: dict) -> str:
    missed = _missed_kinds(row)
    return "yes" if not missed else "NO: " + " and ".join(missed)


def _notebook_cell(row: dict) -> str:
    notebook = NOTEBOOK_OF_ROW.get(row["path"])
    if notebook is None:
        return "none"
    return f'<a href="{html.escape(notebook_page(notebook))}">{html.escape(Path(notebook).stem)}</a>'


# (header, definition, the cell of a row, the budget kind whose miss highlights it); "fix" is the shipped code,
# "baseline" the audited code kept in apps/perflab/baselines.py.
BUDGET_COLUMNS: tuple[tuple[str, str, Callable[[dict], str], str | None], ...] = (
    ("path", "what is measured: a service, page or task, with its variant (cold or warm cache, ...)",
     lambda row: html.escape(row["path"]), None),
    ("size", "the data it is measured on (team members, exported rows, weeks of history, users x days)",
     lambda row: html.escape(str(row["size"])), None),
    ("statements", "SQL statements the fix sends, counted exactly",
     lambda row: _number(row.get("statements")), "statements"),
    ("budget", "the statement budget: at most N (<= N), the same at every size measured (constant), none at all "
     "(0), no rows written (0 writes), or fewer than the baseline by a factor",
     lambda row: html.escape(str(row.get("statement_budget", ""))), "statements"),
    ("baseline statements", "SQL statements the baseline sends for the same answer",
     lambda row: _number(row.get("baseline_statements")), None),
    ("median", "the fix's median time over repeated runs (a sync's wall time, run once)",
     lambda row: _number(row.get("median_ms"), " ms"), "time"),
    ("time budget", "what the time must be, on the figure the budget names (median, throughput, wall time, "
     "speed-up or fix / SQL); (reported): measured, not judged",
     lambda row: html.escape(str(row.get("time_budget", ""))), "time"),
    ("speed-up", "baseline time / fix time, the median of alternated pairs: 3.0x is three times faster",
     lambda row: _number(row.get("speedup"), "x"), None),
    ("fix / SQL", "fix time / the same answer in hand-written SQL, the median of alternated pairs: 1.2x is 20% "
     "slower than that floor", lambda row: _number(row.get("floor_ratio"), "x"), None),
    ("holds", "yes when every budget of the row is met, else which one missed (highlighted)",
     lambda row: html.escape(_holds_cell(row)), None),
    ("notebook", "the notebook that reproduces the problem and measures the fix (none: a budget with no notebook)",
     _notebook_cell, None),
)


def _budget_row(row: dict) -> str:
    missed = _missed_kinds(row)
    cells = "".join(
        f"<td class='miss'>{render(row)}</td>" if kind in missed else f"<td>{render(row)}</td>"
        for _, _, render, kind in BUDGET_COLUMNS
    )
    return f"<tr class='missed'>{cells}</tr>" if missed else f"<tr>{cells}</tr>"


def render_column_definitions() -> str:
    """What every column of the budgets table means, in the table's order."""
    items = "".join(f"<dt>{html.escape(name)}</dt><dd>{html.escape(text)}</dd>" for name, text, _, _ in BUDGET_COLUMNS)
    return f"<dl class='columns'>{items}</dl>"


def render_budgets(bench: dict | None) -> str:
    """The perf_bench table (reports/bench.json) as HTML: the verdict, every budget and whether it holds (a missed
    one highlighted), each row linked to its notebook, then what each column means."""
    if not bench:
        return "<p class='muted'>No benchmark yet: run <code>make report</code> (it runs perf_bench --quick).</p>"
    header = "".join(f"<th>{html.escape(name)}</th>" for name, _, _, _ in BUDGET_COLUMNS)
    body = "".join(_budget_row(row) for row in bench["rows"])
    return (f"{render_verdict(bench)}<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
            f"{render_column_definitions()}")


def render_before_after(bench: dict | None, notebook: str) -> str:
    """Beside a notebook's chart: the statements and median time of baseline and fix, from its perf_bench rows."""
    if not bench:
        return "<p class='muted'>No benchmark yet: no figures.</p>"
    rows = rows_of_notebook(bench["rows"], notebook)
    if not rows:
        return ("<p class='muted'>No perf_bench row measures this notebook's problem: "
                "its figures are in the notebook.</p>")
    body = "".join(
        ("<tr class='missed'>" if _missed_kinds(row) else "<tr>")
        + f"<td>{html.escape(row['path'])}<br><span class='muted'>{html.escape(str(row['size']))}</span></td>"
        + f"<td>{_number(row.get('baseline_statements'))}</td><td>{_number(row.get('statements'))}</td>"
        + f"<td>{_number(row.get('baseline_median_ms'), ' ms')}</td><td>{_number(row.get('median_ms'), ' ms')}</td>"
        + "</tr>"
        for row in rows
    )
    return (
        "<table class='before-after'><thead><tr><th rowspan='2'>perf_bench row</th><th colspan='2'>statements</th>"
        "<th colspan='2'>median</th></tr><tr><th>baseline</th><th>fix</th><th>baseline</th><th>fix</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
        "<p class='muted'>Baseline: the audited code; fix: the shipped one; –: not measured.</p>"
    )


LOAD_FILES = (("load.json", "Load test"), ("load-redis-hung.json", "Load test with Redis hung (SIGSTOP)"))


def render_load(load: dict) -> str:
    """A load_test report (reports/load.json): the server, every budget's verdict, then each endpoint and level."""
    from apps.perflab.load import HEADER

    server = (
        f"<p>load_test, {html.escape(load['mode'])} {html.escape(load['scale'])} run ({load['seconds']} s): "
        f"gunicorn with {load['workers']} workers x {load['threads']} threads, pool maximum {load['pool_max']}, "
        f"{load['dataset']['members']} members; the most PostgreSQL connections seen: "
        f"<b>{load['max_pg_connections']}</b>.</p>"
    )
    verdicts = "".join(
        f"<li>{html.escape(b['name'])}: {html.escape(b['figure'])} against {html.escape(b['budget'])}: "
        f"<b>{'holds' if b['holds'] else 'MISSED' if b['gated'] else 'missed (reported)'}</b></li>"
        for b in load["budgets"]
    )
    header = "".join(f"<th>{html.escape(name)}</th>" for name in HEADER)

    def ms(value):
        return "–" if value is None else f"{value:,.1f}"

    body = "".join(
        "<tr>" + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                level["endpoint"], level["clients"], level["requests"], f"{level['requests_per_second']:,.1f}",
                ms(level["p50_ms"]), ms(level["p95_ms"]), ms(level["p99_ms"]), level["errors"],
                level["max_pg_connections"],
            )
        ) + "</tr>"
        for level in load["levels"]
    )
    return f"{server}<ul>{verdicts}</ul><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def render_index(
    entries: list[NotebookEntry], bench: dict | None = None, loads: dict | None = None, machine: Machine | None = None
) -> str:
    """The headline (every missed budget named) and the machine, the budgets, then ``loads`` (title -> a load_test
    report, a section each), then every notebook: title, abstract, first chart and its before/after figures."""
    top = render_headline(bench) + (render_machine(machine) if machine else "")
    sections = [f"<section><h2>Budgets</h2>{render_budgets(bench)}</section>"]
    sections += [
        f"<section><h2>{html.escape(title)}</h2>{render_load(load)}</section>" for title, load in (loads or {}).items()
    ]
    for entry in entries:
        chart = (
            f'<img alt="chart of {html.escape(entry.title)}" src="data:image/png;base64,{entry.first_chart_png}">'
            if entry.first_chart_png
            else ""
        )
        sections.append(
            f'<section><h2><a href="{entry.html_name}">{html.escape(entry.title)}</a></h2>'
            f"<p>{_inline_markdown(entry.abstract)}</p>"
            f"<div class='beside'><div class='chart'>{chart}</div>"
            f"<div class='figures'>{render_before_after(bench, entry.path.name)}</div></div>"
            f'<p class="muted">Notebook: <code>notebooks/{entry.path.name}</code>'
            + (f" (executed in {entry.seconds:.1f} s)" if entry.seconds is not None else "")
            + f' · <a href="{entry.html_name}">full page with every figure</a></p></section>'
        )
    return _PAGE.format(top=top, body="\n".join(sections))


def build_report(
    *,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    out_dir: Path = REPORTS_DIR,
    execute: bool = True,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.perf_counter,
) -> Path:
    """Execute (optionally) and export every notebook; return the index's path.

    Executed copies go to ``out_dir/notebooks/``: the committed notebooks (and their outputs) stay as they are,
    so a report leaves the working tree clean; ``make notebooks`` is what re-executes them in place.
    Each notebook is logged when it starts (``[3/10] 03_pr_export ...``) and when done, with its elapsed time
    (``[3/10] 03_pr_export ... 41.2 s``): a notebook that takes minutes does not look like a hang.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = sorted(notebooks_dir.glob("[0-9]*.ipynb"))
    entries = []
    started_all = clock()
    for number, path in enumerate(paths, 1):
        name = f"[{number}/{len(paths)}] {path.stem}"
        started = clock()
        if execute:
            log(f"{name} ...")
            try:
                notebook = execute_notebook(path, save_to=out_dir / "notebooks" / path.name)
            except Exception:
                log(f"{name} ... failed after {clock() - started:.1f} s")
                raise
        else:
            notebook = nbformat.read(path, as_version=4)
        entry = describe(path, notebook)
        export_html(notebook, out_dir / entry.html_name, title=entry.title)
        if execute:
            entry = replace(entry, seconds=clock() - started)
            log(f"{name} ... {entry.seconds:.1f} s")
        else:
            log(f"{name}: stored outputs exported")
        entries.append(entry)
    if execute:
        log(f"{len(paths)} notebook{'' if len(paths) == 1 else 's'} executed in {clock() - started_all:.1f} s")
    bench_file = out_dir / "bench.json"
    bench = json.loads(bench_file.read_text()) if bench_file.exists() else None
    loads = {
        title: json.loads((out_dir / name).read_text()) for name, title in LOAD_FILES if (out_dir / name).exists()
    }
    index = out_dir / "index.html"
    index.write_text(render_index(entries, bench, loads, machine_of(bench)), encoding="utf-8")
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
.glance {{ font-size: 1.15em; padding: .5em .75em; border-radius: 6px; }}
.glance.met {{ background: #dafbe1; color: #116329; }}
.glance.missed {{ background: #ffebe9; color: #a40e26; }}
tr.missed {{ background: #fff8c5; }}
td.miss {{ background: #ffebe9; color: #a40e26; font-weight: 600; }}
.beside {{ display: flex; gap: 1rem; align-items: flex-start; flex-wrap: wrap; }}
.beside .chart {{ flex: 3 1 420px; }}
.beside .figures {{ flex: 2 1 260px; }}
dl.columns {{ font-size: .85em; display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }}
dl.columns dt {{ font-weight: 600; }}
dl.columns dd {{ margin: 0; }}
.before-after td + td {{ white-space: nowrap; }}
</style></head>
<body>
<h1>tformance: performance evidence</h1>
{top}
<p>Every claim below is reproduced, fixed and measured in an executable notebook that CI re-runs under nbval.</p>
{body}
</body></html>
"""
