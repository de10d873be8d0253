"""WARC writing, read back with independent readers; dedup, revisits, recovery, disk full, index."""
from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator as FastIterator
from warcio.archiveiterator import ArchiveIterator

from archiver.capture.cdxj import build_index
from archiver.capture.dedup import DedupIndex, Deduplicator
from archiver.capture.fetch import Fetcher
from archiver.capture.recovery import recover, scan
from archiver.capture.warcwriter import (
    IDENTICAL_PAYLOAD_DIGEST,
    SERVER_NOT_MODIFIED,
    WarcWriteError,
    WarcWriter,
)

from webservers import run_pywb

TESTS = Path(__file__).parent
NAME_RE = re.compile(r"^archiver-\d{20}-\d{5}-[A-Za-z0-9._]+\.warc\.gz$")
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def dechunk(data: bytes) -> bytes:
    """An independent, whole-buffer de-chunker (not the one under test)."""
    out, pos = [], 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[eol + 2: eol + 2 + size])
        pos = eol + 2 + size + 2


def records(path):
    """(rec_headers, http_headers, raw block) for every record, via warcio."""
    out = []
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            http = rec.http_headers
            head = http.to_bytes() if http is not None and rec.rec_type != "warcinfo" else b""
            block = rec.raw_stream.read()
            out.append((rec.rec_type, rec.rec_headers, http, head, block))
    return out


def payload_digest_ok(rec_headers, http, block: bytes) -> bool:
    """Payload digest checked against the entity body, chunk framing removed independently."""
    body = block
    if http is not None and "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
        body = dechunk(block)
    return rec_headers.get_header("WARC-Payload-Digest") == sha1_b32(body)


def warcs(directory) -> list[Path]:
    return sorted(Path(directory).glob("*.warc.gz"))


def capture(server, out: Path, paths, *, dedup=None, writer_kw=None, fetch_kw=None, metadata=None):
    """Fetch each path and write it; returns {path: RecordRef}."""
    refs = {}
    fetch_kw = {"timeout": 3, **(fetch_kw or {})}
    with Fetcher(**fetch_kw) as fetcher, WarcWriter(out, **(writer_kw or {})) as writer:
        for path in paths:
            result = fetcher.fetch(server.url(path))
            if result.recorded:
                if dedup is not None:
                    refs[path] = Deduplicator(dedup, writer).write(result, metadata=metadata)
                else:
                    refs[path] = writer.write_response(result, metadata=metadata)
            result.close()
    return refs


def warcio_check(paths) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("warcio")
    return subprocess.run([str(exe), "check", "-v", *map(str, paths)], capture_output=True, text=True)


PLAIN = ["/", "/a.html", "/gzip", "/http10", "/cp1250-meta", "/img.png", "/redirect/3", "/etag", "/garbage"]


def test_records_are_standard_and_linked(test_server, tmp_path):
    refs = capture(test_server, tmp_path, PLAIN, metadata={"via": "seed", "hopsFromSeed": ""})
    files = warcs(tmp_path)
    assert len(files) == 1 and NAME_RE.match(files[0].name) and not list(tmp_path.glob("*.open"))
    recs = records(files[0])
    assert recs[0][0] == "warcinfo"
    info = recs[0][4].decode()
    assert "software: archiver/" in info and "format: WARC File Format 1.1" in info and "conformsTo:" in info
    by_id = {h.get_header("WARC-Record-ID"): (t, h) for t, h, *_ in recs}
    responses = [(h, http, head, block) for t, h, http, head, block in recs if t == "response"]
    assert len(responses) == len(PLAIN)
    for h, http, head, block in responses:
        uri = h.get_header("WARC-Target-URI")
        assert not uri.startswith("<") and h.get_header("WARC-IP-Address") == "127.0.0.1"
        assert DATE_RE.match(h.get_header("WARC-Date"))
        assert h.get_header("Content-Type") == "application/http;msgtype=response"
        assert h.get_header("WARC-Block-Digest") == sha1_b32(head + block)
        assert payload_digest_ok(h, http, block)
        requests_ = [rh for t, rh in by_id.values() if t == "request"
                     and rh.get_header("WARC-Concurrent-To") == h.get_header("WARC-Record-ID")]
        assert len(requests_) == 1 and requests_[0].get_header("WARC-Target-URI") == uri
        assert requests_[0].get_header("Content-Type") == "application/http;msgtype=request"
    gz = next(r for r in responses if r[0].get_header("WARC-Target-URI").endswith("/gzip"))
    assert gz[3][:2] == b"\x1f\x8b" and gz[1].get_header("Content-Encoding") == "gzip"  # stored as received
    # the recorded offsets point at the response records
    for path, ref in refs.items():
        with open(files[0], "rb") as fh:
            fh.seek(ref.offset)
            rec = next(iter(ArchiveIterator(fh)))
            assert rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI").endswith(path)
    check = warcio_check(files)
    assert check.returncode == 0, check.stdout


