"""The crawler against real loopback servers (tests/servers.py): discovery,
scope, politeness, traps, robots, failures, dedup and WARC validity."""
from __future__ import annotations

import gzip
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastwarc import warc as fastwarc
from warcio.archiveiterator import ArchiveIterator

from archiver.capture import CrawlConfig, crawl
from archiver.capture import engine as enginemod
from archiver.capture.cdxj import build_index
from archiver.capture.crawllog import is_live_page, read_crawl_log
from archiver.capture.engine import Engine
from archiver.capture.fetch import Fetcher
from archiver.capture.politeness import Slot

from servers import Resource, TestServer, conditional, gzip_bomb_bytes, html, redirect
from warcs import warc_records, warcio_check

FAST = dict(delay=0, timeout=3, max_retries=1, progress="none")


def run(srv_or_seeds, out: Path, **kw):
    seeds = [srv_or_seeds.url("/")] if isinstance(srv_or_seeds, TestServer) else list(srv_or_seeds)
    summary = crawl(CrawlConfig(seeds=seeds, out_dir=out, **{**FAST, **kw}))
    log = {row["url"]: row for row in read_crawl_log(out / "crawl.jsonl")}
    return summary, log


def by_path(log: dict, srv: TestServer, path: str) -> dict:
    return log[srv.url(path)]


def test_crawls_small_legacy_site_end_to_end(tmp_path):
    with TestServer() as srv:
        srv.add("/b.html", Resource(200, {"Content-Type": "text/html"},
                                    html("B", links=("/a.html", "/private/secret.html", "/same-a", "/same-b"))))
        summary, log = run(srv, tmp_path)
    assert summary.ok and summary.failed == 0
    # pages apart from robots.txt, sitemaps, images: the summary and crawl.jsonl agree
    assert summary.pages == sum(map(is_live_page, log.values())) == 9
    assert "robots" not in {r["kind"] for r in log.values() if is_live_page(r)}
    for path in ("/", "/a.html", "/b.html", "/img.png", "/gzip", "/chunked", "/http10", "/cp1250-meta", "/etag",
                 "/robots.txt", "/sitemap.xml", "/sitemap-1.xml.gz", "/only-in-sitemap.html"):
        row = by_path(log, srv, path)
        assert row["state"] == "done" and row["status"] == 200, path
        assert row["warc_file"] and row["warc_offset"] is not None
    # robots.txt obeyed: recorded as skipped, never requested
    assert by_path(log, srv, "/private/secret.html")["skipped_reason"] == "robots"
    assert srv.count("/private/secret.html") == 0
    # identical payloads: one response, one revisit
    kinds = sorted(by_path(log, srv, p)["record_type"] for p in ("/same-a", "/same-b"))
    assert kinds == ["response", "revisit"]
    # the WARC: warcinfo first, request+response per URL, readable to the end, one line per URL in the log
    records = warc_records(tmp_path)
    assert records[0][0] == "warcinfo"
    responses = [uri for rtype, uri, _ in records if rtype in ("response", "revisit")]
    assert sorted(responses) == sorted(u for u, r in log.items() if r["state"] == "done")
    assert len(responses) == len(set(responses))
    assert not list((tmp_path / "warc").glob("*.open"))
    warcio_check(summary.warc_files)
    # every WARC offset in the log points at that URL's record
    for row in log.values():
        if row["warc_file"]:
            with open(tmp_path / "warc" / row["warc_file"], "rb") as f:
                f.seek(row["warc_offset"])
                rec = next(iter(ArchiveIterator(f)))
                assert rec.rec_headers.get_header("WARC-Target-URI") == row["url"]
    # index.cdxj, written from the crawl state, says what cdxj-indexer reading the WARC files says

    ours = (tmp_path / "index.cdxj").read_text()
    theirs = build_index(tmp_path, output=tmp_path / "reference.cdxj").read_text()
    assert ours == theirs and len(ours.splitlines()) == len(responses)


def test_fastwarc_reads_every_record(tmp_path):
    with TestServer() as srv:
        summary, log = run(srv, tmp_path)
    n = 0
    for path in summary.warc_files:
        with open(path, "rb") as f:
            for rec in fastwarc.ArchiveIterator(f, parse_http=False):
                assert rec.verify_block_digest()
                n += 1
    assert n == 1 + 2 * sum(1 for r in log.values() if r["state"] == "done")


