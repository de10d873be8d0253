"""Exports fed with hostile URLs, loaded by the real programs that read them.

One set of rows built from URLs a hostile or broken legacy site can hold
(issue 5) is exported once; then a real nginx and a real Apache serve the
generated files on loopback and every old URL is requested with a raw socket
client (the request target goes on the wire exactly as written), and the
Netlify and Cloudflare files are read back by strict parsers written to
their documented grammar. Expected answers are written out by hand below,
not derived from the exporter.
"""
from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from archiver.export import export_all
from archiver.types import RedirectRow

from webservers import (
    APACHE,
    NGINX,
    PROBE_KEYS,
    apache_conf,
    free_port,
    nginx_conf,
    raw_get,
    require,
    run_apache,
    run_nginx,
    stop,
)

OLD = "http://old.example"
NEW = "https://new.example"
ALLOWED = ["new.example", "old.example"]  # old.example too: a same-host restructure makes chains possible
LONG = "/long/" + "a" * 10240


def row(old, new, status=301, kind="page", confidence=0.9, evidence=""):
    return RedirectRow(old, new, status, kind, "content", confidence, evidence)


# (old URL as the mapping gives it, request target as a client sends it, status, Location)
EXPECTED = [
    (OLD + "/a;b=c", "/a;b=c", 301, NEW + "/semi;x"),
    (OLD + "/q?x=\"1\"&y='2'", "/q?x=%221%22&y='2'", 308, NEW + "/p?a=$b&c=1"),
    (OLD + "/{braces}/$dollar", "/%7Bbraces%7D/$dollar", 301, NEW + "/braces"),
    (OLD + "/with space", "/with%20space", 301, NEW + "/has%20space"),
    (OLD + "/nl%0aSet-Cookie:%20x", "/nl%0aSet-Cookie:%20x", 301, NEW + "/newline"),
    (OLD + "/raw\nline", "/raw%0Aline", 301, NEW + "/rawline"),
    (OLD + "/hash#fragment", "/hash", 301, NEW + "/t#section"),
    (OLD + "/~tilde", "/~tilde", 301, NEW + "/tilde"),
    (OLD + "/default", "/default", 301, NEW + "/default-page"),
    (OLD + "/include", "/include", 301, NEW + "/include-page"),
    (OLD + "/novice/čšž?q=ü", "/novice/%C4%8D%C5%A1%C5%BE?q=%C3%BC", 301, NEW + "/novice/%C4%8D%C5%A1%C5%BE"),
    (OLD + LONG, LONG, 301, NEW + "/long?from=legacy"),
    (OLD + "/About", "/About", 301, NEW + "/about-upper"),
    (OLD + "/about", "/about", 301, NEW + "/about-lower"),
    (OLD + "/a%2Fb", "/a%2Fb", 301, NEW + "/encoded-slash"),
    (OLD + "/pct%zz", "/pct%25zz", 301, NEW + "/pct"),
    (OLD + "/c1", "/c1", 301, NEW + "/c3"),  # chain c1 -> c2 -> c3, collapsed
    (OLD + "/c2", "/c2", 301, NEW + "/c3"),
    (OLD + "/dup", "/dup", 301, NEW + "/dup-strong"),  # the stronger of two rows
    (OLD + "/quote", "/quote", 301, NEW + "/q%22uote%3Cx%3E"),
    (OLD + "/gone?id=1", "/gone?id=1", 410, None),
    (OLD + "/gone-by-chain", "/gone-by-chain", 410, None),  # target is itself gone
]
# old URLs that must answer no redirect at all
UNKNOWN = ["/unknown", "/ABOUT", "/l1", "/l2", "/self", "/js", "/data", "/mail", "/evil", "/evil2",
           "/evil3", "/evil4", "/evil5", "/c3", "/q?x=%221%22", "/hash%23fragment"]
OFF_HOST = [
    "javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>",
    "mailto:victim@example.org", "https://evil.example/phish", "//evil.example/x",
    "https://new.example.evil.example/", "https://new.example@evil.example/", "http://new.example:8080/admin",
]


