"""``archiver crawl``: seeds (or a job manifest) in, a crawl directory out."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from archiver.capture import CrawlConfig, crawl
from archiver.errors import EXIT_OK, EXIT_USAGE, UsageError
from archiver.settings import settings_of


def _whole(minimum: int, too_small: str):
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {too_small}, got {text!r}")
        return value

    return parse


_positive_int = _whole(1, "a number above 0")
_count = _whole(0, "0 or more")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in text for c in "\r\n"):
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def add_parser(sub) -> None:
    p = sub.add_parser(
        "crawl",
        help="capture a site to WARC files (resumable)",
        description="Crawl SEED_URLs (or the legacy site of a job manifest) politely into "
        "DIR/warc/*.warc.gz, DIR/crawl.jsonl and DIR/index.cdxj (and DIR/archive.wacz with --wacz). "
        "Run the same command again on the same --out to resume an interrupted crawl.",
    )
    p.add_argument("seeds", nargs="*", metavar="SEED_URL_OR_MANIFEST",
                   help="start URLs, or one job manifest (.toml) whose [legacy] site is crawled")
    p.add_argument("--site", metavar="NAME",
                   help="with a programme manifest: the [[legacy]] site to crawl (or 'new' for the new site)")
    p.add_argument("--out", "-o", metavar="DIR", help="crawl directory (required with seed URLs)")
    p.add_argument("--sitemap", action="append", default=[], metavar="URL", help="sitemap to read (repeatable)")
    p.add_argument("--include", action="append", default=[], metavar="REGEX",
                   help="only follow pages matching one of these (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                   help="never fetch URLs matching any of these (repeatable)")
    p.add_argument("--max-pages", type=_positive_int, metavar="N",
                   help="fetch at most N URLs in all: pages, requisites, redirects, robots.txt and sitemaps "
                        "(a URL fetched again after a resume counts once)")
    p.add_argument("--max-depth", type=_count, metavar="N", help="link hops from a seed (default 20)")
    p.add_argument("--concurrency", type=_positive_int, metavar="N", help="requests in flight in all (default 4)")
    p.add_argument("--per-host-concurrency", type=_positive_int, metavar="N",
                   help="requests in flight to one host (default 2)")
    p.add_argument("--delay", type=_seconds, metavar="SECONDS",
                   help="pause between requests to one host (default 0.25; robots.txt Crawl-delay may raise it)")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="network time-out (default 30)")
    p.add_argument("--max-retries", type=_count, metavar="N",
                   help="retries after a failed attempt (default 3; an answer that stalls or is cut off: 1)")
    p.add_argument("--url-budget", type=_seconds, metavar="SECONDS",
                   help="time for every attempt at one URL together, back-off included (default 120); when it "
                        "runs out the best answer so far is archived, marked WARC-Truncated if it was cut")
    p.add_argument("--ignore-robots", action="store_true", default=None, help="do not obey robots.txt (logged)")
    p.add_argument("--user-agent", metavar="UA", help="User-Agent header")
    p.add_argument("--header", action="append", default=[], type=_header, metavar="'NAME: VALUE'",
                   help="extra request header (repeatable; Authorization/Cookie are kept out of the WARC)")
    p.add_argument("--warc-max-size", type=_positive_int, metavar="BYTES",
                   help="rotate WARC files at this size (default 1000000000)")
    p.add_argument("--max-response-bytes", type=_positive_int, metavar="BYTES",
                   help="cut longer answers, marked WARC-Truncated: length (default 100000000)")
    p.add_argument("--no-offsite-requisites", dest="requisites_any_host", action="store_false", default=None,
                   help="fetch images, styles, scripts and documents only from the seeds' origins")
    p.add_argument("--record-credentials", action="store_true", default=None,
                   help="keep Authorization/Cookie values in WARC request records")
    p.add_argument("--previous", metavar="DIR",
                   help="an earlier crawl directory: send conditional requests, write revisits for unchanged pages")
    p.add_argument("--wacz", action="store_true", default=None,
                   help="also pack the finished crawl as DIR/archive.wacz (opens in ReplayWeb.page)")
    p.add_argument("--progress", choices=("auto", "plain", "none"), default="auto",
                   help="live display on a terminal (auto), periodic lines (plain) or nothing")


def build_config(args):
    """The CrawlConfig for parsed arguments (seed URLs, or a manifest plus overrides)."""
    # each option's dest is its CrawlConfig field's name; None: not given on the command line
    overrides = {f.name: getattr(args, f.name) for f in settings_of(CrawlConfig).values()
                 if getattr(args, f.name, None) is not None}
    if args.header:
        overrides["extra_headers"] = dict(args.header)
    if args.previous:
        overrides["previous"] = args.previous
    manifests = [s for s in args.seeds if s.lower().endswith(".toml")]
    if manifests:
        if len(args.seeds) != 1:
            raise UsageError("give either one manifest or seed URLs, not both")
        # imported here: archiver.jobs loads every stage (0.4 s), which a crawl from seed URLs does not need
        from archiver.jobs.manifest import load_manifest

        manifest = load_manifest(manifests[0])
        if args.site is None and len(manifest.sites) > 1:
            raise UsageError(f"{manifests[0]} lists {len(manifest.sites)} legacy sites "
                             f"({', '.join(s.name for s in manifest.sites)}): choose one with --site NAME")
        out = Path(args.out) if args.out else Path("output") / manifest.name / "crawl"
        config = manifest.crawl_config(args.site or "legacy", out, progress=args.progress)
        config.sitemaps += args.sitemap
        config.include += args.include
        config.exclude += args.exclude
        return dataclasses.replace(config, **overrides)
    if args.site is not None:
        raise UsageError("--site names a site of a manifest: give the manifest instead of seed URLs")
    if not args.out:
        raise UsageError("--out DIR is required when crawling seed URLs")
    return CrawlConfig(seeds=args.seeds, out_dir=args.out, sitemaps=args.sitemap, include=args.include,
                       exclude=args.exclude, progress=args.progress, **overrides)


def run(args) -> int:
    config = build_config(args)
    summary = crawl(config)
    if not summary.ok:
        problem = summary.seed_problem or ""
        if problem.endswith((": robots", ": robots_unavailable")):
            reason = "robots.txt disallows every seed (see --ignore-robots)"
        elif problem.endswith(": max_pages"):
            reason = f"--max-pages {config.max_pages} was spent before any seed (robots.txt and sitemaps count too)"
        else:
            reason = "every seed was unreachable"
        print(f"archiver crawl: nothing could be fetched: {reason}; first: {summary.seed_problem} "
              f"(see {summary.crawl_log})", file=sys.stderr)
        return EXIT_USAGE  # an unreachable seed is bad input, like a bad option
    return EXIT_OK
