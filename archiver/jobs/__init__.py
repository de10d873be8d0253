"""Scheduled jobs: the whole pipeline for one manifest, locked, with history.

``run_job(manifest, out_root)`` holds ``OUT/<name>/.lock`` (exit 4 when another
run has it), creates ``OUT/<name>/runs/<UTC timestamp>/`` (or resumes the
newest run there when it was killed half-way: the crawler continues where it
stopped), and there:

1. crawls the legacy site (``legacy/``) and detects notices
   (``notices.jsonl``), then crawls the new site (``new/``) with the notices'
   explicit targets on it as extra seeds, so each can be verified; each
   re-crawl passes the previous run's crawl as ``previous`` so unchanged
   pages are re-validated with conditional requests and stored as revisits;
2. maps the notices to the new site, a person's decisions first (the
   manifest's decisions file, written by ``archiver review``), and exports
   the redirect manifest (``redirects.*``, ``candidates.jsonl`` for review);
3. audits the legacy archive (``audit/``) against ``fail_under`` (exit 3);
4. diffs against the previous run (``diff.json``), writes ``summary.json``,
   points ``OUT/<name>/latest`` at the run and prunes to ``keep_runs``.

Every stage reads the archive, never the live site.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver import __version__
from archiver.warc import iter_captures
from archiver.audit import audit, write_report
from archiver.capture import CrawlConfig, crawl
from archiver.capture.crawllog import is_live_page
from archiver.detect import detect, write_notices
from archiver.errors import EXIT_INCOMPLETE, EXIT_OK, ArchiverError, UsageError
from archiver.export import describe_refusals, export_all
from archiver.jobs.diff import counts as diff_counts
from archiver.jobs.diff import diff_runs
from archiver.jobs.history import JobHistory
from archiver.jobs.lock import JobLock
from archiver.jobs.originals import original_files
from archiver.jobs.manifest import Manifest
from archiver.mapping import KINDS, Decisions, Thresholds, build_manifest, explicit_targets, load_decisions
from archiver.mapping.candidates import CANDIDATES_FILE, CandidatesWriter
from archiver.mapping.decisions import decisions_report, report_lines
from archiver.outputs import writable_dir, writable_file
from archiver.verify import check_reachable, summary_line, verify_run
from archiver.wacz import write_wacz

__all__ = ["RunResult", "run_job", "JobLock", "JobHistory", "diff_runs"]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)
    line: str = ""  # the one-line summary


class _Captures:
    """Re-iterable captures of one crawl (each pass re-reads its WARCs).

    ``originals`` are earlier runs' WARC files that hold the payloads of this
    crawl's revisit records: read first so revisits resolve to full bodies,
    but their own captures are not yielded (they belong to earlier runs).
    """

    def __init__(self, crawl_dir: Path, originals: list[Path] = ()):
        self.crawl_dir = crawl_dir.absolute()
        self.originals = [str(p.absolute()) for p in originals]

    def __iter__(self):
        own = str(self.crawl_dir) + "/"
        for capture in iter_captures([*self.originals, str(self.crawl_dir)]):
            if capture.file.startswith(own):
                yield capture


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


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


class _Run:
    """One run of one job: the stages in order, each recorded in the summary."""

    def __init__(self, manifest: Manifest, history: JobHistory, run_dir: Path, previous: Path | None, progress: str):
        self.captures: dict[str, _Captures] = {}
        self.decisions: Decisions | None = None
        self.manifest = manifest
        self.history = history
        self.run_dir = run_dir
        self.previous = previous
        self.progress = progress
        self.summary: dict[str, Any] = {
            "job": manifest.name,
            "archiver": __version__,
            "manifest": str(manifest.path.absolute()) if manifest.path else None,
            "run": run_dir.name,
            "run_dir": str(run_dir.absolute()),
            "previous_run": previous.name if previous else None,
            "status": "running",
        }

    def stage(self, name: str, func, *args, **kwargs):
        log.info("%s: %s", self.manifest.name, name)
        started = time.monotonic()
        try:
            result = func(*args, **kwargs)
        except ArchiverError:
            raise
        except Exception as exc:
            (self.run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            raise ArchiverError(f"{name} failed: {type(exc).__name__}: {exc} (traceback in {self.run_dir / 'error.log'})") from exc
        self.summary.setdefault("seconds_by_stage", {})[name] = round(time.monotonic() - started, 2)
        return result

    # stages ------------------------------------------------------------
    def crawl(self, side: str, extra_seeds: tuple[str, ...] = ()) -> None:
        # the newest finished crawl of this side, even from a run whose later stages failed
        earlier = [run / side for run in self.history.runs() if run != self.run_dir]
        finished = [crawl_dir for crawl_dir in earlier if (crawl_dir / "index.cdxj").is_file()]
        previous = finished[-1] if finished else None
        config = self.manifest.crawl_config(side, self.run_dir / side, previous=previous, progress=self.progress)
        config.seeds = list(dict.fromkeys([*config.seeds, *extra_seeds]))
        config.wacz = False  # packed by the "wacz" stage, with the originals from every earlier run
        result = crawl(config)
        if not result.ok:
            raise UsageError(f"{side} site: nothing could be fetched, every seed was unreachable "
                                f"({', '.join(config.seeds)}); see {self.run_dir / side / 'crawl.jsonl'}")
        originals, _ = self.history.crawl_inputs(self.run_dir, side)
        self.captures[side] = _Captures(self.run_dir / side, originals)
        self.summary.setdefault("crawl", {})[side] = {
            **crawl_stats(self.run_dir / side),
            "incremental_from": previous.parent.name if previous else None,
            "originals_in": sorted({p.relative_to(self.history.runs_dir).parts[0] for p in originals}),
        }

    def wacz(self, side: str) -> None:
        """Pack the crawl of ``side`` as ``<side>/archive.wacz``, with its revisits' originals."""
        packed = write_wacz(self.run_dir / side, originals=self.captures[side].originals)
        self.summary["crawl"][side]["wacz"] = {
            "file": f"{side}/{packed.path.name}", "pages": packed.pages, "records": packed.records,
            "bytes": packed.bytes, "original_files": packed.original_files,
            "unresolved_revisits": packed.unresolved_revisits}

    def load_decisions(self) -> None:
        """Read the job's decisions file, when there is one: a bad file stops the run before any crawl."""
        path = self.manifest.decisions_file
        if path is not None and path.is_file():
            self.decisions = load_decisions(path, allowed_hosts=self.manifest.target_hosts)

    def detect(self) -> list:
        notices = detect(self.captures["legacy"], new_hosts=self.manifest.new.hosts, phrases=self.manifest.detect.phrases)
        write_notices(notices, self.run_dir / "notices.jsonl")
        self.summary["notices"] = dict(Counter(n.classification for n in notices))
        return notices

    def targets_on_new_site(self, notices: list) -> tuple[str, ...]:
        """Explicit targets (redirects, refreshes, scripts, canonicals) on the new site's hosts.

        They become extra seeds of the new crawl: an old slug that the portal
        only reaches by redirect is linked from nowhere on it, and mapping can
        only verify a target that was captured.
        """
        hosts = set(self.manifest.new.hosts)
        decided = self.decisions.targets() if self.decisions is not None else []
        return tuple(url for url in dict.fromkeys([*explicit_targets(notices), *decided])
                     if urlsplit(url).netloc.lower() in hosts)

    def map(self, notices: list) -> list:
        settings = self.manifest.mapping
        thresholds = Thresholds() if settings.min_confidence is None else Thresholds(accept=settings.min_confidence)
        with CandidatesWriter(self.run_dir / CANDIDATES_FILE) as candidates:
            rows = build_manifest(notices, self.captures["legacy"], self.captures["new"],
                                  allowed_hosts=self.manifest.target_hosts, rules=settings.rules,
                                  thresholds=thresholds, status=settings.status, decisions=self.decisions,
                                  candidates=candidates, assets=settings.assets,
                                  documents_follow_gone=settings.documents_follow_gone)
        self.summary["redirects"] = {"rows": len(rows)}
        return rows

    def export(self, rows: list) -> None:
        """Write the exports; ``summary["redirects"]`` then counts what they hold, refusals by cause.

        The Apache configuration names its map through ``OUT/<name>/latest``,
        which retention never deletes.
        """
        formats = self.manifest.export.formats
        formats = list(formats) if formats is not None else None
        exported = export_all(rows, self.run_dir, formats=formats, allowed_hosts=self.manifest.target_hosts,
                              deploy_dir=self.history.latest_link.absolute())
        counts = exported.counts()
        self.summary["redirects"] = {"rows": len(rows), **counts["exported"], "review": counts["review"],
                                     "refused": counts["refused"], "skipped_by_format": counts["skipped"],
                                     "exported": sum(counts["exported"][k] for k in KINDS)}
        if exported.warnings:
            self.summary["export_warnings"] = exported.warnings
        self.summary["exports"] = {name: str(Path(p).name) for name, p in exported.paths.items()}
        path = self.manifest.decisions_file
        report = decisions_report(self.decisions, path.absolute() if path else None, exported.paths.get("rejected"),
                                  self.manifest.target_hosts)
        self.summary["decisions"] = report
        for line in report_lines(report)[1:]:
            log.warning("%s", line.strip())

    def audit(self) -> bool:
        """Audit the legacy archive; False when it is under ``fail_under``."""
        legacy = self.run_dir / "legacy"
        redirects = self.run_dir / "redirects.csv"
        # Expected URLs: the crawl log (it holds every sitemap URL, as seeds) and the
        # redirect manifest; sitemaps are not fetched again. The earlier runs' files
        # holding the originals of this run's revisits are part of the collection.
        report = audit(
            [*self.captures["legacy"].originals, legacy],
            expected_file=self.manifest.audit.expected,
            crawl_logs=[legacy / "crawl.jsonl"],
            redirects=redirects if redirects.is_file() else None,
            fail_under=self.manifest.audit.fail_under,
        )
        write_report(report, self.run_dir / "audit")
        self.summary["audit"] = {"completeness": report.completeness, "fail_under": self.manifest.audit.fail_under,
                                 "passed": report.passed, "report": "audit/audit.html"}
        return report.passed

    def verify(self) -> bool:
        """Check the live server ([verify] against) against this run's redirects.csv, its
        targets against the new site's capture; False when under ``fail_under``."""
        settings = self.manifest.verify
        report, paths = verify_run(self.run_dir, settings.against, allowed_hosts=self.manifest.target_hosts,
                                   config=CrawlConfig(**self.manifest.crawl), new_captures=self.captures["new"],
                                   fail_under=settings.fail_under)
        self.summary["verify"] = {**report.summary(), "report": "verify/verify.html"}
        check_reachable(report, paths["html"])
        if not report.passed:
            log.warning("%s", summary_line(report, paths["html"]))
        return report.passed

    def diff(self) -> None:
        diff = diff_runs(self.previous, self.run_dir)
        (self.run_dir / "diff.json").write_text(json.dumps(diff, indent=1, ensure_ascii=False), encoding="utf-8")
        self.summary["diff"] = diff_counts(diff)


