"""Validation shared by all export formats: one checked list, many writers.

``validate(rows, allowed_hosts=...)`` turns mapping's ``RedirectRow`` list into
rows every format can write without further checks:

- every URL normalised (see ``urls.py``): absolute http(s), percent-encoded,
  no whitespace or control characters; trailing slashes and path case kept as
  the site wrote them (they are different URLs), host and scheme lower-cased;
- **no open redirects**: a target whose host is not an allowed new host is
  refused and never written to any export (reports show it defanged);
- **no duplicate sources**: sources are compared by host[:port] and
  path+query, scheme ignored; the strongest row wins (an action beats
  unmatched, then higher confidence, then page > fallback > gone, then a row
  nobody needs to review), the others are refused as duplicates;
- **no chains**: A->B with B->C becomes A->C (evidence says so); A->B with B
  gone becomes gone; **no loops**: A->B->A (or A->A, e.g. an http->https
  self-redirect) and anything leading into a loop is refused;
- given the new site's statuses (``target_status``), **no target that is
  itself a redirect or an error** there.

Refusals are ``Rejection`` records with a reason a person reads and a
``cause`` (one of ``CAUSES``) that reports count by; rewrites are listed in
``Validated.changes``. Nothing is dropped silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from archiver.errors import UsageError
from archiver.types import REDIRECT_KINDS, RedirectRow

from .urls import URL, InvalidURL, defang, parse_url

KINDS = REDIRECT_KINDS
REDIRECT_STATUSES = (301, 308)
GONE = 410
REVIEW_COMMENT = "# review: flagged for a person, see redirects.csv"  # the marker in formats with comments
_KIND_RANK = {"page": 3, "document": 3, "fallback": 2, "gone": 1, "unmatched": 0}
# why a row was refused, in words for the console and summaries
CAUSES = {
    "target_host_not_allowed": "target host not allowed",
    "invalid_target": "target URL unusable",
    "invalid_old_url": "old URL unusable",
    "bad_status": "status not 301/308/410",
    "unknown_kind": "unknown kind",
    "duplicate_source": "duplicate old URL",
    "loop": "redirect loop",
    "target_redirects": "target redirects on the new site",
    "target_error": "target answers an error on the new site",
}


@dataclass(frozen=True, slots=True)
class Redirect:
    """A validated row: its normalised URLs and the row as it will be written."""

    row: RedirectRow
    old: URL
    new: URL | None

    @property
    def is_redirect(self) -> bool:
        return self.row.status in REDIRECT_STATUSES

    @property
    def is_gone(self) -> bool:
        return self.row.status == GONE


@dataclass(frozen=True)
class Rejection:
    """A row no export carries, and why.

    ``new_url`` is None when the target itself was refused; ``refused_target``
    then holds it defanged (``hxxps://evil[.]example/``) for the reviewer.
    """

    old_url: str
    new_url: str | None
    reason: str
    cause: str  # a key of CAUSES
    kind: str = ""
    method: str = ""
    confidence: float = 0.0
    evidence: str = ""
    refused_target: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Validated:
    redirects: list[Redirect] = field(default_factory=list)  # input order
    rejected: list[Rejection] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)  # {"old_url", "change"}


class AllowedHosts:
    """Which target hosts are trusted: ``host``, ``host:port``, ``*.domain``
    or a URL. A bare host allows the default ports only, so another service
    on the same address is not trusted by accident."""

    def __init__(self, entries: Iterable[str]):
        self.exact: set[str] = set()
        self.suffixes: set[str] = set()
        for entry in entries:
            entry = str(entry).strip()
            if not entry:
                continue
            if entry.startswith("*."):
                self.suffixes.add(parse_url(f"http://{entry[2:]}/").host)
                continue
            url = parse_url(entry if "://" in entry else f"http://{entry}/")
            self.exact.add(url.netloc)
        if not self.exact and not self.suffixes:
            raise UsageError("no allowed target hosts given: every redirect would be refused")

    def __contains__(self, url: URL) -> bool:
        if url.netloc in self.exact:
            return True
        return url.port is None and any(url.host.endswith("." + s) for s in self.suffixes)


class _Refused(Exception):
    def __init__(self, cause: str, reason: str, refused_target: str | None = None):
        super().__init__(reason)
        self.cause = cause
        self.reason = reason
        self.refused_target = refused_target


def _reject(row: RedirectRow, cause: str, reason: str, *, refused_target: str | None = None,
            old_url: str | None = None) -> Rejection:
    evidence = row.evidence or ""
    new_url = row.new_url
    if refused_target is not None:
        if row.new_url:
            evidence = evidence.replace(row.new_url, refused_target)
        new_url = None
    return Rejection(
        old_url=old_url or str(row.old_url), new_url=new_url, reason=reason, cause=cause, kind=str(row.kind),
        method=str(row.method), confidence=float(row.confidence or 0.0), evidence=evidence,
        refused_target=refused_target,
    )


def _check_target(raw: object, allowed: AllowedHosts) -> URL:
    try:
        url = parse_url(raw)
    except InvalidURL as exc:
        raise _Refused("invalid_target", f"target refused: {exc}", defang(str(raw))) from None
    if url not in allowed:
        raise _Refused("target_host_not_allowed", f"target host {defang(url.netloc)} is not an allowed new host (open redirect)", defang(str(raw)))
    return url


def _check_row(row: RedirectRow, allowed: AllowedHosts, status_default: int) -> tuple[Redirect, str | None]:
    """One row on its own; returns the checked row and an optional change note."""
    if row.kind not in KINDS:
        raise _Refused("unknown_kind", f"unknown kind {row.kind!r}")
    try:
        old = parse_url(row.old_url, keep_fragment=False)
    except InvalidURL as exc:
        raise _Refused("invalid_old_url", f"old URL refused: {exc}") from None
    note = None
    if row.kind == "gone":
        if row.status not in (None, GONE):
            raise _Refused("bad_status", f"kind gone with status {row.status}")
        fixed = replace(row, old_url=str(old), new_url=None, status=GONE)
        return Redirect(fixed, old, None), note
    if row.kind == "unmatched":
        new = None
        if row.new_url:  # a suggestion for the reviewer; kept only if safe
            try:
                new = _check_target(row.new_url, allowed)
            except _Refused as exc:
                note = f"suggested target dropped: {exc.reason}"
        fixed = replace(row, old_url=str(old), new_url=str(new) if new else None, status=None)
        return Redirect(fixed, old, new), note
    status = status_default if row.status is None else row.status
    if status not in REDIRECT_STATUSES:
        raise _Refused("bad_status", f"status {status} is not a permanent redirect (301 or 308)")
    new = _check_target(row.new_url, allowed)
    fixed = replace(row, old_url=str(old), new_url=str(new), status=status)
    return Redirect(fixed, old, new), note


def _strength(item: Redirect) -> tuple:
    row = item.row
    return (row.kind != "unmatched", float(row.confidence or 0.0), _KIND_RANK[row.kind], not row.review)


def _dedupe(items: list[Redirect], result: Validated) -> list[Redirect]:
    best: dict[tuple[str, str], Redirect] = {}
    for item in items:
        key = item.old.source_key
        if key not in best or _strength(item) > _strength(best[key]):
            best[key] = item
    kept = []
    for item in items:
        winner = best[item.old.source_key]
        if winner is item:
            kept.append(item)
        else:
            same = winner.row.new_url == item.row.new_url and winner.row.status == item.row.status
            reason = "duplicate source" + (" (same target)" if same else f"; kept the stronger row -> {winner.row.new_url or winner.row.kind}")
            result.rejected.append(_reject(item.row, "duplicate_source", reason, old_url=item.row.old_url))
    return kept


def _resolve_chains(items: list[Redirect], result: Validated) -> list[Redirect]:
    redirects = {i.old.source_key: i for i in items if i.is_redirect}
    gone = {i.old.source_key: i for i in items if i.is_gone}
    out = []
    for item in items:
        if not item.is_redirect:
            out.append(item)
            continue
        hops = [item]
        seen = {item.old.source_key}
        target = item.new
        verdict = "ok"
        while True:
            key = target.source_key
            if key in seen:
                verdict = "loop"
                break
            if key in redirects:
                hops.append(redirects[key])
                seen.add(key)
                target = redirects[key].new
                continue
            if key in gone:
                verdict = "gone"
            break
        trail = " -> ".join([str(h.old) for h in hops] + [str(target)])
        if len(trail) > 2000:
            trail = trail[:2000] + "..."
        if verdict == "loop":
            result.rejected.append(_reject(item.row, "loop", f"redirect loop: {trail}"))
            continue
        if verdict == "gone":
            row = replace(item.row, new_url=None, status=GONE, kind="gone", method=item.row.method, review=True,
                          evidence=f"{item.row.evidence} [target is gone: {trail}]".strip())
            result.changes.append({"old_url": row.old_url, "change": f"target is itself gone; now 410 ({trail})"})
            out.append(Redirect(row, item.old, None))
            continue
        if len(hops) > 1:
            row = replace(
                item.row, new_url=str(target), confidence=min(h.row.confidence for h in hops),
                review=any(h.row.review for h in hops), evidence=f"{item.row.evidence} [chain: {trail}]".strip(),
            )
            result.changes.append({"old_url": row.old_url, "change": f"chain collapsed: {trail}"})
            out.append(Redirect(row, item.old, target))
            continue
        out.append(item)
    return out


def _check_targets_answer(items: list[Redirect], target_status: Mapping[str, int | None], result: Validated) -> list[Redirect]:
    """Refuse redirects whose (final) target the new site answered with a redirect or an error."""
    known: dict[str, int] = {}
    for url, status in target_status.items():
        try:
            if status is not None:
                known[str(parse_url(url, keep_fragment=False))] = int(status)
        except (InvalidURL, ValueError, TypeError):
            continue
    kept = []
    for item in items:
        status = known.get(str(replace(item.new, fragment=None))) if item.is_redirect else None
        if status is None or 200 <= status < 300:
            kept.append(item)
        elif 300 <= status < 400:
            result.rejected.append(_reject(item.row, "target_redirects", f"target is itself a redirect ({status}) on the new site"))
        else:
            result.rejected.append(_reject(item.row, "target_error", f"target answers {status} on the new site"))
    return kept


def validate(rows: Iterable[RedirectRow], *, allowed_hosts: Iterable[str], status_default: int = 301,
             target_status: Mapping[str, int | None] | None = None) -> Validated:
    """Check and normalise rows for export; see the module docstring.

    ``target_status`` ({new-site URL: HTTP status}, e.g. from the new site's
    crawl log), when given, refuses targets that answered 3xx, 4xx or 5xx;
    targets it does not list are kept (nothing is known against them).
    """
    if status_default not in REDIRECT_STATUSES:
        raise UsageError(f"default redirect status must be 301 or 308, not {status_default}")
    allowed = AllowedHosts(allowed_hosts)
    result = Validated()
    checked = []
    for row in rows:
        try:
            item, note = _check_row(row, allowed, status_default)
        except _Refused as exc:
            result.rejected.append(_reject(row, exc.cause, exc.reason, refused_target=exc.refused_target))
            continue
        if note:
            result.changes.append({"old_url": item.row.old_url, "change": note})
        checked.append(item)
    result.redirects = _resolve_chains(_dedupe(checked, result), result)
    if target_status is not None:
        result.redirects = _check_targets_answer(result.redirects, target_status, result)
    return result
