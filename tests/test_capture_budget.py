"""A few hostile URLs cannot stall a crawl: each URL has a time budget for all its
attempts, a stalled or cut answer is tried once more only, and a URL waiting for its
retry holds no connection and no politeness slot.

Time is the crawler's injected clock (``servers.SiteTime``): a route that drips a byte
every 2 s adds the 2 s to that clock instead of waiting, and the coordinator's waits
for a retry are skipped the same way, so the tests check the crawler's own sense of
time, with its default budget, in a few real seconds.
"""
from __future__ import annotations

import random
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archiver.capture import CrawlConfig
from archiver.capture.crawllog import read_crawl_log
from archiver.capture.engine import Engine

from servers import Resource, SiteTime, TestServer, drip_then_silence, flaky, html, short_body

PAGES = {f"/page{i}.html": Resource(200, {"Content-Type": "text/html"}, html(f"page {i}", title=f"P{i}"))
         for i in range(18)}


def crawl_on(clock: SiteTime, seeds, out: Path, rng: random.Random | None = None, **settings):
    """Crawl with the engine on ``clock``; (crawl.jsonl by URL, the clock's time when it began
    and when it ended)."""
    config = CrawlConfig(seeds=seeds, out_dir=out, progress="none", **settings)
    began = clock()
    Engine(config, clock=clock, sleep=clock.skip, rng=rng).run()
    return {row["url"]: row for row in read_crawl_log(out / "crawl.jsonl")}, began, clock()


def response_bodies(out: Path) -> dict[str, tuple[bytes, str | None]]:
    """URL -> (payload, WARC-Truncated) of every response record."""
    found = {}
    for path in sorted((out / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    found[uri] = (record.content_stream().read(), record.rec_headers.get_header("WARC-Truncated"))
    return found


def test_a_dripping_url_costs_its_budget_and_a_cut_one_two_attempts(tmp_path):
    """The issue's site: twenty links, one dripping a byte every 2 s for 80 s and then
    silent on the open connection, one sending part of its body and closing.  With the
    default budget (120 s), retries (3) and total time-out (120 s), the dripping URL gets
    two attempts and the crawl ends about 120 s (on its clock) after it first asked."""
    clock = SiteTime()
    routes = {**PAGES, "/drip": drip_then_silence(drops=40, interval=2.0, site_time=clock),
              "/cut": short_body(announced=5000, sent=2000)}
    with TestServer(routes, defaults=False, clock=clock) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=("/drip", "/cut", *PAGES))))
        log, _, ended = crawl_on(clock, [srv.url("/")], tmp_path, timeout=1.0)  # the silence ends after 1 s
        drip_asked = [hit.time for hit in srv.hits("/drip")]
        assert srv.count("/cut") == 2  # a cut answer: once more, not three times more
    config = CrawlConfig()
    assert (config.url_budget, config.max_retries, config.total_timeout) == (120, 3, 120)
    assert len(drip_asked) == 2  # the answer stalled: tried once more, within what was left of the budget
    # on the crawl's clock: 80 s of drops and 1 s of silence, then the rest of the budget; the
    # crawl is over once that is spent, not after 4 x 81 s
    assert 81 <= drip_asked[1] - drip_asked[0] < 85
    assert config.url_budget - 1 <= ended - drip_asked[0] <= config.url_budget + 10
    drip, cut = log[srv.url("/drip")], log[srv.url("/cut")]
    assert (drip["state"], drip["status"], drip["attempts"]) == ("done", 200, 2)
    assert drip["error"].startswith("truncated (time): timed out after 1 s waiting for the server; ")
    assert "the URL's time budget of 120 s ran out after 2 attempts" in drip["error"]
    assert drip["error"].endswith("the answer of attempt 1 of 2 is kept (the most complete)")
    assert (cut["state"], cut["status"], cut["attempts"]) == ("done", 200, 2)
    assert cut["error"] == ("truncated (disconnect): the answer was cut off after 2000 of 5000 bytes; "
                            "not tried again: 2 answers stalled or were cut off")
    bodies = response_bodies(tmp_path)
    assert bodies[srv.url("/drip")] == (b"x" * 40, "time")  # the longer answer: all 40 bytes of attempt 1
    assert bodies[srv.url("/cut")] == (b"s" * 2000, "disconnect")
    # nothing else lost
    assert all(log[srv.url(p)]["state"] == "done" and log[srv.url(p)]["status"] == 200 for p in PAGES)


