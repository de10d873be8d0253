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

    Recording()                      # one per attempt: .sent, .received (spool), .ip
    split_head(fileobj) -> (head_bytes, status, reason, headers)
    iter_dechunked(fileobj) -> Iterator[bytes]      # tolerant of cut framing
    warc_digest(hashobj) -> "sha1:BASE32"
    decode_body(fileobj, headers, max_bytes) -> (bytes, capped: bool)
    header_value(headers, name) -> str | None
"""
from __future__ import annotations

import base64
import hashlib
import tempfile
import time
import zlib
from typing import BinaryIO, Iterator

try:  # optional: br Content-Encoding (Google's brotli or brotlipy)
    import brotli
except ImportError:  # pragma: no cover - brotli is installed in our venv
    brotli = None

_DECODE_ERRORS: tuple[type[BaseException], ...] = (zlib.error,) + (
    (brotli.error,) if brotli is not None and hasattr(brotli, "error") else ())

SPOOL_IN_MEMORY = 1 << 20  # bytes kept in RAM before a recording spills to disk
READ_SIZE = 64 * 1024
MAX_HEAD = 256 * 1024  # a head larger than this is treated as a body (malformed answer)

Headers = list[tuple[str, str]]


class TotalTimeout(TimeoutError):
    """The whole answer took longer than the fetcher's total deadline."""


class Recording:
    """Raw bytes of one HTTP attempt: request as sent, response as received.

    ``received`` is a spooled temporary file (RAM up to 1 MB, then disk), so a
    100 MB answer does not sit in memory. ``deadline`` (a ``time.monotonic()``
    value or None) is checked on every socket read by the tee'ing reader.
    """

    def __init__(self, deadline: float | None = None):
        self.sent = bytearray()
        self.received: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.received_length = 0
        self.ip: str | None = None
        self.deadline = deadline
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
        left = self.deadline - time.monotonic()
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


class BodyTooLarge(Exception):
    pass


def _decoders(headers: Headers):
    """Content-Encoding decoders in the order to apply them (reverse of applied)."""
    codings = [c.strip().lower() for k, v in headers if k.lower() == "content-encoding"
               for c in v.split(",") if c.strip()]
    out = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            out.append(("zlib", 47))  # gzip or zlib header, auto-detected
        elif coding == "deflate":
            out.append(("deflate", None))
        elif coding == "br" and brotli is not None:
            out.append(("br", None))
        elif coding == "identity":
            continue
        else:
            return None  # unknown coding: hand back the encoded bytes
    return out


class _Inflater:
    """Streaming zlib/gzip/deflate/br decoder that never outputs more than asked."""

    def __init__(self, kind: str, wbits: int | None):
        self.kind = kind
        self.first = True
        if kind == "br":
            self.obj = brotli.Decompressor()
            self.br = getattr(self.obj, "process", None) or self.obj.decompress
        else:
            self.obj = zlib.decompressobj(wbits if wbits is not None else 15)
        self.pending = b""

    def feed(self, data: bytes, limit: int) -> bytes:
        if self.kind == "br":
            # brotli has no output cap; feed in small slices so one call stays small
            out = bytearray()
            for i in range(0, len(data), 256):
                out += self.br(data[i:i + 256])
                if len(out) > limit:
                    break
            return bytes(out)
        if self.kind == "deflate" and self.first:
            self.first = False
            # "deflate" is zlib-wrapped by the RFC but raw deflate in the wild
            if data and (data[0] & 0x0F) != 8:
                self.obj = zlib.decompressobj(-15)
        data = self.obj.unconsumed_tail + data
        return self.obj.decompress(data, limit + 1) if limit >= 0 else b""

    def more(self, limit: int) -> bytes:
        if self.kind == "br":
            return b""
        tail = self.obj.unconsumed_tail
        if not tail:
            return b""
        return self.obj.decompress(tail, limit + 1)


def decode_body(fileobj: BinaryIO, headers: Headers, max_bytes: int = 20 * 1024 * 1024,
                length: int | None = None) -> tuple[bytes, bool]:
    """The body de-chunked and content-decoded, at most ``max_bytes`` of it.

    Returns ``(data, capped)``; ``capped`` is True when the decoded body was
    longer than ``max_bytes`` (``data`` then holds the first ``max_bytes``).
    Corrupt or cut compressed data yields what could be decoded. Unknown
    content codings return the encoded bytes.
    """
    decoders = _decoders(headers)
    out = bytearray()
    if not decoders:  # None (unknown coding) or [] (identity)
        for data in iter_body(fileobj, headers, length):
            out += data
            if len(out) > max_bytes:
                return bytes(out[:max_bytes]), True
        return bytes(out), False
    stages = [_Inflater(kind, wbits) for kind, wbits in decoders]
    try:
        for data in iter_body(fileobj, headers, length):
            pieces = [data]
            for stage in stages:
                nxt = []
                for piece in pieces:
                    room = max_bytes - len(out)
                    chunk = stage.feed(piece, room)
                    while chunk:
                        nxt.append(chunk)
                        if sum(map(len, nxt)) > room:
                            break
                        chunk = stage.more(room)
                pieces = nxt
            for piece in pieces:
                out += piece
            if len(out) > max_bytes:
                return bytes(out[:max_bytes]), True
    except _DECODE_ERRORS:
        pass  # corrupt or cut compressed data: keep what decoded
    return bytes(out), False
