"""Mapping a programme: 5 legacy sites x 20,000 pages against one 100,000-page portal, inline and on Dask.

The job's mapping half as its tasks run it (``archiver/jobs/tasks.py``): one
task builds the portal's content index (``mapping.PortalIndex``: page facts,
shingles, MinHash signatures, LSH bands) and saves it in a directory every
worker reads; then one task per legacy site loads that index and maps its
pages (``mapping.map_to_portal``). Page facts are generated (``map_bench.
generate``: releases, recurring titles, edited text, 15% never migrated),
not crawled, and read from files in the shared directory, so the figures
are mapping's, not crawling's or extraction's.

Each mode runs in a child process of its own: inline (every task in that
process, as ``archiver run`` without flags) and ``--workers 2`` (an embedded
``LocalCluster``, as ``archiver run --workers 2``). Each task reports its
wall clock, CPU and its process's peak RSS (``ru_maxrss``, so the peak of a
worker is the highest any of its tasks saw); the size of the saved index is
measured on disk.

    .venv/bin/python bench/programme_bench.py            # 5 x 20,000 against 100,000
    .venv/bin/python bench/programme_bench.py --quick    # 5 x 2,000 against 10,000
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402
import map_bench  # noqa: E402

from archiver.cluster import open_executor  # noqa: E402
from archiver.mapping import PortalIndex, map_to_portal  # noqa: E402
from archiver.types import Capture  # noqa: E402

SITES = 5


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _captures(facts):
    return [Capture(f.url, 200, (("Content-Type", "text/html"),), b"", "2026-01-01T00:00:00Z", "bench", i)
            for i, f in enumerate(facts)]


def _task_report(started: float, cpu: float, **figures) -> dict:
    return {"wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(time.process_time() - cpu, 2),
            "peak_rss_mb": round(_peak_mb()), "pid": os.getpid(), **figures}


def index_task(portal_file: str, index_file: str) -> dict:
    """Build the portal's index from its page facts and save it where every mapping task reads it."""
    started, cpu = time.perf_counter(), time.process_time()
    facts = pickle.loads(Path(portal_file).read_bytes())
    by_url = {f.url: f for f in facts}
    portal = PortalIndex.build(_captures(facts), extract=lambda c: by_url[c.url])
    size = portal.save(index_file)
    return _task_report(started, cpu, pages=len(portal.facts), index_bytes=size)


def map_task(index_file: str, site_file: str, truth_file: str) -> dict:
    """Map one legacy site against a fresh copy of the saved index; precision and recall against the truth."""
    started, cpu = time.perf_counter(), time.process_time()
    portal = PortalIndex.load(index_file)
    facts = pickle.loads(Path(site_file).read_bytes())
    truth = json.loads(Path(truth_file).read_text())
    by_url = {f.url: f for f in facts}
    rows = map_to_portal(portal, [], _captures(facts), extract=lambda c: by_url[c.url])
    pages = [r for r in rows if r.kind == "page"]
    right = sum(truth.get(r.old_url) == r.new_url for r in pages)
    by_old = {r.old_url: r for r in rows}
    expected = [u for u in by_url if truth.get(u)]
    found = sum(1 for u in expected if by_old[u].kind == "page" and by_old[u].new_url == truth[u])
    return _task_report(started, cpu, rows=len(rows), page_rows=len(pages), right=right, expected=len(expected),
                        found=found)


def run_mode(mode: str, data: Path) -> dict:
    """The index task, then every site's mapping task, through the executor ``archiver run`` would use."""
    workers = None if mode == "inline" else int(mode.removeprefix("workers-"))
    index_file = data / f"portal-index-{mode}.pickle"
    sites = sorted(data.glob("site-*.pickle"))
    with open_executor(workers=workers) as (executor, description):
        started = time.perf_counter()
        index = executor.submit(index_task, str(data / "portal.pickle"), str(index_file)).result()
        futures = [executor.submit(map_task, str(index_file), str(site), str(data / "truth.json")) for site in sites]
        maps = [future.result() for future in futures]
        wall = time.perf_counter() - started
    index_file.unlink(missing_ok=True)
    return {"mode": mode, "cluster": description, "wall_s": round(wall, 1), "index": index, "maps": maps}


