"""The HTTP exchange exactly as it crossed the wire, and what can be read from it.

The fetcher records raw bytes below ``http.client`` (see :mod:`.fetch`); this
module holds those bytes and knows the HTTP/1.x message layout well enough to

- split the head (status line and header lines) from the body,
- remove chunked framing (:func:`iter_dechunked`) for the payload digest,
  which the WARC standard defines over the entity body *without* transfer
  encoding but *with* content encoding (gzip stays gzip),
- compute WARC digests (:func:`warc_digest`: ``sha1:`` + base32),
- decode a body for parsing (:func:`decode_body`: de-chunk, then gzip /
  deflate / br) with a cap on the *decompressed* size, so a 600 MB gzip bomb
  costs at most the cap.

Public API::

    Recording(deadline, clock, limit)  # one per attempt: .sent, .received (spool), .ip
    split_head(fileobj) -> (head_bytes, status, reason, headers)
    iter_dechunked(fileobj) -> Iterator[bytes]      # tolerant of cut framing
    warc_digest(hashobj) -> "sha1:BASE32"
    payload_digest_of(fileobj, headers) -> "sha1:..."  # body at the position, framing removed
    decode_body(fileobj, headers, max_bytes) -> (bytes, capped: bool)
    header_value(headers, name) -> str | None
"""
from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import importlib.util
import tempfile
import time
import zlib
from typing import BinaryIO, Callable, Iterator



def _load_brotli():
    """(module, bounded) for br decoding. Google's brotli caps each call's output
    (``output_buffer_limit``); brotlipy cannot, so it is fed one byte at a time.
    When both are installed brotlipy takes the name ``brotli`` (and even
    ``_brotli`` in ``sys.modules``), so Google's extension is looked up on the
    path directly. (None, False) when neither is installed."""
    try:
        import brotli
    except ImportError:
        brotli = None
    if brotli is not None and hasattr(getattr(brotli, "Decompressor", object)(), "can_accept_more_data"):
        return brotli, True
    spec = importlib.machinery.PathFinder.find_spec("_brotli")
    if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        try:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if hasattr(module.Decompressor(), "can_accept_more_data"):
                return module, True
        except (ImportError, AttributeError, OSError):
            pass
    return brotli, False


BROTLI, BROTLI_BOUNDED = _load_brotli()
_DECODE_ERRORS: tuple[type[BaseException], ...] = (zlib.error,) + (
    (BROTLI.error,) if BROTLI is not None and hasattr(BROTLI, "error") else ())

SPOOL_IN_MEMORY = 1 << 20  # bytes kept in RAM before a recording spills to disk
READ_SIZE = 64 * 1024
MAX_HEAD = 256 * 1024  # a head larger than this is treated as a body (malformed answer)

Headers = list[tuple[str, str]]


class TotalTimeout(TimeoutError):
    """The whole answer took longer than the fetcher's total deadline."""


class Recording:
    """Raw bytes of one HTTP attempt: request as sent, response as received.

    ``received`` is a spooled temporary file (RAM up to 1 MB, then disk), so a
    100 MB answer does not sit in memory. ``deadline`` (a ``clock()`` value or
    None) is checked on every socket read by the tee'ing reader; ``limit`` is
    the time the attempt was given, for the message when it runs out.
    """

    def __init__(self, deadline: float | None = None, clock: Callable[[], float] = time.monotonic,
                 limit: float | None = None):
        self.sent = bytearray()
        self.received: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.received_length = 0
        self.ip: str | None = None
        self.deadline = deadline
        self.clock = clock
        self.limit = limit
        self.deadline_hit = False

    def on_send(self, data: bytes) -> None:
        self.sent += data

    def on_receive(self, data) -> None:
        self.received.write(data)
        self.received_length += len(data)

    def check_deadline(self) -> float | None:
        """Seconds left before the total deadline; raises :class:`TotalTimeout` past it."""
        if self.deadline is None:
            return None
        left = self.deadline - self.clock()
        if left <= 0:
            self.deadline_hit = True
            raise TotalTimeout("total deadline for the answer exceeded")
        return left

    def close(self) -> None:
        self.received.close()


