"""The job's tasks: each does one step for one legacy site (or for the new site) and returns a small summary.

A task takes paths and settings (one frozen dataclass) and runs wherever the
executor puts it (``archiver.cluster``): in this process, or on any worker of
a Dask cluster that sees the run directory at the same path (NFS or a cluster
filesystem). WARC files, SQLite state, notices, the portal index and the
exports stay on that filesystem; what travels through the scheduler is a few
hundred bytes each way.

A task may run twice (its worker killed mid-task: Dask runs it again on
another), so each is safe to repeat: a crawl resumes from its own state
(``state.sqlite3``; its directory's lock is an flock the kernel drops with
the dead process), and every other task rewrites its files whole (written
under a temporary name, then renamed).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.audit import audit, write_report
from archiver.capture import CrawlConfig, crawl
from archiver.capture.crawllog import is_live_page
from archiver.cluster import InlineExecutor
from archiver.detect import detect, read_notices, write_notices
from archiver.errors import UsageError
from archiver.export import export_all
from archiver.jobs.history import run_of
from archiver.jobs.originals import CrawlCaptures, original_files
from archiver.mapping import KINDS, Decisions, PortalIndex, explicit_targets, map_to_portal
from archiver.mapping.candidates import CANDIDATES_FILE, CandidatesWriter
from archiver.types import RedirectRow, SectionRule
from archiver.verify import check_reachable, summary_line, verify_run
from archiver.wacz import write_wacz

ROWS_FILE = "rows.jsonl"  # a programme site's rows as mapped, before the export checked them: the combined export's input
SEED_SAMPLE = 3  # seeds named in the "nothing could be fetched" line


def crawl_stats(crawl_dir: Path) -> dict[str, Any]:
    """Numbers from a crawl directory's crawl.jsonl and WARC files.  ``pages`` counts HTML
    pages that are there (2xx or 304), not robots.txt, sitemaps, images or styles; a 304
    counts as "not modified", not as a redirect."""
    states, records, statuses = Counter(), Counter(), Counter()
    pages = 0
    log_path = crawl_dir / "crawl.jsonl"
    if log_path.is_file():
        with log_path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                entry = json.loads(line)
                states[entry.get("state") or "unknown"] += 1
                if entry.get("record_type"):
                    records[entry["record_type"]] += 1
                status = entry.get("status")
                if status is not None:
                    statuses["not modified" if status == 304 else f"{status // 100}xx"] += 1
                pages += is_live_page(entry)
    warcs = sorted((crawl_dir / "warc").glob("*.warc*")) if (crawl_dir / "warc").is_dir() else []
    return {
        "urls": sum(states.values()),
        "fetched": sum(statuses.values()),
        "pages": pages,
        "failed": states.get("failed", 0),
        "skipped": states.get("skipped", 0),
        "responses": records.get("response", 0),
        "revisits": records.get("revisit", 0),
        "statuses": dict(sorted(statuses.items())),
        "warc_files": len(warcs),
        "warc_bytes": sum(p.stat().st_size for p in warcs),
    }


def _run_name(path: Path | str) -> str | None:
    found = run_of(path)
    return found[0].name if found else None


def _relative(path: Path, run_dir: Path) -> str:
    return str(Path(path).relative_to(run_dir))


# crawl -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CrawlTask:
    """One site's crawl. ``earlier``: the same crawl in the job's earlier runs, oldest first (where
    its revisits' originals are); ``notices``: notices files whose explicit targets on
    ``target_hosts`` become extra seeds (the new site's crawl), with ``extra_seeds``."""

    label: str  # "legacy site", "site mnz", "new site": how messages name it
    config: CrawlConfig
    run_dir: Path
    earlier: tuple[Path, ...] = ()
    wacz: bool = False
    notices: tuple[Path, ...] = ()
    target_hosts: tuple[str, ...] = ()
    extra_seeds: tuple[str, ...] = ()


def targets_on(notices_files, hosts) -> list[str]:
    """The explicit targets (redirects, refreshes, scripts, canonicals) of the notices files that lie on
    ``hosts``, sorted: seeds of the new site's crawl, because an old slug the new site only reaches by
    redirect is linked from nowhere on it, and mapping verifies only targets that were captured."""
    hosts = set(hosts)
    found: set[str] = set()
    for path in notices_files:
        found.update(url for url in explicit_targets(read_notices(path)) if urlsplit(url).netloc.lower() in hosts)
    return sorted(found)


def run_crawl(task: CrawlTask) -> dict:
    started = time.monotonic()
    config = task.config
    seeds = list(dict.fromkeys([*config.seeds, *targets_on(task.notices, task.target_hosts), *task.extra_seeds]))
    config = dataclasses.replace(config, seeds=seeds, wacz=False)  # packed below, with the earlier runs' originals
    result = crawl(config)
    crawl_dir = Path(config.out_dir)
    if not result.ok:
        shown = ", ".join(seeds[:SEED_SAMPLE]) + (f" and {len(seeds) - SEED_SAMPLE} more" if len(seeds) > SEED_SAMPLE else "")
        raise UsageError(f"{task.label}: nothing could be fetched, every seed was unreachable ({shown}); "
                         f"see {crawl_dir / 'crawl.jsonl'}")
    originals = original_files(crawl_dir, task.earlier)
    summary = {
        **crawl_stats(crawl_dir),
        "incremental_from": _run_name(config.previous) if config.previous else None,
        "originals_in": sorted({name for name in map(_run_name, originals) if name}),
        "originals": [str(p) for p in originals],
    }
    if task.wacz:
        packed = write_wacz(crawl_dir, originals=originals)
        summary["wacz"] = {"file": _relative(packed.path, task.run_dir), "pages": packed.pages,
                           "records": packed.records, "bytes": packed.bytes, "original_files": packed.original_files,
                           "unresolved_revisits": packed.unresolved_revisits}
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


# detect ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectTask:
    crawl_dir: Path
    originals: tuple[str, ...]
    out: Path  # notices.jsonl
    new_hosts: tuple[str, ...]
    phrases: tuple[str, ...] = ()


def run_detect(task: DetectTask) -> dict:
    started = time.monotonic()
    notices = detect(CrawlCaptures(task.crawl_dir, task.originals), new_hosts=task.new_hosts, phrases=task.phrases)
    write_notices(notices, task.out)
    return {"notices": dict(sorted(Counter(n.classification for n in notices).items())),
            "seconds": round(time.monotonic() - started, 2)}


# the portal index ------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexTask:
    crawl_dir: Path
    originals: tuple[str, ...]
    out: Path
    thresholds: Any  # mapping.Thresholds
    assets: tuple[str, ...] = ()
    follow_gone: bool = False


def run_index(task: IndexTask) -> dict:
    started = time.monotonic()
    portal = PortalIndex.build(CrawlCaptures(task.crawl_dir, task.originals), thresholds=task.thresholds,
                               assets=task.assets, follow_gone=task.follow_gone)
    size = portal.save(task.out)
    return {"pages": len(portal.facts), "documents": portal.document_count, "bytes": size,
            "seconds": round(time.monotonic() - started, 2)}


# map and export --------------------------------------------------------------------------

@dataclass(frozen=True)
class MapTask:
    index: Path
    site_dir: Path
    crawl_dir: Path
    originals: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    rules: tuple[SectionRule, ...] = ()
    status: int = 301
    decisions: Any = None  # mapping.Decisions: a person's, applied first
    formats: tuple[str, ...] | None = None
    keep_rows: bool = False  # write ROWS_FILE for the combined export
    deploy_dir: Path | None = None  # where the web server reads site_dir's exports (through OUT/<name>/latest)


def run_map(task: MapTask) -> dict:
    started = time.monotonic()
    portal = PortalIndex.load(task.index)
    # this site's own copy: a build records which decisions it applied
    decisions = Decisions(list(task.decisions), task.decisions.source) if task.decisions is not None else None
    with CandidatesWriter(task.site_dir / CANDIDATES_FILE) as candidates:
        rows = map_to_portal(portal, read_notices(task.site_dir / "notices.jsonl"),
                             CrawlCaptures(task.crawl_dir, task.originals), allowed_hosts=task.allowed_hosts,
                             rules=task.rules, status=task.status, decisions=decisions, candidates=candidates)
    if task.keep_rows:
        write_rows(rows, task.site_dir / ROWS_FILE)
    summary = export_rows(rows, task.site_dir, task.formats, task.allowed_hosts, task.deploy_dir)
    summary["applied"] = sorted(decisions.applied) if decisions is not None else []
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def write_rows(rows: list[RedirectRow], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def read_rows(path: Path) -> list[RedirectRow]:
    with path.open(encoding="utf-8") as lines:
        return [RedirectRow(**json.loads(line)) for line in lines if line.strip()]


def export_rows(rows: list[RedirectRow], out_dir: Path, formats, allowed_hosts, deploy_dir: Path | None) -> dict:
    """Export ``rows`` into ``out_dir``; for the summary, what the exports hold (refusals by cause)
    and the file names. ``deploy_dir`` is where the web server reads them (the Apache map's path)."""
    exported = export_all(rows, out_dir, formats=list(formats) if formats is not None else None,
                          allowed_hosts=allowed_hosts, deploy_dir=deploy_dir)
    counts = exported.counts()
    summary = {"redirects": {"rows": len(rows), **counts["exported"], "review": counts["review"],
                             "refused": counts["refused"], "skipped_by_format": counts["skipped"],
                             "exported": sum(counts["exported"][k] for k in KINDS)},
               "exports": {name: Path(p).name for name, p in exported.paths.items()}}
    if exported.warnings:
        summary["export_warnings"] = exported.warnings
    return summary


@dataclass(frozen=True)
class CombineTask:
    """Every site's rows exported at once into the run directory, and their candidates for review."""

    run_dir: Path
    site_dirs: tuple[Path, ...]
    allowed_hosts: tuple[str, ...]
    formats: tuple[str, ...] | None = None
    deploy_dir: Path | None = None  # where the web server reads run_dir's exports (through OUT/<name>/latest)


def run_combine(task: CombineTask) -> dict:
    started = time.monotonic()
    rows = sorted((row for site in task.site_dirs for row in read_rows(site / ROWS_FILE)), key=lambda r: r.old_url)
    summary = export_rows(rows, task.run_dir, task.formats, task.allowed_hosts, task.deploy_dir)
    combined = task.run_dir / CANDIDATES_FILE
    tmp = combined.with_name(combined.name + ".tmp")
    with tmp.open("wb") as out:
        for site in task.site_dirs:
            with (site / CANDIDATES_FILE).open("rb") as part:
                out.write(part.read())
    os.replace(tmp, combined)
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


# audit and verify ------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditTask:
    run_dir: Path
    site_dir: Path
    crawl_dir: Path
    originals: tuple[str, ...]
    expected: Path | None = None
    fail_under: float | None = None
    processes: bool = True  # read with a process per CPU (not on a cluster worker, which may not start processes)


def run_audit(task: AuditTask) -> dict:
    started = time.monotonic()
    redirects = task.site_dir / "redirects.csv"
    # Expected URLs: the crawl log (it holds every sitemap URL, as seeds) and the redirect
    # manifest; sitemaps are not fetched again. The earlier runs' files holding the
    # originals of this run's revisits are part of the collection.
    report = audit([*task.originals, task.crawl_dir], expected_file=task.expected,
                   crawl_logs=[task.crawl_dir / "crawl.jsonl"], redirects=redirects if redirects.is_file() else None,
                   fail_under=task.fail_under, executor=None if task.processes else InlineExecutor())
    paths = write_report(report, task.site_dir / "audit")
    return {"completeness": report.completeness, "fail_under": task.fail_under, "passed": report.passed,
            "report": _relative(paths["html"], task.run_dir), "seconds": round(time.monotonic() - started, 2)}


@dataclass(frozen=True)
class VerifyTask:
    """The live old site (``against``) checked against one site's redirects.csv, its targets against
    the new site's capture."""

    run_dir: Path
    site_dir: Path
    against: str
    allowed_hosts: tuple[str, ...]
    crawl: dict  # the job's [crawl] settings: politeness
    new_crawl: Path
    new_originals: tuple[str, ...]
    fail_under: float = 1.0


def run_verify(task: VerifyTask) -> dict:
    started = time.monotonic()
    report, paths = verify_run(task.site_dir, task.against, allowed_hosts=task.allowed_hosts,
                               config=CrawlConfig(**task.crawl),
                               new_captures=CrawlCaptures(task.new_crawl, task.new_originals),
                               fail_under=task.fail_under)
    check_reachable(report, paths["html"])
    return {**report.summary(), "report": _relative(paths["html"], task.run_dir),
            "line": summary_line(report, paths["html"]), "seconds": round(time.monotonic() - started, 2)}
