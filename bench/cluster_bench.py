"""Audit on a Dask cluster (issue 10): ``--workers 1`` vs ``--workers 2`` vs the no-flag default, same files.

Generates (or reuses) a collection of ``--files`` .warc.gz files of about
``--file-mb`` MB each (audit_bench's generator: HTML pages, images, CSS,
404s, one gzip member per record) and runs ``archiver audit DIR`` as a child
process per configuration, in ``--rounds`` interleaved rounds (the order
rotates each round, the load average is recorded before each run): the
machine is shared, and a ratio means something only beside its load. Every
run must write the same audit.json numbers.

Then, in this process, what the plan for a big cluster needs: the pickled
size of each file's partial inventory and detection summary (what travels
from a worker to the client), the client's CPU per record to take them in
and its memory per distinct URL once merged (tracemalloc), and each
worker's peak memory (asked of the workers of a local Dask cluster after an
audit).

    .venv/bin/python bench/cluster_bench.py              # 200 files x 5 MB, 3 rounds
    .venv/bin/python bench/cluster_bench.py --quick      # 200 files x 1 MB, 1 round
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_bench import generate  # noqa: E402
from common import format_table, machine, row, run_child, write_results  # noqa: E402

CONFIGS = {"--workers 1": ["--workers", "1"], "--workers 2": ["--workers", "2"], "no flag": []}
SAMPLE_FILES = 20


def _numbers(report: Path) -> dict:
    data = json.loads(report.read_text())
    data.pop("generated")
    data["summary"].pop("cluster")
    return data


def _peak_rss_mb() -> float:
    """This process's peak resident memory (run on each Dask worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_sizes(data_dir: Path, files: list[Path]) -> dict:
    """Pickled partials per file (a sample); the client's CPU and memory to merge them (two local processes
    scanning); the workers' peak memory (a local Dask cluster of two)."""
    from concurrent.futures import ProcessPoolExecutor

    from distributed import Client, LocalCluster

    from archiver import scan
    from archiver.audit.inventory import InventoryPart, scan_range, take_inventory
    from archiver.detect.pages import scan_pages
    from archiver.warc import expand_inputs

    sample = files[:: max(1, len(files) // SAMPLE_FILES)][:SAMPLE_FILES]
    per_file = []
    for path in sample:
        ((whole,),) = (task.ranges for task in scan.plan(expand_inputs([path]), part=1 << 40))
        inventory, _ = scan_range(whole)
        pages, _ = scan_pages(whole, ())
        per_file.append({"file_mb": path.stat().st_size / 1e6, "records": inventory.inv.records,
                         "urls": len(inventory.inv.urls), "audit_partial_kb": len(pickle.dumps(inventory)) / 1e3,
                         "detect_partial_kb": len(pickle.dumps(pages)) / 1e3})
    sources = expand_inputs([data_dir])
    with ProcessPoolExecutor(2) as pool:
        started = time.process_time()
        merged = InventoryPart()
        for partial in scan.scan_in_order(pool, scan_range, scan.plan(sources)):
            merged.merge(partial)
        client_cpu = time.process_time() - started
        del partial
        gc.collect()
        tracemalloc.start()  # again, to see what the merged inventory holds in memory
        merged = InventoryPart()
        for partial in scan.scan_in_order(pool, scan_range, scan.plan(sources)):
            merged.merge(partial)
        del partial
        gc.collect()
        client_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        inventory = take_inventory([data_dir], executor=client.get_executor(pure=False))
        worker_rss = client.run(_peak_rss_mb)
    return {
        "sample": per_file,
        "audit_partial_kb_per_file": statistics.median(f["audit_partial_kb"] for f in per_file),
        "audit_partial_bytes_per_record": statistics.median(f["audit_partial_kb"] * 1e3 / f["records"]
                                                            for f in per_file),
        "detect_partial_kb_per_file": statistics.median(f["detect_partial_kb"] for f in per_file),
        "records": merged.inv.records, "urls": len(merged.inv.urls),
        "originals_indexed": len(merged.originals.by_url_date),
        "client_merge_us_per_record": client_cpu / merged.inv.records * 1e6,
        "client_bytes_per_url": client_bytes / len(merged.inv.urls),
        "merged_inventory_mb_pickled": len(pickle.dumps(inventory)) / 1e6,
        "worker_peak_rss_mb": max(worker_rss.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--file-mb", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 MB files, one round")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "archiver-cluster-bench"))
    args = parser.parse_args()
    file_mb, rounds = (1, 1) if args.quick else (args.file_mb, args.rounds)
    data_dir = Path(args.dir) / f"{args.files}x{file_mb}mb"
    files = generate(data_dir, args.files * file_mb + file_mb, file_mb=file_mb)
    total = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {total / 1e6:.0f} MB in {data_dir}", flush=True)

    names = list(CONFIGS)
    runs: dict[str, list] = {name: [] for name in names}
    reports = {}
    for number in range(rounds):
        order = names[number % len(names):] + names[:number % len(names)]
        for name in order:
            out = Path(args.dir) / f"report-{name.replace(' ', '').replace('-', '')}"
            load = os.getloadavg()[0]
            run = run_child([sys.executable, "-m", "archiver", "audit", str(data_dir), "--out", str(out),
                             *CONFIGS[name]], log_prefix=Path(args.dir) / f"run-{number}-{name.replace(' ', '')}")
            if run.returncode != 0:
                print(f"{name}: exit {run.returncode}\n{run.tail()}")
                return 1
            runs[name].append({"wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb,
                               "load_before": load})
            reports[name] = _numbers(out / "audit.json")
            print(f"round {number + 1} {name}: {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, load {load:.2f}",
                  flush=True)
    same = all(reports[name] == reports[names[0]] for name in names)
    wall = {name: statistics.median(r["wall_s"] for r in runs[name]) for name in names}
    fastest = {name: min(r["wall_s"] for r in runs[name]) for name in names}
    per_round = [runs["--workers 1"][i]["wall_s"] / runs["--workers 2"][i]["wall_s"] for i in range(rounds)]
    speedup = wall["--workers 1"] / wall["--workers 2"]
    write_results("cluster", [], {"machine": machine(), "runs": runs, "files": len(files), "bytes": total})
    sizes = measure_sizes(data_dir, files)
    records = reports[names[0]]["summary"]["records"]
    rows = [row("files / MB / records", f"{len(files)} / {total / 1e6:.0f} / {records}"),
            row("same audit.json numbers in every configuration", same, "true", same)]
    for name in names:
        loads = [r["load_before"] for r in runs[name]]
        rows.append(row(f"{name}: median wall s (CPU s, peak RSS MB, load before)",
                        f"{wall[name]:.1f} ({statistics.median(r['cpu_s'] for r in runs[name]):.1f}, "
                        f"{max(r['peak_rss_mb'] for r in runs[name]):.0f}, "
                        f"{min(loads):.1f}-{max(loads):.1f})"))
    rows += [
        row("speed-up, 2 workers over 1 (median wall)", round(speedup, 2), ">= 1.7", speedup >= 1.7),
        row("speed-up, 2 workers over 1 (fastest runs)", round(fastest["--workers 1"] / fastest["--workers 2"], 2)),
        row("speed-up per round", ", ".join(f"{r:.2f}" for r in per_round)),
        row("no flag (local processes) over --workers 2", round(wall["--workers 2"] / wall["no flag"], 2)),
        row("audit partial per file, KB (median of a sample)", round(sizes["audit_partial_kb_per_file"], 1)),
        row("audit partial, bytes per record", round(sizes["audit_partial_bytes_per_record"], 1)),
        row("detect partial per file, KB", round(sizes["detect_partial_kb_per_file"], 1)),
        row("merged inventory on the client, MB pickled (URLs)",
            f"{sizes['merged_inventory_mb_pickled']:.1f} ({sizes['urls']})"),
        row("client: merge CPU us per record (unpickling included)", round(sizes["client_merge_us_per_record"], 1)),
        row("client: memory per distinct URL, bytes (inventory and revisit index)",
            round(sizes["client_bytes_per_url"])),
        row("worker peak RSS MB", round(sizes["worker_peak_rss_mb"])),
    ]
    print(format_table(rows, title=f"cluster bench: {len(files)} files, {total / 1e6:.0f} MB, {rounds} rounds"))
    write_results("cluster", rows, {"machine": machine(), "runs": runs, "sizes": sizes, "files": len(files),
                                    "bytes": total, "records": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
