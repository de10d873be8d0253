"""``archiver detect WARC_OR_DIR ... --out notices.jsonl``: moved/gone notices."""
from __future__ import annotations

import os

from archiver.cluster import add_cluster_arguments, open_executor
from archiver.detect import detect_paths, summarize
from archiver.errors import EXIT_OK
from archiver.settings import size_argument


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "detect",
        help="find moved/gone pages (redirects, 410/404, refresh, JS, canonical, banners) in WARCs",
        description="Read WARC/WACZ files or directories of one legacy site and write one JSON "
        "notice per captured URL: status, signals with evidence, classification "
        "(moved, moved_site, gone, live, resource, error) and the best target.",
    )
    parser.add_argument("inputs", nargs="+", metavar="WARC_OR_DIR", help="WARC, WACZ or directory")
    parser.add_argument("--out", default="notices.jsonl", help="output JSONL (default: %(default)s)")
    parser.add_argument("--new-host", action="append", default=[], metavar="HOST",
                        help="a host of the new site (repeatable); also inferred from redirects")
    parser.add_argument("--phrase", action="append", default=[], metavar="TEXT",
                        help="an extra notice wording to look for (repeatable)")
    add_cluster_arguments(parser, default="a process per CPU")
    parser.add_argument("--part-size", type=size_argument, metavar="SIZE",
                        help="cut .warc.gz files of twice this size or more into parts read side by side (64M, 1G; "
                             "default: the collection's size / 64, from 16M to 256M)")


def run(args) -> int:
    with open_executor(workers=args.workers, scheduler=args.scheduler, local_processes=True,
                       shared_paths=map(os.path.abspath, args.inputs)) as (executor, cluster):
        notices = detect_paths(args.inputs, args.out, new_hosts=args.new_host, phrases=args.phrase,
                               executor=executor, part=args.part_size)
    counts = summarize(notices)
    summary = ", ".join(f"{name} {count}" for name, count in counts.items())
    print(f"{len(notices)} URLs: {summary} (read on {cluster})")
    print(f"notices written to {args.out}")
    return EXIT_OK