def test_out_of_scope_hosts_ports_and_redirects_never_requested(tmp_path):
    with TestServer(defaults=False) as other, TestServer(defaults=False) as site:
        o = other.base_url
        site.add("/", Resource(200, {"Content-Type": "text/html"}, (
            f'<link rel="canonical" href="{o}/canonical"><meta http-equiv="refresh" content="0;url={o}/refresh">'
            f'<a href="{o}/linked">x</a><a href="http://localhost:{other.port}/via-name">y</a>'
            f'<img src="{o}/image.png"><a href="/away">away</a><a href="/inside">in</a>'
            f'<a href="http://169.254.169.254/latest/meta-data/">meta</a><a href="/headers">h</a>'
        ).encode()))
        site.add("/headers", Resource(200, {
            "Content-Type": "text/html", "Refresh": f"0; url={o}/refresh-header",
            "Link": f'</style.css>; rel=preload, <{o}/canonical-header>; rel="canonical", </ok>; rel=canonical'},
            b"<p>headers</p>"))
        site.add("/away", redirect(f"{o}/redirected"))
        site.add("/inside", Resource(200, {"Content-Type": "text/html"}, b"<p>inside</p>"))
        summary, log = run(site, tmp_path)
        assert other.log == []  # nothing of the other port, not even a requisite or robots.txt
        assert log[site.url("/inside")]["state"] == "done"
        assert log[site.url("/away")]["status"] == 301  # the redirect itself is archived
        assert log[site.url("/ok")]["discovered_from"] == site.url("/headers")  # Link: rel=canonical
        for path in ("/canonical", "/refresh", "/linked", "/redirected", "/image.png", "/refresh-header",
                     "/canonical-header"):
            assert log[o + path]["skipped_reason"] == "out_of_scope", path
        assert log[f"http://localhost:{other.port}/via-name"]["skipped_reason"] == "out_of_scope"
        assert log["http://169.254.169.254/latest/meta-data/"]["skipped_reason"] == "out_of_scope"


class PolitenessLog:
    """The engine's clock, which also notes every request start per host (with its slot's
    state) and every rest the engine gives a host: the engine's own decisions, checked
    exactly, however late the requests arrive on a busy machine."""

    def __init__(self, monkeypatch):
        self.starts: dict[str, list[float]] = {}
        self.rests: dict[str, list[tuple[float, float]]] = {}  # host: (when, until)
        self.peak: dict[str, int] = {}
        self.violations: list[str] = []
        self.last = 0.0
        start, rest = Slot.start, Slot.rest
        log = self

        def noting_start(slot, now):
            if not slot.ready(now):
                log.violations.append(f"{slot.host}: a start at {now} before its slot was ready")
            log.starts.setdefault(slot.host, []).append(now)
            start(slot, now)
            log.peak[slot.host] = max(log.peak.get(slot.host, 0), slot.active)

        def noting_rest(slot, until):  # the engine just read its clock: its "now"
            log.rests.setdefault(slot.host, []).append((log.last, until))
            rest(slot, until)

        monkeypatch.setattr(Slot, "start", noting_start)
        monkeypatch.setattr(Slot, "rest", noting_rest)

    def __call__(self) -> float:
        self.last = time.monotonic()
        return self.last

    def gaps(self, host: str) -> list[float]:
        starts = self.starts[host]
        return [b - a for a, b in zip(starts, starts[1:])]


def crawl_with(clock, srv, out, **kw):
    engine = Engine(CrawlConfig(seeds=[srv.url("/")], out_dir=out, **{**FAST, **kw}), clock=clock)
    return engine.run(), {row["url"]: row for row in read_crawl_log(out / "crawl.jsonl")}


class InFlight:
    """How many requests the test server is answering at once, and the most it was."""

    def __init__(self):
        self.active = self.peak = 0
        self._lock = threading.Lock()

    @contextmanager
    def answering(self):
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


def test_per_host_concurrency_and_delay_are_never_exceeded(tmp_path, monkeypatch):
    inflight = InFlight()
    arrived = threading.Barrier(2, timeout=60)

    def slow(req):
        with inflight.answering():
            if req.path in ("/p0", "/p1"):
                arrived.wait()  # the first two overlap for sure: the limit is reached, not just kept
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html("slow")))

    pages = {f"/p{i}": slow for i in range(16)}
    with TestServer(pages, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("hub", links=tuple(pages))))
        clock = PolitenessLog(monkeypatch)
        summary, log = crawl_with(clock, srv, tmp_path, concurrency=8, per_host_concurrency=2)
        assert summary.fetched == 18  # the pages and robots.txt (a 404)
        assert inflight.peak == 2 and clock.peak[f"127.0.0.1:{srv.port}"] == 2  # 8 workers, 2 at once on this host
        # and with a delay, request starts on the host are at least that far apart
        clock = PolitenessLog(monkeypatch)
        crawl_with(clock, srv, tmp_path / "delayed", concurrency=8, per_host_concurrency=4, delay=0.2)
    host = f"127.0.0.1:{srv.port}"
    assert len(clock.starts[host]) == 18 and min(clock.gaps(host)) >= 0.2
    assert clock.violations == []


