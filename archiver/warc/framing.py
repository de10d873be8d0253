"""Record framing: where each record of a WARC or ARC stream starts and ends, and what is wrong with that.

A parser (FastWARC or warcio) trusts the stream it is given: a wrong
Content-Length makes one skip the next record in silence and the other print
a warning and read on differently, a ``.warc.gz`` compressed as one gzip
member gives FastWARC offsets that point nowhere. So framing is done here,
once, for both: the :class:`Framer` finds every record (each WARC header and
its Content-Length, each ARC header line and its length), checks that the
record ends where its length says (the block followed by an empty line, then
the next record or the end), and serves the parser a *clean* stream holding
only whole, well-framed records. It keeps, in file order, a :class:`Frame` for
every record it served and a :class:`Damage` for every stretch it could not
serve, so the reader pairs the parser's n-th record with the n-th frame.

Where a record is wrong the reader reads on at the next record: in a plain
file the next line that starts a record (the swallowed record after a
too-long Content-Length is found again), in a ``.warc.gz`` after a member
that does not inflate the next member that holds a record head.

Offsets: in a plain file a record's offset is where it starts; in a
``.warc.gz`` it is where its gzip member starts, the place a reader must
begin inflating. A member holding several records (a file gzip'd as a whole)
gives them all its offset; ``Frame.index`` counts the records before each in
the member.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from archiver.gzip_members import MemberReader, find_member, is_gzip
from archiver.urls import clean_target_uri

CHUNK = 64 * 1024
LOOK = 512  # bytes looked at to tell what comes next (a peek copies what it returns: keep it small)
HEAD_LOOK = 8 * 1024  # a first look for a header's end; most WARC headers are shorter
MAX_HEADER = 256 * 1024  # a WARC header longer than this is damage, not a header
RESYNC_OVERLAP = 8192  # bytes kept in view between search windows (an ARC header line is one line)
WARC_VERSIONS = (b"WARC/1.0", b"WARC/1.1", b"WARC/0.17", b"WARC/0.18")
WARC_TRAILER = b"\r\n\r\n"
ARC_TRAILER = b"\n\n"  # two: warcio reads an ARC version block's last line up to a newline after the block

_HEADER_END = re.compile(rb"\n\r*\n")
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r*$", re.IGNORECASE | re.MULTILINE)
_TARGET_URI = re.compile(rb"^warc-target-uri[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r*$", re.IGNORECASE | re.MULTILINE)
_WARC_LINE = re.compile(rb"\nWARC/(?:1\.[01]|0\.1[78])\r*\n")
# an ARC (v1) header line: URL (which may hold spaces) IP-address Archive-date Content-type Archive-length
_ARC_LINE = re.compile(rb"(\S[^\n]*) (\S+) (\d{8,}) (\S+) (\S+)\r?")
_ARC_START = re.compile(rb"\n(?=\S[^\n]* \S+ \d{8,} \S+ \d+\r?\n)")


@dataclass(slots=True)
class Frame:
    """One record as framed: where it is and what its framing says."""

    offset: int  # the record's start (plain file) or its gzip member's (.warc.gz)
    fmt: str  # warc | arc
    index: int = 0  # records before this one in the same gzip member
    length: int | None = None  # bytes in the file (header and block; the whole member in a .warc.gz)
    content_length: int = 0
    url: str = ""  # from an ARC header line (a WARC record's is read by the parser)
    problems: list[tuple[str, str]] = field(default_factory=list)
    dpos: int = 0  # where the record starts in the inflated stream
    body_dpos: int = 0  # where its block starts there
    member_dpos: int = 0  # where its gzip member starts there (a plain file: its own start)


@dataclass(slots=True)
class Damage:
    """A stretch that could not be read as a record (the reader reports it as a ``problem`` record)."""

    offset: int
    kind: str
    detail: str
    url: str = ""


class PlainStream:
    """An uncompressed WARC/ARC stream read forward through a buffer; ``pos`` is the file offset."""

    def __init__(self, fileobj: BinaryIO, start: int):
        self.file = fileobj
        self.pos = start
        self.fault: Damage | None = None
        self._buf = b""
        self._at = 0  # offset of _buf[0] from pos
        fileobj.seek(start)

    def peek(self, size: int) -> bytes:
        while len(self._buf) - self._at < size:
            data = self.file.read(max(CHUNK, size))
            if not data:
                break
            self._buf = self._buf[self._at:] + data
            self._at = 0
        return self._buf[self._at:self._at + size]

    def read(self, size: int) -> bytes:
        if self._at >= len(self._buf):
            if size >= CHUNK:
                data = self.file.read(size)
                self.pos += len(data)
                return data
            self.peek(size)
        data = self._buf[self._at:self._at + size]
        self._at += len(data)
        self.pos += len(data)
        return data

    def where(self) -> tuple[int, int]:
        """(offset a reader starts at, inflated position of that start) for the record at ``pos``."""
        return self.pos, self.pos

    def member_end(self, member_dpos: int) -> int | None:
        return None

    def rewind(self, dpos: int, member_offset: int, member_dpos: int) -> None:
        self.file.seek(dpos)
        self.pos, self._buf, self._at = dpos, b"", 0


class GzipStream:
    """The inflated bytes of a ``.warc.gz``, member after member, with where each member starts.

    ``pos`` is a position in the inflated stream. A member that is cut or does
    not inflate ends the data (``fault`` says where and why) until ``restart``.
    """

    def __init__(self, fileobj: BinaryIO, start: int):
        self.file = fileobj
        self.pos = 0
        self.fault: Damage | None = None
        self._reader = MemberReader(fileobj, start)
        self._buf = b""
        self._at = 0
        self._end = 0  # inflated position of the end of _buf
        self._members: deque[tuple[int, int]] = deque()  # (inflated position, file offset) of member starts
        self._ended: dict[int, int] = {}  # member file offset -> file offset past its end
        self._open = self._begin()

    def _begin(self) -> bool:
        offset = self._reader.next_member()
        if offset is None:
            return False
        if self._reader.error is not None:
            self.fault = Damage(offset, *self._reader.error)
            return False
        self._members.append((self._end, offset))
        return True

    def _more(self) -> bytes:
        while self._open:
            data = self._reader.read()
            if data:
                return data
            if self._reader.error is not None:
                self.fault = Damage(self._reader.start, *self._reader.error)
                self._open = False
                return b""
            self._ended[self._reader.start] = self._reader.end
            self._open = self._begin()
        return b""

    def peek(self, size: int) -> bytes:
        while len(self._buf) - self._at < size:
            data = self._more()
            if not data:
                break
            self._buf = self._buf[self._at:] + data
            self._at = 0
            self._end += len(data)
        return self._buf[self._at:self._at + size]

    def read(self, size: int) -> bytes:
        if self._at >= len(self._buf):
            self.peek(min(size, CHUNK))
        data = self._buf[self._at:self._at + size]
        self._at += len(data)
        self.pos += len(data)
        return data

    def where(self) -> tuple[int, int]:
        """(file offset of the member holding ``pos``, inflated position where that member starts)."""
        self.peek(1)
        members = self._members
        while len(members) > 1 and members[1][0] <= self.pos:
            members.popleft()
        if members and members[0][0] <= self.pos:
            return members[0][1], members[0][0]
        return (self.fault.offset, self.pos) if self.fault else (self._reader.start or 0, self.pos)

    def member_end(self, member_offset: int) -> int | None:
        """Where the member at ``member_offset`` ends, once it has been inflated to its end (members before it
        are not asked for again, and are forgotten)."""
        ended = self._ended
        while ended and (first := next(iter(ended))) < member_offset:
            del ended[first]
        return ended.get(member_offset)

    def rewind(self, dpos: int, member_offset: int, member_dpos: int) -> None:
        """Inflate again from the member at ``member_offset`` (inflated position ``member_dpos``) up to ``dpos``."""
        self.restart(member_offset, member_dpos)
        while self.pos < dpos and self.read(min(CHUNK, dpos - self.pos)):
            pass

    def restart(self, offset: int, dpos: int | None = None) -> None:
        """Go on inflating at the member at file offset ``offset``."""
        self._reader = MemberReader(self.file, offset)
        self.pos = self._end = self.pos if dpos is None else dpos
        self._buf, self._at, self.fault = b"", 0, None
        self._members.clear()
        self._open = self._begin()


class Framer:
    """Finds and checks the records of one stream, and serves the clean ones to a parser.

    ``segments()`` yields file-like objects, each a run of whole records a
    parser can read from start to end; a new one starts after a record that is
    cut short (the parser has seen the end of its stream there).
    ``events`` holds the frames and damage in file order.
    """

    def __init__(self, fileobj: BinaryIO, *, start: int = 0, end: int | None = None):
        fileobj.seek(start)
        gz = is_gzip(fileobj.read(2))
        self.gz = gz
        self.stream = GzipStream(fileobj, start) if gz else PlainStream(fileobj, start)
        self.end = end
        self.fmt: str | None = None
        self.events: deque[Frame | Damage] = deque()
        self._member: tuple[int, int] = (-1, 0)  # (member offset, records begun in it)
        self._noted_shared_member = False
        self._finished = False

    # ----------------------------------------------------------------------------- serving
    def segments(self) -> Iterator["Segment"]:
        while not self._finished:
            segment = Segment(self._serve())
            if not segment.prime():
                return
            yield segment

    def _serve(self) -> Iterator[bytes]:
        """Bytes of whole records for one segment (a header, its block, a trailer, the next header...).

        A record's end is checked before its last byte is served, so its frame
        is complete by the time a reader has read its block.
        """
        while True:
            started = self._next_record()
            if started is None:
                self._finished = True
                return
            frame, header = started
            self.events.append(frame)
            left = frame.content_length
            if not left:
                self._check_end(frame)
            yield header
            while left:
                data = self.stream.read(min(left, CHUNK))
                if not data:
                    break
                left -= len(data)
                if not left:
                    self._check_end(frame)
                yield data
            if left:  # the stream ended inside the block: the parser must see the end here too
                self._cut(frame, left)
                return
            yield WARC_TRAILER if frame.fmt == "warc" else ARC_TRAILER

    def _cut(self, frame: Frame, left: int) -> None:
        fault, self.stream.fault = self.stream.fault, None
        if fault is not None and fault.kind == "unreadable":
            frame.problems.append(("unreadable", f"{fault.detail} (the member at offset {fault.offset}), "
                                                 f"{left} bytes before the record's end"))
            self._resume_after_member(fault.offset, frame)
        elif fault is not None:
            frame.problems.append(("cut_gzip", f"the file ends inside a gzip member, {left} bytes before the "
                                               "record's end"))
        else:
            frame.problems.append(("cut_record", f"record ends {left} bytes before its Content-Length"))

    # ----------------------------------------------------------------------------- records
    def _next_record(self) -> tuple[Frame, bytes] | None:
        """The next record's frame and the header bytes to serve, reporting what lies between."""
        while True:
            stream = self.stream
            data = self._skip_blank()
            if not data:
                fault = stream.fault
                if fault is None:
                    return None
                stream.fault = None
                self._resume_after_member(fault.offset, fault)
                continue
            offset, member_dpos = stream.where()
            if self.end is not None and offset >= self.end:
                return None
            if self.fmt != "arc" and data.startswith(b"WARC/"):
                started = self._warc_header(offset, member_dpos)
            elif self.fmt != "warc" and _arc_line(data if b"\n" in data else stream.peek(HEAD_LOOK)) is not None:
                started = self._arc_header(offset, member_dpos)
            else:
                started = None
                damage = Damage(offset, "unreadable", "bytes that are not a record")
                self._resume_in_stream(stream.pos + 1, damage, offset, member_dpos)
            if started is not None:
                return started

    def _skip_blank(self) -> bytes:
        """Pass over empty lines between records; the bytes that follow (empty at the end or a fault)."""
        stream = self.stream
        while True:
            data = stream.peek(LOOK)
            rest = data.lstrip(b"\r\n")
            if rest or not data:
                if len(rest) < len(data):
                    stream.read(len(data) - len(rest))
                return rest
            stream.read(len(data))

    def _warc_header(self, offset: int, member_dpos: int) -> tuple[Frame, bytes] | None:
        stream = self.stream
        data = stream.peek(HEAD_LOOK)
        match = _HEADER_END.search(data)
        if match is None and len(data) >= HEAD_LOOK:
            data = stream.peek(MAX_HEADER)
            match = _HEADER_END.search(data)
        header = data[:match.end()] if match else data
        version = data[:data.find(b"\n") + 1].rstrip(b"\r\n \t")
        if match is None:
            if stream.fault is not None and len(data) < MAX_HEADER:  # the header is cut by the member's damage
                return self._header_at_fault(_field(_TARGET_URI, header))
            problem = ("unreadable", "WARC header without an end" if len(data) < MAX_HEADER else
                       f"WARC header longer than {MAX_HEADER} bytes")
        elif version not in WARC_VERSIONS:
            problem = ("unreadable", f"unknown WARC version {version[:20].decode('latin-1')!r}")
        else:
            found = _CONTENT_LENGTH.search(header)
            length = found.group(1) if found else None
            problem = None if length is not None and length.isdigit() else (
                "record_length", "no Content-Length" if length is None else
                f"invalid Content-Length {length[:20].decode('latin-1')!r}")
        if problem is not None:
            damage = Damage(offset, *problem, url=_field(_TARGET_URI, header))
            self._resume_in_stream(stream.pos + 1, damage, offset, member_dpos)
            return None
        self.fmt = "warc"
        frame = self._frame(offset, member_dpos, "warc", "")
        stream.read(len(header))
        frame.body_dpos = stream.pos
        frame.content_length = int(length)
        return frame, _canonical(header)

    def _arc_header(self, offset: int, member_dpos: int) -> tuple[Frame, bytes] | None:
        stream = self.stream
        line = _arc_line(stream.peek(HEAD_LOOK)) or _arc_line(stream.peek(CHUNK))
        url, _ip, _date, _mime, length = line.rstrip(b"\r\n").rsplit(b" ", 4)
        url_text = url.decode("utf-8", "replace")
        if not length.isdigit():
            damage = Damage(offset, "record_length", f"invalid ARC record length {length[:20].decode('latin-1')!r}",
                            url=url_text)
            self._resume_in_stream(stream.pos + len(line), damage, offset, member_dpos)
            return None
        self.fmt = "arc"
        frame = self._frame(offset, member_dpos, "arc", url_text)
        stream.read(len(line))
        frame.body_dpos = stream.pos
        frame.content_length = int(length)
        return frame, line

    def _header_at_fault(self, url: str) -> None:
        """A header cut short by a gzip member that ends early or stops inflating: report the member."""
        fault, self.stream.fault = self.stream.fault, None
        fault.url = url
        self._resume_after_member(fault.offset, fault)
        return None

    def _frame(self, offset: int, member_dpos: int, fmt: str, url: str) -> Frame:
        member, begun = self._member
        index = begun if member == offset else 0
        self._member = (offset, index + 1)
        frame = Frame(offset, fmt, index, url=url, dpos=self.stream.pos, member_dpos=member_dpos)
        if index and self.gz and not self._noted_shared_member:
            self._noted_shared_member = True
            frame.problems.append(("gzip_member", "records share one gzip member (the file was compressed as a "
                                                  "whole?): a reader cannot seek to them; `warcio recompress` "
                                                  "writes one member per record"))
        return frame

    # ----------------------------------------------------------------------------- record ends
    def _check_end(self, frame: Frame) -> None:
        """After a block: an empty line, then the next record or the end; else the length was wrong."""
        stream = self.stream
        data = stream.peek(LOOK)
        line_end = data.find(b"\n")
        first = data if line_end < 0 else data[:line_end + 1]
        rest = data.lstrip(b"\r\n")
        if frame.fmt == "arc" and first.strip() and line_end < 0:
            data = stream.peek(HEAD_LOOK)  # an ARC header line longer than the first look
            rest = data.lstrip(b"\r\n")
        if not data or not first.strip() or (frame.fmt == "arc" and _is_arc_start(rest)):
            stream.read(len(data) - len(rest))
            while data and not rest:  # a long run of empty lines
                data = stream.peek(LOOK)
                rest = data.lstrip(b"\r\n")
                stream.read(len(data) - len(rest))
            frame.length = self._length(frame)
            return
        found = self._resync(frame.body_dpos, frame.offset, frame.member_dpos)
        where = f"reading resumed at offset {found}, the next record" if found is not None else "no record follows"
        frame.problems.append(("record_length", f"{'Content-Length' if frame.fmt == 'warc' else 'ARC length'} "
                                                f"{frame.content_length} does not end the record (no empty line "
                                                f"after it); {where}"))

    def _length(self, frame: Frame) -> int | None:
        if not self.gz:
            return frame.body_dpos - frame.dpos + frame.content_length
        end = self.stream.member_end(frame.offset)
        if end is None or (self.stream.peek(1) and self.stream.where()[0] == frame.offset):
            return None  # more records follow in the same member: the member is the last one's
        return end - frame.offset

    # ----------------------------------------------------------------------------- reading on
    def _resume_in_stream(self, dpos: int, damage: Damage, member_offset: int, member_dpos: int) -> None:
        """Report ``damage`` and go on at the next line that starts a record, searching from ``dpos``."""
        self.events.append(damage)
        found = self._resync(dpos, member_offset, member_dpos)
        damage.detail += (f"; reading resumed at offset {found}, the next record" if found is not None
                          else "; no record follows")

    def _resync(self, dpos: int, member_offset: int, member_dpos: int) -> int | None:
        """Move the stream to the next record start after ``dpos``; its offset, or None (the end, or a fault)."""
        stream = self.stream
        target = dpos - 1  # a record start is found after a newline: keep the one just before dpos in view
        if target >= stream.pos:
            while stream.pos < target and stream.read(min(CHUNK, target - stream.pos)):
                pass
        else:
            stream.rewind(target, member_offset, member_dpos)
        pattern = _ARC_START if self.fmt == "arc" else _WARC_LINE if self.fmt == "warc" else None
        while True:
            data = stream.peek(CHUNK)
            hit = _first_start(data, pattern)
            if hit is not None:
                stream.read(hit + 1)
                return stream.where()[0]
            if len(data) < CHUNK:  # the end (or a fault): nothing follows
                stream.read(len(data))
                return None
            stream.read(len(data) - RESYNC_OVERLAP)

    def _resume_after_member(self, offset: int, report: Damage | Frame) -> None:
        """After a gzip member that is cut or does not inflate: go on at the next member holding a record."""
        found = find_member(self.stream.file, offset + 1, _is_record_head)
        if isinstance(report, Damage):
            self.events.append(report)
            report.detail += (f"; reading resumed at offset {found}, the next record" if found is not None
                              else "; no record follows")
        elif found is not None:
            kind, detail = report.problems[-1]
            report.problems[-1] = (kind, f"{detail}; reading resumed at offset {found}, the next record")
        if found is None:
            self.stream.fault = None
            self._finished = True
            self.stream = PlainStream(_Empty(), 0)
        else:
            self.stream.restart(found)


