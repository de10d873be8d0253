"""The new site's side of mapping, built once and read by every legacy site's mapping.

Everything ``build.py`` needs from the new site's capture: where each
captured URL redirects (``targets.Resolver``, to verify explicit targets),
the facts of its pages (title, date, the documents each links), the content
matcher's new side (shingled, signed and banded for LSH: ``content.
ContentMatcher``) and its documents (digests and text signatures:
``documents.DocumentMatcher``). A programme of many legacy sites moved into
one portal builds it once (the job's index task) and saves it on the run's
shared filesystem; each site's mapping task loads its own copy, because a
mapping adds its legacy pages to the matcher's vocabulary and keeps them for
review.

Pages and documents are kept in URL-key order, not in the order the crawl
wrote them (which its timing chose): ties between equal candidates are
broken by position, and a redirect manifest must not depend on timing.

The file is a pickle written by this run for this run (the run directory is
trusted as a whole: whoever can write to it can change every result in it),
stamped with the archiver version that wrote it; ``load`` refuses another
version's.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

from archiver import __version__
from archiver.documents import DocumentText, Limits
from archiver.documents import extract as read_document
from archiver.errors import ArchiverError
from archiver.extract import extract
from archiver.mapping.content import ContentMatcher, Thresholds
from archiver.mapping.documents import DocumentMatcher
from archiver.mapping.targets import Resolver
from archiver.types import Capture, PageFacts
from archiver.urls import lookup_key, site_host

INDEX_FILE = "portal-index.pickle"
SKIP_PATHS = ("/robots.txt", "/sitemap.xml", "/favicon.ico")  # captured, never given a row
_FORMAT = 2


def needs_row(capture: Capture) -> bool:
    """A URL mapped as a page: HTML, redirects, errors; not assets that answer 200."""
    if urlsplit(capture.url).path in SKIP_PATHS:
        return False
    status = capture.status
    return capture.is_html or status is None or not 200 <= status < 300


def default_extract(capture: Capture) -> PageFacts:
    return extract(capture, fast=True)


class PortalIndex:
    """The new site, read once: build with :meth:`build`, share with :meth:`save` / :meth:`load`."""

    def __init__(self, thresholds: Thresholds, documents: DocumentMatcher) -> None:
        self.resolver = Resolver()
        self.hosts: set[str] = set()  # host[:port] of every captured URL
        self.page_hosts: dict[str, str] = {}  # host[:port] of the 2xx HTML pages -> one page's URL
        self.facts: list[PageFacts] = []  # the 2xx HTML pages, in URL-key order
        self.index: dict[str, int] = {}  # lookup key -> position in ``facts``
        self.documents = documents
        self.matcher = ContentMatcher([], thresholds)

    @classmethod
    def build(cls, captures: Iterable[Capture], *, thresholds: Thresholds | None = None,
              extract: Callable[[Capture], PageFacts] | None = None, assets: Iterable[str] = (),
              follow_gone: bool = False, limits: Limits | None = None, clock: Callable[[], float] | None = None,
              read: Callable[..., DocumentText] = read_document) -> "PortalIndex":
        """Read the new site's captures once. ``assets`` and ``follow_gone`` are the documents'
        settings (``DocumentMatcher``); ``limits``, ``clock`` and ``read`` its text reader's."""
        extract = extract or default_extract
        portal = cls(thresholds or Thresholds(),
                     DocumentMatcher(assets=assets, follow_gone=follow_gone, limits=limits, clock=clock, read=read))
        pages: dict[str, PageFacts] = {}
        for capture in captures:
            if capture.record_type not in ("response", "revisit", "resource"):
                continue
            portal.resolver.add(capture.url, capture.status, capture.header("location"))
            portal.hosts.add(site_host(capture.url))
            if capture.is_html and capture.status is not None and 200 <= capture.status < 300:
                pages[lookup_key(capture.url)] = extract(capture)  # the latest capture wins
                portal.page_hosts.setdefault(site_host(capture.url), capture.url)
            elif not needs_row(capture) and urlsplit(capture.url).path not in SKIP_PATHS:
                portal.documents.add_new(capture)
        portal.documents.order_new()
        keys = sorted(pages)
        portal.facts = [pages[key] for key in keys]
        portal.index = {key: i for i, key in enumerate(keys)}
        portal.matcher = ContentMatcher(portal.facts, portal.matcher.thresholds)
        portal.facts = [portal._slim(facts) for facts in portal.facts]
        return portal

    def _slim(self, facts: PageFacts) -> PageFacts:
        """What mapping reads of a new page once the matcher holds its text: title, heading and date
        (shown for review) and its links to documents (where a moved page's documents went)."""
        links = [(link, text) for link, text in zip(facts.links, facts.link_texts or [""] * len(facts.links))
                 if self.documents.has_new(lookup_key(link))]
        return dataclasses.replace(facts, text="", links=tuple(link for link, _ in links),
                                   link_texts=tuple(text for _, text in links))

    @property
    def thresholds(self) -> Thresholds:
        return self.matcher.thresholds

    @property
    def document_count(self) -> int:
        return len(self.documents.new.docs)

    def save(self, path: Path | str) -> int:
        """Write the index to ``path`` (a temporary file renamed when whole); returns its size in bytes."""
        path = Path(path)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with tmp.open("wb") as out:
            pickle.dump((_FORMAT, __version__, self), out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        return path.stat().st_size

    @staticmethod
    def load(path: Path | str) -> "PortalIndex":
        """A fresh copy of a saved index (one per mapping: a mapping changes its matcher)."""
        try:
            with Path(path).open("rb") as stream:
                form, version, portal = pickle.load(stream)
        except FileNotFoundError:
            raise ArchiverError(f"{path}: the portal index is missing (was the new site's index task run?)") from None
        if form != _FORMAT or version != __version__:
            raise ArchiverError(f"{path}: a portal index written by archiver {version}, not {__version__}: "
                                "run the job again")
        return portal