def test_calendar_and_session_id_traps_terminate_with_defaults(tmp_path):
    def calendar(req):
        month = int(req.query.get("m", "0"))
        links = (f"/cal?m={month + 1}", f"/cal?m={month - 1}", f"/cal/{month}/day/1/")
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html(f"month {month}", links=links)))

    def day_path(req):  # /cal/<m>/day/1/ -> relative links that nest forever
        req.send_resource(Resource(200, {"Content-Type": "text/html"},
                                   html("day", links=("day/1/", "../next/"))))

    def session(req):  # every answer links to itself with a fresh session id, in query and path
        sid = uuid.uuid4().hex
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html(
            "s", links=(f"/shop?PHPSESSID={sid}&item=1", f"/shop;jsessionid={sid}"))))

    routes = {"/cal": calendar, "/shop": session, "/shop;jsessionid": session}
    with TestServer(routes, defaults=False) as srv:
        for prefix in range(-100, 100):
            srv.add(f"/cal/{prefix}/day/1/", day_path)
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=("/cal?m=0", "/shop?item=1"))))
        summary, log = run(srv, tmp_path, concurrency=4)
    reasons = {r["skipped_reason"] for r in log.values() if r["skipped_reason"]}
    assert "trap:max_depth" in reasons
    assert srv.count("/shop") <= 3  # session ids do not make new URLs
    assert summary.fetched < 200


def test_query_variant_cap_and_repeated_segments(tmp_path):
    def listing(req):
        n = int(req.query.get("page", "0"))
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html(
            "list", links=tuple(f"/list?page={n * 10 + i}" for i in range(1, 11)))))

    with TestServer({"/list": listing}, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("h", links=("/list?page=0", "/a/b/a/b/a/"))))
        summary, log = run(srv, tmp_path, max_query_variants=15, concurrency=4)
    assert srv.count("/list") == 15
    assert sum(1 for r in log.values() if r["skipped_reason"] == "trap:query_variants") > 0
    assert log[srv.url("/a/b/a/b/a/")]["skipped_reason"] == "trap:repeated_segment"


def test_failures_are_recorded_retries_honour_retry_after(tmp_path):
    with TestServer() as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=(
            "/error500", "/retry-after", "/reset", "/short", "/hang", "/loop-a", "/redirect/3", "/missing",
            "/drip?interval=0.5&size=100"))))
        summary, log = run(srv, tmp_path, timeout=1, total_timeout=2, max_retries=1)
        assert srv.count("/retry-after") == 2  # one 429, then the answer
        assert srv.count("/error500") == 2  # retried once, then given up
    assert by_path(log, srv, "/retry-after")["status"] == 200
    assert by_path(log, srv, "/error500")["status"] == 500  # the final answer is archived
    assert by_path(log, srv, "/missing")["status"] == 404
    for path in ("/reset", "/short", "/hang", "/drip?interval=0.5&size=100"):
        row = by_path(log, srv, path)
        assert row["error"], path  # a failure or a truncation, always with its reason
    assert by_path(log, srv, "/hang")["state"] == "failed"
    # redirect loop ends, the chain is followed to its end
    assert by_path(log, srv, "/loop-a")["status"] == 301 and by_path(log, srv, "/loop-b")["status"] == 301
    assert srv.count("/loop-a") == 1
    assert by_path(log, srv, "/redirect/0")["status"] == 200


def test_ignore_robots(tmp_path):
    with TestServer() as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=("/private/secret.html", "/a.html"))))
        summary, log = run(srv, tmp_path / "ignore", ignore_robots=True)
        assert srv.count("/private/secret.html") == 1 and srv.count("/robots.txt") == 0


@pytest.mark.parametrize("max_pages", [1, 3, 6])
def test_max_pages_fetches_at_most_that_many_urls(tmp_path, max_pages):
    """--max-pages N: at most N URLs are fetched in all, robots.txt and sitemaps included
    (the test site has a sitemap index, so both come early), and a second run of the same
    crawl fetches nothing more."""
    with TestServer() as srv:
        summary, log = run(srv, tmp_path, max_pages=max_pages)
        requested = {h.path for h in srv.log}
        fetched = [r for r in log.values() if r["state"] in ("done", "failed")]
        assert len(requested) == len(fetched) == summary.fetched + summary.failed == max_pages
        assert {r["url"] for r in fetched} == {srv.url(p) for p in requested}
        assert any(r["skipped_reason"] == "max_pages" for r in log.values())
        srv.log.clear()
        again, _ = run(srv, tmp_path, max_pages=max_pages)
        assert srv.log == [] and again.fetched + again.failed == max_pages


