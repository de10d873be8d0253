"""Verify: does the live server answer every old URL as the redirect manifest says?

After the switch, and after every later deploy, each row of ``redirects.csv``
is checked against the old site as it is served now (``against``: production,
or a staging server answering for the old host names)::

    from archiver.verify import read_rows, verify_redirects, write_report
    report = verify_redirects(read_rows("redirects.csv"), "https://www.mnz.gov.si", allowed_hosts=["www.gov.si"])
    write_report(report, "verify/")          # verify.json + verify.html
    report.passed, report.counts             # fail_under (default: every checked row right)

Each old URL is requested once, without following its redirect
(``prober.py``: capture's fetcher, politeness per server in ``gate.py``,
retries honouring ``Retry-After``); redirects are then followed hop by hop,
at most 10, only on allowed hosts (``hosts.py``), and the final page is
read into a small view (``pages.py``) to tell the mapped page from a
not-found or home page served with 200. ``verdicts.py`` gives each row one
verdict with what was expected and what came back; ``report.py`` writes
verify.json, verify.html and the one-line summary. Rows run in parallel
(``concurrency`` threads); the verdicts that need every row (a page shared
by many targets) are given once all rows are walked.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from archiver.capture.config import CrawlConfig
from archiver.errors import UsageError
from archiver.export.urls import parse_url
from archiver.settings import check_settings, origin_problem
from archiver.types import Capture

from .gate import HostGate
from .hosts import HostPolicy
from .pages import Expectation, PageReader, PageView, expectations_from, url_key
from .prober import Prober, Walk
from .report import VerifyReport, read_verdicts, summary_line, write_report
from .rows import ExpectedRow, read_rows
from .settings import VerifySettings
from .verdicts import RIGHT, VERDICTS, judge, soft_404_reason

__all__ = ["VerifyReport", "VerifySettings", "ExpectedRow", "VERDICTS", "RIGHT", "read_rows", "verify_redirects",
           "verify_run", "write_report", "summary_line", "read_verdicts", "check_reachable"]

log = logging.getLogger(__name__)
PROGRESS_EVERY = 1000  # rows between progress lines in the log


def verify_redirects(rows: list[ExpectedRow], against: str, *, allowed_hosts: Iterable[str] = (),
                     config: CrawlConfig | None = None, expectations: dict[str, Expectation] | None = None,
                     fail_under: float = 1.0, source: str = "", clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> VerifyReport:
    """Check every row against the server at ``against`` (see the module docstring).

    ``allowed_hosts``: new hosts given explicitly (the only way a private or
    loopback target is requested); the hosts the rows' targets name are
    allowed too when public. ``config``: capture's politeness settings
    (delay, per-host concurrency, concurrency, timeout, total_timeout,
    max_retries, user agent, headers). ``expectations``: the new site's
    captured pages by URL key (see ``pages.expectations_from``).
    """
    problem = origin_problem(against)
    if problem:
        raise UsageError(f"BASE_URL: {problem}")
    if not 0 <= fail_under <= 1:
        raise UsageError(f"fail-under must be a ratio from 0 to 1, got {fail_under}")
    config = config or CrawlConfig()
    check_settings(config)
    allowed_hosts = list(allowed_hosts)
    policy = HostPolicy(against, old_hosts={r.old.netloc for r in rows if r.old is not None}, explicit=allowed_hosts,
                        implicit={r.new.netloc for r in rows if r.checkable and r.new is not None})
    gate = HostGate(per_host=config.per_host_concurrency, delay=config.delay, clock=clock, sleep=sleep)
    prober = Prober(policy, gate, PageReader(expectations), user_agent=config.user_agent, timeout=config.timeout,
                    total_timeout=config.total_timeout, max_retries=config.max_retries,
                    extra_headers=config.extra_headers, max_response_bytes=config.max_response_bytes)
    started, began = datetime.now(timezone.utc), time.monotonic()
    checkable = [number for number, row in enumerate(rows) if row.checkable]
    log.info("verifying %d of %d rows against %s", len(checkable), len(rows), against)

    def walk_row(number: int) -> tuple[Walk, Walk | None]:
        row = rows[number]
        walk = prober.walk(row.old, follow=not row.is_gone)
        home = None
        page = walk.last.page
        if page is not None and page.html and page.is_expected_page is None:
            home_url = parse_url(walk.last.url)
            home = prober.walk(parse_url(f"{home_url.scheme}://{home_url.netloc}/"))
        return walk, home

    walks: dict[int, tuple[Walk, Walk | None]] = {}
    pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="verify")
    try:
        for done, (number, result) in enumerate(zip(checkable, pool.map(walk_row, checkable)), 1):
            walks[number] = result
            if done % PROGRESS_EVERY == 0:
                log.info("%d of %d rows checked", done, len(checkable))
    finally:
        pool.shutdown(cancel_futures=True)  # interrupted: rows not started are dropped, running ones end
        prober.close()
    outcomes = _judge_all(rows, walks)
    return VerifyReport(
        against=policy.origin, source=source, outcomes=outcomes, fail_under=fail_under,
        allowed_hosts=policy.allowed,
        started=started.strftime("%Y-%m-%dT%H:%M:%SZ"), seconds=round(time.monotonic() - began, 2),
        requests=prober.requests,
        settings={name: getattr(config, name) for name in ("concurrency", "per_host_concurrency", "delay", "timeout",
                                                           "total_timeout", "max_retries", "user_agent")},
    )


def _judge_all(rows: list[ExpectedRow], walks: dict[int, tuple[Walk, Walk | None]]) -> list:
    """Verdicts, once every row is walked: a page served for many targets is a soft 404."""
    targets_by_page: dict[str, set[str]] = {}
    for walk, _home in walks.values():
        page = walk.last.page
        if walk.end == "final" and page is not None and page.fingerprint:
            targets_by_page.setdefault(page.fingerprint, set()).add(walk.last.url)
    outcomes = []
    for number, row in enumerate(rows):
        if number not in walks:
            outcomes.append(judge(row, None))
            continue
        walk, home = walks[number]
        page = walk.last.page
        home_page: PageView | None = home.last.page if home is not None and home.end == "final" else None
        reason = soft_404_reason(
            page, home=home_page, is_home=home is not None and home.last.url == walk.last.url,
            shared=len(targets_by_page.get(page.fingerprint, ())) if page is not None else 0)
        outcomes.append(judge(row, walk, reason))
    return outcomes


def verify_run(run_dir: Path | str, against: str, *, allowed_hosts: Iterable[str] = (),
               config: CrawlConfig | None = None, new_captures: Iterable[Capture] | None = None,
               fail_under: float = 1.0, out_dir: Path | str | None = None,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> tuple[VerifyReport, dict[str, Path]]:
    """Verify a run directory's ``redirects.csv`` (or a programme site's, ``RUN/sites/<name>``), its
    targets compared with the new site's capture (``new_captures``), and write ``verify/`` there (or
    ``out_dir``)."""
    run_dir = Path(run_dir)
    csv_path = run_dir / "redirects.csv"
    rows = read_rows(csv_path)
    expectations = None
    if new_captures is not None:
        wanted = {url_key(row.new) for row in rows if row.checkable and row.new is not None}
        expectations = expectations_from(new_captures, wanted)
        log.info("%d of %d targets found in the new site's capture", len(expectations), len(wanted))
    report = verify_redirects(rows, against, allowed_hosts=allowed_hosts, config=config, expectations=expectations,
                              fail_under=fail_under, source=str(csv_path), clock=clock, sleep=sleep)
    return report, write_report(report, out_dir if out_dir is not None else run_dir / "verify")


def check_reachable(report: VerifyReport, html_path: Path | str) -> None:
    """Raise ``UsageError`` when no old URL got any HTTP answer: BASE_URL is wrong or down."""
    checked = [o for o in report.outcomes if o.verdict != "not_checked"]
    if checked and all(o.got_status is None for o in checked):
        raise UsageError(f"{report.against}: no answer to any request ({checked[0].detail}); report: {html_path}")
