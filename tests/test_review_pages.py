"""An archived page as the review page shows it: nothing in it can run, load or navigate."""
import gzip

from archiver.review.pages import ArchivePages, render_html
from archiver.types import Capture

from warcs import response

HOSTILE = (b'<html><head><base href="http://evil.example/"><meta http-equiv="refresh" content="0;url=http://evil.example/">'
           b'<link rel="stylesheet" href="http://evil.example/c.css"><script>steal()</script></head>'
           b'<body onload="steal()"><a href="http://evil.example/" onclick="steal()">a link</a>'
           b'<img src="http://evil.example/i.png" srcset="http://evil.example/j.png 2x"><iframe src="http://evil.example/">'
           b'</iframe><form action="http://evil.example/"><button formaction="http://evil.example/">go</button></form>'
           b'<style>@import url(http://evil.example/d.css)</style><p style="background:url(http://evil.example/b)">text'
           b'</p><svg><script>steal()</script></svg></body></html>')


def _capture(body: bytes, status: int = 200, **headers: str) -> Capture:
    return Capture("http://old.example/", status, (("Content-Type", "text/html"), *headers.items()), body, "", "f", 0)


def test_the_render_keeps_text_and_drops_everything_that_reaches_out():
    html = render_html(_capture(HOSTILE))
    assert "evil.example" not in html.replace('title="http://evil.example/"', "")
    assert "steal" not in html and "<script" not in html and "refresh" not in html
    assert 'a title="http://evil.example/">a link</a>' in html and "<p>text</p>" in html
    assert html.startswith("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">")


def test_a_redirect_is_described_escaped():
    html = render_html(_capture(b"", 301, Location="http://new.example/<b>"))
    assert "the archived answer is 301, redirecting to http://new.example/&lt;b&gt;" in html


def test_pages_of_a_warc_gzipped_whole_are_read_back_each_from_its_own_record(tmp_path):
    # `gzip -c file.warc`: one gzip member, so every record starts at offset 0 of it
    crawl = tmp_path / "crawl"
    (crawl / "warc").mkdir(parents=True)
    records = [response(f"http://old.example/{n}", f"<html><title>page {n}</title></html>".encode()) for n in range(3)]
    (crawl / "warc" / "whole.warc.gz").write_bytes(gzip.compress(b"".join(records)))
    pages = ArchivePages([crawl])
    assert {pages.where(f"http://old.example/{n}").offset for n in range(3)} == {0}
    for n in range(3):
        assert pages.capture(f"http://old.example/{n}").body == f"<html><title>page {n}</title></html>".encode()
