"""``archiver map``'s one call: WARC/WACZ inputs in, notices and redirect files out."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from archiver.errors import UsageError
from archiver.mapping.build import KINDS, build_manifest, parse_rule
from archiver.mapping.candidates import CANDIDATES_FILE, CandidatesWriter
from archiver.mapping.content import Thresholds
from archiver.mapping.decisions import decisions_report, load_decisions
from archiver.types import RedirectRow, SectionRule
from archiver.urls import site_host


@dataclass
class MapResult:
    rows: list[RedirectRow]
    files: dict[str, Path] = field(default_factory=dict)
    decisions: dict = field(default_factory=dict)  # decisions_report(), when a decisions file was given

    @property
    def summary(self) -> dict:
        kinds = Counter(r.kind for r in self.rows)
        summary = {
            "rows": len(self.rows),
            "kinds": {k: kinds.get(k, 0) for k in KINDS},
            "methods": dict(sorted(Counter(r.method for r in self.rows).items())),
            "review": sum(r.review for r in self.rows),
        }
        if self.decisions:
            summary["decisions"] = self.decisions
        return summary


def _check_inputs(paths: Iterable, what: str) -> list[str]:
    paths = [str(p) for p in paths]
    if not paths:
        raise UsageError(f"no {what} WARC file or directory given")
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"{what} input does not exist: {path}")
    return paths


def map_paths(old_paths: Iterable, new_paths: Iterable, out_dir, *, allowed_hosts: Iterable[str] = (),
              rules: Iterable[SectionRule | str] = (), thresholds: Thresholds | None = None, status: int = 301,
              phrases: Iterable[str] = (), notices_file=None, formats: Iterable[str] | None = None,
              decisions_file=None, assets: Iterable[str] = (), documents_follow_gone: bool = False) -> MapResult:
    """Detect (or read ``notices_file``), map and export into ``out_dir``.

    Writes notices.jsonl (when detecting), the export formats,
    candidates.jsonl and map-summary.json. The archives are read twice
    (detect, then mapping) rather than held in memory. ``decisions_file``: a
    person's decisions (``decisions.py``), applied before every automatic method.
    """
    from archiver.warc import iter_captures
    from archiver.detect import detect, read_notices, write_notices
    from archiver.export import export_all

    old_paths = _check_inputs(old_paths, "--old")
    new_paths = _check_inputs(new_paths, "--new")
    rules = [r if isinstance(r, SectionRule) else parse_rule(r) for r in rules]  # parsed before any work
    allowed_hosts = [h for h in allowed_hosts if h.strip()]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = MapResult([])
    new_netlocs: set[str] | None = None

    def captured_new_hosts() -> set[str]:
        nonlocal new_netlocs  # one header-only pass over the new archives, however often it is asked
        if new_netlocs is None:
            new_netlocs = {site_host(c.url) for c in iter_captures(new_paths, max_body=0)}
        return new_netlocs

    # Never derive the allow-list from the rows themselves: that would let any
    # target a hostile page named through the exporter's open-redirect check.
    export_hosts = allowed_hosts or sorted(
        captured_new_hosts() | {site_host(rule.target) for rule in rules})
    decisions = load_decisions(decisions_file, allowed_hosts=export_hosts) if decisions_file else None
    if notices_file:
        if not os.path.exists(notices_file):
            raise UsageError(f"notices file does not exist: {notices_file}")
        notices = read_notices(notices_file)
    else:
        new_hosts = allowed_hosts or sorted(captured_new_hosts())
        notices = detect(iter_captures(old_paths), new_hosts=new_hosts, phrases=phrases)
        result.files["notices"] = write_notices(notices, out / "notices.jsonl")
    with CandidatesWriter(out / CANDIDATES_FILE) as candidates:
        result.rows = build_manifest(notices, iter_captures(old_paths), iter_captures(new_paths),
                                     allowed_hosts=allowed_hosts, rules=rules, thresholds=thresholds, status=status,
                                     decisions=decisions, candidates=candidates, assets=assets,
                                     documents_follow_gone=documents_follow_gone)
    result.files["candidates"] = out / CANDIDATES_FILE
    result.files.update(export_all(result.rows, out, formats=formats, allowed_hosts=export_hosts,
                                   status_default=status))
    if decisions_file:
        result.decisions = decisions_report(decisions, Path(decisions_file).absolute(), result.files["rejected"],
                                            export_hosts)
    summary_path = out / "map-summary.json"
    summary_path.write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    result.files["summary"] = summary_path
    return result
