"""Read sitemaps (urlset, sitemap index, gzip'd, plain-text) safely.

The XML parser never resolves entities, loads DTDs or touches the network,
and gzip is inflated with a cap, so an entity bomb, an XXE sitemap or a
decompression bomb costs bounded time and memory.
"""
from __future__ import annotations

import logging
import zlib
from typing import NamedTuple

from archiver.urls import resolve_link

log = logging.getLogger(__name__)


class SitemapLinks(NamedTuple):
    sitemaps: list[str]  # child sitemaps of a sitemap index
    pages: list[str]


def inflate(data: bytes, limit: int) -> bytes:
    """Gunzip ``data`` (possibly several members) up to ``limit`` bytes of output."""
    out = bytearray()
    while data and len(out) < limit:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit - len(out))
        except zlib.error:
            break
        if not inflater.eof:
            break
        data = inflater.unused_data.lstrip(b"\0")
    return bytes(out)


def _safe_parser():
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, recover=True
    )


def parse_sitemap(body: bytes, base_url: str, *, max_bytes: int = 50_000_000) -> SitemapLinks:
    """Links of a sitemap document (already transfer/content-decoded; may still be a .gz file)."""
    from lxml import etree

    if body[:2] == b"\x1f\x8b":
        body = inflate(body, max_bytes)
    body = body[:max_bytes].lstrip()
    if not body:
        return SitemapLinks([], [])
    if not body.startswith(b"<"):  # plain-text sitemap: one URL per line
        urls = (resolve_link(base_url, line.decode("utf-8", "replace")) for line in body.splitlines())
        return SitemapLinks([], [u for u in urls if u])
    try:
        root = etree.fromstring(body, parser=_safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        log.warning("unparseable sitemap %s: %s", base_url, exc)
        return SitemapLinks([], [])
    if root is None:
        return SitemapLinks([], [])
    sitemaps, pages = [], []
    for loc in root.iter("{*}loc", "loc"):
        if len(loc):  # an entity reference or markup inside <loc>: not a URL we trust
            continue
        parent = loc.getparent()
        parent_tag = etree.QName(parent).localname if parent is not None and isinstance(parent.tag, str) else ""
        url = resolve_link(base_url, loc.text or "")
        if not url:
            continue
        (sitemaps if parent_tag == "sitemap" else pages).append(url)
    return SitemapLinks(sitemaps, pages)
