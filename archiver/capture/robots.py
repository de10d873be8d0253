"""robots.txt rules per origin, parsed with protego (RFC 9309).

The engine fetches ``/robots.txt`` once per origin (through the normal fetcher,
so it is archived too) and hands the answer to ``RobotsCache.store``.  As the
RFC says, a 4xx means no rules and a 5xx (after retries) means "disallow
everything" for that origin (skipped_reason ``robots_unavailable``), so an
overloaded server is not crawled blind.  When no answer came at all (the
host is unreachable) the URLs are tried anyway, so their own failures, not a
robots verdict, end up in the crawl log.
"""
from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from protego import Protego

log = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 500_000  # RFC 9309: parse at least 500 KiB


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


class Rules:
    """The parsed rules of one origin."""

    def __init__(self, parser: Protego | None, *, disallow_all: bool = False):
        self._parser = parser
        self.disallow_all = disallow_all
        self.skip_reason = "robots_unavailable" if disallow_all else "robots"

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.disallow_all:
            return False
        if self._parser is None:
            return True
        return self._parser.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float | None:
        if self._parser is None:
            return None
        delay = self._parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None

    def sitemaps(self) -> list[str]:
        return list(self._parser.sitemaps) if self._parser is not None else []


def parse(status: int | None, body: bytes) -> Rules:
    """Rules from a robots.txt answer (``status`` None when no answer came)."""
    if status is None:
        return Rules(None)
    if status >= 500:
        return Rules(None, disallow_all=True)
    if not 200 <= status < 300:  # 4xx: no rules; 3xx not followed: no rules
        return Rules(None)
    text = body[:MAX_ROBOTS_BYTES].decode("utf-8", "replace")
    try:
        return Rules(Protego.parse(text))
    except Exception as exc:  # protego is lenient; a crash here must not stop the crawl
        log.warning("unparseable robots.txt, treating as no rules: %s", exc)
        return Rules(None)


class RobotsCache:
    """Rules per origin, fetched once: ``claim`` tells exactly one caller to fetch."""

    def __init__(self):
        self._rules: dict[str, Rules] = {}
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def get(self, origin_url: str) -> Rules | None:
        with self._lock:
            return self._rules.get(robots_url(origin_url))

    def claim(self, origin_url: str) -> bool:
        """True if the caller should fetch this origin's robots.txt now."""
        key = robots_url(origin_url)
        with self._lock:
            if key in self._rules or key in self._pending:
                return False
            self._pending.add(key)
            return True

    def forget_pending(self) -> None:
        """Claims whose fetch never reported back may be claimed again."""
        with self._lock:
            self._pending.clear()

    def store(self, origin_url: str, rules: Rules) -> None:
        key = robots_url(origin_url)
        with self._lock:
            self._rules[key] = rules
            self._pending.discard(key)
