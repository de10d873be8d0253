"""Audit: is the archive complete, what is missing and why, and is what it holds intact.

``audit(inputs, ...)`` reads any WARC collection once (``inventory``), builds
the expected set (``expected``), gives each expected URL an ``AuditOutcome``,
lists missing pages (apart from pages captured as 404/410 and out-of-scope
URLs, which are not missing), missing requisites and integrity errors, and
sums it up. (``archiver audit`` adds to crawls of a job, or a run holding
them, the earlier runs' WARC files holding their revisits' originals: see
``jobs/originals.py``.)
``write_report(report, out_dir)`` writes ``audit.json`` and a self-contained
``audit.html``.

Completeness ratio = (captured + redirected) / (expected - out_of_scope):
a URL the crawl was told not to fetch is not held against the archive; a URL
blocked by robots.txt, an error, a 404 or a URL never captured is.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from archiver.audit.documents import documents_section
from archiver.audit.expected import (
    Expected,
    crawl_reason,
    crawls_in,
    load_crawl_log,
    load_redirects,
    load_sitemap,
    load_url_file,
    load_wacz_pages,
)
from archiver.audit.inventory import Inventory, take_inventory
from archiver.audit.report import render_html
from archiver.cluster import open_executor
from archiver.errors import UsageError
from archiver.outputs import writable_dir
from archiver.types import REDIRECT_KINDS, AuditOutcome
from archiver.urls import lookup_key, url_host
from archiver.warc import expand_inputs

COMPLETENESS_DEFINITION = ("(captured + redirected) / (expected - out_of_scope); captured = a 2xx capture or a "
                           "revisit resolving to one; redirected = a 3xx capture (final target followed inside "
                           "the archive); http/https and www. variants are reported, not counted")
OUTCOMES = ("captured", "redirected", "not_found", "error", "blocked_by_robots", "out_of_scope", "not_captured")
# the lists of expected URLs that are not in the archive as pages, each in its own section of the report
LISTS = {"missing": ("not_captured", "error", "blocked_by_robots"), "not_found": ("not_found",),
         "out_of_scope": ("out_of_scope",)}
TOP = 100


@dataclass
class AuditReport:
    """Everything the audit found; ``to_json()`` is audit.json."""

    generated: str
    inputs: list[str]
    expected_from: list[str]
    outcomes: list[AuditOutcome]
    missing: list[dict]  # not captured, blocked by robots.txt, or captured as an error other than 404/410
    not_found: list[dict]  # captured, answering 404 or 410: held against completeness, but not missing
    out_of_scope: list[dict]  # the crawl was told not to fetch them: not counted at all
    requisites_missing: list[dict]
    integrity_errors: list[dict]
    summary: dict
    completeness: float | None
    fail_under: float | None = None
    warnings: list[str] = field(default_factory=list)
    documents: dict = field(default_factory=dict)  # see audit/documents.py
    ignore_integrity: bool = False

    @property
    def integrity_failed(self) -> bool:
        """Whether the archive holds damage (integrity errors: cut or corrupt files, digest mismatches)."""
        return any(e["severity"] == "error" for e in self.integrity_errors)

    @property
    def passed(self) -> bool:
        """False when the archive is damaged (unless ``ignore_integrity``), or when a threshold is set and
        the ratio is under it (or unknown)."""
        if self.integrity_failed and not self.ignore_integrity:
            return False
        if self.fail_under is None:
            return True
        return self.completeness is not None and self.completeness >= self.fail_under

    def to_json(self) -> dict:
        return {
            "generated": self.generated,
            "inputs": self.inputs,
            "expected_from": self.expected_from,
            "completeness": self.completeness,
            "completeness_definition": COMPLETENESS_DEFINITION,
            "fail_under": self.fail_under,
            "ignore_integrity": self.ignore_integrity,
            "passed": self.passed,
            "summary": self.summary,
            "missing": self.missing,
            "not_found": self.not_found,
            "out_of_scope": self.out_of_scope,
            "requisites_missing": self.requisites_missing,
            "integrity_errors": self.integrity_errors,
            "documents": self.documents,
            "outcomes": [o.to_json() for o in self.outcomes],
            "warnings": self.warnings,
        }


def _listing(o: AuditOutcome) -> dict:
    return {"url": o.url, "outcome": o.outcome, "status": o.status, "reason": o.reason, "sources": list(o.sources),
            "file": o.file, "offset": o.offset}


def completeness_ratio(counts: Counter | dict) -> float | None:
    """(captured + redirected) / (expected - out_of_scope) from outcome counts; None with nothing in scope."""
    in_scope = sum(counts.values()) - counts.get("out_of_scope", 0)
    return (counts.get("captured", 0) + counts.get("redirected", 0)) / in_scope if in_scope else None


def _variants(url: str) -> list[str]:
    """The http/https and www./bare forms of a URL, which the audit reports but never merges."""
    parts = urlsplit(url)
    host = parts.netloc
    hosts = {host, host[4:] if host.startswith("www.") else "www." + host}
    schemes = {"http", "https"}
    out = []
    for scheme in schemes:
        for h in hosts:
            candidate = urlunsplit((scheme, h, parts.path, parts.query, ""))
            if candidate != url:
                out.append(candidate)
    return sorted(out)


def _outcome(key: str, url: str, sources: list[str], inv: Inventory, expected: Expected) -> AuditOutcome:
    first = inv.urls.get(key)
    tags = tuple(sources)
    if first is not None and first.status is not None:
        where = dict(file=first.file, offset=first.offset)
        if 200 <= first.status < 300:
            note = "revisit resolved to its original" if first.record_type == "revisit" else ""
            return AuditOutcome(url, "captured", first.status, reason=note, sources=tags, **where)
        if 300 <= first.status < 400:
            state, chain = inv.follow(url)
            final = chain[-1] if len(chain) > 1 else None
            keys = [lookup_key(c) for c in chain]
            if len(chain) == 1:
                end = "no Location header"
            elif keys[-1] in keys[:-1]:
                end = "redirect loop"
            elif state is None:
                end = "final target not in the archive"
            elif state.status and 300 <= state.status < 400:
                end = "chain too long"
            else:
                end = f"final target answered {state.status}"
            return AuditOutcome(url, "redirected", first.status, final_url=final,
                                reason=f"{len(chain) - 1} hop(s); {end}", sources=tags, **where)
        if first.status in (404, 410):
            return AuditOutcome(url, "not_found", first.status, reason=f"HTTP {first.status}", sources=tags, **where)
        return AuditOutcome(url, "error", first.status, reason=f"HTTP {first.status}", sources=tags, **where)
    if key in inv.damaged:
        return AuditOutcome(url, "not_captured", reason=f"only capture is damaged: {inv.damaged[key]}", sources=tags)
    if first is not None and first.revisit_unresolved:
        return AuditOutcome(url, "not_captured", reason="revisit whose original is not in the collection",
                            file=first.file, offset=first.offset, sources=tags)
    row = expected.crawl.get(key)
    if row is not None:
        outcome, reason = crawl_reason(row)
        status = row.get("status") if isinstance(row.get("status"), int) else None
        return AuditOutcome(url, outcome, status, reason=reason, sources=tags)
    for variant in _variants(key):
        other = inv.lookup(variant)
        if other is not None and other.status is not None and other.status < 400:
            return AuditOutcome(url, "not_captured", reason=f"not under this URL; captured as {other.url} "
                                f"(HTTP {other.status})", sources=tags)
    return AuditOutcome(url, "not_captured", reason="not in the archive", sources=tags)


def _requisites_missing(inv: Inventory, expected: Expected) -> list[dict]:
    rows = []
    for key, ref in inv.references.items():
        state, chain = inv.follow(ref.url)
        if state is not None and state.status is not None and 200 <= state.status < 300:
            continue
        if state is None:
            row = expected.crawl.get(lookup_key(chain[-1]))
            if key in inv.damaged:
                reason = f"capture damaged: {inv.damaged[key]}"
            elif row is not None:
                reason = crawl_reason(row)[1]
            else:
                reason = "never captured"
            if len(chain) > 1:
                reason = f"redirects to {chain[-1]}, which was {reason}"
            status = None
        else:
            status = state.status
            reason = f"HTTP {state.status}" + (f" after redirect from {ref.url}" if len(chain) > 1 else "")
        host = url_host(ref.url)
        page_hosts = {url_host(p) for p in ref.pages}
        rows.append({"url": ref.url, "kind": ref.kind, "status": status, "reason": reason,
                     "other_host": host not in page_hosts, "referenced_by": ref.pages, "references": ref.count})
    rows.sort(key=lambda r: (-r["references"], r["url"]))
    return rows


def _summary(inv: Inventory, outcomes: list[AuditOutcome], expected: Expected) -> dict:
    by_outcome = Counter(o.outcome for o in outcomes)
    hosts = {}
    for host, counts in inv.hosts.items():
        hosts[host] = dict(counts)
    for o in outcomes:
        host = url_host(o.url)
        entry = hosts.setdefault(host, {})
        entry["expected"] = entry.get("expected", 0) + 1
        if o.outcome in LISTS["missing"]:
            entry["missing"] = entry.get("missing", 0) + 1
        if o.outcome not in ("captured", "redirected"):
            entry[o.outcome] = entry.get(o.outcome, 0) + 1
    repeated = sorted(((s.count, s.url) for s in inv.urls.values() if s.count > 1), reverse=True)
    shared = sorted(((inv.digest_counts[d], d, urls) for d, urls in inv.digest_urls.items() if inv.digest_counts[d] > 1),
                    key=lambda t: (-t[0], t[1]))
    summary = {
        "files": len(inv.files),
        "records": inv.records,
        "bytes": inv.bytes,
        "record_types": dict(inv.record_types),
        "urls_captured": len(inv.urls),
        "status": dict(sorted(inv.status_hist.items())),
        "mime": dict(inv.mime_hist.most_common()),
        "hosts": dict(sorted(hosts.items())),
        "expected": len(outcomes),
        "outcomes": {name: by_outcome.get(name, 0) for name in OUTCOMES},
        "captured_only_as_variant": sum(1 for o in outcomes if o.reason.startswith("not under this URL")),
        "duplicates": {
            "urls_captured_more_than_once": len(repeated),
            "top_urls": [{"url": u, "captures": n} for n, u in repeated[:TOP]],
            "payloads_under_several_urls": len(shared),
            "top_payloads": [{"digest": d, "urls": n, "examples": urls} for n, d, urls in shared[:TOP]],
        },
        "integrity": dict(Counter(e["severity"] for e in inv.integrity)),
        "requisites_referenced": len(inv.references),
    }
    if expected.redirect_kinds:
        kinds = Counter(expected.redirect_kinds.values())
        captured = {lookup_key(o.url) for o in outcomes if o.outcome in ("captured", "redirected")}
        summary["redirect_coverage"] = {
            "rows": len(expected.redirect_kinds),
            **{k: kinds.get(k, 0) for k in REDIRECT_KINDS},
            "other": sum(v for k, v in kinds.items() if k not in REDIRECT_KINDS),
            "old_urls_in_archive": sum(1 for k in expected.redirect_kinds if k in captured),
        }
    return summary


def discover_crawl_logs(inputs) -> list[Path]:
    """crawl.jsonl of the crawls a directory the user gave names: a crawl directory, its warc/ folder,
    or a job run holding crawls (``OUT/<name>/latest``)."""
    found = []
    for raw in inputs:
        for crawl_dir in crawls_in(Path(raw)):
            if crawl_dir / "crawl.jsonl" not in found:
                found.append(crawl_dir / "crawl.jsonl")
    return found


def audit(inputs, *, expected_file=None, sitemaps=(), crawl_logs=(), redirects=None, fail_under=None,
          executor: Executor | None = None, cluster: str | None = None, part: int | None = None,
          ignore_integrity: bool = False) -> AuditReport:
    """Audit a WARC collection (files, directories, WACZ) against what was expected.

    ``executor`` reads files and parts of files side by side (default: a
    process per CPU; see ``archiver.cluster``), ``cluster`` names it in the
    summary (``summary.cluster``), ``part`` is the size big files are cut at (``archiver.scan``).
    The report fails on integrity errors unless ``ignore_integrity``, and under
    ``fail_under``. A file that is not an archive is a UsageError.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [str(p) for p in inputs]
    if not inputs:
        raise UsageError("no WARC, WACZ or directory given")
    for path in inputs:
        if not Path(path).exists():
            raise UsageError(f"no such WARC, WACZ or directory: {path}")
    sources = expand_inputs(inputs)
    if not sources:
        raise UsageError(f"no WARC or WACZ files in {', '.join(inputs)}")

    if fail_under is not None and not 0 <= fail_under <= 1:
        raise UsageError(f"--fail-under must be a ratio between 0 and 1, got {fail_under}")
    expected = Expected()
    if expected_file:
        load_url_file(expected, expected_file)
    for ref in sitemaps or ():
        load_sitemap(expected, str(ref))
    explicit = bool(expected_file or sitemaps or redirects or crawl_logs)
    for log_path in list(crawl_logs or ()) or ([] if explicit else discover_crawl_logs(inputs)):
        load_crawl_log(expected, log_path)
    if not explicit:  # a Browsertrix WACZ lists the pages its crawler visited (given, or found in a directory)
        for path in dict.fromkeys(s.path for s in sources if s.path.lower().endswith(".wacz")):
            load_wacz_pages(expected, path)
    if redirects:
        load_redirects(expected, redirects)

    with contextlib.ExitStack() as stack:
        if executor is None:
            executor, cluster = stack.enter_context(open_executor(local_processes=True))
        inv = take_inventory(inputs, executor=executor, part=part)
    outcomes = [_outcome(key, url, expected.sources[key], inv, expected) for key, url in expected.urls.items()]
    listed = {name: [_listing(o) for o in outcomes if o.outcome in group] for name, group in LISTS.items()}
    completeness = completeness_ratio(Counter(o.outcome for o in outcomes))
    warnings = list(expected.warnings)
    if not expected.urls:
        warnings.append("no expected URLs given (--expected, --sitemap, --crawl-log, --redirects): "
                        "completeness cannot be computed; integrity and requisites are still checked")
    integrity = sorted(inv.integrity, key=lambda e: ({"error": 0, "warning": 1}.get(e["severity"], 2), e["file"],
                                                     e["offset"] or 0))
    return AuditReport(
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        inputs=inputs,
        expected_from=expected.given,
        outcomes=outcomes,
        missing=listed["missing"],
        not_found=listed["not_found"],
        out_of_scope=listed["out_of_scope"],
        requisites_missing=_requisites_missing(inv, expected),
        integrity_errors=integrity,
        summary={**_summary(inv, outcomes, expected), "cluster": cluster},
        completeness=completeness,
        fail_under=fail_under,
        warnings=warnings,
        documents=documents_section(inv, expected),
        ignore_integrity=ignore_integrity,
    )


def write_report(report: AuditReport, out_dir) -> dict[str, Path]:
    """Write audit.json and audit.html into ``out_dir``; return their paths."""
    out = writable_dir(out_dir)
    data = report.to_json()
    paths = {"json": out / "audit.json", "html": out / "audit.html"}
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(paths["json"])
    tmp = paths["html"].with_suffix(".html.tmp")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(paths["html"])
    return paths
