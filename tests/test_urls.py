"""archiver.urls: each purpose-named URL function on the edge cases real archives hold."""
from __future__ import annotations

import subprocess
import sys

import pytest
from cdxj_indexer.main import CDXJIndexer

from archiver.urls import (
    clean_target_uri, dedup_key, lookup_key, parse_refresh, resolve_link, site_host, surt_key, url_host,
)

BASE = "http://h.test/dir/page.html"


# ------------------------------------------------------------------ lookup_key

@pytest.mark.parametrize("url, key", [
    ("HTTP://Example.COM:80/a?b=1", "http://example.com/a?b=1"),  # scheme and host lower-cased, default port
    ("https://example.com:443/a?b=1#frag", "https://example.com/a?b=1"),  # fragment dropped
    ("https://example.com:8443/", "https://example.com:8443/"),  # other ports kept
    ("http://example.com", "http://example.com/"),  # empty path
    ("http://example.com./a", "http://example.com/a"),  # trailing dot of a fully qualified name
    ("<HTTP://Example.COM:80>", "http://example.com/"),  # wget's <...> target
    ("http://example.com/a%2Fb", "http://example.com/a%2Fb"),  # %2F is not /
    ("http://example.com/a%2fb?q=%e2%82%ac", "http://example.com/a%2Fb?q=%E2%82%AC"),  # escape hex case folded
    ("http://example.com/caf\u00e9 page?q=\u017e", "http://example.com/caf%C3%A9%20page?q=%C5%BE"),
    ("http://B\u00fccher.example/\u010d", "http://xn--bcher-kva.example/%C4%8D"),  # IDN host in punycode
    ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),  # IPv6 kept in brackets
    ("http://[2001:db8::1]:80/x", "http://[2001:db8::1]/x"),
    ("http://user:pw@Example.com/x", "http://user:pw@example.com/x"),  # credentials are part of the URL
    ("http://example.com/a/../b", "http://example.com/a/../b"),  # archived as requested: no dot removal
    ("http://example.com/x;jsessionid=A?sid=1", "http://example.com/x;jsessionid=A?sid=1"),  # sessions kept
    ("dns:example.com", "dns:example.com"),  # Heritrix's dns records: no host, left as they are
    ("http://example.com:99999/x", "http://example.com:99999/x"),  # a bad port: unchanged, never raised
])
def test_lookup_key(url, key):
    assert lookup_key(url) == key
    assert lookup_key(key) == key  # a key is its own key


def test_lookup_key_matches_spellings_of_one_url_and_keeps_variants_apart():
    assert lookup_key("http://b\u00fccher.example/") == lookup_key("http://xn--bcher-kva.example/")
    assert lookup_key("http://h.example/\u010d") == lookup_key("http://h.example/%c4%8d")
    # the audit reports http/https and www. variants; it never merges them
    assert lookup_key("https://www.example.com/a") != lookup_key("https://example.com/a")
    assert lookup_key("http://example.com/a") != lookup_key("https://example.com/a")
    assert lookup_key("http://example.com/a%2Fb") != lookup_key("http://example.com/a/b")
    assert lookup_key("http://example.com/A") != lookup_key("http://example.com/a")


# ------------------------------------------------------------------ dedup_key

@pytest.mark.parametrize("url, key", [
    ("HTTP://Example.ORG:80/a/b?x=1#frag", "http://example.org/a/b?x=1"),
    ("https://h.test:443/", "https://h.test/"),
    ("https://h.test:8443/p", "https://h.test:8443/p"),
    # session ids, in the query or the path, do not make a new URL
    ("http://h.test/p?PHPSESSID=abc&id=2", "http://h.test/p?id=2"),
    ("http://h.test/p;jsessionid=ABC123?x=1", "http://h.test/p?x=1"),
    ("http://h.test/p?sid=1", "http://h.test/p"),
    ("http://h.test/;jsessionid=ABC123", "http://h.test/"),
    # escapes and query order are kept: they may mean something to the server
    ("http://h.test/a%2Fb?b=1&a=2", "http://h.test/a%2Fb?b=1&a=2"),
    ("http://user:pw@h.test/p", "http://h.test/p"),  # credentials do not make a new URL
    ("http://[::1]:8080/p", "http://[::1]:8080/p"),
    ("mailto:a@b.test", "mailto:a@b.test"),  # not http(s): its own key
])
def test_dedup_key(url, key):
    assert dedup_key(url) == key


def test_dedup_key_merges_spellings_of_one_url():
    assert dedup_key("http://h.test/p?id=2&sid=zzz") == dedup_key("http://h.test/p?sid=yyy&id=2")
    # one resource per RFC 3986: escape hex case and IDN spellings are fetched once
    assert dedup_key("http://h.test/%c4%8d") == dedup_key("http://h.test/%C4%8D")
    assert dedup_key("http://b\u00fccher.example/") == dedup_key("http://xn--bcher-kva.example/")
    assert dedup_key("http://h.test/a") != dedup_key("https://h.test/a")


# ------------------------------------------------------------------ resolve_link

