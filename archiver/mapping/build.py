"""The redirect manifest: one row per legacy page, from signals, content and rules.

Order of trust for each old URL:
0. a person's decision (``decisions.py``), method reviewed;
1. removed (410/404): kind gone, status 410;
2. an explicit page-level target (redirect, refresh, script, canonical),
   verified to land 2xx on an allowed host of the new site's capture;
3. a content match (see ``content.py``), one new page per old page unless
   both old pages clearly match;
4. a fallback: a section rule from the job whose target the new site's
   capture shows answering 2xx, then the notice's own link or a site-level
   redirect (kind fallback);
5. otherwise unmatched, flagged for review (a rule's unverified target is
   kept as the row's suggestion, which no server export deploys).
Rejected targets and runner-up candidates are kept in the evidence.
Captured legacy documents (PDF, office files, ...) get their own rows, kind
document, from ``documents.py`` once the page rows are decided.
"""
from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urlsplit

from archiver.detect.hosts import is_site_root
from archiver.errors import UsageError
from archiver.mapping.content import ContentMatcher, Match, Thresholds, facts_from_url
from archiver.mapping.decisions import Decisions, decided_row
from archiver.mapping.portal import SKIP_PATHS, PortalIndex, default_extract, needs_row
from archiver.mapping.targets import NOT_CAPTURED, Landing, allowed_entry, host_allowed
from archiver.types import REDIRECT_KINDS, Candidate, Capture, Notice, PageFacts, RedirectRow, SectionRule
from archiver.urls import lookup_key, resolve_link

log = logging.getLogger(__name__)

KINDS = REDIRECT_KINDS
EXPLICIT = {"http_redirect": 1.0, "meta_refresh": 0.95, "js_redirect": 0.9, "canonical": 0.9}
BANNER_LINK_CONFIDENCE = 0.8  # a notice on the page naming its own new page
SHARED_TARGET = 5  # this many old URLs landing on one URL: it is a home or section, not an equivalent


@dataclass
class _Old:
    url: str
    status: int | None
    is_html: bool
    location: str | None
    facts_index: int | None = None


def parse_rule(text: str) -> SectionRule:
    """A section rule from 'REGEX=URL' (split at the first '=' before http:// or https://)."""
    match = re.match(r"^(.+?)=(https?://\S+)$", text.strip())
    if not match:
        raise UsageError(f"rule {text!r} is not REGEX=URL with an absolute http(s) URL")
    try:
        return SectionRule(re.compile(match.group(1)), match.group(2))
    except re.error as exc:
        raise UsageError(f"rule {text!r}: bad regular expression: {exc}") from None


def _as_rules(rules: Iterable[SectionRule | str]) -> list[SectionRule]:
    return [r if isinstance(r, SectionRule) else parse_rule(r) for r in rules]


CandidatesHook = Callable[[PageFacts, list[Candidate]], None]


