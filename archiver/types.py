"""Data types passed between the stages, defined once.

Every stage after capture reads WARC records, so the types below describe what
was *archived*, never the live site. They are small frozen dataclasses; their
``to_json()`` shapes are the shapes written to the JSON/JSONL outputs.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit


def _jsonable(obj: Any) -> Any:
    return asdict(obj)


@dataclass(frozen=True)
class Capture:
    """One archived HTTP exchange, as read back from a WARC record.

    ``body`` is the entity body with transfer- and content-encoding removed
    (capped by the reader so a decompression bomb cannot exhaust memory);
    ``headers`` are the HTTP response headers in their original order.
    A revisit record is resolved to its original's body where the original is
    in the collection (``revisit_of`` then names the original's URL and date).
    """

    url: str
    status: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    date: str  # WARC-Date, ISO 8601
    file: str
    offset: int
    record_type: str = "response"  # response | revisit | resource
    payload_digest: str | None = None
    truncated: str | None = None  # WARC-Truncated value, if any
    revisit_of: tuple[str, str] | None = None  # (refers-to URI, refers-to date)
    ip_address: str | None = None
    body_capped: bool = False  # the reader stopped decoding at its max_body cap
    index: int = 0  # records before it in its gzip member (a file gzip'd whole has one member: offset 0)

    def header(self, name: str) -> str | None:
        """First value of an HTTP header, case-insensitively."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def mime(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    @property
    def is_html(self) -> bool:
        return self.mime in ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class PageFacts:
    """What content matching needs to know about a page (see ``extract.py``)."""

    url: str
    title: str = ""
    h1: str = ""
    date: str | None = None  # publication date, YYYY-MM-DD
    lang: str | None = None  # ISO 639-1
    text: str = ""  # main text, boilerplate removed
    links: tuple[str, ...] = ()  # absolute URLs of outgoing links
    link_texts: tuple[str, ...] = ()  # each link's text, in step with ``links`` ("" when it has none)

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class Signal:
    """One piece of evidence that a page moved (or is gone).

    ``kind`` is one of: http_redirect, gone, not_found, meta_refresh,
    js_redirect, canonical, banner. ``target`` is an absolute URL, or None
    when the signal names no page (a 410, a banner that names only the portal).
    """

    kind: str
    target: str | None
    evidence: str
    strength: float = 1.0  # 0..1, how much this signal alone says "moved"

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class Notice:
    """Detection's verdict on one captured URL (one line of notices.jsonl).

    ``classification``: moved (a page-level target is known), moved_site
    (a banner or link names only the new site), gone (410 or 404), live (an
    HTML page with no signal), resource (a file that is not a page, such as
    robots.txt, a sitemap, an image, a style sheet or a document, with no
    signal), error (5xx or not captured).
    """

    url: str
    status: int | None
    classification: str
    target: str | None = None
    signals: tuple[Signal, ...] = ()

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class SectionRule:
    """A section rule, the mapping's last resort before unmatched: an old URL
    whose path+query matches ``pattern`` (searched) goes to ``target``
    (``\\1`` inserts a group). Made by the job manifest or ``map --rule``."""

    pattern: re.Pattern
    target: str

    def apply(self, old_url: str) -> str | None:
        """The target for ``old_url``, or None when the rule does not apply."""
        parts = urlsplit(old_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        found = self.pattern.search(path)
        if not found:
            return None
        try:
            return found.expand(self.target)
        except (re.error, IndexError):
            return None


# what a redirect row does: see RedirectRow.kind
REDIRECT_KINDS = ("page", "document", "fallback", "gone", "unmatched")


@dataclass(frozen=True)
class RedirectRow:
    """One row of the redirect manifest, the input of every export format.

    kind: page (a page-level equivalent), document (a legacy PDF, office or
    text file's new URL), fallback (the notice's own link or a section rule),
    gone (410), unmatched (no equivalent found; flagged).
    status: 301, 308, 410, or None for unmatched rows.
    """

    old_url: str
    new_url: str | None
    status: int | None
    kind: str
    method: str  # http_redirect, meta_refresh, js_redirect, canonical, content, banner_link, rule, gone, none,
    #              reviewed, digest, text, linked_from (documents), page_gone (a document removed with its page)
    confidence: float
    evidence: str = ""
    review: bool = False  # a person should look at this row

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class Decision:
    """A person's verdict on one legacy URL (one line of the decisions file).

    decision: redirect (to ``new_url``), gone (410), unmatched (no equivalent:
    stays unmatched, no longer flagged) or ignore (the URL needs no row: left
    out of the manifest and its exports). Applied before every automatic
    method; the row it gives carries ``method = reviewed``.
    """

    old_url: str
    decision: str
    new_url: str | None = None
    note: str = ""
    decided_at: str = ""  # ISO 8601, UTC

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class Candidate:
    """A new page that content matching considered for an old page, for a person to judge."""

    new_url: str
    score: float  # the content score, 0..1
    reasons: str  # what agreed: "title 97, date =, text 0.91, slug 88"
    title: str = ""
    date: str | None = None

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class AuditOutcome:
    """What happened to one expected URL (see ``audit/``).

    outcome: captured, redirected, not_found, error, blocked_by_robots,
    out_of_scope, not_captured.
    """

    url: str
    outcome: str
    status: int | None = None
    final_url: str | None = None
    reason: str = ""
    file: str | None = None
    offset: int | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)  # where the URL was expected from

    def to_json(self) -> dict:
        return _jsonable(self)


@dataclass(frozen=True)
class VerifyOutcome:
    """What the live server did with one row of the redirect manifest (see ``verify/``).

    verdict: ok, wrong_status, wrong_target, not_redirected, chain, loop,
    off_host, target_broken, target_soft_404, gone_ok, gone_wrong, error,
    not_checked. ``chain`` lists every answer on the way, ``"301 URL"``,
    starting with the old URL's; ``hops`` counts the redirects followed.
    A URL on a host that is not allowed is given defanged, never followed.
    """

    old_url: str
    verdict: str
    kind: str = ""  # the row's kind: page, fallback, gone, unmatched
    expected_status: int | None = None
    expected_url: str | None = None
    got_status: int | None = None  # the old URL's answer
    got_location: str | None = None
    final_status: int | None = None  # the last answer followed
    final_url: str | None = None
    final_title: str = ""
    hops: int = 0
    chain: tuple[str, ...] = ()
    detail: str = ""

    def to_json(self) -> dict:
        return _jsonable(self)
