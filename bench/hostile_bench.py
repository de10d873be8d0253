"""Memory under hostile bodies: a crawl of a gzip bomb served as HTML and a 30 MB page, and the
bounded decoding of a brotli bomb. The figures that used to be asserted inside tests, measured here.

    .venv/bin/python bench/hostile_bench.py [--quick]

The crawl runs as a child process measured with ``os.wait4`` (peak RSS of
that process alone); the brotli decode is measured in-process with
tracemalloc (Python allocations, which is where an unbounded decoder
would put 100 MB).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CRAWL_GOAL_MB = 300
BROTLI_GOAL_MB = 16


def gzip_bomb(megabytes: int) -> bytes:
    """``megabytes`` MB of zeros, gzip'd (about 1/1000 of that), built in bounded memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(megabytes)), packer.flush()])


def serve(routes: dict[str, tuple[dict, bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            headers, body = routes.get(self.path, ({"Content-Type": "text/plain"}, b"not found"))
            self.send_response(200 if self.path in routes else 404)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def crawl_peak(bomb_mb: int, huge_mb: int) -> common.ChildRun:
    html = {"Content-Type": "text/html"}
    routes = {
        "/": (html, b'<html><body><a href="/bomb">b</a> <a href="/huge">h</a></body></html>'),
        "/bomb": ({**html, "Content-Encoding": "gzip"}, gzip_bomb(bomb_mb)),
        "/huge": (html, b"<html><body><p>" + b"word " * (huge_mb * 200_000) + b"</p></body></html>"),
    }
    server = serve(routes)
    try:
        with tempfile.TemporaryDirectory(prefix="archiver-hostile-") as out:
            base = f"http://127.0.0.1:{server.server_address[1]}/"
            return common.run_child([common.venv_bin("archiver"), "crawl", base, "--out", out, "--delay", "0",
                                     "--progress", "none"], timeout=600)
    finally:
        server.shutdown()


def brotli_peak_mb(megabytes: int) -> float | None:
    from archiver.http_message import BROTLI, BROTLI_BOUNDED, decode_body

    if not BROTLI_BOUNDED:
        return None
    packer = BROTLI.Compressor(quality=5)
    bomb = packer.process(bytes(megabytes << 20)) + packer.finish()
    tracemalloc.start()
    try:
        data, capped = decode_body(BytesIO(bomb), [("Content-Encoding", "br")], max_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert capped and len(data) == 1 << 20
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller bombs (a smoke run)")
    args = parser.parse_args()
    bomb_mb, huge_mb = (60, 5) if args.quick else (600, 30)
    run = crawl_peak(bomb_mb, huge_mb)
    brotli = brotli_peak_mb(10 if args.quick else 100)
    print(f"crawl of a {bomb_mb} MB gzip bomb and a {huge_mb} MB page: exit {run.returncode}, "
          f"peak RSS {run.peak_rss_mb:.0f} MB, {run.wall_s:.1f} s")
    print("brotli bomb decoded to its 1 MB cap: " + ("peak n/a (no bounded brotli)" if brotli is None
                                                      else f"peak {brotli:.1f} MB of Python allocations"))
    rows = [common.row("crawl peak RSS, gzip bomb + huge page (MB)", round(run.peak_rss_mb),
                       f"< {CRAWL_GOAL_MB}", run.returncode == 0 and run.peak_rss_mb < CRAWL_GOAL_MB)]
    if brotli is not None:
        rows.append(common.row("brotli bomb decode peak (MB)", round(brotli, 1), f"< {BROTLI_GOAL_MB}",
                               brotli < BROTLI_GOAL_MB))
    common.write_results("hostile", rows, {"crawl": run, "brotli_peak_mb": brotli, "bomb_mb": bomb_mb,
                                           "huge_mb": huge_mb})


if __name__ == "__main__":
    main()
