"""Audit throughput (issue 4): ``archiver audit`` vs ``warcio index`` vs a FastWARC read, same files.

Generates a collection of about ``--size-mb`` MB of .warc.gz (default 1024):
request + response pairs for HTML pages (some chunked, some gzip'd), images
(incompressible), CSS/JS, a few revisits and 404s, one gzip member per record,
about 100 MB per file. Each reader runs as its own child process (wall clock,
CPU, peak RSS via ``common.run_child``):

* ``archiver audit DIR --out ...``: everything the audit does (block and
  payload digests, de-chunking, decoding, HTML/CSS parsing for requisites,
  the report);
* ``warcio index -f offset,length,warc-type,warc-target-uri,http:status``;
* ``warcio check``: warcio's own digest verification (the like-for-like part
  of the audit's integrity work);
* FastWARC: iterate every record and read its whole block.

Goal: the audit no slower than ``warcio index`` (records/s and MB/s printed
side by side). Rerun at a smaller size with ``--size-mb 200`` or ``--quick``;
``--one-file`` reads the same records as one big .warc.gz (the audit must cut
it at record boundaries to use every core). The load average before each run
is recorded: the machine is shared, and wall clock means little without it.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, row, run_child, venv_bin, write_results  # noqa: E402

WORDS = ("ministry interior press release police migration asylum council minister budget report statement "
         "public order security border procedure application form notice archive regional office").split()
FASTWARC_READ = """
import sys
from fastwarc.warc import ArchiveIterator
records = 0
for name in sys.argv[1:]:
    with open(name, "rb") as fh:
        for record in ArchiveIterator(fh, parse_http=True):
            record.reader.read()
            records += 1
