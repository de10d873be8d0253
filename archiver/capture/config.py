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
from archiver.settings import check_settings, setting

DEFAULT_USER_AGENT = f"archiver/{__version__} (website archiving crawler)"


@dataclass
class CrawlConfig:
    """Everything one crawl needs; ``crawl(config)`` runs it.

    Fields declared with ``setting`` are the ``[crawl]`` keys of a job
    manifest and are checked by ``validate()`` with the manifest's rules; the
    others (seeds, scope and output) come from the site and the command line.
    """

    seeds: list[str] = field(default_factory=list)
    out_dir: Path | str = "output/crawl"
    sitemaps: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)  # page URLs must match one (when given)
    exclude: list[str] = field(default_factory=list)  # URLs matching any are never fetched
    max_pages: int | None = setting(None, kind="positive_int")  # URLs fetched, robots.txt and sitemaps included
    max_depth: int = setting(20, kind="count")  # link hops from a seed (sitemap URLs count as seeds)
    concurrency: int = setting(4, kind="positive_int")  # worker threads in all
    per_host_concurrency: int = setting(2, kind="positive_int")  # requests in flight to one host at once
    delay: float = setting(0.25, kind="seconds")  # between request starts on one host (robots crawl-delay may raise it)
    ignore_robots: bool = setting(False, kind="bool")
    user_agent: str = setting(DEFAULT_USER_AGENT, kind="line")
    timeout: float = setting(30.0, kind="positive_seconds")  # connect and per-read time-out
    total_timeout: float = setting(120.0, kind="positive_seconds")  # a whole answer (a server dripping a byte at a time)
    max_retries: int = setting(3, kind="count")  # attempts after the first one (a stalled or cut answer: one)
    url_budget: float = setting(120.0, kind="positive_seconds")  # every attempt at one URL together, waits included
    warc_max_size: int = setting(1_000_000_000, kind="positive_int")  # bytes per WARC file before rotation
    max_response_bytes: int = setting(100_000_000, kind="positive_int")  # a longer body is cut, WARC-Truncated: length
    requisites_any_host: bool = setting(True, kind="bool")  # images, CSS, JS, documents from other (public) hosts
    extra_headers: dict[str, str] = setting(kind="headers", key="headers", default_factory=dict)
    record_credentials: bool = setting(False, kind="bool")  # keep Authorization/Cookie in WARC request records
    wacz: bool = setting(False, kind="bool")  # also pack the finished crawl as out_dir/archive.wacz
    previous: Path | str | None = None  # previous crawl dir: conditional requests, cross-run dedup
    progress: str = "auto"  # auto | plain | none
    # trap rules
    max_url_length: int = setting(2048, kind="positive_int")
    max_repeated_segments: int = setting(3, kind="positive_int")  # a path segment seen this often is a loop
    max_query_variants: int = setting(100, kind="positive_int")  # distinct query strings per path
    max_parse_bytes: int = setting(10_000_000, kind="positive_int")  # decoded bytes of HTML/CSS/sitemap parsed for links
    max_crawl_delay: float = setting(30.0, kind="seconds")  # cap on a robots.txt Crawl-delay

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
        check_settings(self)
        if self.progress not in ("auto", "plain", "none"):
            raise UsageError(f"progress must be auto, plain or none, got {self.progress!r}")
        if self.previous is not None and not Path(self.previous).is_dir():
            raise UsageError(f"previous crawl directory not found: {self.previous}")
        return self
