"""Write WARC 1.1 files: one gzip member per record, crash-safe, rotated by size.

We serialise records ourselves rather than through warcio's writer, because
warcio re-serialises HTTP headers and digests chunked bodies with their
framing; here the block is the recorded bytes, untouched, and the payload
digest is over the de-chunked entity body (gzip kept), as WARC 1.1 says.

Files are named ``PREFIX-TIMESTAMP-SERIAL-HOST.warc.gz``, written as
``....warc.gz.open``, fsync'd and renamed when closed or rotated (default at
1 GB). Every file starts with a ``warcinfo`` record. One fetch is written as a
*group*: ``request`` [+ ``metadata``] + ``response`` (or ``revisit``), with the
response/revisit last, so a group whose last member is complete is whole
(:mod:`.recovery` cuts any incomplete tail group after a crash and names its
URL). A group is compressed outside the lock, then appended with ``os.write``;
if the write fails (ENOSPC, EIO) the file is truncated back to the last whole
group and :class:`WarcWriteError` (an ``OSError``) is raised, so the crawl can
stop cleanly and resume later; the writer stays usable.

Compression: level 6 (``gzip_level``) by zlib-ng (the ``zlib-ng`` package, a
drop-in for the standard ``zlib`` module writing the same gzip format), which
deflates HTML about twice as fast as zlib and a little smaller (figures in
``bench/README.md``). The archive's size (kept for decades) is why the level
stays at 6 rather than a faster, larger one.
A payload that does not compress (JPEG, PNG, video, a body the server already
gzip'd or brotli'd: two samples of it shrink by less than 5% at level 1) is
stored in its gzip member instead: deflate spends as much CPU on such bytes as
on text and saves nothing (the member is 0.1% larger than the bytes).

Credentials: the ``Authorization``, ``Proxy-Authorization`` and ``Cookie``
request headers (configured by the user or sent back from the site's own
``Set-Cookie``) are written with their value replaced by ``[redacted]`` (the
header line stays, so the record still shows that one was sent) unless
``record_credentials=True``. Only the request record is affected: what the
server answered is archived as received.

``metadata`` (optional on every write) is ``{field: value or [values]}``,
written as an ``application/warc-fields`` metadata record concurrent to the
response, e.g. ``{"via": parent_url, "hopsFromSeed": "LL", "outlink": [...]}``.

The writer only writes: which answer becomes a response and which a revisit
is decided by :class:`.dedup.Deduplicator`, which calls it.

Public API::

    writer = WarcWriter(directory, prefix="archiver", max_size=10**9,
                        info={"robots": "obey", "http-header-user-agent": UA},
                        record_credentials=False)
    ref = writer.write_response(result, metadata=None, record_id=None)
    ref = writer.write_revisit(result, refers_to_uri, refers_to_date, refers_to_id=None,
                               profile=IDENTICAL_PAYLOAD_DIGEST, payload_digest=None)
    ref.filename, ref.path, ref.offset, ref.length, ref.record_id, ref.date, ref.record_type,
    ref.refers_to
    writer.flush()     # fsync the open file (call before committing crawl state); writers are not blocked
    writer.close()     # fsync, rename .open -> .warc.gz
    writer.files       # paths of closed files
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterable, Iterator

from zlib_ng import zlib_ng

from archiver import __version__
from archiver.http_message import READ_SIZE, warc_digest

if TYPE_CHECKING:
    from .fetch import FetchResult

IDENTICAL_PAYLOAD_DIGEST = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
SERVER_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
CONFORMS_TO = "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
CREDENTIAL_HEADERS = (b"authorization", b"proxy-authorization", b"cookie")
REDACTED = b"[redacted]"
DEFAULT_MAX_SIZE = 1_000_000_000
OPEN_SUFFIX = ".open"


class WarcWriteError(OSError):
    """Writing a WARC file failed (disk full, I/O error, unwritable directory).

    The file was truncated back to its last complete record group; nothing
    half-written remains. ``errno`` is the underlying error's.
    """


@dataclass(frozen=True)
class RecordRef:
    """Where a record landed: enough for crawl.jsonl and a CDX line."""

    filename: str  # final name (without .open)
    path: str  # current path (.open while the file is being written)
    offset: int
    length: int  # compressed length of the record's gzip member
    record_id: str
    date: str  # WARC-Date
    record_type: str
    refers_to: str | None = None  # a revisit's WARC-Refers-To-Target-URI


def warc_date(when: datetime) -> str:
    """WARC-Date with microseconds, UTC (WARC 1.1 allows fractions).  ``isoformat`` rather than
    ``strftime``, which goes through the C library's locale-aware formatting: ~30 us per call
    during a crawl against ~3 us, and every record has its date formatted twice."""
    return when.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def redact_credentials(request: bytes) -> bytes:
    """Replace the values of credential headers in a raw request head."""
    head, sep, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines[1:], 1):
        name, colon, _value = line.partition(b":")
        if colon and name.strip().lower() in CREDENTIAL_HEADERS:
            lines[i] = name + b": " + REDACTED
    return b"\r\n".join(lines) + sep + body


SAMPLE = 2048  # bytes of a payload, at its start and in its middle, tried at level 1
STORE_RATIO = 0.95  # samples that do not shrink below this share: the payload is stored


MEMBER_BATCH = 1 << 20  # bytes of a record gathered before they are deflated


class _Member:
    """Builds one gzip member (one record) into a spool.

    The record's bytes are gathered and deflated in one zlib call when the record is
    under ``MEMBER_BATCH`` (most are), in batches of that size above it.  Streaming every
    piece (head, block chunks, end, flush) took four zlib calls per record or more, each
    setting up or draining the compressor, and each releasing the GIL, which in a crawl
    eight fetching threads wait for."""

    def __init__(self, spool: BinaryIO, level: int):
        self.spool = spool
        self.start = spool.tell()
        self.level = level
        self.comp = None  # a streaming compressor, once the record outgrows MEMBER_BATCH
        self.pending: list[bytes] = []
        self.pending_size = 0

    def write(self, data: bytes) -> None:
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= MEMBER_BATCH:
            if self.comp is None:
                self.comp = zlib_ng.compressobj(self.level, zlib_ng.DEFLATED, 31)
            self.spool.write(self.comp.compress(self._take()))

    def _take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending, self.pending_size = [], 0
        return data

    def finish(self) -> int:
        if self.comp is None:
            self.spool.write(zlib_ng.compress(self._take(), self.level, 31))
        else:
            self.spool.write(self.comp.compress(self._take()) + self.comp.flush())
        return self.spool.tell() - self.start


def _fields(pairs: Iterable[tuple[str, str | None]]) -> bytes:
    lines = []
    for name, value in pairs:
        if value is None:
            continue
        value = str(value).replace("\r", " ").replace("\n", " ")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8")


class _Group:
    """Records of one fetch, compressed into a spool before taking the file lock."""

    def __init__(self, level: int):
        self.spool = tempfile.SpooledTemporaryFile(max_size=4 << 20)
        self.level = level
        self.members: list[tuple[int, int, str, str, str]] = []  # offset, length, id, date, type

    def add(self, rtype: str, headers: list[tuple[str, str | None]], block: Iterable[bytes],
            block_length: int, *, record_id: str | None = None, date: str, level: int | None = None) -> str:
        record_id = record_id or new_record_id()
        member = _Member(self.spool, self.level if level is None else level)
        head = [("WARC-Type", rtype), ("WARC-Record-ID", record_id), ("WARC-Date", date), *headers,
                ("Content-Length", str(block_length))]
        member.write(b"WARC/1.1\r\n" + _fields(head) + b"\r\n")
        written = 0
        for data in block:
            written += len(data)
            member.write(data)
        if written != block_length:
            raise ValueError(f"{rtype} block is {written} bytes, expected {block_length}")
        member.write(b"\r\n\r\n")
        self.members.append((member.start, member.finish(), record_id, date, rtype))
        return record_id

    def chunks(self) -> Iterator[bytes]:
        self.spool.seek(0)
        while data := self.spool.read(READ_SIZE):
            yield data

    @property
    def size(self) -> int:
        self.spool.seek(0, os.SEEK_END)
        return self.spool.tell()

    def close(self) -> None:
        self.spool.close()


def _sha1(data: bytes) -> str:
    return warc_digest(hashlib.sha1(data))


class WarcWriter:
    """Appends record groups to rotating ``.warc.gz`` files (thread-safe)."""

    def __init__(self, directory: str | os.PathLike, prefix: str = "archiver",
                 max_size: int = DEFAULT_MAX_SIZE, info: dict | None = None,
                 record_credentials: bool = False, hostname: str | None = None, gzip_level: int = 6):
        self.directory = Path(directory)
        self.prefix = re.sub(r"[^A-Za-z0-9._]+", "_", prefix) or "archiver"
        self.max_size = max_size
        self.info = dict(info or {})
        self.record_credentials = record_credentials
        self.hostname = hostname or socket.gethostname()
        self.gzip_level = gzip_level
        self.files: list[Path] = []
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._info_size = 0
        self._serial = 0

    # ------------------------------------------------------------ public writes

    def write_response(self, result: "FetchResult", metadata: dict | None = None,
                       record_id: str | None = None) -> RecordRef:
        """request [+ metadata] + response, the response block exactly as received.
        ``record_id`` (default: a new one) lets a caller name the record before it exists."""
        if not result.recorded:
            raise ValueError(f"no HTTP answer to write for {result.url}")
        extra = [("WARC-Payload-Digest", result.payload_digest), ("WARC-Truncated", result.truncated)]
        return self._write_exchange(result, "response", result.iter_raw(), result.response_length,
                                    result.block_digest, extra, metadata, record_id=record_id,
                                    level=self._level_for(result))

    def _level_for(self, result: "FetchResult") -> int:
        """``gzip_level``, or 0 (stored) for a payload that does not compress (see the module
        docstring); a small one is always compressed (the head is most of it)."""
        start, end = result.head_length, result.response_length
        if end - start < 4 * SAMPLE:
            return self.gzip_level
        middle = (start + end) // 2
        for offset in (start, middle):
            sample = b"".join(result.iter_raw(offset, offset + SAMPLE))
            if len(zlib_ng.compress(sample, 1)) < STORE_RATIO * len(sample):
                return self.gzip_level
        return 0

    def write_revisit(self, result: "FetchResult", refers_to_uri: str, refers_to_date: str,
                      refers_to_id: str | None = None, profile: str = IDENTICAL_PAYLOAD_DIGEST,
                      payload_digest: str | None = None, metadata: dict | None = None) -> RecordRef:
        """request [+ metadata] + revisit. Identical-payload: block = HTTP head only,
        ``WARC-Truncated: length``. Server-not-modified: block = the 304 as received."""
        if not result.recorded:
            raise ValueError(f"no HTTP answer to write for {result.url}")
        if profile == IDENTICAL_PAYLOAD_DIGEST:
            length = result.head_length
            digest = payload_digest or result.payload_digest
            truncated = "length" if result.body_length > 0 else None
        else:
            length = result.response_length
            digest = payload_digest
            truncated = result.truncated
        if length == result.response_length:
            block_digest = result.block_digest
        else:
            sha = hashlib.sha1()
            for data in result.iter_raw(0, length):
                sha.update(data)
            block_digest = warc_digest(sha)
        block = result.iter_raw(0, length)
        extra = [("WARC-Profile", profile), ("WARC-Payload-Digest", digest), ("WARC-Truncated", truncated),
                 ("WARC-Refers-To", refers_to_id), ("WARC-Refers-To-Target-URI", refers_to_uri),
                 ("WARC-Refers-To-Date", refers_to_date)]
        return self._write_exchange(result, "revisit", block, length, block_digest, extra, metadata,
                                    refers_to=refers_to_uri)

    # ------------------------------------------------------------ groups

    def _write_exchange(self, result, rtype, block, length, block_digest, extra, metadata, *,
                        record_id: str | None = None, refers_to: str | None = None,
                        level: int | None = None) -> RecordRef:
        date = warc_date(result.date)
        main_id = record_id or new_record_id()
        group = _Group(self.gzip_level)
        try:
            request = result.request if self.record_credentials else redact_credentials(result.request)
            common = [("WARC-Target-URI", result.url), ("WARC-IP-Address", result.ip)]
            if request:
                group.add("request", [*common, ("WARC-Concurrent-To", main_id),
                                      ("WARC-Block-Digest", _sha1(request)),
                                      ("Content-Type", "application/http;msgtype=request")],
                          [request], len(request), date=date)
            if metadata:
                body = _fields((k, v) for k, vals in metadata.items()
                               for v in (vals if isinstance(vals, (list, tuple)) else [vals]))
                group.add("metadata", [("WARC-Target-URI", result.url), ("WARC-Concurrent-To", main_id),
                                       ("WARC-Block-Digest", _sha1(body)),
                                       ("Content-Type", "application/warc-fields")],
                          [body], len(body), date=date)
            group.add(rtype, [*common, ("WARC-Block-Digest", block_digest), *extra,
                              ("Content-Type", "application/http;msgtype=response")],
                      block, length, record_id=main_id, date=date, level=level)
            base, path = self._append(group)
        except WarcWriteError:
            raise
        except OSError as exc:  # the spool for a large record could not be written (temp dir full)
            raise WarcWriteError(exc.errno or errno.EIO,
                                 f"cannot stage a WARC record for {result.url}: {exc.strerror or exc}") from exc
        finally:
            group.close()
        offset, mlen, rid, rdate, _ = group.members[-1]
        return RecordRef(path.name[: -len(OPEN_SUFFIX)], str(path), base + offset, mlen, rid, rdate, rtype,
                         refers_to)

    def _append(self, group: _Group) -> tuple[int, Path]:
        """Append a compressed group; return the file offset where it starts and the file."""
        with self._lock:
            size = group.size
            if self._fd is not None and self._size + size > self.max_size and self._size > self._info_size:
                self._close_file()
            if self._fd is None:
                self._open_file()
            base = self._size
            self._write_all(group.chunks())
            self._size += size
            return base, self._path

    def _write_all(self, chunks: Iterable[bytes]) -> None:
        """os.write everything or roll the file back to the last whole group."""
        try:
            for data in chunks:
                view = memoryview(data)
                while view:
                    written = self._syscall_write(self._fd, view)
                    view = view[written:]
        except OSError as exc:
            self._rollback()
            raise WarcWriteError(exc.errno or errno.EIO,
                                 f"cannot write WARC file {self._path}: {os.strerror(exc.errno or errno.EIO)}"
                                 " (file truncated to its last complete record)") from exc

    _syscall_write = staticmethod(os.write)  # a seam for disk-full tests

    def _rollback(self) -> None:
        try:
            os.ftruncate(self._fd, self._size)
            os.lseek(self._fd, self._size, os.SEEK_SET)
        except OSError:
            pass  # recovery cuts the incomplete tail at the next start

    # ------------------------------------------------------------ files

    def _next_name(self) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
        host = re.sub(r"[^A-Za-z0-9.]+", "_", self.hostname) or "localhost"
        serials = [int(m.group(1)) for p in self.directory.glob(f"{self.prefix}-*")
                   if (m := re.match(re.escape(self.prefix) + r"-\d+-(\d+)-", p.name))]
        self._serial = max([self._serial, *serials], default=0) + 1
        return self.directory / f"{self.prefix}-{stamp}-{self._serial:05d}-{host}.warc.gz{OPEN_SUFFIX}"

    def _open_file(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self._next_name()
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            raise WarcWriteError(exc.errno or errno.EIO,
                                 f"cannot create a WARC file in {self.directory}: {exc.strerror}") from exc
        self._path, self._size = path, 0
        info = self._warcinfo(path.name[: -len(OPEN_SUFFIX)])
        try:
            self._write_all(info.chunks())
        except WarcWriteError:
            os.close(self._fd)
            self._fd = None
            path.unlink(missing_ok=True)
            raise
        finally:
            self._size = self._info_size = info.size
            info.close()

    def _warcinfo(self, filename: str) -> _Group:
        fields = {"software": f"archiver/{__version__}", "format": "WARC File Format 1.1",
                  "conformsTo": CONFORMS_TO, "hostname": self.hostname, **self.info}
        body = _fields(fields.items())
        group = _Group(self.gzip_level)
        group.add("warcinfo", [("WARC-Filename", filename), ("WARC-Block-Digest", _sha1(body)),
                               ("Content-Type", "application/warc-fields")],
                  [body], len(body), date=warc_date(datetime.now(timezone.utc)))
        return group

    def _close_file(self) -> None:
        fd, path = self._fd, self._path
        self._fd = None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = path.with_name(path.name[: -len(OPEN_SUFFIX)])
        os.replace(path, final)
        fsync_dir(final.parent)
        self.files.append(final)

    def flush(self) -> None:
        """fsync what was written so far, so crawl state committed afterwards survives a power
        cut.  The fsync runs on a duplicate descriptor outside the lock: writers go on
        appending meanwhile (a rotation fsyncs the file it closes itself)."""
        with self._lock:
            if self._fd is None:
                return
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._close_file()

    def __enter__(self) -> "WarcWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (a power cut after it keeps the new name).
    Best effort: some file systems cannot open or fsync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
