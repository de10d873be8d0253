"""Scheduled jobs: the whole pipeline for one manifest, locked, with history, as a task graph.

``run_job(manifest, out_root)`` holds ``OUT/<name>/.lock`` (exit 4 when another
run has it), creates ``OUT/<name>/runs/<UTC timestamp>/`` (or resumes the
newest run there when it was killed half-way: the crawler continues where it
stopped), and runs the job's tasks (``tasks.py``) through an executor
(``archiver.cluster``: in this process, on a local Dask cluster of
``workers`` processes, or on the cluster at ``scheduler``), one code path:

1. each legacy site is crawled (one task per site, so a host is never crawled
   by two tasks at once) and its notices detected (``notices.jsonl``); each
   re-crawl passes the same site's crawl of an earlier run as ``previous``,
   so unchanged pages are re-validated with conditional requests and stored
   as revisits;
2. once every site's detection is done, the new site is crawled once
   (``new/``), with every site's explicit targets on it (and the decisions'
   targets) as extra seeds, so each can be verified; its content index
   (``mapping.PortalIndex``) is built once and saved in the run directory;
3. each site is mapped against that index, a person's decisions first (the
   manifest's decisions file, written by ``archiver review``), exported
   (``redirects.*``, ``candidates.jsonl`` for review), audited (``audit/``,
   ``fail_under``: exit 3) and, with ``[verify]`` or the site's
   ``verify_against``, checked against the live server (``verify/``);
4. a programme's rows are exported once more, all sites together, into the
   run directory (one nginx or Apache config answers every legacy host);
5. the run is diffed against the previous one (``diff.json``), ``summary.json``
   is written, ``OUT/<name>/latest`` points at the run and old runs are pruned
   to ``keep_runs``.

Where each file goes: ``layout.py``. Results do not depend on where tasks ran
or in which order they finished. Every stage reads the archive, never the
live site (except verify, which checks the live site by design).
"""
from __future__ import annotations

import functools
import json
import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver import __version__
from archiver.cluster import InlineExecutor, open_executor
from archiver.errors import EXIT_INCOMPLETE, EXIT_OK, ArchiverError, UsageError
from archiver.export import describe_refusals
from archiver.jobs import tasks
from archiver.jobs.diff import counts as diff_counts
from archiver.jobs.diff import diff_runs
from archiver.jobs.graph import Skipped, TaskGraph
from archiver.jobs.history import JobHistory, earlier_crawls
from archiver.jobs.layout import RunLayout
from archiver.jobs.lock import JobLock
from archiver.jobs.manifest import LegacySite, Manifest
from archiver.jobs.originals import original_files
from archiver.mapping import Decisions, Thresholds, load_decisions
from archiver.mapping.decisions import decisions_report, report_lines
from archiver.outputs import writable_dir, writable_file

