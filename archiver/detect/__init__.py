"""Detect moved and gone pages in the capture of a legacy site.

Pass 1 (``pages.py``) reads every capture once and keeps a few hundred
bytes per URL (statuses, Location, refresh/JS/canonical targets, candidate
banner blocks as fingerprints); pass 2 (:func:`decide`) decides per URL with
the whole site in view: redirect chains are followed hop by hop across the
captured records to their final URL (loops and over-long chains are
reported, not followed forever), and a banner counts when its block repeats
across the site and names or links the new site.

``detect_sources`` splits pass 1 over an Executor (files and byte ranges of
big files, see ``archiver.scan``; a Dask cluster through
``archiver.cluster``) and merges the parts' summaries before deciding once,
so the notices are the same wherever pass 1 ran. ``detect`` does both passes
over Captures already read:

    notices = detect(iter_captures(["legacy.warc.gz"]), new_hosts=["www.gov.si"])
    write_notices(notices, "notices.jsonl")
"""
from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from concurrent.futures import Executor
from pathlib import Path
from typing import Iterable

from archiver.cluster import open_executor
from archiver.detect.banners import BANNER_THRESHOLD, BannerScorer, BlockCollector, count_pages
from archiver.detect.hosts import bare, host_matches, is_furniture, is_site_root, same_site
from archiver.detect.pages import CAPTURE_TYPES, Page, PagesSummary, pages_read, phrase_book, read_collection
from archiver.errors import UsageError
from archiver.outputs import writable_file
from archiver.types import Capture, Notice, Signal
from archiver.urls import key_hash, lookup_key, site_host
from archiver.warc import expand_inputs

__all__ = ["detect", "detect_sources", "detect_paths", "decide", "write_notices", "summarize", "CLASSIFICATIONS"]

CLASSIFICATIONS = ("moved", "moved_site", "gone", "live", "resource", "error")
MAX_HOPS = 20
PAGE_LEVEL_MIN = 0.6  # weaker refresh/JS/canonical signals are reported, not followed
SITE_TARGET_SHARERS = 5  # this many old URLs landing on one URL: that URL is a home/section
_HOP_ORDER = {"meta_refresh": 0, "js_redirect": 1, "canonical": 2}


def _host_set(values: Iterable[str]) -> set[str]:
    hosts = set()
    for value in values:
        value = (value or "").strip().lower()
        if not value:
            continue
        host = site_host(value if "//" in value else f"http://{value}")
        if host:
            hosts.add(bare(host))
    return hosts


class _Site:
    """The whole capture in view: hosts, hops between URLs, chain resolution."""

    def __init__(self, pages: dict[str, Page], explicit_new: set[str]):
        self.pages = pages
        site_hosts = {site_host(p.url) for p in pages.values()}
        site_hosts = {h for h in site_hosts if h and not host_matches(h, explicit_new)}
        self.hops: dict[str, tuple[str, str, Signal | None]] = {}
        off_site = Counter()
        for key, page in pages.items():
            hop = self._hop(page)
            if hop:
                self.hops[key] = hop
                source, target = site_host(page.url), site_host(hop[0])
                if not same_site(source, target) and not is_furniture(target):
                    off_site[bare(target)] += 1
        needed = 1 if len(pages) < 10 else 2
        inferred = {h for h, n in off_site.items() if n >= needed and not host_matches(h, explicit_new)}
        self.explicit_new = explicit_new
        self.new_hosts = explicit_new | inferred
        self.legacy_hosts = {h for h in site_hosts if not host_matches(h, self.new_hosts)} or site_hosts
        self.arrivals = Counter()  # final URL -> old URLs landing there

    def _hop(self, page: Page) -> tuple[str, str, Signal | None] | None:
        if page.location:
            return page.location, "http_redirect", None
        own = lookup_key(page.url)
        candidates = []
        for signal in page.signals:
            if signal.kind not in _HOP_ORDER or signal.strength < PAGE_LEVEL_MIN or lookup_key(signal.target) == own:
                continue
            if signal.kind == "canonical" and same_site(site_host(signal.target), site_host(page.url)):
                continue  # a canonical inside the same site is de-duplication, not a move
            candidates.append(signal)
        if not candidates:
            return None
        best = min(candidates, key=lambda s: (_HOP_ORDER[s.kind], -s.strength))
        return best.target, best.kind, best

    def is_legacy(self, url: str) -> bool:
        return host_matches(site_host(url), self.legacy_hosts)

    def gets_notice(self, url: str) -> bool:
        """Every captured URL except the new site's (as named by the caller).

        Hosts only inferred from redirects keep their notices: an old domain
        redirecting to the legacy site's current one must not hide its pages.
        """
        return bool(site_host(url)) and not host_matches(site_host(url), self.explicit_new)

    def follow(self, url: str) -> tuple[list[str], str]:
        """The chain of URLs from ``url`` and how it ended: final, loop or too_long."""
        chain = [url]
        seen = {lookup_key(url)}
        current = lookup_key(url)
        while current in self.hops:
            target = self.hops[current][0]
            chain.append(target)
            current = lookup_key(target)
            if current in seen:
                return chain, "loop"
            seen.add(current)
            if len(chain) > MAX_HOPS:
                return chain, "too_long"
        return chain, "final"


