"""The decisions file: what a person decided about legacy URLs, kept by every later run.

A CSV beside the job manifest (``[mapping] decisions``, default
``<manifest dir>/<name>.decisions.csv``; ``archiver map --decisions FILE``)::

    old_url,decision,new_url,note,decided_at
    http://old.example/a,redirect,https://new.example/b,same release,2026-11-29T10:00:00Z

Decisions are ``redirect`` (to ``new_url``), ``gone`` (410), ``unmatched``
(no equivalent: the row stays unmatched but is no longer flagged) and
``ignore`` (the URL needs no row: left out of the manifest and its exports).
Mapping applies them before every automatic method, and the rows they give
carry ``method = reviewed``.

A target must be on an allowed new host, checked as the exporter checks it,
when the file is read: a file naming any other host is refused as a whole
with one line naming the file and line. The export then checks decided rows
like all others (chains, loops, duplicates); what it refuses, and decisions
whose old URL the capture no longer holds, are reported (``decisions_report``),
never dropped in silence.

The writer is ``archiver.review.store.DecisionsFile``.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Iterable, Iterator

from archiver.errors import UsageError
from archiver.export.urls import InvalidURL, parse_url
from archiver.export.validate import AllowedHosts
from archiver.mapping.targets import NOT_CAPTURED, Landing
from archiver.settings import url_problem
from archiver.types import Decision, RedirectRow
from archiver.urls import lookup_key

COLUMNS = ("old_url", "decision", "new_url", "note", "decided_at")
REDIRECT, GONE, UNMATCHED, IGNORE = "redirect", "gone", "unmatched", "ignore"
DECISIONS = (REDIRECT, GONE, UNMATCHED, IGNORE)
REVIEWED = "reviewed"  # the method of every row a decision gives
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_note(text: str) -> str:
    """A note as stored: one line, no control characters (it ends up in evidence cells)."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def check_decision(decision: Decision, allowed: AllowedHosts) -> str | None:
    """What is wrong with one decision, or None; ``allowed`` as the exporter checks targets."""
    problem = url_problem(decision.old_url)
    if problem:
        return f"old_url: {problem}"
    if decision.decision not in DECISIONS:
        return f"decision: expected one of {', '.join(DECISIONS)}, got {decision.decision!r}"
    if decision.decision != REDIRECT:
        if decision.new_url:
            return f"new_url: a {decision.decision!r} decision names no target (got {decision.new_url!r})"
        return None
    if not decision.new_url:
        return "new_url: a redirect decision needs the target URL"
    problem = url_problem(decision.new_url)
    if problem:
        return f"new_url: {problem}"
    try:
        target = parse_url(decision.new_url)
    except InvalidURL as exc:
        return f"new_url: {exc}"
    if target not in allowed:
        return (f"new_url: {target.netloc} is not an allowed target host "
                f"(allowed: {', '.join(sorted(allowed.exact | {'*.' + s for s in allowed.suffixes}))})")
    return None


class Decisions:
    """The decisions of one file, keyed by old URL; remembers which ones a build applied."""

    def __init__(self, decisions: Iterable[Decision] = (), source: str = "") -> None:
        self.source = source
        self.by_key: dict[str, Decision] = {}
        for decision in decisions:
            self.by_key[lookup_key(decision.old_url)] = decision
        self.applied: set[str] = set()

    def __len__(self) -> int:
        return len(self.by_key)

    def __iter__(self) -> Iterator[Decision]:
        return iter(self.by_key.values())

    def get(self, url: str) -> Decision | None:
        return self.by_key.get(lookup_key(url))

    def take(self, url: str) -> Decision | None:
        """The decision for ``url`` (a captured legacy URL), marked as applied."""
        key = lookup_key(url)
        decision = self.by_key.get(key)
        if decision is not None:
            self.applied.add(key)
        return decision

    def not_applied(self) -> list[Decision]:
        """Decisions no build took: their old URL is not among the capture's legacy pages."""
        return [d for key, d in self.by_key.items() if key not in self.applied]

    def targets(self) -> list[str]:
        """The redirect targets, so a job's new-site crawl captures (and mapping verifies) each."""
        return [d.new_url for d in self.by_key.values() if d.decision == REDIRECT and d.new_url]


def parse_decisions(text: str, source: str, *, allowed_hosts: Iterable[str]) -> list[Decision]:
    """Decisions from CSV text; any bad line raises one ``UsageError`` naming ``source:line``."""
    allowed = AllowedHosts(allowed_hosts)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise UsageError(f"{source}: unknown column {unknown[0]!r} (expected: {', '.join(COLUMNS)})")
    missing = [name for name in ("old_url", "decision") if name not in header]
    if header and missing:
        raise UsageError(f"{source}: column {missing[0]!r} is missing (expected: {', '.join(COLUMNS)})")
    decisions: list[Decision] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            raise UsageError(f"{source}:{line}: more cells than columns")
        if not any((value or "").strip() for value in row.values()):
            continue
        decision = Decision(
            old_url=(row.get("old_url") or "").strip(), decision=(row.get("decision") or "").strip().lower(),
            new_url=(row.get("new_url") or "").strip() or None, note=clean_note(row.get("note") or ""),
            decided_at=(row.get("decided_at") or "").strip())
        problem = check_decision(decision, allowed)
        if problem:
            raise UsageError(f"{source}:{line}: {problem}")
        key = lookup_key(decision.old_url)
        if key in seen:
            raise UsageError(f"{source}:{line}: a second decision for {decision.old_url} (the first is on line {seen[key]})")
        seen[key] = line
        decisions.append(decision)
    return decisions


