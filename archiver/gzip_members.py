"""Gzip members: the unit a ``.warc.gz`` is written, cut and read in.

A WARC writer compresses each record as a gzip member of its own, so a
record's offset is where its member starts and a reader can begin there. The
archive reader (record framing, reading on after damage, split points), crash
recovery (cutting an open file back to its last whole record group) and the
sitemap loaders (gzip'd sitemaps) all walk members through this module, with
the same rules: streaming, a bounded amount inflated per step, and a member
that is cut short or does not inflate reported as such, never skipped.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO, Callable, Iterator, NamedTuple

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 32 * 1024  # compressed bytes read at a time
OUT = 64 * 1024  # inflated bytes produced per step
SCAN_WINDOW = 1024 * 1024


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def inflate(data: bytes, limit: int) -> bytes:
    """Every member of ``data`` inflated, up to ``limit`` bytes of output (a bomb stops there).

    Zero bytes between members are skipped (some tools pad); inflating stops at
    a member that is cut or corrupt, keeping what came before it.
    """
    out = bytearray()
    while data and len(out) < limit:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit - len(out))
            while inflater.unconsumed_tail and len(out) < limit:
                out += inflater.decompress(inflater.unconsumed_tail, limit - len(out))
        except zlib.error:
            break
        if not inflater.eof:
            break
        data = inflater.unused_data.lstrip(b"\0")
    return bytes(out[:limit])


class MemberReader:
    """Inflates the gzip members of a file one after another, streaming.

    ``next_member()`` begins the member at the current position and returns
    its offset; ``read()`` then gives its inflated bytes and ``b""`` at its
    end, where ``end`` is the offset just past it, or where it went wrong,
    with ``error`` set to ``("cut_gzip", ...)`` (the file ends inside the
    member) or ``("unreadable", ...)`` (the bytes there do not inflate, or are
    not a gzip member at all).
    """

    def __init__(self, fileobj: BinaryIO, start: int = 0):
        fileobj.seek(start)
        self._file = fileobj
        self._pending = b""  # compressed bytes read from the file, not yet inflated
        self._pos = start  # file offset of _pending[0]
        self._inflater = None
        self.start: int | None = None
        self.end: int | None = None
        self.error: tuple[str, str] | None = None

    def next_member(self) -> int | None:
        """Begin the member at the current position: its offset, or None at the end of the file."""
        if len(self._pending) < 3:
            self._pending += self._file.read(CHUNK)
        if not self._pending:
            return None
        self.start, self.end, self.error = self._pos, None, None
        if self._pending[:3] != GZIP_MAGIC + b"\x08":
            self.error = ("unreadable", "bytes that are not a gzip member")
            self._inflater = None
        else:
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return self.start

    def read(self, size: int = OUT) -> bytes:
        """Up to ``size`` inflated bytes of the current member; ``b""`` once it ended or failed."""
        while (inflater := self._inflater) is not None:
            if not self._pending:
                self._pending = self._file.read(CHUNK)
                if not self._pending:
                    self._inflater = None
                    self.error = ("cut_gzip", "the file ends inside this gzip member")
                    return b""
            try:
                out = inflater.decompress(self._pending, size)
            except zlib.error as exc:
                self._inflater = None
                self.error = ("unreadable", f"gzip member does not inflate: {exc}")
                return b""
            rest = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            self._pos += len(self._pending) - len(rest)
            self._pending = rest
            if inflater.eof:
                self._inflater = None
                self.end = self._pos
            if out:
                return out
        return b""

    def skip_member(self) -> None:
        """Inflate the rest of the current member without keeping it."""
        while self.read():
            pass


class Member(NamedTuple):
    """One gzip member as scanned: where it is, and the start and end of what it inflates to."""

    start: int
    end: int | None  # None when the member is cut short or does not inflate
    size: int  # inflated bytes
    head: bytes  # the first inflated bytes (up to the scan's ``head_keep``)
    tail: bytes  # the last four inflated bytes
    error: tuple[str, str] | None = None


def iter_members(fileobj: BinaryIO, start: int = 0, *, head_keep: int = 64 * 1024) -> Iterator[Member]:
    """Every member from ``start`` on, in order; stops after the first one that is cut or corrupt."""
    reader = MemberReader(fileobj, start)
    while (offset := reader.next_member()) is not None:
        head, size, tail = bytearray(), 0, b""
        while data := reader.read():
            if len(head) < head_keep:
                head += data[:head_keep - len(head)]
            size += len(data)
            tail = (tail + data[-4:])[-4:]
        yield Member(offset, reader.end, size, bytes(head), tail, reader.error)
        if reader.error is not None:
            return


def member_end(fileobj: BinaryIO, offset: int) -> int | None:
    """Where the member starting at ``offset`` ends (None: it is cut short or does not inflate)."""
    reader = MemberReader(fileobj, offset)
    if reader.next_member() is None:
        return None
    reader.skip_member()
    return reader.end


def find_member(fileobj: BinaryIO, pos: int, accept: Callable[[bytes], bool], limit: int | None = None) -> int | None:
    """The first offset at or after ``pos`` (and before ``pos + limit``) where a gzip member starts whose first
    inflated bytes pass ``accept``: where reading can go on after damage, or a file be split."""
    stop = None if limit is None else pos + limit
    while stop is None or pos < stop:
        fileobj.seek(pos)
        window = fileobj.read(SCAN_WINDOW)
        if len(window) < 3:
            return None
        hit = window.find(GZIP_MAGIC + b"\x08")
        while hit >= 0 and (stop is None or pos + hit < stop):
            fileobj.seek(pos + hit)
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(fileobj.read(4096), 512)
            except zlib.error:
                head = b""
            if head and accept(head):
                return pos + hit
            hit = window.find(GZIP_MAGIC + b"\x08", hit + 1)
        pos += len(window) - 2
    return None
