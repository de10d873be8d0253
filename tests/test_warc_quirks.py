"""One fixture per quirk of other tools' archives, built here byte by byte: each read right, or its damage
reported with file, offset, URL and kind; both parsers (FastWARC and warcio) give the same answer, and every
problem `warcio check` finds is found too."""
from __future__ import annotations

import gzip
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.audit import audit
from archiver.errors import UsageError
from archiver.warc import expand_inputs, iter_captures, iter_records

from warcs import (
    arc_file,
    arc_record,
    http_response,
    record,
    response,
    revisit,
    sha1,
    warcio_check_problems,
    with_content_length,
    write_multi_wacz,
    write_warc,
)

PAGE = b"<html><head><title>Quirk</title></head><body>" + b"text " * 300 + b"</body></html>"
H = "http://quirks.example"


def build(directory: Path) -> dict[str, Path]:
    """Every quirk fixture, by name."""
    d1 = "2024-01-01T00:00:00Z"
    files: dict[str, Path] = {}

    def put(name: str, records: list[bytes], **kw) -> Path:
        path = directory / name
        write_warc(path, records, **kw)
        files[name] = path
        return path

    http, _ = http_response(PAGE)
    arc_records = [arc_record(f"{H}/arc.html", http), arc_record(f"{H}/arc-404.html", http_response(b"gone", 404)[0])]
    for name in ("old.arc", "old.arc.gz"):
        arc_file(directory / name, arc_records)
        files[name] = directory / name
    # a head whose lines end in a bare LF, with CRLFCRLF inside the body
    bare_body = b"<html><body><pre>a\r\n\r\nb</pre></body></html>"
    bare_http = b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: %d\n\n" % len(bare_body) + bare_body
    put("bare-lf.warc", [record(f"{H}/bare", http=bare_http, payload=bare_body)])
    # a file gzip'd as one member, holding a response and its revisit
    whole = b"".join([response(f"{H}/page", PAGE, date=d1),
                      revisit(f"{H}/again", f"{H}/page", d1, sha1(PAGE))])
    (directory / "one-member.warc.gz").write_bytes(gzip.compress(whole))
    files["one-member.warc.gz"] = directory / "one-member.warc.gz"
    three = [response(f"{H}/cl{i}", PAGE + bytes([48 + i])) for i in range(3)]
    put("short-length.warc", [three[0], with_content_length(three[1], -7), three[2]])
    put("long-length.warc", [three[0], with_content_length(three[1], +30), three[2]])
    put("short-length.warc.gz", [three[0], with_content_length(three[1], -7), three[2]])
    put("long-length.warc.gz", [three[0], with_content_length(three[1], +30), three[2]])
    # a body labelled gzip that is not (already decoded by a proxy)
    put("undecodable.warc", [response(f"{H}/labelled-gzip", PAGE, headers={"Content-Encoding": "gzip"})])
    bad_status = b"HTTPX/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE
    put("bad-status.warc", [record(f"{H}/httpx", http=bad_status, payload=PAGE), response(f"{H}/fine", PAGE)])
    damaged = response(f"{H}/d0", PAGE) + b"\x00garbage that is no record\r\n" * 3 + response(f"{H}/d1", PAGE)
    (directory / "damaged.warc").write_bytes(damaged)
    files["damaged.warc"] = directory / "damaged.warc"
    request = b"POST /form HTTP/1.1\r\nHost: quirks.example\r\nContent-Length: 9\r\n\r\nname=test"
    put("request-digest.warc", [record(f"{H}/form", rec_type="request", http=request, payload=b"name=other",
                                       content_type="application/http; msgtype=request")])
    arc_file(directory / "bad-lengths.arc", [arc_record(f"{H}/minus", b"x", length=-1), arc_record(f"{H}/ok", http),
                                             arc_record(f"{H}/abc", b"y", length="abc")])
    files["bad-lengths.arc"] = directory / "bad-lengths.arc"
    write_multi_wacz(directory / "multi.wacz", {
        "crawl-a.wacz": {"a.warc.gz": gzip.compress(response(f"{H}/in-a", PAGE))},
        "crawl-b.wacz": {"b.warc": response(f"{H}/in-b", PAGE)},
    }, pages={"crawl-a.wacz": [f"{H}/in-a"], "crawl-b.wacz": [f"{H}/in-b", f"{H}/never"]})
    files["multi.wacz"] = directory / "multi.wacz"
    return files


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("quirks"))