def hostile_rows() -> list[RedirectRow]:
    rows = [row(old, new, status) if status != 410 else row(old, None, 410, "gone", 1.0)
            for old, _, status, new in EXPECTED if not old.endswith(("/c1", "/dup", "/gone-by-chain"))]
    rows += [
        row(OLD + "/c1", OLD + "/c2"),
        row(OLD + "/dup", NEW + "/dup-weak", confidence=0.5),
        row(OLD + "/dup", NEW + "/dup-strong", confidence=0.95),
        row(OLD + "/gone-by-chain", OLD + "/gone?id=1"),
        row(OLD + "/l1", OLD + "/l2"),
        row(OLD + "/l2", "https://old.example/l1"),
        row(OLD + "/self", "https://old.example/self"),
        row(OLD + "/unmatched", None, None, "unmatched", 0.0),
    ]
    rows += [row(OLD + path, target, evidence=f"meta refresh to {target}")
             for path, target in zip(["/js", "/data", "/mail", "/evil", "/evil2", "/evil3", "/evil4", "/evil5"], OFF_HOST)]
    return rows


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export")
    export_all(hostile_rows(), out, allowed_hosts=ALLOWED)
    return out


def assert_answers(port: int, location_of, *, not_served=()) -> None:
    for old, target, status, new in EXPECTED:
        got = raw_get(port, target)
        if target in not_served:  # no redirect (404, or 414 for a request line nginx refuses)
            assert got[0] in (404, 414) and got[1] is None, f"{old[:80]!r}: {got}"
            continue
        expected = (status, location_of(new) if new else None)
        assert got == expected, f"{old[:80]!r}: {got}"
    # absolute-form request targets (as sent to proxies) answer like origin-form ones
    assert raw_get(port, "http://old.example/a;b=c") == (301, location_of(NEW + "/semi;x"))
    for target in UNKNOWN:
        status, location = raw_get(port, target)
        assert status == 404 and location is None, f"{target}: {status} {location}"


# ---- nginx ---------------------------------------------------------------