def test_unreachable_seed_is_a_clear_failure(tmp_path):
    with TestServer(defaults=False) as srv:
        dead = srv.base_url
    summary, log = run([dead + "/"], tmp_path, max_retries=0)
    assert not summary.ok
    assert log[dead + "/"]["state"] == "failed" and log[dead + "/"]["error"]


def test_crawl_log_is_regenerated_not_appended(tmp_path):
    with TestServer() as srv:
        run(srv, tmp_path)
        lines1 = (tmp_path / "crawl.jsonl").read_text().splitlines()
        summary, log = run(srv, tmp_path)  # the same crawl again: nothing new to do
    lines2 = (tmp_path / "crawl.jsonl").read_text().splitlines()
    assert len(lines1) == len(lines2) == len({json.loads(l)["url"] for l in lines2})


def test_incremental_recrawl_writes_revisits_and_few_bytes(tmp_path):
    text = lambda: os.urandom(10_000).hex()  # incompressible, so the WARC sizes compare real payloads
    pages = {f"/news/{i}.html": conditional(html(text(), title=f"N{i}"), etag=f'"n{i}"') for i in range(10)}
    plain = {f"/static/{i}.html": Resource(200, {"Content-Type": "text/html"}, html(text(), title=f"S{i}"))
             for i in range(5)}
    # redirects carry no validators: fetched in full each run; one with a body is then an
    # identical-payload revisit (pywb replays a 3xx revisit's own head); an empty one stays a response
    moved = {"/moved": Resource(301, {"Location": "/news/0.html", "Content-Type": "text/html"}, b"<p>Moved</p>"),
             "/moved-empty": Resource(302, {"Location": "/news/1.html"}, b"")}
    with TestServer({**pages, **plain, **moved}, defaults=False) as srv:
        srv.add("/", conditional(html("home", links=(*pages, *plain, *moved)), etag='"home"'))
        first, _ = run(srv, tmp_path / "run1")
        first_size = sum(p.stat().st_size for p in first.warc_files)
        srv.log.clear()
        second, log = run(srv, tmp_path / "run2", previous=tmp_path / "run1")
        assert not list((tmp_path / "run1").glob("*-wal")) + list((tmp_path / "run1").glob("*-shm"))
        assert all(h.headers.get("If-None-Match") == f'"n{i}"' for i in range(10)
                   for h in srv.hits(f"/news/{i}.html"))
        third, log3 = run(srv, tmp_path / "run3", previous=tmp_path / "run2")
        for path in (tmp_path / "run1" / "warc").glob("*"):  # the oldest run pruned
            path.unlink()
        _, log4 = run(srv, tmp_path / "run4", previous=tmp_path / "run3")
    # its records gone, unchanged pages are fetched in full again and their links still followed
    assert all(log4[srv.url(f"/news/{i}.html")]["status"] == 200 for i in range(10))
    # a third run against the second: links are still found through the first run's records
    assert all(log3[srv.url(f"/news/{i}.html")]["status"] == 304 for i in range(10))
    records = warc_records(tmp_path / "run2")
    profiles = {uri: profile for rtype, uri, profile in records if rtype == "revisit"}
    for i in range(10):
        assert profiles[srv.url(f"/news/{i}.html")].endswith("server-not-modified")
        assert log[srv.url(f"/news/{i}.html")]["status"] == 304
    for i in range(5):  # no validators, same payload as last run: deduplicated across runs
        assert profiles[srv.url(f"/static/{i}.html")].endswith("identical-payload-digest")
    assert profiles[srv.url("/moved")].endswith("identical-payload-digest")
    assert ("response", srv.url("/moved-empty"), None) in records
    assert sum(p.stat().st_size for p in second.warc_files) < 0.3 * first_size
    assert second.revisits == 18  # the pages, the home page, /moved and robots.txt (the same 404 page)