def test_fastwarc_reads_everything_and_agrees_on_digests(test_server, tmp_path):
    capture(test_server, tmp_path, PLAIN + ["/chunked"])
    (path,) = warcs(tmp_path)
    types = []
    with open(path, "rb") as fh:
        for rec in FastIterator(fh, parse_http=False):
            types.append(str(rec.record_type).split(".")[-1])
            assert rec.verify_block_digest()
    assert types[0] == "warcinfo" and types.count("response") == len(PLAIN) + 1
    with open(path, "rb") as fh:
        for rec in FastIterator(fh, parse_http=True):
            if str(rec.record_type).endswith("response") and "chunked" not in rec.headers["WARC-Target-URI"]:
                assert rec.verify_payload_digest(), rec.headers["WARC-Target-URI"]


def test_chunked_payload_digest_is_over_the_dechunked_body(test_server, tmp_path):
    capture(test_server, tmp_path, ["/a.html", "/chunked", "/chunked-gzip"])
    (path,) = warcs(tmp_path)
    chunked_ids = set()
    for t, h, http, head, block in records(path):
        if t == "response":
            assert payload_digest_ok(h, http, block)
            if http.get_header("Transfer-Encoding") == "chunked":
                assert block.startswith((b"7;ext=1\r\n", b"64;ext=1\r\n"))  # framing kept
                chunked_ids.add(h.get_header("WARC-Record-ID"))
    assert len(chunked_ids) == 2
    # warcio digests the chunked bytes (warcio issue #74): its only complaints are those records
    check = warcio_check([path])
    failed = re.findall(r"WARC-Record-ID (\S+) \w+\n\s+payload digest failed", check.stdout)
    assert check.returncode == 1 and set(failed) == chunked_ids
    assert check.stdout.count("failed") == len(chunked_ids)


def test_identical_payloads_become_revisits(test_server, tmp_path):
    dedup = DedupIndex(tmp_path / "state.sqlite3")
    refs = capture(test_server, tmp_path / "warc", ["/same-a", "/same-b", "/a.html"], dedup=dedup)
    assert [refs[p].record_type for p in ("/same-a", "/same-b", "/a.html")] == ["response", "revisit", "response"]
    (path,) = warcs(tmp_path / "warc")
    revisit = next((h, head, block) for t, h, _, head, block in records(path) if t == "revisit")
    h, head, block = revisit
    assert h.get_header("WARC-Profile") == IDENTICAL_PAYLOAD_DIGEST
    assert h.get_header("WARC-Refers-To-Target-URI") == test_server.url("/same-a")
    assert h.get_header("WARC-Refers-To-Date") == refs["/same-a"].date
    assert h.get_header("WARC-Refers-To") == refs["/same-a"].record_id
    assert h.get_header("WARC-Payload-Digest") == sha1_b32(b"identical payload\n")
    assert h.get_header("WARC-Truncated") == "length" and block == b""  # HTTP headers only
    assert h.get_header("WARC-Block-Digest") == sha1_b32(head)
    dedup.close()


