"""HTTP/1.x messages as they are archived: heads, chunked framing, content codings, WARC digests.

Capture records the exchange exactly as it crossed the wire (``capture/wire.py``)
and the archive reader reads records back (``archiver/warc/``); both apply the
rules of this module, so what one writes the other reads the same way:

- a head ends at its first empty line, whether lines end in CRLF, a bare LF
  or CR CR LF (all three occur in real archives); header lines folded with
  leading white space are joined; bytes are read as UTF-8, else Latin-1;
- a status line is ``HTTP/<version> <three digits> [reason]``; anything else
  (``HTTPX/1.1 200``, ``ICY 200 OK``) is not an HTTP answer;
- chunked framing is removed (:class:`Dechunker`); where the framing turns out
  not to be chunked after all, the rest is taken as it is (warcio does the
  same), and a message cut inside its framing ends where the bytes end;
- content codings (gzip, x-gzip, deflate with or without its zlib wrapper,
  br, several stacked) are decoded with a cap on the *decoded* size, each
  decompression step bounded, so a bomb costs the cap and no more
  (:class:`BodyDecoder`); a body that cannot be decoded is kept as it is and
  the decoder says why;
- digests are ``algo:value`` with the value in base32 (as WARC writers
  write them), and compared in base32, base16 or base64.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import importlib.util
import itertools
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, Sequence

READ_SIZE = 64 * 1024
MAX_HEAD = 256 * 1024  # a head longer than this is not a head (a malformed answer)
MAX_DECODED = 20 * 1024 * 1024

HeaderPairs = Sequence[tuple[str, str]]
Headers = list[tuple[str, str]]  # as capture builds them


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


# ------------------------------------------------------------------------------------------- heads
_HEAD_END = re.compile(rb"\n\r*\n")
_STATUS_LINE = re.compile(r"HTTP/\d+(?:\.\d+)?[ \t]+(\d{3})(?:[ \t]+(.*)|[ \t]*)", re.IGNORECASE)
_REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]+(\S+)(?:[ \t]+HTTP/\d+(?:\.\d+)?)?[ \t]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Head:
    """The start line and header fields of one HTTP message.

    ``status`` is set only for a valid status line; ``start_line`` keeps the
    line as written, so a reader can say what was wrong with it.
    """

    start_line: str
    headers: tuple[tuple[str, str], ...]
    status: int | None = None
    reason: str = ""
    method: str | None = None  # of a request

    def get(self, name: str) -> str | None:
        return header_value(self.headers, name)


def head_end(data: bytes, start: int = 0) -> int | None:
    """Offset just past the empty line that ends a head in ``data`` (None if there is none yet)."""
    match = _HEAD_END.search(data, start)
    return match.end() if match else None


def _lines(data: bytes) -> list[str]:
    """The lines of a head as text, line ends (LF, CRLF, CR CR LF) removed: UTF-8, else Latin-1 per line."""
    try:
        return [line.rstrip("\r") for line in data.decode("utf-8").split("\n")]
    except UnicodeDecodeError:
        lines = []
        for raw in data.split(b"\n"):
            raw = raw.rstrip(b"\r")
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("latin-1"))
        return lines


def parse_head(data: bytes) -> Head:
    """Parse a head (start line and header lines; the empty line that ends it may be included)."""
    lines = _lines(data)
    start = lines[0].strip()
    headers: list[list[str]] = []
    for line in lines[1:]:
        if not line:
            break
        if line[0] in " \t":  # obs-fold: a continuation of the line before
            if headers and line.strip():
                headers[-1][1] = f"{headers[-1][1]} {line.strip()}".strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            headers.append([name.strip(), value.strip()])
    pairs = tuple((name, value) for name, value in headers)
    status_match = _STATUS_LINE.fullmatch(start)
    if status_match:
        return Head(start, pairs, int(status_match.group(1)), (status_match.group(2) or "").strip())
    request_match = None if start[:5].upper() == "HTTP/" else _REQUEST_LINE.fullmatch(start)
    return Head(start, pairs, method=request_match.group(1).upper() if request_match else None)


def split_head(fileobj: BinaryIO) -> tuple[bytes, int | None, str, Headers]:
    """Read a response head from ``fileobj`` (positioned at its start).

    Returns the head bytes exactly as stored (up to and including the empty
    line), the status (None unless the status line is valid), the reason
    phrase and the header list, and leaves ``fileobj`` at the first body byte.
    """
    head = bytearray()
    while len(head) < MAX_HEAD:
        line = fileobj.readline(MAX_HEAD)
        if not line:
            break
        head += line
        if len(head) > len(line) and not line.strip(b"\r\n"):
            break
    parsed = parse_head(bytes(head))
    return bytes(head), parsed.status, parsed.reason, list(parsed.headers)


def header_value(headers: HeaderPairs, name: str) -> str | None:
    """First value of a header, case-insensitively."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def is_chunked(headers: HeaderPairs) -> bool:
    te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding")
    return "chunked" in te.lower()