def read_all(path: Path, reader: str, monkeypatch) -> tuple[list, list]:
    monkeypatch.setenv("ARCHIVER_WARC_READER", reader)
    captures = [(c.url, c.status, c.body, c.file, c.offset, c.record_type, c.revisit_of, c.truncated, c.headers)
                for c in iter_captures([path])]
    records = [(r.file, r.offset, r.index, r.length, r.rec_type, r.url, r.status, r.problems)
               for r in iter_records([path])]
    return captures, records


def problems(path: Path) -> list[tuple[int, str, str, str]]:
    return [(r.offset, r.rec_type, r.url, kind) for r in iter_records([path]) for kind, _ in r.problems]


def test_both_parsers_read_every_fixture_alike(fixtures, monkeypatch):
    for name, path in fixtures.items():
        fast = read_all(path, "fastwarc", monkeypatch)
        reference = read_all(path, "warcio", monkeypatch)
        assert fast == reference, name
        assert fast[1], name  # every fixture has records or reported problems


@pytest.mark.parametrize("name", ["bare-lf.warc", "one-member.warc.gz", "short-length.warc", "long-length.warc",
                                  "short-length.warc.gz", "long-length.warc.gz", "undecodable.warc",
                                  "bad-status.warc", "damaged.warc", "request-digest.warc", "old.arc", "old.arc.gz",
                                  "bad-lengths.arc"])
def test_every_problem_warcio_check_finds_is_found(fixtures, name):
    ours = problems(fixtures[name])
    for offset, what in warcio_check_problems(fixtures[name]):
        if "digest failed" in what:
            kind = "block_digest" if "block" in what else "payload_digest"
            assert any(o == offset and k == kind for o, _, _, k in ours), (name, offset, what, ours)
        else:  # "Record not followed by newline", or an exception that stopped it
            assert any(k in ("record_length", "gzip_member", "unreadable", "cut_record") for *_, k in ours), \
                (name, what, ours)


@pytest.fixture(params=["fastwarc", "warcio"])
def reader(request, monkeypatch):
    monkeypatch.setenv("ARCHIVER_WARC_READER", request.param)
    return request.param


def test_arc_files_are_read_as_captures(fixtures, reader):
    for name in ("old.arc", "old.arc.gz"):
        caps = {c.url: c for c in iter_captures([fixtures[name]])}
        assert set(caps) == {f"{H}/arc.html", f"{H}/arc-404.html"}, name
        assert caps[f"{H}/arc.html"].status == 200 and caps[f"{H}/arc.html"].body == PAGE
        assert caps[f"{H}/arc.html"].is_html and caps[f"{H}/arc-404.html"].status == 404
        assert problems(fixtures[name]) == []


def test_bare_lf_head_keeps_its_headers_and_whole_body(fixtures, reader):
    (cap,) = iter_captures([fixtures["bare-lf.warc"]])
    assert cap.mime == "text/html" and cap.body == b"<html><body><pre>a\r\n\r\nb</pre></body></html>"
    assert problems(fixtures["bare-lf.warc"]) == []


def test_one_member_gzip_reads_every_record_and_resolves_its_revisit(fixtures, reader):
    path = fixtures["one-member.warc.gz"]
    caps = list(iter_captures([path]))
    assert [(c.url, c.offset, c.record_type) for c in caps] == [(f"{H}/page", 0, "response"),
                                                                 (f"{H}/again", 0, "revisit")]
    assert caps[1].body == PAGE and caps[1].revisit_of == (f"{H}/page", "2024-01-01T00:00:00Z")
    infos = list(iter_records([path]))
    assert [(r.offset, r.index) for r in infos] == [(0, 0), (0, 1)]
    assert [kind for r in infos for kind, _ in r.problems] == ["gzip_member"]  # a warning, not a false "cut"


@pytest.mark.parametrize("name", ["short-length.warc", "long-length.warc", "short-length.warc.gz",
                                  "long-length.warc.gz"])
