"""WARC files for tests: written by hand, so tests control every header and
digest, and read back by warcio, the independent reader (``warcio_check``)."""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def chunk(body: bytes, size: int = 7) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


def http_response(body: bytes, status: int = 200, headers: dict | None = None, *, chunked: bool = False) -> tuple[bytes, bytes]:
    """(HTTP message bytes, payload the digest covers: de-chunked body)."""
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 404: "Not Found",
              410: "Gone", 500: "Internal Server Error"}.get(status, "X")
    hdrs = {"Content-Type": "text/html; charset=utf-8"}
    hdrs.update(headers or {})
    wire = chunk(body) if chunked else body
    if chunked:
        hdrs["Transfer-Encoding"] = "chunked"
    else:
        hdrs.setdefault("Content-Length", str(len(body)))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return head.encode("latin-1") + wire, body


def record(url: str, *, rec_type: str = "response", http: bytes = b"", payload: bytes | None = None,
           date: str = "2024-01-01T00:00:00Z", version: str = "1.1", brackets: bool = False,
           content_type: str | None = None, extra: dict | None = None, payload_digest: str | None = None) -> bytes:
    """One WARC record; block and payload digests are computed correctly unless overridden."""
    block = http
    headers = {
        "WARC-Type": rec_type,
        "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>",
        "WARC-Date": date,
        "WARC-Target-URI": f"<{url}>" if brackets else url,
        "Content-Type": content_type or ("application/http; msgtype=response" if rec_type in ("response", "revisit") else "text/plain"),
        "WARC-Block-Digest": sha1(block),
    }
    if payload_digest or payload is not None:
        headers["WARC-Payload-Digest"] = payload_digest or sha1(payload)
    headers.update(extra or {})
    headers["Content-Length"] = str(len(block))
    head = f"WARC/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def response(url: str, body: bytes, status: int = 200, headers: dict | None = None, *, chunked: bool = False, **kw) -> bytes:
    http, payload = http_response(body, status, headers, chunked=chunked)
    return record(url, http=http, payload=payload, **kw)


def revisit(url: str, original_url: str, original_date: str, digest: str, *, date: str = "2024-02-01T00:00:00Z",
            status: int = 200, profile: str = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: text/html\r\n\r\n".encode()
    return record(url, rec_type="revisit", http=head, date=date, payload_digest=digest, extra={
        "WARC-Profile": profile, "WARC-Refers-To-Target-URI": original_url,
        "WARC-Refers-To-Date": original_date, "WARC-Truncated": "length"})


def write_warc(path: Path, records: list[bytes], *, gz: bool | None = None) -> list[int]:
    """Write records (one gzip member each for .gz); return each record's offset."""
    gz = str(path).endswith(".gz") if gz is None else gz
    offsets, out = [], io.BytesIO()
    for rec in records:
        offsets.append(out.tell())
        out.write(gzip.compress(rec) if gz else rec)
    path.write_bytes(out.getvalue())
    return offsets


def write_wacz(path: Path, warcs: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in warcs.items():
            z.writestr(f"archive/{name}", data, compress_type=zipfile.ZIP_STORED)
        z.writestr("datapackage.json", '{"profile": "data-package", "resources": []}')


def warc_records(out: Path):
    records = []
    for path in sorted((out / "warc").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                records.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"),
                                rec.rec_headers.get_header("WARC-Profile")))
    return records


def _dechunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def warcio_check(paths) -> None:
    """``warcio check`` must pass, except its known mis-digest of chunked bodies
    (warcio issue #74): those records are re-checked here over the de-chunked body."""
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", *map(str, paths)],
                          capture_output=True, text=True)
    if proc.returncode == 0:
        return
    current, failures = None, []
    for line in proc.stdout.splitlines():
        if not line.startswith(" "):
            current = line.strip()
        elif m := re.match(r"\s+offset (\d+) ", line):
            offset = int(m.group(1))
        elif "failed" in line:
            failures.append((current, offset, line.strip()))
    assert failures, proc.stdout + proc.stderr
    for path, offset, what in failures:
        assert what.startswith("payload digest failed"), (path, offset, what)
        with open(path, "rb") as f:
            f.seek(offset)
            rec = next(iter(ArchiveIterator(f)))
            assert "chunked" in (rec.http_headers.get_header("Transfer-Encoding") or ""), (path, offset, what)
            body = _dechunk(rec.raw_stream.read())
            digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
            assert digest == rec.rec_headers.get_header("WARC-Payload-Digest"), (path, offset)


def arc_record(url: str, body: bytes, *, ip: str = "192.0.2.1", date: str = "20240101000000",
               mime: str = "text/html", length: int | str | None = None) -> bytes:
    """One ARC 1.0 record (header line, content, newline); ``length`` overrides the content length field."""
    line = f"{url} {ip} {date} {mime} {len(body) if length is None else length}\n".encode()
    return line + body + b"\n"


def arc_file(path: Path, records: list[bytes], *, name: str = "test.arc") -> list[int]:
    """An ARC 1.0 file: the filedesc version block, then ``records`` (one gzip member each for .gz)."""
    version = b"1 0 archiver-tests\nURL IP-address Archive-date Content-type Archive-length"
    filedesc = f"filedesc://{name} 0.0.0.0 20240101000000 text/plain {len(version)}\n".encode() + version + b"\n\n"
    return write_warc(path, [filedesc, *records])


def with_content_length(rec: bytes, delta: int) -> bytes:
    """The record with its Content-Length header off by ``delta`` (the block itself unchanged)."""
    head, sep, rest = rec.partition(b"\r\n\r\n")
    found = re.search(rb"Content-Length: (\d+)", head)
    head = head.replace(found.group(0), b"Content-Length: %d" % (int(found.group(1)) + delta))
    return head + sep + rest


def write_multi_wacz(path: Path, inner: dict[str, dict[str, bytes]], pages: dict[str, list[str]] | None = None) -> None:
    """A Browsertrix-style multi-WACZ: a zip of WACZs (each ``name -> {warc name: bytes}``, with the page
    URLs ``pages[name]`` in its pages/pages.jsonl), profile ``multi-wacz-package``."""
    with zipfile.ZipFile(path, "w") as z:
        resources = []
        for name, warcs in inner.items():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as one:
                for warc_name, data in warcs.items():
                    one.writestr(f"archive/{warc_name}", data, compress_type=zipfile.ZIP_STORED)
                if pages and pages.get(name):
                    lines = [{"format": "json-pages-1.0", "id": "pages"}] + [{"url": u} for u in pages[name]]
                    one.writestr("pages/pages.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n")
                one.writestr("datapackage.json", '{"profile": "data-package", "resources": []}')
            z.writestr(name, buffer.getvalue(), compress_type=zipfile.ZIP_STORED)
            resources.append({"name": name, "path": name, "bytes": len(buffer.getvalue())})
        z.writestr("datapackage.json", json.dumps({"profile": "multi-wacz-package", "resources": resources}))


def warcio_check_problems(path: Path) -> list[tuple[int | None, str]]:
    """What ``warcio check -v`` finds wrong in one file: (record offset or None, what)."""
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", str(path)],
                          capture_output=True, text=True)
    found, offset = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        if m := re.match(r"\s+offset (\d+) ", line):
            offset = int(m.group(1))
        elif "failed" in line or "WARNING" in line:
            found.append((offset, line.strip()))
        elif "saw exception" in line:
            found.append((None, line.strip()))
    return found
