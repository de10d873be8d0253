"""``archiver map``: legacy and new captures in, redirect manifest out."""
from __future__ import annotations

from dataclasses import replace

from archiver.errors import UsageError
from archiver.export import FORMATS, describe_refusals
from archiver.mapping import Thresholds, map_paths
from archiver.mapping.decisions import report_lines
from archiver.settings import check


def add_parser(sub) -> None:
    p = sub.add_parser("map", help="map legacy URLs to new pages (redirect manifest)",
                       description="Detect moved pages in the legacy capture, match each to its new page "
                                   "(explicit signals verified, else content), and export the redirect manifest.")
    p.add_argument("--old", nargs="+", required=True, metavar="WARC_OR_DIR", help="capture(s) of the legacy site")
    p.add_argument("--new", nargs="+", required=True, metavar="WARC_OR_DIR", help="capture(s) of the new site")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--allowed-host", action="append", default=[], metavar="HOST",
                   help="allowed target host (host, host:port or *.domain; default: the new capture's hosts)")
    p.add_argument("--rule", action="append", default=[], metavar="REGEX=URL",
                   help="section fallback: old path+query matching REGEX goes to URL (\\1 groups allowed)")
    p.add_argument("--status", type=int, choices=(301, 308), default=301, help="status of redirects (default 301)")
    p.add_argument("--notices", metavar="FILE", help="use this notices.jsonl instead of detecting again")
    p.add_argument("--phrase", action="append", default=[], help="extra notice wording for detection")
    p.add_argument("--format", action="append", dest="formats", metavar="FORMAT", choices=FORMATS,
                   help=f"export format ({', '.join(FORMATS)}; default all)")
    p.add_argument("--accept", type=float, help="minimum confidence of a content match (default 0.55)")
    p.add_argument("--decisions", metavar="FILE",
                   help="a person's decisions (CSV: old_url,decision,new_url,note,decided_at; see archiver review), "
                        "applied before every automatic method")
    p.add_argument("--margin", type=float, help="lead a content match needs over the runner-up (default 0.08)")
    p.add_argument("--asset-type", action="append", default=[], dest="assets", metavar="TYPE",
                   help="also give rows to captures of this media type, e.g. 'image/*' (documents always get rows)")
    p.add_argument("--documents-follow-gone", action="store_true",
                   help="a document whose linking pages are all gone answers 410 too (default: unmatched)")


def run(args) -> int:
    thresholds = Thresholds()
    for name in ("accept", "margin"):
        value = getattr(args, name)
        if value is not None:
            if not 0 <= value <= 1:
                raise UsageError(f"--{name} must be between 0 and 1, not {value}")
            thresholds = replace(thresholds, **{name: value})
    problem = check("media_types", args.assets)
    if problem:
        raise UsageError(f"--asset-type: {problem}")
    result = map_paths(args.old, args.new, args.out, allowed_hosts=args.allowed_host, rules=args.rule,
                       thresholds=thresholds, status=args.status, phrases=args.phrase,
                       notices_file=args.notices, formats=args.formats, decisions_file=args.decisions,
                       assets=args.assets, documents_follow_gone=args.documents_follow_gone)
    summary = result.summary
    kinds = ", ".join(f"{k} {n}" for k, n in summary["kinds"].items())
    refused = describe_refusals(summary["refused"])
    print(f"{summary['rows']} legacy URLs; exported: {kinds}; {summary['review']} flagged for review"
          + (f"; {refused} (redirects.rejected.json)" if refused else ""))
    print("methods: " + ", ".join(f"{k} {n}" for k, n in summary["methods"].items()))
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    for line in report_lines(result.decisions) if result.decisions else ():
        print(line)
    for name, path in sorted(result.files.items()):
        print(f"  {name}: {path}")
    return 0
