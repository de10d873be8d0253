"""archiver audit against real archives: wget's (WARC/1.0, <...> URIs), ours, a WACZ, then damaged copies."""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from lxml import html as lxml_html

from archiver.warc import iter_records
from archiver.audit import audit, write_report
from archiver.capture import CrawlConfig, crawl

from warcs import response, revisit, sha1, write_warc

HOSTILE = "/x<script>alert(1)</script>.png"


def site_routes(base: str) -> dict[str, tuple[int, dict, bytes]]:
    page = (
        '<html><head><link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head><body>'
        '<a href="/a.html">a</a> <a href="/missing.html">gone</a> <a href="/old">old</a>'
        '<img src="/img.png" srcset="/img-2x.png 2x"> <img src="/nope.png"> <a href="/doc.pdf">pdf</a>'
        f'<img src="{HOSTILE}"> <img src="/broken.png">'
        "</body></html>"
    ).encode()
    html = {"Content-Type": "text/html; charset=utf-8"}
    return {
        "/": (200, html, page),
        "/a.html": (200, html, b"<html><body>A <a href='/b.html'>b</a></body></html>" + b"a" * 4000),
        "/b.html": (200, html, b"<html><body>B</body></html>" + b"b" * 4000),
        "/old": (301, {"Location": "/a.html"}, b""),
        "/style.css": (200, {"Content-Type": "text/css"}, b"body{background:url(bg.png)} .x{background:url('gone.png')}"),
        "/app.js": (200, {"Content-Type": "application/javascript"}, b"var x = 1;"),
        "/img.png": (200, {"Content-Type": "image/png"}, b"\x89PNG" + b"i" * 500),
        "/img-2x.png": (200, {"Content-Type": "image/png"}, b"\x89PNG" + b"j" * 500),
        "/bg.png": (200, {"Content-Type": "image/png"}, b"\x89PNG" + b"k" * 500),
        "/doc.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4" + b"p" * 500),
        HOSTILE: (200, {"Content-Type": "image/png"}, b"\x89PNG"),
        "/broken.png": (500, {"Content-Type": "text/plain"}, b"boom"),
        "/sitemap.xml": (200, {"Content-Type": "application/xml"}, (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}/</loc></url><url><loc>{base}/a.html</loc></url>"
            f"<url><loc>{base}/old</loc></url><url><loc>{base}/never-linked.html</loc></url>"
            "</urlset>").encode()),
    }


