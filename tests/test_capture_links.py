"""Link extraction from HTML, CSS and sitemaps, including broken and hostile input."""
import gzip

import pytest

from archiver.capture import links as linkmod
from archiver.capture.links import extract_css, extract_html
from archiver.gzip_members import inflate
from archiver.sitemaps import SitemapError, parse_sitemap

BASE = "http://h.test/dir/page.html"


def urls(links, requisite=None):
    return [l.url for l in links if requisite is None or l.requisite == requisite]


def test_page_links_and_requisites():
    doc = b"""<html><head>
    <link rel="stylesheet" href="/s.css"><link rel="icon" href="/favicon.ico">
    <link rel="canonical" href="/canon.html"><script src="app.js"></script>
    <meta http-equiv="refresh" content="5; URL='/moved.html'">
    <style>body { background: url("/bg.png") } @import 'print.css';</style></head>
    <body background="/body.gif"><a href="a.html#frag">a</a><a href="/doc.pdf">pdf</a>
    <img src="i0.jpg" srcset="i1.jpg 1x, i2.jpg 2x"><picture><source srcset="p.webp 100w"></picture>
    <video poster="v.jpg"><source src="v.mp4"></video><iframe src="/frame.html"></iframe>
    <div style="background-image:url('d.png')"></div><area href="/map.html">
    </body></html>"""
    links = extract_html(doc, BASE)
    assert set(urls(links, requisite=False)) == {
        "http://h.test/canon.html", "http://h.test/moved.html", "http://h.test/dir/a.html",
        "http://h.test/map.html"}
    assert set(urls(links, requisite=True)) == {
        "http://h.test/s.css", "http://h.test/favicon.ico", "http://h.test/dir/app.js", "http://h.test/bg.png",
        "http://h.test/dir/print.css", "http://h.test/body.gif", "http://h.test/doc.pdf",
        "http://h.test/dir/i0.jpg", "http://h.test/dir/i1.jpg", "http://h.test/dir/i2.jpg",
        "http://h.test/dir/p.webp", "http://h.test/dir/v.jpg", "http://h.test/dir/v.mp4",
        "http://h.test/dir/d.png", "http://h.test/frame.html"}


def test_a_whole_tree_and_a_stream_find_the_same_links(monkeypatch):
    """Small documents are parsed whole, large ones streamed: the same links in the same order,
    <base> applying from where it stands, styles, frames and documents alike."""
    doc = b"""<html><head><link rel="stylesheet" href="/s.css"><style>p { background: url(p.png) }</style>
    <meta http-equiv="refresh" content="0; url=/r.html"></head><body background="b.gif">
    <a href="before.html">x</a><base href="http://h.test/based/"><a href="after.html">y</a><a href="r.PDF">d</a>
    <div style="background:url('d.png')"><img src="i.jpg" srcset="i2.jpg 2x"><a href="after.html">again</a></div>
    <table><tr><td background="td.gif"><iframe src="f.html"></iframe><object data="o.swf"></object></td></tr></table>
    <video poster="v.jpg"><source src="v.mp4"></video><area href="/map"></body></html>"""
    whole = extract_html(doc, BASE)
    monkeypatch.setattr(linkmod, "WHOLE_TREE_BYTES", 0)
    streamed = extract_html(doc, BASE)
    assert streamed == whole and len(whole) == 16
    assert whole[0] == linkmod.Link("http://h.test/s.css", True, "link")
    assert urls(whole)[4:7] == ["http://h.test/dir/before.html", "http://h.test/based/after.html",
                                "http://h.test/based/r.PDF"]


def test_base_href_and_schemes_ignored():
    doc = b"""<base href="http://h.test/other/"><a href="x.html">x</a><a href="javascript:alert(1)">j</a>
    <a href="mailto:a@b.si">m</a><a href="tel:123">t</a><img src="data:image/png;base64,AAAA">
    <a href="#top">top</a><a href="http://[::1">broken</a><a href="http://h.test:99999/">bad port</a>"""
    assert urls(extract_html(doc, BASE)) == ["http://h.test/other/x.html"]