print(records)
"""


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _record(rec_type: str, url: str, block: bytes, payload: bytes | None, extra: dict | None = None) -> bytes:
    headers = {"WARC-Type": rec_type, "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>", "WARC-Date": "2024-05-01T10:00:00Z",
               "WARC-Target-URI": url, "Content-Type": f"application/http; msgtype={'request' if rec_type == 'request' else 'response'}",
               "WARC-Block-Digest": _sha1(block)}
    if payload is not None:
        headers["WARC-Payload-Digest"] = _sha1(payload)
    headers.update(extra or {})
    headers["Content-Length"] = str(len(block))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return gzip.compress(head.encode() + block + b"\r\n\r\n", compresslevel=6)


def _chunk(body: bytes, size: int = 8192) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                    for i in range(0, len(body), size)) + b"0\r\n\r\n"


def _html(rng: random.Random, base: str, n: int, pages: int) -> bytes:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2500, 6000)))
    links = "".join(f'<a href="{base}/page/{rng.randrange(pages)}.html">more</a> ' for _ in range(30))
    imgs = "".join(f'<img src="{base}/img/{rng.randrange(pages * 2)}.jpg"> ' for _ in range(3))
    return (f'<html><head><title>Page {n}</title><link rel="stylesheet" href="{base}/site.css"></head>'
            f"<body><h1>Page {n}</h1>{imgs}<p>{words}</p>{links}</body></html>").encode()


def generate(out: Path, size_mb: int, seed: int = 7, file_mb: int = 100) -> list[Path]:
    """Write the collection in files of about ``file_mb`` MB (reused when already there at this size)."""
    marker = out / (f".complete-{size_mb}" if file_mb == 100 else f".complete-{size_mb}-{file_mb}")
    if marker.exists():
        return sorted(out.glob("*.warc.gz"))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.warc.gz"):
        old.unlink()
    rng = random.Random(seed)
    base = "http://www.example.gov"
    target = size_mb * 1024 * 1024
    pages = max(50, size_mb * 12)
    written, serial, n = 0, 0, 0
    fh = None
    file_size = 0
    while written < target:
        if fh is None or file_size > file_mb * 1024 * 1024:
            if fh:
                fh.close()
            serial += 1
            fh = open(out / f"bench-{serial:05d}.warc.gz", "wb")
            file_size = 0
        n += 1
        kind = rng.random()
        if kind < 0.45:
            url, body, ctype = f"{base}/page/{n % pages}.html", _html(rng, base, n, pages), "text/html; charset=utf-8"
        elif kind < 0.9:
            url, body, ctype = f"{base}/img/{n % (pages * 2)}.jpg", rng.randbytes(rng.randint(20_000, 80_000)), "image/jpeg"
        elif kind < 0.95:
            url, body, ctype = f"{base}/site.css", b"body{background:url(/img/1.jpg)}" * 200, "text/css"
        else:
            url, body, ctype = f"{base}/missing/{n}", b"<html>not found</html>", "text/html"
        status = 404 if "/missing/" in url else 200
        headers = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}", f"Content-Type: {ctype}"]
        wire = body
        if ctype.startswith("text/html") and rng.random() < 0.3:
            wire = gzip.compress(body, compresslevel=1)
            headers.append("Content-Encoding: gzip")
        payload = wire
        if rng.random() < 0.3:
            wire = _chunk(wire)
            headers.append("Transfer-Encoding: chunked")
        else:
            headers.append(f"Content-Length: {len(wire)}")
        http = ("\r\n".join(headers) + "\r\n\r\n").encode() + wire
        request = f"GET {url[len(base):]} HTTP/1.1\r\nHost: www.example.gov\r\nUser-Agent: bench\r\n\r\n".encode()
        for data in (_record("request", url, request, None), _record("response", url, http, payload)):
            fh.write(data)
            written += len(data)
            file_size += len(data)
    fh.close()
    marker.write_text(str(n))
    return sorted(out.glob("*.warc.gz"))


def _concatenate(files: list[Path], target: Path) -> Path:
    """One .warc.gz of all the files' gzip members, in order (reused when already there)."""
    if not target.exists() or target.stat().st_size != sum(f.stat().st_size for f in files):
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            for f in files:
                with open(f, "rb") as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="200 MB instead of the default")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "archiver-audit-bench"))
    parser.add_argument("--one-file", action="store_true", help="the same records concatenated into one .warc.gz")
    args = parser.parse_args()
    size = 200 if args.quick else args.size_mb
    data_dir = Path(args.dir) / f"{size}mb"
    files = generate(data_dir, size)
    if args.one_file:
        data_dir = Path(args.dir) / f"{size}mb-one-file"
        files = [_concatenate(files, data_dir / "all.warc.gz")]
    total_bytes = sum(f.stat().st_size for f in files)
    report_dir = Path(args.dir) / "report"
    names = [str(f) for f in files]
    commands = {
        "archiver audit": [sys.executable, "-m", "archiver", "audit", str(data_dir), "--out", str(report_dir)],
        "warcio index": [venv_bin("warcio"), "index", "-f", "offset,length,warc-type,warc-target-uri,http:status",
                         "-o", os.devnull, *names],
        "warcio check": [venv_bin("warcio"), "check", *names],
        "fastwarc read": [sys.executable, "-c", FASTWARC_READ, *names],
    }
    runs, load = {}, {}
    for name, cmd in commands.items():
        load[name] = os.getloadavg()[0]
        runs[name] = run_child(cmd)
    import json

    audit = json.loads((report_dir / "audit.json").read_text())
    records = audit["summary"]["records"]
    rows, details = [], {"files": len(files), "bytes": total_bytes, "records": records, "runs": runs,
                         "load_before": load}
    for name, run in runs.items():
        # warcio check exits 1 here: it digests chunked bodies with their framing (warcio issue #74)
        ok = run.returncode == 0 or (name == "warcio check" and run.returncode == 1)
        rows.append(row(f"{name}: records/s", round(records / run.wall_s) if ok else None))
        rows.append(row(f"{name}: MB/s (gzip'd on disk)", round(total_bytes / 1e6 / run.wall_s, 1) if ok else None))
        rows.append(row(f"{name}: records per CPU s", round(records / run.cpu_s) if ok and run.cpu_s else None))
        rows.append(row(f"{name}: wall s / CPU s / peak RSS MB / load before",
                        f"{run.wall_s:.1f} / {run.cpu_s:.1f} / {run.peak_rss_mb:.0f} / {load[name]:.2f}"))
    ratio = runs["warcio index"].wall_s / runs["archiver audit"].wall_s
    rows.append(row("audit speed / warcio index speed (wall)", round(ratio, 2), ">= 1.0", ratio >= 1.0))
    cpu_ratio = runs["warcio index"].cpu_s / runs["archiver audit"].cpu_s
    rows.append(row("audit speed / warcio index speed (CPU)", round(cpu_ratio, 2)))
    check_ratio = runs["warcio check"].wall_s / runs["archiver audit"].wall_s
    rows.append(row("audit speed / warcio check speed (wall)", round(check_ratio, 2)))
    print(format_table(rows, title=f"audit bench: {len(files)} files, {total_bytes / 1e6:.0f} MB, {records} records"))
    write_results("audit-one-file" if args.one_file else "audit", rows, details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