def test_a_truncated_payload_is_never_an_original(test_server, tmp_path):
    """A cut answer's digest is that of the part received: a later copy must not become a
    revisit of it (its reader would get the cut body), and no later answer either."""
    dedup = DedupIndex(tmp_path / "dedup.sqlite3")
    refs = capture(test_server, tmp_path / "warc", ["/huge?size=300000", "/huge?size=300000&again"], dedup=dedup,
                   fetch_kw={"max_response_bytes": 100_000})
    assert [r.record_type for r in refs.values()] == ["response", "response"]
    assert dedup.db.execute("SELECT COUNT(*) FROM dedup_digest").fetchone()[0] == 0
    dedup.close()


def test_dedup_and_conditional_revalidation_across_runs(test_server, tmp_path):
    first_db = tmp_path / "run1" / "state.sqlite3"
    first_db.parent.mkdir()
    first = DedupIndex(first_db)
    refs1 = capture(test_server, tmp_path / "run1" / "warc", ["/etag", "/same-a"], dedup=first)
    first.close()

    second = DedupIndex(tmp_path / "run2.sqlite3")
    assert second.import_state(first_db) > 0
    previous = second.previous(test_server.url("/etag"))
    assert previous.conditional_headers() == {"If-None-Match": '"v1"',
                                              "If-Modified-Since": "Fri, 14 Jul 2017 02:40:00 GMT"}
    with Fetcher() as fetcher, WarcWriter(tmp_path / "run2" / "warc") as writer:
        unchanged = fetcher.fetch(test_server.url("/etag"), headers=previous.conditional_headers())
        assert unchanged.status == 304
        ref = Deduplicator(second, writer).write(unchanged, previous=previous)
        same = fetcher.fetch(test_server.url("/same-a"))
        ref_same = Deduplicator(second, writer).write(same)
    assert ref.record_type == ref_same.record_type == "revisit"
    recs = {h.get_header("WARC-Target-URI"): (h, block) for t, h, _, _, block in
            records(warcs(tmp_path / "run2" / "warc")[0]) if t == "revisit"}
    h, _ = recs[test_server.url("/etag")]
    assert h.get_header("WARC-Profile") == SERVER_NOT_MODIFIED
    assert h.get_header("WARC-Refers-To") == refs1["/etag"].record_id
    assert h.get_header("WARC-Refers-To-Date") == refs1["/etag"].date
    h, _ = recs[test_server.url("/same-a")]
    assert h.get_header("WARC-Profile") == IDENTICAL_PAYLOAD_DIGEST
    assert h.get_header("WARC-Refers-To-Date") == refs1["/same-a"].date
    # a third run still refers to the first run's payload, never to a revisit
    assert second.previous(test_server.url("/etag")).record_id == refs1["/etag"].record_id
    # the same tables can be rebuilt from the WARC files alone
    rebuilt = DedupIndex(tmp_path / "rebuilt.sqlite3")
    assert rebuilt.import_warcs(warcs(tmp_path / "run1" / "warc")) == 2
    assert rebuilt.previous(test_server.url("/etag")) == DedupIndex(first_db).previous(test_server.url("/etag"))
    assert rebuilt.lookup(sha1_b32(b"identical payload\n")).url == test_server.url("/same-a")


def test_credentials_redacted_unless_asked(test_server, tmp_path):
    secrets = {"Authorization": "Basic c2VjcmV0OnB3", "Cookie": "session=s3cr3t"}
    capture(test_server, tmp_path / "no", ["/a.html"], fetch_kw={"extra_headers": secrets})
    capture(test_server, tmp_path / "yes", ["/a.html"], fetch_kw={"extra_headers": secrets},
            writer_kw={"record_credentials": True})
    assert test_server.hits("/a.html")[0].headers["Authorization"] == secrets["Authorization"]  # sent
    (no,) = warcs(tmp_path / "no")
    request = next(head + block for t, _, _, head, block in records(no) if t == "request")
    assert b"Authorization: [redacted]\r\n" in request and b"Cookie: [redacted]\r\n" in request
    assert b"c2VjcmV0" not in no.read_bytes() and b"s3cr3t" not in request
    (yes,) = warcs(tmp_path / "yes")
    request = next(head + block for t, _, _, head, block in records(yes) if t == "request")
    assert b"session=s3cr3t" in request
    assert warcio_check([no, yes]).returncode == 0


