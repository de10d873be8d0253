"""Validation shared by every export: URL normalisation, hosts, chains, loops, duplicates."""
from __future__ import annotations

import pytest

from archiver.errors import UsageError
from archiver.export import export_all
from archiver.export.urls import InvalidURL, defang, parse_url
from archiver.export.validate import validate
from archiver.types import RedirectRow
from archiver.urls import lookup_key

NEW = "https://new.example"


def row(old, new, status=301, kind="page", confidence=0.9, review=False, evidence=""):
    return RedirectRow(old, new, status, kind, "content", confidence, evidence, review)


@pytest.mark.parametrize("raw, expected", [
    ("HTTP://Old.Example:80/a b", "http://old.example/a%20b"),
    ("https://old.example:443", "https://old.example/"),
    ("https://old.example:8443/x", "https://old.example:8443/x"),
    ("http://old.example/%2f%2F/a%zz", "http://old.example/%2f%2F/a%25zz"),  # escapes kept as written
    ("http://old.example/čšž?q=ü#frag", "http://old.example/%C4%8D%C5%A1%C5%BE?q=%C3%BC#frag"),
    ("http://old.example/{a}|b\\c^`<>\"", "http://old.example/%7Ba%7D%7Cb%5Cc%5E%60%3C%3E%22"),
    ("http://old.example/a\nb\tc\x00", "http://old.example/a%0Ab%09c"),  # trailing NUL stripped like whitespace
    ("http://old.example/a;b=c,d!$&'()*+:@", "http://old.example/a;b=c,d!$&'()*+:@"),
    ("  http://old.example/x  ", "http://old.example/x"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ("http://old.example/a/?", "http://old.example/a/?"),
])
def test_urls_are_normalised_without_decoding(raw, expected):
    assert str(parse_url(raw)) == expected


@pytest.mark.parametrize("raw, reason", [
    ("javascript:alert(1)", "scheme"), ("data:text/html,x", "scheme"), ("mailto:a@b.example", "scheme"),
    ("ftp://old.example/", "scheme"), ("/relative", "absolute"), ("//evil.example/x", "absolute"),
    ("http:evil.example", "no host"), ("https://user:pw@new.example/", "credentials"),
    ("https://new.example@evil.example/", "credentials"), ("http://exa mple.example/", "host"),
    ("http://old.example:99999/", "port"), ("http://" + "a" * 300 + ".example/", "host"),
    ("http://old.example/" + "x" * 33000, "longer"), ("", "empty"), (None, "empty"),
])
def test_unusable_urls_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidURL, match=reason):
        parse_url(raw)


def test_old_url_fragment_is_dropped_and_sources_ignore_scheme():
    assert str(parse_url("http://old.example/a#x", keep_fragment=False)) == "http://old.example/a"
    assert parse_url("http://old.example/a").source_key == parse_url("https://OLD.example:443/a").source_key
    assert parse_url("http://old.example/a").source_key != parse_url("http://old.example/a/").source_key
    assert parse_url("http://old.example/a").source_key != parse_url("http://old.example/A").source_key


def test_defang_keeps_refused_urls_readable_but_unusable():
    assert defang("https://evil.example/x?a=b") == "hxxps[:]//evil[.]example/x?a=b"
    assert defang("javascript:alert(1)") == "javascript[:]alert(1)"


def test_allowed_hosts_bare_host_means_default_ports_only():
    rows = [row("http://old.example/1", "https://new.example/a"),
            row("http://old.example/2", "http://new.example:8080/a"),
            row("http://old.example/3", "http://127.0.0.1:9001/a"),
            row("http://old.example/4", "http://127.0.0.1:9002/a"),
            row("http://old.example/5", "https://www.gov.example/a"),
            row("http://old.example/6", "https://gov.example.evil.example/a")]
    result = validate(rows, allowed_hosts=["new.example", "127.0.0.1:9001", "*.gov.example"])
    assert [r.row.old_url for r in result.redirects] == ["http://old.example/1", "http://old.example/3", "http://old.example/5"]
    assert all("open redirect" in r.reason and r.new_url is None for r in result.rejected)


def test_duplicates_keep_the_strongest_row():
    rows = [row("http://old.example/a", NEW + "/weak", confidence=0.4),
            row("https://old.example/a", NEW + "/reviewed", confidence=0.9, review=True),
            row("http://OLD.example/a#x", NEW + "/strong", confidence=0.9),
            row("http://old.example/a", None, None, "unmatched", 1.0)]
    result = validate(rows, allowed_hosts=["new.example"])
    assert [r.row.new_url for r in result.redirects] == [NEW + "/strong"]
    assert len(result.rejected) == 3 and all("duplicate source" in r.reason for r in result.rejected)


