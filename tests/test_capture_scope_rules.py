"""Scope and trap rules at their exact bounds, and the keys they rest on (no network)."""
from __future__ import annotations

from archiver.capture.scope import REQUISITE_DEPTH_SLACK, Scope, host_key, is_private_host, origin, path_key
from archiver.urls import dedup_key


def test_origin_and_host_key():
    assert origin("HTTP://H.Test./a") == ("http", "h.test", 80)
    assert origin("https://h.test/a") == ("https", "h.test", 443)
    assert origin("https://h.test:8443/a") == ("https", "h.test", 8443)
    for bad in ("mailto:a@h.test", "ftp://h.test/", "http:///nohost", "http://h.test:99999/", "javascript:x"):
        assert origin(bad) is None, bad
    assert host_key("https://H.test/x") == "h.test:443" and host_key("http://h.test:8080/") == "h.test:8080"
    assert host_key("mailto:a@h.test") == ""


def test_dedup_key_edges():
    assert dedup_key("http://[::1]:80/a") == "http://[::1]/a"
    assert dedup_key("http://[::1]:8080/a") == "http://[::1]:8080/a"
    assert dedup_key("http://h.test") == "http://h.test/"
    assert dedup_key("mailto:A@H.test") == "mailto:A@H.test"  # not http(s): left as it is
    assert dedup_key("http://h.test/p?SID=1&x=sid") == "http://h.test/p?x=sid"  # keys only, any case
    assert dedup_key("http://h.test/p?sessionid=1&Session_Id=2") == "http://h.test/p"
    assert dedup_key("http://h.test/p;JSESSIONID=abc/q") == "http://h.test/p/q"
    assert dedup_key("http://h.test/p?x=1&&y=2") == "http://h.test/p?x=1&&y=2"
    assert path_key("http://h.test/p?x=1") == "http://h.test/p" and path_key("http://h.test/p") == "http://h.test/p"


def test_private_host_edges():
    for host in ("LOCALHOST.", "a.localhost", "[fe80::1]", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1", "fc00::1"):
        assert is_private_host(host), host
    for host in ("localhost.example", "notlocalhost", "1.1.1.1", "[2001:4860:4860::8888]"):
        assert not is_private_host(host), host


def test_bounds_are_inclusive_where_documented():
    scope = Scope(["http://h.test/"], max_depth=5, max_url_length=40, max_repeated_segments=3)
    at_length = "http://h.test/" + "x" * (40 - len("http://h.test/"))
    assert len(at_length) == 40 and scope.reason(at_length, depth=1) is None
    assert scope.reason(at_length + "y", depth=1) == "trap:url_length"
    assert scope.reason("http://h.test/a.png", depth=5 + REQUISITE_DEPTH_SLACK, requisite=True) is None
    assert scope.reason("http://h.test/a.png", depth=6 + REQUISITE_DEPTH_SLACK, requisite=True) == "trap:max_depth"
    assert REQUISITE_DEPTH_SLACK == 3
    assert scope.reason("http://h.test/a/a/b", depth=1) is None  # twice is fine
    assert scope.reason("http://h.test/a/a/a", depth=1) == "trap:repeated_segment"
    assert scope.reason("http://h.test/a//a/?q=/a/a", depth=1) is None  # empty segments and the query do not count
    two = Scope(["http://h.test/"], max_repeated_segments=2)
    assert two.reason("http://h.test/a/b/a", depth=1) == "trap:repeated_segment"


def test_the_order_of_the_checks():
    scope = Scope(["http://h.test/"], exclude=[r"secret"], max_depth=1, max_url_length=60)
    assert scope.reason("http://other.test/" + "x" * 80, depth=0) == "trap:url_length"
    assert scope.reason("http://h.test/secret", depth=9) == "excluded"
    assert scope.reason("http://cdn.test/secret.png", depth=0, requisite=True) == "excluded"
    assert scope.reason("http://h.test/a/a/a", depth=9) == "trap:max_depth"


def test_seeds_and_origins():
    scope = Scope(["mailto:x@h.test", "http://h.test/start", "https://h.test:8443/"])
    assert scope.origins == {("http", "h.test", 80), ("https", "h.test", 8443)}
    assert scope.in_origin("http://H.TEST/other") and not scope.in_origin("https://h.test/other")
    # a seed's own private origin is in scope; a requisite from another private address is not
    local = Scope(["http://127.0.0.1:8001/"])
    assert local.reason("http://127.0.0.1:8001/a.png", depth=1, requisite=True) is None
    assert local.reason("http://localhost:8001/a.png", depth=1, requisite=True) == "out_of_scope"
    assert local.reason("http://10.0.0.1/a.png", depth=1, requisite=True) == "out_of_scope"
    # include patterns bind pages of the origin only; requisites from public hosts are still fetched
    narrow = Scope(["http://h.test/"], include=[r"/news/"])
    assert narrow.reason("http://cdn.test/a.png", depth=1, requisite=True) is None
    assert narrow.reason("http://cdn.test/news/page", depth=1) == "out_of_scope"


def test_session_keys_and_paths_with_odd_characters():
    assert dedup_key("http://h.test/p?sid=a=b&x=1") == "http://h.test/p?x=1"  # the key is what precedes the first =
    assert path_key("http://h.test/p?x=?y") == "http://h.test/p"


def test_default_trap_limits_are_the_documented_ones():
    """README: depth 20, URL length 2,048."""
    scope = Scope(["http://h.test/"])
    assert scope.reason("http://h.test/a", depth=20) is None
    assert scope.reason("http://h.test/a", depth=21) == "trap:max_depth"
    long = "http://h.test/" + "x" * (2048 - len("http://h.test/"))
    assert scope.reason(long, depth=1) is None and scope.reason(long + "x", depth=1) == "trap:url_length"