__all__ = ["RunResult", "run_job", "format_summary", "one_line"]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)
    line: str = ""  # the one-line summary


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class _Run:
    """One run of one job: its task graph, and the summary made of the tasks' results."""

    def __init__(self, manifest: Manifest, layout: RunLayout, progress: str, inline: bool):
        self.manifest = manifest
        self.layout = layout
        self.progress = progress if inline else "none"  # a worker has no terminal: progress is per task
        self.inline = inline
        self.decisions: Decisions | None = None

    def load_decisions(self) -> None:
        """Read the job's decisions file, when there is one: a bad file stops the run before any crawl."""
        path = self.manifest.decisions_file
        if path is not None and path.is_file():
            self.decisions = load_decisions(path, allowed_hosts=self.manifest.target_hosts)

    # the graph -------------------------------------------------------------------------
    def graph(self) -> TaskGraph:
        m, layout = self.manifest, self.layout
        graph = TaskGraph(m.name)
        for site in m.sites:
            crawl = graph.add(f"crawl:{site.name}", site.name, "crawl", functools.partial(self._crawl_site, site))
            graph.add(f"detect:{site.name}", site.name, "detect", functools.partial(self._detect, site), needs=[crawl])
        graph.add("crawl:new", "new", "crawl", self._crawl_new, after=[f"detect:{s.name}" for s in m.sites])
        graph.add("index:new", "new", "index", self._index, needs=["crawl:new"])
        for site in m.sites:
            mapped = graph.add(f"map:{site.name}", site.name, "map and export", functools.partial(self._map, site),
                               needs=[f"crawl:{site.name}", f"detect:{site.name}", "index:new"])
            graph.add(f"audit:{site.name}", site.name, "audit", functools.partial(self._audit, site),
                      needs=[f"crawl:{site.name}", mapped])
            if self.against(site):
                graph.add(f"verify:{site.name}", site.name, "verify", functools.partial(self._verify, site),
                          needs=["crawl:new", mapped])
        if layout.programme:
            graph.add("combine", "job", "combined export", self._combine, needs=[f"map:{s.name}" for s in m.sites])
        return graph

    def against(self, site: LegacySite) -> str | None:
        """The server a site is verified against: its own ``verify_against``, else ``[verify] against``."""
        return site.verify_against or self.manifest.verify.against

    def _previous(self, crawl_dir: Path) -> Path | None:
        """The newest finished crawl of the same site in an earlier run, even one whose later stages failed."""
        finished = [c for c in earlier_crawls(crawl_dir) if (c / "index.cdxj").is_file()]
        return finished[-1] if finished else None

    def _crawl_task(self, side: str, crawl_dir: Path, label: str, **extra) -> tuple:
        config = self.manifest.crawl_config(side, crawl_dir, previous=self._previous(crawl_dir), progress=self.progress)
        return tasks.run_crawl, tasks.CrawlTask(label, config, self.layout.run_dir, tuple(earlier_crawls(crawl_dir)),
                                                wacz=bool(self.manifest.crawl.get("wacz")), **extra)

    def _crawl_site(self, site: LegacySite, results) -> tuple:
        label = f"site {site.name}" if self.layout.programme else "legacy site"
        return self._crawl_task(site.name, self.layout.legacy_crawl(site.name), label)

    def _crawl_new(self, results) -> tuple:
        detected = [self.layout.site_dir(s.name) / "notices.jsonl" for s in self.manifest.sites
                    if f"detect:{s.name}" in results]
        decided = tuple(self.decisions.targets()) if self.decisions is not None else ()
        hosts = self.manifest.new.hosts
        return self._crawl_task("new", self.layout.new_crawl, "new site", notices=tuple(detected), target_hosts=hosts,
                                extra_seeds=tuple(u for u in decided if urlsplit(u).netloc.lower() in hosts))

    def _detect(self, site: LegacySite, results) -> tuple:
        return tasks.run_detect, tasks.DetectTask(
            self.layout.legacy_crawl(site.name), tuple(results[f"crawl:{site.name}"]["originals"]),
            self.layout.site_dir(site.name) / "notices.jsonl", self.manifest.new.hosts, self.manifest.detect.phrases)

    def _index(self, results) -> tuple:
        settings = self.manifest.mapping
        thresholds = Thresholds() if settings.min_confidence is None else Thresholds(accept=settings.min_confidence)
        return tasks.run_index, tasks.IndexTask(self.layout.new_crawl, tuple(results["crawl:new"]["originals"]),
                                                self.layout.portal_index, thresholds, settings.assets,
                                                settings.documents_follow_gone)

    def _map(self, site: LegacySite, results) -> tuple:
        settings = self.manifest.mapping
        formats = self.manifest.export.formats
        return tasks.run_map, tasks.MapTask(
            self.layout.portal_index, self.layout.site_dir(site.name), self.layout.legacy_crawl(site.name),
            tuple(results[f"crawl:{site.name}"]["originals"]), self.manifest.target_hosts, settings.rules,
            settings.status, self.decisions, formats, keep_rows=self.layout.programme,
            deploy_dir=self.deployed(self.layout.site_dir(site.name)))

    def _combine(self, results) -> tuple:
        return tasks.run_combine, tasks.CombineTask(
            self.layout.run_dir, tuple(self.layout.site_dir(s.name) for s in self.manifest.sites),
            self.manifest.target_hosts, self.manifest.export.formats, deploy_dir=self.deployed(self.layout.run_dir))

    def deployed(self, directory: Path) -> Path:
        """Where a web server reads ``directory``'s exports: through ``OUT/<name>/latest``, which
        retention never deletes (the Apache configuration names its map there)."""
        run_dir = self.layout.run_dir
        return (run_dir.parent.parent / "latest").absolute() / Path(directory).relative_to(run_dir)

    def _audit(self, site: LegacySite, results) -> tuple:
        return tasks.run_audit, tasks.AuditTask(
            self.layout.run_dir, self.layout.site_dir(site.name), self.layout.legacy_crawl(site.name),
            tuple(results[f"crawl:{site.name}"]["originals"]), site.expected or self.manifest.audit.expected,
            self.manifest.audit.fail_under, processes=self.inline)

    def _verify(self, site: LegacySite, results) -> tuple:
        settings = self.manifest.verify
        return tasks.run_verify, tasks.VerifyTask(
            self.layout.run_dir, self.layout.site_dir(site.name), self.against(site), self.manifest.target_hosts,
            dict(self.manifest.crawl), self.layout.new_crawl, tuple(results["crawl:new"]["originals"]),
            settings.fail_under)

    # the summary -----------------------------------------------------------------------
    def record(self, summary: dict, results: dict, failures: dict) -> bool:
        """Put the tasks' results into ``summary``; True when every audit and verify passed.
        Raises the first failure (in task order) once everything that could run has run."""
        seconds = {}
        for key, result in results.items():
            node = key.split(":", 1)
            seconds[f"{node[1] if len(node) > 1 else 'job'} {node[0]}"] = result.get("seconds")
        summary["seconds_by_task"] = seconds
        sites: dict[str, dict] = {}
        for site in self.manifest.sites:
            one = sites[site.name] = {}
            if crawl := results.get(f"crawl:{site.name}"):
                one["crawl"] = _crawl_summary(crawl)
            if detect := results.get(f"detect:{site.name}"):
                one["notices"] = detect["notices"]
            if mapped := results.get(f"map:{site.name}"):
                one["redirects"], one["exports"] = mapped["redirects"], mapped["exports"]
                if "export_warnings" in mapped:
                    one["export_warnings"] = mapped["export_warnings"]
                if self.decisions is not None:
                    self.decisions.applied.update(mapped["applied"])
            if audit := results.get(f"audit:{site.name}"):
                one["audit"] = {k: v for k, v in audit.items() if k != "seconds"}
            if verify := results.get(f"verify:{site.name}"):
                one["verify"] = {k: v for k, v in verify.items() if k not in ("seconds", "line")}
                if not verify["passed"]:
                    log.warning("%s", verify["line"])
        shared = {}
        if crawl := results.get("crawl:new"):
            shared["crawl"] = _crawl_summary(crawl)
        if index := results.get("index:new"):
            shared["index"] = {k: v for k, v in index.items() if k != "seconds"}
        if self.layout.programme:
            summary["crawl"] = {"new": shared["crawl"]} if "crawl" in shared else {}
            if "index" in shared:
                summary["portal_index"] = shared["index"]
            summary["sites"] = sites
            if combined := results.get("combine"):
                summary["redirects"], summary["exports"] = combined["redirects"], combined["exports"]
                if "export_warnings" in combined:
                    summary["export_warnings"] = combined["export_warnings"]
            audits = {name: s["audit"] for name, s in sites.items() if "audit" in s}
            if audits:
                summary["audit"] = {"passed": all(a["passed"] for a in audits.values()),
                                    "fail_under": self.manifest.audit.fail_under,
                                    "completeness": {name: a["completeness"] for name, a in audits.items()}}
            verifies = {name: s["verify"] for name, s in sites.items() if "verify" in s}
            if verifies:
                summary["verify"] = {"passed": all(v["passed"] for v in verifies.values()),
                                     "sites": {name: v["ratio"] for name, v in verifies.items()}}
        else:
            one = sites[self.manifest.sites[0].name]
            summary["crawl"] = {**({"legacy": one["crawl"]} if "crawl" in one else {}),
                                **({"new": shared["crawl"]} if "crawl" in shared else {})}
            if "index" in shared:
                summary["portal_index"] = shared["index"]
            summary.update({k: v for k, v in one.items() if k != "crawl"})
        self._raise_first(failures)
        passed = [s["audit"]["passed"] for s in sites.values()] + [s["verify"]["passed"] for s in sites.values()
                                                                   if "verify" in s]
        return all(passed)

    def _raise_first(self, failures: dict) -> None:
        if not failures:
            return
        errors = {}
        for key, exc in failures.items():
            if isinstance(exc, Skipped):
                continue
            if not isinstance(exc, ArchiverError):
                log_file = self.layout.run_dir / "error.log"
                with log_file.open("a", encoding="utf-8") as out:
                    out.write(f"{key}:\n{''.join(traceback.format_exception(exc))}\n")
                exc = ArchiverError(f"{key.replace(':', ' ')} failed: {type(exc).__name__}: {exc} "
                                    f"(traceback in {log_file})")
            errors[key] = exc
        first = next(iter(errors.values()))
        if len(errors) > 1:
            log.error("%d tasks failed: %s", len(errors), "; ".join(str(e) for e in errors.values()))
        raise first

    def decisions_summary(self, summary: dict) -> None:
        path = self.manifest.decisions_file
        rejected = self.layout.run_dir / "redirects.rejected.json"
        report = decisions_report(self.decisions, path.absolute() if path else None, rejected,
                                  self.manifest.target_hosts)
        summary["decisions"] = report
        for line in report_lines(report)[1:]:
            log.warning("%s", line.strip())