def test_nginx_serves_hostile_map(exported, tmp_path):
    require(NGINX)
    port = free_port()
    proc = run_nginx(tmp_path, nginx_conf(tmp_path, exported, port), port)
    try:
        assert_answers(port, lambda new: new.replace("$", "%24"))
        # the 10 KB URL is matched slice by slice: a near miss in its last slice answers nothing
        assert raw_get(port, LONG[:-1] + "b")[0] == 404 and raw_get(port, LONG + "a")[0] == 404
        assert raw_get(port, LONG[:-1])[0] == 404
        for i, key in enumerate(PROBE_KEYS):
            if " " in key:  # cannot be sent raw; nginx -t above still parsed it
                continue
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(f"GET /__probe?probe={key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                body = b"".join(iter(lambda: sock.recv(65536), b""))
            assert body.endswith(f"[hit-{i}-%24x]".encode()), (key, body[-200:])
    finally:
        stop(proc)


def test_nginx_keys_on_host_when_old_urls_span_hosts(tmp_path):
    require(NGINX)
    rows = [row("http://a.example/same", NEW + "/from-a"), row("https://b.example/same", NEW + "/from-b", 308),
            row("http://b.example/gone", None, 410, "gone")]
    out = tmp_path / "out"
    export_all(rows, out, allowed_hosts=["new.example"])
    assert "map $host$request_uri $redirect_target" in (out / "redirects.nginx.conf").read_text()
    port = free_port()
    proc = run_nginx(tmp_path, nginx_conf(tmp_path, out, port), port)
    try:
        assert raw_get(port, "/same", "a.example") == (301, NEW + "/from-a")
        assert raw_get(port, "/same", f"B.example:{port}") == (308, NEW + "/from-b")
        assert raw_get(port, "/gone", "b.example")[0] == 410
        assert raw_get(port, "/gone", "a.example")[0] == 404
        assert raw_get(port, "/same", "c.example")[0] == 404
    finally:
        stop(proc)


# ---- Apache --------------------------------------------------------------

def test_apache_serves_hostile_map(apache_dir):
    require(APACHE)
    tmp_path, exported = apache_dir, apache_dir / "export"
    export_all(hostile_rows(), exported, allowed_hosts=ALLOWED)
    port = free_port()
    conf = apache_conf(tmp_path, exported, port)
    test = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    proc = run_apache(conf, port)
    try:
        assert_answers(port, lambda new: new)
    finally:
        stop(proc)


# ---- Netlify and Cloudflare: strict parsers of the documented grammar ---

PERCENT_OK = re.compile(r"^(?:[^%\s]|%[0-9A-Fa-f]{2})*$")


def parse_netlify(text: str) -> dict[tuple[str, tuple[str, ...]], tuple[str, str]]:
    rules = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        assert "\t" not in line and "\r" not in line and line == line.strip(), f"line {number}: stray whitespace"
        tokens = line.split(" ")
        assert all(tokens), f"line {number}: empty token"
        assert all(t.isascii() and t.isprintable() and PERCENT_OK.match(t) for t in tokens), f"line {number}: bad characters"
        source, *params, target, status = tokens
        assert source.startswith("/") and "*" not in source and "/:" not in source, f"line {number}: {source}"
        assert all("=" in p and not p.startswith("#") for p in params)
        assert status in ("301!", "308!", "404!"), f"line {number}: {status}"
        assert target.startswith("https://") or (status == "404!" and target == "/404.html")
        identity = (source.rstrip("/") or "/", tuple(sorted(params)))
        assert identity not in rules, f"line {number}: duplicate source (Netlify ignores trailing slashes)"
        rules[identity] = (target, status)
    return rules


def test_netlify_file_follows_grammar(exported):
    rules = parse_netlify((exported / "_redirects").read_text(encoding="ascii"))
    for old, target, status, new in EXPECTED:
        path, _, query = target.partition("?")
        params = tuple(sorted(query.split("&"))) if query else ()
        assert rules[(path, params)] == ((new, f"{status}!") if new else ("/404.html", "404!")), old
    assert len(rules) == len(EXPECTED)


def test_cloudflare_csv_follows_grammar(exported):
    text = (exported / "redirects.cloudflare.csv").read_text(encoding="ascii")
    items = list(csv.reader(text.splitlines(), strict=True))
    sources = set()
    for item in items:
        assert len(item) == 7, item
        source, target, status, *flags = item
        assert source != "source_url", "Cloudflare's import refuses a header row"
        assert not re.match(r"^[a-z]+://", source) and "?" not in source and "#" not in source and "*" not in source
        assert len(source) <= 32768 and len(target) <= 32768
        assert PERCENT_OK.match(source) and PERCENT_OK.match(target)
        assert target.startswith("https://") and status in ("301", "302", "307", "308")
        assert flags == ["FALSE"] * 4
        assert source not in sources
        sources.add(source)
    expected = {"old.example" + t: (n, str(s)) for _, t, s, n in EXPECTED if n and "?" not in t}
    assert {i[0]: (i[1], i[2]) for i in items} == expected


# ---- what must never be written -----------------------------------------

def test_off_host_targets_appear_in_no_output_file(exported):
    files = list(exported.iterdir())
    assert len(files) >= 10
    for path in files:
        data = path.read_bytes()
        for target in OFF_HOST + ["evil.example"]:
            assert target.encode() not in data, f"{target} written to {path.name}"
        assert b"javascript:" not in data.lower() and b"data:text" not in data and b"mailto:" not in data


def test_every_refusal_is_reported(exported):
    report = json.loads((exported / "redirects.rejected.json").read_text())
    reasons = {r["old_url"]: r["reason"] for r in report["rejected"]}
    for path in ["/js", "/data", "/mail"]:
        assert "is not http or https" in reasons[OLD + path] or "not an absolute URL" in reasons[OLD + path]
    for path in ["/evil", "/evil3", "/evil4", "/evil5"]:
        assert "open redirect" in reasons[OLD + path] or "credentials" in reasons[OLD + path], reasons[OLD + path]
    assert reasons[OLD + "/l1"].startswith("redirect loop") and reasons[OLD + "/self"].startswith("redirect loop")
    assert any("duplicate source" in r["reason"] and r["new_url"] == NEW + "/dup-weak" for r in report["rejected"])
    changes = {c["old_url"]: c["change"] for c in report["changes"]}
    assert "chain collapsed" in changes[OLD + "/c1"] and "gone" in changes[OLD + "/gone-by-chain"]
    document = json.loads((exported / "redirects.json").read_text())
    assert document["rejected"] == report["rejected"]
    assert len(document["rows"]) == len(EXPECTED) + 1  # plus the unmatched row



def test_apache_keys_on_host_when_old_urls_span_hosts(apache_dir):
    require(APACHE)
    rows = [row("http://a.example/same?x=1", NEW + "/from-a?y=2"), row("https://b.example/same?x=1", NEW + "/from-b", 308),
            row("http://b.example/gone", None, 410, "gone")]
    export_all(rows, apache_dir / "export", allowed_hosts=["new.example"])
    port = free_port()
    proc = run_apache(apache_conf(apache_dir, apache_dir / "export", port), port)
    try:
        assert raw_get(port, "/same?x=1", "a.example") == (301, NEW + "/from-a?y=2")
        assert raw_get(port, "/same?x=1", f"B.Example:{port}") == (308, NEW + "/from-b")
        assert raw_get(port, "/gone", "b.example")[0] == 410
        assert raw_get(port, "/gone", "a.example") == (404, None)
        assert raw_get(port, "/same?x=1", "c.example") == (404, None)
    finally:
        stop(proc)
