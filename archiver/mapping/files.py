"""``archiver map``'s one call: WARC/WACZ inputs in, notices and redirect files out."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from archiver.detect import detect, read_notices, write_notices
from archiver.errors import UsageError
from archiver.export import Exported, check_formats, export_all
from archiver.mapping.build import KINDS, build_manifest, parse_rule
from archiver.mapping.candidates import CANDIDATES_FILE, CandidatesWriter
from archiver.mapping.content import Thresholds
from archiver.mapping.decisions import decisions_report, load_decisions
from archiver.outputs import writable_dir
from archiver.types import RedirectRow, SectionRule
from archiver.urls import site_host
from archiver.warc import expand_inputs, iter_captures


@dataclass
class MapResult:
    """The rows mapping decided and what the export made of them.

    ``summary`` counts what was exported (rows by kind after validation),
    not what mapping proposed: a row the export refused is counted as
    refused, by cause.
    """

    rows: list[RedirectRow]
    exported: Exported | None = None
    files: dict[str, Path] = field(default_factory=dict)
    decisions: dict = field(default_factory=dict)  # decisions_report(), when a decisions file was given

    @property
    def summary(self) -> dict:
        proposed = Counter(r.kind for r in self.rows)
        counts = self.exported.counts() if self.exported else {
            "exported": {k: 0 for k in KINDS}, "review": 0, "refused": {}, "skipped": {}}
        summary = {
            "rows": len(self.rows),
            "proposed": {k: proposed.get(k, 0) for k in KINDS},
            "kinds": counts["exported"],
            "methods": dict(sorted(Counter(r.method for r in self.rows).items())),
            "review": counts["review"],
            "refused": counts["refused"],
            "skipped_by_format": counts["skipped"],
            "warnings": self.exported.warnings if self.exported else [],
        }
        if self.decisions:
            summary["decisions"] = self.decisions
        return summary


def _check_inputs(paths: Iterable, what: str) -> list[str]:
    """Paths that exist and hold at least one readable capture (read lazily: stops at the first)."""
    paths = [str(p) for p in paths]
    if not paths:
        raise UsageError(f"no {what} WARC file or directory given")
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"{what} input does not exist: {path}")
    if not expand_inputs(paths):
        raise UsageError(f"{what}: no WARC or WACZ files in {', '.join(paths)}")
    if next(iter(iter_captures(paths, max_body=0)), None) is None:
        raise UsageError(f"{what}: no HTTP captures could be read from {', '.join(paths)} "
                         "(not a WARC, ARC or WACZ file, or an empty one)")
    return paths


def map_paths(old_paths: Iterable, new_paths: Iterable, out_dir, *, allowed_hosts: Iterable[str] = (),
              rules: Iterable[SectionRule | str] = (), thresholds: Thresholds | None = None, status: int = 301,
              phrases: Iterable[str] = (), notices_file=None, formats: Iterable[str] | None = None,
              decisions_file=None, assets: Iterable[str] = (), documents_follow_gone: bool = False) -> MapResult:
    """Detect (or read ``notices_file``), map and export into ``out_dir``.

    Writes notices.jsonl (when detecting), the export formats,
    candidates.jsonl and map-summary.json. The inputs, formats and output
    directory are checked before any work; the archives are then read twice
    (detect, then mapping) rather than held in memory. ``decisions_file``: a
    person's decisions (``decisions.py``), applied before every automatic method.
    """
    formats = check_formats(formats)
    rules = [r if isinstance(r, SectionRule) else parse_rule(r) for r in rules]  # parsed before any work
    allowed_hosts = [h for h in allowed_hosts if h.strip()]
    if notices_file and not os.path.isfile(notices_file):
        raise UsageError(f"notices file does not exist: {notices_file}")
    out = writable_dir(out_dir)
    old_paths = _check_inputs(old_paths, "--old")
    new_paths = _check_inputs(new_paths, "--new")
    result = MapResult([])
    new_netlocs = {site_host(c.url) for c in iter_captures(new_paths, max_body=0)}  # one header-only pass
    # Never derive the allow-list from the rows themselves: that would let any
    # target a hostile page named through the exporter's open-redirect check.
    export_hosts = allowed_hosts or sorted(new_netlocs | {site_host(rule.target) for rule in rules})
    decisions = load_decisions(decisions_file, allowed_hosts=export_hosts) if decisions_file else None
    if notices_file:
        notices = read_notices(notices_file)
    else:
        notices = detect(iter_captures(old_paths), new_hosts=allowed_hosts or sorted(new_netlocs), phrases=phrases)
        result.files["notices"] = write_notices(notices, out / "notices.jsonl")
    with CandidatesWriter(out / CANDIDATES_FILE) as candidates:
        result.rows = build_manifest(notices, iter_captures(old_paths), iter_captures(new_paths),
                                     allowed_hosts=allowed_hosts, rules=rules, thresholds=thresholds, status=status,
                                     decisions=decisions, candidates=candidates, assets=assets,
                                     documents_follow_gone=documents_follow_gone)
    result.files["candidates"] = out / CANDIDATES_FILE
    result.exported = export_all(result.rows, out, formats=formats, allowed_hosts=export_hosts, status_default=status)
    result.files.update(result.exported.paths)
    if decisions_file:
        result.decisions = decisions_report(decisions, Path(decisions_file).absolute(), result.files["rejected"],
                                            export_hosts)
    summary_path = out / "map-summary.json"
    summary_path.write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    result.files["summary"] = summary_path
    return result
