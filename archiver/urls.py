"""URLs as the stages compare them.

Capture fetches URLs exactly as written; every later stage compares URLs read
from different archives, so it needs one comparison form (``normalize_url``).
"""
from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit


@lru_cache(maxsize=65536)
def clean_target_uri(value: str | None) -> str:
    """WARC-Target-URI without the ``<...>`` wget writes (a WARC/1.0 grammar slip)."""
    value = (value or "").strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def normalize_url(url: str) -> str:
    """The form URLs are compared in: scheme and host lower-cased, default port
    and fragment dropped, empty path as ``/``, characters a browser would
    escape percent-encoded. Existing escapes stay (``%2F`` is not ``/``). http/https and ``www.``
    variants stay distinct: the audit reports them, it does not merge them.
    """
    if _ALREADY_NORMAL.fullmatch(url):  # most archived URLs: one regex instead of split, quote and join
        return url
    url = clean_target_uri(url)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if not host:
        return url.split("#", 1)[0]
    if ":" in host:
        host = f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    path = _PERCENT.sub(lambda m: m.group(0).upper(), quote(parts.path or "/", safe=_SAFE_PATH))
    query = _PERCENT.sub(lambda m: m.group(0).upper(), quote(parts.query, safe=_SAFE_QUERY))
    return urlunsplit((scheme, netloc, path, query, ""))


# What a browser sends for a URL written in a page: spaces, quotes, <, > and
# non-ASCII percent-encoded, existing escapes kept (hex case folded).
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
# lower-case http(s) scheme and host, no port, userinfo or fragment, a path, nothing to escape
_ALREADY_NORMAL = re.compile(r"https?://[a-z0-9.-]*[a-z0-9]/[A-Za-z0-9/:@!$&'()*+,;=._~-]*(\?[A-Za-z0-9/:@!$&'()*+,;=._~?-]+)?")


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
