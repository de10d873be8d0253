"""Run every bench script present and print one summary table.

Each ``bench/*_bench.py`` runs as its own process (so one's memory and CPU
do not colour another's) with its default size, or ``--quick`` for a smoke
run when the script supports it. Scripts print their own detail as they go;
the summary comes from the JSON files each writes (rows ``{"metric", "value",
"goal", "ok"}`` under ``summary``, see common.py). Each run writes into its
own ``bench/results/runs/<UTC time>-<pid>/`` (others may run benches on the
same checkout at once) and copies the files up to ``bench/results/``.

    .venv/bin/python bench/run.py                 # everything, full size
    .venv/bin/python bench/run.py --quick         # smoke run, a few minutes
    .venv/bin/python bench/run.py --only crawl frontier
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ORDER = ["crawl", "frontier", "map", "audit"]  # others present run after these


def bench_scripts() -> dict[str, Path]:
    found = {p.name.removesuffix("_bench.py"): p for p in common.BENCH_DIR.glob("*_bench.py")}
    return {name: found[name] for name in sorted(found, key=lambda n: (
        ORDER.index(n) if n in ORDER else len(ORDER), n))}


def run_script(name: str, script: Path, quick: bool, results_dir: Path) -> dict:
    """Run one bench script with its results going to its own directory."""
    cmd = [sys.executable, str(script)]
    if quick and "--quick" in script.read_text(errors="replace"):
        cmd.append("--quick")
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    out_dir = results_dir / name
    out_dir.mkdir(parents=True)
    env = dict(os.environ, BENCH_RESULTS_DIR=str(out_dir))
    started = time.time()
    rc = subprocess.run(cmd, cwd=common.REPO_DIR, env=env).returncode
    elapsed = time.time() - started
    results = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            results.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            results.append({"bench": path.stem, "summary": [
                common.row("results file unreadable", str(exc), ok=False)]})
            continue
        shutil.copy2(path, common.RESULTS_DIR / path.name)  # the latest figures, one file per bench
    return {"name": name, "rc": rc, "elapsed_s": elapsed, "results": results}


def summary_rows(outcome: dict) -> list[dict]:
    rows = [common.row(f"[{outcome['name']}] exit code, elapsed s",
                       f"{outcome['rc']}, {outcome['elapsed_s']:.0f}", "0", outcome["rc"] == 0)]
    if not outcome["results"]:
        rows.append(common.row(f"[{outcome['name']}] results", "no results file written"))
    for result in outcome["results"]:
        for r in result.get("summary", []):
            rows.append(dict(r, metric=f"[{result.get('bench', outcome['name'])}] {r['metric']}"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke-sized runs")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="bench names to run (e.g. crawl frontier map audit)")
    args = parser.parse_args(argv)

    scripts = bench_scripts()
    if args.only:
        unknown = set(args.only) - set(scripts)
        if unknown:
            parser.error(f"no such bench: {', '.join(sorted(unknown))} "
                         f"(present: {', '.join(scripts)})")
        scripts = {n: p for n, p in scripts.items() if n in args.only}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results_dir = common.RESULTS_DIR / "runs" / f"{stamp}-{os.getpid()}"
    results_dir.mkdir(parents=True)
    outcomes = [run_script(name, path, args.quick, results_dir) for name, path in scripts.items()]

    rows = [r for outcome in outcomes for r in summary_rows(outcome)]
    m = common.machine()
    print("\n" + common.format_table(
        rows, f"bench summary ({'quick' if args.quick else 'full'}; "
              f"{m['cpus']} CPUs, Python {m['python']})"))
    summary = json.dumps({"quick": args.quick, "machine": m, "rows": rows}, indent=2) + "\n"
    for path in (results_dir / "summary.json", common.RESULTS_DIR / "summary.json"):
        path.write_text(summary)
    print(f"\nresults: {results_dir}")
    return 0 if all(o["rc"] == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