def _crawl_summary(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("originals", "seconds")}


def run_job(manifest: Manifest, out_root: Path | str = "output", *, quiet: bool = False,
            json_summary: Path | str | None = None, progress: str | None = None, workers: int | None = None,
            scheduler: str | None = None) -> RunResult:
    """Run the whole job once; see the module docstring. ``workers``: a local Dask cluster of that
    many processes; ``scheduler``: an existing cluster's address; neither: in this process.
    Raises ``LockHeldError`` (exit 4)."""
    if workers is not None and workers < 1:
        raise UsageError(f"--workers: expected a number > 0, got {workers}")
    job_dir = writable_dir(Path(out_root) / manifest.name)
    if json_summary:
        writable_file(json_summary, "--json-summary file")
    history = JobHistory(job_dir)
    history.check_latest()
    started = time.time()
    with JobLock(job_dir / ".lock") as lock, \
            open_executor(workers=workers, scheduler=scheduler, shared_paths=_shared_paths(manifest, job_dir)) \
            as (executor, cluster):
        previous = history.latest()
        interrupted = history.interrupted()
        run_dir = interrupted or history.new_run()
        layout = RunLayout(run_dir, tuple(site.name for site in manifest.sites), manifest.programme)
        run = _Run(manifest, layout, progress or ("none" if quiet else "auto"), isinstance(executor, InlineExecutor))
        summary: dict[str, Any] = {
            "job": manifest.name,
            "archiver": __version__,
            "manifest": str(manifest.path.absolute()) if manifest.path else None,
            "run": run_dir.name,
            "run_dir": str(run_dir.absolute()),
            "previous_run": previous.name if previous else None,
            "status": "running",
            "cluster": cluster,
            "started": _utc(started),
        }
        if manifest.programme:
            summary["sites"] = {site.name: {} for site in manifest.sites}
        if interrupted:
            log.warning("resuming run %s, which was interrupted", run_dir.name)
            summary["resumed"] = True
        if manifest.path and manifest.path.is_file():  # the run keeps the settings it ran with
            shutil.copyfile(manifest.path, run_dir / "manifest.toml")
        if lock.stale_holder:
            summary["stale_lock_taken_over"] = lock.stale_holder
        try:
            run.load_decisions()
            graph = run.graph()
            log.info("%s: %d legacy site(s), %d tasks, running on %s", manifest.name, len(manifest.sites),
                     len(graph.nodes), cluster)
            results, failures = graph.run(executor)
            layout.portal_index.unlink(missing_ok=True)  # read by every mapping, needed by nothing later
            passed = run.record(summary, results, failures)
            run.decisions_summary(summary)
            diff = diff_runs(previous, run_dir)
            (run_dir / "diff.json").write_text(json.dumps(diff, indent=1, ensure_ascii=False), encoding="utf-8")
            summary["diff"] = diff_counts(diff)
        except ArchiverError as exc:
            summary.update(status="failed", error=str(exc), exit_code=exc.exit_code)
            _finish(summary, run_dir, started, json_summary)
            raise
        exit_code = EXIT_OK if passed else EXIT_INCOMPLETE
        summary.update(status="ok" if passed else "incomplete", exit_code=exit_code)
        history.set_latest(run_dir)
        if manifest.keep_runs:
            summary["pruned"] = [p.name for p in history.prune(manifest.keep_runs, current=run_dir, needed=holders_of_originals)]
        _finish(summary, run_dir, started, json_summary)
    line = one_line(summary)
    if not quiet:
        print(format_summary(summary))
    print(line)
    return RunResult(run_dir, exit_code, summary, line)