def test_index_after_an_incremental_recrawl_matches_cdxj_indexer(tmp_path):
    """index.cdxj written from the crawl state says what cdxj-indexer says reading the WARC
    files, also after a re-crawl full of 304s: those server-not-modified revisits stay out
    (pywb would replay an empty 304), identical-payload revisits stay in."""
    pages = {f"/news/{i}.html": conditional(html(f"news {i}", title=f"N{i}"), etag=f'"n{i}"') for i in range(4)}
    plain = {f"/static/{i}.html": Resource(200, {"Content-Type": "text/html"}, html(f"static {i}")) for i in range(3)}
    with TestServer({**pages, **plain}, defaults=False) as srv:
        srv.add("/", conditional(html("home", links=(*pages, *plain)), etag='"home"'))
        run(srv, tmp_path / "run1")
        second, log = run(srv, tmp_path / "run2", previous=tmp_path / "run1")
    assert second.not_modified == 5 and sum(1 for r in log.values() if r["status"] == 304) == 5
    ours = (tmp_path / "run2" / "index.cdxj").read_text()
    theirs = build_index(tmp_path / "run2", output=tmp_path / "reference.cdxj").read_text()
    assert ours == theirs
    indexed = {json.loads(line.split(" ", 2)[2])["url"] for line in ours.splitlines()}
    assert all(srv.url(p) in indexed for p in plain)  # identical payloads: revisits, indexed
    assert not any(srv.url(p) in indexed for p in pages)  # 304s: not indexed


def test_hostile_bodies_are_archived_raw(tmp_path):
    """A 600 MB gzip bomb served as HTML, a 30 MB body, binary garbage as text/html and a page
    whose charset lies: the crawl finishes and the WARC keeps the raw bytes (its peak memory is
    measured in bench/hostile_bench.py, not asserted here)."""
    bomb = gzip_bomb_bytes()
    with TestServer() as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=(
            "/bomb", "/huge?size=30000000", "/garbage", "/cp1250-wrong", "/a.html"))))
        proc = subprocess.run([str(Path(sys.executable).parent / "archiver"), "crawl", srv.url("/"),
                               "--out", str(tmp_path), "--delay", "0", "--progress", "none"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    log = {row["url"]: row for row in read_crawl_log(tmp_path / "crawl.jsonl")}
    for path in ("/bomb", "/huge?size=30000000", "/garbage", "/cp1250-wrong", "/a.html", "/b.html"):
        assert log[srv.url(path)]["state"] == "done", path
    # the bomb is archived as sent: its gzip'd bytes, not 600 MB
    with open(tmp_path / "warc" / log[srv.url("/bomb")]["warc_file"], "rb") as f:
        f.seek(log[srv.url("/bomb")]["warc_offset"])
        record = next(iter(ArchiveIterator(f)))
        assert record.http_headers.get_header("Content-Encoding") == "gzip"
        assert record.raw_stream.read() == bomb


def test_urls_are_fetched_exactly_as_written(tmp_path):
    odd = ["/a;b=1,c", "/q?x=$1&y={z}", "/enc%2Fslash%3Fq", "/sp ace.html", "/nl%0Aencoded", "/quote'd",
           "/%7Euser/", "/" + "L" * 10_000]
    links = "".join(f'<a href="{u}">x</a>' for u in odd)
    links += '<a href="javascript:alert(1)">j</a><a href="data:text/html,hi">d</a><a href="mailto:a@b.si">m</a>'
    with TestServer(defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, links.encode()))
        summary, log = run(srv, tmp_path)
        requested = [h.path for h in srv.log]
    assert "/a;b=1,c" in requested and "/q?x=$1&y={z}" in requested
    assert "/enc%2Fslash%3Fq" in requested and "/nl%0Aencoded" in requested and "/%7Euser/" in requested
    assert "/sp%20ace.html" in requested and "/quote'd" in requested
    assert log[srv.url("/" + "L" * 10_000)]["skipped_reason"] == "trap:url_length"
    assert not any(p.startswith("/" + "L" * 100) for p in requested)
    assert not any("alert" in u or "mailto" in u or u.startswith("data:") for u in log)


def test_credentials_are_sent_but_not_archived(tmp_path):
    with TestServer() as srv:
        run(srv, tmp_path, max_pages=2, extra_headers={"Authorization": "Bearer s3cret", "Cookie": "sid=s3cret"})
        assert srv.hits("/")[0].headers["Authorization"] == "Bearer s3cret"
    data = b"".join(p.read_bytes() for p in (tmp_path / "warc").glob("*.warc.gz"))

    text = gzip.decompress(data)
    assert b"s3cret" not in text and b"Authorization: [redacted]" in text


def test_hostile_sitemaps_are_harmless(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<urlset><url><loc>/x&x;</loc></url><url><loc>/ok.html</loc></url></urlset>').encode()
    with TestServer(defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home")))
        srv.add("/sitemap.xml", Resource(200, {"Content-Type": "application/xml"}, xxe))
        srv.add("/ok.html", Resource(200, {"Content-Type": "text/html"}, html("ok")))
        summary, log = run(srv, tmp_path / "c", sitemaps=[srv.url("/sitemap.xml")])
        assert srv.count("/sitemap.xml") == 1
        assert srv.count("/ok.html") == 0  # a sitemap declaring a DTD is refused whole (archiver/sitemaps.py)
        assert not any("TOPSECRET" in h.path for h in srv.log)


def test_a_seed_redirecting_to_another_origin_brings_that_origin_into_scope(tmp_path):
    """http://site -> https://www.site is the site itself; only a seed's own redirect does this."""
    with TestServer(defaults=False) as new, TestServer(defaults=False) as old:
        old.add("/", redirect(new.url("/")))
        new.add("/", Resource(200, {"Content-Type": "text/html"}, html("new home", links=("/page.html",))))
        new.add("/page.html", Resource(200, {"Content-Type": "text/html"}, html("page")))
        summary, log = run(old, tmp_path)
        assert summary.ok and new.count("/page.html") == 1
        # resumed or re-run, the scope is remembered
        summary, log = run(old, tmp_path)
    assert log[new.url("/page.html")]["state"] == "done"


def test_identical_payloads_fetched_at_once_make_one_response(tmp_path):
    same = {f"/copy{i}": Resource(200, {"Content-Type": "text/plain"}, b"the same payload\n" * 100) for i in range(8)}
    with TestServer(same, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=tuple(same))))
        summary, log = run(srv, tmp_path, concurrency=8, per_host_concurrency=8)
    kinds = sorted(log[srv.url(p)]["record_type"] for p in same)
    assert kinds == ["response"] + ["revisit"] * 7


def test_a_host_that_stays_overloaded_is_paused(tmp_path, monkeypatch):
    busy = Resource(503, {"Content-Type": "text/plain", "Retry-After": "2"}, b"busy")
    pages = {f"/p{i}": Resource(200, {"Content-Type": "text/html"}, html(f"p{i}")) for i in range(3)}
    with TestServer({"/busy": busy, **pages}, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=("/busy", *pages))))
        clock = PolitenessLog(monkeypatch)
        summary, log = crawl_with(clock, srv, tmp_path, max_retries=0, per_host_concurrency=1)
    assert log[srv.url("/busy")]["status"] == 503
    host = f"127.0.0.1:{srv.port}"
    [(rested_at, until)] = clock.rests[host]
    assert until - rested_at == pytest.approx(2)  # the Retry-After seconds
    later = [t for t in clock.starts[host] if t > rested_at]
    assert later and min(later) >= until  # nothing on the host meanwhile
    assert clock.violations == []
    assert all(log[srv.url(p)]["state"] == "done" for p in pages)