def load_decisions(path: Path | str, *, allowed_hosts: Iterable[str]) -> Decisions:
    """The decisions file at ``path``, checked whole (see ``parse_decisions``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"decisions file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the decisions file: {exc}") from None
    return Decisions(parse_decisions(text, str(path), allowed_hosts=allowed_hosts), str(path))


def decisions_text(decisions: Iterable[Decision]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for d in decisions:
        writer.writerow([d.old_url, d.decision, d.new_url or "", d.note, d.decided_at])
    return out.getvalue()


def decided_row(decision: Decision, old_url: str, status: int, landing: Landing | None) -> RedirectRow | None:
    """The manifest row a decision gives (None for ``ignore``).

    A redirect's target is followed through the new site's capture
    (``landing``): a target that redirects there is replaced by where it
    lands, so no chain is exported; one the capture shows answering an error
    is kept (it is the person's call) but flagged for review again.
    """
    said = f"reviewed {decision.decided_at}".strip() + (f": {decision.note}" if decision.note else "")
    if decision.decision == IGNORE:
        return None
    if decision.decision == GONE:
        return RedirectRow(old_url, None, 410, "gone", REVIEWED, 1.0, said)
    if decision.decision == UNMATCHED:
        return RedirectRow(old_url, None, None, "unmatched", REVIEWED, 1.0, said)
    if landing is None or landing.problem == NOT_CAPTURED:
        return RedirectRow(old_url, decision.new_url, status, "page", REVIEWED, 1.0,
                           f"{said}; target not in the new site's capture" if landing else said)
    if landing.ok:
        moved = f"; {decision.new_url} lands on {landing.url} ({landing.hops} redirects)" if landing.hops else ""
        return RedirectRow(old_url, landing.url, status, "page", REVIEWED, 1.0, said + moved)
    return RedirectRow(old_url, decision.new_url, status, "page", REVIEWED, 1.0,
                       f"{said}; the new site's capture says: {landing.problem}", review=True)


def decisions_report(decisions: Decisions | None, path: Path | str | None, rejected_file: Path | str | None,
                     allowed_hosts: Iterable[str] = ()) -> dict:
    """What happened to the decisions in one build and export, for the summary and the console.

    ``not_captured``: decisions whose old URL is not among the capture's legacy
    pages (kept in the file, applied again when it comes back); ``refused``
    and ``changed``: decided rows the export refused or rewrote, with why.
    """
    report: dict = {"file": str(path) if path else None, "present": decisions is not None,
                    "allowed_hosts": list(allowed_hosts), "decisions": len(decisions or ()),
                    "applied": 0, "by_decision": {}, "not_captured": [], "refused": [], "changed": []}
    if decisions is None:
        return report
    applied = [decisions.by_key[k] for k in decisions.applied]
    report["applied"] = len(applied)
    report["by_decision"] = {name: sum(d.decision == name for d in applied) for name in DECISIONS}
    report["not_captured"] = sorted(d.old_url for d in decisions.not_applied())
    if rejected_file and Path(rejected_file).is_file():
        export = json.loads(Path(rejected_file).read_text(encoding="utf-8"))
        decided = {lookup_key(d.old_url) for d in applied}
        report["refused"] = [{"old_url": r["old_url"], "reason": r["reason"]} for r in export.get("rejected", ())
                             if r.get("method") == REVIEWED]
        report["changed"] = [c for c in export.get("changes", ()) if lookup_key(c["old_url"]) in decided]
    return report


def report_lines(report: dict) -> list[str]:
    """The console lines for ``decisions_report``: one summary, then each problem."""
    if not report.get("present"):
        return [f"decisions: none (no file at {report['file']})"] if report.get("file") else []
    counts = ", ".join(f"{name} {n}" for name, n in report["by_decision"].items() if n)
    problems = "".join(f"; {len(report[key])} {what}" for key, what in (
        ("not_captured", "not in the capture"), ("refused", "refused by the export"),
        ("changed", "changed by the export")) if report[key])
    lines = [f"decisions: {report['applied']} of {report['decisions']} applied ({counts or 'none'}){problems}; "
             f"{report['file']}"]
    for url in report["not_captured"]:
        lines.append(f"  not applied: {url} is not among the legacy capture's pages (kept in the file)")
    for refused in report["refused"]:
        lines.append(f"  refused by the export: {refused['old_url']}: {refused['reason']}")
    for change in report["changed"]:
        lines.append(f"  changed by the export: {change['old_url']}: {change['change']}")
    return lines