def _chain_text(chain: list[str], limit: int = 6) -> str:
    shown = chain if len(chain) <= limit else chain[:limit - 1] + ["…", chain[-1]]
    return " -> ".join(shown)


def _follow_signal(site: _Site, page: Page, kind: str, first: Signal | None) -> tuple[Signal, list[str], str]:
    chain, end = site.follow(page.url)
    final = chain[-1]
    landing = site.pages.get(lookup_key(final))
    if end == "loop":
        detail = f"loop: {_chain_text(chain)}"
    elif end == "too_long":
        detail = f"more than {MAX_HOPS} hops: {_chain_text(chain)}"
    elif landing is None:
        detail = f"{_chain_text(chain)} (final URL not captured)"
    else:
        detail = f"{_chain_text(chain)} (final status {landing.status})"
    if kind == "http_redirect":
        evidence = f"{page.status} Location: {chain[1]}; chain {detail}" if len(chain) > 1 else ""
        strength = 1.0 if page.status in (301, 308) else 0.8
    else:
        evidence = f"{first.evidence}; chain {detail}"
        strength = first.strength
    target = None if end != "final" else final
    return Signal(kind, target, evidence, strength), chain, end


def _verdict(site: _Site, page: Page, scorer: BannerScorer, linked: set[int]) -> Notice:
    status = page.status
    signals: list[Signal] = []
    if status == 410:
        return Notice(page.url, status, "gone", None, (Signal("gone", None, "410 Gone", 1.0),))
    if status == 404:
        was_linked = key_hash(lookup_key(page.url)) in linked
        evidence = "404 Not Found" + (", linked from captured pages" if was_linked else ", captured (expected)")
        return Notice(page.url, status, "gone", None, (Signal("not_found", None, evidence, 0.9 if was_linked else 0.7),))
    if status == 304:  # "not modified" to a conditional re-crawl: the page is there, unchanged
        return Notice(page.url, status, "live", None, ())
    if status is not None and 300 <= status < 400 and not page.location:
        return Notice(page.url, status, "error", None,
                      (Signal("http_redirect", None, f"{status} without a usable Location header", 0.3),))
    if status is not None and status >= 400:
        return Notice(page.url, status, "error", None, ())

    hop = site.hops.get(lookup_key(page.url))
    target = None
    classification = "live"
    if hop:
        signal, chain, end = _follow_signal(site, page, hop[1], hop[2])
        signals.append(signal)
        if end != "final":
            classification = "error"
        else:
            target = chain[-1]
            landing = site.pages.get(lookup_key(target))
            if landing is not None and landing.status in (404, 410):
                classification = "gone"
            elif landing is not None and landing.status is not None and landing.status >= 400:
                classification = "error"
            elif is_site_root(target) or site.arrivals[lookup_key(target)] >= SITE_TARGET_SHARERS:
                classification = "moved_site"
            else:
                classification = "moved"
    hop_signal = hop[2] if hop else None
    signals.extend(s for s in page.signals if s is not hop_signal and not (
        s.kind == "canonical" and site.is_legacy(s.target)))
    banner = scorer.best(page.blocks) if page.blocks else None
    if banner is not None:
        signals.append(Signal("banner", banner.target, banner.evidence, banner.score))
        if classification == "live" and banner.score >= BANNER_THRESHOLD:
            target = banner.target
            classification = "moved" if banner.page_level and banner.target else "moved_site"
    if classification in ("live", "moved_site") and any(s.kind == "not_found" for s in page.signals):
        classification, target = "gone", None  # the site's banner does not bring a missing page back
    if classification == "live" and not page.is_html:
        classification = "resource"  # robots.txt, a sitemap, an image, a style sheet, a document: not a live page
    return Notice(page.url, status, classification, target, tuple(signals))


