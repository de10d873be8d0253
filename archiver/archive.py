"""Read any WARC collection back as Captures: ours, wget's, Heritrix's, a WACZ.

Every stage after capture reads the archive through this module, never the
live site. Two levels:

* ``iter_records(paths)`` yields one ``RecordInfo`` per WARC record (file,
  offset, length, type, URL, digests checked, truncation, problems) and one
  ``problem`` pseudo-record where a file is damaged, then goes on with the next
  file. The audit and indexes use it.
* ``iter_captures(paths)`` yields ``Capture`` objects for HTTP responses (and
  HTTP-like ``resource`` records), bodies de-chunked and decoded with a cap, and
  revisits resolved to their original's body where the original is in the
  collection.

Both read each record once, streaming; a decompression bomb is inflated only up
to ``max_body`` bytes. Payload digests are verified over the de-chunked body
(warcio's own check digests the chunked bytes, warcio issue #74); a digest of
the chunked bytes, as older tools wrote, is accepted with a note.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from archiver.types import Capture
from archiver.urls import clean_target_uri, lookup_key

try:  # brotli is optional: 'br' bodies stay encoded without it
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

log = logging.getLogger(__name__)

MAX_BODY = 20 * 1024 * 1024
READ_SIZE = 64 * 1024
SPLIT_SCAN = 32 * 1024 * 1024  # how far to look for a record boundary to split at (a file gzip'd whole has none)
FAST_READ = 128 * 1024  # FastWARC hands most blocks over in one read (1 MB reads measured no faster)
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
CAPTURE_TYPES = ("response", "revisit", "resource")


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Source:
    """One WARC stream: a file on disk, or a member of a WACZ (``name`` is then ``file.wacz#member``)."""

    name: str
    path: str
    member: str | None = None

    def open(self) -> IO[bytes]:
        if self.member is None:
            return open(self.path, "rb")
        archive = zipfile.ZipFile(self.path)
        stream = archive.open(self.member)
        stream._archiver_zip = archive  # keep the zip open as long as the member
        return stream


def is_warc_name(name: str) -> bool:
    return name.lower().endswith(WARC_SUFFIXES)


def expand_inputs(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[Source]:
    """WARC files, directories (recursively, skipping ``*.open``) and WACZ files as Sources.

    A path that does not exist raises FileNotFoundError; a WACZ that is not a
    zip becomes a Source that fails when opened, so the audit can report it.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if is_warc_name(child.name) or child.name.lower().endswith(".wacz"):
                    sources.extend(_file_sources(child))
        elif path.exists():
            sources.extend(_file_sources(path))
        else:
            raise FileNotFoundError(f"no such WARC, WACZ or directory: {path}")
    return sources


def _file_sources(path: Path) -> list[Source]:
    if not path.name.lower().endswith(".wacz"):
        return [Source(str(path), str(path))]
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted(
                n for n in archive.namelist()
                if n.startswith("archive/") and is_warc_name(n) and not n.endswith("/")
            )
    except (zipfile.BadZipFile, OSError) as exc:
        log.warning("%s: unreadable WACZ: %s", path, exc)
        return [Source(str(path), str(path), member="")]  # opening it reports the error
    return [Source(f"{path}#{m}", str(path), member=m) for m in members]


# --------------------------------------------------------------------------- records
@dataclass(slots=True)
class RecordInfo:
    """What one WARC record holds, and what is wrong with it.

    ``rec_type`` is the WARC-Type, or ``"problem"`` for a damaged stretch of a
    file that could not be read as a record. ``problems`` are (kind, detail)
    pairs; kinds: block_digest, payload_digest, payload_digest_chunked (a note),
    cut_record, truncated (WARC-Truncated, a warning), unreadable.
    """

    file: str
    offset: int
    length: int | None = None
    rec_type: str = ""
    url: str = ""
    date: str = ""
    record_id: str = ""
    status: int | None = None
    mime: str = ""
    content_length: int | None = None
    block_digest: str | None = None
    payload_digest: str | None = None  # as recorded
    computed_payload_digest: str | None = None  # over the de-chunked body (the recorded text when equal)
    truncated: str | None = None  # WARC-Truncated
    profile: str | None = None
    refers_to: str | None = None  # WARC-Refers-To record id
    refers_to_uri: str | None = None
    refers_to_date: str | None = None
    location: str | None = None  # HTTP Location header
    payload_length: int = 0  # de-chunked, still content-encoded
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_capture(self) -> bool:
        return self.rec_type in CAPTURE_TYPES and self.url.lower().startswith(("http:", "https:"))


def _status(record) -> int | None:
    if not record.http_headers or not record.http_headers.protocol.upper().startswith("HTTP"):
        return None
    try:
        return int(record.http_headers.get_statuscode())
    except (TypeError, ValueError):
        return None


def digests_equal(recorded: str | None, computed: str | None) -> bool:
    """Compare two ``algo:value`` digests, accepting base32, base16 and base64 values."""
    if not recorded or not computed:
        return False
    r_algo, _, r_value = recorded.strip().partition(":")
    c_algo, _, c_value = computed.partition(":")
    if r_algo.lower().replace("-", "") != c_algo.lower():
        return False
    if r_value.strip() == c_value:  # the usual base32 case, without decoding
        return True
    target = base64.b32decode(c_value)
    for decode in (lambda v: base64.b32decode(v.upper()), lambda v: base64.b16decode(v.upper()),
                   base64.b64decode, base64.urlsafe_b64decode):
        try:
            if decode(r_value.strip()) == target:
                return True
        except (ValueError, TypeError):
            continue
    return False


class _BodyDecoder:
    """Content-decoding (gzip, deflate, br) with an output cap, fed piece by piece.

    Stops inflating once ``cap`` bytes are out, so a bomb costs ``cap`` bytes of
    memory at most; ``capped`` says so. Unknown encodings pass through raw.
    """

    def __init__(self, encoding: str, cap: int):
        self.cap = cap
        self.capped = False
        self.failed: str | None = None
        self.parts: list[bytes] = []
        self.size = 0
        encodings = [e.strip().lower() for e in encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        self.kind = encodings[-1] if len(encodings) == 1 else ("" if not encodings else "multiple")
        self._zlib = None
        self._brotli = None
        self._deflate_pending = b""
        if self.kind in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.kind == "deflate":
            self._zlib = None  # decided on the first bytes: zlib-wrapped or raw
        elif self.kind == "br" and brotli is not None:
            self._brotli = brotli.Decompressor()
        elif self.kind:
            self.kind = ""  # pass through: unknown or several encodings

    def feed(self, data: bytes) -> None:
        if self.capped or self.failed or not data:
            return
        try:
            if self.kind == "deflate" and self._zlib is None:
                self._deflate_pending += data
                if len(self._deflate_pending) < 2:
                    return
                data, self._deflate_pending = self._deflate_pending, b""
                wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            if self._zlib is not None:
                out = self._zlib.decompress(data, self.cap - self.size + 1)
                self._add(out)
                while self._zlib.unconsumed_tail and not self.capped:
                    self._add(self._zlib.decompress(self._zlib.unconsumed_tail, self.cap - self.size + 1))
            elif self._brotli is not None:
                step = getattr(self._brotli, "process", None) or self._brotli.decompress
                for i in range(0, len(data), 64):  # small steps bound one step's output (a window, ~4 MB)
                    self._add(step(data[i:i + 64]))
                    if self.capped:
                        break
            else:
                self._add(data)
        except Exception as exc:  # corrupt encoded body: keep what was decoded
            self.failed = f"{self.kind} decoding failed: {exc}"

    def _add(self, out: bytes) -> None:
        room = self.cap - self.size
        if len(out) > room:
            out = out[:room]
            self.capped = True
        if out:
            self.parts.append(out)
            self.size += len(out)

    def finish(self) -> bytes:
        if self.kind == "deflate" and self._deflate_pending and not self.failed:
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            data, self._deflate_pending = self._deflate_pending, b""
            self.feed(data)
        return b"".join(self.parts)


@dataclass(slots=True)
class Entry:
    """One record as read: its info, and its Capture when it is an HTTP capture."""

    info: RecordInfo
    capture: Capture | None = None


def _new_info(get: Callable[[str], str | None], rec_type: str, source: Source, offset: int = 0) -> RecordInfo:
    """``get`` looks WARC headers up by lower-case name."""
    refers_to_uri = get("warc-refers-to-target-uri")
    info = RecordInfo(
        file=source.name,
        offset=offset,
        rec_type=rec_type,
        url=clean_target_uri(get("warc-target-uri")),
        date=get("warc-date") or "",
        record_id=get("warc-record-id") or "",
        block_digest=get("warc-block-digest"),
        payload_digest=get("warc-payload-digest"),
        truncated=get("warc-truncated"),
        profile=get("warc-profile"),
        refers_to=get("warc-refers-to"),
        refers_to_uri=clean_target_uri(refers_to_uri) or None if refers_to_uri else None,
        refers_to_date=get("warc-refers-to-date"),
    )
    try:
        info.content_length = int(get("content-length") or 0)
    except ValueError:
        info.problems.append(("unreadable", "invalid Content-Length"))
    if info.truncated and rec_type != "revisit":  # a revisit's block is headers only by design
        info.problems.append(("truncated", f"WARC-Truncated: {info.truncated}"))
    return info


def _set_http(info: RecordInfo, pairs: tuple[tuple[str, str], ...], status: int | None,
              get: Callable[[str], str | None], lookup: dict[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """Fill status/mime/location from HTTP headers (``lookup``: them by lower-case name, first value wins),
    or from the record for a ``resource``; return the headers."""
    if info.rec_type in ("response", "revisit") and pairs is not None:
        info.status = status
        if lookup is None:
            lookup = _header_lookup(pairs)
        info.mime = (lookup.get("content-type") or "").split(";", 1)[0].strip().lower()
        info.location = lookup.get("location")
        return pairs
    if info.rec_type == "resource":
        info.mime = (get("content-type") or "").split(";", 1)[0].strip().lower()
        if info.url.lower().startswith(("http:", "https:")):
            info.status = 200
            return (("Content-Type", get("content-type") or ""),)
    return ()


def _header_lookup(pairs) -> dict[str, str]:
    return {k.lower(): v for k, v in reversed(pairs)}


def _wants(info: RecordInfo, want_body) -> tuple[bool, bool]:
    is_capture = info.is_capture and (info.rec_type != "response" or info.status is not None)
    keep_body = is_capture and info.rec_type != "revisit" and (want_body is None or want_body(info))
    return is_capture, keep_body


def _capture(info: RecordInfo, pairs, decoder: "_BodyDecoder | None", cut: bool, ip: str | None) -> Capture:
    return Capture(
        url=info.url,
        status=info.status,
        headers=pairs,
        body=decoder.finish() if decoder is not None else b"",
        date=info.date,
        file=info.file,
        offset=info.offset,
        record_type=info.rec_type,
        payload_digest=info.payload_digest or info.computed_payload_digest,
        truncated=info.truncated or ("cut" if cut else None),
        ip_address=ip,
        body_capped=bool(decoder and decoder.capped),
    )


def _hasher(recorded: str | None):
    """A hash object of the algorithm a recorded digest names (sha1 by default), or None if unknown."""
    algo = (recorded or "sha1:").partition(":")[0].strip().lower().replace("-", "") or "sha1"
    try:
        return hashlib.new(algo)
    except ValueError:
        return None


def _payload_hasher(recorded: str | None, seed: bytes = b""):
    """A hash object for a payload digest: the recorded algorithm, sha1 if it is unknown; fed ``seed``."""
    hasher = _hasher(recorded) or hashlib.sha1()
    hasher.update(seed)
    return hasher


def _digest_text(hasher) -> str:
    return f"{hasher.name.replace('-', '')}:" + base64.b32encode(hasher.digest()).decode("ascii")


_BASE32 = re.compile(r"[A-Z2-7]+")
_BASE32_AS_INT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def _digest_matches(recorded: str, hasher) -> bool:
    """Whether ``recorded`` (``algo:value``) is what ``hasher`` computed; the usual base32 form is compared
    as a number (base64's base32 codec is pure Python, ~5 us a call), the rest through ``digests_equal``."""
    algo, _, value = recorded.partition(":")
    value = value.strip()
    digest = hasher.digest()
    if (algo.strip().lower().replace("-", "") == hasher.name and len(value) * 5 == len(digest) * 8
            and _BASE32.fullmatch(value)):
        return int(value.translate(_BASE32_AS_INT), 32) == int.from_bytes(digest, "big")
    return digests_equal(recorded, _digest_text(hasher))


def _read_record(record, source: Source, *, max_body: int, want_body: Callable[[RecordInfo], bool] | None) -> Entry:
    """One record read through warcio (the reference reader; used for seeks, ARC files, and damaged stretches)."""
    get = record.rec_headers.get_header
    rec_type = (record.rec_type or "").lower()
    info = _new_info(get, rec_type, source)
    http = record.http_headers
    pairs = tuple((str(k), str(v)) for k, v in http.headers) if http is not None else None
    pairs = _set_http(info, pairs, _status(record) if http is not None else None, get)
    is_capture, keep_body = _wants(info, want_body)
    chunked = http is not None and "chunked" in (http.get_header("Transfer-Encoding") or "").lower()
    encoding = (http.get_header("Content-Encoding") or "") if http is not None else ""
    decoder = _BodyDecoder(encoding, max_body) if keep_body else None

    raw = record.raw_stream
    payload_hash = _payload_hasher(info.payload_digest)
    stream = ChunkedDataReader(raw, decomp_type=None) if chunked else raw
    size = 0
    while True:
        data = stream.read(READ_SIZE)
        if not data:
            break
        size += len(data)
        payload_hash.update(data)
        if decoder is not None:
            decoder.feed(data)
    info.payload_length = size
    if rec_type != "revisit" and (http is not None or rec_type == "resource"):
        info.computed_payload_digest = _digest_text(payload_hash)
    remaining = getattr(raw, "limit", 0)
    if remaining:
        info.problems.append(("cut_record", f"record ends {remaining} bytes before its Content-Length"))
    _check_digests(record, info, chunked)
    capture = _capture(info, pairs, decoder, bool(remaining), get("WARC-IP-Address")) if is_capture else None
    return Entry(info, capture)


def _check_digests(record, info: RecordInfo, chunked: bool) -> None:
    problems = record.digest_checker.problems if record.digest_checker else []
    if any(p.startswith("block digest failed") for p in problems):
        info.problems.append(("block_digest", f"block digest does not match {info.block_digest}"))
    cut = any(kind == "cut_record" for kind, _ in info.problems)
    if info.payload_digest and info.computed_payload_digest and not info.truncated and not cut:
        if digests_equal(info.payload_digest, info.computed_payload_digest):
            return
        warcio_payload_ok = not any(p.startswith("payload digest failed") for p in problems)
        if chunked and warcio_payload_ok and record.digest_checker.passed:
            info.problems.append(("payload_digest_chunked",
                                  "payload digest computed over the chunked bytes, not the de-chunked body"))
        else:
            info.problems.append(("payload_digest",
                                  f"payload digest {info.payload_digest} != computed {info.computed_payload_digest}"))


class _Dechunker:
    """Incremental HTTP chunked-transfer decoder; falls back to passing bytes through when the body is not chunked."""

    def __init__(self) -> None:
        self.buf = b""
        self.left = 0
        self.state = "size"
        self.passthrough = False
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.passthrough:
            return data
        if self.done:
            return b""
        self.buf += data
        out: list[bytes] = []
        while self.buf:
            if self.state == "size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    if len(self.buf) > 1024:
                        return self._give_up(out)
                    break
                size = self.buf[:end].split(b";", 1)[0].strip()
                if not size or size.strip(b"0123456789abcdefABCDEF"):
                    return self._give_up(out)
                self.buf = self.buf[end + 2:]
                self.left = int(size, 16)
                if not self.left:
                    self.done, self.buf = True, b""
                    break
                self.state = "data"
            elif self.state == "data":
                piece = self.buf[:self.left]
                out.append(piece)
                self.left -= len(piece)
                self.buf = self.buf[len(piece):]
                if not self.left:
                    self.state = "crlf"
            else:
                if len(self.buf) < 2:
                    break
                if self.buf[:2] == b"\r\n":
                    self.buf = self.buf[2:]
                self.state = "size"
        return b"".join(out)

    def _give_up(self, out: list[bytes]) -> bytes:
        """Not chunked after all (or no longer): the rest is taken as it is, as warcio does."""
        self.passthrough = True
        rest, self.buf = self.buf, b""
        return b"".join(out) + rest


MAX_HTTP_HEAD = 256 * 1024


def _parse_http_head(head: bytes) -> tuple[int | None, tuple[tuple[str, str], ...]]:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    parts = lines[0].split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    pairs: list[list[str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and pairs:
            pairs[-1][1] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            pairs.append([key.strip(), value.strip()])
    return status, tuple((k, v) for k, v in pairs)


def _read_block(record, source: Source, offset: int, *, max_body: int, want_body) -> Entry:
    """One record read through FastWARC: the block read once (in one piece, unless it is over ``FAST_READ``)
    into block digest, HTTP head, de-chunker, payload digest and capped decoder (the same checks as
    ``_read_record``, without warcio's per-line cost)."""
    fields = {k.lower(): v for k, v in record.headers.items()}  # one conversion: each .get() costs ~10 us
    get = fields.get
    rec_type = str(record.record_type)
    info = _new_info(get, rec_type, source, offset)
    reader = record.reader
    block_hash = _hasher(info.block_digest) if info.block_digest else None
    first = reader.read(FAST_READ)
    block_size = len(first)
    if block_hash is not None:
        block_hash.update(first)
    http_like = rec_type in ("response", "revisit") and first[:5] == b"HTTP/"
    rest = first
    status, pairs, lookup = None, None, {}
    if http_like:
        while True:
            end = first.find(b"\r\n\r\n")
            sep = 4
            if end < 0:
                end, sep = first.find(b"\n\n"), 2
            if end >= 0 or len(first) > MAX_HTTP_HEAD:
                break
            more = reader.read(FAST_READ)
            if not more:
                break
            block_size += len(more)
            if block_hash is not None:
                block_hash.update(more)
            first += more
        if end >= 0:
            status, pairs = _parse_http_head(first[:end])
            lookup = _header_lookup(pairs)
            rest = first[end + sep:]
        else:
            http_like = False
    pairs = _set_http(info, pairs, status, get, lookup)
    is_capture, keep_body = _wants(info, want_body)
    chunked = "chunked" in (lookup.get("transfer-encoding") or "").lower()
    decoder = _BodyDecoder(lookup.get("content-encoding") or "", max_body) if keep_body else None
    dechunker = _Dechunker() if chunked else None
    wants_payload = rec_type != "revisit" and (http_like or rec_type == "resource")
    payload_hash = _payload_hasher(info.payload_digest) if wants_payload else None
    # older tools digested the chunked bytes: hashed that way only if the first piece was not all of it,
    # else only when the de-chunked digest does not match
    raw_payload_hash = None
    size = 0
    data = rest
    while True:
        if data:
            if chunked and wants_payload and data is not rest:
                if raw_payload_hash is None:
                    raw_payload_hash = _payload_hasher(info.payload_digest, rest)
                raw_payload_hash.update(data)
            body = dechunker.feed(data) if dechunker is not None else data
            size += len(body)
            if payload_hash is not None:
                payload_hash.update(body)
            if decoder is not None:
                decoder.feed(body)
        data = reader.read(FAST_READ)
        if not data:
            break
        block_size += len(data)
        if block_hash is not None:
            block_hash.update(data)
    info.payload_length = size
    missing = (info.content_length or 0) - block_size
    if missing > 0:
        info.problems.append(("cut_record", f"record ends {missing} bytes before its Content-Length"))
    elif block_hash is not None and not _digest_matches(info.block_digest, block_hash):
        info.problems.append(("block_digest", f"block digest does not match {info.block_digest}"))
    if payload_hash is not None:
        checkable = info.payload_digest and not info.truncated and missing <= 0
        if checkable and _digest_matches(info.payload_digest, payload_hash):
            info.computed_payload_digest = info.payload_digest  # equal: spare the base32 text
        else:
            info.computed_payload_digest = _digest_text(payload_hash)
            if chunked and raw_payload_hash is None:
                raw_payload_hash = _payload_hasher(info.payload_digest, rest)
            if checkable and chunked and _digest_matches(info.payload_digest, raw_payload_hash):
                info.problems.append(("payload_digest_chunked",
                                      "payload digest computed over the chunked bytes, not the de-chunked body"))
            elif checkable:
                info.problems.append(("payload_digest", f"payload digest {info.payload_digest} != computed "
                                                        f"{info.computed_payload_digest}"))
    capture = _capture(info, pairs, decoder, missing > 0, get("warc-ip-address")) if is_capture else None
    return Entry(info, capture)


def _record_end(stream, offset: int, gz: bool) -> int | None:
    """Where the record starting at ``offset`` ends (None: its gzip member is cut short)."""
    stream.seek(offset)
    if gz:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        fed = 0
        while not inflater.eof:
            data = stream.read(READ_SIZE)
            if not data:
                return None
            fed += len(data)
            try:
                inflater.decompress(data, 1)
                while inflater.unconsumed_tail and not inflater.eof:
                    inflater.decompress(inflater.unconsumed_tail, READ_SIZE)
            except zlib.error:
                return None
        return offset + fed - len(inflater.unused_data)
    head = stream.read(MAX_HTTP_HEAD)
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head[:end])
    return offset + end + 4 + int(match.group(1)) + 4 if match else None


def _fast_entries(stream, source: Source, *, max_body: int, want_body, start: int = 0,
                  end: int | None = None) -> Iterator[Entry]:
    """A file (or the records starting in [start, end)) through FastWARC; on damage it hands over to warcio
    at the last good record's end."""
    from fastwarc.warc import ArchiveIterator as FastIterator

    stream.seek(start)
    magic = stream.read(2)
    stream.seek(start)
    gz = magic == b"\x1f\x8b"
    pending: Entry | None = None
    resume = start
    trouble: Exception | None = None
    try:
        for record in FastIterator(stream, parse_http=False, auto_decode="none"):
            resume = record.stream_pos
            if end is not None and resume >= end:  # the next range's first record
                if pending is not None:
                    pending.info.length = resume - pending.info.offset - (0 if gz else 4)
                    yield pending
                return
            entry = _read_block(record, source, resume, max_body=max_body, want_body=want_body)
            if pending is not None:
                pending.info.length = resume - pending.info.offset - (0 if gz else 4)
                yield pending
            pending = entry
            resume = None
    except Exception as exc:  # FastWARC gave up: warcio reads on from the record it was in
        trouble = exc
    if pending is not None:
        last_end = _record_end(stream, pending.info.offset, gz)
        if last_end is None and not any(k == "cut_record" for k, _ in pending.info.problems):
            pending.info.problems.append(("cut_gzip" if gz else "cut_record", "record ends before its end marker"))
        pending.info.length = (last_end - pending.info.offset - (0 if gz else 4)) if last_end else None
        yield pending
        if resume is None:
            resume = last_end
    if resume is None:
        return
    if trouble is not None and gz and _record_end(stream, resume, gz) is None:
        # the gzip member itself is damaged: say so here (warcio can skip such a member without a word)
        yield Entry(RecordInfo(source.name, resume, rec_type="problem", url=_peek_uri(source, resume),
                               problems=[("unreadable", f"gzip member does not inflate: {str(trouble)[:200]}")]))
        return
    if trouble is not None or _unread_tail(stream, resume):
        stream.seek(resume)
        yield from _warcio_entries(stream, source, max_body=max_body, want_body=want_body, start=resume, limit=None,
                                   end=end)


def split_points(source: Source, parts: int) -> list[int]:
    """Offsets near equal fractions of a ``.warc.gz`` where a record's gzip member starts, first 0: ranges
    that processes can read side by side (``read_source(start=, end=)``). An uncompressed file, one
    compressed as a whole, or a WACZ member stays one range."""
    if parts < 2 or source.member is not None:
        return [0]
    size = os.path.getsize(source.path)
    points = [0]
    with open(source.path, "rb") as stream:
        if stream.read(2) != b"\x1f\x8b":
            return points
        for i in range(1, parts):
            found = _next_record_member(stream, max(size * i // parts, points[-1] + 1), SPLIT_SCAN)
            if found is not None and found > points[-1]:
                points.append(found)
    return points


def _resume_after(stream, problem: RecordInfo, end: int | None) -> int | None:
    """Where reading can go on after a damaged stretch of a ``.warc.gz`` (before ``end``), noted in the problem."""
    try:
        stream.seek(0)
        if stream.read(2) != b"\x1f\x8b":
            return None
        found = _next_record_member(stream, problem.offset + 1)
    except (OSError, ValueError, EOFError, zlib.error):
        return None
    if found is None or (end is not None and found >= end):
        return None
    kind, detail = problem.problems[-1]
    problem.problems[-1] = (kind, f"{detail}; reading resumed at offset {found}, the next record")
    return found


def _next_record_member(stream, pos: int, limit: int | None = None) -> int | None:
    """The first offset at or after ``pos`` (and before ``pos + limit``) where a gzip member starts that
    inflates to a WARC record head."""
    stop = None if limit is None else pos + limit
    while stop is None or pos < stop:
        stream.seek(pos)
        window = stream.read(1024 * 1024)
        if len(window) < 3:
            return None
        hit = window.find(b"\x1f\x8b\x08")
        while hit >= 0:
            stream.seek(pos + hit)
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(stream.read(4096), 8)
            except zlib.error:
                head = b""
            if head.startswith(b"WARC/"):
                return pos + hit
            hit = window.find(b"\x1f\x8b\x08", hit + 1)
        pos += len(window) - 2
    return None


def _placed(entry: Entry) -> Entry:
    if entry.capture is not None:
        entry.capture = replace(entry.capture, offset=entry.info.offset)
    return entry


def read_source(source: Source, *, max_body: int = MAX_BODY,
                want_body: Callable[[RecordInfo], bool] | None = None,
                start: int | None = None, limit: int | None = None, end: int | None = None) -> Iterator[Entry]:
    """Every record of one WARC stream; a damaged stretch yields one ``problem`` entry.

    In a ``.warc.gz`` reading resumes at the next gzip member that holds a
    record (the problem's detail says where), so one bad member does not hide
    the rest of the file; an uncompressed file ends at its first damage.
    ``start`` seeks to a record offset first; ``limit`` stops after that many
    records; ``end`` stops before the first record starting at or after it
    (``start``/``end`` from ``split_points`` let processes share one file).
    ``want_body(info)`` may say no to decoding a body nobody needs.
    Reads go through FastWARC when it is installed (several times faster;
    ``ARCHIVER_WARC_READER=warcio`` turns it off), single-record reads and
    ARC files through warcio.
    """
    try:
        stream = source.open()
    except Exception as exc:
        yield Entry(RecordInfo(source.name, 0, rec_type="problem", problems=[("unreadable", f"cannot open: {exc}")]))
        return
    try:
        position = start or 0
        while position is not None:
            if limit is None and _use_fastwarc(source):
                entries = _fast_entries(stream, source, max_body=max_body, want_body=want_body, start=position, end=end)
            else:
                stream.seek(position)
                entries = _warcio_entries(stream, source, max_body=max_body, want_body=want_body, start=position,
                                          limit=limit, end=end)
            position = None
            for entry in entries:
                if entry.info.rec_type == "problem" and limit is None:
                    position = _resume_after(stream, entry.info, end)
                yield entry
    finally:
        stream.close()
        archive = getattr(stream, "_archiver_zip", None)
        if archive is not None:
            archive.close()


def _use_fastwarc(source: Source) -> bool:
    if os.environ.get("ARCHIVER_WARC_READER", "").lower() == "warcio" or source.name.lower().endswith((".arc", ".arc.gz")):
        return False
    try:
        import fastwarc.warc  # noqa: F401
    except ImportError:
        return False
    return True


def _warcio_entries(stream, source: Source, *, max_body: int, want_body, start: int, limit: int | None,
                    end: int | None = None) -> Iterator[Entry]:
    offset = start
    url = ""
    count = 0
    try:
        iterator = ArchiveIterator(stream, check_digests=True)
        iterator.offset = start
        for record in iterator:
            offset = iterator.offset
            if end is not None and offset >= end:  # the next range's first record
                return
            url = clean_target_uri(record.rec_headers.get_header("WARC-Target-URI"))
            entry = _read_record(record, source, max_body=max_body, want_body=want_body)
            entry.info.offset = iterator.get_record_offset()
            entry.info.length = iterator.get_record_length()
            offset = entry.info.offset + (entry.info.length or 0)
            url = ""
            yield _placed(entry)
            count += 1
            if limit is not None and count >= limit:
                return
        if limit is None:
            leftover = _unread_tail(stream, offset)
            if leftover:
                yield Entry(RecordInfo(source.name, offset, rec_type="problem", url=leftover[1],
                                       problems=[("cut_gzip" if leftover[0] else "unreadable",
                                                  "bytes after the last whole record cannot be read as a record")]))
    except Exception as exc:  # cut gzip member, garbage, bad zip member: report and move on
        kind = "cut_gzip" if isinstance(exc, (EOFError, zlib.error)) or "gzip" in str(exc).lower() else "unreadable"
        text = str(exc) if len(str(exc)) <= 200 else str(exc)[:200] + "..."  # warcio quotes the bad bytes
        yield Entry(RecordInfo(source.name, offset, rec_type="problem", url=url or _peek_uri(source, offset),
                               problems=[(kind, f"{type(exc).__name__}: {text}")]))


def _unread_tail(stream, offset: int) -> tuple[bool, str] | None:
    """(is gzip, URL if legible) when non-blank bytes follow the last record warcio could read.

    warcio ends quietly on a gzip member cut inside its header; this catches it.
    """
    try:
        stream.seek(offset)
        head = stream.read(READ_SIZE)
    except (OSError, ValueError):
        return None
    if not head.strip():
        return None
    return head[:2] == b"\x1f\x8b", _uri_in(head)


def _uri_in(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, READ_SIZE)
        except zlib.error:
            return ""
    marker = head.find(b"WARC-Target-URI:")
    if marker < 0:
        return ""
    line = head[marker + 16:].split(b"\r\n", 1)[0]
    return clean_target_uri(line.decode("utf-8", "replace"))


def _peek_uri(source: Source, offset: int) -> str:
    """Best-effort URL of a damaged record, read from its first bytes."""
    try:
        with source.open() as stream:
            stream.seek(offset)
            return _uri_in(stream.read(READ_SIZE))
    except Exception:
        return ""


def iter_records(paths, *, max_body: int = MAX_BODY) -> Iterator[RecordInfo]:
    """Low-level info on every record of every input (no bodies kept)."""
    for source in expand_inputs(paths):
        for entry in read_source(source, max_body=max_body, want_body=lambda info: False):
            yield entry.info


# --------------------------------------------------------------------------- revisits
class RevisitIndex:
    """Where each original lives, to resolve revisits: by record id, (URL, date), payload digest, URL.

    Holds small keys and (source number, offset, status) only, never bodies.
    """

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[int, int, int | None]] = {}
        self.by_url_date: dict[tuple[str, str], tuple[int, int, int | None]] = {}
        self.by_digest: dict[str, tuple[int, int, int | None]] = {}
        self.by_url: dict[str, tuple[int, int, int | None]] = {}

    def add(self, info: RecordInfo, source_no: int) -> None:
        """Index an original (any status: crawlers dedup identical 404 pages too)."""
        if info.rec_type not in ("response", "resource") or info.truncated:
            return
        where = (source_no, info.offset, info.status)
        if info.record_id:
            self.by_id[info.record_id] = where
        key = lookup_key(info.url)
        self.by_url_date[(key, info.date)] = where
        if info.status is None or 200 <= info.status < 300:
            self.by_url[key] = where  # a not-modified answer stands for the last good copy
        digest = info.payload_digest or info.computed_payload_digest
        if digest:
            self.by_digest.setdefault(_digest_key(digest), where)

    def find(self, info: RecordInfo) -> tuple[int, int, int | None] | None:
        """(source number, offset, status) of the revisit's original, or None."""
        if info.refers_to and info.refers_to in self.by_id:
            return self.by_id[info.refers_to]
        if info.refers_to_uri and info.refers_to_date:
            hit = self.by_url_date.get((lookup_key(info.refers_to_uri), info.refers_to_date))
            if hit:
                return hit
        if info.payload_digest:
            hit = self.by_digest.get(_digest_key(info.payload_digest))
            if hit:
                return hit
        if info.profile and "server-not-modified" in info.profile:
            return self.by_url.get(lookup_key(info.refers_to_uri or info.url))
        return None


def _digest_key(digest: str) -> str:
    algo, _, value = digest.strip().partition(":")
    return f"{algo.lower().replace('-', '')}:{value.upper()}"


def _resolve(revisit: Capture, info: RecordInfo, original: Capture) -> Capture:
    not_modified = revisit.status == 304 or "server-not-modified" in (info.profile or "")
    use_original_headers = not_modified or not revisit.headers
    return replace(
        revisit,
        status=original.status if use_original_headers else revisit.status,
        headers=original.headers if use_original_headers else revisit.headers,
        body=original.body,
        body_capped=original.body_capped,
        revisit_of=(original.url, original.date),
        payload_digest=revisit.payload_digest or original.payload_digest,
    )


def read_capture_at(source: Source, offset: int, *, max_body: int = MAX_BODY) -> Capture | None:
    """The capture stored at ``offset`` of ``source`` (None if it is not one)."""
    for entry in read_source(source, max_body=max_body, start=offset, limit=1):
        return entry.capture
    return None


def iter_captures(paths, *, max_body: int = MAX_BODY, include_revisits: bool = True) -> Iterator[Capture]:
    """HTTP captures of every input, revisits resolved; damaged files are logged and skipped past.

    Revisits whose original comes earlier are resolved at once (one seek and
    read of the original); the others are kept as (source, offset) and resolved
    after the pass. A revisit whose original is absent is yielded with an empty
    body and ``revisit_of=None`` when ``include_revisits`` is true.
    """
    sources = expand_inputs(paths)
    index = RevisitIndex()
    deferred: list[tuple[int, int]] = []
    for number, source in enumerate(sources):
        for entry in read_source(source, max_body=max_body):
            info = entry.info
            if info.rec_type == "problem":
                log.warning("%s at offset %d: %s; skipping the rest of the file",
                            info.file, info.offset, "; ".join(d for _, d in info.problems))
                continue
            if entry.capture is None:
                continue
            if info.rec_type == "revisit":
                if not include_revisits:
                    continue
                resolved = _resolve_revisit(entry, index, sources, max_body)
                if resolved is None:
                    deferred.append((number, info.offset))
                else:
                    yield resolved
                continue
            index.add(info, number)
            yield entry.capture
    for number, offset in deferred:
        for entry in read_source(sources[number], max_body=max_body, start=offset, limit=1):
            resolved = _resolve_revisit(entry, index, sources, max_body)
            if resolved is None:
                log.info("%s at offset %d: revisit of %s, original not in the collection",
                         entry.info.file, offset, entry.info.url)
                yield entry.capture
            else:
                yield resolved


def _resolve_revisit(entry: Entry, index: RevisitIndex, sources: list[Source], max_body: int) -> Capture | None:
    where = index.find(entry.info)
    if where is None:
        return None
    original = read_capture_at(sources[where[0]], where[1], max_body=max_body)
    if original is None:
        return None
    return _resolve(entry.capture, entry.info, original)