def run_job(manifest: Manifest, out_root: Path | str = "output", *, quiet: bool = False,
            json_summary: Path | str | None = None, progress: str | None = None) -> RunResult:
    """Run the whole job once; see the module docstring. Raises ``LockHeldError`` (exit 4)."""
    job_dir = writable_dir(Path(out_root) / manifest.name)
    if json_summary:
        writable_file(json_summary, "--json-summary file")
    history = JobHistory(job_dir)
    history.check_latest()
    started = time.time()
    with JobLock(job_dir / ".lock") as lock:
        previous = history.latest()
        interrupted = history.interrupted()
        run_dir = interrupted or history.new_run()
        run = _Run(manifest, history, run_dir, previous, progress or ("none" if quiet else "auto"))
        summary = run.summary
        summary["started"] = _utc(started)
        if interrupted:
            log.warning("resuming run %s, which was interrupted", run_dir.name)
            summary["resumed"] = True
        if manifest.path and manifest.path.is_file():  # the run keeps the settings it ran with
            shutil.copyfile(manifest.path, run_dir / "manifest.toml")
        if lock.stale_holder:
            summary["stale_lock_taken_over"] = lock.stale_holder
        try:
            run.stage("decisions", run.load_decisions)
            run.stage("crawl legacy", run.crawl, "legacy")
            if manifest.crawl.get("wacz"):
                run.stage("wacz legacy", run.wacz, "legacy")
            notices = run.stage("detect", run.detect)
            run.stage("crawl new", run.crawl, "new", run.targets_on_new_site(notices))
            if manifest.crawl.get("wacz"):
                run.stage("wacz new", run.wacz, "new")
            rows = run.stage("map", run.map, notices)
            run.stage("export", run.export, rows)
            passed = run.stage("audit", run.audit)
            if manifest.verify.against:
                passed = run.stage("verify", run.verify) and passed
            run.stage("diff", run.diff)
        except ArchiverError as exc:
            summary.update(status="failed", error=str(exc), exit_code=exc.exit_code)
            _finish(summary, run_dir, started, json_summary)
            raise
        exit_code = EXIT_OK if passed else EXIT_INCOMPLETE
        summary.update(status="ok" if passed else "incomplete", exit_code=exit_code)
        history.set_latest(run_dir)
        if manifest.keep_runs:
            summary["pruned"] = [p.name for p in history.prune(manifest.keep_runs, current=run_dir, needed=_holders_of_originals)]
        _finish(summary, run_dir, started, json_summary)
    line = one_line(summary)
    if not quiet:
        print(format_summary(summary))
    print(line)
    return RunResult(run_dir, exit_code, summary, line)


