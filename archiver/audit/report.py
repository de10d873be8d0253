"""audit.html: one self-contained page, verdict and counts first, then charts and tables.

The page is rendered from ``report.html`` with Jinja2 and autoescape on:
every value from the archive is hostile input (a URL may hold
``<script>``), and autoescape escapes each one where it is written, so no
value can reach the page unescaped by being forgotten. The page's
Content-Security-Policy also forbids any network load. Tables are capped at
``MAX_ROWS`` rows; the full lists are in audit.json.

The headline counts add up to the expected URLs and the completeness
figure is computed from the same counts, so the numbers a reader checks by
hand agree. Pass or fail is written in words, not only shown as a colour.
"""
from __future__ import annotations

from importlib import resources

from jinja2 import Environment, StrictUndefined

MAX_ROWS = 5000
BAR_COLOURS = {"captured": "#3a7d44", "redirected": "#5b8fd6", "not_found": "#c9a227", "error": "#c0392b",
               "blocked_by_robots": "#8e44ad", "out_of_scope": "#95a5a6", "not_captured": "#e67e22"}
CHART_WIDTH, CHART_ROW, CHART_LABEL = 520, 18, 190
# how a column's cells wrap: "url" may break anywhere (long URLs, paths, digests), "text" at spaces,
# "short" never (statuses, counts, outcomes: "200" is never split over two lines)
URL, TEXT, SHORT = "url", "text", "short"


def bar_chart(title: str, items: list[tuple[str, int]], *, colours: dict | None = None) -> dict:
    """A horizontal bar chart's geometry (drawn as inline SVG by the template)."""
    items = [(str(k), int(v)) for k, v in items][:25]
    top = max((v for _, v in items), default=0) or 1
    bar_room = CHART_WIDTH - CHART_LABEL - 60
    bars = []
    for i, (label, value) in enumerate(items):
        length = max(1, int(bar_room * value / top)) if value else 0
        bars.append({"label": label, "short": label if len(label) <= 30 else label[:29] + "\u2026", "value": value,
                     "y": i * CHART_ROW + 2, "length": length, "colour": (colours or {}).get(label, "#4a78b5")})
    return {"title": title, "bars": bars, "width": CHART_WIDTH, "height": CHART_ROW * len(bars) + 4,
            "label_x": CHART_LABEL}


def table(table_id: str, title: str, columns: list[tuple[str, str]], rows: list[list], *,
          total: int | None = None, intro: str = "") -> dict:
    """A sortable, filterable table: ``columns`` are (heading, wrap kind), cells plain values."""
    total = len(rows) if total is None else total
    shown = rows[:MAX_ROWS]
    note = f"first {len(shown)} of {total}; all in audit.json" if total > len(shown) else str(total)
    cells = [[" ".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v) for v in row]
             for row in shown]
    return {"id": table_id, "title": title, "columns": columns, "rows": cells, "note": note, "intro": intro}


def _verdict(data: dict) -> dict:
    ratio = data["completeness"]
    errors = data["summary"].get("integrity", {}).get("error", 0)
    if not data["passed"] and errors and not data.get("ignore_integrity"):
        return {"css": "fail", "word": "FAILED",
                "text": f"the archive is damaged: {errors} integrity errors (listed below)"
                        + ("" if ratio is None else f"; completeness {ratio:.1%}")}
    if ratio is None:
        return {"css": "none", "word": "NOT COMPUTED", "text": "no expected URLs in scope, so completeness cannot be computed"}
    if data["fail_under"] is None:
        return {"css": "none", "word": "NO THRESHOLD",
                "text": f"completeness {ratio:.1%}; no --fail-under / fail_under was set, so nothing passes or fails"}
    word = "PASSED" if data["passed"] else "FAILED"
    relation = "at or above" if data["passed"] else "under"
    return {"css": "pass" if data["passed"] else "fail", "word": word,
            "text": f"completeness {ratio:.1%} is {relation} the threshold of {data['fail_under']:.1%}"}


def _headline(data: dict) -> dict:
    """The expected URLs by what became of them; the parts add up, and the ratio is made of them."""
    outcomes = data["summary"]["outcomes"]
    expected = sum(outcomes.values())
    out_of_scope = outcomes.get("out_of_scope", 0)
    return {"expected": expected, "out_of_scope": out_of_scope, "in_scope": expected - out_of_scope,
            "captured": outcomes.get("captured", 0), "redirected": outcomes.get("redirected", 0),
            "not_found": outcomes.get("not_found", 0), "missing": len(data["missing"]),
            "ratio": data["completeness"]}