def generate(data: Path, portal_pages: int, per_site: int) -> None:
    """The portal's page facts, each legacy site's (its own host), and the truth, into ``data``."""
    old, new, truth = map_bench.generate(portal_pages)
    old = old[: SITES * per_site]
    moved = {}
    for k in range(SITES):
        site = []
        for facts in old[k::SITES]:
            url = facts.url.replace(map_bench.OLD, f"https://www.site{k + 1}.gov.si")
            moved[url] = truth[facts.url]
            site.append(facts.__class__(**{**facts.__dict__, "url": url}))
        (data / f"site-{k + 1}.pickle").write_bytes(pickle.dumps(site))
    (data / "portal.pickle").write_bytes(pickle.dumps(new))
    (data / "truth.json").write_text(json.dumps(moved))


def summarise(result: dict) -> dict:
    """Per mode: wall clock, CPU of all tasks, peak RSS per worker process, precision and recall."""
    tasks = [result["index"], *result["maps"]]
    per_worker: dict[int, float] = {}
    for task in tasks:
        per_worker[task["pid"]] = max(per_worker.get(task["pid"], 0), task["peak_rss_mb"])
    pages = sum(m["page_rows"] for m in result["maps"])
    return {"wall_s": result["wall_s"], "cpu_s": round(sum(t["cpu_s"] for t in tasks), 1),
            "index_s": result["index"]["wall_s"], "map_s": [m["wall_s"] for m in result["maps"]],
            "peak_rss_mb_per_worker": sorted(per_worker.values(), reverse=True),
            "index_bytes": result["index"]["index_bytes"],
            "precision": sum(m["right"] for m in result["maps"]) / max(1, pages),
            "recall": sum(m["found"] for m in result["maps"]) / max(1, sum(m["expected"] for m in result["maps"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 x 2,000 against 10,000")
    parser.add_argument("--run", metavar="MODE", help=argparse.SUPPRESS)  # a child: one mode on --data
    parser.add_argument("--data", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_mode(args.run, Path(args.data))))
        return
    portal_pages, per_site = (10_000, 2_000) if args.quick else (100_000, 20_000)
    with tempfile.TemporaryDirectory(prefix="programme-bench-") as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        generate(data, portal_pages, per_site)
        print(f"generated a {portal_pages:,}-page portal and {SITES} x {per_site:,} legacy pages in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
        details, rows = {"portal_pages": portal_pages, "sites": SITES, "per_site": per_site}, []
        for mode in ("inline", "workers-2"):
            load = os.getloadavg()[0]
            child = common.run_child([sys.executable, __file__, "--run", mode, "--data", str(data)],
                                     log_prefix=data / mode)
            if child.returncode != 0:
                raise SystemExit(f"{mode} failed: {Path(child.stderr_path).read_text()[-2000:]}")
            result = json.loads(Path(child.stdout_path).read_text().strip().splitlines()[-1])
            figures = summarise(result)
            details[mode] = {**figures, "load_average": load, "child": child, "tasks": result}
            print(f"{mode}: {figures['wall_s']} s wall (index {figures['index_s']} s, maps {figures['map_s']} s), "
                  f"{figures['cpu_s']} s CPU in tasks, peak RSS per worker {figures['peak_rss_mb_per_worker']} MB, "
                  f"portal index {figures['index_bytes'] / 1e6:.0f} MB on disk, precision {figures['precision']:.4f}, "
                  f"recall {figures['recall']:.4f} (load average {load:.1f})", flush=True)
            size = f"{SITES}x{per_site:,} vs {portal_pages:,}"
            rows += [common.row(f"programme {size} {mode} wall s", figures["wall_s"]),
                     common.row(f"programme {mode} peak RSS per worker MB", max(figures["peak_rss_mb_per_worker"]))]
        inline, cluster = details["inline"], details["workers-2"]
        rows += [common.row("programme --workers 2 speed-up", round(inline["wall_s"] / cluster["wall_s"], 2)),
                 common.row("portal index on disk MB", round(inline["index_bytes"] / 1e6)),
                 common.row("programme precision", round(inline["precision"], 4), ">= 0.99", inline["precision"] >= 0.99),
                 common.row("programme recall", round(inline["recall"], 4), ">= 0.97", inline["recall"] >= 0.97)]
        common.write_results("programme", rows, details)


if __name__ == "__main__":
    main()
