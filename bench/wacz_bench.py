"""WACZ packing: ``archiver wacz`` vs py-wacz's ``wacz create``, same WARC files.

The collection is the audit bench's (``audit_bench.generate``: HTML pages, some
chunked or gzip'd, incompressible images, CSS, 404s; about 100 MB per file),
placed as ``DIR/warc/*.warc.gz`` so it reads as a crawl directory. Each packer
runs as its own child process (wall clock, CPU, peak RSS via
``common.run_child``):

* ``archiver wacz DIR``: the CDXJ in gzip blocks, pages.jsonl with title and
  main text (trafilatura through ``archiver.extract``) for every 2xx HTML
  page, the WARC files stored, every file hashed;
* ``wacz create --detect-pages --text``: py-wacz's index, its page text
  (boilerpy3), the same zip layout.

Both packages are then checked with ``wacz validate``. Goal: ours within 1.5x
py-wacz's wall clock, as ours extracts main text with a heavier extractor.
``--quick`` packs 100 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_bench import generate  # noqa: E402
from common import format_table, row, run_child, venv_bin, write_results  # noqa: E402

GOAL = 1.5


def crawl_dir_of(files: list[Path], crawl_dir: Path) -> Path:
    """A crawl directory whose warc/ links to ``files``."""
    warc_dir = crawl_dir / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        link = warc_dir / path.name
        if not link.exists():
            link.symlink_to(path)
    return crawl_dir


def page_count(wacz: Path) -> int:
    with zipfile.ZipFile(wacz) as package:
        return max(0, len(package.read("pages/pages.jsonl").splitlines()) - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="100 MB instead of the default")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "archiver-wacz-bench"))
    args = parser.parse_args()
    size = 100 if args.quick else args.size_mb
    files = generate(Path(args.dir) / f"{size}mb", size)
    crawl_dir = crawl_dir_of(files, Path(args.dir) / f"crawl-{size}mb")
    ours, theirs = Path(args.dir) / "ours.wacz", Path(args.dir) / "py-wacz.wacz"
    total_bytes = sum(f.stat().st_size for f in files)
    commands = {
        "archiver wacz": [sys.executable, "-m", "archiver", "wacz", str(crawl_dir), "--out", str(ours)],
        "py-wacz create": [venv_bin("wacz"), "create", "--detect-pages", "--text", "-o", str(theirs),
                           *map(str, files)],
    }
    runs, load = {}, {}
    for name, cmd in commands.items():
        load[name] = os.getloadavg()[0]
        runs[name] = run_child(cmd, log_prefix=Path(args.dir) / name.replace(" ", "-"))
    valid = {name: run_child([venv_bin("wacz"), "validate", "-f", str(path)]).returncode == 0
             for name, path in (("archiver wacz", ours), ("py-wacz create", theirs))}
    rows = []
    for name, run in runs.items():
        ok = run.returncode == 0
        rows.append(row(f"{name}: MB/s (WARC on disk)", round(total_bytes / 1e6 / run.wall_s, 1) if ok else None))
        rows.append(row(f"{name}: wall s / CPU s / peak RSS MB / load before",
                        f"{run.wall_s:.1f} / {run.cpu_s:.1f} / {run.peak_rss_mb:.0f} / {load[name]:.2f}"))
        rows.append(row(f"{name}: passes wacz validate", valid[name], "true", valid[name]))
    rows.append(row("archiver wacz: pages with text", page_count(ours) if ours.exists() else None))
    ratio = runs["archiver wacz"].wall_s / runs["py-wacz create"].wall_s
    rows.append(row("archiver wacz wall / py-wacz wall", round(ratio, 2), f"<= {GOAL}", ratio <= GOAL))
    rows.append(row("archiver wacz CPU / py-wacz CPU", round(runs["archiver wacz"].cpu_s / runs["py-wacz create"].cpu_s, 2)))
    print(format_table(rows, title=f"wacz bench: {len(files)} files, {total_bytes / 1e6:.0f} MB"))
    write_results("wacz", rows, {"files": len(files), "bytes": total_bytes, "runs": runs, "load_before": load,
                                 "valid": valid, "ours": json.loads(json.dumps(str(ours)))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
