"""Crawl settings: one dataclass with polite defaults, validated in one place.

Defaults are chosen so that an unattended crawl of an unknown legacy site is
polite (2 connections and 0.25 s between requests per host, robots.txt obeyed)
and terminates on calendar and session-id traps (depth, repeated segments,
query variants, URL length).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from archiver import __version__
from archiver.errors import UsageError

DEFAULT_USER_AGENT = f"archiver/{__version__} (website archiving crawler)"


@dataclass
class CrawlConfig:
    """Everything one crawl needs; ``crawl(config)`` runs it."""

    seeds: list[str] = field(default_factory=list)
    out_dir: Path | str = "output/crawl"
    sitemaps: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)  # page URLs must match one (when given)
    exclude: list[str] = field(default_factory=list)  # URLs matching any are never fetched
    max_pages: int | None = None  # URLs fetched per crawl, robots.txt and sitemaps included
    max_depth: int = 20  # link hops from a seed (sitemap URLs count as seeds)
    concurrency: int = 4  # worker threads in all
    per_host_concurrency: int = 2  # requests in flight to one host at once
    delay: float = 0.25  # seconds between request starts on one host (robots crawl-delay may raise it)
    ignore_robots: bool = False
    user_agent: str = DEFAULT_USER_AGENT
    timeout: float = 30.0  # seconds: connect and per-read time-out
    total_timeout: float = 120.0  # seconds for a whole answer (a server dripping a byte at a time)
    max_retries: int = 3  # attempts after the first one
    warc_max_size: int = 1_000_000_000  # bytes per WARC file before rotation
    max_response_bytes: int = 100_000_000  # a longer body is cut and marked WARC-Truncated: length
    requisites_any_host: bool = True  # images, CSS, JS, documents from other (public) hosts
    extra_headers: dict[str, str] = field(default_factory=dict)
    record_credentials: bool = False  # keep Authorization/Cookie in WARC request records
    previous: Path | str | None = None  # previous crawl dir: conditional requests, cross-run dedup
    progress: str = "auto"  # auto | plain | none
    # trap rules
    max_url_length: int = 2048
    max_repeated_segments: int = 3  # a path segment seen this often is a loop
    max_query_variants: int = 100  # distinct query strings per path
    max_parse_bytes: int = 10_000_000  # decoded bytes of HTML/CSS/sitemap parsed for links
    max_crawl_delay: float = 30.0  # cap on a robots.txt Crawl-delay

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.previous is not None:
            self.previous = Path(self.previous)
        self.seeds = list(self.seeds)
        self.sitemaps = list(self.sitemaps)
        self.include = list(self.include)
        self.exclude = list(self.exclude)
        self.extra_headers = dict(self.extra_headers)

    def validate(self) -> "CrawlConfig":
        """Raise ``UsageError`` naming the first bad value; return self."""
        if not self.seeds and not self.sitemaps:
            raise UsageError("give at least one seed URL or --sitemap URL")
        for url in [*self.seeds, *self.sitemaps]:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"not an http(s) URL: {url!r}")
            try:
                parts.port
            except ValueError:
                raise UsageError(f"bad port in URL: {url!r}") from None
        for pattern in [*self.include, *self.exclude]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise UsageError(f"bad regular expression {pattern!r}: {exc}") from None
        positive = {
            "concurrency": self.concurrency,
            "per_host_concurrency": self.per_host_concurrency,
            "timeout": self.timeout,
            "total_timeout": self.total_timeout,
            "warc_max_size": self.warc_max_size,
            "max_response_bytes": self.max_response_bytes,
            "max_url_length": self.max_url_length,
            "max_repeated_segments": self.max_repeated_segments,
            "max_query_variants": self.max_query_variants,
            "max_parse_bytes": self.max_parse_bytes,
        }
        for name, value in positive.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name} must be a positive number, got {value!r}")
        for name in ("max_depth", "max_retries", "delay", "max_crawl_delay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise UsageError(f"{name} must be zero or more, got {value!r}")
        if self.max_pages is not None and (not isinstance(self.max_pages, int) or self.max_pages <= 0):
            raise UsageError(f"max_pages must be a positive integer, got {self.max_pages!r}")
        if self.progress not in ("auto", "plain", "none"):
            raise UsageError(f"progress must be auto, plain or none, got {self.progress!r}")
        if self.previous is not None and not Path(self.previous).is_dir():
            raise UsageError(f"previous crawl directory not found: {self.previous}")
        for name, value in self.extra_headers.items():
            if any(c in str(name) + str(value) for c in "\r\n"):
                raise UsageError(f"header {name!r} contains a line break")
        return self
