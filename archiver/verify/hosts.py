"""Where verify may connect, and how a URL is put on the wire.

Verify only ever connects to two kinds of servers:

- the server at ``BASE_URL`` (the old site as served now). Old URLs, and any
  redirect to an *old host* (the host names of the manifest's old URLs), are
  sent there: the old URL's path and query as the request target, and its
  host name in the ``Host`` header when ``BASE_URL`` names another host, so a
  staging server addressed as ``http://10.0.0.5:8080`` answers as the old
  site would (the export's nginx map keys on ``$host$request_uri``). A URL on
  ``BASE_URL``'s own host name and port goes there directly, whatever its
  scheme (an http -> https hop on production);
- the allowed new hosts: those given explicitly (``--allowed-host``, the job
  manifest's target hosts) and the hosts the manifest's targets name.

Any other host is a finding and is never requested. Private, loopback and
link-local addresses (and ``localhost``) are never requested unless they are
``BASE_URL``'s own host or an allowed host given explicitly, so a manifest or
a hostile redirect cannot point verify at an intranet or a metadata service
(the same rule as ``capture/scope.py`` has for seeds' own origins).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from archiver.capture.scope import is_private_host
from archiver.errors import UsageError
from archiver.export.urls import URL, InvalidURL, defang, parse_url
from archiver.export.validate import AllowedHosts
from archiver.urls import DEFAULT_PORTS


@dataclass(frozen=True)
class Route:
    """How to request a URL: the URL on the wire, the ``Host`` header to send
    (None: the wire URL's own), the ``host:port`` connected to (the
    politeness key) and whether that is the old site's server."""

    wire_url: str
    host_header: str | None
    server: str
    old_side: bool


def _server(url: URL) -> str:
    return f"{url.host}:{url.port or DEFAULT_PORTS[url.scheme]}"


def _allowed(entries: Iterable[str], what: str) -> AllowedHosts | None:
    entries = [e for e in entries if e and e.strip()]
    if not entries:
        return None
    try:
        return AllowedHosts(entries)
    except InvalidURL as exc:
        raise UsageError(f"{what}: not a host name: {exc}") from None


class HostPolicy:
    """The allowed hosts of one verify run (see the module docstring)."""

    def __init__(self, against: str, *, old_hosts: Iterable[str], explicit: Iterable[str] = (),
                 implicit: Iterable[str] = ()):
        try:
            self.base = parse_url(against, keep_fragment=False)
        except InvalidURL as exc:
            raise UsageError(f"BASE_URL {against!r}: {exc}") from None
        self.old_hosts = frozenset(old_hosts)
        explicit, implicit = list(explicit), list(implicit)
        self.explicit = _allowed(explicit, "allowed host")
        self.implicit = _allowed(implicit, "target host")
        # for reports: the hosts given, and the targets' public hosts
        self.allowed = sorted({*explicit, *(h for h in implicit if not is_private_host(h.rsplit(":", 1)[0]))})

    @property
    def origin(self) -> str:
        return f"{self.base.scheme}://{self.base.netloc}"

    def route(self, url: URL) -> Route | None:
        """How to request ``url``, or None when it must not be requested."""
        if url.netloc == self.base.netloc:
            return Route(_wire(url), None, _server(url), True)
        if url.netloc in self.old_hosts:
            return Route(self.origin + url.request_target, url.netloc, _server(self.base), True)
        if self.explicit is not None and url in self.explicit:
            return Route(_wire(url), None, _server(url), False)
        if self.implicit is not None and url in self.implicit and not is_private_host(url.host):
            return Route(_wire(url), None, _server(url), False)
        return None

    def refusal(self, url: URL) -> str:
        """Why ``url`` is not requested, with its host defanged."""
        host = defang(url.netloc)
        if self.implicit is not None and url in self.implicit and is_private_host(url.host):
            return f"host {host} is a private or loopback address; allow it explicitly to check it"
        return f"host {host} is not an allowed new host; not followed"


def _wire(url: URL) -> str:
    return f"{url.scheme}://{url.netloc}{url.request_target}"
