"""``archiver run``, ``archiver diff`` and ``archiver schedule``: scheduled jobs."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from archiver.cluster import add_cluster_arguments
from archiver.errors import UsageError
from archiver.jobs.diff import diff_runs, format_diff
from archiver.jobs.history import JobHistory
from archiver.jobs.manifest import load_manifest
from archiver.jobs.run import run_job
from archiver.jobs.schedule import schedule_text
from archiver.outputs import writable_file

EPILOG = """exit status: 0 ok, 1 failure (e.g. disk full), 2 bad manifest, options or
unreachable seeds, 3 audit under [audit] fail_under, 4 another run of the job
holds its lock"""


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run a job manifest: crawl, detect, map, export, audit (locked, incremental, with history)",
                         description="Run the whole job of MANIFEST under OUT/<name>/runs/<UTC time>/ and point OUT/<name>/latest at it.",
                         epilog=EPILOG)
    run.add_argument("manifest", metavar="MANIFEST.toml")
    run.add_argument("--out", default="output", metavar="DIR", help="output root (default: output/)")
    run.add_argument("-q", "--quiet", action="store_true", help="print only the one-line summary (for cron mail)")
    run.add_argument("--json-summary", metavar="FILE", help="also write the run summary as JSON to FILE")
    add_cluster_arguments(run, default="in this process")

    diff = sub.add_parser("diff", help="what changed between two runs of a job (URLs and redirect rows)",
                          description="JOB_DIR (OUT/<name>): the latest run against the one before. "
                                      "Two run directories: the second against the first.")
    diff.add_argument("paths", nargs="+", metavar="JOB_DIR_OR_RUN_DIR")
    diff.add_argument("--json", action="store_true", help="print the full diff as JSON")
    diff.add_argument("--limit", type=int, default=50, help="URLs listed per section (default 50)")

    schedule = sub.add_parser("schedule", help="print a crontab line and a systemd timer for a job manifest")
    schedule.add_argument("manifest", metavar="MANIFEST.toml")
    schedule.add_argument("--out", default="output", metavar="DIR", help="output root (default: output/)")
    schedule.add_argument("--at", default="02:30", metavar="HH:MM", help="time of day (default 02:30)")
    schedule.add_argument("--weekday", metavar="DAY", help="run weekly on this day (mon..sun) instead of daily")


def run(args) -> int:
    return {"run": _run, "diff": _diff, "schedule": _schedule}[args.command](args)


def _run(args) -> int:
    if args.json_summary and not Path(args.json_summary).absolute().parent.is_dir():
        raise UsageError(f"--json-summary: no such directory: {Path(args.json_summary).absolute().parent}")
    if args.json_summary:
        writable_file(args.json_summary, "--json-summary file")
    if args.quiet:  # cron: the one-line summary and real problems only
        logging.getLogger().setLevel(logging.WARNING)
    manifest = load_manifest(args.manifest)
    if "demo" in manifest.plugged:  # the demo manifest: its sites are generated and served here
        from archiver.demo import embedded_sites

        with embedded_sites(manifest, Path(args.out)) as (live, _pair):
            return run_job(live, args.out, quiet=args.quiet, json_summary=args.json_summary, workers=args.workers,
                           scheduler=args.scheduler).exit_code
    return run_job(manifest, args.out, quiet=args.quiet, json_summary=args.json_summary, workers=args.workers,
                   scheduler=args.scheduler).exit_code


def _diff(args) -> int:
    if args.limit < 0:
        raise UsageError(f"--limit: expected a number >= 0, got {args.limit}")
    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"{path}: no such directory")
    if len(paths) == 1:
        runs = JobHistory(paths[0]).completed()
        if not runs:
            raise UsageError(f"{paths[0]}: not a job directory with completed runs (expected OUT/<name>/runs/...)")
        latest = JobHistory(paths[0]).latest() or runs[-1]
        at = next((i for i, r in enumerate(runs) if r.name == latest.name), len(runs) - 1)
        before, after = (runs[at - 1] if at > 0 else None), runs[at]
    elif len(paths) == 2:
        before, after = paths
    else:
        raise UsageError("diff takes a job directory, or two run directories")
    diff = diff_runs(before, after)
    print(json.dumps(diff, indent=1, ensure_ascii=False) if args.json else format_diff(diff, limit=args.limit))
    return 0


def _schedule(args) -> int:
    manifest = load_manifest(args.manifest)
    print(schedule_text(args.manifest, manifest.name, args.out, at=args.at, weekday=args.weekday), end="")
    return 0