def _shared_paths(manifest: Manifest, job_dir: Path) -> list[Path]:
    """What every worker of a cluster must see at the same path: the job's output directory and
    the files the manifest names (decisions, expected URLs)."""
    named = [manifest.decisions_file, manifest.audit.expected, *(site.expected for site in manifest.sites)]
    return [job_dir.absolute(), *(Path(p).absolute() for p in named if p is not None and Path(p).exists())]


def holders_of_originals(kept: list[Path], runs: list[Path]) -> set[Path]:
    """Runs (of ``runs``, oldest first) holding payloads that the ``kept`` runs' revisits need."""
    needed: set[Path] = set()
    for run in kept:
        for crawl_dir in (p for p in RunLayout.of(run).crawls().values() if (p / "index.cdxj").is_file()):
            relative = crawl_dir.relative_to(run)
            earlier = [r / relative for r in runs[: runs.index(run)] if (r / relative).is_dir()]
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


def _site_crawls(summary: dict) -> dict[str, dict]:
    """Label -> crawl numbers: ``legacy`` and ``new`` (one site), or each site's name and ``new``."""
    if "sites" not in summary:
        return summary.get("crawl", {})
    crawls = {name: site["crawl"] for name, site in summary["sites"].items() if "crawl" in site}
    return {**crawls, **summary.get("crawl", {})}


