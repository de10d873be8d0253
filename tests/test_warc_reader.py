"""archiver.warc: every kind of WARC, ARC and WACZ input read back into Captures, damage reported not fatal."""
from __future__ import annotations

import gzip
import zlib

import pytest

from archiver.warc import digests_equal, iter_captures, iter_records

from warcs import chunk, http_response, record, response, revisit, sha1, write_wacz, write_warc


@pytest.fixture(autouse=True, params=["fastwarc", "warcio"])
def reader(request, monkeypatch):
    """Every test runs with both whole-file readers: FastWARC (default) and warcio (the reference)."""
    monkeypatch.setenv("ARCHIVER_WARC_READER", request.param)
    return request.param


BODY = b"<html><title>Hello</title><body>" + b"x" * 2000 + b"</body></html>"


def by_url(captures):
    return {c.url: c for c in captures}


def test_chunked_gzip_deflate_and_brotli_bodies_are_decoded(tmp_path):
    brotli = pytest.importorskip("brotli")
    deflate_raw = zlib.compressobj(wbits=-15)
    raw = deflate_raw.compress(BODY) + deflate_raw.flush()
    path = tmp_path / "a.warc.gz"
    write_warc(path, [
        record("", rec_type="warcinfo", http=b"software: test\r\n", content_type="application/warc-fields"),
        response("http://example.com/chunked", BODY, chunked=True),
        response("http://example.com/gzip", gzip.compress(BODY), headers={"Content-Encoding": "gzip"}, chunked=True),
        response("http://example.com/deflate", zlib.compress(BODY), headers={"Content-Encoding": "deflate"}),
        response("http://example.com/rawdeflate", raw, headers={"Content-Encoding": "deflate"}),
        response("http://example.com/br", brotli.compress(BODY), headers={"Content-Encoding": "br"}),
    ])
    caps = by_url(iter_captures([path]))
    assert set(caps) == {f"http://example.com/{n}" for n in ("chunked", "gzip", "deflate", "rawdeflate", "br")}
    for cap in caps.values():
        assert cap.body == BODY, cap.url
        assert cap.status == 200 and cap.is_html and not cap.body_capped
    # chunked payload digests are over the de-chunked body: no problems reported
    assert all(not r.problems for r in iter_records([path]))


def test_gzip_bomb_is_capped_not_inflated(tmp_path):
    bomb = gzip.compress(b"\0" * (300 * 1024 * 1024), compresslevel=9)
    path = tmp_path / "bomb.warc"
    write_warc(path, [response("http://example.com/bomb", bomb, headers={"Content-Encoding": "gzip"})])
    (cap,) = iter_captures([path], max_body=1024 * 1024)
    assert len(cap.body) == 1024 * 1024 and cap.body_capped


def test_revisits_resolve_by_refers_to_and_digest_in_either_order(tmp_path):
    later = tmp_path / "b.warc.gz"
    earlier = tmp_path / "a.warc.gz"
    # revisit written in a file that sorts *before* its original: resolved after the pass
    write_warc(earlier, [revisit("http://example.com/copy", "http://example.com/page", "2024-01-01T00:00:00Z", sha1(BODY))])
    write_warc(later, [
        response("http://example.com/page", BODY),
        revisit("http://example.com/page", "http://example.com/page", "2024-01-01T00:00:00Z", sha1(BODY)),
        revisit("http://example.com/other", "http://example.com/gone", "2023-01-01T00:00:00Z", sha1(b"absent")),
        revisit("http://example.com/page", "http://example.com/page", "2024-01-01T00:00:00Z", sha1(BODY),
                status=304, profile="http://netpreserve.org/warc/1.1/revisit/server-not-modified"),
    ])
    caps = list(iter_captures([tmp_path]))
    revisits = [c for c in caps if c.record_type == "revisit"]
    assert len(revisits) == 4
    resolved = [c for c in revisits if c.revisit_of]
    assert {c.url for c in resolved} == {"http://example.com/copy", "http://example.com/page"}
    assert all(c.body == BODY and c.revisit_of == ("http://example.com/page", "2024-01-01T00:00:00Z") for c in resolved)
    assert all(c.status == 200 for c in resolved)  # the 304 takes its original's status
    (unresolved,) = [c for c in revisits if not c.revisit_of]
    assert unresolved.url == "http://example.com/other" and unresolved.body == b""
    assert not [c for c in iter_captures([tmp_path], include_revisits=False) if c.record_type == "revisit"]