def header_value(headers: Headers, name: str) -> str | None:
    """First value of an HTTP header, case-insensitively."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def is_chunked(headers: Headers) -> bool:
    te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding")
    return "chunked" in te.lower()


def split_head(fileobj: BinaryIO) -> tuple[bytes, int | None, str, Headers]:
    """Read the status line and headers from ``fileobj`` (positioned at 0).

    Returns the head bytes exactly as received (up to and including the blank
    line, CRLF or bare LF), the status code, reason phrase and header list.
    Leaves ``fileobj`` positioned at the first body byte. Tolerates bare LF,
    a missing reason phrase, and folded (obs-fold) header lines.
    """
    head = bytearray()
    status, reason, headers = None, "", []
    first = True
    while len(head) < MAX_HEAD:
        line = fileobj.readline(MAX_HEAD)
        if not line:
            break
        head += line
        text = line.rstrip(b"\r\n").decode("latin-1")
        if first:
            first = False
            parts = text.split(None, 2)
            if len(parts) >= 2 and parts[0].upper().startswith("HTTP/") and parts[1].isdigit():
                status = int(parts[1])
                reason = parts[2] if len(parts) > 2 else ""
            continue
        if not text:
            break
        if text[0] in " \t" and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + text.strip())
        elif ":" in text:
            name, value = text.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return bytes(head), status, reason, headers


def iter_dechunked(fileobj: BinaryIO, stats: dict | None = None) -> Iterator[bytes]:
    """Yield the data of a chunked body, framing removed.

    Stops quietly at the end of the bytes if the framing is cut (a truncated
    or reset answer) or malformed. ``stats['end']`` is set to the number of
    bytes consumed up to the end of the message (after the trailer), or None
    when the message never ended.
    """
    consumed = 0
    if stats is not None:
        stats["end"] = None
    while True:
        line = fileobj.readline(4096)
        consumed += len(line)
        if not line.endswith(b"\n"):
            return
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return
        if size < 0:
            return
        if size == 0:
            while True:  # trailer section, ended by an empty line
                trailer = fileobj.readline(4096)
                consumed += len(trailer)
                if not trailer.endswith(b"\n"):
                    return
                if trailer in (b"\r\n", b"\n"):
                    if stats is not None:
                        stats["end"] = consumed
                    return
        left = size
        while left:
            data = fileobj.read(min(left, READ_SIZE))
            if not data:
                return
            consumed += len(data)
            left -= len(data)
            yield data
        crlf = fileobj.readline(4096)
        consumed += len(crlf)
        if crlf.strip():
            return


def iter_body(fileobj: BinaryIO, headers: Headers, length: int | None = None) -> Iterator[bytes]:
    """Yield the entity body (chunk framing removed, content encoding kept)."""
    if is_chunked(headers):
        yield from iter_dechunked(fileobj)
        return
    left = length
    while left is None or left > 0:
        data = fileobj.read(READ_SIZE if left is None else min(left, READ_SIZE))
        if not data:
            return
        if left is not None:
            left -= len(data)
        yield data


def warc_digest(hashobj) -> str:
    """``sha1:`` + base32, the common WARC digest notation."""
    return f"{hashobj.name}:{base64.b32encode(hashobj.digest()).decode('ascii')}"


def payload_digest_of(fileobj: BinaryIO, headers: Headers) -> str:
    """Payload digest of the body at ``fileobj``'s position (to its end)."""
    sha = hashlib.sha1()
    for data in iter_body(fileobj, headers):
        sha.update(data)
    return warc_digest(sha)


class _Zlib:
    """gzip / zlib / raw deflate, at most READ_SIZE bytes of output per step."""

    def __init__(self, coding: str):
        self.coding = coding
        self.obj = zlib.decompressobj(47 if coding in ("gzip", "x-gzip") else 15)
        self.first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.first and data:
            self.first = False
            if self.coding == "deflate" and (data[0] & 0x0F) != 8:
                self.obj = zlib.decompressobj(-15)  # "deflate" is zlib by the RFC, raw deflate in the wild
        while data and not self.obj.eof:
            out = self.obj.decompress(data, READ_SIZE)
            data = self.obj.unconsumed_tail
            if out:
                yield out


class _Brotli:
    def __init__(self):
        self.obj = BROTLI.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if BROTLI_BOUNDED:
            out = self.obj.process(data, output_buffer_limit=READ_SIZE)
            while out:
                yield out
                if self.obj.can_accept_more_data():
                    break
                out = self.obj.process(b"", output_buffer_limit=READ_SIZE)
            return
        decompress = getattr(self.obj, "process", None) or self.obj.decompress
        for i in range(len(data)):  # one byte can still expand by megabytes; a chunk by gigabytes
            out = decompress(data[i:i + 1])
            if out:
                yield out


def _decoders(headers: Headers) -> list | None:
    """Decoders for the Content-Encoding, outermost first; None for an unknown coding."""
    codings = [c.strip().lower() for k, v in headers if k.lower() == "content-encoding"
               for c in v.split(",") if c.strip()]
    stages = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip", "deflate"):
            stages.append(_Zlib(coding))
        elif coding == "br" and BROTLI is not None:
            stages.append(_Brotli())
        elif coding != "identity":
            return None
    return stages


def _through(stage, pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.feed(piece)


def decode_body(fileobj: BinaryIO, headers: Headers, max_bytes: int = 20 * 1024 * 1024,
                length: int | None = None) -> tuple[bytes, bool]:
    """The body de-chunked and content-decoded, at most ``max_bytes`` of it.

    Returns ``(data, capped)``; ``capped`` is True when the decoded body was
    longer than ``max_bytes`` (``data`` then holds the first ``max_bytes``).
    Decoding is lazy and stops at the cap, so a gzip or brotli bomb costs about
    ``max_bytes`` of memory. Corrupt or cut compressed data yields what could
    be decoded; an unknown content coding returns the encoded bytes.
    """
    pieces = iter_body(fileobj, headers, length)
    for stage in _decoders(headers) or ():
        pieces = _through(stage, pieces)
    out = bytearray()
    try:
        for piece in pieces:
            out += piece
            if len(out) > max_bytes:
                return bytes(out[:max_bytes]), True
    except _DECODE_ERRORS:
        pass  # corrupt or cut compressed data: keep what decoded
    return bytes(out), False
