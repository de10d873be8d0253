"""Revisit-heavy reading (issue 9): ``archiver detect`` and ``archiver audit`` vs ``warcio index``, same records.

Generates one ``.warc.gz`` of HTML pages, images and many revisits of them
(by WARC-Refers-To, by URL and date, and by payload digest alone as Heritrix
writes them), copies it ``--copies`` times (default 50) into a directory, and
packs the same files into a WACZ whose members are stored (as WACZ writers
store them). Each tool runs as its own child process (``common.run_child``):

* ``archiver detect DIR`` and ``archiver audit DIR``;
* the same two on the WACZ;
* ``warcio index`` over the same files (it cannot open a WACZ: its figure is
  the reference for both).

Goals: detect within 2x ``warcio index``'s wall clock, audit at least as fast.
Rounds alternate the order of the tools; figures are medians.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import os
import random
import shutil
import sys
import tempfile
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, median, row, run_child, venv_bin, write_results  # noqa: E402

BASE = "http://www.example.gov"
PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _record(rec_type: str, url: str, block: bytes, date: str, extra: dict | None = None,
            payload: bytes | None = None) -> tuple[str, bytes]:
    record_id = f"<urn:uuid:{uuid.uuid4()}>"
    headers = {"WARC-Type": rec_type, "WARC-Record-ID": record_id, "WARC-Date": date, "WARC-Target-URI": url,
               "Content-Type": "application/http; msgtype=response", "WARC-Block-Digest": _sha1(block)}
    if payload is not None:
        headers["WARC-Payload-Digest"] = _sha1(payload)
    headers.update(extra or {})
    headers["Content-Length"] = str(len(block))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return record_id, gzip.compress(head.encode() + block + b"\r\n\r\n", compresslevel=6)


def generate(path: Path, pages: int, revisits: int, seed: int = 9) -> int:
    """One file: ``pages`` originals (HTML and images) and ``revisits`` revisit records of them."""
    rng = random.Random(seed)
    words = "ministry press release notice archive office budget report minister council".split()
    originals = []
    records = 0
    with open(path, "wb") as out:
        for n in range(pages):
            if n % 3:
                url, ctype = f"{BASE}/page/{n}.html", "text/html; charset=utf-8"
                body = (f"<html><head><title>Page {n}</title></head><body><h1>Page {n}</h1><p>"
                        + " ".join(rng.choice(words) for _ in range(rng.randint(800, 3000)))
                        + f'</p><a href="{BASE}/page/{rng.randrange(pages)}.html">next</a></body></html>').encode()
            else:
                url, ctype, body = f"{BASE}/img/{n}.jpg", "image/jpeg", rng.randbytes(rng.randint(5_000, 40_000))
            http = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            date = f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z"
            record_id, data = _record("response", url, http + body, date, payload=body)
            out.write(data)
            originals.append((url, date, record_id, body, ctype))
            records += 1
        for n in range(revisits):
            url, date, record_id, body, ctype = originals[rng.randrange(len(originals))]
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            extra = {"WARC-Profile": PROFILE, "WARC-Truncated": "length", "WARC-Payload-Digest": _sha1(body)}
            if n % 3 == 0:
                extra.update({"WARC-Refers-To": record_id})
            elif n % 3 == 1:
                extra.update({"WARC-Refers-To-Target-URI": url, "WARC-Refers-To-Date": date})
            _, data = _record("revisit", url, head, f"2024-06-{1 + n % 28:02d}T10:00:00Z", extra)
            out.write(data)
            records += 1
    return records


def build(directory: Path, copies: int, pages: int, revisits: int) -> tuple[Path, Path, list[Path], int]:
    """The directory of copies and the stored WACZ of the same files (reused when present)."""
    warcs = directory / "warcs"
    wacz = directory / "collection.wacz"
    marker = directory / f".complete-{copies}-{pages}-{revisits}"
    if marker.exists():
        return warcs, wacz, sorted(warcs.glob("*.warc.gz")), int(marker.read_text())
    shutil.rmtree(directory, ignore_errors=True)
    warcs.mkdir(parents=True)
    first = warcs / "copy-000.warc.gz"
    per_file = generate(first, pages, revisits)
    for n in range(1, copies):
        shutil.copyfile(first, warcs / f"copy-{n:03d}.warc.gz")
    files = sorted(warcs.glob("*.warc.gz"))
    with zipfile.ZipFile(wacz, "w") as z:
        for f in files:
            z.write(f, f"archive/{f.name}", compress_type=zipfile.ZIP_STORED)
        z.writestr("datapackage.json", '{"profile": "data-package", "resources": []}')
    marker.write_text(str(per_file * copies))
    return warcs, wacz, files, per_file * copies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--revisits", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 copies, one round")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "archiver-reader-bench"))
    args = parser.parse_args()
    copies, rounds = (10, 1) if args.quick else (args.copies, args.rounds)
    work = Path(args.dir)
    warcs, wacz, files, records = build(work / "data", copies, args.pages, args.revisits)
    size = sum(f.stat().st_size for f in files)
    archiver = [sys.executable, "-m", "archiver"]
    commands = {
        "warcio index": [venv_bin("warcio"), "index", "-f", "offset,length,warc-type,warc-target-uri,http:status",
                         "-o", os.devnull, *map(str, files)],
        "detect (files)": [*archiver, "detect", str(warcs), "--out", str(work / "notices.jsonl")],
        "audit (files)": [*archiver, "audit", str(warcs), "--out", str(work / "audit-files")],
        "detect (stored WACZ)": [*archiver, "detect", str(wacz), "--out", str(work / "notices-wacz.jsonl")],
        "audit (stored WACZ)": [*archiver, "audit", str(wacz), "--out", str(work / "audit-wacz")],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    failed: dict[str, int] = {}
    loads = []
    names = list(commands)
    for number in range(rounds):
        loads.append(os.getloadavg()[0])
        for name in (names if number % 2 == 0 else names[::-1]):
            run = run_child(commands[name])
            if run.returncode != 0:
                failed[name] = run.returncode
                print(f"{name} exited {run.returncode}: {run.tail()}", file=sys.stderr)
            walls[name].append(run.wall_s)
            cpus[name].append(run.cpu_s)
    wall = {name: median(values) for name, values in walls.items()}
    reference = wall["warcio index"]
    rows = [row(f"{name}: wall s (median of {rounds}) / CPU s", f"{wall[name]:.2f} / {median(cpus[name]):.2f}")
            for name in commands]
    for name, goal, limit in (("detect (files)", "<= 2.0", 2.0), ("detect (stored WACZ)", "<= 2.0", 2.0),
                              ("audit (files)", "<= 1.0", 1.0), ("audit (stored WACZ)", "<= 1.0", 1.0)):
        ratio = wall[name] / reference
        rows.append(row(f"{name} / warcio index (wall)", round(ratio, 2), goal,
                        ratio <= limit and name not in failed))
    title = (f"reader bench: {copies} copies, {len(files)} files, {size / 1e6:.1f} MB, {records} records "
             f"({args.revisits * copies} revisits), load {min(loads):.1f}-{max(loads):.1f}")
    print(format_table(rows, title=title))
    write_results("reader", rows, {"files": len(files), "bytes": size, "records": records, "walls": walls,
                                   "cpus": cpus, "load_before_rounds": loads, "failed": failed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