def test_warc10_bracketed_uris_resources_wacz_and_open_files(tmp_path):
    warc10 = b"".join([
        response("http://example.com/old", BODY, version="1.0", brackets=True),
        record("metadata://gnu.org/software/wget/warc/MANIFEST.txt", rec_type="resource", http=b"a\n", version="1.0",
               brackets=True),
        record("http://example.com/file.txt", rec_type="resource", http=b"plain", payload=b"plain"),
        record("http://example.com/old", rec_type="request", http=b"GET /old HTTP/1.1\r\n\r\n",
               content_type="application/http; msgtype=request"),
    ])
    write_warc(tmp_path / "w.warc", [warc10])
    (tmp_path / "crawl.warc.gz.open").write_bytes(gzip.compress(response("http://example.com/half", BODY)))
    wacz = tmp_path / "sub" / "c.wacz"
    wacz.parent.mkdir()
    write_wacz(wacz, {"data.warc.gz": gzip.compress(response("https://example.org/in-wacz", BODY))})
    caps = by_url(iter_captures([tmp_path]))
    assert set(caps) == {"http://example.com/old", "http://example.com/file.txt", "https://example.org/in-wacz"}
    assert caps["http://example.com/file.txt"].record_type == "resource" and caps["http://example.com/file.txt"].body == b"plain"
    assert caps["https://example.org/in-wacz"].file.endswith("c.wacz#archive/data.warc.gz")
    assert caps["https://example.org/in-wacz"].body == BODY


def test_damage_is_reported_with_file_offset_url_and_reading_goes_on(tmp_path):
    records = [response(f"http://example.com/{i}", BODY + bytes([i])) for i in range(4)]
    good = tmp_path / "good.warc"
    offsets = write_warc(good, records)
    flipped = bytearray(good.read_bytes())
    pos = flipped.index(b"x" * 100, offsets[2])
    flipped[pos] = ord("y")
    bad = tmp_path / "flipped.warc"
    bad.write_bytes(bytes(flipped))
    gz = tmp_path / "cut.warc.gz"
    gz_offsets = write_warc(gz, records)
    gz.write_bytes(gz.read_bytes()[: (gz_offsets[2] + gz_offsets[3]) // 2])
    header_cut = tmp_path / "header-cut.warc.gz"
    write_warc(header_cut, records)
    header_cut.write_bytes(header_cut.read_bytes()[: gz_offsets[2] + 12])
    (problem,) = [r for r in iter_records([header_cut]) if r.problems]
    assert problem.rec_type == "problem" and problem.offset == gz_offsets[2] and problem.problems[0][0] == "cut_gzip"

    infos = list(iter_records([bad, gz]))
    flipped_problems = [(r.file, r.offset, r.url, {k for k, _ in r.problems}) for r in infos if r.problems]
    assert (str(bad), offsets[2], "http://example.com/2", {"block_digest", "payload_digest"}) in flipped_problems
    cut = [r for r in infos if r.file == str(gz) and r.problems]
    assert len(cut) == 1 and cut[0].offset == gz_offsets[2] and cut[0].url == "http://example.com/2"
    assert cut[0].problems[0][0] in ("cut_record", "cut_gzip")
    caps = list(iter_captures([bad, gz]))
    assert len([c for c in caps if c.file == str(bad)]) == 4
    assert [c.url for c in caps if c.file == str(gz)][:2] == ["http://example.com/0", "http://example.com/1"]


def test_garbage_file_is_a_problem_not_a_crash(tmp_path):
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 100)
    notzip = tmp_path / "x.wacz"
    notzip.write_bytes(b"PK\x03\x04" + b"a zip cut short" * 10)
    infos = list(iter_records([junk, notzip]))
    assert {r.rec_type for r in infos} == {"problem"}
    assert {r.file for r in infos} == {str(junk), str(notzip)}
    assert list(iter_captures([junk, notzip])) == []


def test_chunked_digest_written_by_older_tools_is_a_note(tmp_path):
    http, _ = http_response(BODY, chunked=True)
    path = tmp_path / "old.warc"
    write_warc(path, [record("http://example.com/c", http=http, payload=chunk(BODY))])
    (info,) = list(iter_records([path]))
    assert [k for k, _ in info.problems] == ["payload_digest_chunked"]


def test_digests_compare_by_value():
    assert digests_equal("sha1:" + "A" * 32, "sha1:" + "A" * 32) and not digests_equal("sha1:" + "A" * 32, "sha1:" + "B" * 32)