@pytest.fixture
def site():
    """A small site on 127.0.0.1: pages, CSS, JS, images, a 301, a 404 link, a missing image, a 500."""
    routes: dict = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            status, headers, body = routes.get(unquote(self.path.split("?")[0]), (404, {"Content-Type": "text/html"}, b"not found"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    routes.update(site_routes(base))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def run_wget(base: str, out: Path, *, compressed: bool = True) -> Path:
    if not shutil.which("wget"):
        pytest.skip("wget not installed")
    args = ["wget", "--recursive", "--page-requisites", f"--warc-file={out}", "--no-verbose", "-e", "robots=off",
            "-P", str(out.parent / "download"), "--tries=1", f"{base}/"]
    if not compressed:
        args.insert(1, "--no-warc-compression")
    subprocess.run(args, capture_output=True, timeout=60)
    warc = Path(f"{out}.warc.gz" if compressed else f"{out}.warc")
    assert warc.exists()
    return warc


def outcomes(report) -> dict[str, object]:
    return {o.url: o for o in report.outcomes}


def test_wget_warc_outcomes_requisites_and_html(site, tmp_path):
    warc = run_wget(site, tmp_path / "wget")
    expected = tmp_path / "expected.txt"
    expected.write_text(f"{site}/\n{site}/a.html\n{site}/missing.html\n{site}/old\nhttps://127.0.0.1:1/elsewhere\n"
                        f"# a comment\n{site}/never-linked.html\n{site}{HOSTILE}\n")
    report = audit([warc], expected_file=expected, sitemaps=[f"{site}/sitemap.xml"])
    got = outcomes(report)
    assert got[f"{site}/"].outcome == "captured" and got[f"{site}/"].file == str(warc)
    assert got[f"{site}/missing.html"].outcome == "not_found" and got[f"{site}/missing.html"].status == 404
    assert got[f"{site}/old"].outcome == "redirected" and got[f"{site}/old"].final_url == f"{site}/a.html"
    assert "final target answered 200" in got[f"{site}/old"].reason
    assert got[f"{site}/never-linked.html"].outcome == "not_captured"
    assert set(got[f"{site}/never-linked.html"].sources) == {"list", f"sitemap {site}/sitemap.xml"}
    assert got[f"{site}{HOSTILE}"].outcome == "captured"  # wget fetched it percent-encoded: the same URL
    # a 404 is held against completeness but is not "missing": the archive holds the site's answer
    assert {m["url"] for m in report.missing} == {f"{site}/never-linked.html", "https://127.0.0.1:1/elsewhere"}
    assert [m["url"] for m in report.not_found] == [f"{site}/missing.html"] and report.out_of_scope == []
    # 7 expected, none out of scope; captured or redirected: /, /a.html, /old, the hostile image
    assert report.completeness == pytest.approx(4 / 7)

    req = {r["url"]: r for r in report.requisites_missing}
    assert req[f"{site}/nope.png"]["status"] == 404 and req[f"{site}/nope.png"]["referenced_by"] == [f"{site}/"]
    assert req[f"{site}/gone.png"]["referenced_by"] == [f"{site}/style.css"]  # found in captured CSS
    assert req[f"{site}/broken.png"]["status"] == 500
    assert f"{site}/img.png" not in req and f"{site}/img-2x.png" not in req and f"{site}/doc.pdf" not in req
    assert not [e for e in report.integrity_errors if e["severity"] == "error"]
    assert report.summary["status"]["200"] >= 8 and report.summary["mime"]["text/html"] >= 3

    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["completeness"] == pytest.approx(4 / 7) and "expected - out_of_scope" in data["completeness_definition"]
    page = paths["html"].read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    tree = lxml_html.fromstring(page)
    assert len(tree.findall(".//script")) == 1 and not tree.xpath("//script/@src | //link/@href | //img/@src")
    assert tree.xpath("//svg") and tree.xpath("//table[@id='requisites']//td[contains(., 'nope.png')]")
    # the headline adds up and gives the same ratio; each list in its own section; statuses never wrap
    headline = " ".join(tree.xpath("//p[@class='headline']")[0].text_content().split())
    assert headline.startswith("7 expected URLs: 0 out of scope (not counted), so 7 in scope: 3 captured + 1 "
                               "redirected (complete), 1 captured as 404/410, 2 missing.")
    assert "Completeness = (3 + 1) / 7 = 57.1%." in headline
    assert tree.xpath("//p[contains(@class, 'verdict')]/strong/text()") == ["NO THRESHOLD"]
    assert tree.xpath("//table[@id='missing']//td[1]/text()") == [m["url"] for m in report.missing]
    assert tree.xpath("//table[@id='not-found']//td[1]/text()") == [f"{site}/missing.html"]
    assert set(tree.xpath("//table[@id='outcomes']//td[3]/@class")) == {"short"}
    assert set(tree.xpath("//table[@id='outcomes']//td[1]/@class")) == {"url"}


@pytest.mark.parametrize("reader", ["fastwarc", "warcio"])
def test_altered_byte_and_cut_file_are_reported_precisely_rest_still_audited(site, tmp_path, reader, monkeypatch):
    monkeypatch.setenv("ARCHIVER_WARC_READER", reader)
    plain = run_wget(site, tmp_path / "plain", compressed=False)
    packed = run_wget(site, tmp_path / "packed")
    records = {r.url: r for r in iter_records([plain]) if r.rec_type == "response"}
    target = records[f"{site}/b.html"]
    data = bytearray(plain.read_bytes())
    pos = data.index(b"b" * 100, target.offset)
    data[pos] ^= 0x01
    plain.write_bytes(bytes(data))

    gz_records = [r for r in iter_records([packed]) if r.rec_type in ("response", "request")]
    victim = next(r for r in gz_records if r.url == f"{site}/a.html" and r.rec_type == "response")
    packed.write_bytes(packed.read_bytes()[: victim.offset + victim.length // 2])

    report = audit([plain, packed], expected_file=None, sitemaps=[f"{site}/sitemap.xml"])
    errors = [e for e in report.integrity_errors if e["severity"] == "error"]
    flipped = [e for e in errors if e["file"] == str(plain)]
    assert {e["kind"] for e in flipped} == {"block_digest", "payload_digest"}
    assert {(e["offset"], e["url"]) for e in flipped} == {(target.offset, f"{site}/b.html")}
    cut = [e for e in errors if e["file"] == str(packed)]
    assert len(cut) == 1 and cut[0]["kind"] in ("cut_record", "cut_gzip")
    assert cut[0]["offset"] == victim.offset and cut[0]["url"] == f"{site}/a.html"
    # the rest is still audited: the undamaged copy in the other file still counts
    got = outcomes(report)
    assert got[f"{site}/a.html"].outcome == "captured" and got[f"{site}/a.html"].file == str(plain)
    assert got[f"{site}/"].outcome == "captured"

    # scanning the files in parallel gives the same report as one pass
    serial = audit([plain, packed], sitemaps=[f"{site}/sitemap.xml"], workers=1).to_json()
    parallel = audit([plain, packed], sitemaps=[f"{site}/sitemap.xml"], workers=2).to_json()
    assert {k: v for k, v in serial.items() if k != "generated"} == {k: v for k, v in parallel.items() if k != "generated"}

    only_cut = audit([packed], sitemaps=[f"{site}/sitemap.xml"])
    assert outcomes(only_cut)[f"{site}/a.html"].outcome == "not_captured"
    assert "damaged" in outcomes(only_cut)[f"{site}/a.html"].reason


def test_wacz_and_ours(site, tmp_path):
    warc = run_wget(site, tmp_path / "w")
    wacz = tmp_path / "site.wacz"
    with zipfile.ZipFile(wacz, "w") as z:
        z.write(warc, "archive/data.warc.gz", compress_type=zipfile.ZIP_STORED)
        z.writestr("datapackage.json", json.dumps({"profile": "data-package", "resources": []}))
        z.writestr("pages/pages.jsonl", '{"format": "json-pages-1.0", "id": "pages"}\n'
                   + json.dumps({"id": "1", "url": f"{site}/a.html", "ts": "2024-01-01T00:00:00Z"}) + "\n"
                   + json.dumps({"id": "2", "url": f"{site}/unseen.html"}) + "\n")
    report = audit([wacz], sitemaps=[f"{site}/sitemap.xml"])
    got = outcomes(report)
    assert got[f"{site}/a.html"].outcome == "captured"
    assert got[f"{site}/a.html"].file == f"{wacz}#archive/data.warc.gz"
    listed = outcomes(audit([wacz]))  # no expected set given: the WACZ's own page list is used
    assert set(listed) == {f"{site}/a.html", f"{site}/unseen.html"}
    assert listed[f"{site}/unseen.html"].outcome == "not_captured" and listed[f"{site}/unseen.html"].sources == ("wacz pages",)

    crawl_dir = tmp_path / "crawl"
    crawl(CrawlConfig(seeds=[f"{site}/"], out_dir=crawl_dir, delay=0, progress="none",
                                      max_retries=0, timeout=10))
    ours = audit([crawl_dir])  # crawl.jsonl beside warc/ is found and used as the expected set
    assert any("crawl log" in g for g in ours.expected_from)
    got = outcomes(ours)
    assert got[f"{site}/"].outcome == "captured"
    assert got[f"{site}/missing.html"].outcome == "not_found"
    assert not [e for e in ours.integrity_errors if e["severity"] == "error"]
    assert f"{site}/nope.png" in {r["url"] for r in ours.requisites_missing}


def test_revisit_without_original_and_redirect_manifest_coverage(tmp_path):

    warc = tmp_path / "r.warc.gz"
    write_warc(warc, [
        response("http://example.com/a", b"<html>a</html>"),
        response("http://example.com/moved", b"", 301, {"Location": "https://new.example/a"}),
        revisit("http://example.com/lost", "http://example.com/lost", "2020-01-01T00:00:00Z", sha1(b"gone")),
        response("https://www.example.com/b", b"<html>b</html>"),
    ])
    manifest = tmp_path / "redirects.csv"
    manifest.write_text("old_url,new_url,status,kind,method,confidence\n"
                        "http://example.com/a,https://new.example/a,301,page,content,0.9\n"
                        "http://example.com/moved,https://new.example/a,301,page,http_redirect,1\n"
                        "http://example.com/lost,,410,gone,gone,1\n"
                        "http://example.com/b,https://new.example/,301,fallback,rule,0.5\n"
                        "http://example.com/c,,,unmatched,none,0\n")
    report = audit([warc], redirects=manifest)
    coverage = report.summary["redirect_coverage"]
    assert (coverage["page"], coverage["fallback"], coverage["gone"], coverage["unmatched"]) == (2, 1, 1, 1)
    assert coverage["old_urls_in_archive"] == 2
    got = outcomes(report)
    assert got["http://example.com/moved"].final_url == "https://new.example/a"
    assert "not in the archive" in got["http://example.com/moved"].reason
    assert "revisit" in got["http://example.com/lost"].reason
    assert "captured as https://www.example.com/b" in got["http://example.com/b"].reason  # reported, not merged
    assert got["http://example.com/b"].outcome == "not_captured" and report.summary["captured_only_as_variant"] == 1
    assert [e["kind"] for e in report.integrity_errors] == ["revisit_original_missing"]


def test_sitemap_safety_and_gzip_index(tmp_path):
    from archiver.audit.expected import Expected, load_sitemap
    from archiver.errors import UsageError

    child = tmp_path / "pages.xml.gz"
    child.write_bytes(gzip.compress(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                    b"<url><loc>http://example.com/p1</loc></url></urlset>"))
    index = tmp_path / "index.xml"
    index.write_text('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                     "<sitemap><loc>http://example.com/pages.xml.gz</loc></sitemap>"
                     "<sitemap><loc>http://127.0.0.1:9/elsewhere.xml</loc></sitemap></sitemapindex>")
    expected = Expected()
    load_sitemap(expected, str(index))
    assert list(expected.urls.values()) == ["http://example.com/p1"]
    assert any("elsewhere.xml" in w and "not fetched" in w for w in expected.warnings)  # no live access from a file

    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
                    '<!ENTITY xxe SYSTEM "file:///etc/passwd">]><urlset><url><loc>&b;&xxe;</loc></url></urlset>')
    with pytest.raises(UsageError, match="DTD"):
        load_sitemap(Expected(), str(bomb))


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archiver", "audit", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_cli_exit_codes(tmp_path):
    warc = tmp_path / "x.warc.gz"
    write_warc(warc, [response("http://example.com/a", b"<html>a</html>")])
    expected = tmp_path / "e.txt"
    expected.write_text("http://example.com/a\nhttp://example.com/b\n")
    ok = cli(warc, "--expected", expected, "--fail-under", "0.5", "--out", tmp_path / "o1")
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "o1" / "audit.json").read_text())["completeness"] == 0.5
    under = cli(warc, "--expected", expected, "--fail-under", "90%", "--out", tmp_path / "o2")
    assert under.returncode == 3 and (tmp_path / "o2" / "audit.html").exists()
    # pass or fail in words, not only as a colour
    for out, word in (("o1", "PASSED"), ("o2", "FAILED")):
        tree = lxml_html.fromstring((tmp_path / out / "audit.html").read_text())
        assert tree.xpath("//p[contains(@class, 'verdict')]/strong/text()") == [word]
    assert "completeness 50.0% of 2 expected URLs in scope" in under.stdout
    for bad in ([tmp_path / "nope.warc", "--out", tmp_path / "o3"],
                [warc, "--fail-under", "1.5", "--out", tmp_path / "o3"],
                [warc, "--expected", tmp_path / "missing.txt", "--out", tmp_path / "o3"],
                [tmp_path / "o1", "--out", tmp_path / "o4"],  # a directory without WARC files
                [warc]):
        result = cli(*bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert result.stderr.strip() and "Traceback" not in result.stderr


def test_cli_fails_on_what_is_not_an_archive_or_is_damaged(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("http://example.com/a\n")
    text = cli(notes, "--out", tmp_path / "o1")
    assert text.returncode == 2 and "not a WARC" in text.stderr and len(text.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o1" / "audit.json").exists()

    good = [response(f"http://example.com/{n}", b"<html>" + bytes([65 + n]) * 500 + b"</html>") for n in range(3)]
    damaged = tmp_path / "damaged.warc"
    offsets = write_warc(damaged, good)
    data = bytearray(damaged.read_bytes())
    data[offsets[1] + 600] ^= 0x20  # a flipped bit in the second page's body: digests no longer match
    damaged.write_bytes(bytes(data))
    failed = cli(damaged, "--out", tmp_path / "o2")
    assert failed.returncode == 3 and "damaged" in failed.stdout, failed.stdout + failed.stderr
    report = json.loads((tmp_path / "o2" / "audit.json").read_text())
    assert report["passed"] is False and {e["kind"] for e in report["integrity_errors"]} >= {"block_digest"}
    assert {e["offset"] for e in report["integrity_errors"]} == {offsets[1]}
    ignored = cli(damaged, "--ignore-integrity", "--out", tmp_path / "o3")
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr
    assert json.loads((tmp_path / "o3" / "audit.json").read_text())["passed"] is True

    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "ok.warc").write_bytes(b"".join(good))
    (tmp_path / "dir" / "broken.wacz").write_bytes(b"PK\x03\x04 cut short")  # named as an archive, unreadable
    in_dir = cli(tmp_path / "dir", "--out", tmp_path / "o4")
    assert in_dir.returncode == 3  # reported, not skipped
    errors = json.loads((tmp_path / "o4" / "audit.json").read_text())["integrity_errors"]
    assert [(Path(e["file"]).name, e["kind"]) for e in errors] == [("broken.wacz", "unreadable")]


def test_crawl_log_reasons_duplicates_and_completeness_definition(tmp_path):
    warc = tmp_path / "c.warc.gz"
    same = b"<html>same body</html>"
    write_warc(warc, [
        response("http://example.com/", b'<html><img src="http://cdn.example.net/logo.png"></html>'),
        response("http://example.com/p1", same),
        response("http://example.com/p1", same, date="2024-01-02T00:00:00Z"),
        response("http://example.com/p1-copy", same),
    ])
    log = tmp_path / "crawl.jsonl"
    rows = [
        {"url": "http://example.com/", "status": 200, "kind": "page"},
        {"url": "http://example.com/p1", "status": 200, "kind": "page"},
        {"url": "http://example.com/private", "status": None, "skipped_reason": "robots", "kind": "page"},
        {"url": "http://other.example/x", "status": None, "skipped_reason": "out of scope: host", "kind": "page"},
        {"url": "http://example.com/flaky", "status": 503, "error": "HTTP 503", "attempts": 4, "kind": "page"},
        {"url": "http://example.com/robots.txt", "status": 200, "kind": "robots"},
        {"url": "http://cdn.example.net/logo.png", "status": None, "error": "ConnectionError", "attempts": 4,
         "kind": "requisite"},
    ]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    report = audit([warc], crawl_logs=[log])
    got = outcomes(report)
    assert got["http://example.com/private"].outcome == "blocked_by_robots"
    assert got["http://other.example/x"].outcome == "out_of_scope"
    assert got["http://example.com/flaky"].outcome == "error" and "4 attempt" in got["http://example.com/flaky"].reason
    assert "http://example.com/robots.txt" not in got
    # (captured 2) / (expected 6, the failed requisite included, - out_of_scope 1)
    assert report.completeness == pytest.approx(2 / 5)
    assert any("unreadable line" in w for w in report.warnings)
    (req,) = report.requisites_missing
    assert req["url"] == "http://cdn.example.net/logo.png" and req["other_host"] and "ConnectionError" in req["reason"]
    dup = report.summary["duplicates"]
    assert dup["top_urls"] == [{"url": "http://example.com/p1", "captures": 2}]
    assert dup["payloads_under_several_urls"] == 1 and len(dup["top_payloads"][0]["examples"]) == 2
    assert report.summary["hosts"]["example.com"]["records"] == 4
    assert report.summary["hosts"]["example.com"]["blocked_by_robots"] == 1
    assert report.summary["hosts"]["other.example"]["out_of_scope"] == 1


def test_requisite_extraction_covers_embeds_srcset_css_and_documents():
    from archiver.audit.requisites import css_references, html_references

    page = (b'<html><body style="background:url(s.png)"><base href="/b/"><a href="x.PDF?a=1">p</a>'
            b'<a href="y.html">page</a><a href="javascript:x()">js</a><img src="data:image/png;base64,AA">'
            b'<img src="i.png#f" srcset="i2.png 2x, i3.png 3x"><link rel="stylesheet" href="c.css">'
            b'<link rel="alternate" href="feed.xml"><style>@import "imp.css";</style><input type=image src="in.png">'
            b'<input src="no.png"><script src="https://cdn.example.net/app.js"></script></body></html>')
    assert list(html_references("http://h/d/", page)) == [
        ("http://h/b/x.PDF?a=1", "document"), ("http://h/b/i.png", "img"), ("http://h/b/i2.png", "img"),
        ("http://h/b/i3.png", "img"), ("http://h/b/c.css", "css"), ("http://h/b/imp.css", "css"),
        ("http://h/b/in.png", "input"), ("https://cdn.example.net/app.js", "script"), ("http://h/b/s.png", "css"),
    ]
    assert list(css_references("http://h/c/site.css", b"a{b:url( '../img/x.png' )} @import url(y.css);")) == [
        ("http://h/img/x.png", "css"), ("http://h/c/y.css", "css")]
    assert list(html_references("http://h/", b"\x00\xff garbage <<<")) == []


@pytest.mark.parametrize("reader", ["fastwarc", "warcio"])
def test_one_big_file_is_split_across_workers_with_the_same_report(tmp_path, monkeypatch, reader):
    monkeypatch.setenv("ARCHIVER_WARC_READER", reader)

    from archiver.warc import Source, read_source, split_points
    from archiver.audit import inventory

    page = b'<html><link rel="stylesheet" href="/s.css"><img src="/i%d.png"></html>'
    records = []
    for i in range(60):
        records.append(response(f"http://example.com/p{i}", page % i, chunked=i % 3 == 0))
        records.append(response(f"http://example.com/i{i}.png", b"\x89PNG" + bytes([i]) * 3000,
                                headers={"Content-Type": "image/png"}))
    records.append(revisit("http://example.com/again", "http://example.com/p1", "2024-01-01T00:00:00Z", sha1(page % 1)))
    big = tmp_path / "big.warc.gz"
    offsets = write_warc(big, records)
    damaged = tmp_path / "damaged.warc.gz"
    damaged_offsets = write_warc(damaged, records[:40])
    data = bytearray(damaged.read_bytes())
    data[damaged_offsets[20] + 10] = 0x07  # the member's first deflate block gets the reserved type: unreadable
    damaged.write_bytes(bytes(data))

    points = split_points(Source(str(big), str(big)), 4)
    assert len(points) == 4 and set(points) <= set(offsets)  # only at record (gzip member) boundaries
    whole = tmp_path / "whole.warc.gz"  # gzip'd as one member: no record boundary to split at
    whole.write_bytes(gzip.compress(b"".join(records)))
    assert split_points(Source(str(whole), str(whole)), 4) == [0]
    ranges = zip(points, [*points[1:], None])
    parts = [[e.info.offset for e in read_source(Source(str(big), str(big)), start=a, end=b)] for a, b in ranges]
    assert [o for part in parts for o in part] == offsets  # every record read once, in order

    expected = tmp_path / "expected.txt"
    expected.write_text("\n".join(f"http://example.com/p{i}" for i in range(61)) + "\nhttp://example.com/again\n")

    def report(workers: int) -> dict:
        data = audit([big, damaged], expected_file=expected, workers=workers).to_json()
        data.pop("generated")
        return data

    serial = report(1)
    assert serial["summary"]["records"] == 121 + 39  # the damaged file is read on past its bad member
    (error,) = serial["integrity_errors"]
    assert (error["kind"], error["file"], error["offset"]) == ("unreadable", str(damaged), damaged_offsets[20])
    assert f"resumed at offset {damaged_offsets[21]}" in error["detail"]
    assert serial["outcomes"][1]["outcome"] == "captured" and len(serial["requisites_missing"]) == 1  # /s.css
    monkeypatch.setattr(inventory, "PART_MIN", 1024)  # split even these small files
    sources = inventory.expand_inputs([big, damaged])
    assert len(inventory._plan(sources, 2)) > len(sources) + 2
    assert report(2) == serial
    # a split point that is not a record boundary is caught: the file is scanned again whole
    monkeypatch.setattr(inventory, "split_points", lambda source, parts: [0, offsets[50] + 7])
    assert report(2) == serial


def test_completeness_ratio_from_counts():
    from archiver.audit import completeness_ratio

    assert completeness_ratio({"captured": 3, "redirected": 1, "not_found": 2, "out_of_scope": 4,
                               "not_captured": 2}) == 0.5
    assert completeness_ratio({"redirected": 1, "error": 1}) == 0.5  # no "captured" key at all
    assert completeness_ratio({"captured": 2}) == 1.0
    assert completeness_ratio({"not_captured": 3}) == 0.0
    assert completeness_ratio({"out_of_scope": 3}) is None and completeness_ratio({}) is None


def test_documents_linked_but_not_captured_and_captured_without_a_row(tmp_path):
    page = ('<html><body><a href="/files/ok.pdf">ok</a> <a href="/files/Poro%C4%8Dilo.pdf">missing</a>'
            '<a href="/files/removed.docx">404</a> <a href="/files/moved.pdf">moved</a>'
            '<a href="/files/x&lt;script&gt;.pdf">hostile</a></body></html>').encode()
    pdf_type = {"Content-Type": "application/pdf"}
    warc = tmp_path / "d.warc.gz"
    write_warc(warc, [
        response("http://old.example/", page, headers={"Content-Type": "text/html"}),
        response("http://old.example/files/ok.pdf", b"%PDF-1.4 ok", headers=pdf_type),
        response("http://old.example/files/removed.docx", b"gone", 404, {"Content-Type": "text/html"}),
        response("http://old.example/files/moved.pdf", b"", 301, {"Location": "/files/nowhere.pdf"}),
        response("http://old.example/prenos/letno.docx", b"PK\x03\x04", headers={"Content-Type": "application/octet-stream"}),
        response("http://old.example/robots.txt", b"User-agent: *", headers={"Content-Type": "text/plain"}),
        response("http://old.example/logo.png", b"\x89PNG", headers={"Content-Type": "image/png"}),
    ])
    without_manifest = audit([warc]).documents
    assert without_manifest["captured"] == 2 and without_manifest["captured_without_row"] is None
    reasons = {d["url"]: d["reason"] for d in without_manifest["linked_not_captured"]}
    assert reasons == {"http://old.example/files/Poro%C4%8Dilo.pdf": "never captured",
                       "http://old.example/files/removed.docx": "HTTP 404",
                       "http://old.example/files/moved.pdf": "redirects to http://old.example/files/nowhere.pdf: "
                                                             "never captured",
                       "http://old.example/files/x%3Cscript%3E.pdf": "never captured"}
    assert all(d["linked_from"] == ["http://old.example/"] for d in without_manifest["linked_not_captured"])
    manifest = tmp_path / "redirects.csv"
    manifest.write_text("old_url,new_url,status,kind,method,confidence\n"
                        "http://old.example/files/ok.pdf,https://new.example/ok.pdf,301,document,digest,1\n")
    report = audit([warc], redirects=manifest)
    assert report.documents["captured_without_row"] == ["http://old.example/prenos/letno.docx"]
    assert report.summary["redirect_coverage"]["document"] == 1
    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["documents"]["captured_without_row_count"] == 1 and data["documents"]["linked_not_captured_count"] == 4
    page_html = paths["html"].read_text()
    assert "Documents linked from pages but not captured" in page_html and "prenos/letno.docx" in page_html
    assert "x<script>" not in page_html and "x%3Cscript%3E.pdf" in page_html
