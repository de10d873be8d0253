"""Replay through pywb: the real test that the archive works."""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from archiver.capture import CrawlConfig, crawl

from servers import CP1250_TEXT, TestServer, html

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cdxj_timestamps(index: Path) -> dict[str, str]:
    stamps = {}
    for line in index.read_text().splitlines():
        _surt, stamp, data = line.split(" ", 2)
        stamps[json.loads(data)["url"]] = stamp
    return stamps


@pytest.fixture
def crawled(tmp_path):
    with TestServer() as srv:
        summary = crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "crawl", delay=0, progress="none"))
        yield srv, summary


def test_pywb_replays_gzip_chunked_and_windows_1250_pages(crawled, tmp_path):
    if not (BIN / "wayback").exists():
        pytest.skip("pywb is not installed")
    srv, summary = crawled
    root = tmp_path / "pywb"
    root.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run([str(BIN / "wb-manager"), "init", "coll"], cwd=root, check=True, capture_output=True, env=env)
    subprocess.run([str(BIN / "wb-manager"), "add", "coll", *map(str, summary.warc_files)], cwd=root, check=True,
                   capture_output=True, env=env)
    port = free_port()
    proc = subprocess.Popen([str(BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "wayback did not start"
                time.sleep(0.2)
        stamps = cdxj_timestamps(summary.index)

        def replay(path: str) -> requests.Response:
            url = srv.url(path)
            resp = requests.get(f"{base}/coll/{stamps[url]}id_/{url}", timeout=30)
            assert resp.status_code == 200, (path, resp.status_code)
            return resp

        gz = replay("/gzip")  # Content-Encoding kept; the client decodes it
        assert gz.content == gzip.decompress(srv.routes["/gzip"].body)
        chunked = replay("/chunked")
        assert chunked.content == html("chunked page " * 20, title="Chunked")
        cp = replay("/cp1250-meta")
        assert cp.content == srv.routes["/cp1250-meta"].body  # the original bytes, not re-encoded
        assert CP1250_TEXT in cp.content.decode("cp1250")
        sitemap_only = replay("/only-in-sitemap.html")
        assert b"orphan" in sitemap_only.content
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