@pytest.mark.parametrize("ref, url", [
    ("x.html", "http://h.test/dir/x.html"),
    ("x//y.html?q=1#f", "http://h.test/dir/x//y.html?q=1"),  # an empty segment is kept, as browsers send it
    ("/a?", "http://h.test/a?"),
    ("../up/./x.html", "http://h.test/up/x.html"),  # dot segments resolved
    ("../../../../x", "http://h.test/x"),  # never above the root
    ("/abs?q=1#frag", "http://h.test/abs?q=1"),  # fragment dropped
    ("?q=2", "http://h.test/dir/page.html?q=2"),
    ("//other.test/p", "http://other.test/p"),  # scheme-relative
    ("https://Other.test:443/p", "https://Other.test:443/p"),  # kept as written (the key normalises)
    ("/a%2Fb?q=%41&x=$1;y={z}", "http://h.test/a%2Fb?q=%41&x=$1;y={z}"),  # escapes neither added nor removed
    (" /a b.html\n", "http://h.test/a%20b.html"),  # surrounding whitespace stripped, inner space encoded
    ("/a\n/b\t.html", "http://h.test/a/b.html"),  # tabs and newlines removed, as browsers do
    ("/%0A%0D", "http://h.test/%0A%0D"),
    ("/\u010d.html?q=\u017e", "http://h.test/%C4%8D.html?q=%C5%BE"),
    ('/"quoted"', "http://h.test/%22quoted%22"),
    ("http://user:pw@h.test/p", "http://user:pw@h.test/p"),
    ("http://[2001:db8::1]:8080/p", "http://[2001:db8::1]:8080/p"),
])
def test_resolve_link(ref, url):
    assert resolve_link(BASE, ref) == url


@pytest.mark.parametrize("ref", [
    None, "", "   ", "#top", "javascript:alert(1)", "mailto:a@b.si", "tel:123", "data:image/png;base64,AA",
    "ftp://h.test/f", "http://[::1", "http://h.test:99999/", "http:///nohost",
])
def test_resolve_link_refuses_what_no_browser_requests_over_http(ref):
    assert resolve_link(BASE, ref) is None


def test_resolve_link_against_a_base_href_and_a_location():
    base = resolve_link(BASE, "http://other.test/sub/")  # <base href> is itself a reference
    assert resolve_link(base, "x.html") == "http://other.test/sub/x.html"
    assert resolve_link(base, "/root") == "http://other.test/root"
    # a Location header resolves against the URL that answered
    assert resolve_link("http://h.test/a/b", "c") == "http://h.test/a/c"
    assert resolve_link("http://h.test/a/b", "https://new.test/") == "https://new.test/"


@pytest.mark.parametrize("content, parsed", [
    ("0; url=https://new.test/a", (0.0, "https://new.test/a")),
    ("0;URL='/a b'", (0.0, "/a b")),
    ('5, "/a"', (5.0, "/a")),
    ("  3 ;  URL = /a  ", (3.0, "/a")),
    ("0; /a", (0.0, "/a")),
    ("url=/a", (0.0, "/a")),  # old sites leave the delay out
    ("0.5;url=/a", (0.5, "/a")),
    ("0; url='/a'trailing", (0.0, "/a")),  # a quoted reference ends at its quote
    ("30", None), ("0; url=", None), ("", None), (None, None),
])
def test_parse_refresh(content, parsed):
    assert parse_refresh(content) == parsed


# ------------------------------------------------------------------ surt_key, hosts, target URIs

@pytest.mark.parametrize("url", [
    "http://www.Example.com/A?b=2&a=1",
    "https://example.com:443/caf%C3%A9",
    "http://example.com:8080/x#frag",
    "http://B\u00fccher.example/",
    "http://[2001:db8::1]:8080/x",
    "http://user:pw@example.com/x;jsessionid=ABC?PHPSESSID=0123456789abcdef0123456789abcdef",
    "dns:example.com",
])
def test_surt_key_is_cdxj_indexers_key(url):
    assert surt_key(url) == CDXJIndexer.get_url_key(None, url)


def test_surt_key_examples():
    assert surt_key("http://www.Example.com/A?b=2&a=1") == "com,example)/a?a=1&b=2"


def test_surt_key_loads_neither_tldextract_nor_requests_until_something_uses_them():
    """surt imports tldextract (and requests) for methods ``surt_key`` never calls: a fresh
    process computing a key loads neither; tldextract still works when something uses it."""
    script = """
import sys
from archiver.urls import surt_key
assert surt_key("http://www.Example.com/A?b=2&a=1") == "com,example)/a?a=1&b=2"
assert "requests" not in sys.modules and "tldextract.tldextract" not in sys.modules
import tldextract
extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the snapshot: no network
assert extract("http://a.b.example.co.uk/").suffix == "co.uk"
assert type(sys.modules["tldextract"]) is type(sys)  # the module itself, no longer a stand-in
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("url, host", [
    ("http://Example.COM/a", "example.com"),
    ("https://example.com:443/a", "example.com"),
    ("http://127.0.0.1:8001/a", "127.0.0.1:8001"),  # two servers on one machine are two sites
    ("http://user:pw@example.com:8080/", "example.com:8080"),
    ("http://B\u00fccher.example./", "xn--bcher-kva.example"),
    ("http://[2001:DB8::1]:8080/", "[2001:db8::1]:8080"),
    ("mailto:a@b.test", ""), ("/relative", ""), ("http://h.test:99999/", ""),
])
def test_site_host(url, host):
    assert site_host(url) == host


@pytest.mark.parametrize("url, host", [
    ("http://User@Example.COM:8080/a", "example.com"),
    ("https://[2001:DB8::1]:8443/", "2001:db8::1"),
    ("dns:example.com", ""),
])
def test_url_host(url, host):
    assert url_host(url) == host


def test_clean_target_uri():
    assert clean_target_uri("<http://example.com/a>") == "http://example.com/a"
    assert clean_target_uri("  http://example.com/a ") == "http://example.com/a"
    assert clean_target_uri(None) == ""
