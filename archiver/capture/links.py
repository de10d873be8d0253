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
from urllib.parse import urlsplit

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
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot > path.rfind("/") and path[dot:] in DOCUMENT_EXTENSIONS


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

    The document is parsed as a stream (lxml's pull parser) and each element is
    dropped once read, so memory stays small however many links a page holds.
    """
    import lxml.etree

    data = body[:max_bytes]
    if not data.strip():
        return []
    try:
        parser = lxml.etree.HTMLPullParser(events=("start", "end"), encoding=encoding, recover=True,
                                           no_network=True)
    except LookupError:  # an encoding lxml does not know: let it detect one
        parser = lxml.etree.HTMLPullParser(events=("start", "end"), recover=True, no_network=True)

    found: list[Link] = []
    seen: set[tuple[str, bool]] = set()
    base = [base_url, False]  # the document's base URL, and whether <base href> set it

    def add(ref: str | None, requisite: bool, via: str) -> None:
        if not ref:
            return
        url = resolve_link(base[0], ref)
        if url is None:
            return
        requisite = requisite or (via in ("a", "area") and is_document(url))
        if (url, requisite) not in seen:
            seen.add((url, requisite))
            found.append(Link(url, requisite, via))

    def start(el) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag in ("a", "area"):
            add(el.get("href"), False, tag)
        elif tag == "base" and not base[1]:
            resolved = resolve_link(base_url, el.get("href") or "")
            if resolved:
                base[:] = [resolved, True]
        elif tag == "link":
            rels = set((el.get("rel") or "").lower().split())
            if rels & REQUISITE_RELS:
                add(el.get("href"), True, "link")
                for ref in _srcset_urls(el.get("imagesrcset") or ""):
                    add(ref, True, "link")
            elif rels & PAGE_RELS:
                add(el.get("href"), False, "link")
        elif tag in ("img", "source", "video", "audio", "track", "embed", "input", "script"):
            add(el.get("src"), True, tag)
            for ref in _srcset_urls(el.get("srcset") or ""):
                add(ref, True, tag)
            if tag == "video":
                add(el.get("poster"), True, tag)
            for attr in ("data-src", "data-original"):
                add(el.get(attr), True, tag)
        elif tag in ("iframe", "frame"):  # embedded: part of the page as it displays (Heritrix's E hop)
            add(el.get("src"), True, tag)
        elif tag == "object":
            add(el.get("data"), True, tag)
        elif tag == "meta":
            if (el.get("http-equiv") or "").lower() == "refresh":
                refresh = parse_refresh(el.get("content"))
                if refresh:
                    add(refresh[1], False, "meta_refresh")
        if tag in ("body", "table", "td", "th", "tr"):
            add(el.get("background"), True, tag)
        style = el.get("style") if tag else None
        if style and "url(" in style.lower():
            for link in extract_css(style.encode("utf-8", "replace"), base[0], max_bytes=max_bytes):
                add(link.url, True, "style")

    def end(el) -> None:
        if isinstance(el.tag, str) and el.tag.lower() == "style" and el.text:
            for link in extract_css(el.text.encode("utf-8", "replace"), base[0], max_bytes=max_bytes):
                add(link.url, True, "style")
        el.clear(keep_tail=False)
        parent = el.getparent()
        if parent is not None:  # drop what was read, so the tree never holds the document
            while el.getprevious() is not None:
                del parent[0]

    try:
        for i in range(0, len(data), 1 << 16):
            parser.feed(data[i:i + (1 << 16)])
            for event, el in parser.read_events():
                (start if event == "start" else end)(el)
        parser.close()
        for event, el in parser.read_events():
            (start if event == "start" else end)(el)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError, LookupError):
        pass  # a document lxml gives up on: keep what was found so far
    return found
