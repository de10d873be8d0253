"""``archiver crawl --wacz`` and ``archiver wacz``: a WACZ that py-wacz validates, pywb replays and audit reads.

One crawl of the misbehaving test site (gzip, chunked, windows-1250, HTTP/1.0,
an identical-payload HTML revisit, a page without a title) is packed by
``archiver crawl --wacz``; the tests read the package back with tools that are
not ours: py-wacz's validator, warcio, pywb, and plain zip and gzip.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
from warcio.archiveiterator import ArchiveIterator

from archiver.capture import CrawlConfig, crawl
from archiver.cli import main
from archiver.jobs.originals import original_files
from archiver.wacz import WACZ_NAME, write_wacz
from archiver.warc import iter_records

from servers import Resource, TestServer, conditional, html
from webservers import NGINX, free_port, nginx_static_conf, require, run_nginx, run_pywb, stop

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def chunked_plain(body: bytes):
    """Transfer-Encoding: chunked in 100-byte chunks, without chunk extensions."""
    def handle(req):
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
        req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunks + b"0\r\n\r\n")
    return handle


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """(server, crawl dir, WACZ path) after ``archiver crawl --wacz``."""
    crawl_dir = tmp_path_factory.mktemp("wacz") / "crawl"
    with TestServer() as srv:
        srv.add("/hub", Resource(200, HTML, html("hub", title="Hub", links=("/dup-1", "/notitle", "/gone",
                                                                                "/chunked-plain"))))
        # /dup-2 is linked only from /dup-1, so it is fetched after /dup-1 is written: a revisit of it
        twice = html("the same page twice", title="Dup", links=("/dup-2",))
        srv.add("/dup-1", Resource(200, HTML, twice))
        srv.add("/dup-2", Resource(200, HTML, twice))
        srv.add("/notitle", Resource(200, HTML, b"<html><body><p>a page without any title</p></body></html>"))
        srv.add("/gone", Resource(404, HTML, html("not here", title="Not found")))
        srv.add("/chunked-plain", chunked_plain(html("in chunks " * 30, title="Chunks")))
        code = main(["crawl", srv.url("/"), srv.url("/hub"), "--out", str(crawl_dir), "--wacz",
                     "--delay", "0", "--progress", "none"])
        assert code == 0
        yield srv, crawl_dir, crawl_dir / WACZ_NAME


def wacz_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "wacz"), "validate", "-f", str(path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def warc_records(crawl_dir: Path):
    """(url, WARC-Date, HTTP status, Content-Type, record type) of every response/revisit, read by warcio."""
    out = []
    for path in sorted((crawl_dir / "warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type in ("response", "revisit") and record.http_headers:
                    h = record.rec_headers
                    out.append((h.get_header("WARC-Target-URI"), h.get_header("WARC-Date"),
                                int(record.http_headers.get_statuscode()),
                                record.http_headers.get_header("Content-Type") or "", record.rec_type))
    return out


def read_pages(wacz: Path) -> tuple[dict, list[dict]]:
    with zipfile.ZipFile(wacz) as package:
        header, *pages = [json.loads(line) for line in package.read("pages/pages.jsonl").decode().splitlines()]
    return header, pages


def test_py_wacz_validates_the_package_and_rejects_a_tampered_copy(packed, tmp_path):
    _srv, _crawl_dir, wacz = packed
    result = wacz_validate(wacz)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation succeeded, the passed WACZ is valid" in result.stdout
    assert "outdated" not in result.stdout  # validated as 1.1.1, not waved through as 0.1.0

    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(wacz) as source, zipfile.ZipFile(tampered, "w") as copy:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("archive/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            copy.writestr(info, data)
    assert wacz_validate(tampered).returncode == 1  # the check above can fail


def test_layout_warcs_stored_byte_for_byte_and_every_file_hashed(packed):
    _srv, crawl_dir, wacz = packed
    own = sorted((crawl_dir / "warc").glob("*.warc.gz"))
    with zipfile.ZipFile(wacz) as package:
        infos = {info.filename: info for info in package.infolist()}
        assert set(infos) == {*(f"archive/{p.name}" for p in own), "indexes/index.cdx.gz", "indexes/index.idx",
                              "pages/pages.jsonl", "logs/crawl.jsonl", "datapackage.json", "datapackage-digest.json"}
        for path in own:
            assert infos[f"archive/{path.name}"].compress_type == zipfile.ZIP_STORED
            assert package.read(f"archive/{path.name}") == path.read_bytes()
        assert infos["indexes/index.cdx.gz"].compress_type == zipfile.ZIP_STORED
        assert package.read("logs/crawl.jsonl") == (crawl_dir / "crawl.jsonl").read_bytes()
        metadata_bytes = package.read("datapackage.json")
        metadata = json.loads(metadata_bytes)
        digest = json.loads(package.read("datapackage-digest.json"))
        resources = {r["path"]: r for r in metadata["resources"]}
        assert set(resources) == set(infos) - {"datapackage.json", "datapackage-digest.json"}
        for name, resource in resources.items():
            data = package.read(name)
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert resource["bytes"] == len(data)
    assert metadata["profile"] == "data-package" and metadata["wacz_version"] == "1.1.1"
    assert digest == {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(metadata_bytes).hexdigest()}
    assert not list(crawl_dir.glob("*.partial")) and not list(crawl_dir.glob(".wacz-*"))


def test_compressed_index_blocks_and_every_line_point_at_their_record(packed):
    _srv, crawl_dir, wacz = packed
    with zipfile.ZipFile(wacz) as package:
        data = package.read("indexes/index.cdx.gz")
        meta, *blocks = package.read("indexes/index.idx").decode().splitlines()
        assert meta.startswith("!meta 0 ") and json.loads(meta.split(" ", 2)[2]) == {
            "format": "cdxj-gzip-1.0", "filename": "index.cdx.gz"}
        lines, expected_offset = [], 0
        for block in blocks:
            key, fields = block.rsplit(" {", 1)
            fields = json.loads("{" + fields)
            chunk = data[fields["offset"]: fields["offset"] + fields["length"]]
            assert fields["offset"] == expected_offset
            assert fields["digest"] == "sha256:" + hashlib.sha256(chunk).hexdigest()
            block_lines = gzip.decompress(chunk).decode().splitlines()
            assert block_lines[0].startswith(key)
            lines += block_lines
            expected_offset += fields["length"]
        assert expected_offset == len(data)
        assert lines == sorted(lines)
        indexed = set()
        for line in lines:
            fields = json.loads(line.split(" ", 2)[2])
            with package.open("archive/" + fields["filename"]) as member:
                member.seek(int(fields["offset"]))
                segment = member.read(int(fields["length"]))
            record = next(ArchiveIterator(io.BytesIO(segment)))
            assert record.rec_headers.get_header("WARC-Target-URI") == fields["url"]
            indexed.add((fields["url"], record.rec_headers.get_header("WARC-Date")))
    # every response and revisit of the crawl is in the index (no server-not-modified ones in a first crawl)
    assert {(url, date) for url, date, *_ in warc_records(crawl_dir)} <= indexed


def test_pages_are_the_crawls_2xx_html_captures_with_titles_and_text(packed):
    srv, crawl_dir, wacz = packed
    header, pages = read_pages(wacz)
    assert header["format"] == "json-pages-1.0" and header["hasText"] is True
    html_captures = {url: date for url, date, status, mime, _type in warc_records(crawl_dir)
                     if 200 <= status < 300 and mime.split(";")[0].strip() in ("text/html", "application/xhtml+xml")}
    assert {p["url"]: p["ts"] for p in pages} == html_captures
    assert len(pages) == len(html_captures) and len({p["id"] for p in pages}) == len(pages)
    by_url = {p["url"]: p for p in pages}
    titles = {"/": "Home", "/a.html": "A", "/hub": "Hub", "/chunked": "Chunked", "/http10": "Old",
              "/etag": "ETag", "/dup-1": "Dup", "/dup-2": "Dup"}
    assert {path: by_url[srv.url(path)].get("title") for path in titles} == titles
    revisit = [t for url, _d, _s, _m, t in warc_records(crawl_dir) if url == srv.url("/dup-2")]
    assert revisit == ["revisit"]  # its title and text came from the original's body
    assert "the same page twice" in by_url[srv.url("/dup-2")]["text"]
    assert "a page without any title" in by_url[srv.url("/notitle")]["text"]
    assert "title" not in by_url[srv.url("/notitle")]
    assert srv.url("/gone") not in by_url and srv.url("/img.png") not in by_url
    assert {p["url"] for p in pages if p.get("seed")} == {srv.url("/"), srv.url("/hub")}
    with zipfile.ZipFile(wacz) as package:
        metadata = json.loads(package.read("datapackage.json"))
    assert metadata["mainPageUrl"] == srv.url("/") and metadata["mainPageDate"] == by_url[srv.url("/")]["ts"]


def test_audit_of_the_wacz_has_the_numbers_of_the_crawl_directory(packed, tmp_path):
    _srv, crawl_dir, wacz = packed
    assert main(["audit", str(crawl_dir), "--out", str(tmp_path / "dir")]) == 0
    assert main(["audit", str(wacz), "--crawl-log", str(crawl_dir / "crawl.jsonl"), "--out", str(tmp_path / "wacz")]) == 0
    from_dir = json.loads((tmp_path / "dir" / "audit.json").read_text())
    from_wacz = json.loads((tmp_path / "wacz" / "audit.json").read_text())
    assert from_dir["summary"]["records"] > 20
    assert from_wacz["summary"] == from_dir["summary"]
    assert from_wacz["completeness"] == from_dir["completeness"]
    assert [(o["url"], o["outcome"], o["status"]) for o in from_wacz["outcomes"]] == \
        [(o["url"], o["outcome"], o["status"]) for o in from_dir["outcomes"]]


def test_a_crawl_directory_with_its_wacz_is_read_once(packed, tmp_path):
    _srv, crawl_dir, wacz = packed
    from_warcs = [(r.rec_type, r.url, r.offset) for r in iter_records(crawl_dir / "warc")]
    assert [(r.rec_type, r.url, r.offset) for r in iter_records(crawl_dir)] == from_warcs
    alone = tmp_path / "shared"
    alone.mkdir()
    shutil.copy(wacz, alone / "site.wacz")  # a folder of WACZ files is read as before
    assert [(r.rec_type, r.url, r.offset) for r in iter_records(alone)] == from_warcs


def test_pywb_replays_from_the_wacz_index(packed, tmp_path):
    srv, _crawl_dir, wacz = packed
    root = tmp_path / "pywb"
    root.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run([str(BIN / "wb-manager"), "init", "coll"], cwd=root, check=True, capture_output=True, env=env)
    # pywb unpacks the WARC files and re-points the WACZ's own CDXJ at them: wrong names or offsets fail here
    subprocess.run([str(BIN / "wb-manager"), "add", "--unpack-wacz", "coll", str(wacz)], cwd=root, check=True,
                   capture_output=True, env=env)
    (root / "config.yaml").write_text("debug: false\n")
    replay = {}
    with run_pywb(root) as port:
        for path in ("/", "/gzip", "/chunked", "/cp1250-meta", "/http10", "/dup-1", "/dup-2", "/img.png"):
            answer = requests.get(f"http://127.0.0.1:{port}/coll/2100id_/{srv.url(path)}", timeout=30)
            replay[path] = (answer.status_code, answer.content)
    routes = srv.routes
    assert replay["/"] == (200, routes["/"].body)
    assert replay["/gzip"] == (200, gzip.decompress(routes["/gzip"].body))
    assert replay["/chunked"][0] == 200 and b"chunked page chunked page" in replay["/chunked"][1]
    assert replay["/cp1250-meta"] == (200, routes["/cp1250-meta"].body)
    assert replay["/http10"][0] == 200 and b"ended by close" in replay["/http10"][1]
    assert replay["/dup-2"] == replay["/dup-1"] == (200, routes["/dup-1"].body)  # the revisit resolves
    assert replay["/img.png"] == (200, routes["/img.png"].body)


def test_wacz_command_refuses_what_is_not_a_finished_crawl(tmp_path, capsys):
    assert main(["wacz", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("archiver wacz: not a crawl directory")
    (tmp_path / "warc").mkdir()
    (tmp_path / "warc" / "archiver-1-00001-h.warc.gz.open").write_bytes(b"")
    assert main(["wacz", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "still open" in err and not (tmp_path / WACZ_NAME).exists()


def test_a_full_disk_leaves_the_earlier_wacz_whole(packed, tiny_disk, capsys):
    _srv, crawl_dir, _wacz = packed
    mountpoint, resize = tiny_disk
    resize("4m")
    copy = mountpoint / "crawl"
    shutil.copytree(crawl_dir, copy, ignore=shutil.ignore_patterns(WACZ_NAME))
    assert main(["wacz", str(copy)]) == 0
    capsys.readouterr()
    before = (copy / WACZ_NAME).read_bytes()
    free = shutil.disk_usage(mountpoint).free
    filler = mountpoint / "filler"
    filler.write_bytes(b"\0" * (free - len(before) // 2))  # room for half a package
    assert main(["wacz", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert (copy / WACZ_NAME).read_bytes() == before
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in crawl_dir.iterdir())  # no leftovers
    filler.unlink()
    assert main(["wacz", str(copy)]) == 0
    assert wacz_validate(copy / WACZ_NAME).returncode == 0


def replaywebpage(tmp_path: Path) -> Path:
    """The ReplayWeb.page viewer (``ui.js``, ``sw.js``) from its npm package, unpacked under ``tmp_path``."""
    npm = shutil.which("npm")
    if npm is None:
        require("npm")
    # the viewer is published only on the npm registry, which a build machine may not reach
    try:
        packed = subprocess.run([npm, "pack", "replaywebpage@2", "--pack-destination", str(tmp_path)],
                                capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("ReplayWeb.page: the npm registry did not answer in 120 s")
    if packed.returncode != 0:
        pytest.skip(f"ReplayWeb.page could not be fetched from the npm registry: {packed.stderr.strip()[-300:]}")
    (tarball,) = tmp_path.glob("replaywebpage-*.tgz")
    shutil.unpack_archive(tarball, tmp_path)
    return tmp_path / "package"


def test_replayweb_page_opens_the_wacz_in_chromium(packed, apache_dir, tmp_path):
    """The viewer people will use: served by nginx (range requests), driven in headless Chromium."""
    require(CHROMIUM)
    require(NGINX)
    from playwright.sync_api import sync_playwright

    srv, _crawl_dir, wacz = packed
    viewer = replaywebpage(tmp_path)
    site = apache_dir  # readable by nginx's unprivileged worker
    (site / "replay").mkdir()
    # the embed's frame may load replay/ before the viewer's service worker answers for it: serve the app there
    for name in ("ui.js", "replay/ui.js", "replay/sw.js", "replay/index.html"):
        shutil.copy(viewer / Path(name).name, site / name)
    shutil.copy(wacz, site / "archive.wacz")
    # (wabac.js shows chunk framing as text when a chunk has an extension, as /chunked's first one does)
    pages = {"/": "Home", "/chunked-plain": "Chunks", "/dup-2": "Dup", "/http10": "Old"}
    for n, path in enumerate(pages):
        (site / f"p{n}.html").write_text(
            '<!doctype html><html><head><script src="ui.js"></script></head><body>'
            f'<replay-web-page source="archive.wacz" url="{srv.url(path)}"></replay-web-page></body></html>')
    port = free_port()
    conf = nginx_static_conf(tmp_path, site, port)
    fetched_before = len(srv.log)
    nginx = run_nginx(tmp_path, conf, port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            replayed = {}
            for n, path in enumerate(pages):
                page = browser.new_context().new_page()  # a visitor of its own: the viewer sets up its worker
                page.goto(f"http://127.0.0.1:{port}/p{n}.html")
                archived = page.frame_locator("replay-web-page iframe").first.frame_locator("iframe").first
                heading = archived.locator("h1").first
                heading.wait_for(timeout=120_000)
                replayed[path] = heading.inner_text()
                page.context.close()
            browser.close()
    finally:
        stop(nginx)
    assert replayed == pages
    assert len(srv.log) == fetched_before  # from the package, not from the live site


def test_a_crawl_whose_revisits_lead_two_runs_back_packs_their_originals(tmp_path):
    """Unchanged pages of a third run are revisits of the first run's responses (the second
    run's were revisits too, and their pointers are carried forward): ``--wacz`` packs that
    first run's WARC though only the second was given as ``--previous``, and every revisit
    in the package has its original."""
    pages = {f"/p{i}": conditional(html(f"unchanged page {i}", title=f"P{i}"), etag=f'"p{i}"') for i in range(4)}
    plain = {f"/s{i}": Resource(200, HTML, html(f"no validators {i}", title=f"S{i}")) for i in range(2)}
    settings = dict(delay=0, progress="none", ignore_robots=True)
    with TestServer({**pages, **plain}, defaults=False) as srv:
        srv.add("/", conditional(html("home", title="Home", links=(*pages, *plain)), etag='"home"'))
        crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "run1", **settings))
        crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "run2", previous=tmp_path / "run1", **settings))
        third = crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "run3", previous=tmp_path / "run2",
                                  wacz=True, **settings))
    first_warcs = sorted((tmp_path / "run1" / "warc").glob("*.warc.gz"))
    assert third.revisits == 7 and third.originals == [p.resolve() for p in first_warcs]
    with zipfile.ZipFile(tmp_path / "run3" / WACZ_NAME) as package:
        packed = {Path(name).name for name in package.namelist() if name.startswith("archive/")}
    assert {p.name for p in first_warcs} <= packed
    assert write_wacz(tmp_path / "run3", tmp_path / "again.wacz", originals=third.originals).unresolved_revisits == 0
    # what the second run's index holds would not have been enough
    indexed = original_files(tmp_path / "run3", [tmp_path / "run2"])
    assert write_wacz(tmp_path / "run3", tmp_path / "indexed.wacz", originals=indexed).unresolved_revisits == 7


def test_originals_of_a_moved_earlier_crawl_come_from_its_index(tmp_path):
    """Body pointers are absolute: once the earlier crawl has moved they lead nowhere, and
    ``--wacz`` finds the originals through ``--previous``'s index instead."""
    pages = {f"/p{i}": conditional(html(f"unchanged page {i}", title=f"P{i}"), etag=f'"p{i}"') for i in range(3)}
    settings = dict(delay=0, progress="none", ignore_robots=True)
    with TestServer(pages, defaults=False) as srv:
        srv.add("/", conditional(html("home", title="Home", links=tuple(pages)), etag='"home"'))
        crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "run1", **settings))
        (tmp_path / "run1").rename(tmp_path / "moved")
        second = crawl(CrawlConfig(seeds=[srv.url("/")], out_dir=tmp_path / "run2", previous=tmp_path / "moved",
                                   wacz=True, **settings))
    assert second.revisits == 4 and not second.originals_located
    with zipfile.ZipFile(tmp_path / "run2" / WACZ_NAME) as package:
        packed = {Path(name).name for name in package.namelist() if name.startswith("archive/")}
    assert {p.name for p in (tmp_path / "moved" / "warc").glob("*.warc.gz")} <= packed