def _completeness(audit: dict) -> str:
    """``98.1%``, or a programme's lowest site ``97.0% (lowest: mju)``."""
    ratio = audit.get("completeness")
    if isinstance(ratio, dict):
        known = {name: r for name, r in ratio.items() if r is not None}
        if not known:
            return "n/a"
        name = min(known, key=known.get)
        return f"{known[name]:.1%} (lowest: {name})" if len(ratio) > 1 else f"{known[name]:.1%}"
    return "n/a" if ratio is None else f"{ratio:.1%}"


def _legacy_changes(diff: dict) -> dict:
    """New, changed and gone legacy URLs since the previous run (every site of a programme together)."""
    if "sites" in diff:
        return {k: sum(d[k] for d in diff["sites"].values()) for k in ("new", "changed", "gone")}
    return diff["legacy"]


def one_line(summary: dict) -> str:
    """The cron-mail line: job, status, pages, redirects, audit, changes, where."""
    parts = [f"archiver {summary['job']}: {summary['status']}"]
    crawl = _site_crawls(summary)
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
    if audit and _completeness(audit) != "n/a":
        bar = f" < {audit['fail_under']:.0%}" if not audit["passed"] else ""
        parts.append(f"audit {_completeness(audit)}{bar}")
    diff = summary.get("diff")
    if diff and summary.get("previous_run"):
        legacy = _legacy_changes(diff)
        parts.append(f"since last run: {legacy['new']} new, {legacy['changed']} changed, {legacy['gone']} gone")
    if summary.get("error"):
        parts.append(summary["error"])
    parts.append(summary["run_dir"])
    return " | ".join(parts)