def test_a_public_looking_name_for_a_private_address_is_not_fetched(tmp_path):
    """An image on another host is a requisite we may fetch, unless its name resolves to a
    private address (the machine's own name here): then it is an intranet, out of scope."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}
    except OSError:
        addresses = set()
    if not addresses or not all(a.startswith("127.") or a == "::1" for a in addresses):
        pytest.skip("this machine's name does not resolve to a loopback address")
    with TestServer(defaults=False) as intranet, TestServer(defaults=False) as site:
        site.add("/", Resource(200, {"Content-Type": "text/html"},
                               f'<img src="http://{name}:{intranet.port}/secret.png">'.encode()))
        summary, log = run(site, tmp_path)
        assert intranet.log == []
    assert log[f"http://{name}:{intranet.port}/secret.png"]["skipped_reason"] == "out_of_scope"


@pytest.mark.parametrize("max_pages", [None, 5])
def test_recorders_wait_for_the_link_budget_without_deadlock(tmp_path, monkeypatch, max_pages):
    """Parsed links waiting for the coordinator are bounded: with a budget of one link every
    link-carrying result waits for the previous one to be applied, and the crawl still ends
    (with several recording threads, which then go on one at a time)."""
    monkeypatch.setattr(enginemod, "LINK_BUDGET", 1)
    monkeypatch.setattr(enginemod, "RECORDING_THREADS", 3)
    waits = []
    real = enginemod.Engine._wait_for_link_budget

    def wait(self):
        waits.append(self.held_links)
        return real(self)

    monkeypatch.setattr(enginemod.Engine, "_wait_for_link_budget", wait)
    real_apply = enginemod.Engine._apply_one

    def slow_apply(self, r):  # a coordinator behind the recorders, as with huge hub pages
        if getattr(r, "held_links", 0):
            time.sleep(0.05)
        real_apply(self, r)

    monkeypatch.setattr(enginemod.Engine, "_apply_one", slow_apply)
    with TestServer() as srv:
        pages = [f"/p{i}.html" for i in range(12)]
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("hub", links=tuple(pages))))
        for i, page in enumerate(pages):
            srv.add(page, Resource(200, {"Content-Type": "text/html"},
                                   html(f"page {i}", links=tuple(pages[i:i + 3]) + ("/",))))
        eng = enginemod.Engine(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "out", concurrency=4,
                                           per_host_concurrency=4, ignore_robots=True, max_pages=max_pages,
                                           **FAST))
        summary = eng.run()
    assert summary.fetched == (max_pages or 13)
    assert eng.held_links == 0
    assert any(n >= enginemod.LINK_BUDGET for n in waits)  # some recorder did have to wait


def test_a_recorder_waiting_for_the_link_budget_goes_on_when_the_crawl_stops(tmp_path):
    eng = enginemod.Engine(CrawlConfig(seeds=["http://example.org/"], out_dir=tmp_path, **FAST))
    eng.held_links = enginemod.LINK_BUDGET  # a coordinator that will never apply them
    waiting = threading.Event()

    class Watched(threading.Condition):
        def wait(self, timeout=None):
            waiting.set()
            return super().wait(timeout)

    eng.held_changed = Watched()
    waited = []
    recorder = threading.Thread(target=lambda: waited.append(eng._wait_for_link_budget()))
    recorder.start()
    assert waiting.wait(60)  # the recorder waits for the coordinator...
    assert recorder.is_alive() and waited == []  # ...and goes on waiting while it is behind
    eng.stopping.set()
    recorder.join(60)
    assert waited == [True]  # once the crawl stops, it goes on


def test_requests_of_a_host_without_a_delay_hand_on_to_standby_urls(tmp_path, monkeypatch):
    """Without a delay, a fetching thread whose request ended starts the next URL of that
    host itself (from the host's standby); every URL is still fetched once, and the host
    never has more requests in flight than allowed.  With a delay, or while the crawl's limit
    rather than the host's is reached, nothing is handed on."""
    handed = noting_hand_ons(monkeypatch)
    inflight = InFlight()

    def page(req):
        with inflight.answering():
            time.sleep(0.02)  # requests overlap, so the slot fills and URLs wait in its standby
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html("p")))

    pages = {f"/p{i}": page for i in range(30)}
    with TestServer(pages, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("hub", links=tuple(pages))))
        clock = PolitenessLog(monkeypatch)
        summary, log = crawl_with(clock, srv, tmp_path, concurrency=8, per_host_concurrency=3, ignore_robots=True)
        assert summary.fetched == 31 and all(srv.count(p) == 1 for p in pages)
        urls = [url for _, url in handed]
        assert urls and set(urls) <= {srv.url(p) for p in pages} and len(set(urls)) == len(urls)
        assert inflight.peak <= 3 and clock.peak[f"127.0.0.1:{srv.port}"] <= 3
        assert clock.violations == []
        handed.clear()
        summary, _ = crawl_with(PolitenessLog(monkeypatch), srv, tmp_path / "delayed", concurrency=8,
                                per_host_concurrency=3, delay=0.01, ignore_robots=True)
        assert summary.fetched == 31 and handed == []
        # the crawl's own limit holds the host back, not the host's: URLs wait their turn in the queue
        summary, _ = crawl_with(PolitenessLog(monkeypatch), srv, tmp_path / "crawl-bound", concurrency=2,
                                per_host_concurrency=4, ignore_robots=True)
        assert summary.fetched == 31 and handed == []