def _listed(rows: list[dict]) -> list[list]:
    return [[m["url"], m["outcome"], m["status"], m["reason"], m["sources"]] for m in rows]


def _document_tables(documents: dict) -> list[str]:
    """Documents linked but not captured, and captured without a redirect row (audit/documents.py)."""
    if not documents:
        return []
    tables = [table("doc-missing", "Documents linked from pages but not captured",
                    [("url", URL), ("reason", TEXT), ("linked from", URL), ("links", SHORT)],
                    [[d["url"], d["reason"], d["linked_from"], d["links"]] for d in documents["linked_not_captured"]])]
    if documents["captured_without_row"] is not None:
        tables.append(table("doc-norow", f"Captured documents without a redirect row (of {documents['captured']})",
                            [("url", URL)], [[url] for url in documents["captured_without_row"]]))
    return tables


def render_html(data: dict) -> str:
    """The report page from audit.json's data."""
    summary = data["summary"]
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
    listed_columns = [("url", URL), ("outcome", SHORT), ("status", SHORT), ("reason", TEXT), ("expected from", TEXT)]
    tables = [
        table("missing", "Missing expected URLs", listed_columns, _listed(data["missing"]),
              intro="Not captured, blocked by robots.txt, or captured only as an error (5xx, 401, ...)."),
        table("not-found", "Captured as 404 or 410", listed_columns, _listed(data.get("not_found", [])),
              intro="The archive holds the site's answer, which says the page was gone; counted against "
                    "completeness, but not missing from the archive."),
        table("out-of-scope", "Out of scope (not counted)", listed_columns, _listed(data.get("out_of_scope", [])),
              intro="The crawl was told not to fetch these (other hosts, include/exclude rules); they are left out "
                    "of the completeness ratio."),
        table("requisites", "Missing requisites (embedded resources)",
              [("url", URL), ("kind", SHORT), ("status", SHORT), ("reason", TEXT), ("other host", SHORT),
               ("referenced by", URL), ("references", SHORT)],
              [[r["url"], r["kind"], r["status"], r["reason"], "yes" if r["other_host"] else "", r["referenced_by"],
                r["references"]] for r in data["requisites_missing"]]),
        table("integrity", "Integrity errors and warnings",
              [("severity", SHORT), ("kind", SHORT), ("file", URL), ("offset", SHORT), ("url", URL), ("detail", TEXT)],
              [[e["severity"], e["kind"], e["file"], e["offset"], e["url"], e["detail"]] for e in data["integrity_errors"]]),
        table("hosts", "Per host",
              [("host", URL)] + [(name, SHORT) for name in ("records", "2xx", "3xx", "4xx", "5xx", "expected", "missing",
                                                            "404/410", "blocked by robots", "out of scope", "errors",
                                                            "not captured")],
              [[h, c.get("records", 0), c.get("2xx", 0), c.get("3xx", 0), c.get("4xx", 0), c.get("5xx", 0),
                c.get("expected", 0), c.get("missing", 0), c.get("not_found", 0), c.get("blocked_by_robots", 0),
                c.get("out_of_scope", 0), c.get("error", 0), c.get("not_captured", 0)] for h, c in hosts]),
        table("dup-urls", "URLs captured more than once", [("url", URL), ("captures", SHORT)],
              [[d["url"], d["captures"]] for d in dup["top_urls"]], total=dup["urls_captured_more_than_once"]),
        table("dup-payloads", "Same payload under several URLs", [("digest", URL), ("URLs", SHORT), ("examples", URL)],
              [[d["digest"], d["urls"], d["examples"]] for d in dup["top_payloads"]],
              total=dup["payloads_under_several_urls"]),
        *_document_tables(data.get("documents") or {}),
        table("outcomes", "Every expected URL",
              [("url", URL), ("outcome", SHORT), ("status", SHORT), ("final url", URL), ("reason", TEXT), ("file", URL),
               ("offset", SHORT)],
              [[o["url"], o["outcome"], o["status"], o["final_url"], o["reason"], o["file"], o["offset"]]
               for o in data["outcomes"]]),
    ]
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(
        resources.files("archiver.audit").joinpath("report.html").read_text(encoding="utf-8"))
    return template.render(data=data, summary=summary, verdict=_verdict(data), headline=_headline(data),
                           integrity=summary.get("integrity", {}), charts=charts, tables=tables)
