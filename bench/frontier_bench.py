"""Peak memory with a 1,000,000-URL frontier, measured on the real crawler.

For each shape HUBSxLINKS, serves (without delay) HUBS hub pages that each
link to LINKS distinct article URLs, and runs ``archiver crawl`` with the
hubs as seeds and ``--max-pages HUBS``: the crawler fetches the hubs, queues
every link they hold and stops, so its frontier (on disk, SQLite) ends with
HUBS x LINKS URLs. The crawler's peak RSS comes from ``wait4`` on that one
process (a /proc sampler says when it peaked); the URLs in the frontier are
counted in the crawl's state database afterwards.

    .venv/bin/python bench/frontier_bench.py            # 100x10000 and 20x50000
    .venv/bin/python bench/frontier_bench.py --shapes 1000x1000
    .venv/bin/python bench/frontier_bench.py --quick    # 4 x 25,000 = 100,000 URLs
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

GOAL_RSS_MB = 300.0
# the same million URLs from big index pages, and from a few huge ones: peak
# memory should depend on the frontier (on disk), not on how the links arrive
DEFAULT_SHAPES = [(100, 10_000), (20, 50_000)]


def hub_site(hubs: int, links_per_hub: int) -> dict[str, common.Resource]:
    site = {}
    for h in range(hubs):
        parts = [f"<!DOCTYPE html><html><head><title>Hub {h}</title></head><body><ul>\n"]
        parts += [f'<li><a href="/hub/{h}/item-{i}.html">Item {i}</a></li>\n'
                  for i in range(links_per_hub)]
        parts.append("</ul></body></html>\n")
        site[f"/hub/{h}/"] = common.Resource("text/html; charset=utf-8", "".join(parts).encode())
    return site


def state_databases(out_dir: Path) -> list[Path]:
    """SQLite files anywhere in the crawl directory (found by magic bytes)."""
    found = []
    for path in out_dir.rglob("*"):
        if path.is_file() and path.stat().st_size >= 100:
            with open(path, "rb") as fh:
                if fh.read(16) == b"SQLite format 3\x00":
                    found.append(path)
    return found


def frontier_counts(db: Path) -> dict[str, int]:
    """Rows per table, and for the crawler's ``urls`` table rows per status
    (and skip reason): the queued URLs still waiting when ``--max-pages``
    stopped the crawl are marked skipped with reason ``max_pages``."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        counts = {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        if "urls" in tables:
            for status, reason, n in con.execute(
                    "SELECT status, COALESCE(skipped_reason, ''), COUNT(*) FROM urls GROUP BY 1, 2"):
                counts[f"urls[{status}{':' + reason if reason else ''}]"] = n
        return counts
    finally:
        con.close()


def queued_urls(dbs: dict[str, dict[str, int]]) -> int:
    """URLs the frontier held: left queued (or cut by max_pages) plus fetched.
    Without the ``urls`` table (schema changed), the largest table's rows."""
    for counts in dbs.values():
        if "urls" in counts:
            return sum(n for k, n in counts.items()
                       if k.startswith("urls[") and not k.startswith("urls[skipped:")
                       or k == "urls[skipped:max_pages]")
    return max((n for counts in dbs.values() for n in counts.values()), default=0)


def parse_shape(text: str) -> tuple[int, int]:
    hubs, _, links = text.lower().partition("x")
    try:
        shape = int(hubs), int(links)
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must be HUBSxLINKS, e.g. 100x10000: {text!r}")
    if min(shape) <= 0:
        raise argparse.ArgumentTypeError(f"shape must be positive: {text!r}")
    return shape


