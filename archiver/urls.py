"""URLs, in one place: each function is named for what its result is used for.

- ``lookup_key(url)``: the form a URL is compared in across archives (audit,
  WARC reader, detect, mapping). Scheme and host lower-cased, IDN hosts in
  punycode, default port and fragment dropped, empty path as ``/``,
  characters a browser would escape percent-encoded and escape hex
  upper-cased; ``%2F`` stays (it is not ``/``), and http/https and ``www.``
  stay apart (the audit reports such variants, it does not merge them).
- ``dedup_key(url)``: capture's frontier key, used only to drop duplicates:
  the lookup key without credentials and session-id parameters. The crawler
  fetches URLs exactly as written; only the key forgets the session id.
- ``resolve_link(base, ref)``: the absolute http(s) URL a browser would
  request for a reference in HTML, CSS, a Refresh or a Location, or None.
  ``parse_refresh(content)`` reads the delay and reference of a Refresh.
- ``surt_key(url)``: the SURT that begins a CDXJ line.
- ``site_host(url)``: host and non-default port, the unit of a site;
  ``url_host(url)``: the bare host; ``clean_target_uri``: a WARC-Target-URI
  without wget's ``<...>``; ``punycode_host(host)``: a host name as a
  browser sends it (the export's server keys use it too).

Server configurations are keyed elsewhere (``export/urls.py``): a redirect
map must match the request bytes a client sends, so it keeps the escapes as
the site wrote them.

Libraries: the SURT comes from ``surt``, because it is the function
cdxj-indexer (and so pywb) keys on: the index written from crawl state and
the one cdxj-indexer writes must agree byte for byte. The keys are built on
``urllib.parse`` with ``idna`` for host names (UTS #46, as browsers and
requests encode them). Neither surt's nor urlcanon's canonicalisers compute
the keys the stages need: surt's (the Wayback rules) lower-cases paths,
decodes ``%2F`` and drops ``www.``; urlcanon's ``whatwg`` keeps fragments and
escape case, and its ``semantic`` decodes ``%2F`` and sorts queries; urlcanon
resolves no relative references. Both are pure-Python parsers about ten
times slower than ``urlsplit``, and the audit keys every record's URL, so
``lookup_key`` returns URLs already in key form (most archived URLs) after
one regular expression (see ``bench/urls_bench.py``).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
import threading
import types
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}
SESSION_PARAMS = frozenset(
    {"jsessionid", "phpsessid", "sid", "sessionid", "session_id", "aspsessionid", "cfid", "cftoken", "zenid", "oscsid"}
)


@lru_cache(maxsize=65536)
def clean_target_uri(value: str | None) -> str:
    """WARC-Target-URI without the ``<...>`` wget writes (a WARC/1.0 grammar slip)."""
    value = (value or "").strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def lookup_key(url: str) -> str:
    """The form URLs are compared in across archives (see the module docstring)."""
    if _ALREADY_KEY.fullmatch(url):
        return url
    url = clean_target_uri(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return url.split("#", 1)[0]
    scheme = parts.scheme.lower()
    netloc = _netloc(scheme, host, port)
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    path = _PERCENT.sub(_upper, quote(parts.path or "/", safe=_SAFE_PATH))
    query = _PERCENT.sub(_upper, quote(parts.query, safe=_SAFE_QUERY))
    return urlunsplit((scheme, netloc, path, query, ""))



def key_hash(key: str) -> int:
    """A 64-bit number for a lookup key, the same in every process (``hash()`` of a str is salted per
    process): sets of these stand for URL sets compactly in summaries that travel between machines."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def _upper(match: re.Match) -> str:
    return match.group(0).upper()