def test_chains_collapse_and_loops_are_refused():
    old = "http://old.example"
    rows = [row(old + "/a", old + "/b", 308, confidence=0.9), row(old + "/b", old + "/c", confidence=0.7, review=True),
            row(old + "/c", NEW + "/final"),
            row(old + "/x", old + "/y"), row(old + "/y", old + "/z"), row(old + "/z", "https://old.example/x"),
            row(old + "/into", old + "/x"),
            row(old + "/to-gone", old + "/dead"), row(old + "/dead", None, 410, "gone")]
    result = validate(rows, allowed_hosts=["new.example", "old.example"])
    by_old = {r.row.old_url: r.row for r in result.redirects}
    assert by_old[old + "/a"].new_url == NEW + "/final" and by_old[old + "/a"].status == 308
    assert by_old[old + "/a"].confidence == 0.7 and by_old[old + "/a"].review
    assert by_old[old + "/b"].new_url == NEW + "/final"
    assert by_old[old + "/to-gone"].status == 410 and by_old[old + "/to-gone"].new_url is None
    refused = {r.old_url: r.reason for r in result.rejected}
    assert set(refused) == {old + "/x", old + "/y", old + "/z", old + "/into"}
    assert all(reason.startswith("redirect loop") for reason in refused.values())


def test_statuses_kinds_and_defaults():
    rows = [row("http://old.example/a", NEW + "/a", None), row("http://old.example/b", NEW + "/b", 302),
            row("http://old.example/c", NEW + "/c", 301, "mystery"),
            row("http://old.example/d", NEW + "/ignored", None, "gone"),
            row("http://old.example/e", "https://evil.example/", None, "unmatched")]
    result = validate(rows, allowed_hosts=["new.example"], status_default=308)
    by_old = {r.row.old_url: r.row for r in result.redirects}
    assert by_old["http://old.example/a"].status == 308
    assert by_old["http://old.example/d"].status == 410 and by_old["http://old.example/d"].new_url is None
    assert by_old["http://old.example/e"].status is None and by_old["http://old.example/e"].new_url is None
    assert "suggested target dropped" in result.changes[0]["change"]
    assert {r.old_url: r.reason.split()[0] for r in result.rejected} == {
        "http://old.example/b": "status", "http://old.example/c": "unknown"}


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="allowed target hosts"):
        export_all([], tmp_path, allowed_hosts=[])
    with pytest.raises(UsageError, match="unknown export format 'iis'"):
        export_all([], tmp_path, allowed_hosts=["new.example"], formats=["nginx", "iis"])
    with pytest.raises(UsageError, match="301 or 308"):
        export_all([], tmp_path, allowed_hosts=["new.example"], status_default=302)


def test_targets_that_redirect_or_fail_on_the_new_site_are_refused():
    old = "http://old.example"
    rows = [row(old + "/ok", NEW + "/ok#part"), row(old + "/moved", NEW + "/moved"), row(old + "/missing", NEW + "/missing"),
            row(old + "/unknown", NEW + "/not-crawled"), row(old + "/http", "http://new.example/ok"),
            row(old + "/chain", old + "/missing")]
    status = {NEW + "/ok": 200, NEW + "/moved": 301, NEW + "/missing": 404, "http://new.example/ok": 301,
              NEW + "/failed": None, "not a url": 200}
    result = validate(rows, allowed_hosts=["new.example", "old.example"], target_status=status)
    assert [r.row.old_url for r in result.redirects] == [old + "/ok", old + "/unknown"]
    reasons = {r.old_url: r.reason for r in result.rejected}
    assert reasons[old + "/moved"] == "target is itself a redirect (301) on the new site"
    assert reasons[old + "/http"] == "target is itself a redirect (301) on the new site"
    assert reasons[old + "/missing"] == reasons[old + "/chain"] == "target answers 404 on the new site"


def test_defang_touches_only_the_scheme_colon_and_the_dots():
    assert defang("https://evil.example:8443/a:b") == "hxxps[:]//evil[.]example:8443/a:b"
    assert defang("HTTP://x.example/") == "hxxp[:]//x[.]example/"


def test_apache_substitution_escapes_what_mod_rewrite_expands():
    from archiver.export.apache import substitution

    # $N and %N are back-references and \ escapes in a RewriteRule substitution: each is written escaped
    assert substitution("https://new.example/a$1%25b\\c?d=$&e=%1") == \
        "https://new.example/a\\$1\\%25b\\\\c?d=\\$&e=\\%1"
    assert substitution("https://new.example/Plain-XX_1.html") == "https://new.example/Plain-XX_1.html"


@pytest.mark.parametrize("raw, expected", [
    ("http://Example.COM./x", "http://example.com/x"),  # the root's trailing dot dropped, case folded
    ("http://[FE80::1]:8080/", "http://[fe80::1]:8080/"),  # IPv6 literals lower-cased too
    ("http://BÜCHER.example/", "http://xn--bcher-kva.example/"),
])
def test_hosts_are_folded_to_one_spelling(raw, expected):
    assert str(parse_url(raw)) == expected