def content_codings(headers: HeaderPairs) -> list[str]:
    """The Content-Encoding codings in the order they were applied, ``identity`` left out."""
    return [c.strip().lower() for k, v in headers if k.lower() == "content-encoding"
            for c in v.split(",") if c.strip() and c.strip().lower() != "identity"]


# --------------------------------------------------------------------------------- chunked framing
class Dechunker:
    """Removes HTTP chunked framing from bytes fed piece by piece.

    ``done`` once the last chunk and the trailer section were read (``consumed``
    is then the message's length; bytes fed after it are not the message's);
    ``malformed`` when the framing turned out not to be chunked, from which
    point the rest passes through unchanged.
    """

    MAX_LINE = 4096

    def __init__(self) -> None:
        self.done = False
        self.malformed = False
        self.consumed = 0  # input bytes that belong to the message so far
        self._fed = 0
        self._carry = b""  # an incomplete line from the last piece
        self._left = 0  # data bytes left in the current chunk
        self._state = "size"  # size | data | crlf | trailer

    def feed(self, data: bytes) -> bytes:
        if self.malformed:
            return data
        if self.done or not data:
            return b""
        base = self._fed - len(self._carry)  # input bytes before buf[0]
        buf = self._carry + data if self._carry else data
        self._carry = b""
        self._fed += len(data)
        self.consumed = self._fed
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end:
            if self._state == "data":
                take = min(self._left, end - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = "crlf"
                continue
            line_end = buf.find(b"\n", pos)
            if line_end < 0:
                if end - pos > self.MAX_LINE:
                    return self._give_up(out, buf, pos)
                self._carry = buf[pos:]
                break
            line = buf[pos:line_end + 1]
            if self._state == "crlf":
                if line.strip():
                    return self._give_up(out, buf, pos)
                self._state = "size"
            elif self._state == "size":
                size = line.split(b";", 1)[0].strip()
                if not size or size.strip(b"0123456789abcdefABCDEF"):
                    return self._give_up(out, buf, pos)
                self._left = int(size, 16)
                self._state = "data" if self._left else "trailer"
            elif not line.strip():  # the empty line that ends the trailer section
                self.done = True
                self.consumed = base + line_end + 1
                break
            pos = line_end + 1
        return b"".join(out)

    def _give_up(self, out: list[bytes], buf: bytes, pos: int) -> bytes:
        self.malformed = True
        return b"".join(out) + buf[pos:]


def iter_dechunked(fileobj: BinaryIO, stats: dict | None = None) -> Iterator[bytes]:
    """The data of a chunked body read from ``fileobj``, framing removed.

    Stops where the bytes end if the framing is cut. ``stats['end']`` is set to
    the number of bytes up to the end of the message (after the trailer), or
    None when the message never ended.
    """
    dechunker = Dechunker()
    if stats is not None:
        stats["end"] = None
    while not dechunker.done:
        data = fileobj.read(READ_SIZE)
        if not data:
            return
        out = dechunker.feed(data)
        if out:
            yield out
    if stats is not None:
        stats["end"] = dechunker.consumed


def iter_body(fileobj: BinaryIO, headers: HeaderPairs, length: int | None = None) -> Iterator[bytes]:
    """The entity body from ``fileobj``: chunk framing removed, content coding kept."""
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


# --------------------------------------------------------------------------------- content codings
class _Zlib:
    """gzip (members one after another), zlib-wrapped or raw deflate; at most READ_SIZE out per step."""

    def __init__(self, coding: str):
        self.gzip = coding in ("gzip", "x-gzip")
        self.obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if self.gzip else None
        self.pending = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.obj is None:  # deflate: zlib-wrapped by the RFC, raw in much of the wild; two bytes tell
            data = self.pending + data
            if len(data) < 2:
                self.pending = data
                return
            self.pending = b""
            wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self.obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        while data:
            if self.obj.eof:
                rest = self.obj.unused_data + data if self.obj.unused_data else data
                if not (self.gzip and rest[:2] == b"\x1f\x8b"):
                    return  # bytes after the end of the stream are not the body's
                self.obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest
            out = self.obj.decompress(data, READ_SIZE)
            data = self.obj.unconsumed_tail
            if out:
                yield out

    def finish(self) -> Iterator[bytes]:
        if self.pending:  # a one-byte deflate body
            data, self.pending = self.pending, b""
            self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
            yield from self.feed(data)


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

    def finish(self) -> Iterator[bytes]:
        return iter(())


class BodyDecoder:
    """Content-decodes a body fed piece by piece, keeping at most ``cap`` decoded bytes.

    ``capped``: the decoded body was longer than the cap (decoding stopped
    there). ``failed``: why the body could not be decoded (a coding that is
    unknown or unavailable, or data that is not what its coding says). The
    body is then the bytes as stored, or, when the damage comes after some
    bytes decoded, those bytes.
    """

    def __init__(self, codings: Iterable[str], cap: int = MAX_DECODED):
        self.cap = cap
        self.capped = False
        self.failed: str | None = None
        self.size = 0
        self._parts: list[bytes] = []
        codings = list(codings)
        self._label = "+".join(codings)
        self._stages: list = []
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip", "deflate"):
                self._stages.append(_Zlib(coding))
            elif coding == "br" and BROTLI is not None:
                self._stages.append(_Brotli())
            else:
                self.failed = f"Content-Encoding {self._label} cannot be decoded; body kept as stored"
                self._stages = []
                break
        self._stored: list[bytes] | None = [] if self._stages else None  # kept until a byte decodes
        self._stored_size = 0

    def feed(self, data: bytes) -> None:
        if self.capped or not data:
            return
        if not self._stages:
            self._add(data)
        elif not self.failed:
            if self._stored is not None and self._stored_size < self.cap:
                self._stored.append(data)
                self._stored_size += len(data)
            self._push(0, data, final=False)

    def _push(self, number: int, data: bytes, final: bool) -> None:
        stage = self._stages[number]
        last = number + 1 == len(self._stages)
        try:
            for piece in itertools.chain(stage.feed(data), stage.finish() if final else ()):
                if last:
                    self._stored = None
                    self._add(piece)
                else:
                    self._push(number + 1, piece, final=False)
                if self.capped or self.failed:
                    return
            if final and not last:
                self._push(number + 1, b"", final=True)
        except _DECODE_ERRORS as exc:
            self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, why: str) -> None:
        self.failed = f"body does not decode as {self._label} ({why[:120]})"
        if self._stored is not None:  # nothing decoded: the body is the bytes as stored, from here on too
            stored, self._stored, self._stages = self._stored, None, []
            self._parts, self.size = [], 0
            for piece in stored:
                self._add(piece)

    def _add(self, out: bytes) -> None:
        room = self.cap - self.size
        if len(out) > room:
            out = out[:room]
            self.capped = True
        if out:
            self._parts.append(out)
            self.size += len(out)

    def finish(self) -> bytes:
        if self._stages and not self.failed and not self.capped:
            self._push(0, b"", final=True)
        self._stored = None
        return b"".join(self._parts)