def _netloc(scheme: str, host: str, port: int | None) -> str:
    """host[:port] of a lower-cased host: punycode, IPv6 in brackets, default port dropped."""
    host = _ascii_host(host)
    if ":" in host:
        host = f"[{host}]"
    return host if not port or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def punycode_host(host: str) -> str:
    """A host name as a browser puts it on the wire: UTS #46 (non-transitional, as the WHATWG URL
    standard: ``straße`` stays ``xn--strae-oqa``, not IDNA 2003's ``strasse``), in punycode.
    Raises ValueError for a name UTS #46 refuses."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(str(exc) or "not a valid host name") from None


@lru_cache(maxsize=4096)
def _ascii_host(host: str) -> str:
    """An internationalised host name in punycode; a name idna refuses is kept as written."""
    try:
        return punycode_host(host)
    except ValueError:
        return host


# What a browser sends for a URL written in a page: spaces, quotes, <, > and
# non-ASCII percent-encoded, existing escapes kept (hex case folded).
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
# lower-case http(s) scheme and ASCII host, no port, userinfo or fragment, a path,
# nothing to escape and escapes already upper-case: the URL is its own key
_PATH_CHARS = r"[A-Za-z0-9/:@!$&'()*+,;=._~-]"
_QUERY_CHARS = r"[A-Za-z0-9/:@!$&'()*+,;=._~?-]"
_ALREADY_KEY = re.compile(
    rf"https?://[a-z0-9.-]*[a-z0-9]/{_PATH_CHARS}*(?:%[0-9A-F]{{2}}{_PATH_CHARS}*)*"
    rf"(?:\?(?!\Z){_QUERY_CHARS}*(?:%[0-9A-F]{{2}}{_QUERY_CHARS}*)*)?"
)


def dedup_key(url: str) -> str:
    """Capture's frontier key: the lookup key without userinfo and session ids; never fetched.

    URLs that are not http(s) are their own key.
    """
    key = lookup_key(url)
    scheme, _, rest = key.partition("://")
    if scheme not in DEFAULT_PORTS:
        return url
    netloc, _, target = rest.partition("/")
    if "@" in netloc:
        netloc = netloc.rpartition("@")[2]
    path, question, query = target.partition("?")
    if ";" in path:
        path = _PATH_SESSION.sub("", path)
    if query:
        query = "&".join(p for p in query.split("&") if p.split("=", 1)[0].lower() not in SESSION_PARAMS)
    return f"{scheme}://{netloc}/{path}{'?' if query else ''}{query}"


_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid|sessionid)=[^/?#]*", re.IGNORECASE)


def resolve_link(base: str, ref: str | None) -> str | None:
    """The absolute http(s) URL a browser requests for ``ref`` found at ``base``, or None.

    As the WHATWG URL parser does: surrounding whitespace and any tab or
    newline inside are removed, the reference is resolved (``..`` included),
    the fragment dropped, and characters that cannot travel in a request line
    (controls, spaces, non-ASCII, ``"<>```) percent-encoded; escapes already
    written are kept as they are. A fragment-only reference, another scheme,
    no host or a bad port give None (so does a missing reference).

    Plain references (no dot segment, nothing to remove or encode), which are
    most links, are joined by concatenation and kept exactly as written; the
    rest go through ``urljoin``, which also drops an empty query or ``;`` and
    collapses ``//`` inside a relative path.
    """
    if not ref:
        return None
    if ref.startswith(("http://", "https://")):
        if _PLAIN_ORIGIN.match(ref) and _is_plain(ref):  # most links: nothing to resolve or encode
            return ref.split("#", 1)[0]
        return _resolve("", ref)
    if ref[0] == "/" and not ref.startswith("//"):  # only the base's origin matters
        origin = _origin(base)
        if origin is None:
            return None
        return origin + ref.split("#", 1)[0] if _is_plain(ref) else _resolve(origin + "/", ref)
    if _PLAIN_NAME.match(ref) and _is_plain(ref):  # x.html, a/b?q=1: appended to the base's directory
        directory = _directory(base)
        return directory + ref.split("#", 1)[0] if directory is not None else None
    return _resolve(base, ref)


@lru_cache(maxsize=1024)
def _directory(base: str) -> str | None:
    """The absolute URL of the base's directory, ending in ``/``; None when the base is no http(s) URL."""
    url = _resolve(base, "x")
    return url[:-1] if url is not None else None


def _is_plain(ref: str) -> bool:
    """No dot segment, whitespace, backslash or character to encode: resolving changes nothing."""
    return "/." not in ref and not _NEEDS_WORK.search(ref)


@lru_cache(maxsize=1024)
def _origin(base: str) -> str | None:
    """scheme://authority of an http(s) base URL, as urljoin writes it; None when it is not one."""
    try:
        parts = urlsplit(base)
        parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=8192)  # navigation links repeat on every page of a site
def _resolve(base: str, ref: str) -> str | None:
    ref = _TAB_NEWLINE.sub("", ref.strip(_C0_SPACE))
    if not ref or ref.startswith("#"):
        return None
    try:
        url = urljoin(base, ref)
        parts = urlsplit(url)
        parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return None
    url = url.split("#", 1)[0]
    return quote(url, safe=_REQUEST_SAFE) if _NEEDS_QUOTING.search(url) else url