def test_wrong_content_length_is_reported_and_the_next_record_read(fixtures, reader, name):
    path = fixtures[name]
    assert [r.url for r in iter_records([path])] == [f"{H}/cl0", f"{H}/cl1", f"{H}/cl2"]
    (bad,) = [r for r in iter_records([path]) if r.problems]
    assert bad.url == f"{H}/cl1" and [k for k, _ in bad.problems][0] == "record_length"
    resumed = [r.offset for r in iter_records([path])][2]
    assert f"reading resumed at offset {resumed}" in bad.problems[0][1]
    assert f"{H}/cl2" in {c.url for c in iter_captures([path])}


def test_undecodable_body_is_kept_raw_and_flagged(fixtures, reader, caplog):
    path = fixtures["undecodable.warc"]
    with caplog.at_level(logging.WARNING):
        (cap,) = iter_captures([path])
    assert cap.body == PAGE  # as stored, not empty
    assert problems(path) == [(0, "response", f"{H}/labelled-gzip", "body_undecodable")]
    assert any("does not decode as gzip" in r.getMessage() for r in caplog.records)


def test_invalid_status_line_is_flagged_not_read_as_200(fixtures, reader):
    path = fixtures["bad-status.warc"]
    assert [c.url for c in iter_captures([path])] == [f"{H}/fine"]
    assert [(url, kind) for _, _, url, kind in problems(path)] == [(f"{H}/httpx", "http_status_line")]


def test_damaged_plain_warc_resumes_at_the_next_warc_line(fixtures, reader):
    path = fixtures["damaged.warc"]
    infos = list(iter_records([path]))
    assert [(r.rec_type, r.url) for r in infos] == [("response", f"{H}/d0"), ("problem", ""), ("response", f"{H}/d1")]
    assert infos[1].problems[0][0] == "unreadable" and f"resumed at offset {infos[2].offset}" in infos[1].problems[0][1]
    assert [c.url for c in iter_captures([path])] == [f"{H}/d0", f"{H}/d1"]


def test_bad_payload_digest_on_a_request_record(fixtures, reader):
    assert problems(fixtures["request-digest.warc"]) == [(0, "request", f"{H}/form", "payload_digest")]


def test_invalid_arc_lengths_are_reported_and_the_good_record_read(fixtures, reader):
    path = fixtures["bad-lengths.arc"]
    found = [(r.rec_type, r.url, [k for k, _ in r.problems]) for r in iter_records([path])]
    assert found == [("warcinfo", "", []), ("problem", f"{H}/minus", ["record_length"]),
                     ("response", f"{H}/ok", []), ("problem", f"{H}/abc", ["record_length"])]
    assert [c.url for c in iter_captures([path])] == [f"{H}/ok"]


def test_multi_wacz_is_read_through_its_inner_waczs(fixtures, reader):
    path = fixtures["multi.wacz"]
    caps = {c.url: c for c in iter_captures([path])}
    assert set(caps) == {f"{H}/in-a", f"{H}/in-b"} and all(c.body == PAGE for c in caps.values())
    assert caps[f"{H}/in-a"].file == f"{path}#crawl-a.wacz#archive/a.warc.gz"
    report = audit([path])  # the inner WACZs' page lists are the expected set
    assert {o.url: o.outcome for o in report.outcomes} == {f"{H}/in-a": "captured", f"{H}/in-b": "captured",
                                                            f"{H}/never": "not_captured"}
    assert report.integrity_errors == []


def test_a_text_file_is_not_an_archive(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n")
    with pytest.raises(UsageError, match="not a WARC"):
        expand_inputs([text])
    assert expand_inputs([tmp_path]) == []  # in a directory it is simply not an archive
    empty_wacz = tmp_path / "empty.wacz"
    write_multi_wacz(empty_wacz, {})
    (info,) = iter_records([empty_wacz])  # a WACZ with nothing to read is reported, never skipped
    assert info.rec_type == "problem" and "no WARC" in info.problems[0][1]


def test_warcio_warnings_do_not_reach_stderr(fixtures):
    script = ("import logging, sys; logging.basicConfig(level=logging.WARNING, stream=sys.stdout); "
              "import os; os.environ['ARCHIVER_WARC_READER'] = 'warcio'; "
              "from archiver.warc import iter_records; [list(iter_records([p])) for p in sys.argv[1:]]")
    paths = [str(fixtures[n]) for n in ("short-length.warc", "long-length.warc", "old.arc")]
    proc = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