def detect(captures: Iterable[Capture], *, new_hosts: Iterable[str] = (),
           phrases: Iterable[str] = ()) -> list[Notice]:
    """One Notice per captured URL of the legacy site (latest capture wins), from Captures already read.

    ``new_hosts`` are the new site's hosts (also inferred from off-site
    redirects, for scoring banners); ``phrases`` are extra notice wordings from
    the job manifest. Captures on the given ``new_hosts`` get no notice: they
    are not legacy pages.
    """
    phrases = tuple(phrases)
    collector = BlockCollector(phrase_book(phrases))
    summary = PagesSummary()
    read = pages_read(phrases)
    for number, capture in enumerate(captures):
        if capture.record_type in CAPTURE_TYPES:
            summary.add(capture, (number,), collector, read)
    return decide(summary, new_hosts=new_hosts)


def detect_sources(inputs, *, executor: Executor, new_hosts: Iterable[str] = (), phrases: Iterable[str] = (),
                   part: int | None = None) -> tuple[list[Notice], int]:
    """Notices for WARC/WACZ files or directories, pass 1 run on ``executor``; and how many captures were read.

    ``part``: the size big ``.warc.gz`` files are cut at (``archiver.scan``).
    """
    summary = read_collection(expand_inputs(inputs), executor, tuple(phrases), part)
    return decide(summary, new_hosts=new_hosts), summary.captures


def decide(summary: PagesSummary, *, new_hosts: Iterable[str] = ()) -> list[Notice]:
    """Pass 2: the whole site in view, one Notice per URL (the new site's given hosts left out), by URL."""
    kept = sorted(summary.pages.items(), key=lambda item: item[1].position)  # collection order
    pages = {key: entry.page for key, entry in kept}
    site = _Site(pages, _host_set(new_hosts))
    for key in site.hops:
        chain, end = site.follow(pages[key].url)
        if end == "final" and len(chain) > 1:
            site.arrivals[lookup_key(chain[-1])] += 1
    stats = count_pages({fp: stats for fp, (_, stats) in summary.blocks.items()}, (p.blocks for p in pages.values()))
    scorer = BannerScorer(stats, html_pages=sum(p.is_html for p in pages.values()),
                          legacy_hosts=site.legacy_hosts, new_hosts=site.new_hosts)
    notices = [_verdict(site, page, scorer, summary.linked) for page in pages.values() if site.gets_notice(page.url)]
    notices.sort(key=lambda n: n.url)
    return notices


def write_notices(notices: Iterable[Notice], path) -> Path:
    """notices.jsonl, one ``Notice.to_json()`` per line, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for notice in notices:
            out.write(json.dumps(notice.to_json(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def read_notices(path) -> list[Notice]:
    """Notices back from a notices.jsonl (for map and re-runs)."""
    notices = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                data = json.loads(line)
                data["signals"] = tuple(Signal(**s) for s in data.get("signals", ()))
                notices.append(Notice(**data))
    return notices


def summarize(notices: Iterable[Notice]) -> dict[str, int]:
    """Counts by classification, in a fixed order."""
    counts = Counter(n.classification for n in notices)
    return {c: counts.get(c, 0) for c in CLASSIFICATIONS}


def detect_paths(paths: Iterable[str], out, new_hosts: Iterable[str] = (), phrases: Iterable[str] = (), *,
                 executor: Executor | None = None, part: int | None = None) -> list[Notice]:
    """Read WARC/WACZ files or directories, detect, write ``out``; the CLI's one call.

    ``executor``: where pass 1 runs (default: a process per CPU).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise UsageError("no WARC file or directory given")
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"no such file or directory: {path}")
    writable_file(out, "--out file")
    if not expand_inputs(paths):
        raise UsageError(f"no WARC or WACZ files in {', '.join(paths)}")
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor, _ = stack.enter_context(open_executor(local_processes=True))
        notices, read = detect_sources(paths, executor=executor, new_hosts=new_hosts, phrases=phrases, part=part)
    if not read:
        raise UsageError(f"no HTTP captures could be read from {', '.join(paths)}")
    write_notices(notices, out)
    return notices
