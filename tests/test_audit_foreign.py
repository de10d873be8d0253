"""Archives shaped like other crawlers make them, built byte by byte: Heritrix 3 (WARC/1.0) and a Browsertrix
Crawler WACZ (WARC/1.1). iter_captures must yield exactly the HTTP captures, resolve their revisits, and the
audit must report outcomes and requisites with no false integrity errors.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import uuid
import zipfile

import pytest

from archiver.warc import iter_captures, iter_records
from archiver.audit import audit

from warcs import chunk, http_response, record, sha1, write_warc

H = "http://www.example.gov"
HERITRIX_REVISIT = "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"


@pytest.fixture(autouse=True, params=["fastwarc", "warcio"])
def reader(request, monkeypatch):
    monkeypatch.setenv("ARCHIVER_WARC_READER", request.param)
    return request.param


def rid() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


# ----------------------------------------------------------------------------------------------- Heritrix 3
HOME = (b'<html><head><title>Ministry</title><link rel="stylesheet" href="/style.css"></head><body>'
        b'<img src="/logo.png"><img src="/missing.png"><a href="/docs/report.pdf">Report</a>'
        b'<a href="/news.html">News</a><a href="/old">old</a></body></html>')
NEWS = b"<html><body><h1>News</h1>" + b"<p>item</p>" * 300 + b"</body></html>"


def heritrix_exchange(url: str, http: bytes, payload: bytes | None, *, date: str, outlinks=(), via: str = "",
                      payload_digest: str | None = None, extra: dict | None = None) -> list[bytes]:
    """response, request and metadata records as Heritrix 3 writes them for one fetch (WARC/1.0)."""
    response_id = rid()
    path = url[len(H):] or "/"
    request = (f"GET {path} HTTP/1.0\r\nUser-Agent: Mozilla/5.0 (compatible; heritrix/3.4.0 +http://example.org)\r\n"
               f"Connection: close\r\nReferer: {via or H + '/'}\r\nHost: www.example.gov\r\n\r\n").encode()
    fields = [f"via: {via}"] if via else []
    fields += ["hopsFromSeed: " + ("L" if via else ""), "sourceTag: seeds", "fetchTimeMs: 37",
               "charsetForLinkExtraction: UTF-8"]
    fields += [f"outlink: {link} L a/@href" for link in outlinks]
    return [
        record(url, http=http, payload=payload, payload_digest=payload_digest, date=date, version="1.0",
               extra={"WARC-Record-ID": response_id, "WARC-IP-Address": "192.0.2.10", **(extra or {})}),
        record(url, rec_type="request", http=request, date=date, version="1.0",
               content_type="application/http; msgtype=request", extra={"WARC-Concurrent-To": response_id}),
        record(url, rec_type="metadata", http=("\r\n".join(fields) + "\r\n").encode(), date=date, version="1.0",
               content_type="application/warc-fields", extra={"WARC-Concurrent-To": response_id}),
    ]


def heritrix_warc(path) -> dict[str, int]:
    """A Heritrix 3 crawl of a small government site (one gzip member per record); returns offsets by label."""
    d1, d2 = "2024-05-01T10:00:00Z", "2024-06-01T10:00:00Z"
    warcinfo = ("software: Heritrix/3.4.0-20220727 http://crawler.archive.org\r\nhostname: crawler01\r\n"
                "ip: 10.1.1.1\r\nhttp-header-user-agent: Mozilla/5.0 (compatible; heritrix/3.4.0 +http://example.org)\r\n"
                "format: WARC File Format 1.0\r\n"
                "conformsTo: http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf\r\n"
                "operator: archivist\r\nrobots: obey\r\nisPartOf: gov-retirement\r\n").encode()
    dns = b"20240501100000\nwww.example.gov.\t300\tIN\tA\t192.0.2.10\n"
    news_http, _ = http_response(NEWS, chunked=True)
    pdf_head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 250000\r\n\r\n"
    pdf_part = b"%PDF-1.4\n" + b"x" * 4000  # Heritrix stopped at its max length: WARC-Truncated: length
    home_http, _ = http_response(HOME)
    revisit_head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(HOME)}\r\n\r\n"
    revisit_extra = {"WARC-Profile": HERITRIX_REVISIT, "WARC-Truncated": "length"}  # no WARC-Refers-To-*: old H3
    labelled = [
        ("warcinfo", record("", rec_type="warcinfo", http=warcinfo, version="1.0", content_type="application/warc-fields",
                            extra={"WARC-Filename": "WEB-20240501100000-00000-crawler01.warc.gz"})),
        ("dns", record("dns:www.example.gov", http=dns, version="1.0", content_type="text/dns",
                       extra={"WARC-IP-Address": "8.8.8.8"})),
    ]
    exchanges = [
        ("robots", f"{H}/robots.txt", http_response(b"User-agent: *\nDisallow:\n", headers={"Content-Type": "text/plain"})),
        ("home", f"{H}/", (home_http, HOME)),
        ("style", f"{H}/style.css", http_response(b"body{background:url(bg.png)}", headers={"Content-Type": "text/css"})),
        ("logo", f"{H}/logo.png", http_response(b"\x89PNG logo" * 50, headers={"Content-Type": "image/png"})),
        ("bg", f"{H}/bg.png", http_response(b"\x89PNG bg" * 50, headers={"Content-Type": "image/png"})),
        ("old", f"{H}/old", http_response(b"", 301, {"Location": "/news.html", "Content-Type": "text/html"})),
        ("gone", f"{H}/gone.html", http_response(b"<html>not here</html>", 404)),
    ]
    for label, url, (http, payload) in exchanges:
        labelled.append((label, heritrix_exchange(url, http, payload, date=d1, via=f"{H}/" if label != "home" else "",
                                                  outlinks=[f"{H}/news.html"] if label == "home" else ())))
    # old Heritrix digested the chunked bytes of a chunked answer
    labelled.append(("news", heritrix_exchange(f"{H}/news.html", news_http, None, date=d1, via=f"{H}/",
                                               payload_digest=sha1(chunk(NEWS)))))
    labelled.append(("pdf", heritrix_exchange(f"{H}/docs/report.pdf", pdf_head + pdf_part, pdf_part, date=d1,
                                              via=f"{H}/", extra={"WARC-Truncated": "length"})))
    labelled.append(("screenshot", record(f"screenshot:{H}/", rec_type="resource", http=b"\x89PNG shot", version="1.0",
                                          content_type="image/png", date=d1)))
    # a second crawl: the home page unchanged, and the same page under another URL; both revisits by digest only
    for label, url in (("home-again", f"{H}/"), ("index", f"{H}/index.html")):
        labelled.append((label, record(url, rec_type="revisit", http=revisit_head.encode(), date=d2, version="1.0",
                                       payload_digest=sha1(HOME), extra=revisit_extra)))
    records, labels = [], []
    for label, data in labelled:
        for one in data if isinstance(data, list) else [data]:
            records.append(one)
            labels.append(label)
    offsets = write_warc(path, records)
    first = {}
    for label, offset in zip(labels, offsets):
        first.setdefault(label, offset)
    return first


def test_heritrix_warc_captures_revisits_and_audit(tmp_path):
    warc = tmp_path / "WEB-20240501100000-00000-crawler01.warc.gz"
    offsets = heritrix_warc(warc)
    caps = list(iter_captures([warc]))
    urls = sorted((c.url, c.record_type) for c in caps)
    assert urls == sorted([(f"{H}/robots.txt", "response"), (f"{H}/", "response"), (f"{H}/style.css", "response"),
                           (f"{H}/logo.png", "response"), (f"{H}/bg.png", "response"), (f"{H}/old", "response"),
                           (f"{H}/gone.html", "response"), (f"{H}/news.html", "response"),
                           (f"{H}/docs/report.pdf", "response"), (f"{H}/", "revisit"), (f"{H}/index.html", "revisit")])
    by = {(c.url, c.record_type): c for c in caps}
    for key in ((f"{H}/", "revisit"), (f"{H}/index.html", "revisit")):  # resolved by payload digest alone
        assert by[key].body == HOME and by[key].revisit_of == (f"{H}/", "2024-05-01T10:00:00Z"), key
        assert by[key].status == 200
    assert by[(f"{H}/news.html", "response")].body == NEWS  # de-chunked
    assert by[(f"{H}/docs/report.pdf", "response")].truncated == "length"
    assert by[(f"{H}/", "response")].ip_address == "192.0.2.10" and by[(f"{H}/", "response")].offset == offsets["home"]

    problems = {(r.url, kind) for r in iter_records([warc]) for kind, _ in r.problems}
    assert problems == {(f"{H}/news.html", "payload_digest_chunked"), (f"{H}/docs/report.pdf", "truncated")}

    expected = tmp_path / "seeds.txt"
    expected.write_text("\n".join(f"{H}{p}" for p in ("/", "/news.html", "/old", "/gone.html", "/index.html",
                                                        "/never.html")) + "\n")
    report = audit([warc], expected_file=expected)
    got = {o.url: o for o in report.outcomes}
    assert {u: o.outcome for u, o in got.items()} == {
        f"{H}/": "captured", f"{H}/news.html": "captured", f"{H}/old": "redirected", f"{H}/gone.html": "not_found",
        f"{H}/index.html": "captured", f"{H}/never.html": "not_captured"}
    assert got[f"{H}/old"].final_url == f"{H}/news.html"
    assert [r["url"] for r in report.requisites_missing] == [f"{H}/missing.png"]  # css, png, bg via CSS, pdf held
    assert not [e for e in report.integrity_errors if e["severity"] == "error"]
    notes = {(e["kind"], e["url"], e["offset"]) for e in report.integrity_errors}
    assert notes == {("payload_digest_chunked", f"{H}/news.html", offsets["news"]),
                     ("truncated", f"{H}/docs/report.pdf", offsets["pdf"])}
    types = report.summary["record_types"]
    assert types == {"warcinfo": 1, "response": 10, "request": 9, "metadata": 9, "resource": 1, "revisit": 2}
    assert report.summary["status"] == {"200": 9, "301": 1, "404": 1}  # dns:, screenshot: and metadata not counted


# ----------------------------------------------------------------------------------------- Browsertrix Crawler
B = "https://gov.example"
PAGE = (b'<!DOCTYPE html><html><head><link rel="stylesheet" href="/app.css"></head><body>'
        b'<img src="/img/a.webp"><a href="/about">About</a></body></html>')
ABOUT = b'<html><body><img src="/img/b.webp"><img src="/img/missing.webp"></body></html>'
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(range(256)) * 8


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()  # warcio.js writes base16 SHA-256


def btrix_response(url: str, body: bytes, ctype: str, date: str, *, status_line: str = "HTTP/1.1 200") -> list[bytes]:
    """A browser-seen response: headers rebuilt from the devtools protocol, body already decoded (no
    Content-Encoding, Content-Length of the decoded body), no reason phrase; plus its request."""
    http = (f"{status_line}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            f"date: Wed, 01 May 2024 10:00:00 GMT\r\n\r\n").encode() + body
    response_id = rid()
    request = f"GET {url[len(B):] or '/'} HTTP/1.1\r\nhost: gov.example\r\nuser-agent: Mozilla/5.0 Chrome/124\r\n\r\n"
    return [
        record(url, http=http, date=date, extra={"WARC-Record-ID": response_id, "WARC-Block-Digest": sha256(http),
                                                 "WARC-Payload-Digest": sha256(body)}),
        record(url, rec_type="request", http=request.encode(), date=date,
               content_type="application/http; msgtype=request",
               extra={"WARC-Concurrent-To": response_id, "WARC-Block-Digest": sha256(request.encode())}),
    ]


def btrix_resource(uri: str, data: bytes, ctype: str, date: str) -> bytes:
    return record(uri, rec_type="resource", http=data, date=date, content_type=ctype,
                  extra={"WARC-Block-Digest": sha256(data), "WARC-Payload-Digest": sha256(data)})


def browsertrix_wacz(path, warc_records: list[bytes]) -> None:
    warc = b"".join(gzip.compress(r) for r in warc_records)
    name = "archive/rec-20240501100000123456-crawler-0.warc.gz"
    pages = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}]
    pages += [{"id": str(uuid.uuid4()), "url": f"{B}{p}", "title": p, "loadState": 4, "ts": "2024-05-01T10:00:00Z"}
              for p in ("/", "/about", "/contact")]
    cdx = gzip.compress(f'gov,example)/ 20240501100000 {{"url": "{B}/", "status": "200"}}\n'.encode())
    files = {name: warc, "pages/pages.jsonl": "\n".join(json.dumps(p) for p in pages).encode() + b"\n",
             "indexes/index.cdx.gz": cdx}
    package = {"profile": "data-package", "wacz_version": "1.1.1", "software": "Browsertrix-Crawler 1.2.0",
               "created": "2024-05-01T10:05:00Z", "title": "gov.example",
               "resources": [{"name": n.rsplit("/", 1)[-1], "path": n, "hash": sha256(d), "bytes": len(d)}
                             for n, d in files.items()]}
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data, compress_type=zipfile.ZIP_STORED)  # WACZ stores the WARCs uncompressed
        body = json.dumps(package).encode()
        z.writestr("datapackage.json", body)
        z.writestr("datapackage-digest.json", json.dumps({"path": "datapackage.json", "hash": sha256(body)}))


def browsertrix_records() -> list[bytes]:
    d1, d2 = "2024-05-01T10:00:00.123Z", "2024-05-01T10:00:05.456Z"
    info = (b"software: Browsertrix-Crawler 1.2.0 (with warcio.js 2.2.1)\r\nformat: WARC File Format 1.1\r\n"
            b"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n")
    pageinfo = json.dumps({"pageid": "p1", "url": f"{B}/", "ts": d1, "urls": {f"{B}/app.css": {"status": 200}},
                           "counts": {"jsErrors": 0}}).encode()
    revisit_http = f"HTTP/1.1 200\r\ncontent-type: image/webp\r\ncontent-length: {len(WEBP)}\r\n\r\n".encode()
    return [
        record("", rec_type="warcinfo", http=info, content_type="application/warc-fields",
               extra={"WARC-Filename": "rec-20240501100000123456-crawler-0.warc.gz"}),
        *btrix_response(f"{B}/", PAGE, "text/html; charset=utf-8", d1),
        *btrix_response(f"{B}/app.css", b"body{color:#333}", "text/css", d1, status_line="HTTP/1.1 200 "),
        *btrix_response(f"{B}/img/a.webp", WEBP, "image/webp", d1),
        btrix_resource(f"urn:pageinfo:{B}/", pageinfo, "application/json", d1),
        btrix_resource(f"urn:text:{B}/", b"About", "text/plain", d1),
        btrix_resource(f"urn:view:{B}/", b"\x89PNG screenshot", "image/png", d1),
        *btrix_response(f"{B}/about", ABOUT, "text/html", d2),
        record(f"{B}/img/b.webp", rec_type="revisit", http=revisit_http, date=d2, extra={
            "WARC-Profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
            "WARC-Refers-To-Target-URI": f"{B}/img/a.webp", "WARC-Refers-To-Date": d1,
            "WARC-Block-Digest": sha256(revisit_http), "WARC-Payload-Digest": sha256(WEBP)}),
    ]


def test_browsertrix_wacz_captures_revisits_and_audit(tmp_path):
    wacz = tmp_path / "gov-example.wacz"
    browsertrix_wacz(wacz, browsertrix_records())
    caps = {c.url: c for c in iter_captures([wacz])}
    assert set(caps) == {f"{B}/", f"{B}/app.css", f"{B}/img/a.webp", f"{B}/about", f"{B}/img/b.webp"}  # no urn:
    assert caps[f"{B}/"].body == PAGE and caps[f"{B}/"].status == 200 and caps[f"{B}/"].is_html
    assert caps[f"{B}/app.css"].status == 200  # "HTTP/1.1 200 ", an empty reason phrase
    assert caps[f"{B}/img/b.webp"].body == WEBP
    assert caps[f"{B}/img/b.webp"].revisit_of == (f"{B}/img/a.webp", "2024-05-01T10:00:00.123Z")
    assert not [p for r in iter_records([wacz]) for p in r.problems]  # base16 SHA-256 digests all verified

    report = audit([wacz])  # no expected set given: the WACZ's pages/pages.jsonl is it
    got = {o.url: o.outcome for o in report.outcomes}
    assert got == {f"{B}/": "captured", f"{B}/about": "captured", f"{B}/contact": "not_captured"}
    assert {o.url: o.outcome for o in audit([tmp_path]).outcomes} == got  # also when found in a directory
    assert [r["url"] for r in report.requisites_missing] == [f"{B}/img/missing.webp"]
    assert report.integrity_errors == []
    assert report.summary["record_types"] == {"warcinfo": 1, "response": 4, "request": 4, "resource": 3, "revisit": 1}


def test_sha256_base16_digests_are_checked_not_skipped(tmp_path):
    records = browsertrix_records()
    good = records[1]  # the home page response
    bad = good.replace(b"<a href=\"/about\">", b"<a href=\"/abuot\">")
    assert bad != good
    warc = tmp_path / "altered.warc.gz"
    write_warc(warc, [bad])
    (info,) = list(iter_records([warc]))
    assert {kind for kind, _ in info.problems} == {"block_digest", "payload_digest"}
    report = audit([warc])
    assert {e["kind"] for e in report.integrity_errors if e["severity"] == "error"} == {"block_digest", "payload_digest"}