def test_a_thread_going_on_to_a_standby_url_tells_of_its_last_answer_once_that_request_is_out(
        tmp_path, monkeypatch):
    """A fetching thread that starts a standby URL sends its freed slot and its last answer
    while that URL's request is in flight, not before it, and every answer is recorded."""
    fetching = threading.local()
    fetch = Fetcher.fetch

    def noting_fetch(self, url, *args, **kwargs):
        fetching.url = url
        try:
            return fetch(self, url, *args, **kwargs)
        finally:
            fetching.url = None

    sent_during = []  # (URL handed on to, URL being fetched as the report is sent)
    report = enginemod._AnswerReport.__call__

    def noting_report(self):
        if self.free is not None and self.free.handed_to is not None:
            sent_during.append((self.free.handed_to.url, getattr(fetching, "url", None)))
        report(self)

    monkeypatch.setattr(Fetcher, "fetch", noting_fetch)
    monkeypatch.setattr(enginemod._AnswerReport, "__call__", noting_report)
    handed = noting_hand_ons(monkeypatch)

    def page(req):
        time.sleep(0.02)  # requests overlap, so URLs wait in the host's standby
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html("p")))

    pages = {f"/p{i}": page for i in range(30)}
    with TestServer(pages, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("hub", links=tuple(pages))))
        summary, log = run(srv, tmp_path, concurrency=8, per_host_concurrency=3, ignore_robots=True)
        assert summary.fetched == 31 and all(srv.count(p) == 1 for p in pages)
    assert handed and sorted(handed_to for handed_to, _ in sent_during) == sorted(url for _, url in handed)
    assert all(fetched == handed_to for handed_to, fetched in sent_during)
    assert all(row["state"] == "done" and row["warc_file"] for row in log.values())
    recorded = [url for kind, url, _ in warc_records(tmp_path) if kind in ("response", "revisit")]
    assert sorted(recorded) == sorted(log)


