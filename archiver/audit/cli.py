"""``archiver audit``: is the archive complete and intact? Writes audit.json and audit.html; exit 3 when it is
damaged (unless --ignore-integrity) or under --fail-under."""
from __future__ import annotations

import os

from archiver.audit import audit, discover_crawl_logs, write_report
from archiver.cluster import add_cluster_arguments, open_executor
from archiver.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError
from archiver.jobs.history import originals_beside
from archiver.outputs import writable_dir
from archiver.settings import ratio_argument, size_argument


def add_parser(sub) -> None:
    p = sub.add_parser(
        "audit", help="check a WARC collection for completeness and integrity",
        description="Audit any WARC collection (WARC files, directories, WACZ) against the URLs it should hold; "
                    "writes DIR/audit.json and DIR/audit.html. Exit 0 when intact and complete enough; 3 when damaged "
                    "(integrity errors) or under --fail-under; 2 when an input is not an archive.")
    p.add_argument("inputs", nargs="+", metavar="WARC_OR_DIR_OR_WACZ")
    p.add_argument("--expected", metavar="FILE", help="file of expected URLs, one per line")
    p.add_argument("--sitemap", action="append", default=[], metavar="URL_OR_FILE",
                   help="sitemap or sitemap index (file, or URL: fetched live); repeatable")
    p.add_argument("--crawl-log", action="append", default=[], metavar="crawl.jsonl",
                   help="crawl log whose URLs are expected (found beside a crawl directory when nothing is given)")
    p.add_argument("--redirects", metavar="redirects.csv", help="redirect manifest: its old URLs are expected")
    p.add_argument("--fail-under", type=ratio_argument, metavar="RATIO", help="exit 3 when completeness is under this (0.95 or 95%%)")
    p.add_argument("--ignore-integrity", action="store_true",
                   help="pass or fail on completeness alone: integrity errors are reported but do not fail the audit")
    add_cluster_arguments(p, default="a process per CPU")
    p.add_argument("--part-size", type=size_argument, metavar="SIZE",
                   help="cut .warc.gz files of twice this size or more into parts read side by side (64M, 1G; "
                        "default: the collection's size / 64, from 16M to 256M)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for audit.json and audit.html")


def run(args) -> int:
    writable_dir(args.out, "--out directory")
    if args.fail_under is not None and not (args.expected or args.sitemap or args.crawl_log or args.redirects):
        if not discover_crawl_logs(args.inputs):
            raise UsageError("--fail-under needs an expected set: give --expected, --sitemap, --crawl-log or --redirects")
    # an incremental crawl's revisits point at earlier runs: read those files too, as the job's own audit does
    originals, notes = originals_beside(args.inputs)
    inputs = [*args.inputs, *map(str, originals)]
    with open_executor(workers=args.workers, scheduler=args.scheduler, local_processes=True,
                       shared_paths=map(os.path.abspath, inputs)) as (executor, cluster):
        report = audit(inputs, expected_file=args.expected, sitemaps=args.sitemap, crawl_logs=args.crawl_log,
                       redirects=args.redirects, fail_under=args.fail_under, executor=executor, cluster=cluster,
                       part=args.part_size, ignore_integrity=args.ignore_integrity)
    report.warnings += notes
    if originals:
        report.warnings.append(f"read {len(originals)} WARC file(s) of earlier runs that hold the originals of "
                               f"these crawls' revisit records: {', '.join(map(str, originals))}")
    paths = write_report(report, args.out)
    summary = report.summary
    counts = summary["outcomes"]
    ratio = "n/a" if report.completeness is None else f"{report.completeness:.1%}"
    in_scope = summary["expected"] - counts["out_of_scope"]
    for warning in report.warnings:
        print(f"warning: {warning}")
    print(f"completeness {ratio} of {in_scope} expected URLs in scope ({counts['out_of_scope']} out of scope): "
          f"{counts['captured'] + counts['redirected']} captured or redirected, {len(report.not_found)} captured as "
          f"404/410, {len(report.missing)} missing; {len(report.requisites_missing)} requisites missing, "
          f"{summary['integrity'].get('error', 0)} integrity errors; report: {paths['html']}")
    if report.integrity_failed and not report.ignore_integrity:
        print("audit failed: the archive is damaged (integrity errors above; --ignore-integrity judges completeness "
              "alone)")
    return EXIT_OK if report.passed else EXIT_INCOMPLETE