class _Builder:
    """One legacy site against a portal index (used up by one build: the matcher keeps its old pages)."""

    def __init__(self, portal: PortalIndex, *, allowed: set[str], rules: list[SectionRule], status: int,
                 extract: Callable[[Capture], PageFacts], decisions: Decisions | None = None,
                 candidates: CandidatesHook | None = None):
        self.allowed = allowed
        self.decisions = decisions
        self.candidates = candidates
        self.rules = rules
        self.thresholds = portal.thresholds
        self.status = status
        self.extract = extract
        self.matcher = portal.matcher
        self.resolver = portal.resolver
        self.new_facts = portal.facts
        self.new_index = portal.index
        self.old: dict[str, _Old] = {}
        self.old_facts: list[PageFacts] = []
        self.old_assets: set[str] = set()  # captured URLs that need no row (images, robots.txt, ...)
        self.documents = portal.documents

    # reading ------------------------------------------------------------------------------
    def read_old(self, captures: Iterable[Capture]) -> None:
        for capture in captures:
            if capture.record_type not in ("response", "revisit", "resource"):
                continue
            self.resolver.add(capture.url, capture.status, capture.header("location"))
            if host_allowed(capture.url, self.allowed):
                continue  # the new site as the legacy crawl saw it: used to verify targets only
            key = lookup_key(capture.url)
            if not needs_row(capture):
                if urlsplit(capture.url).path in SKIP_PATHS or not self.documents.add_old(capture):
                    self.old_assets.add(key)
                else:
                    self.old.pop(key, None)  # the latest capture decides what the URL is
                continue
            self.documents.discard_old(key)
            page = _Old(capture.url, capture.status, capture.is_html, capture.header("location"))
            previous = self.old.get(key)
            if capture.is_html and capture.status is not None and 200 <= capture.status < 300:
                if previous is not None and previous.facts_index is not None:
                    page.facts_index = previous.facts_index
                    self.old_facts[page.facts_index] = self.extract(capture)
                else:
                    page.facts_index = len(self.old_facts)
                    self.old_facts.append(self.extract(capture))
            self.old[key] = page

    # deciding -------------------------------------------------------------------------------
    def _in_key_order(self) -> None:
        """The old pages and their facts in URL-key order. The crawl wrote them in an order its
        timing chose, and the matcher breaks ties by position. Facts no row points at any more
        (a page later captured as an error) stay: their links still say which pages linked a
        document."""
        order = sorted(range(len(self.old_facts)), key=lambda i: (lookup_key(self.old_facts[i].url), i))
        position = {old: new for new, old in enumerate(order)}
        self.old_facts = [self.old_facts[i] for i in order]
        self.old = {key: self.old[key] for key in sorted(self.old)}
        for page in self.old.values():
            if page.facts_index is not None:
                page.facts_index = position[page.facts_index]

    def build(self, notices: Iterable[Notice]) -> list[RedirectRow]:
        by_url = {lookup_key(n.url): n for n in sorted(notices, key=lambda n: n.url)}
        for key, notice in by_url.items():
            if key not in self.old and key not in self.old_assets and not self.documents.has_old(key) \
                    and not host_allowed(notice.url, self.allowed):
                self.old[key] = _Old(notice.url, notice.status, True, None)
        self._in_key_order()
        matcher = self.matcher
        matches = matcher.match(self.old_facts) if self.old_facts else []
        if self.candidates is not None and self.old_facts:
            self._hand_candidates(matcher)
        landings = {key: self._explicit(page, by_url.get(key)) for key, page in self.old.items()}
        arrivals = Counter(l.url for found in landings.values() for _, l in found if l.ok)

        by_target_url = self._match_uncaptured_targets(landings, matcher)
        rows: dict[str, RedirectRow] = {}
        content_claims: list[tuple[str, Match]] = []
        for key, page in self.old.items():
            decided, row = self._decided(page.url)
            if decided:
                if row is not None:  # None: the person said the URL needs no row
                    rows[key] = row
                continue
            notice = by_url.get(key)
            row, rejected, weak_landing = self._explicit_row(page, notice, landings[key], arrivals, matcher)
            if row is None and self._is_gone(page, notice):
                row = RedirectRow(page.url, None, 410, "gone", "gone", 1.0 if page.status == 410 else 0.9,
                                  f"legacy answers {page.status}" if page.status in (404, 410)
                                  else _signal_text(notice, ("gone", "not_found")) or "detected as gone")
            if row is None:
                match = matches[page.facts_index] if page.facts_index is not None else None
                if match is not None and match.new_index is not None:
                    content_claims.append((key, match))
                    rows[key] = RedirectRow(page.url, matcher.new_urls[match.new_index], self.status, "page",
                                            "content", match.confidence, _join(rejected, match.evidence))
                    continue
                if key in by_target_url and (match is None or match.best_index is None or match.confidence < 0.3):
                    kind, landing, guess = by_target_url[key]
                    rows[key] = RedirectRow(
                        page.url, matcher.new_urls[guess.new_index], self.status, "page", kind,
                        round(min(0.7, guess.confidence), 3),
                        _join(rejected, f"its URL matches {matcher.new_urls[guess.new_index]} ({guess.evidence})"),
                        review=True)
                    continue
                row = self._fallback(page, notice, weak_landing, rejected, match)
            rows[key] = row
        self._one_to_one(rows, content_claims, by_url, matcher)
        documents = self.documents.rows(rows, status=self.status, old_pages=self.old_facts,
                                        new_pages={k: self.new_facts[i] for k, i in self.new_index.items()},
                                        allowed=lambda url: host_allowed(url, self.allowed))
        for key, row in documents.items():
            decided, decided_document = self._decided(row.old_url)
            if not decided or decided_document is not None:
                rows[key] = decided_document if decided else row
        kinds = Counter(r.kind for r in rows.values())
        log.info("mapped %d legacy URLs against %d new pages: %s", len(rows), len(self.new_facts),
                 ", ".join(f"{k} {kinds.get(k, 0)}" for k in KINDS))
        return [rows[k] for k in sorted(rows, key=lambda k: rows[k].old_url)]

    def _hand_candidates(self, matcher: ContentMatcher) -> None:
        """Every old page's best new pages, accepted or not, to the candidates hook (for review)."""
        for facts, found in zip(self.old_facts, matcher.top_candidates()):
            self.candidates(facts, [Candidate(matcher.new_urls[j], score, reasons, self.new_facts[j].title
                                              or self.new_facts[j].h1, self.new_facts[j].date)
                                    for j, score, reasons in found])

    def _decided(self, url: str) -> tuple[bool, RedirectRow | None]:
        """(whether a person decided ``url``, the row they decided: None when it needs no row)."""
        decision = self.decisions.take(url) if self.decisions is not None else None
        if decision is None:
            return False, None
        landing = self.resolver.land(decision.new_url, self.allowed) if decision.new_url else None
        return True, decided_row(decision, url, self.status, landing)

    def _explicit(self, page: _Old, notice: Notice | None) -> list[tuple[str, Landing]]:
        """(signal kind, landing) for every page-level target, strongest first.

        A banner's link counts only when detection judged it page-level
        (classification "moved" with the banner's own target).
        """
        targets: list[tuple[float, str, str]] = []
        if notice is not None:
            for signal in notice.signals:
                if signal.kind in EXPLICIT and signal.target:
                    targets.append((signal.strength, signal.kind, signal.target))
                elif signal.kind == "banner" and notice.classification == "moved" and signal.target == notice.target:
                    targets.append((0.0, "banner", signal.target))
        if page.location and not any(kind == "http_redirect" for _, kind, _ in targets):
            targets.append((1.0, "http_redirect", page.location))
        targets.sort(key=lambda t: (-t[0], list(EXPLICIT).index(t[1]) if t[1] in EXPLICIT else len(EXPLICIT)))
        out, seen = [], set()
        for _, kind, target in targets:
            absolute = lookup_key(resolve_link(page.url, target) or target)
            if (kind, absolute) not in seen:
                seen.add((kind, absolute))
                out.append((kind, self.resolver.land(absolute, self.allowed)))
        return out

    def _match_uncaptured_targets(self, landings, matcher) -> dict[str, tuple[str, Landing, Match]]:
        """Explicit targets on the new site that its crawl never reached (an old slug the portal
        only redirects from), matched by what their URL says: slug and date. A guess, so the
        rows it gives are flagged for review."""
        pending = [(key, kind, landing) for key, found in landings.items() for kind, landing in found[:1]
                   if kind in EXPLICIT and landing.problem == NOT_CAPTURED]
        if not pending:
            return {}
        guesses = matcher.match([facts_from_url(landing.url) for _, _, landing in pending], keep=False)
        return {key: (kind, landing, guess) for (key, kind, landing), guess in zip(pending, guesses)
                if guess.new_index is not None}

    def _explicit_row(self, page, notice, found, arrivals, matcher):
        rejected: list[str] = []
        weak: tuple[str, Landing] | None = None
        for kind, landing in found:
            if not landing.ok:
                rejected.append(f"{kind} to {landing.url} rejected: {landing.problem}")
                continue
            if is_site_root(landing.url) or arrivals[landing.url] >= SHARED_TARGET:
                weak = weak or (kind, landing)
                rejected.append(f"{kind} to {landing.url} is site-level, not the page's equivalent")
                continue
            confidence = EXPLICIT.get(kind, BANNER_LINK_CONFIDENCE) * (
                0.9 if kind == "http_redirect" and page.status in (302, 303, 307) else 1)
            evidence = f"{kind}: {page.url} -> {landing.url} ({landing.hops} hops, {landing.status})"
            review = False
            j = self.new_index.get(landing.url)
            if page.facts_index is not None and j is not None:
                agree, notes = matcher.pair_score(page.facts_index, j)
                evidence += f"; content {agree:.2f} ({notes})"
                review = agree < 0.3 and kind != "http_redirect"  # a page claiming an unrelated canonical
            method = "banner_link" if kind == "banner" else kind
            return RedirectRow(page.url, landing.url, self.status, "page", method, round(confidence, 3),
                               _join(rejected, evidence), review), rejected, weak
        return None, rejected, weak

    @staticmethod
    def _is_gone(page: _Old, notice: Notice | None) -> bool:
        if page.status in (404, 410):
            return True
        return notice is not None and notice.classification == "gone"

    def _fallback(self, page: _Old, notice: Notice | None, weak: tuple[str, Landing] | None,
                  rejected: list[str], match: Match | None) -> RedirectRow:
        content_note = match.evidence if match is not None else ""
        if match is not None and match.ambiguous:
            content_note = f"content {content_note}"
        unverified: str | None = None  # a rule's target the new site's capture does not show answering 2xx
        for rule in self.rules:
            target = rule.apply(page.url)
            if target:
                if not host_allowed(target, self.allowed):
                    rejected.append(f"rule {rule.pattern.pattern} gives off-site {target}")
                    continue
                landing = self.resolver.land(target, self.allowed)
                if not landing.ok:
                    rejected.append(f"rule {rule.pattern.pattern} gives {target}, unverified: {landing.problem}")
                    unverified = unverified or target
                    continue
                return RedirectRow(page.url, landing.url, self.status, "fallback", "rule", 0.6,
                                   _join(rejected, f"rule {rule.pattern.pattern}", content_note),
                                   review=bool(match and match.ambiguous))
        link = _banner_link(notice)
        if link:
            landing = self.resolver.land(link, self.allowed)
            if landing.ok:
                return RedirectRow(page.url, landing.url, self.status, "fallback", "banner_link", 0.4,
                                   _join(rejected, f"notice links {link}", content_note),
                                   review=is_site_root(landing.url) or bool(match and match.ambiguous))
            rejected.append(f"notice link {link} rejected: {landing.problem}")
        if weak is not None:
            kind, landing = weak
            return RedirectRow(page.url, landing.url, self.status, "fallback", kind, 0.3,
                               _join(rejected, content_note), review=True)
        if page.status is not None and page.status >= 500:
            rejected.append(f"legacy answers {page.status}")
        # an unverified rule target stays a suggestion for the reviewer, never a live redirect
        return RedirectRow(page.url, unverified, None, "unmatched", "rule" if unverified else "none", 0.0,
                           _join(rejected, content_note or "no content captured"), review=True)

    def _one_to_one(self, rows, claims, by_url, matcher) -> None:
        """One old page per new page, unless the rivals both clearly match (aliases, print views)."""
        explicit_holders = {r.new_url: key for key, r in rows.items() if r.kind == "page" and r.method != "content"}
        by_target: dict[str, list[tuple[str, Match]]] = defaultdict(list)
        for key, match in claims:
            by_target[rows[key].new_url].append((key, match))
        strong = self.thresholds.strong
        for target, group in by_target.items():
            group.sort(key=lambda km: -km[1].confidence)
            holder = explicit_holders.get(target) or group[0][0]
            holder_strong = target in explicit_holders or group[0][1].confidence >= strong
            for key, match in group:
                if key == holder or (holder_strong and match.confidence >= strong):
                    continue
                a, b = self.old[key].facts_index, self.old[holder].facts_index
                if a is not None and b is not None and matcher.same_content(a, b) >= 0.9:
                    continue  # the same page at two legacy URLs: both go to its new home
                page = self.old[key]
                demoted = self._fallback(page, by_url.get(key), None, [], None)
                rows[key] = RedirectRow(
                    demoted.old_url, demoted.new_url, demoted.status, demoted.kind, demoted.method,
                    demoted.confidence, _join(f"content match {target} ({match.confidence:.2f}) is already "
                                              f"claimed by {self.old[holder].url}", demoted.evidence), review=True)


