"""Find the URLs a page or stylesheet points to (lxml for HTML, a regex for CSS).

Each link is a ``Link(url, requisite, via)``: ``requisite`` is True for what a
page needs to replay (images, srcset, stylesheets, scripts, media, icons,
frames, CSS ``url()``/``@import``, and documents such as PDF or DOCX linked
with ``<a>``), which the crawler may fetch from other hosts but never follows
there.

URLs are kept *as written* (``archiver.urls.resolve_link``): relative
references are resolved and the fragment dropped, but percent-escapes are
neither added nor removed, except that characters which cannot travel in an
HTTP request line (spaces, control characters, non-ASCII) are percent-encoded
the way a browser does.  Parsing is capped (``max_bytes``) so a huge or hostile
document costs bounded time and memory.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import lxml.etree

from archiver.urls import parse_refresh, resolve_link

DOCUMENT_EXTENSIONS = frozenset(
    ".pdf .doc .dot .docx .docm .xls .xlsx .xlsm .ppt .pptx .pps .ppsx .odt .ods .odp .rtf .csv .zip .gz .tgz .7z .rar "
    ".epub .mp3 .mp4 .avi .mov .wmv .txt .xml .json .jpg .jpeg .png .gif .svg .webp".split()
)
REQUISITE_RELS = frozenset(
    "stylesheet icon shortcut apple-touch-icon apple-touch-icon-precomposed mask-icon preload "
    "prefetch modulepreload manifest image_src".split()
)
PAGE_RELS = frozenset("canonical alternate next prev prefetch-page amphtml".split())
_CSS_URL = re.compile(rb"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(rb"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


class Link(NamedTuple):
    url: str
    requisite: bool
    via: str  # tag/attribute or "css", for the crawl log


def is_document(url: str) -> bool:
    """The path of an absolute URL ends in a document's or file's extension."""
    start = url.find("/", url.find("://") + 3)  # the path's first slash, after the host
    if start < 0:
        return False
    end = len(url)
    for mark in "?#":
        at = url.find(mark, start, end)
        if at >= 0:
            end = at
    dot = url.rfind(".", start, end)
    return dot > url.rfind("/", start, end) and url[dot:end].lower() in DOCUMENT_EXTENSIONS


def _srcset_urls(value: str):
    for candidate in value.split(","):
        candidate = candidate.strip()
        if candidate:
            yield candidate.split()[0]


def extract_css(body: bytes, base_url: str, *, max_bytes: int = 10_000_000) -> list[Link]:
    """Links of a stylesheet (``url()`` and ``@import``); all are requisites."""
    data = body[:max_bytes]
    links = []
    for pattern in (_CSS_URL, _CSS_IMPORT):
        for match in pattern.finditer(data):
            raw = next(g for g in match.groups() if g is not None)
            ref = raw.decode("utf-8", "replace")
            if ref.lower().startswith("data:"):
                continue
            url = resolve_link(base_url, ref)
            if url:
                links.append(Link(url, True, "css"))
    return links


def extract_html(
    body: bytes, base_url: str, *, encoding: str | None = None, max_bytes: int = 10_000_000
) -> list[Link]:
    """Links of an HTML document, deduplicated, in document order.

    A document up to ``WHOLE_TREE_BYTES`` is parsed whole and only the elements
    that can hold a link are visited (lxml finds them in C); a larger one is
    parsed as a stream (lxml's pull parser), each element dropped once read, so
    memory stays small however many links a page holds.  Both visit the same
    elements in the same order with the same code.
    """
    data = body[:max_bytes]
    if not data.strip():
        return []
    collector = _Collector(base_url, max_bytes)
    try:
        if len(data) <= WHOLE_TREE_BYTES:
            collector.read_tree(data, encoding)
        else:
            collector.read_stream(data, encoding)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError, LookupError):
        pass  # a document lxml gives up on: keep what was found so far
    return collector.found


WHOLE_TREE_BYTES = 512 * 1024  # a parsed tree costs ~10x the document: larger ones are streamed
# the tags that can hold a link (lxml's HTML parser gives tag and attribute names in lower case)
_EMBEDDED = ("img", "source", "video", "audio", "track", "embed", "input", "script")
_BACKGROUND = ("body", "table", "td", "th", "tr")
_LINK_TAGS = ("a", "area", "base", "link", "iframe", "frame", "object", "meta", "style", *_EMBEDDED, *_BACKGROUND)
_LINK_ELEMENTS = lxml.etree.XPath("|".join(f"//{tag}" for tag in _LINK_TAGS) + "|//*[@style]")  # document order


class _Collector:
    """The links of one document: ``element()`` for every element in document order (and
    ``style_text()`` once a ``<style>`` element's text is complete)."""

    def __init__(self, base_url: str, max_bytes: int):
        self.document_url = base_url
        self.base = base_url  # the document's base URL (a <base href> may change it, once)
        self.base_set = False
        self.max_bytes = max_bytes
        self.found: list[Link] = []
        self.seen: set[tuple[str, bool]] = set()
        self.handlers = {"a": self.anchor, "area": self.anchor, "base": self.base_href, "link": self.link,
                         "iframe": self.frame, "frame": self.frame, "object": self.embedded_object,
                         "meta": self.meta, **dict.fromkeys(_EMBEDDED, self.embedded),
                         **dict.fromkeys(_BACKGROUND, self.background)}

    # feeding
    def read_tree(self, data: bytes, encoding: str | None) -> None:
        root = lxml.etree.fromstring(data, _parser(lxml.etree.HTMLParser, encoding))
        if root is None:
            return
        for el in _LINK_ELEMENTS(root):
            self.element(el)
            if el.tag == "style":
                self.style_text(el)

    def read_stream(self, data: bytes, encoding: str | None) -> None:
        parser = _parser(lxml.etree.HTMLPullParser, encoding, events=("start", "end"))
        for i in range(0, len(data), 1 << 16):
            parser.feed(data[i:i + (1 << 16)])
            self._events(parser)
        parser.close()
        self._events(parser)

    def _events(self, parser) -> None:
        for event, el in parser.read_events():
            if event == "start":
                self.element(el)
                continue
            if el.tag == "style":
                self.style_text(el)
            el.clear(keep_tail=False)
            parent = el.getparent()
            if parent is not None:  # drop what was read, so the tree never holds the document
                while el.getprevious() is not None:
                    del parent[0]

    def element(self, el) -> None:
        tag = el.tag
        handler = self.handlers.get(tag)
        if handler is not None:
            handler(el, tag)
        style = el.get("style")
        if style and "url(" in style.lower():
            self.css(style)

    def style_text(self, el) -> None:
        if el.text:
            self.css(el.text)

    # what each element holds
    def add(self, ref: str | None, requisite: bool, via: str) -> None:
        if not ref:
            return
        url = resolve_link(self.base, ref)
        if url is None:
            return
        requisite = requisite or (via in ("a", "area") and is_document(url))
        if (url, requisite) not in self.seen:
            self.seen.add((url, requisite))
            self.found.append(Link(url, requisite, via))

    def css(self, text: str) -> None:
        for link in extract_css(text.encode("utf-8", "replace"), self.base, max_bytes=self.max_bytes):
            self.add(link.url, True, "style")

    def anchor(self, el, tag: str) -> None:
        self.add(el.get("href"), False, tag)

    def base_href(self, el, tag: str) -> None:
        if not self.base_set:
            resolved = resolve_link(self.document_url, el.get("href") or "")
            if resolved:
                self.base, self.base_set = resolved, True

    def link(self, el, tag: str) -> None:
        rels = set((el.get("rel") or "").lower().split())
        if rels & REQUISITE_RELS:
            self.add(el.get("href"), True, "link")
            for ref in _srcset_urls(el.get("imagesrcset") or ""):
                self.add(ref, True, "link")
        elif rels & PAGE_RELS:
            self.add(el.get("href"), False, "link")

    def embedded(self, el, tag: str) -> None:
        self.add(el.get("src"), True, tag)
        for ref in _srcset_urls(el.get("srcset") or ""):
            self.add(ref, True, tag)
        if tag == "video":
            self.add(el.get("poster"), True, tag)
        for attr in ("data-src", "data-original"):
            self.add(el.get(attr), True, tag)

    def frame(self, el, tag: str) -> None:  # part of the page as it displays (Heritrix's E hop)
        self.add(el.get("src"), True, tag)

    def embedded_object(self, el, tag: str) -> None:
        self.add(el.get("data"), True, tag)

    def meta(self, el, tag: str) -> None:
        if (el.get("http-equiv") or "").lower() == "refresh":
            refresh = parse_refresh(el.get("content"))
            if refresh:
                self.add(refresh[1], False, "meta_refresh")

    def background(self, el, tag: str) -> None:
        self.add(el.get("background"), True, tag)


def _parser(kind, encoding: str | None, **kwargs):
    """An lxml HTML parser of ``kind`` for ``encoding``, or detecting one lxml does not know."""
    try:
        return kind(encoding=encoding, recover=True, no_network=True, **kwargs)
    except LookupError:
        return kind(recover=True, no_network=True, **kwargs)
