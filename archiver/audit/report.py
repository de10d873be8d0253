"""audit.html: one self-contained page, charts first, then sortable, filterable tables.

Every value from the archive is hostile input (a URL may hold ``<script>``):
all of it goes through ``html.escape``; the page's Content-Security-Policy
also forbids any network load. Tables are capped at ``MAX_ROWS`` rows; the
full lists are in audit.json.
"""
from __future__ import annotations

from html import escape
from importlib import resources

MAX_ROWS = 5000
BAR_COLOURS = {"captured": "#3a7d44", "redirected": "#5b8fd6", "not_found": "#c9a227", "error": "#c0392b",
               "blocked_by_robots": "#8e44ad", "out_of_scope": "#95a5a6", "not_captured": "#e67e22"}


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def bar_chart(title: str, items: list[tuple[str, int]], *, colours: dict | None = None, width: int = 520) -> str:
    """A horizontal inline-SVG bar chart."""
    items = [(str(k), int(v)) for k, v in items][:25]
    if not items:
        return f'<div class="chart"><h3>{_e(title)}</h3><p class="small">nothing to show</p></div>'
    top = max(v for _, v in items) or 1
    row, label_w, bar_w = 18, 190, width - 190 - 60
    parts = [f'<div class="chart"><h3>{_e(title)}</h3>'
             f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(items) + 4}" role="img" '
             f'aria-label="{_e(title)}">']
    for i, (label, value) in enumerate(items):
        y = i * row + 2
        length = max(1, int(bar_w * value / top)) if value else 0
        colour = (colours or {}).get(label, "#4a78b5")
        short = label if len(label) <= 30 else label[:29] + "\u2026"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end"><title>{_e(label)}</title>{_e(short)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{length}" height="{row - 4}" fill="{colour}"></rect>'
                     f'<text x="{label_w + length + 4}" y="{y + 12}">{value}</text>')
    parts.append("</svg></div>")
    return "".join(parts)


def table(table_id: str, title: str, columns: list[str], rows: list[list], *, total: int | None = None) -> str:
    total = len(rows) if total is None else total
    shown = rows[:MAX_ROWS]
    note = f" (first {len(shown)} of {total}; all in audit.json)" if total > len(shown) else f" ({total})"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for r in shown:
        cells = []
        for value in r:
            if isinstance(value, (list, tuple)):
                value = " ".join(str(v) for v in value)
            cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<h2 id="{_e(table_id)}-h">{_e(title)}<span class="small">{_e(note)}</span></h2>'
            f'<p><input class="filter" type="search" placeholder="filter\u2026" data-table="{_e(table_id)}" '
            f'aria-label="filter {_e(title)}"></p>'
            f'<table id="{_e(table_id)}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _document_tables(documents: dict) -> list[str]:
    """Documents linked but not captured, and captured without a redirect row (audit/documents.py)."""
    if not documents:
        return []
    tables = [table("doc-missing", "Documents linked from pages but not captured", ["url", "reason", "linked from",
                                                                                   "links"],
                    [[d["url"], d["reason"], d["linked_from"], d["links"]] for d in documents["linked_not_captured"]])]
    if documents["captured_without_row"] is not None:
        tables.append(table("doc-norow", f"Captured documents without a redirect row (of {documents['captured']})",
                            ["url"], [[url] for url in documents["captured_without_row"]]))
    return tables