def test_an_answer_the_recorders_have_no_room_for_waits_in_its_thread_until_delivered():
    """The report never waits inside a request: with the recorders' queue full it sends the
    freed slot and keeps the answer; ``deliver()`` (after that request) waits for room."""
    engine = type("Queues", (), {})()
    engine.results, engine.recording = queue.Queue(), queue.Queue(maxsize=1)
    engine.recording.put("an earlier answer")
    report = enginemod._AnswerReport(engine, "slot free", "answer")
    report()
    assert engine.results.get_nowait() == "slot free" and report.fetched == "answer"
    report()  # the request was resent: nothing is sent twice
    assert engine.results.empty()
    delivering = threading.Thread(target=report.deliver)
    delivering.start()
    assert engine.recording.get(timeout=30) == "an earlier answer"  # a recorder takes one...
    assert engine.recording.get(timeout=30) == "answer"  # ...and the waiting answer goes in
    delivering.join(30)
    assert not delivering.is_alive() and engine.results.empty()


def noting_hand_ons(monkeypatch) -> list[tuple[float, str]]:
    """(clock time, URL) of every standby URL a fetching thread starts, appended as they start."""
    handed = []
    hand_on = Slot.hand_on

    def noting_hand_on(slot, now):
        task = hand_on(slot, now)
        if task is not None:
            handed.append((now, task.url))
        return task

    monkeypatch.setattr(Slot, "hand_on", noting_hand_on)
    return handed


def test_urls_waiting_in_a_standby_wait_for_the_end_of_a_rest(tmp_path, monkeypatch):
    """A 503 rests the host: the URLs dispatched into its standby are not handed on by the
    requests that end during the rest, and each is fetched once, after it."""
    def page(req):
        time.sleep(0.05)
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html("p")))

    busy = Resource(503, {"Content-Type": "text/plain", "Retry-After": "1"}, b"busy")
    pages = {f"/p{i}": page for i in range(12)}
    with TestServer({"/busy": busy, **pages}, defaults=False) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=("/busy", *pages))))
        clock = PolitenessLog(monkeypatch)
        handed = noting_hand_ons(monkeypatch)
        summary, log = crawl_with(clock, srv, tmp_path, max_retries=0, concurrency=4, per_host_concurrency=2,
                                  ignore_robots=True)
        assert all(srv.count(p) == 1 for p in pages) and srv.count("/busy") == 1
    host = f"127.0.0.1:{srv.port}"
    [(rested_at, until)] = clock.rests[host]
    starts = clock.starts[host] + [t for t, _ in handed]
    assert not [t for t in starts if rested_at < t < until]  # nothing started meanwhile
    assert [t for t in starts if t >= until]  # the pages waiting came after it
    assert clock.violations == []
    assert all(log[srv.url(p)]["state"] == "done" for p in pages)
    assert summary.fetched == 14 and summary.queued == 0


def test_a_host_that_keeps_a_standby_does_not_keep_another_hosts_urls_waiting(tmp_path):
    """Two sites, two connections: while the first site's pages fill both, the second's image
    (a requisite: it goes first) takes the next free connection instead of waiting behind
    pages the first site keeps handing on to its own standby."""
    def page(req):
        time.sleep(0.03)
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html("p")))

    pages = {f"/p{i}": page for i in range(30)}
    with TestServer(pages, defaults=False) as a, TestServer(defaults=False) as b:
        a.add("/", Resource(200, {"Content-Type": "text/html"}, html("a", links=tuple(pages))))
        b.add("/", Resource(200, {"Content-Type": "text/html"}, b'<p>b</p><img src="/logo.png">'))
        b.add("/logo.png", Resource(200, {"Content-Type": "image/png"}, b"\x89PNG"))
        summary, log = run([a.url("/"), b.url("/")], tmp_path, concurrency=2, per_host_concurrency=2,
                           ignore_robots=True)
        assert summary.fetched == 33
        [logo] = b.hits("/logo.png")
        later = [hit for hit in a.log if hit.path.startswith("/p") and hit.time > logo.time]
    assert len(later) > 15  # requested before most of them
