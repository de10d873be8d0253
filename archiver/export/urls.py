"""URL normalisation shared by every export format.

This is not ``archiver.urls.lookup_key`` on purpose. A redirect map is
looked up by the request target as the client sent it (nginx's
``$request_uri``, Apache's ``THE_REQUEST``, undecoded), so a key must be
those bytes: escape hex case as the site wrote it, no session id removed,
nothing decoded. The lookup key folds such spellings together to compare
archives; a server map built from it would miss the requests it exists for.

Every URL written into a server configuration comes from crawled pages, i.e.
from strangers, so it is normalised to one safe, canonical spelling first:

- absolute ``http``/``https`` only (``javascript:``, ``data:``, ``mailto:``,
  relative and scheme-less URLs are refused), no credentials in the authority;
- scheme and host lower-cased, IDN hosts in punycode, default ports dropped;
- path and query keep the case and the percent-escapes the site wrote, hex
  case included (clients send links as written; ``%2F`` is not ``/``, and a
  map that matches exactly must see the same bytes); every character outside the RFC
  3986 set (spaces, controls, newlines, quotes, ``<>{}|\\^```, non-ASCII) is
  percent-encoded as UTF-8, and a ``%`` that starts no escape becomes ``%25``;
- trailing slashes are never added or removed (``/a`` and ``/a/`` are two
  URLs); an empty path becomes ``/``;
- the fragment of an old URL is dropped (clients never send it); the
  fragment of a target is kept.

After this, no URL holds whitespace, a control character, a quote, a
backslash or a brace, which is what the per-format escaping relies on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from archiver.urls import punycode_host

MAX_URL_LENGTH = 32 * 1024  # Cloudflare Bulk Redirects' per-URL limit, applied everywhere

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?)*\.?$")
_IPV6 = re.compile(r"^\[[0-9a-f:.]+\]$")
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_PATH_SAFE = frozenset(_UNRESERVED + "!$&'()*+,;=:@/")
_QUERY_SAFE = frozenset(_PATH_SAFE | set("?"))
_PORT = re.compile(r"^(.*):(\d*)$")
_HEX = frozenset("0123456789abcdefABCDEF")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidURL(ValueError):
    """The URL cannot be exported; the message says why."""


@dataclass(frozen=True, slots=True)
class URL:
    """A normalised absolute URL, split into what the formats need."""

    scheme: str
    host: str  # lower-case, punycode; IPv6 in brackets
    port: int | None  # None for the scheme's default port
    path: str  # starts with "/"
    query: str | None  # without "?"; None when absent, "" for a bare "?"
    fragment: str | None = None

    @property
    def netloc(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def request_target(self) -> str:
        """Path and query as a client sends them (nginx's ``$request_uri``)."""
        return self.path if self.query is None else f"{self.path}?{self.query}"

    @property
    def source_key(self) -> tuple[str, str]:
        """What identifies a redirect source: host[:port] and request target.

        The scheme is left out on purpose: a redirect map answers on http and
        https alike, so ``http://x/a`` and ``https://x/a`` are one source.
        """
        return (self.netloc, self.request_target)

    def __str__(self) -> str:
        text = f"{self.scheme}://{self.netloc}{self.request_target}"
        return text if self.fragment is None else f"{text}#{self.fragment}"


_PATH_CLEAN = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_QUERY_CLEAN = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")


def _encode(text: str, safe: frozenset[str]) -> str:
    """Percent-encode what must be; keep existing escapes exactly as written."""
    if (_QUERY_CLEAN if "?" in safe else _PATH_CLEAN).fullmatch(text):
        return text  # the common case: already clean
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            if i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
                out.append(text[i : i + 3])
                i += 3
                continue
            out.append("%25")
        elif ch in safe:
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        i += 1
    return "".join(out)


def _host(raw: str) -> str:
    host = raw.lower().rstrip(".") if not raw.startswith("[") else raw.lower()
    if _IPV6.match(host):
        return host
    if any(ord(ch) > 127 for ch in host):
        try:
            host = punycode_host(host)  # what a browser sends in Host, as the lookup keys have it
        except ValueError as exc:
            raise InvalidURL(f"invalid internationalised host name: {exc}") from None
    if not _HOSTNAME.match(host):
        raise InvalidURL("invalid host name")
    return host


@lru_cache(maxsize=4096)
def _authority(authority: str, scheme: str) -> tuple[str, int | None]:
    """(host, port) of an authority; the few hosts of a site repeat, hence the cache."""
    if "@" in authority:
        raise InvalidURL("credentials in the URL authority")
    host_part, port = authority, None
    port_match = _PORT.match(authority)
    if port_match and not authority.endswith("]"):
        host_part, port_text = port_match.groups()
        if port_text:
            port = int(port_text)
            if not 0 < port < 65536:
                raise InvalidURL("port out of range")
    if not host_part:
        raise InvalidURL("no host")
    return _host(host_part), None if port == _DEFAULT_PORTS[scheme] else port


def parse_url(raw: object, *, keep_fragment: bool = True) -> URL:
    """Normalise an absolute http(s) URL, or raise InvalidURL with the reason."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidURL("empty or missing URL")
    text = raw.strip(" \t\r\n\f\v\x00")  # surrounding whitespace is never part of a URL
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    match = _SCHEME.match(text)
    if not match:
        raise InvalidURL("not an absolute URL")
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"scheme {scheme!r} is not http or https")
    rest = text[match.end():]
    if not rest.startswith("//"):
        raise InvalidURL("no host (expected scheme://host/...)")
    rest = rest[2:]
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, rest = rest[:cut], rest[cut:]
    host, port = _authority(authority, scheme)
    fragment = None
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
        fragment = _encode(fragment, _QUERY_SAFE) if keep_fragment else None
    query = None
    if "?" in rest:
        rest, query = rest.split("?", 1)
        query = _encode(query, _QUERY_SAFE)
    path = _encode(rest, _PATH_SAFE) or "/"
    url = URL(scheme, host, port, path, query, fragment)
    if len(text) * 12 > MAX_URL_LENGTH and len(str(url)) > MAX_URL_LENGTH:  # encoding grows a character 12x at most
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters once percent-encoded")
    return url


def defang(text: str) -> str:
    """Make a refused URL readable but neither clickable nor deployable.

    ``https://evil.example/x`` becomes ``hxxps[:]//evil[.]example/x``: reports
    may show what was refused without carrying the URL itself.
    """
    text = re.sub(r"(?i)\bhttp(s?):", r"hxxp\1:", text)
    return text.replace(".", "[.]").replace(":", "[:]", 1)