_C0_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# what a browser percent-encodes in any part of a URL it sends: controls, space, non-ASCII, "<>`
_REQUEST_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>`')
_NEEDS_QUOTING = re.compile(r'[^\x21-\x7e]|["<>`]')
_NEEDS_WORK = re.compile(r'[^\x21-\x7e]|["<>`\\]')
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_~.-]*(?:[/?#]|\Z)")  # a first segment: no scheme, no dots first
_PLAIN_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(?:[/?#]|\Z)")  # no userinfo, port or IPv6 to check


def parse_refresh(content: str | None) -> tuple[float, str] | None:
    """(delay in seconds, reference) of a Refresh header or ``<meta http-equiv=refresh>``.

    ``5; url='/next'``, ``0;URL=/next`` and ``0; /next`` all name ``/next``
    (a quoted reference ends at its closing quote); None when no reference is
    given. The delay may be missing, as old sites write it.
    """
    match = _REFRESH.match(content or "")
    ref = match.group("ref").strip(_C0_SPACE) if match else ""
    if ref[:1] in ("'", '"'):
        ref = ref[1:].split(ref[0], 1)[0].strip(_C0_SPACE)
    if not ref:
        return None
    try:
        delay = float(match.group("delay") or 0)
    except ValueError:
        delay = 0.0
    return delay, ref


_REFRESH = re.compile(r"\s*(?P<delay>[\d.]*)\s*[;,]?\s*(?:url\s*=\s*)?(?P<ref>.*)", re.IGNORECASE | re.DOTALL)


def preload_surt() -> threading.Thread:
    """Import surt in a daemon thread, returned started.  A crawl calls this as it starts, so
    the import overlaps the seed's request instead of holding up the first record; a
    ``surt_key`` call meanwhile waits on the import lock.  Join it before importing, in
    another thread, a module that loads surt's dependencies too (cdxj-indexer), so the two
    imports never interleave."""
    thread = threading.Thread(target=_import_surt, name="preload-surt", daemon=True)
    thread.start()
    return thread


class _ImportedOnUse(types.ModuleType):
    """Stands in for a module until something reads one of its names: then the module is
    imported for real (replacing this in ``sys.modules``) and the name read from it.  Its
    ``__spec__`` is the real one, so ``import name`` finds the module without loading it."""

    def __getattr__(self, name: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _import_surt():
    """surt, imported without tldextract.  surt's ``handyurl`` imports tldextract (which
    imports requests) for two methods, ``getPublicSuffix`` and ``getPublicPrefix``, that
    ``surt.surt`` never calls; loading them cost ~60 ms of CPU when a crawl starts, while
    the seed's links wait for the first index key.  tldextract is left to be imported when
    something uses it (``_ImportedOnUse``)."""
    if "surt" not in sys.modules and "tldextract" not in sys.modules:
        spec = importlib.util.find_spec("tldextract")
        if spec is not None:
            stand_in = _ImportedOnUse(spec.name)
            stand_in.__spec__ = spec
            sys.modules[spec.name] = stand_in
    return importlib.import_module("surt")


def surt_key(url: str) -> str:
    """The SURT a CDXJ line starts with, as cdxj-indexer computes it (the URL itself when surt cannot parse it)."""
    surt = _import_surt()  # not at the top: the stages that only compare URLs never need it

    try:
        return surt.surt(url)
    except Exception:  # surt fails on a few odd URLs; cdxj-indexer falls back alike
        return url


def site_host(url: str) -> str:
    """Host and non-default port of an http(s) URL ('' if none): the unit of a site.

    Two servers on one machine (127.0.0.1:8001 and :8002) are two sites; the
    host is lower-cased, in punycode, IPv6 in brackets.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").rstrip(".")
    return _netloc(parts.scheme.lower(), host, port) if host else ""


def url_host(url: str) -> str:
    """The lower-cased host name of an absolute URL ('' if none), as ``urlsplit(url).hostname`` gives it."""
    match = _NETLOC.match(url)
    if not match:
        return ""
    host = match.group(1).rpartition("@")[2]
    if host.startswith("["):
        return host[1:host.find("]")].lower() if "]" in host else ""
    return host.partition(":")[0].lower()


_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