def test_an_idn_host_is_keyed_as_browsers_send_it_and_as_the_archive_looks_it_up():
    # UTS #46 non-transitional (WHATWG URL): ß and ς stay themselves; IDNA 2003 (Python's "idna"
    # codec) would map them to ss and σ, and the server block would never match the Host header
    for raw, host in (("http://straße.example/a", "xn--strae-oqa.example"), ("http://ςa.example/", "xn--a-xmb.example")):
        assert parse_url(raw).host == host
        assert lookup_key(raw).split("/")[2] == host


@pytest.mark.parametrize("raw, reason", [
    ("http://[::1]./", "invalid host name"),  # no trailing-dot folding inside an IPv6 literal
    ("http://a\x80b.example/", "internationalised"),
    ("http://a\x7fb.example/", "invalid host name"),
])
def test_odd_hosts_are_refused_with_their_reason(raw, reason):
    with pytest.raises(InvalidURL, match=reason):
        parse_url(raw)


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(tmp_path):
    import csv

    starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "plain", "a=b", ""]
    rows = [RedirectRow(f"http://old.example/{i}", f"{NEW}/{i}", 301, "page", text, 0.9, text, False)
            for i, text in enumerate(starts)]
    paths = export_all(rows, tmp_path, allowed_hosts=["new.example"], formats=["csv"]).paths
    with open(paths["csv"], newline="", encoding="utf-8") as fh:
        written = {r["old_url"]: (r["method"], r["evidence"]) for r in csv.DictReader(fh)}
    for i, text in enumerate(starts):
        quoted = "'" + text if i < 7 else text
        assert written[f"http://old.example/{i}"] == (quoted, quoted), text


def test_netlify_parameters_only_when_netlify_can_say_them():
    from archiver.export.netlify import query_params

    assert query_params("a=1&b=2") == ["a=1", "b=2"] and query_params(None) == [] and query_params("") == []
    assert query_params("a=b=c&a=d") is None  # the key is "a" both times: a repeated key
    assert query_params("a=b=c&b=1") == ["a=b=c", "b=1"]
    for bad in ("#x=1", "a", "=1", "a=:b", "a=1&a=2"):
        assert query_params(bad) is None, bad


@pytest.mark.parametrize("raw, expected", [
    # a character to encode sends the URL down the slow path: escapes at the very end are judged right there
    ("http://old.example/a b%41", "http://old.example/a%20b%41"),
    ("http://old.example/a b%4", "http://old.example/a%20b%254"),
    ("http://old.example/a b%", "http://old.example/a%20b%25"),
    ("http://old.example/a b%zA", "http://old.example/a%20b%25zA"),
    ("http://old.example/a b%z1", "http://old.example/a%20b%25z1"),
    ("http://old.example/\ud800?q=\udfff", "http://old.example/%ED%A0%80?q=%ED%BF%BF"),  # lone surrogates too
])
def test_percent_encoding_at_the_edges(raw, expected):
    assert str(parse_url(raw)) == expected


@pytest.mark.parametrize("raw, expected", [
    ("http://old.example?a=1?b=2", "http://old.example/?a=1?b=2"),  # the authority ends at the first ?
    ("http://old.example#a#b", "http://old.example/#a%23b"),  # ... or the first #
    ("http://old.example/p?a=?b#c?d", "http://old.example/p?a=?b#c?d"),  # the query starts at the first ?
    ("http://old.example/aX\x00 ", "http://old.example/aX"),  # only whitespace and NUL are trimmed
    ("http://old.example/" + "x" * (32 * 1024 - len("http://old.example/")), None),  # exactly the limit
])
def test_where_each_part_of_a_url_ends(raw, expected):
    assert str(parse_url(raw)) == (expected or raw)


@pytest.mark.parametrize("raw, message", [
    (None, "empty or missing URL"), ("   ", "empty or missing URL"),
    ("/relative", "not an absolute URL"),
    ("http:evil.example", "no host (expected scheme://host/...)"),
    ("http:///path", "no host"),
    ("http://exa mple.example/", "invalid host name"),
    ("http://old.example/" + "x" * (32 * 1024), "URL longer than 32768 characters"),
])
def test_refusal_reasons_are_exact(raw, message):
    with pytest.raises(InvalidURL) as refused:
        parse_url(raw)
    assert str(refused.value) == message


def test_the_length_limit_applies_to_the_url_as_written_out():
    at_limit = "http://old.example/" + " " * 10_000 + "x" * (32 * 1024 - 19 - 30_000)
    assert len(str(parse_url(at_limit))) == 32 * 1024  # encoded to exactly the limit: kept
    with pytest.raises(InvalidURL) as refused:
        parse_url("http://old.example/" + "\u00e9" * 6_000)  # 6,019 characters, 36,019 once encoded
    assert str(refused.value) == "URL longer than 32768 characters once percent-encoded"
