"""Where an explicit target really lands, checked against the captures.

A redirect, refresh, script or canonical names a URL; the manifest may only
point at it when the new site's capture shows that URL (after its own
redirect chain) answering 2xx on an allowed host. Anything else is rejected
with a reason a person can read.
"""
from __future__ import annotations

from dataclasses import dataclass

from archiver.urls import lookup_key, resolve_link, site_host

MAX_HOPS = 10
NOT_CAPTURED = "not in the new site's capture"


@dataclass(frozen=True)
class Landing:
    """The end of a target's redirect chain, and whether the manifest may use it."""

    url: str
    status: int | None  # None: not captured
    hops: int
    problem: str = ""  # empty when usable

    @property
    def ok(self) -> bool:
        return not self.problem


def allowed_entry(entry: str) -> str:
    """An --allowed-host value as stored: 'host', 'host:port' or '*.domain' (a URL gives its host)."""
    entry = entry.strip().lower()
    if entry.startswith("*."):
        return entry
    return site_host(entry if "://" in entry else f"http://{entry}/")


def host_allowed(url: str, allowed: set[str]) -> bool:
    """As the exporter decides: a bare host allows default ports only, '*.domain' its subdomains."""
    netloc = site_host(url)
    if netloc in allowed:
        return True
    return ":" not in netloc and any(a.startswith("*.") and netloc.endswith(a[1:]) for a in allowed)


@dataclass(frozen=True)
class _Hop:
    status: int | None
    location: str | None


class Resolver:
    """Follows URLs through captured redirects (old and new sites together)."""

    def __init__(self) -> None:
        self._hops: dict[str, _Hop] = {}

    def add(self, url: str, status: int | None, location: str | None) -> None:
        key = lookup_key(url)
        if key in self._hops and self._hops[key].status is not None and status is None:
            return
        # a Location naming no http(s) URL is kept as written, so the landing names it
        self._hops[key] = _Hop(status, (resolve_link(url, location) or location.strip()) if location else None)

    def land(self, target: str, allowed: set[str]) -> Landing:
        url, seen = target, set()
        for hops in range(MAX_HOPS + 1):
            key = lookup_key(url)
            if key in seen:
                return Landing(url, None, hops, "redirect loop")
            seen.add(key)
            hop = self._hops.get(key)
            if hop is None:
                if not host_allowed(url, allowed):
                    return Landing(url, None, hops, f"off-site: {site_host(url)} is not an allowed target host")
                return Landing(url, None, hops, NOT_CAPTURED)
            if hop.status is not None and 300 <= hop.status < 400:
                if not hop.location:
                    return Landing(url, hop.status, hops, f"{hop.status} without Location")
                url = hop.location
                continue
            if hop.status is None or not 200 <= hop.status < 300:
                return Landing(url, hop.status, hops, f"answers {hop.status}")
            if not host_allowed(url, allowed):
                return Landing(url, hop.status, hops, f"host {site_host(url)} is not an allowed target host")
            return Landing(lookup_key(url), hop.status, hops)
        return Landing(url, None, MAX_HOPS, f"more than {MAX_HOPS} redirects")