def _holders_of_originals(kept: list[Path], runs: list[Path]) -> set[Path]:
    """Runs (of ``runs``, oldest first) holding payloads that the ``kept`` runs' revisits need."""
    needed: set[Path] = set()
    for run in kept:
        for crawl_dir in (p for p in run.iterdir() if (p / "index.cdxj").is_file()):
            earlier = [r / crawl_dir.name for r in runs[: runs.index(run)] if (r / crawl_dir.name).is_dir()]
            for warc in original_files(crawl_dir, earlier):
                needed.update(r for r in runs if r in warc.parents)
    return needed


def _finish(summary: dict, run_dir: Path, started: float, json_summary: Path | str | None) -> None:
    summary["finished"] = _utc(time.time())
    summary["seconds"] = round(time.time() - started, 1)
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    tmp = run_dir / "summary.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(run_dir / "summary.json")
    if json_summary:
        Path(json_summary).write_text(text, encoding="utf-8")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def one_line(summary: dict) -> str:
    """The cron-mail line: job, status, pages, redirects, audit, changes, where."""
    parts = [f"archiver {summary['job']}: {summary['status']}"]
    crawl = summary.get("crawl", {})
    if crawl:
        bytes_written = sum(c["warc_bytes"] for c in crawl.values())
        parts.append("; ".join(f"{side} {c['fetched']} fetched ({c['revisits']} as revisits)" for side, c in crawl.items())
                     + f"; {_mb(bytes_written)} WARC")
    if "exported" in summary.get("redirects", {}):
        r = summary["redirects"]
        refused = f", {sum(r['refused'].values())} refused" if r["refused"] else ""
        parts.append(f"{r['exported']} redirect rows ({r['page']} page, {r.get('document', 0)} document, "
                     f"{r['fallback']} fallback, {r['gone']} gone, {r['unmatched']} unmatched{refused})")
    audit = summary.get("audit")
    if audit and audit.get("completeness") is not None:
        bar = f" < {audit['fail_under']:.0%}" if not audit["passed"] else ""
        parts.append(f"audit {audit['completeness']:.1%}{bar}")
    diff = summary.get("diff")
    if diff and summary.get("previous_run"):
        legacy = diff["legacy"]
        parts.append(f"since last run: {legacy['new']} new, {legacy['changed']} changed, {legacy['gone']} gone")
    if summary.get("error"):
        parts.append(summary["error"])
    parts.append(summary["run_dir"])
    return " | ".join(parts)


