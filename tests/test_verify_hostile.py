"""Hostile and broken servers get a verdict, never a hang or a request outside
the allowed hosts; politeness and Retry-After run through a clock/sleep seam.

The old site (``BASE_URL``) and the new site are loopback test servers; a
third server, the *canary*, stands for an intranet service: it is on
127.0.0.1 too, never allowed, and its request log must stay empty.
"""
from __future__ import annotations

import threading

import pytest

from archiver.capture.config import CrawlConfig
from archiver.errors import UsageError
from archiver.export.urls import parse_url
from archiver.verify import verify_redirects
from archiver.verify.gate import HostGate
from archiver.verify.hosts import HostPolicy
from archiver.verify.rows import expected_row

from servers import Resource, TestServer, drip, flaky, gzip_bomb, html, redirect

FAST = CrawlConfig(delay=0, max_retries=0, timeout=5, total_timeout=20)
OLD = "http://old.example"


class FakeTime:
    """A clock that only moves when something sleeps: waits are recorded, never spent."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(round(seconds, 3))
            self.now += seconds


@pytest.fixture
def sites():
    with TestServer(defaults=False) as old, TestServer() as new, TestServer() as canary:
        yield old, new, canary


def check(old, rows, **kwargs):
    kwargs.setdefault("config", FAST)
    return {o.old_url: o for o in verify_redirects(rows, old.base_url, **kwargs).outcomes}


def test_hostile_targets_get_verdicts_and_nothing_out_of_scope_is_requested(sites):
    old, new, canary = sites
    new.add("/to-canary", redirect(canary.url("/secret")))  # loopback, another port: not allowed
    new.add("/to-metadata", redirect("http://169.254.169.254/latest/meta-data/"))
    new.add("/to-intranet", redirect("http://10.1.2.3/admin"))
    new.add("/to-localhost", redirect("http://localhost:%d/secret" % canary.port))
    new.add("/slow", drip(interval=0.05, size=10_000))
    new.add("/bomb-page", gzip_bomb)
    targets = {"loop": "/loop-a", "drip": "/slow", "bomb": "/bomb-page", "canary": "/to-canary",
               "metadata": "/to-metadata", "intranet": "/to-intranet", "localhost": "/to-localhost"}
    for name, path in targets.items():
        old.add(f"/{name}", redirect(new.url(path)))
    old.add("/old-to-private", redirect(canary.url("/secret")))
    rows = [expected_row(f"{OLD}/{name}", new.url(path), "301") for name, path in targets.items()]
    rows.append(expected_row(f"{OLD}/old-to-private", new.url("/a.html"), "301"))
    config = CrawlConfig(delay=0, max_retries=2, timeout=5, total_timeout=0.5)
    got = check(old, rows, allowed_hosts=[new.base_url], config=config)
    verdicts = {url.rsplit("/", 1)[1]: o.verdict for url, o in got.items()}
    assert verdicts == {"loop": "loop", "drip": "error", "bomb": "error", "canary": "off_host",
                        "metadata": "off_host", "intranet": "off_host", "localhost": "off_host",
                        "old-to-private": "off_host"}
    assert "total deadline" in got[f"{OLD}/drip"].detail and new.count("/slow") == 1  # cut, not retried
    assert "decompression bomb" in got[f"{OLD}/bomb"].detail
    assert got[f"{OLD}/metadata"].chain[-1] == "off_host: hxxp[:]//169[.]254[.]169[.]254/latest/meta-data/"
    assert got[f"{OLD}/loop"].chain[1:] == (f"301 {new.url('/loop-a')}", f"301 {new.url('/loop-b')}",
                                            f"loop: {new.url('/loop-a')}")
    assert canary.log == []
    assert {h.path for h in new.log} <= {"/", *targets.values(), "/loop-b"}


def test_private_targets_are_requested_only_when_allowed_explicitly(sites):
    old, new, canary = sites
    old.add("/p", redirect(canary.url("/a.html")))
    rows = [expected_row(f"{OLD}/p", canary.url("/a.html"), "301")]
    refused = check(old, rows)[f"{OLD}/p"]  # the target's host comes only from the manifest
    assert refused.verdict == "off_host" and "private or loopback" in refused.detail and canary.log == []
    assert check(old, rows, allowed_hosts=[canary.base_url])[f"{OLD}/p"].verdict == "ok"
    assert [h.path for h in canary.log] == ["/a.html", "/"]


def test_host_policy_routes_old_hosts_through_base_url():
    policy = HostPolicy("http://127.0.0.1:8080", old_hosts={"old.example", "www.old.example"},
                        explicit=["new.example"], implicit=["cdn.example", "10.0.0.9", "localhost:81"])
    staged = policy.route(parse_url("https://www.old.example/a%2Fb?x=1"))
    assert (staged.wire_url, staged.host_header, staged.server, staged.old_side) == (
        "http://127.0.0.1:8080/a%2Fb?x=1", "www.old.example", "127.0.0.1:8080", True)
    assert policy.route(parse_url("https://127.0.0.1:8080/x")).host_header is None  # BASE_URL's own host
    assert policy.route(parse_url("https://new.example/n")).server == "new.example:443"
    assert policy.route(parse_url("https://cdn.example/n")) is not None  # a public target host
    assert policy.route(parse_url("http://10.0.0.9/")) is None  # private, named only by the manifest
    assert policy.route(parse_url("http://localhost:81/")) is None
    assert policy.route(parse_url("http://new.example:8443/")) is None  # another port of an allowed host
    assert policy.route(parse_url("http://evil.example/")) is None
    with pytest.raises(UsageError):
        HostPolicy("http://127.0.0.1:8080", old_hosts=(), explicit=["bad host!"])


def test_retry_after_rests_the_server_and_the_row_still_gets_its_verdict(sites):
    old, new, _ = sites
    old.add("/busy", flaky([Resource(429, {"Retry-After": "7", "Content-Type": "text/plain"}, b"slow down")],
                           redirect(new.url("/a.html"))))
    old.add("/down", Resource(503, {"Retry-After": "2", "Content-Type": "text/plain"}, b"maintenance"))
    time = FakeTime()
    config = CrawlConfig(delay=0, max_retries=2, timeout=5, total_timeout=20, concurrency=1)
    got = check(old, [expected_row(f"{OLD}/busy", new.url("/a.html"), "301"),
                      expected_row(f"{OLD}/down", new.url("/b.html"), "301")],
                allowed_hosts=[new.base_url], config=config, clock=time.clock, sleep=time.sleep)
    assert got[f"{OLD}/busy"].verdict == "ok" and old.count("/busy") == 2
    assert got[f"{OLD}/down"].verdict == "error" and "503" in got[f"{OLD}/down"].detail
    assert old.count("/down") == 3  # the first attempt and max_retries
    assert time.sleeps == [7.0, 2.0, 2.0]


def test_gate_spaces_request_starts_per_server_and_rests_on_request():
    time = FakeTime()
    gate = HostGate(per_host=2, delay=0.25, clock=time.clock, sleep=time.sleep)
    starts = []
    for server in ("old:80", "old:80", "old:80", "new:443"):
        with gate.slot(server):
            starts.append((server, time.clock()))
    gate.rest("old:80", 7)
    with gate.slot("old:80"):
        starts.append(("old:80", time.clock()))
    assert starts == [("old:80", 1000.0), ("old:80", 1000.25), ("old:80", 1000.5), ("new:443", 1000.5),
                      ("old:80", 1007.5)]
    assert time.sleeps == [0.25, 0.25, 7.0]


def test_gate_holds_at_most_per_host_requests_in_flight():
    gate = HostGate(per_host=2, delay=0)
    inside, most, lock = [0], [0], threading.Lock()
    third_joined = threading.Barrier(3, timeout=0.5)  # can only be passed by three requests in flight at once
    broken = []

    def request():
        with gate.slot("s:80"):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            try:
                third_joined.wait()
            except threading.BrokenBarrierError:
                broken.append(1)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2 and broken


def test_a_target_behind_an_untrusted_certificate_is_an_error(sites):
    old, _, _ = sites
    with TestServer(tls=True) as secure:
        old.add("/s", redirect(secure.url("/a.html")))
        got = check(old, [expected_row(f"{OLD}/s", secure.url("/a.html"), "301")], allowed_hosts=[secure.base_url])
    assert got[f"{OLD}/s"].verdict == "error" and "certificate" in got[f"{OLD}/s"].detail.lower()


def test_redirects_are_followed_at_most_ten_hops(sites):
    old, new, _ = sites
    for chain, length in (("long", 13), ("ten", 10)):  # redirects from the old URL to the end
        for n in range(1, length):
            new.add(f"/{chain}/{n}", redirect(new.url(f"/{chain}/{n - 1}")))
        new.add(f"/{chain}/0", Resource(200, body=html("the end of a long chain", title="End")))
        old.add(f"/{chain}", redirect(new.url(f"/{chain}/{length - 1}")))
    got = check(old, [expected_row(f"{OLD}/long", new.url("/long/0"), "301"),
                      expected_row(f"{OLD}/ten", new.url("/ten/0"), "301")], allowed_hosts=[new.base_url])
    long, ten = got[f"{OLD}/long"], got[f"{OLD}/ten"]
    assert long.verdict == "chain" and "after 10 redirects" in long.detail and long.hops == 11
    assert new.count("/long/3") == 1 and new.count("/long/2") == 0  # the 11th redirect is not followed
    assert (ten.verdict, ten.hops, ten.final_status, ten.final_url) == ("chain", 10, 200, new.url("/ten/0"))


def test_relative_and_unusable_locations(sites):
    old, new, _ = sites
    old.add("/rel", redirect("/moved/here"))  # relative: back to the old host, through BASE_URL
    old.add("/moved/here", redirect(new.url("/a.html")))
    old.add("/script", Resource(301, {"Location": "javascript:alert(1)", "Content-Type": "text/html"}, b""))
    got = check(old, [expected_row(f"{OLD}/rel", new.url("/a.html"), "301"),
                      expected_row(f"{OLD}/script", new.url("/a.html"), "301")], allowed_hosts=[new.base_url])
    assert (got[f"{OLD}/rel"].verdict, got[f"{OLD}/rel"].hops) == ("chain", 2)
    assert got[f"{OLD}/rel"].chain[1] == f"301 {OLD}/moved/here"
    assert [h.headers["Host"] for h in old.hits("/moved/here")] == ["old.example"]
    script = got[f"{OLD}/script"]
    assert script.verdict == "wrong_target" and "not a usable http(s) URL" in script.detail
    assert script.got_location == "javascript[:]alert(1)"
