"""Which discovered URLs the crawler may fetch, and why not when it may not.

A URL is fetched *exactly as written* (see ``archiver.urls.resolve_link``);
its ``archiver.urls.dedup_key`` exists only to drop duplicates.

Scope (``Scope.reason``): pages must be on one of the seeds' origins (scheme,
host, port), match an ``include`` pattern when any is given, and match no
``exclude`` pattern.  Page requisites (images, CSS, JS, documents) may come
from any public host when ``requisites_any_host`` is on, but never from a
private, loopback or link-local address other than a seed's own origin, so a
hostile page cannot point the crawler at an intranet or metadata service.
Trap rules (depth, repeated path segments, URL length; query variants live in
the frontier, which counts them on disk) apply to every discovered URL.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

from archiver.urls import DEFAULT_PORTS, dedup_key

# a page at the depth limit still gets its images, styles and frames (and theirs, a little further)
REQUISITE_DEPTH_SLACK = 3


@lru_cache(maxsize=4096)  # scope and politeness key each ask about the same URL in turn
def _split(url: str):
    """((scheme, host, port) or None, path, query) of a URL, parsed once."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, "", ""
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None, parts.path, parts.query
    return (scheme, parts.hostname.lower().rstrip("."), port or DEFAULT_PORTS[scheme]), parts.path, parts.query


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, or None when it has none."""
    return _split(url)[0]


def host_key(url: str) -> str:
    """The politeness key of a URL: ``host:port`` (schemes share one server)."""
    o = origin(url)
    return f"{o[1]}:{o[2]}" if o else ""


def path_key(url: str) -> str:
    """Key that groups URLs differing only in their query (for the query-explosion cap)."""
    key = dedup_key(url)
    return key.split("?", 1)[0]


def is_private_host(host: str) -> bool:
    """True for loopback, private, link-local and reserved address literals and localhost."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not addr.is_global


class Scope:
    """Scope and trap decisions for one crawl; ``reason`` returns None when allowed."""

    def __init__(
        self,
        seeds,
        *,
        include=(),
        exclude=(),
        requisites_any_host: bool = True,
        max_depth: int = 20,
        max_url_length: int = 2048,
        max_repeated_segments: int = 3,
    ):
        self.origins = {o for o in map(origin, seeds) if o}
        self.include = [re.compile(p) for p in include]
        self.exclude = [re.compile(p) for p in exclude]
        self.requisites_any_host = requisites_any_host
        self.max_depth = max_depth
        self.max_url_length = max_url_length
        self.max_repeated_segments = max_repeated_segments

    def in_origin(self, url: str) -> bool:
        return origin(url) in self.origins

    def reason(self, url: str, *, depth: int, requisite: bool = False) -> str | None:
        """Why ``url`` must not be fetched (a skipped_reason), or None to fetch it."""
        o = origin(url)
        if o is None:
            return "scheme"
        if len(url) > self.max_url_length:
            return "trap:url_length"
        if o not in self.origins:
            if not (requisite and self.requisites_any_host) or is_private_host(o[1]):
                return "out_of_scope"
        elif self.include and not requisite and not any(p.search(url) for p in self.include):
            return "out_of_scope"
        if any(p.search(url) for p in self.exclude):
            return "excluded"
        if depth > self.max_depth + (REQUISITE_DEPTH_SLACK if requisite else 0):
            return "trap:max_depth"
        if self._repeats_segment(url):
            return "trap:repeated_segment"
        return None

    def _repeats_segment(self, url: str) -> bool:
        counts: dict[str, int] = {}
        for segment in _split(url)[1].split("/"):
            if segment:
                counts[segment] = counts.get(segment, 0) + 1
                if counts[segment] >= self.max_repeated_segments:
                    return True
        return False