def test_truncation_markers(test_server, tmp_path):
    capture(test_server, tmp_path, ["/huge", "/drip?interval=0.2&size=50", "/short"],
            fetch_kw={"max_response_bytes": 1 << 20, "total_timeout": 0.7})
    marks = {h.get_header("WARC-Target-URI").split("/")[-1]: h.get_header("WARC-Truncated")
             for t, h, *_ in records(warcs(tmp_path)[0]) if t == "response"}
    assert marks == {"huge": "length", "drip?interval=0.2&size=50": "time", "short": "disconnect"}
    assert warcio_check(warcs(tmp_path)).returncode == 0


def test_rotation_by_size_each_file_self_contained(test_server, tmp_path):
    capture(test_server, tmp_path, PLAIN, writer_kw={"max_size": 3000})
    files = warcs(tmp_path)
    assert len(files) >= 3 and not list(tmp_path.glob("*.open"))
    serials = [int(f.name.split("-")[2]) for f in files]
    assert serials == sorted(set(serials))
    total = 0
    for f in files:
        recs = records(f)
        assert recs[0][0] == "warcinfo" and recs[0][1].get_header("WARC-Filename") == f.name
        total += sum(1 for r in recs if r[0] == "response")
    assert total == len(PLAIN)


def _copy_prefix(src: Path, dst_dir: Path, size: int) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / (src.name + ".open")
    dst.write_bytes(src.read_bytes()[:size])
    return dst


def test_recovery_cuts_incomplete_groups(test_server, tmp_path):
    capture(test_server, tmp_path / "src", ["/a.html", "/chunked", "/gzip", "/b.html"])
    (src,) = warcs(tmp_path / "src")
    members = list(scan(src))
    assert all(m.complete for m in members) and members[-1].end == src.stat().st_size
    cut_points = sorted({m.start for m in members} | {m.start + 7 for m in members}
                        | {m.end - 3 for m in members} | {src.stat().st_size})
    for n, size in enumerate(cut_points):
        out = tmp_path / f"cut{n}"
        _copy_prefix(src, out, size)
        refetch = recover(out)
        assert not list(out.glob("*.open"))
        kept = warcs(out)
        group_ends = [m.end for m in members if m.rtype in ("warcinfo", "response") and m.end <= size]
        expected_size = group_ends[-1] if group_ends else 0
        if expected_size <= members[0].end:  # nothing but warcinfo: the file is dropped
            assert kept == []
            continue
        assert kept[0].stat().st_size == expected_size
        recs = records(kept[0])
        responses = {h.get_header("WARC-Target-URI") for t, h, *_ in recs if t == "response"}
        requests_ = {h.get_header("WARC-Target-URI") for t, h, *_ in recs if t == "request"}
        assert responses == requests_
        with open(kept[0], "rb") as fh:
            assert all(rec.verify_block_digest() for rec in FastIterator(fh, parse_http=False))
        # a whole record of an unfinished group names its URL for a re-fetch
        after = [m for m in members if expected_size <= m.start and m.end <= size]
        assert set(refetch) >= {m.uri for m in after if m.uri}
        assert not set(refetch) & responses


