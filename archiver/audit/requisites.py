"""Embedded resources a captured page needs: images, CSS, JS, media, frames, linked documents.

Parsing is capped (``MAX_PARSE`` bytes of a body) so a huge or hostile page
cannot stall the audit; only http(s) URLs come out, fragments dropped.
"""
from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlsplit

from lxml import etree

from archiver.urls import resolve_link

MAX_PARSE = 5 * 1024 * 1024
DOCUMENT_EXTENSIONS = (
    ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp", ".rtf",
    ".zip", ".csv", ".epub", ".mp3", ".mp4",
)
STYLESHEET_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload", "manifest"}
CSS_URL = re.compile(rb"""url\(\s*(['"]?)([^'")\s]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)

# tag -> attributes holding one URL
SRC_ATTRS = {
    "img": ("src",), "script": ("src",), "source": ("src",), "video": ("src", "poster"), "audio": ("src",),
    "track": ("src",), "embed": ("src",), "object": ("data",), "iframe": ("src",), "frame": ("src",),
    "input": ("src",), "body": ("background",), "table": ("background",), "td": ("background",),
}


def _srcset(value: str) -> Iterator[str]:
    for candidate in (value or "").split(","):
        parts = candidate.strip().split()
        if parts:
            yield parts[0]


def css_references(base: str, css: bytes) -> Iterator[tuple[str, str]]:
    """(absolute URL, 'css') for each url(...) and @import of a stylesheet."""
    for match in CSS_URL.finditer(css[:MAX_PARSE]):
        raw = (match.group(2) or match.group(4) or b"").decode("utf-8", "replace")
        url = resolve_link(base, raw)
        if url:
            yield url, "css"


_PARSER = None
# the elements that can name a requisite, walked once in C by lxml (an XPath
# union walks the tree once per branch: 20x slower on tag-dense pages)
_TAGS = (*SRC_ATTRS, "link", "style", "a")
_DOCUMENT_LINK = re.compile(r"\.(" + "|".join(e[1:] for e in DOCUMENT_EXTENSIONS) + r")([?#]|$)", re.I)


def html_references(base: str, body: bytes) -> Iterator[tuple[str, str]]:
    """(absolute URL, kind) of every resource the page embeds or links as a document."""
    global _PARSER
    body = body[:MAX_PARSE]
    if not body.strip():
        return
    if _PARSER is None:  # plain elements (no lxml.html class lookup): the audit parses every page
        _PARSER = etree.HTMLParser(recover=True, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except (etree.ParserError, ValueError, etree.XMLSyntaxError):
        return
    if root is None:
        return
    for base_el in root.iter("base"):
        if base_el.get("href"):
            base = resolve_link(base, base_el.get("href")) or base
            break
    for el in root.iter(_TAGS):
        tag = el.tag
        if tag == "a":
            href = el.get("href")
            if href and _DOCUMENT_LINK.search(href):
                url = resolve_link(base, href)
                if url and urlsplit(url).path.lower().endswith(DOCUMENT_EXTENSIONS):
                    yield url, "document"
        elif tag in SRC_ATTRS:
            if tag == "input" and (el.get("type") or "").lower() != "image":
                continue
            for attr in SRC_ATTRS[tag]:
                url = resolve_link(base, el.get(attr))
                if url:
                    yield url, tag
            if tag in ("img", "source"):
                for raw in _srcset(el.get("srcset")):
                    url = resolve_link(base, raw)
                    if url:
                        yield url, tag
        elif tag == "link":
            rels = set((el.get("rel") or "").lower().split())
            if rels & STYLESHEET_RELS:
                url = resolve_link(base, el.get("href"))
                if url:
                    yield url, "css" if "stylesheet" in rels else "link"
        elif tag == "style" and el.text:
            yield from css_references(base, el.text.encode("utf-8", "replace"))
    if b"url(" in body or b"URL(" in body:  # inline style attributes: only worth a walk when some url() is there
        for style in root.xpath("//@style[contains(., 'url(') or contains(., 'URL(')]"):
            yield from css_references(base, style.encode("utf-8", "replace"))
