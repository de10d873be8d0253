"""Per-format choices: escaping helpers, limits, skips and the manifest files."""
from __future__ import annotations

import csv
import json
import random
import subprocess

import pytest

from archiver.export import export_all, nginx
from archiver.types import RedirectRow

from webservers import NGINX, free_port, nginx_conf, raw_get, require, run_nginx, stop

NEW = "https://new.example"


def row(old, new, status=301, kind="page", confidence=0.9, evidence="", method="content"):
    return RedirectRow(old, new, status, kind, method, confidence, evidence)


def test_nginx_escaping_helpers():
    assert nginx.string_key("/a") == '"/a"'
    assert nginx.string_key("default") == '"\\\\default"'  # parsed to \default, nginx strips the \
    assert nginx.string_key("~x") == '"\\\\~x"'
    assert nginx.string_key('a"b\\c') == '"a\\"b\\\\c"'
    assert nginx.value("https://n.example/$x") == '"https://n.example/%24x"'
    assert nginx.regex_key("/A.b") == '"~^\\\\/A\\\\.b$"'


def test_nginx_hash_sizes_let_a_large_map_load_without_warnings(tmp_path):
    require(NGINX)
    rnd = random.Random(7)
    rows = [row(f"http://old.example/section-{i % 50}/{'x' * rnd.randint(10, 150)}-{i}?id={i}", f"{NEW}/n/{i}")
            for i in range(20000)]
    out = tmp_path / "out"
    export_all(rows, out, allowed_hosts=["new.example"], formats=["nginx"])
    conf = nginx_conf(tmp_path, out, free_port())
    test = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                          capture_output=True, text=True, timeout=60)
    assert test.returncode == 0, test.stderr
    assert "could not build" not in test.stderr and "increase" not in test.stderr, test.stderr


def test_netlify_skips_what_it_cannot_say(tmp_path):
    old = "http://old.example"
    rows = [row(old + "/a", NEW + "/a"), row(old + "/a/", NEW + "/a-slash"),
            row(old + "/q?flag", NEW + "/1"), row(old + "/q?k=1&k=2", NEW + "/2"), row(old + "/q?k=:x", NEW + "/3"),
            row(old + "/q?k=1&j=2", NEW + "/4"), row(old + "/q", NEW + "/5"),
            row(old + "/star*/:name/x:y", NEW + "/6"), row(old + "/gone", None, 410, "gone")]
    export_all(rows, tmp_path, allowed_hosts=["new.example"])
    lines = [line for line in (tmp_path / "_redirects").read_text().splitlines() if not line.startswith("#")]
    assert lines == [
        "/a https://new.example/a 301!",
        "/gone /404.html 404!",
        "/q k=1 j=2 https://new.example/4 301!",  # parameters first: a bare /q rule matches any query
        "/q https://new.example/5 301!",
        "/star%2A/%3Aname/x:y https://new.example/6 301!",
    ]
    report = json.loads((tmp_path / "redirects.rejected.json").read_text())
    skipped = {s["old_url"]: s["reason"] for s in report["skipped"]["netlify"]}
    assert "trailing slashes" in skipped[old + "/a/"]
    assert all("query string" in skipped[old + q] for q in ["/q?flag", "/q?k=1&k=2", "/q?k=:x"])
    assert any("2 rules use what Cloudflare Pages lacks" in w for w in report["warnings"])  # /q k=1 j=2 and /gone


def test_netlify_uses_absolute_sources_across_hosts_and_warns_over_pages_limit(tmp_path):
    rows = [row(f"http://a.example/p{i}", f"{NEW}/{i}") for i in range(2001)] + [row("https://b.example/p", NEW + "/b")]
    export_all(rows, tmp_path, allowed_hosts=["new.example"], formats=["netlify"])
    text = (tmp_path / "_redirects").read_text()
    assert "\nhttps://b.example/p https://new.example/b 301!\n" in text and "\nhttp://a.example/p0 " in text
    warnings = json.loads((tmp_path / "redirects.rejected.json").read_text())["warnings"]
    assert any("Cloudflare Pages reads only 2000" in w for w in warnings)