def run_shape(hubs: int, links_per_hub: int, timeout: float, keep: bool) -> tuple[list, dict, bool]:
    """Crawl one hub site into a full frontier; summary rows, details, success."""
    target = hubs * links_per_hub
    label = f"{hubs} x {links_per_hub:,}"
    site = hub_site(hubs, links_per_hub)
    print(f"frontier_bench: {hubs} hubs x {links_per_hub:,} links = {target:,} URLs "
          f"({sum(len(r.body) for r in site.values()) / 1e6:.0f} MB of HTML)", flush=True)
    server = common.SlowSite(site, latency=0.0)
    work = Path(tempfile.mkdtemp(prefix="frontier_bench-"))
    out_dir = work / "crawl"
    cmd = [common.venv_bin("archiver"), "crawl",
           *(server.base_url + path for path in site),
           "--out", str(out_dir), "--max-pages", str(hubs),
           "--concurrency", "4", "--delay", "0", "--ignore-robots", "--progress", "plain"]
    sampler = common.RssSampler()
    try:
        child = common.run_child(cmd, log_prefix=work / "crawl", timeout=timeout,
                                 on_start=sampler.start)
        sampler.stop()
        stats = server.stats()
        dbs = {str(db.relative_to(out_dir)): frontier_counts(db) for db in state_databases(out_dir)}
        log_tail = child.tail("stderr", 8) or child.tail("stdout", 8)
    finally:
        sampler.stop()
        server.close()
        if keep:
            print(f"  crawl directory kept: {out_dir}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    queued = queued_urls(dbs)
    ok = child.returncode == 0 and not child.timed_out
    print(f"  crawler: rc={child.returncode}, {child.wall_s:.1f} s wall, {child.cpu_s:.1f} s cpu, "
          f"peak RSS {child.peak_rss_mb:.0f} MB, server answered {stats['requests']} requests")
    print(f"  state databases: {dbs}")
    peak_at = sampler.peak()
    if peak_at:
        print(f"  RSS peaked at {peak_at[1]:.0f} MB {peak_at[0]:.0f} s into the run "
              f"(last sample {sampler.samples[-1][1]:.0f} MB at {sampler.samples[-1][0]:.0f} s)")
    if not ok:
        print("  crawler output tail:\n    " + log_tail.replace("\n", "\n    "))
    rows = [
        common.row(f"{label}: URLs in the frontier", queued, f">= {target:,}", queued >= target),
        common.row(f"{label}: crawler peak RSS (MB)", round(child.peak_rss_mb, 1),
                   f"< {GOAL_RSS_MB:.0f}", ok and child.peak_rss_mb < GOAL_RSS_MB),
        common.row(f"{label}: elapsed (s)", round(child.wall_s, 1)),
        common.row(f"{label}: URLs queued per second",
                   round(queued / child.wall_s) if child.wall_s else None),
        common.row(f"{label}: crawler CPU (s)", round(child.cpu_s, 1)),
    ]
    details = {
        "hubs": hubs, "links_per_hub": links_per_hub, "target": target, "queued": queued,
        "child": child, "server": stats, "state_databases": dbs,
        "rss_peak_at": peak_at,
        "rss_timeline_mb": sampler.samples[::max(1, len(sampler.samples) // 400)],
    }
    return rows, details, ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=DEFAULT_SHAPES,
                        metavar="HUBSxLINKS",
                        help="hub pages x links per hub, one crawl each "
                             "(default: 100x10000 20x50000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 x 25,000 URLs")
    parser.add_argument("--timeout", type=float, default=1800, help="per crawl, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the crawl directories")
    args = parser.parse_args(argv)
    shapes = [(4, 25_000)] if args.quick else args.shapes

    summary = [common.row("method", "(a) real crawler (archiver crawl), frontier filled by hub pages")]
    details, all_ok = {"shapes": []}, True
    for hubs, links in shapes:
        rows, shape_details, ok = run_shape(hubs, links, args.timeout, args.keep)
        summary += rows
        details["shapes"].append(shape_details)
        all_ok &= ok
    print()
    print(common.format_table(summary, "frontier_bench"))
    path = common.write_results("frontier", summary, details)
    print(f"\nresults: {path}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
