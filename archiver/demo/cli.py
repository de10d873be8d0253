"""``archiver demo``: the whole job on embedded demo sites, scored against the truth."""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
from pathlib import Path

from archiver.cluster import add_cluster_arguments
from archiver.demo import embedded_sites, score_documents, score_mappings
from archiver.errors import UsageError
from archiver.jobs.layout import RunLayout
from archiver.jobs.manifest import load_manifest
from archiver.jobs.run import run_job

# The demo manifest ships inside the package (manifests/demo.toml links to it),
# so `archiver demo` works from any install, not only from a checkout.
DEMO_MANIFEST = Path(__file__).resolve().parent / "demo.toml"


def add_parser(sub) -> None:
    demo = sub.add_parser("demo", help="run the whole job on embedded demo sites (loopback, no network) and score it",
                          description="Serve a generated legacy site and its new portal on 127.0.0.1, run the job of "
                                      "manifests/demo.toml on them (as `archiver run` does) and print where everything "
                                      "is, with precision and recall of the page-level redirects against the known truth.")
    demo.add_argument("--out", default="output", metavar="DIR", help="output root (default: output/)")
    demo.add_argument("--manifest", default=str(DEMO_MANIFEST), metavar="FILE", help="demo manifest (default: manifests/demo.toml)")
    demo.add_argument("--articles", type=int, metavar="N", help="generated articles (default: from the manifest)")
    demo.add_argument("--seed", type=int, metavar="N", help="random seed of the generated sites")
    demo.add_argument("--sites", type=int, metavar="N",
                      help="legacy sites moved into the one portal (default 1; 2 or more: a programme, "
                           "job <name>-N-sites, each site scored on its own)")
    demo.add_argument("-q", "--quiet", action="store_true", help="print only the one-line summary and the score")
    demo.add_argument("--json-summary", metavar="FILE", help="also write the run summary as JSON to FILE")
    add_cluster_arguments(demo, default="in this process")


def run(args) -> int:
    if args.quiet:
        logging.getLogger().setLevel(logging.WARNING)
    manifest = load_manifest(args.manifest)
    settings = manifest.plugged.get("demo")
    if settings is None or not settings.embedded:
        raise UsageError(f"{args.manifest}: not a demo manifest ([demo] embedded = true is missing)")
    if args.articles is not None:
        if args.articles < 1:
            raise UsageError(f"--articles: expected a number > 0, got {args.articles}")
        settings = dataclasses.replace(settings, articles=args.articles)
    if args.seed is not None:
        settings = dataclasses.replace(settings, seed=args.seed)
    if args.sites is not None:
        if args.sites < 1:
            raise UsageError(f"--sites: expected a number > 0, got {args.sites}")
        settings = dataclasses.replace(settings, sites=args.sites)
    manifest = dataclasses.replace(manifest, plugged={**manifest.plugged, "demo": settings})
    with embedded_sites(manifest, args.out) as (live, generated):
        pairs = generated.sites if live.programme else {live.sites[0].name: generated}
        if not args.quiet:
            legacy = "  ".join(f"{name} {pair.legacy_base}/" for name, pair in pairs.items())
            resources = sum(len(pair.legacy.resources) for pair in pairs.values())
            print(f"demo sites: legacy {legacy}  new {generated.new_base}/  ({resources} + "
                  f"{len(generated.new.resources)} resources, seed {settings.seed})")
        result = run_job(live, args.out, quiet=args.quiet, json_summary=args.json_summary, workers=args.workers,
                         scheduler=args.scheduler)
    layout = RunLayout(result.run_dir, tuple(pairs), live.programme)
    scores = {name: _score(layout.site_dir(name) / "redirects.csv", pair) for name, pair in pairs.items()}
    (result.run_dir / "demo-score.json").write_text(
        json.dumps(scores if live.programme else scores[live.sites[0].name], indent=1), encoding="utf-8")
    for name, score in scores.items():
        _print_score(f"{name}: " if live.programme else "", score, len(pairs[name].documents))
    if not args.quiet:
        latest = Path(args.out) / live.name / "latest"
        where = ("sites/<name>/ (each site's crawl, notices, redirects and audit), redirects.csv and "
                 "redirects.nginx.conf for every site at once,\n  new/ (the portal's crawl)" if live.programme else
                 "redirects.csv and redirects.nginx.conf (and the other formats), notices.jsonl,\n"
                 "  legacy/ and new/ (WARC crawls), audit/audit.html")
        print(f"everything is under {latest}/ : {where}, diff.json, summary.json, demo-score.json\n"
              f"  run it again to see an incremental re-crawl: archiver demo --out {args.out}"
              + (f" --sites {len(pairs)}" if live.programme else ""))
    return result.exit_code


def _score(rows_file: Path, pair) -> dict:
    with rows_file.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    score = score_mappings(rows, pair.truth)
    score["documents"] = score_documents(rows, pair.documents)
    return score


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _print_score(prefix: str, score: dict, document_count: int) -> None:
    documents = score["documents"]
    print(f"{prefix}page-level mappings vs truth: precision {_pct(score['precision'])} ({score['correct']}/{score['page_rows']}), "
          f"recall {_pct(score['recall'])} ({score['found']}/{score['expected_pages']}, "
          f"{score['expected_pages_with_a_row']} of them captured); "
          f"removed pages -> 410: {score['gone_found']}/{score['gone_expected']}; "
          f"pages without equivalent forced onto one: {score['forced_onto_a_page']}/{score['no_equivalent']}")
    print(f"{prefix}document mappings vs truth: precision {_pct(documents['precision'])} "
          f"({documents['correct']}/{documents['document_rows']}), recall {_pct(documents['recall'])} "
          f"({documents['found']}/{documents['expected']}, {documents['with_a_row']} of {document_count} with a row); "
          f"removed documents forced onto one: {documents['forced_onto_a_document']}/{documents['removed']}")
