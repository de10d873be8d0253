"""Detection's pass 1: what each captured URL says, a few hundred bytes each, from any part of a collection.

A :class:`PagesSummary` holds one part's pages (status, Location, refresh /
JS / canonical targets, candidate banner blocks as fingerprints), the URLs
its pages link to (as ``key_hash`` numbers), where its originals are and
the revisits waiting for them. It is small and picklable, so parts are read
on other machines (``archiver.scan``), and summaries merge by rule, not by
arrival: the latest full capture of a URL speaks for it (ties: the first in
the collection), a block's wording is taken from the first page carrying it
(by place in the collection). Any grouping of the records into parts gives
the same merged summary, hence the same notices.

Revisits are resolved once the whole collection's originals are known: the
original of each is read again (each once, in its own task per source),
with its content standing for the revisit's, as ``warc.iter_captures``
resolves them.
"""
from __future__ import annotations

import hashlib
import logging
from array import array
from collections import defaultdict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import lru_cache

from archiver.cluster import map_in_order
from archiver.detect.banners import BlockCollector, BlockStats, PageBlock
from archiver.detect.phrases import PhraseBook
from archiver.detect.signals import canonical_signals, js_signals, location_target, refresh_signals
from archiver.extract import absolute_links, base_url, decode_html, element_text, parse_html
from archiver.scan import ScanRange, plan, record_end, scan_in_order, shareable
from archiver.types import Capture, Signal
from archiver.urls import key_hash, lookup_key
from archiver.warc import SEVERITY, RecordInfo, RevisitIndex, Source, read_originals, read_source, resolve

log = logging.getLogger(__name__)

CAPTURE_TYPES = ("response", "revisit", "resource")
HTML_TYPES = ("text/html", "application/xhtml+xml")

Position = tuple[int, ...]  # where a record is in the collection: (source, offset, index), or its place in a stream


@dataclass
class Page:
    """What the decision needs about one captured URL (no body kept)."""

    url: str
    status: int | None
    date: str
    is_html: bool
    location: str | None = None
    signals: list[Signal] = field(default_factory=list)
    blocks: list[PageBlock] = field(default_factory=list)


@dataclass
class KeptPage:
    """A page with what decides whether another capture of its URL replaces it."""

    page: Page
    full: bool  # not a revisit left without its original
    position: Position

    def beats(self, other: "KeptPage") -> bool:
        mine, theirs = (self.full, self.page.date), (other.full, other.page.date)
        return mine > theirs if mine != theirs else self.position < other.position


@dataclass
class PagesSummary:
    """Pass 1 over a part of a collection (or all of it); see the module docstring."""

    pages: dict[str, KeptPage] = field(default_factory=dict)  # lookup key -> the capture that speaks for it
    blocks: dict[bytes, tuple[Position, BlockStats]] = field(default_factory=dict)
    linked: set[int] = field(default_factory=set)  # key_hash of every URL a captured page links to
    captures: int = 0
    originals: RevisitIndex = field(default_factory=RevisitIndex)
    revisits: list[tuple[Position, Capture, RecordInfo]] = field(default_factory=list)  # waiting for originals
    problems: list[str] = field(default_factory=list)  # damage read past, as log lines

    def add(self, capture: Capture, position: Position, collector: BlockCollector,
            read: ReadPages | None = None) -> None:
        """Read one capture (a revisit already resolved, or left without its original).

        ``read`` remembers the pages this process has read, so the same body at the same URL
        with the same status and headers (a thousand revisits of one page, or the same
        unchanged page in every crawl of a collection) is parsed once."""
        self.captures += 1
        key = read.key(capture) if read is not None else None
        known = read.get(key) if key is not None else None
        if known is not None:
            page, blocks, links = known
            page = Page(page.url, page.status, capture.date, page.is_html, page.location, list(page.signals),
                        list(page.blocks))
        else:
            links = set()
            page, blocks = read_page(capture, collector, links)
            if key is not None:
                read.put(key, (page, blocks, array("Q", links)))
        self.linked.update(links)  # every summary holds its own pages' links, whoever parsed them first
        full = capture.record_type != "revisit" or capture.revisit_of is not None
        self._keep(lookup_key(capture.url), KeptPage(page, full, position))
        for block, stats in blocks:
            self._keep_block(block.fingerprint, position, stats)

    def _keep(self, key: str, kept: KeptPage) -> None:
        old = self.pages.get(key)
        if old is None or kept.beats(old):
            self.pages[key] = kept

    def _keep_block(self, fingerprint: bytes, position: Position, stats: BlockStats) -> None:
        old = self.blocks.get(fingerprint)
        if old is None or position < old[0]:
            self.blocks[fingerprint] = (position, stats)

    def merge(self, other: "PagesSummary") -> None:
        """Take in another part's summary (parts merged in collection order keep their problems in order)."""
        for key, kept in other.pages.items():
            self._keep(key, kept)
        for fingerprint, (position, stats) in other.blocks.items():
            self._keep_block(fingerprint, position, stats)
        self.linked |= other.linked
        self.captures += other.captures
        self.originals.update(other.originals)
        self.revisits.extend(other.revisits)
        self.problems.extend(other.problems)

    def note_problems(self, info: RecordInfo) -> None:
        for kind, detail in info.problems:
            if SEVERITY.get(kind, "error") != "note":
                self.problems.append(f"{info.file} at offset {info.offset}{f' ({info.url})' if info.url else ''}: "
                                     f"{detail}")