def explicit_targets(notices: Iterable[Notice]) -> list[str]:
    """URLs that redirects, refreshes, scripts and canonicals name: seeds for the new site's crawl,
    so that every explicit target can be verified from the capture (old slugs that the new
    site only reaches by redirect are linked from nowhere on it)."""
    found: dict[str, None] = {}
    for notice in notices:
        for signal in notice.signals:
            if signal.kind in EXPLICIT and signal.target:
                found.setdefault(signal.target, None)
    return list(found)


def _banner_link(notice: Notice | None) -> str | None:
    if notice is None:
        return None
    if notice.classification in ("moved", "moved_site") and notice.target:
        return notice.target
    for signal in notice.signals:
        if signal.kind == "banner" and signal.target:
            return signal.target
    return None


def _signal_text(notice: Notice | None, kinds: tuple[str, ...]) -> str:
    if notice is None:
        return ""
    return "; ".join(s.evidence for s in notice.signals if s.kind in kinds)


def _join(*parts) -> str:
    flat = []
    for part in parts:
        if isinstance(part, (list, tuple)):
            flat.extend(p for p in part if p)
        elif part:
            flat.append(part)
    return "; ".join(flat)


def build_manifest(notices: Iterable[Notice], old_captures: Iterable[Capture], new_captures: Iterable[Capture], *,
                   allowed_hosts: Iterable[str] | None = None, rules: Iterable[SectionRule | str] = (),
                   thresholds: Thresholds | None = None, status: int = 301,
                   extract: Callable[[Capture], PageFacts] | None = None, decisions: Decisions | None = None,
                   candidates: CandidatesHook | None = None, assets: Iterable[str] = (),
                   documents_follow_gone: bool = False) -> list[RedirectRow]:
    """Redirect rows for every legacy page and document: page-level, document, fallback, gone or unmatched.

    ``assets`` (media-type patterns such as ``image/*``) opts further types into
    document rows; ``documents_follow_gone`` lets a document removed with its
    pages answer their 410. The new site is read into a ``PortalIndex`` first;
    see ``map_to_portal`` for the other arguments.
    """
    _check_status(status)
    rules = _as_rules(rules)  # a bad rule is refused before the new site is read
    portal = PortalIndex.build(new_captures, thresholds=thresholds, extract=extract, assets=assets,
                               follow_gone=documents_follow_gone)
    return map_to_portal(portal, notices, old_captures, allowed_hosts=allowed_hosts, rules=rules, status=status,
                         extract=extract, decisions=decisions, candidates=candidates)


