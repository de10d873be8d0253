"""``archiver wacz``: pack an existing crawl directory as a WACZ."""
from __future__ import annotations

import sys
from pathlib import Path

from archiver.errors import EXIT_OK, UsageError
from archiver.jobs.history import earlier_crawls
from archiver.jobs.originals import original_files
from archiver.wacz import WACZ_NAME, write_wacz


def add_parser(sub) -> None:
    p = sub.add_parser(
        "wacz", help="pack a crawl directory as a WACZ (opens in ReplayWeb.page)",
        description=f"Pack the crawl in DIR (its warc/*.warc.gz, crawl.jsonl) as DIR/{WACZ_NAME}: WACZ 1.1.1 with a "
                    "compressed index and a list of pages with title and text for search. Drag the file onto "
                    "https://replayweb.page to browse it. In a job's run directory the earlier runs holding the "
                    "originals of the crawl's revisits are found and packed too.")
    p.add_argument("crawl_dir", metavar="DIR", help="a crawl directory (archiver crawl --out DIR, or a job run's legacy/, sites/<name>/legacy/ or new/)")
    p.add_argument("--out", "-o", metavar="FILE.wacz", help=f"where to write (default DIR/{WACZ_NAME})")
    p.add_argument("--previous", action="append", default=[], metavar="DIR",
                   help="an earlier crawl holding originals of DIR's revisits (repeatable, oldest first; "
                        "found by themselves in a job's run directory)")


def run(args) -> int:
    crawl_dir = Path(args.crawl_dir)
    if args.out and not args.out.endswith(".wacz"):
        raise UsageError(f"--out must name a .wacz file, got {args.out!r}")
    for previous in args.previous:
        if not Path(previous, "warc").is_dir():
            raise UsageError(f"--previous {previous}: not a crawl directory (no warc/ folder)")
    earlier = [Path(p) for p in args.previous] or earlier_crawls(crawl_dir)
    originals = original_files(crawl_dir, earlier) if earlier and crawl_dir.is_dir() else []
    result = write_wacz(crawl_dir, args.out, originals=originals)
    print(result.text(), file=sys.stderr if result.unresolved_revisits else sys.stdout)
    return EXIT_OK