@lru_cache(maxsize=8)
def phrase_book(phrases: tuple[str, ...]) -> PhraseBook:
    """One compiled PhraseBook per process and phrase list (a worker runs many tasks)."""
    return PhraseBook(phrases)


class ReadPages:
    """Pages already read (with their blocks and the ``key_hash`` of their links), by everything
    ``read_page`` reads of a capture: its body (as a hash), URL, status and the headers signals
    come from. A page read again is the same page, so results do not depend on which task, or
    which earlier command in the same process, read it first. Bounded: past ``limit`` entries it
    starts over."""

    HEADERS = ("location", "refresh", "content-type")

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._pages: dict[tuple, tuple] = {}

    def key(self, capture: Capture) -> tuple | None:
        """None for what is cheap to read anyway (no 2xx HTML body to parse)."""
        status = capture.status
        if not (capture.is_html and capture.body and status is not None and 200 <= status < 300):
            return None
        found: dict[str, str] = {}
        links = []
        for name, value in capture.headers:
            name = name.lower()
            if name == "link":
                links.append(value)
            elif name in self.HEADERS:
                found.setdefault(name, value)
        return (hashlib.blake2b(capture.body, digest_size=16).digest(), capture.url, status,
                *(found.get(h) for h in self.HEADERS), tuple(links))

    def get(self, key: tuple):
        return self._pages.get(key)

    def put(self, key: tuple, read: tuple) -> None:
        if len(self._pages) >= self.limit:
            self._pages.clear()
        self._pages[key] = read


@lru_cache(maxsize=8)
def pages_read(phrases: tuple[str, ...]) -> ReadPages:
    """The pages this process has read with this phrase list, shared by its tasks (the copies of
    a page in several files of a collection are parsed once per worker)."""
    return ReadPages()


def read_page(capture: Capture, collector: BlockCollector, linked: set[int]) -> tuple[Page, list[tuple[PageBlock, BlockStats]]]:
    """One capture's page and candidate banner blocks; the URLs it links to go into ``linked``."""
    page = Page(capture.url, capture.status, capture.date, capture.is_html)
    status = capture.status
    if status is not None and 300 <= status < 400:
        page.location = location_target(capture)
        return page, []
    if status is not None and not 200 <= status < 300:
        return page, []
    tree = None
    base = capture.url
    if capture.is_html and capture.body:
        tree = parse_html(decode_html(capture))
        if tree is not None:
            base = base_url(tree, capture.url)
            for link in absolute_links(tree, capture.url):
                linked.add(key_hash(lookup_key(link)))
    page.signals = refresh_signals(capture, tree, base) + js_signals(tree, base)
    page.signals += canonical_signals(capture, tree, base)
    blocks = []
    if tree is not None:
        blocks = collector.collect(tree, capture.url, base)
        page.blocks = [block for block, _ in blocks]
        page.signals += _soft404(tree, collector.phrases)
    return page, blocks