def map_to_portal(portal: PortalIndex, notices: Iterable[Notice], old_captures: Iterable[Capture], *,
                  allowed_hosts: Iterable[str] | None = None, rules: Iterable[SectionRule | str] = (),
                  status: int = 301, extract: Callable[[Capture], PageFacts] | None = None,
                  decisions: Decisions | None = None, candidates: CandidatesHook | None = None) -> list[RedirectRow]:
    """Redirect rows for one legacy site against the new site's index (``portal.py``), which this
    build uses up: map the next site with a fresh copy (``PortalIndex.load``).

    ``allowed_hosts`` (hosts or host:port) defaults to the new capture's hosts;
    ``status`` (301 or 308) is used for page, document and fallback rows. ``decisions``
    (a person's, see ``decisions.py``) come before every automatic method and
    record which ones were applied; ``candidates`` is called with each old
    page's facts and its best new pages (``archiver review`` shows them).
    """
    _check_status(status)
    allowed = {allowed_entry(h) for h in (allowed_hosts or ()) if h.strip()}
    if not allowed:
        allowed = set(portal.hosts)
    elif portal.page_hosts and not any(host_allowed(url, allowed) for url in portal.page_hosts.values()):
        raise UsageError(f"the allowed target hosts ({', '.join(sorted(allowed))}) include none of the hosts "
                         f"the new site's capture has pages on ({', '.join(sorted(portal.page_hosts))}): no redirect "
                         "could be exported; check --allowed-host or [mapping] allowed_hosts")
    builder = _Builder(portal, allowed=allowed, rules=_as_rules(rules), status=status,
                       extract=extract or default_extract, decisions=decisions, candidates=candidates)
    builder.read_old(old_captures)
    return builder.build(notices)


def _check_status(status: int) -> None:
    if status not in (301, 308):
        raise UsageError(f"redirect status must be 301 or 308, not {status}")