class Segment:
    """A file-like view of a run of whole records, for a parser to read from start to end."""

    def __init__(self, pieces: Iterator[bytes]):
        self._pieces = pieces
        self._buf = b""
        self._pos = 0

    def prime(self) -> bool:
        """Fetch the first piece; False when there is nothing to read."""
        self._buf = next(self._pieces, b"")
        return bool(self._buf)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        parts, have = [], 0
        if self._buf:
            parts.append(self._buf[:size])
            have = len(parts[0])
            self._buf = self._buf[have:]
        while have < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            if have + len(piece) > size:
                self._buf = piece[size - have:]
                piece = piece[:size - have]
            parts.append(piece)
            have += len(piece)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._pieces = iter(())


class _Empty:
    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0


def _field(pattern: re.Pattern, header: bytes) -> str:
    match = pattern.search(header)
    return clean_target_uri(match.group(1).decode("utf-8", "replace")) if match else ""


def _canonical(header: bytes) -> bytes:
    """The header with every line ending in CRLF (bare LF and CR CR LF occur), as both parsers want it."""
    if b"\r\r" not in header and header.count(b"\n") == header.count(b"\r\n"):
        return header
    lines = [line.rstrip(b"\r") for line in header.split(b"\n")]
    return b"\r\n".join(lines[:-2]) + b"\r\n\r\n"


def _arc_line(data: bytes) -> bytes | None:
    """The first line of ``data`` if it is shaped like an ARC header line (its length may still be wrong)."""
    line_end = data.find(b"\n")
    if line_end <= 0 or _ARC_LINE.fullmatch(data[:line_end]) is None:
        return None
    return data[:line_end + 1]


def _is_arc_start(data: bytes) -> bool:
    line = _arc_line(data)
    return line is not None and line.rstrip(b"\r\n").rsplit(b" ", 1)[-1].isdigit()


def _is_record_head(head: bytes) -> bool:
    return head.startswith(WARC_VERSIONS) or _is_arc_start(head)


def _first_start(data: bytes, pattern: re.Pattern | None) -> int | None:
    """Index of the newline before the first record start in ``data`` (WARC line or ARC header line)."""
    hits = []
    for candidate in ([pattern] if pattern is not None else [_WARC_LINE, _ARC_START]):
        match = candidate.search(data)
        if match:
            hits.append(match.start())
    return min(hits) if hits else None