def decode_body(fileobj: BinaryIO, headers: HeaderPairs, max_bytes: int = MAX_DECODED,
                length: int | None = None) -> tuple[bytes, bool]:
    """The body at ``fileobj``'s position de-chunked and content-decoded, at most ``max_bytes`` of it.

    Returns ``(data, capped)``. Decoding stops at the cap, so a gzip or brotli
    bomb costs about ``max_bytes``. A cut compressed body yields what decoded;
    a body whose coding is unknown or wrong comes back as stored.
    """
    decoder = BodyDecoder(content_codings(headers), max_bytes)
    for piece in iter_body(fileobj, headers, length):
        decoder.feed(piece)
        if decoder.capped:
            break
    data = decoder.finish()
    return data, decoder.capped


# ----------------------------------------------------------------------------------------- digests
_BASE32 = re.compile(r"[A-Z2-7]+")
_BASE32_AS_INT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def warc_digest(hashobj) -> str:
    """``sha1:`` + base32, the WARC digest notation."""
    return f"{hashobj.name.replace('-', '')}:{base64.b32encode(hashobj.digest()).decode('ascii')}"


def digest_algorithm(recorded: str | None) -> str:
    """The hashlib name of the algorithm a recorded digest names (sha1 when none is recorded)."""
    return (recorded or "sha1:").partition(":")[0].strip().lower().replace("-", "") or "sha1"


def hasher_for(recorded: str | None):
    """A hash object of the algorithm a recorded digest names (sha1 by default), None if unknown."""
    try:
        return hashlib.new(digest_algorithm(recorded))
    except ValueError:
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


def digest_matches(recorded: str, hashobj) -> bool:
    """Whether ``recorded`` (``algo:value``) is what ``hashobj`` computed. The usual base32 form is
    compared as a number (the base32 codec is pure Python), any other through :func:`digests_equal`."""
    algo, _, value = recorded.partition(":")
    value = value.strip()
    digest = hashobj.digest()
    if (algo.strip().lower().replace("-", "") == hashobj.name and len(value) * 5 == len(digest) * 8
            and _BASE32.fullmatch(value)):
        return int(value.translate(_BASE32_AS_INT), 32) == int.from_bytes(digest, "big")
    return digests_equal(recorded, warc_digest(hashobj))


def payload_digest_of(fileobj: BinaryIO, headers: HeaderPairs) -> str:
    """The WARC payload digest of the body at ``fileobj``'s position (to its end): framing removed."""
    sha = hashlib.sha1()
    for data in iter_body(fileobj, headers):
        sha.update(data)
    return warc_digest(sha)
