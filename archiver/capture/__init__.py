"""Capture: crawl a site politely into standards-valid WARC files, resumably.

One-line happy path::

    from archiver.capture import CrawlConfig, crawl
    summary = crawl(CrawlConfig(seeds=["https://www.mnz.gov.si/"], out_dir="output/mnz"))

The crawl directory then holds ``warc/*.warc.gz``, ``crawl.jsonl`` (one line
per URL with its outcome), ``index.cdxj`` (for pywb) and ``state.sqlite3``
(the frontier; running the same crawl again on the same directory resumes).
"""
from archiver.capture.config import CrawlConfig
from archiver.capture.engine import CrawlSummary

__all__ = ["CrawlConfig", "CrawlSummary", "crawl"]


def crawl(config: CrawlConfig) -> CrawlSummary:
    """Run (or resume) the crawl described by ``config`` and return its summary."""
    from archiver.capture.engine import Engine

    return Engine(config).run()
