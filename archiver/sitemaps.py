"""Sitemaps read safely: urlset, sitemap index, gzip'd, plain text. One parser for capture and the audit.

A sitemap comes from the site being retired, so it is hostile input: the XML
parser resolves no entities, loads no DTD and never touches the network, and
a document that declares a DTD or entities is refused outright (sitemaps have
no use for them; refusing is simpler to trust than parsing them harmlessly).
Gzip'd sitemaps are inflated through the shared gzip member code, with a cap,
so a decompression bomb costs the cap.
"""
from __future__ import annotations

from typing import NamedTuple

from lxml import etree

from archiver.gzip_members import inflate, is_gzip

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps protocol's own limit, uncompressed


class SitemapError(ValueError):
    """The document is not a sitemap that can be read safely; the message says why."""


class Sitemap(NamedTuple):
    """The <loc> texts (or text lines) as written, stripped: each reader resolves them its own way."""

    sitemaps: list[str]  # child sitemaps of a sitemap index
    pages: list[str]


def parse_sitemap(body: bytes, *, max_bytes: int = MAX_SITEMAP_BYTES) -> Sitemap:
    """The page and child-sitemap URLs of a sitemap document (XML, gzip'd XML, or one URL per line).

    Raises :class:`SitemapError` for a document that declares a DTD or
    entities, is larger than ``max_bytes`` (inflated), or is not XML.
    """
    if is_gzip(body):
        inflated = inflate(body, max_bytes + 1)
        if len(inflated) > max_bytes:
            raise SitemapError(f"inflates past {max_bytes} bytes")
        body = inflated
    elif len(body) > max_bytes:
        raise SitemapError(f"larger than {max_bytes} bytes")
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return Sitemap([], [])
    if not text.startswith(b"<"):  # a plain-text sitemap
        lines = (line.decode("utf-8", "replace").strip() for line in text.splitlines())
        return Sitemap([], [line for line in lines if line])
    upper = text.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise SitemapError("refused: the sitemap declares a DTD or entities")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True)
    try:
        root = etree.fromstring(text, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise SitemapError(f"not XML: {exc}") from exc
    if root is None:
        raise SitemapError("not XML")
    sitemaps, pages = [], []
    for loc in root.iter("{*}loc", "loc"):
        if len(loc) or not loc.text:  # markup inside <loc>: not a URL to trust
            continue
        url = loc.text.strip()
        if not url:
            continue
        parent = loc.getparent()
        is_index = parent is not None and isinstance(parent.tag, str) and etree.QName(parent).localname == "sitemap"
        (sitemaps if is_index else pages).append(url)
    return Sitemap(sitemaps, pages)
