"""kill -9 at several moments of a crawl, then the same command again: nothing lost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archiver.capture.crawllog import read_crawl_log

from servers import Resource, TestServer, html
from warcs import warcio_check

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
    """Wait until the crawl has made ``hits`` more requests; fail if it ends or stalls first."""
    deadline = time.monotonic() + 60
    want = hits + srv.mark
    while len(srv.log) < want:
        assert proc.poll() is None, f"the crawl ended (exit {proc.returncode}) after {len(srv.log) - srv.mark} " \
                                    f"of {hits} requests"
        assert time.monotonic() < deadline, f"the crawl made {len(srv.log) - srv.mark} of {hits} requests in 60 s"
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
            assert proc.returncode == -signal.SIGKILL  # 2 + 30 + 45 requests never finish 120 pages and images
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


def _limit_file_size(limit: int):
    def apply():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_stops_cleanly_then_resumes(tmp_path):
    """A write that fails (here: a file-size limit, as a full disk would) stops the crawl with one
    clear line; the WARC files stay valid and the same command finishes the crawl later."""
    import os as _os

    pages = {f"/p{i}": Resource(200, {"Content-Type": "text/html"},
                                html(_os.urandom(15_000).hex(), title=f"P{i}")) for i in range(40)}
    out = tmp_path / "crawl"
    with TestServer(pages, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=tuple(pages))))
        cmd = [ARCHIVER, "crawl", srv.url("/"), "--out", str(out), "--delay", "0", "--progress", "none"]
        full = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              preexec_fn=_limit_file_size(400_000))
        assert full.returncode == 1, full.stderr
        last = full.stderr.strip().splitlines()[-1]
        assert last.startswith("archiver crawl: cannot write") and "run the same command again" in last
        warcio_check(sorted((out / "warc").glob("*.warc.gz")))  # what was written is whole
        done_before = sum(1 for r in read_crawl_log(out / "crawl.jsonl") if r["state"] == "done")
        assert 0 < done_before < 42
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
    log = {r["url"]: r for r in read_crawl_log(out / "crawl.jsonl")}
    assert [log[srv.url(p)] for p in pages if log[srv.url(p)]["state"] != "done"] == []
    assert not list(out.rglob("*.open"))
    warcio_check(sorted((out / "warc").glob("*.warc.gz")))


def test_unusable_output_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run([ARCHIVER, "crawl", "http://127.0.0.1:9/", "--out", str(blocker / "crawl")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2  # bad input, like a bad option
    assert proc.stderr.strip().splitlines()[-1].startswith("archiver crawl: cannot create output directory")
