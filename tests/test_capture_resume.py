"""kill -9 at several moments of a crawl, then the same command again: nothing lost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from servers import Resource, TestServer, html
from test_capture_engine import warcio_check
from warcio.archiveiterator import ArchiveIterator

from archiver.capture.crawllog import read_crawl_log

ARCHIVER = str(Path(sys.executable).parent / "archiver")
PAGES = 60


GATE = threading.Event()  # cleared: the server holds every answer (the crawl stands still)
GATE.set()


def slow_site() -> dict:
    def page(i):
        def handle(req):
            GATE.wait(60)
            time.sleep(0.03)  # a distant server: kills land mid-fetch
            links = [f"/p{j}" for j in (i + 1, 2 * i, 2 * i + 1) if j < PAGES] + [f"/img{i}.png"]
            body = html(f"page {i}", title=f"P{i}", links=tuple(links)).replace(
                b"</body>", f'<img src="/img{i}.png"></body>'.encode())
            req.send_resource(Resource(200, {"Content-Type": "text/html; charset=utf-8"}, body))
        return handle

    def image(i):
        def handle(req):
            GATE.wait(60)
            time.sleep(0.03)
            req.send_resource(Resource(200, {"Content-Type": "image/png"}, b"\x89PNG" + bytes([i]) * 5000))
        return handle

    routes = {f"/p{i}": page(i) for i in range(PAGES)}
    routes.update({f"/img{i}.png": image(i) for i in range(PAGES)})
    routes["/"] = page(0)
    return routes


def start(url: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [ARCHIVER, "crawl", url, "--out", str(out), "--delay", "0", "--concurrency", "4",
         "--per-host-concurrency", "4", "--progress", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_hits(proc: subprocess.Popen, srv: TestServer, hits: int) -> None:
    deadline = time.monotonic() + 60
    hits += srv.mark
    while len(srv.log) < hits and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def kill_after_hits(proc: subprocess.Popen, srv: TestServer, hits: int) -> None:
    wait_hits(proc, srv, hits)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def cut_last_record(out: Path) -> str:
    """Cut the last response record of the open WARC file in half, as a crash mid-write would."""
    from archiver.capture.recovery import scan

    [open_file] = (out / "warc").glob("*.open")
    last = [m for m in scan(open_file) if m.rtype == "response" and m.complete][-1]
    os.truncate(open_file, last.start + (last.end - last.start) // 2)
    return last.uri


def test_kill_9_at_several_moments_then_resume(tmp_path):
    out = tmp_path / "crawl"
    with TestServer(slow_site(), defaults=False) as srv:
        url = srv.url("/")
        # early (robots.txt and the seed), mid-crawl, late
        for hits in (2, 30, 45):
            srv.mark = len(srv.log)
            proc = start(url, out)
            if hits == 30:  # while it runs, a second crawl of the same directory is refused
                wait_hits(proc, srv, 1)
                GATE.clear()
                try:
                    second = subprocess.run([ARCHIVER, "crawl", url, "--out", str(out), "--progress", "none"],
                                            capture_output=True, text=True, timeout=60)
                finally:
                    GATE.set()
                assert proc.poll() is None
                assert second.returncode == 4, second.stderr
                assert "another crawl" in second.stderr
            kill_after_hits(proc, srv, hits)
            assert proc.returncode == -signal.SIGKILL or hits == 45  # the last one may finish first
            if hits == 30:
                cut_url = cut_last_record(out)
                cut_at = len(srv.log)
        final = subprocess.run([ARCHIVER, "crawl", url, "--out", str(out), "--delay", "0", "--progress", "none"],
                               capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr

        cut_path = cut_url.split(url.rstrip("/"), 1)[1]
        assert any(h.path == cut_path for h in srv.log[cut_at:])  # the cut record was fetched again

    log = {row["url"]: row for row in read_crawl_log(out / "crawl.jsonl")}
    expected = {srv.url("/"), *(srv.url(f"/p{i}") for i in range(1, PAGES)),
                *(srv.url(f"/img{i}.png") for i in range(PAGES))}
    for u in expected:
        assert log[u]["state"] == "done" and log[u]["status"] == 200, u
    assert all(row["state"] != "inflight" and row["state"] != "queued" for row in log.values())

    assert not list(out.rglob("*.open"))
    warcs = sorted((out / "warc").glob("*.warc.gz"))
    warcio_check(warcs)
    responses: dict[str, int] = {}
    revisits = []
    originals = set()
    for path in warcs:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):  # reads every file to its end
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                if rec.rec_type == "response":
                    responses[uri] = responses.get(uri, 0) + 1
                    originals.add((uri, rec.rec_headers.get_header("WARC-Date")))
                elif rec.rec_type == "revisit":
                    revisits.append((rec.rec_headers.get_header("WARC-Refers-To-Target-URI"),
                                     rec.rec_headers.get_header("WARC-Refers-To-Date")))
    for u in expected:
        assert responses.get(u) == 1, (u, responses.get(u))  # captured once; a re-fetch became a revisit
    for ref in revisits:
        assert ref in originals  # every revisit resolves to a response in the archive
    # the index covers every closed file
    index = (out / "index.cdxj").read_text()
    assert all(f"warc/{p.name}" in index for p in warcs)
