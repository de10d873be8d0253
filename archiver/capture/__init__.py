"""Capture: crawl a site politely into standards-valid WARC files, resumably.

One-line happy path::

    from archiver.capture import CrawlConfig, crawl
    summary = crawl(CrawlConfig(seeds=["https://www.mnz.gov.si/"], out_dir="output/mnz"))

The crawl directory then holds ``warc/*.warc.gz``, ``crawl.jsonl`` (one line
per URL with its outcome), ``index.cdxj`` (for pywb) and ``state.sqlite3``
(the frontier; running the same crawl again on the same directory resumes).
With ``wacz=True`` a finished crawl is also packed as ``archive.wacz``
(``archiver.wacz``), the file ReplayWeb.page opens.
"""
import logging

from archiver.capture.config import CrawlConfig
from archiver.capture.engine import CrawlSummary, Engine

__all__ = ["CrawlConfig", "CrawlSummary", "crawl"]

log = logging.getLogger(__name__)


def crawl(config: CrawlConfig) -> CrawlSummary:
    """Run (or resume) the crawl described by ``config`` and return its summary."""
    summary = Engine(config).run()
    if config.wacz and summary.ok:
        packed = _pack(config, summary)
        log.log(logging.WARNING if packed.unresolved_revisits else logging.INFO, "%s", packed.text())
    return summary


def _pack(config: CrawlConfig, summary: CrawlSummary):
    """Write ``config.out_dir/archive.wacz`` with the originals of its revisits: the WARC files
    its body pointers lead to (also runs before ``config.previous``), and, only when some
    pointer leads nowhere (an earlier crawl moved), what ``config.previous``'s index holds:
    reading that index means reading every revisit record of the crawl again."""
    # imported here, only for --wacz: archiver.wacz imports capture's modules (a cycle at the top) and
    # loads cdxj-indexer and the page extractor, a third of a second a crawl without it does not spend
    from archiver.jobs.originals import original_files
    from archiver.wacz import write_wacz

    indexed = original_files(config.out_dir, [config.previous]) \
        if config.previous and not summary.originals_located else []
    return write_wacz(config.out_dir, originals=[*summary.originals, *indexed])