def test_broken_and_hostile_html_is_harmless():
    assert extract_html(b"", BASE) == []
    garbage = bytes(range(256)) * 100 + b"<a href='/after-garbage'>x</a>"
    assert urls(extract_html(garbage, BASE)) in ([], ["http://h.test/after-garbage"])  # no exception
    unclosed = b"<html><body><a href='/one'>one<div><a href=/two>two<table><tr><td><a href=\"/three\">"
    assert urls(extract_html(unclosed, BASE)) == ["http://h.test/one", "http://h.test/two", "http://h.test/three"]
    # links beyond the parse cap are not seen, and a huge document costs bounded work
    huge = b"<html><body>" + b"<p>filler</p>" * 100_000 + b"<a href='/late'>late</a>"
    assert "http://h.test/late" not in urls(extract_html(huge, BASE, max_bytes=100_000))
    assert "http://h.test/late" in urls(extract_html(huge, BASE))


def test_windows_1250_page_links():
    doc = '<meta charset="windows-1250"><a href="/novice/šola.html">Šola</a>'.encode("cp1250")
    assert urls(extract_html(doc, BASE, encoding="windows-1250")) == ["http://h.test/novice/%C5%A1ola.html"]


def test_css_links():
    css = b"""@import url("base.css"); @import 'more.css';
    .a { background: url(img/a.png) } .b { background: url( 'img/b.png' ) } .c { src: url(data:font/woff;base64,AA) }"""
    assert urls(extract_css(css, "http://h.test/css/site.css")) == [
        "http://h.test/css/base.css", "http://h.test/css/img/a.png", "http://h.test/css/img/b.png",
        "http://h.test/css/more.css"]


def test_sitemap_index_gzip_and_text():
    index = (b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             b"<sitemap><loc>http://h.test/s1.xml.gz</loc></sitemap></sitemapindex>")
    assert parse_sitemap(gzip.compress(index)).sitemaps == ["http://h.test/s1.xml.gz"]
    urlset = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc> http://h.test/a </loc></url>'
              b"<url><loc>/b</loc></url></urlset>")
    assert parse_sitemap(urlset) == ([], ["http://h.test/a", "/b"])  # as written: each reader resolves them
    assert parse_sitemap(b"http://h.test/x\nhttp://h.test/y\n").pages == ["http://h.test/x", "http://h.test/y"]
    with pytest.raises(SitemapError, match="inflates past"):
        parse_sitemap(gzip.compress(urlset * 100), max_bytes=1000)


def test_sitemap_entity_bomb_and_xxe_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    lol = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY l0 "lol">{lol}]>'
            f"<urlset><url><loc>http://h.test/&l9;</loc></url><url><loc>http://h.test/ok</loc></url></urlset>").encode()
    xxe = (f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file://{secret}">]>'
           f"<urlset><url><loc>http://h.test/&x;</loc></url></urlset>").encode()
    for document in (bomb, xxe, gzip.compress(xxe)):
        with pytest.raises(SitemapError, match="DTD"):
            parse_sitemap(document)


def test_gzip_bomb_inflates_to_cap():
    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    assert len(inflate(bomb, 1_000_000)) == 1_000_000


def test_crawler_and_audit_read_one_sitemap_alike(tmp_path):
    """The crawler and the audit's expected set share one parser: same URLs from a gzip'd index and urlset,
    and the same refusal of a DTD."""
    from archiver.audit.expected import Expected, load_sitemap
    from archiver.capture.config import CrawlConfig
    from archiver.capture.frontier import Task
    from archiver.capture.worker import Result, parse_result_links
    from archiver.errors import UsageError

    urlset = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://h.test/a</loc></url>'
              b"<url><loc>http://h.test/b?x=1</loc></url></urlset>")
    (tmp_path / "pages.xml.gz").write_bytes(gzip.compress(urlset))
    task = Task(1, "http://h.test/pages.xml.gz", "h.test", "sitemap", 0, 0, 1)
    result = Result(task)
    parse_result_links(CrawlConfig(seeds=["http://h.test/"]), task, result, gzip.compress(urlset),
                       [("Content-Type", "application/gzip")], 200)
    expected = Expected()
    load_sitemap(expected, str(tmp_path / "pages.xml.gz"))
    assert result.sitemap_pages == list(expected.urls.values()) == ["http://h.test/a", "http://h.test/b?x=1"]

    dtd = b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "x">]><urlset><url><loc>http://h.test/&a;</loc></url></urlset>'
    (tmp_path / "dtd.xml").write_bytes(dtd)
    refused = Result(task)
    parse_result_links(CrawlConfig(seeds=["http://h.test/"]), task, refused, dtd, [("Content-Type", "text/xml")], 200)
    assert refused.sitemap_pages == [] and refused.sitemap_children == []
    with pytest.raises(UsageError, match="DTD"):
        load_sitemap(Expected(), str(tmp_path / "dtd.xml"))