def test_a_url_waiting_for_its_retry_holds_no_connection_nor_slot(tmp_path):
    """One connection in all: while /busy waits out its Retry-After (30 s on the crawl's
    clock), the other site's pages are fetched; its own host rests as it asked."""
    clock = SiteTime()
    busy = flaky([Resource(503, {"Content-Type": "text/plain", "Retry-After": "30"}, b"busy")],
                 Resource(200, {"Content-Type": "text/plain"}, b"ready"))
    a_pages = {f"/a{i}": Resource(200, {"Content-Type": "text/html"}, html(f"a{i}")) for i in range(3)}
    b_pages = {f"/b{i}": Resource(200, {"Content-Type": "text/html"}, html(f"b{i}")) for i in range(5)}
    with TestServer({"/busy": busy, **a_pages}, defaults=False, clock=clock) as a, \
            TestServer(b_pages, defaults=False, clock=clock) as b:
        a.add("/", Resource(200, {"Content-Type": "text/html"}, html("a", links=("/busy", *a_pages))))
        b.add("/", Resource(200, {"Content-Type": "text/html"}, html("b", links=tuple(b_pages))))
        log, began, ended = crawl_on(clock, [a.url("/"), b.url("/")], tmp_path, concurrency=1,
                                     per_host_concurrency=1, delay=0, timeout=5)
        first, again = (hit.time for hit in a.hits("/busy"))
        b_times = [hit.time for path in b_pages for hit in b.hits(path)]
        a_times = [hit.time for path in a_pages for hit in a.hits(path)]
    assert again - first >= 30  # Retry-After honoured
    assert len(b_times) == 5 and all(first < t < again for t in b_times)  # the other host went on meanwhile
    assert all(t >= first + 30 for t in a_times)  # the busy host rested as it asked
    assert log[a.url("/busy")]["status"] == 200 and log[a.url("/busy")]["attempts"] == 2
    assert ended - began < 60  # one wait of 30 s, not one per URL queued behind it


def test_a_url_backing_off_leaves_its_hosts_slot_to_the_next_url(tmp_path):
    """One connection to the host: while /flaky waits out its back-off after a 500, the host's
    other pages are fetched.  Each of them takes a virtual second, longer than that back-off
    (0.84 s, the seeded jitter), so the retry comes after the first of them."""
    clock = SiteTime()

    def slow_page(req):
        clock.skip(1.0)
        req.send_resource(Resource(200, {"Content-Type": "text/html"}, html(req.path_only)))

    flaky_route = flaky([Resource(500, {"Content-Type": "text/plain"}, b"oops")],
                        Resource(200, {"Content-Type": "text/plain"}, b"fine"))
    pages = {f"/p{i}": slow_page for i in range(4)}
    with TestServer({"/flaky": flaky_route, **pages}, defaults=False, clock=clock) as srv:
        srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=("/flaky", *pages))))
        log, _, _ = crawl_on(clock, [srv.url("/")], tmp_path, rng=random.Random(0), concurrency=1,
                             per_host_concurrency=1, delay=0, timeout=5)
        first, again = (hit.time for hit in srv.hits("/flaky"))
        between = [hit.path for hit in srv.log if first < hit.time < again]
    assert between and between[0] == "/p0"  # the slot went to the next URL, not held for the retry
    assert log[srv.url("/flaky")]["status"] == 200 and log[srv.url("/flaky")]["attempts"] == 2