def render_html(data: dict) -> str:
    """The report page from audit.json's data."""
    summary = data["summary"]
    ratio = data["completeness"]
    if ratio is None:
        verdict = '<p class="verdict none">Completeness: not computed (no expected URLs given)</p>'
    else:
        cls = "pass" if data["passed"] else "fail"
        threshold = f" (threshold {data['fail_under']:.1%})" if data["fail_under"] is not None else ""
        verdict = f'<p class="verdict {cls}">Completeness: {ratio:.1%}{_e(threshold)}</p>'
    integrity = summary.get("integrity", {})
    facts = (f'<p>{_e(summary["files"])} file(s), {_e(summary["records"])} records, {_e(summary["bytes"])} bytes; '
             f'{_e(summary["urls_captured"])} URLs captured; {_e(summary["expected"])} expected; '
             f'{_e(len(data["missing"]))} missing; {_e(len(data["requisites_missing"]))} requisites missing; '
             f'{_e(integrity.get("error", 0))} integrity errors, {_e(integrity.get("warning", 0))} warnings; '
             f'{_e(summary.get("captured_only_as_variant", 0))} expected URLs captured only as an http/https or '
             f'www. variant (not counted).</p>'
             f'<p class="small">Completeness = {_e(data["completeness_definition"])}.</p>'
             f'<p class="small">Inputs: {_e(", ".join(data["inputs"]))}. Expected from: '
             f'{_e(", ".join(data["expected_from"]) or "nothing")}. Generated {_e(data["generated"])}.</p>')
    warnings = "".join(f"<li>{_e(w)}</li>" for w in data.get("warnings", []))
    hosts = sorted(summary["hosts"].items(), key=lambda kv: -kv[1].get("records", 0))
    charts = [
        bar_chart("Expected URLs by outcome", list(summary["outcomes"].items()), colours=BAR_COLOURS),
        bar_chart("HTTP status of captures", sorted(summary["status"].items())),
        bar_chart("MIME types", list(summary["mime"].items())),
        bar_chart("Records per host", [(h, c.get("records", 0)) for h, c in hosts]),
    ]
    coverage = summary.get("redirect_coverage")
    if coverage:
        charts.append(bar_chart("Redirect manifest coverage",
                                [(k, coverage.get(k, 0)) for k in ("page", "document", "fallback", "gone", "unmatched",
                                                                   "other")]))
    dup = summary["duplicates"]
    sections = [
        table("missing", "Missing expected URLs", ["url", "outcome", "status", "reason", "expected from"],
              [[m["url"], m["outcome"], m["status"], m["reason"], m["sources"]] for m in data["missing"]]),
        table("requisites", "Missing requisites (embedded resources)",
              ["url", "kind", "status", "reason", "other host", "referenced by", "references"],
              [[r["url"], r["kind"], r["status"], r["reason"], "yes" if r["other_host"] else "", r["referenced_by"],
                r["references"]] for r in data["requisites_missing"]]),
        table("integrity", "Integrity errors and warnings", ["severity", "kind", "file", "offset", "url", "detail"],
              [[e["severity"], e["kind"], e["file"], e["offset"], e["url"], e["detail"]] for e in data["integrity_errors"]]),
        table("hosts", "Per host", ["host", "records", "2xx", "3xx", "4xx", "5xx", "expected", "missing",
                                    "blocked by robots", "out of scope", "errors", "not captured"],
              [[h, c.get("records", 0), c.get("2xx", 0), c.get("3xx", 0), c.get("4xx", 0), c.get("5xx", 0),
                c.get("expected", 0), c.get("missing", 0), c.get("blocked_by_robots", 0), c.get("out_of_scope", 0),
                c.get("error", 0), c.get("not_captured", 0)] for h, c in hosts]),
        table("dup-urls", "URLs captured more than once", ["url", "captures"],
              [[d["url"], d["captures"]] for d in dup["top_urls"]], total=dup["urls_captured_more_than_once"]),
        table("dup-payloads", "Same payload under several URLs", ["digest", "URLs", "examples"],
              [[d["digest"], d["urls"], d["examples"]] for d in dup["top_payloads"]],
              total=dup["payloads_under_several_urls"]),
        *_document_tables(data.get("documents") or {}),
        table("outcomes", "Every expected URL", ["url", "outcome", "status", "final url", "reason", "file", "offset"],
              [[o["url"], o["outcome"], o["status"], o["final_url"], o["reason"], o["file"], o["offset"]]
               for o in data["outcomes"]]),
    ]
    body = (f"<h1>Archive audit</h1>{verdict}{facts}"
            + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "")
            + f'<div class="charts">{"".join(charts)}</div>' + "".join(sections))
    template = resources.files("archiver.audit").joinpath("report.html").read_text(encoding="utf-8")
    head, _, tail = template.partition("{{body}}")
    return head.replace("{{title}}", "Archive audit") + body + tail