def format_summary(summary: dict) -> str:
    """The multi-line summary printed to the terminal."""
    lines = [f"job {summary['job']} run {summary['run']} ({summary['seconds']} s): {summary['status']}",
             f"  results:   {summary['run_dir']}"]
    for side, c in summary.get("crawl", {}).items():
        lines.append(f"  {side + ' site:':12} {c['fetched']} fetched ({c.get('pages', 0)} pages), {c['responses']} new/changed records, {c['revisits']} revisits, "
                     f"{c['failed']} failed, {c['skipped']} skipped; {_mb(c['warc_bytes'])} in {c['warc_files']} WARC file(s)")
        if w := c.get("wacz"):
            missing = f"; {w['unresolved_revisits']} revisits without original" if w["unresolved_revisits"] else ""
            lines.append(f"  {'':12} {w['file']}: {w['pages']} pages, {_mb(w['bytes'])}{missing}  (open in ReplayWeb.page)")
    if "notices" in summary:
        lines.append("  notices:   " + ", ".join(f"{k} {v}" for k, v in sorted(summary["notices"].items())) + "  (notices.jsonl)")
    if "exported" in summary.get("redirects", {}):
        r = summary["redirects"]
        lines.append(f"  redirects: {r['rows']} legacy URLs; exported {r['page']} page, {r.get('document', 0)} document, "
                     f"{r['fallback']} fallback, {r['gone']} gone, {r['unmatched']} unmatched; {r['review']} to review")
        if r["refused"]:
            lines.append(f"  refused:   {describe_refusals(r['refused'])} (redirects.rejected.json)")
    if "exports" in summary:
        lines.append("  exports:   " + ", ".join(summary["exports"].values()))
    for warning in summary.get("export_warnings", []):
        lines.append(f"  warning:   {warning}")
    if "decisions" in summary:
        lines.extend(f"  {line}" for line in report_lines(summary["decisions"])[:1])
    if audit := summary.get("audit"):
        completeness = "n/a" if audit["completeness"] is None else f"{audit['completeness']:.1%}"
        bar = f" (fail_under {audit['fail_under']:.0%}: {'passed' if audit['passed'] else 'FAILED'})" if audit["fail_under"] is not None else ""
        lines.append(f"  audit:     completeness {completeness}{bar}  ({audit['report']})")
    if diff := summary.get("diff"):
        if summary.get("previous_run"):
            for side in ("legacy", "new"):
                d = diff[side]
                lines.append(f"  changes:   {side}: {d['new']} new, {d['changed']} changed, {d['gone']} gone URLs since {summary['previous_run']}")
            r = diff["redirects"]
            lines.append(f"  changes:   redirects: {r['added']} added, {r['removed']} removed, {r['changed']} changed  (archiver diff)")
    if summary.get("pruned"):
        lines.append(f"  pruned:    {len(summary['pruned'])} old run(s)")
    return "\n".join(lines)