def test_cloudflare_skips_queries_ports_and_gone(tmp_path):
    rows = [row("http://old.example/a", NEW + "/a", 308), row("http://old.example/q?x=1", NEW + "/q"),
            row("http://old.example:8080/p", NEW + "/p"), row("http://old.example/g", None, 410, "gone"),
            row("http://old.example/comma,x", NEW + "/c,d")]
    export_all(rows, tmp_path, allowed_hosts=["new.example"], formats=["cloudflare"])
    items = list(csv.reader((tmp_path / "redirects.cloudflare.csv").read_text().splitlines()))
    assert items == [["old.example/a", NEW + "/a", "308", "FALSE", "FALSE", "FALSE", "FALSE"],
                     ["old.example/comma,x", NEW + "/c,d", "301", "FALSE", "FALSE", "FALSE", "FALSE"]]
    assert '"old.example/comma,x"' in (tmp_path / "redirects.cloudflare.csv").read_text()
    skipped = json.loads((tmp_path / "redirects.rejected.json").read_text())["skipped"]["cloudflare"]
    assert len(skipped) == 3


def test_csv_and_json_carry_every_row_and_guard_spreadsheets(tmp_path):
    rows = [row("http://old.example/a", NEW + "/a", evidence="=HYPERLINK(\"http://x\")"),
            row("http://old.example/u", None, None, "unmatched", 0.0, method="none"),
            row("http://old.example/e", "https://evil.example/")]
    paths = export_all(rows, tmp_path, allowed_hosts=["new.example"], formats=["csv", "json"]).paths
    assert set(paths) == {"csv", "json", "rejected"}
    records = list(csv.DictReader(paths["csv"].open(newline="")))
    assert list(records[0]) == ["old_url", "new_url", "status", "kind", "method", "confidence", "evidence", "review"]
    assert [r["old_url"] for r in records] == ["http://old.example/a", "http://old.example/u"]
    assert records[0]["evidence"].startswith("'=") and records[1]["status"] == "" and records[1]["kind"] == "unmatched"
    document = json.loads(paths["json"].read_text())
    assert document["rows"][0]["evidence"].startswith("=")
    assert document["rejected"][0]["refused_target"] == "hxxps[:]//evil[.]example/"


@pytest.mark.parametrize("fmt, files", [
    ("nginx", {"nginx", "nginx.http", "nginx.server"}), ("apache", {"apache", "apache.map"}),
    ("netlify", {"netlify"}), ("cloudflare", {"cloudflare"}),
])
def test_each_format_can_be_written_alone(tmp_path, fmt, files):
    paths = export_all([row("http://old.example/a", NEW + "/a")], tmp_path, allowed_hosts=["new.example"], formats=[fmt]).paths
    assert set(paths) == files | {"rejected"}
    assert all(p.exists() for p in paths.values())


def test_nginx_matches_long_urls_slice_by_slice(tmp_path):
    require(NGINX)
    base = "/archive/" + "p" * 2000
    exact = "/x" + "e" * 1998  # exactly two 1,000-byte slices
    rows = [row("http://old.example" + base + "/one", NEW + "/one"),
            row("http://old.example" + base + "/two?x=1", NEW + "/two", 308),
            row("http://old.example" + base, None, 410, "gone"),
            row("http://old.example" + exact, NEW + "/exact"),
            row("http://old.example" + exact + "more", NEW + "/more"),
            row("http://old.example/short", NEW + "/short")]
    out = tmp_path / "out"
    export_all(rows, out, allowed_hosts=["new.example"], formats=["nginx"])
    text = (out / "redirects.nginx.conf").read_text()
    assert max(len(line) for line in text.splitlines()) < 1100
    port = free_port()
    proc = run_nginx(tmp_path, nginx_conf(tmp_path, out, port), port)
    try:
        assert raw_get(port, base + "/one") == (301, NEW + "/one")
        assert raw_get(port, (base + "/ONE").upper()) == (301, NEW + "/one")  # any letter case, as string keys
        assert raw_get(port, base + "/two?x=1") == (308, NEW + "/two")
        assert raw_get(port, base)[0] == 410
        assert raw_get(port, exact) == (301, NEW + "/exact")
        assert raw_get(port, exact + "more") == (301, NEW + "/more")
        assert raw_get(port, "/short") == (301, NEW + "/short")
        for miss in [base + "/on", base + "/one/", base + "/two", exact[:-1], exact + "m", "/" + "p" * 3000]:
            assert raw_get(port, miss) == (404, None), miss[-20:]
    finally:
        stop(proc)