def _soft404(tree, phrases: PhraseBook) -> list[Signal]:
    """A "page not found" page served with 200: its title or first heading says so."""
    for xpath in ("//title", "//h1"):
        for el in tree.xpath(xpath)[:1]:
            heading = element_text(el)
            phrase = phrases.soft404(heading)
            if phrase:
                return [Signal("not_found", None, f'soft 404 (status 200): {xpath[2:]} "{heading[:120]}"', 0.6)]
    return []


def _wants_body(info: RecordInfo) -> bool:
    """Only 2xx HTML bodies are parsed; other answers speak through their status and headers."""
    return info.status is not None and 200 <= info.status < 300 and info.mime in HTML_TYPES


def scan_pages(part: ScanRange, phrases: tuple[str, ...]) -> tuple[PagesSummary, int | None]:
    """One file's (or file part's) summary, revisits left waiting; and where its last record ended."""
    summary = PagesSummary()
    collector = BlockCollector(phrase_book(phrases))
    read = pages_read(phrases)
    reach = part.start
    for entry in read_source(part.source, want_body=_wants_body, start=part.start, end=part.end):
        info = entry.info
        reach = record_end(info)
        summary.note_problems(info)
        capture = entry.capture
        if capture is None or capture.record_type not in CAPTURE_TYPES:
            continue
        position = (part.number, info.offset, info.index)
        if capture.record_type == "revisit":
            summary.revisits.append((position, capture, info))
            continue
        if not any(SEVERITY.get(kind) == "error" for kind, _ in info.problems):  # damage is no original
            summary.originals.add(info, part.number)
        summary.add(capture, position, collector, read)
    return summary, reach


def resolve_revisits(source: Source, waiting: dict[tuple[int, int], list[tuple[Position, Capture, RecordInfo]]],
                     phrases: tuple[str, ...]) -> PagesSummary:
    """The revisits whose originals are in ``source`` (at (offset, index) keys), read with their content."""
    summary = PagesSummary()
    collector = BlockCollector(phrase_book(phrases))
    read = pages_read(phrases)
    for entry in read_originals(source, set(waiting)):
        for position, capture, info in waiting.pop((entry.info.offset, entry.info.index), ()):
            if entry.capture is not None:
                capture = resolve(capture, info, entry.capture)
            summary.add(capture, position, collector, read)
    for revisits in waiting.values():  # an original that could not be read again
        for position, capture, _ in revisits:
            summary.add(capture, position, collector)
    return summary


def read_collection(sources: list[Source], executor: Executor, phrases: tuple[str, ...] = (),
                    part: int | None = None) -> PagesSummary:
    """Pass 1 over a whole collection on ``executor``: ranges first, then the revisits with their originals."""
    summary = PagesSummary()
    for partial in scan_in_order(executor, scan_pages, plan(sources, part), (phrases,), what="detect"):
        summary.merge(partial)
    for line in summary.problems:
        log.warning("%s", line)
    waiting, summary.revisits = summary.revisits, []
    by_source: dict[int, dict[tuple[int, int], list]] = defaultdict(lambda: defaultdict(list))
    collector = BlockCollector(phrase_book(phrases))
    for position, capture, info in waiting:
        where = summary.originals.find(info)
        if where is None:
            log.info("%s at offset %d: revisit of %s, original not in the collection", info.file, info.offset,
                     info.refers_to_uri or info.url)
            summary.add(capture, position, collector)
        else:
            by_source[where.source][(where.offset, where.index)].append((position, capture, info))
    shared = shareable(sources)
    tasks = [(shared[number], dict(wanted), phrases) for number, wanted in sorted(by_source.items())]
    for partial in map_in_order(executor, resolve_revisits, tasks, what="detect revisits"):
        summary.merge(partial)
    return summary