def _crawl_lines(label: str, c: dict) -> list[str]:
    lines = [f"  {label + ':':12} {c['fetched']} fetched ({c.get('pages', 0)} pages), {c['responses']} new/changed records, "
             f"{c['revisits']} revisits, {c['failed']} failed, {c['skipped']} skipped; {_mb(c['warc_bytes'])} in "
             f"{c['warc_files']} WARC file(s)"]
    if w := c.get("wacz"):
        missing = f"; {w['unresolved_revisits']} revisits without original" if w["unresolved_revisits"] else ""
        lines.append(f"  {'':12} {w['file']}: {w['pages']} pages, {_mb(w['bytes'])}{missing}  (open in ReplayWeb.page)")
    return lines


def _redirects_line(r: dict) -> str:
    refused = f"; {describe_refusals(r['refused'])} (redirects.rejected.json)" if r["refused"] else ""
    return (f"{r['rows']} legacy URLs; exported {r['page']} page, {r.get('document', 0)} document, "
            f"{r['fallback']} fallback, {r['gone']} gone, {r['unmatched']} unmatched; {r['review']} to review{refused}")


def format_summary(summary: dict) -> str:
    """The multi-line summary printed to the terminal."""
    lines = [f"job {summary['job']} run {summary['run']} ({summary['seconds']} s): {summary['status']}",
             f"  results:   {summary['run_dir']}"]
    if summary.get("cluster") and summary["cluster"] != "in-process":
        lines.append(f"  cluster:   {summary['cluster']}")
    if "sites" in summary:
        for name, site in summary["sites"].items():
            lines.extend(_crawl_lines(f"site {name}", site["crawl"]) if "crawl" in site else [f"  site {name}:"])
            if "notices" in site:
                lines.append(f"  {'':12} notices: " + ", ".join(f"{k} {v}" for k, v in sorted(site["notices"].items())))
            if "redirects" in site:
                lines.append(f"  {'':12} redirects: {_redirects_line(site['redirects'])}")
            if audit := site.get("audit"):
                lines.append(f"  {'':12} audit: completeness {_completeness(audit)}  ({audit['report']})")
            if verify := site.get("verify"):
                lines.append(f"  {'':12} verify: {verify['right']} of {verify['checked']} checked rows right  "
                             f"({verify['report']})")
        for label, c in summary.get("crawl", {}).items():
            lines.extend(_crawl_lines(label + " site", c))
    else:
        for side, c in summary.get("crawl", {}).items():
            lines.extend(_crawl_lines(side + " site", c))
        if "notices" in summary:
            lines.append("  notices:   " + ", ".join(f"{k} {v}" for k, v in sorted(summary["notices"].items())) + "  (notices.jsonl)")
    if "redirects" in summary:
        every = "every site: " if "sites" in summary else ""
        lines.append(f"  redirects: {every}{_redirects_line(summary['redirects'])}")
    for name, site in summary.get("sites", {}).items():
        for warning in site.get("export_warnings", []):
            lines.append(f"  warning:   site {name}: {warning}")
    if "exports" in summary:
        lines.append("  exports:   " + ", ".join(summary["exports"].values()))
    for warning in summary.get("export_warnings", []):
        lines.append(f"  warning:   {warning}")
    if "decisions" in summary:
        lines.extend(f"  {line}" for line in report_lines(summary["decisions"])[:1])
    if audit := summary.get("audit"):
        bar = f" (fail_under {audit['fail_under']:.0%}: {'passed' if audit['passed'] else 'FAILED'})" if audit["fail_under"] is not None else ""
        where = f"  ({audit['report']})" if "report" in audit else ""
        lines.append(f"  audit:     completeness {_completeness(audit)}{bar}{where}")
    if diff := summary.get("diff"):
        if summary.get("previous_run"):
            changed = {"legacy": _legacy_changes(diff), "new": diff["new"]}
            for side, d in changed.items():
                lines.append(f"  changes:   {side}: {d['new']} new, {d['changed']} changed, {d['gone']} gone URLs since {summary['previous_run']}")
            r = diff["redirects"]
            lines.append(f"  changes:   redirects: {r['added']} added, {r['removed']} removed, {r['changed']} changed  (archiver diff)")
    if summary.get("pruned"):
        lines.append(f"  pruned:    {len(summary['pruned'])} old run(s)")
    return "\n".join(lines)