WRITER_CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[2])
    from servers import TestServer
    from archiver.capture.dedup import DedupIndex, Deduplicator
    from archiver.capture.fetch import Fetcher
    from archiver.capture.warcwriter import WarcWriter

    STOP_AT, WHERE = int(sys.argv[3]), sys.argv[4]


    def stop():
        print("stopped", flush=True)
        sys.stdin.read()  # until the test kills this process


    class StoppingWriter(WarcWriter):
        \"\"\"Stops (for a kill -9) in its STOP_AT-th response: half-way through writing it
        ("inside"), or once it is written but before anyone was told ("after").\"\"\"
        responses = 0

        def write_response(self, result, **kw):
            self.responses += 1
            ref = super().write_response(result, **kw)
            if self.responses == STOP_AT and WHERE == "after":
                stop()
            return ref

        def _syscall_write(self, fd, data):
            if self.responses == STOP_AT and WHERE == "inside":
                os.write(fd, bytes(data[: len(data) // 2]))
                stop()
            return os.write(fd, data)


    with TestServer() as srv, Fetcher() as fetcher:
        writer = StoppingWriter(sys.argv[1], max_size=400_000)
        dedup = Deduplicator(DedupIndex(sys.argv[5]), writer)
        n = 0
        while True:  # new payloads (some large, so files rotate) and copies of one payload
            path = "/random?size=150000&n=%d" % n if n % 3 == 0 else "/chunked?n=%d" % n
            result = fetcher.fetch(srv.url(path))
            dedup.write(result)
            result.close()
            print(result.url, flush=True)
            n += 1
""")


@pytest.mark.parametrize("stop_at", [1, 4])
@pytest.mark.parametrize("where", ["inside", "after"])
def test_sigkill_mid_write_loses_nothing(tmp_path, stop_at, where):
    """kill -9 half-way through writing a response, or right after it was written: what was
    reported written survives, what was cut is fetched again, and the dedup index (after
    ``settle`` and ``forget``) knows every response on disk and refers to no missing one."""
    out = tmp_path / "warc"
    db = tmp_path / "dedup.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", WRITER_CHILD, str(out), str(TESTS), str(stop_at), where, str(db)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    written = []
    for line in child.stdout:
        if line.strip() == "stopped":
            break
        written.append(line.strip())
    else:
        pytest.fail(f"the writer never reached its stop (exit {child.wait()})")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    refetch = recover(out)
    assert not list(out.glob("*.open"))
    found, responses = set(), {}
    for f in warcs(out):
        recs = records(f)
        assert recs[0][0] == "warcinfo"
        found |= {h.get_header("WARC-Target-URI") for t, h, *_ in recs if t in ("response", "revisit")}
        for t, h, http, head, block in recs:
            if t == "response":
                assert payload_digest_ok(h, http, block)
                assert h.get_header("WARC-Block-Digest") == sha1_b32(head + block)
                responses[h.get_header("WARC-Record-ID")] = h
    assert set(written) <= found  # everything reported written survived
    assert not set(refetch) & found  # and what was cut is fetched again, not duplicated
    index = DedupIndex(db)
    index.settle(warcs(out))
    index.forget(refetch)
    for h in responses.values():  # every response on disk is an original a copy would refer to
        original = index.lookup(h.get_header("WARC-Payload-Digest"))
        assert original is not None and original.record_id in responses, h.get_header("WARC-Target-URI")
    for record_id, in index.db.execute("SELECT record_id FROM dedup_digest"):
        assert record_id in responses  # and the index refers to no record that is gone
    index.close()


class FullDisk(WarcWriter):
    """A writer whose disk fills up after ``room`` more bytes (a partial write, then ENOSPC)."""

    room: int | None = None

    def _syscall_write(self, fd, data):
        if self.room is None:
            return os.write(fd, data)
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, bytes(data[: self.room]))
        self.room -= n
        return n


def test_disk_full_leaves_no_half_record_and_writing_resumes(test_server, tmp_path):
    with Fetcher() as fetcher:
        writer = FullDisk(tmp_path)
        for path in ("/a.html", "/b.html"):
            writer.write_response(fetcher.fetch(test_server.url(path)))
        (open_file,) = tmp_path.glob("*.open")
        good = open_file.stat().st_size
        writer.room = 500
        with pytest.raises(WarcWriteError) as err:
            writer.write_response(fetcher.fetch(test_server.url("/chunked")))
        assert err.value.errno == errno.ENOSPC and "No space left" in str(err.value)
        assert open_file.stat().st_size == good  # rolled back to the last whole group
        # a crash now loses nothing: recovery finds a clean file
        snapshot = tmp_path / "snapshot"
        snapshot.mkdir()
        (snapshot / open_file.name).write_bytes(open_file.read_bytes())
        assert recover(snapshot) == [] and len(warcs(snapshot)) == 1
        writer.room = None  # space is back
        writer.write_response(fetcher.fetch(test_server.url("/gzip")))
        writer.close()
    (path,) = warcs(tmp_path)
    uris = [h.get_header("WARC-Target-URI") for t, h, *_ in records(path) if t == "response"]
    assert [u.rsplit("/", 1)[-1] for u in uris] == ["a.html", "b.html", "gzip"]
    assert warcio_check([path]).returncode == 0


def test_unwritable_directory_is_a_clear_error(test_server, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with Fetcher() as fetcher:
        result = fetcher.fetch(test_server.url("/a.html"))
    with pytest.raises(WarcWriteError, match="cannot create a WARC file in"):
        WarcWriter(blocker / "warc").write_response(result)


def test_index_cdxj_is_sorted_and_points_at_records(test_server, tmp_path):
    dedup = DedupIndex(tmp_path / "state.sqlite3")
    refs = capture(test_server, tmp_path / "warc", ["/b.html", "/a.html", "/same-a", "/same-b", "/chunked"],
                   dedup=dedup)
    (tmp_path / "warc" / "ignored.warc.gz.open").write_bytes(b"half")
    index = build_index(tmp_path)
    lines = index.read_text().splitlines()
    assert lines == sorted(lines) and len(lines) == len(refs)
    by_url = {json.loads(line.split(" ", 2)[2])["url"]: json.loads(line.split(" ", 2)[2]) for line in lines}
    for path, ref in refs.items():
        entry = by_url[test_server.url(path)]
        assert entry["filename"] == f"warc/{ref.filename}"
        assert (int(entry["offset"]), int(entry["length"])) == (ref.offset, ref.length)
    assert by_url[test_server.url("/same-b")]["mime"] == "warc/revisit"


def test_pywb_replays_gzip_chunked_cp1250_and_revisits(test_server, tmp_path):
    import requests

    dedup = DedupIndex(tmp_path / "state.sqlite3")
    pages = ["/gzip", "/chunked", "/chunked-gzip", "/cp1250-meta", "/http10", "/same-a", "/same-b", "/etag"]
    capture(test_server, tmp_path / "warc", pages, dedup=dedup)
    previous = dedup.previous(test_server.url("/etag"))
    with Fetcher() as fetcher, WarcWriter(tmp_path / "warc") as writer:  # a later re-crawl: 304
        answer = fetcher.fetch(test_server.url("/etag"), previous.conditional_headers())
        assert Deduplicator(dedup, writer).write(answer, previous=previous).record_type == "revisit"
    build_index(tmp_path)
    (tmp_path / "config.yaml").write_text(
        f"collections:\n  c:\n    index_paths: {tmp_path}/index.cdxj\n    archive_paths: {tmp_path}/\n")
    with run_pywb(tmp_path) as port:
        replay = {}
        for path in pages:
            answer = requests.get(f"http://127.0.0.1:{port}/c/2100id_/{test_server.url(path)}", timeout=30)
            replay[path] = (answer.status_code, answer.content)
    routes = test_server.routes
    assert replay["/gzip"] == (200, gzip_decoded(routes["/gzip"].body))
    assert replay["/chunked"][0] == 200 and b"chunked page chunked page" in replay["/chunked"][1]
    assert b"chunked and gzip'd" in replay["/chunked-gzip"][1]
    assert replay["/cp1250-meta"] == (200, routes["/cp1250-meta"].body)  # bytes untouched
    assert replay["/http10"][0] == 200 and b"ended by close" in replay["/http10"][1]
    assert replay["/same-b"] == (200, b"identical payload\n")  # revisit resolved to /same-a
    assert replay["/etag"][0] == 200 and b"validated page" in replay["/etag"][1]  # not an empty 304


def gzip_decoded(data: bytes) -> bytes:
    import gzip
    return gzip.decompress(data)


def test_real_full_disk_then_space_returns(test_server, tiny_disk):
    mountpoint, resize = tiny_disk
    out = mountpoint / "warc"
    written = []
    with Fetcher() as fetcher:
        writer = WarcWriter(out)
        with pytest.raises(WarcWriteError) as err:
            for n in range(20):  # 20 x 150 KB of incompressible bodies cannot fit in 1 MB
                result = fetcher.fetch(test_server.url(f"/random?size=150000&n={n}"))
                writer.write_response(result)
                written.append(result.url)
        assert err.value.errno == errno.ENOSPC and 3 <= len(written) < 20
        (open_file,) = out.glob("*.open")
        assert [m.complete for m in scan(open_file)] == [True] * (1 + 2 * len(written))  # no half record
        resize("8m")  # space returns: the same writer carries on
        result = fetcher.fetch(test_server.url("/random?size=150000&n=last"))
        writer.write_response(result)
        writer.close()
    (path,) = warcs(out)
    uris = [h.get_header("WARC-Target-URI") for t, h, *_ in records(path) if t == "response"]
    assert uris == written + [result.url]
    assert warcio_check([path]).returncode == 0


def test_threads_share_one_writer_without_interleaving(test_server, tmp_path):
    import threading

    dedup = DedupIndex(tmp_path / "state.sqlite3")
    writer = WarcWriter(tmp_path / "warc", max_size=20_000)
    deduplicator = Deduplicator(dedup, writer)
    refs, errors = [], []
    with Fetcher() as fetcher:
        def work(k):
            try:
                for n in range(25):
                    result = fetcher.fetch(test_server.url(f"/random?size=3000&t={k}&n={n}"))
                    refs.append((result.url, deduplicator.write(result)))
                    result.close()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    writer.close()
    assert errors == [] and len(refs) == 100
    files = warcs(tmp_path / "warc")
    assert len(files) > 3 and warcio_check(files).returncode == 0
    for url, ref in refs:  # every reference points at its own response
        with open(tmp_path / "warc" / ref.filename, "rb") as fh:
            fh.seek(ref.offset)
            rec = next(iter(ArchiveIterator(fh)))
            assert rec.rec_headers.get_header("WARC-Target-URI") == url
    for f in files:
        assert records(f)[0][0] == "warcinfo"


def test_identical_payloads_written_at_once_give_one_response_and_one_revisit(test_server, tmp_path):
    """The decision is atomic per payload digest: the lookup, the write and the remember of
    one digest never interleave with another thread's.  The first lookup holds on until the
    other thread is seen waiting for that digest (or, were the decision not atomic, is
    seen looking it up too), so the two always meet inside the decision."""
    import threading

    lookups = []
    deduplicator: Deduplicator

    class GatedLookup(DedupIndex):
        def lookup(self, digest):
            found = super().lookup(digest)
            lookups.append(digest)
            if len(lookups) == 1:
                deadline = time.monotonic() + 60
                while deduplicator.locks.waiting(digest) == 0 and len(lookups) == 1:
                    assert time.monotonic() < deadline, "the other thread never reached the decision"
                    time.sleep(0.001)
            return found

    dedup = GatedLookup(tmp_path / "dedup.sqlite3")
    with Fetcher() as fetcher:
        results = [fetcher.fetch(test_server.url(p)) for p in ("/same-a", "/same-b")]
    types = []
    with WarcWriter(tmp_path / "warc") as writer:
        deduplicator = Deduplicator(dedup, writer)

        def write(result):
            types.append(deduplicator.write(result).record_type)

        threads = [threading.Thread(target=write, args=(r,)) for r in results]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for r in results:
        r.close()
    assert sorted(types) == ["response", "revisit"]
    written = [t for t, *_ in records(warcs(tmp_path / "warc")[0]) if t in ("response", "revisit")]
    assert sorted(written) == ["response", "revisit"]
    dedup.close()


def test_forgotten_urls_are_never_referred_to_again(test_server, tmp_path):
    dedup = DedupIndex(tmp_path / "dedup.sqlite3")
    capture(test_server, tmp_path / "warc", ["/same-a"], dedup=dedup)
    digest = sha1_b32(b"identical payload\n")
    assert dedup.lookup(digest) is not None and dedup.previous(test_server.url("/same-a")) is not None
    dedup.forget([test_server.url("/same-a")])
    assert dedup.lookup(digest) is None and dedup.previous(test_server.url("/same-a")) is None
    refs = capture(test_server, tmp_path / "warc2", ["/same-b"], dedup=dedup)
    assert refs["/same-b"].record_type == "response"  # not a revisit of a record that is gone
    dedup.close()


def test_an_unsettled_original_is_not_carried_into_the_next_crawl(tmp_path):
    """A crawl killed after announcing an original, and never resumed, leaves it pending: the
    next crawl imports its settled originals only."""
    killed = DedupIndex(tmp_path / "killed.sqlite3")
    killed.remember("sha1:WRITTEN", "http://site/a", "2020-01-01T00:00:00.000000Z", "<urn:uuid:a>")
    killed.announce("sha1:MAYBE", "http://site/b", "2020-01-01T00:00:01.000000Z", "<urn:uuid:b>")
    killed.close()
    later = DedupIndex(tmp_path / "later.sqlite3")
    later.import_state(tmp_path / "killed.sqlite3")
    assert later.lookup("sha1:WRITTEN").record_id == "<urn:uuid:a>" and later.lookup("sha1:MAYBE") is None
    later.close()


def test_a_cut_revisit_does_not_forget_an_earlier_runs_original(test_server, tmp_path):
    """Run 1 writes /same-a as a response; run 2 fetches it again (it was in flight at a kill)
    as a revisit, and is killed while writing that revisit, which recovery cuts.  Run 3
    forgets the cut record, not run 1's response, which still holds the payload: the next
    copy is a revisit of it, not a second response."""
    db = tmp_path / "dedup.sqlite3"
    run1 = DedupIndex(db)
    first = capture(test_server, tmp_path / "warc", ["/same-a"], dedup=run1)["/same-a"]
    run1.close()
    run2 = DedupIndex(db)
    assert capture(test_server, tmp_path / "warc", ["/same-a"], dedup=run2)["/same-a"].record_type == "revisit"
    run2.close()
    run3 = DedupIndex(db)
    run3.forget([test_server.url("/same-a")])  # what recovery reports after cutting run 2's revisit
    again = capture(test_server, tmp_path / "warc", ["/same-b"], dedup=run3)["/same-b"]
    assert again.record_type == "revisit" and again.refers_to == test_server.url("/same-a")
    assert run3.lookup(sha1_b32(b"identical payload\n")).record_id == first.record_id
    run3.close()


@pytest.mark.parametrize("writer_killed", [False, True])
def test_a_previous_state_database_is_read_without_writing_beside_it(tmp_path, writer_killed):
    """mode=ro on a WAL database leaves -wal/-shm files in the earlier run's folder; a killed
    writer's committed rows live only in its -wal and must still be read."""
    import shutil
    import sqlite3

    from archiver.capture.incremental import readonly_uri

    live = tmp_path / "live"
    live.mkdir()
    db = sqlite3.connect(live / "state.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (42)")
    previous = tmp_path / "previous"
    previous.mkdir()
    if writer_killed:  # what kill -9 leaves: the main file and a WAL holding the commits
        for name in ("state.sqlite3", "state.sqlite3-wal"):
            shutil.copyfile(live / name, previous / name)
        db.close()
    else:
        db.close()
        shutil.copyfile(live / "state.sqlite3", previous / "state.sqlite3")
    before = sorted(p.name for p in previous.iterdir())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    reader = sqlite3.connect(readonly_uri(previous / "state.sqlite3", scratch), uri=True)
    assert reader.execute("SELECT x FROM t").fetchall() == [(42,)]
    reader.close()
    assert sorted(p.name for p in previous.iterdir()) == before
    assert ("state.sqlite3-wal" in before) == writer_killed
