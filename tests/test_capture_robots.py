"""robots.txt as RFC 9309 says, against a real loopback server, and the rules module on its own.

Each test here breaks if one documented rule is dropped: a 5xx robots.txt
blocks the host, our own user agent's group wins over ``*``, Crawl-delay
spaces the requests to a host.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from archiver.capture import CrawlConfig, crawl
from archiver.capture import robots
from archiver.capture.crawllog import read_crawl_log

from servers import Resource, TestServer, html

UA = "archiver/0.1 (website archiving crawler)"
PAGES = ("/a.html", "/b.html", "/private/c.html")


def site(robots_answer: Resource) -> TestServer:
    srv = TestServer(defaults=False)
    srv.add("/", Resource(200, {"Content-Type": "text/html"}, html("home", links=PAGES)))
    for path in PAGES:
        srv.add(path, Resource(200, {"Content-Type": "text/html"}, html(path)))
    srv.add("/robots.txt", robots_answer)
    return srv


def crawl_site(srv: TestServer, out: Path, **kw) -> dict[str, dict]:
    crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=out, delay=0, timeout=5, progress="none", **kw))
    return {row["url"]: row for row in read_crawl_log(out / "crawl.jsonl")}


def robots_txt(text: str) -> Resource:
    return Resource(200, {"Content-Type": "text/plain"}, text.encode())


@pytest.mark.parametrize("status", [500, 503])
def test_robots_txt_answering_5xx_blocks_the_whole_host(tmp_path, status):
    with site(Resource(status, {"Content-Type": "text/plain"}, b"overloaded")) as srv:
        log = crawl_site(srv, tmp_path, max_retries=0)
        requested = {hit.path for hit in srv.log}
    assert requested == {"/robots.txt"}  # not even the seed
    assert log[srv.url("/")]["skipped_reason"] == "robots_unavailable"


def test_robots_txt_answering_404_means_no_rules(tmp_path):
    with site(Resource(404, {"Content-Type": "text/plain"}, b"none")) as srv:
        log = crawl_site(srv, tmp_path)
        requested = {hit.path for hit in srv.log}
    assert requested == {"/robots.txt", "/", *PAGES}
    assert all(log[srv.url(p)]["state"] == "done" for p in PAGES)


@pytest.mark.parametrize("rules, fetched, refused", [
    # * may fetch nothing, but our group allows everything except /private/
    ("User-agent: *\nDisallow: /\n\nUser-agent: archiver\nDisallow: /private/\n", ("/a.html", "/b.html"),
     "/private/c.html"),
    # * may fetch everything, but our group forbids /b.html
    ("User-agent: *\nAllow: /\n\nUser-agent: archiver\nDisallow: /b.html\n", ("/a.html", "/private/c.html"),
     "/b.html"),
])
def test_our_own_user_agent_group_wins_over_the_star_group(tmp_path, rules, fetched, refused):
    with site(robots_txt(rules)) as srv:
        log = crawl_site(srv, tmp_path)
        requested = {hit.path for hit in srv.log}
    assert requested == {"/robots.txt", "/", *fetched}
    assert log[srv.url(refused)]["skipped_reason"] == "robots"


def test_crawl_delay_spaces_the_requests_to_a_host(tmp_path):
    """Requests are dispatched a Crawl-delay apart; the server sees them with some scheduling jitter
    either way, so the bound is half the delay: without Crawl-delay (delay 0, 4 connections to the
    host) the three pages come within milliseconds of each other."""
    with site(robots_txt("User-agent: archiver\nCrawl-delay: 1\nAllow: /\n")) as srv:
        crawl_site(srv, tmp_path, concurrency=4, per_host_concurrency=4)
        starts = sorted(hit.time for hit in srv.log if hit.path != "/robots.txt")
    assert len(starts) == 4
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.5, gaps


# --- the rules on their own ---------------------------------------------------------------------

def test_parse_by_status():
    assert robots.parse(503, b"").disallow_all and robots.parse(500, b"User-agent: *\nAllow: /").disallow_all
    assert robots.parse(503, b"").skip_reason == "robots_unavailable"
    assert not robots.parse(499, b"User-agent: *\nDisallow: /").disallow_all
    for status in (None, 301, 404, 499):
        rules = robots.parse(status, b"User-agent: *\nDisallow: /")
        assert rules.allowed("http://x.example/a", UA) and rules.crawl_delay(UA) is None and rules.sitemaps() == []
    rules = robots.parse(200, b"User-agent: *\nDisallow: /\nCrawl-delay: 2\nSitemap: http://x.example/s.xml")
    assert not rules.disallow_all and rules.skip_reason == "robots"
    assert not rules.allowed("http://x.example/a", UA) and rules.crawl_delay(UA) == 2.0
    assert rules.sitemaps() == ["http://x.example/s.xml"]
    assert robots.parse(299, b"User-agent: *\nDisallow: /").allowed("http://x.example/a", UA) is False
    assert robots.parse(200, b"").allowed("http://x.example/a", UA) is True


def test_only_the_first_500_kib_are_read():
    filler = b"# " + b"x" * robots.MAX_ROBOTS_BYTES + b"\n"
    inside = robots.parse(200, b"User-agent: *\nDisallow: /in\n#" + filler[: robots.MAX_ROBOTS_BYTES - 40])
    assert not inside.allowed("http://x.example/in", UA)
    beyond = robots.parse(200, b"User-agent: *\n" + filler + b"Disallow: /out\n")
    assert beyond.allowed("http://x.example/out", UA)


def test_robots_url_and_the_cache_fetch_once_per_origin():
    assert robots.robots_url("https://x.example:8443/a/b?c#d") == "https://x.example:8443/robots.txt"
    cache = robots.RobotsCache()
    assert cache.get("http://x.example/a") is None
    assert cache.claim("http://x.example/a") and not cache.claim("http://x.example/b")
    assert cache.claim("https://x.example/a")  # another origin
    cache.forget_pending()
    assert cache.claim("http://x.example/c")
    rules = robots.parse(404, b"")
    cache.store("http://x.example/z", rules)
    assert cache.get("http://x.example/q") is rules and not cache.claim("http://x.example/q")


def test_redirects_and_odd_bytes_and_parser_crashes_mean_no_rules_not_a_crash(monkeypatch, caplog):
    for status in (300, 301, 399):  # redirects are not followed: no rules
        assert robots.parse(status, b"User-agent: *\nDisallow: /").allowed("http://x.example/a", UA)
    # a byte that is not UTF-8 does not stop the rules around it from applying
    rules = robots.parse(200, b"# caf\xe9\nUser-agent: *\nDisallow: /private\n")
    assert not rules.allowed("http://x.example/private", UA) and rules.allowed("http://x.example/public", UA)

    def crash(text):
        raise ValueError("parser bug")

    monkeypatch.setattr(robots.Protego, "parse", crash)
    with caplog.at_level("WARNING", logger="archiver.capture.robots"):
        rules = robots.parse(200, b"User-agent: *\nDisallow: /")
    assert rules.allowed("http://x.example/a", UA) and not rules.disallow_all
    assert caplog.messages == ["unparseable robots.txt, treating as no rules: parser bug"]
