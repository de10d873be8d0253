"""Archived pages for the review page: found by URL, read on demand, shown safely.

One header-only pass over a crawl (``iter_captures(max_body=0)``) notes where
each URL's capture lives; a page is read back (``read_capture_at``) only when
a person looks at it, so a large site costs a small index, not its bodies.
Revisits are followed to their originals, which may sit in earlier runs' WARC
files (``JobHistory.crawl_inputs``).

``render_html`` turns an archived page into a document that cannot reach out:
scripts, frames, embeds, refreshes, base and link elements and event handlers
removed, links kept as text only. The server adds a CSP that blocks scripts
and every fetch, and the iframe is sandboxed, so a hostile page gets three
walls.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import lxml.html

from archiver.extract import decode_html, extract, parse_html
from archiver.types import Capture, PageFacts
from archiver.urls import lookup_key
from archiver.warc import expand_inputs, iter_captures, read_capture_at

_DROPPED = ("script", "noscript", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta",
            "template", "portal", "svg", "math")
_URL_ATTRS = ("href", "src", "srcset", "action", "formaction", "poster", "data", "background", "ping", "xlink:href")


@dataclass(frozen=True)
class _Where:
    file: str
    offset: int
    index: int  # records before it in its gzip member
    status: int | None
    location: str | None
    is_html: bool
    original: tuple[str, str] | None  # a revisit's (original URL key, original WARC-Date)


class ArchivePages:
    """The captures of some crawls (a programme's legacy sites together), by URL; ``originals`` are
    earlier files their revisits point into."""

    def __init__(self, crawls: Iterable[Path | str], originals: Iterable[Path | str] = ()) -> None:
        crawls = [str(Path(c)) for c in crawls]
        inputs = [*map(str, originals), *crawls]
        self.sources = {source.name: source for source in expand_inputs(inputs)}
        own = tuple(crawl + "/" for crawl in crawls)
        self.pages: dict[str, _Where] = {}
        self.urls: dict[str, str] = {}  # key -> URL as captured
        self._full: dict[tuple[str, str], tuple[str, int, int]] = {}  # (URL key, date) -> a record with its payload
        for capture in iter_captures(inputs, max_body=0):
            key = lookup_key(capture.url)
            if capture.record_type != "revisit":
                self._full[(key, capture.date)] = (capture.file, capture.offset, capture.index)
            if not capture.file.startswith(own):
                continue
            original = (lookup_key(capture.revisit_of[0]), capture.revisit_of[1]) if capture.revisit_of else None
            self.pages[key] = _Where(capture.file, capture.offset, capture.index, capture.status, capture.header("location"),
                                     capture.is_html, original)
            self.urls[key] = capture.url

    def where(self, url: str) -> _Where | None:
        return self.pages.get(lookup_key(url))

    def capture(self, url: str) -> Capture | None:
        """The page as archived (a revisit with its original's body), or None when not captured."""
        where = self.where(url)
        if where is None:
            return None
        capture = read_capture_at(self.sources[where.file], where.offset, where.index)
        if capture is not None and where.original and where.original in self._full:
            file, offset, index = self._full[where.original]
            original = read_capture_at(self.sources[file], offset, index)
            if original is not None:
                not_modified = capture.status in (None, 304) or not capture.headers
                return replace(capture, status=original.status if not_modified else capture.status,
                               headers=original.headers if not_modified else capture.headers, body=original.body,
                               body_capped=original.body_capped, revisit_of=(original.url, original.date))
        return capture

    def facts(self, url: str) -> PageFacts | None:
        capture = self.capture(url)
        return extract(capture) if capture is not None and capture.is_html else None


def render_html(capture: Capture) -> str:
    """The archived page as a self-contained document that loads and runs nothing (see module doc)."""
    tree = parse_html(decode_html(capture))
    if tree is None:
        location = capture.header("location")
        said = f"the archived answer is {capture.status}" + (f", redirecting to {location}" if location else "")
        return f"<!DOCTYPE html><html><body><p>({html.escape(said)}; no HTML content archived)</p></body></html>"
    for element in list(tree.iter(*_DROPPED)):
        element.drop_tree()
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name in list(element.attrib):
            lowered = name.lower()
            if lowered.startswith("on") or lowered in _URL_ATTRS or lowered == "style" and "url(" in element.get(name):
                if lowered == "href":
                    element.set("title", element.get(name))  # where the link went, as text
                del element.attrib[name]
    for style in tree.iter("style"):
        style.text = "" if "url(" in (style.text or "") or "@import" in (style.text or "") else style.text
    head = tree.find("head")
    if head is None:
        head = lxml.html.Element("head")
        tree.insert(0, head)
    head.insert(0, lxml.html.Element("meta", charset="utf-8"))
    return "<!DOCTYPE html>\n" + lxml.html.tostring(tree, encoding="unicode")
