"""``archiver verify``: check a live server against the redirect manifest."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from archiver.capture.config import CrawlConfig
from archiver.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError
from archiver.settings import ratio_argument
from archiver.verify import check_reachable, read_rows, summary_line, verify_redirects, verify_run, write_report
from archiver.verify.inputs import resolve_source

EPILOG = """exit status: 0 when at least --fail-under of the checked rows are right
(default: every one), 3 under it, 2 for bad usage or when BASE_URL answered
nothing at all.

verdicts: ok, wrong_status, wrong_target, not_redirected, chain, loop,
off_host, target_broken, target_soft_404, gone_ok, gone_wrong, error;
not_checked for rows the manifest expects nothing of (unmatched)."""

# CrawlConfig field -> (type, metavar, help); an option not given leaves the run's [crawl] value or the default
POLITENESS = {
    "concurrency": (int, "N", "rows checked at once"),
    "per_host_concurrency": (int, "N", "requests in flight to one server"),
    "delay": (float, "SECONDS", "between request starts on one server"),
    "timeout": (float, "SECONDS", "connect and read time-out"),
    "total_timeout": (float, "SECONDS", "for a whole answer (a server dripping bytes)"),
    "max_retries": (int, "N", "retries after a connection error, time-out, 429 or 5xx"),
    "user_agent": (str, "UA", "User-Agent header"),
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify", help="check that a live server answers every old URL as the redirect manifest says",
        description="Request every old URL of REDIRECTS_CSV (or a run directory's redirects.csv) from BASE_URL, "
                    "follow its redirects on the allowed new hosts and give each row a verdict; writes "
                    "verify.json and verify.html and prints a one-line summary.",
        epilog=EPILOG)
    p.add_argument("source", metavar="REDIRECTS_CSV_OR_RUN_DIR")
    p.add_argument("--against", metavar="BASE_URL",
                   help="the old site as served now, scheme://host[:port] (production or staging; the old host "
                        "names go in the Host header); default: the run's [verify] against")
    p.add_argument("--out", metavar="DIR", help="where verify.json and verify.html go (default: verify/ beside "
                                               "the CSV, or in the run directory)")
    p.add_argument("--fail-under", type=ratio_argument, metavar="RATIO",
                   help="exit 3 when fewer of the checked rows are right (0.95 or 95%%; default 1: every one)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="HOST",
                   help="a new host redirects may lead to (host, host:port or *.domain; repeatable); the only way "
                        "to allow a private or loopback target; the targets' own public hosts are allowed anyway")
    for name, (kind, metavar, text) in POLITENESS.items():
        p.add_argument("--" + name.replace("_", "-"), type=kind, metavar=metavar,
                       help=f"{text} (default {getattr(CrawlConfig, name)}, or the run's [crawl] setting)")
    p.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header (repeatable)")


def _headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for text in values:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header: expected 'Name: value', got {text!r}")
        headers[name.strip()] = value.strip()
    return headers


def run(args) -> int:
    source = resolve_source(args.source)
    against = args.against or source.against
    if not against:
        raise UsageError("give --against BASE_URL: the old site as it is served now")
    overrides = {name: getattr(args, name) for name in POLITENESS if getattr(args, name) is not None}
    if args.header:
        overrides["extra_headers"] = {**source.crawl.get("extra_headers", {}), **_headers(args.header)}
    config = dataclasses.replace(CrawlConfig(**source.crawl), **overrides)
    fail_under = next(v for v in (args.fail_under, source.fail_under, 1.0) if v is not None)
    allowed = [*source.allowed_hosts, *args.allowed_host]
    out = Path(args.out) if args.out else source.default_out
    if source.run_dir is not None:
        report, paths = verify_run(source.site_dir, against, allowed_hosts=allowed, config=config,
                                   new_captures=source.new_captures(), fail_under=fail_under, out_dir=out)
    else:
        report = verify_redirects(read_rows(source.csv), against, allowed_hosts=allowed, config=config,
                                  fail_under=fail_under, source=str(source.csv))
        paths = write_report(report, out)
    check_reachable(report, paths["html"])
    print(summary_line(report, paths["html"]))
    return EXIT_OK if report.passed else EXIT_INCOMPLETE
