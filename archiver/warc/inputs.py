"""What the user gave, as the streams to read: WARC and ARC files, directories, WACZ, WACZ of WACZs.

A WACZ is a zip whose ``archive/`` folder holds WARC files; a Browsertrix
multi-WACZ (datapackage profile ``multi-wacz-package``) is a zip of WACZs.
Members are opened in place: a member stored without compression (as WACZ
writers store them) is a window on the zip file itself, so seeking in it is
a seek, not a re-read from its start. A file given by name that is not an
archive at all (a text file, say) is a usage error; one that is an archive
but damaged is read as far as it goes and its damage reported.
"""
from __future__ import annotations

import io
import json
import logging
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Iterable

from archiver.errors import UsageError
from archiver.gzip_members import is_gzip

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
WACZ_SUFFIX = ".wacz"
MAX_NESTING = 3  # WACZ inside WACZ inside WACZ


@dataclass(frozen=True)
class Source:
    """One WARC or ARC stream: a file, or a member of a WACZ (``name`` then reads ``file.wacz#member``;
    ``members`` is the path of member names from the outer zip inward)."""

    name: str
    path: str
    members: tuple[str, ...] = ()
    problem: str | None = None  # why it cannot be read at all (reported when read)

    @property
    def member(self) -> str | None:
        return self.members[-1] if self.members else None

    def open(self) -> IO[bytes]:
        if self.problem is not None:
            raise OSError(self.problem)
        stream: IO[bytes] = open(self.path, "rb")
        try:
            for member in self.members:
                stream = open_member(stream, member)
        except Exception:
            stream.close()
            raise
        return stream


class Window(io.RawIOBase):
    """A read-only view of ``size`` bytes of ``base`` from ``start``: a stored zip member, seekable for real."""

    def __init__(self, base: IO[bytes], start: int, size: int, owner: object = None):
        super().__init__()
        self._base, self._start, self._size, self._pos = base, start, size, 0
        self._owner = owner  # what must stay open as long as the window

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = self._size - self._pos
        if size is None or size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        self._base.seek(self._start + self._pos)
        data = self._base.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._base.close()
        super().close()


def open_member(stream: IO[bytes], name: str) -> IO[bytes]:
    """A member of the zip ``stream`` as a stream of its own (closing it closes ``stream``)."""
    archive = zipfile.ZipFile(stream)
    info = archive.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
        stream.seek(info.header_offset)
        fixed = stream.read(30)
        if len(fixed) == 30 and fixed[:4] == b"PK\x03\x04":
            name_length, extra_length = struct.unpack("<HH", fixed[26:30])
            return Window(stream, info.header_offset + 30 + name_length + extra_length, info.file_size)
    member = archive.open(info)
    return _Member(member, archive, stream)


class _Member(io.RawIOBase):
    """A compressed zip member, holding its zip and the zip's stream open as long as it is."""

    def __init__(self, member, archive: zipfile.ZipFile, stream: IO[bytes]):
        super().__init__()
        self._member, self._archive, self._stream = member, archive, stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._member.read(size)

    def readinto(self, buffer) -> int:
        data = self._member.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._member.seek(offset, whence)

    def tell(self) -> int:
        return self._member.tell()

    def close(self) -> None:
        if not self.closed:
            self._member.close()
            self._archive.close()
            self._stream.close()
        super().close()


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def looks_like_archive(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a WARC, an ARC, a gzip'd one or a zip (WACZ)."""
    if is_gzip(head) or head[:4] == b"PK\x03\x04" or head.startswith(b"WARC/"):
        return True
    line = head.split(b"\n", 1)[0]
    return line.startswith(b"filedesc://") or (len(line.split()) >= 5 and b"://" in line.split()[0]
                                               and line.split()[-1].isdigit())


def expand_inputs(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[Source]:
    """WARC/ARC files, directories (recursively; ``*.open`` files being written are left out) and WACZ files
    as Sources.

    A path that does not exist raises FileNotFoundError; a file given by name
    that is not an archive raises UsageError. In a directory, files named as
    archives are read (and their damage reported); others are read only if
    their first bytes are an archive's. A WACZ that packs WARC files found in
    the same directory (a crawl directory with its ``archive.wacz``) is left
    out: its records are those files' records, and reading both would count
    each twice.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            children = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.endswith(".open"))
            archives = {(p.name, p.stat().st_size) for p in children if is_archive_name(p.name)}
            for child in children:
                if child.name.lower().endswith(WACZ_SUFFIX) and _packs_any(child, archives):
                    log.debug("%s: skipped, it packs WARC files read from %s already", child, path)
                elif is_archive_name(child.name) or child.name.lower().endswith(WACZ_SUFFIX) or _sniff(child):
                    sources.extend(_file_sources(child))
        elif path.exists():
            if not _sniff(path):
                raise UsageError(f"{path} is not a WARC, ARC or WACZ file"
                                 + (" (it is empty)" if path.is_file() and path.stat().st_size == 0 else ""))
            sources.extend(_file_sources(path))
        else:
            raise FileNotFoundError(f"no such WARC, WACZ or directory: {path}")
    return sources


def _packs_any(wacz: Path, archives: set[tuple[str, int]]) -> bool:
    """Whether the WACZ holds an archive file of the same name and size as one of ``archives``."""
    try:
        with zipfile.ZipFile(wacz) as package:
            return any((PurePosixPath(info.filename).name, info.file_size) in archives for info in package.infolist()
                       if info.filename.startswith("archive/") and is_archive_name(info.filename))
    except (zipfile.BadZipFile, OSError):
        return False  # read, so the damage is reported


def _sniff(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return looks_like_archive(handle.read(4096))
    except OSError:
        return False


def _file_sources(path: Path) -> list[Source]:
    with open(path, "rb") as handle:
        is_zip = handle.read(4) == b"PK\x03\x04"
    if not is_zip and not path.name.lower().endswith(WACZ_SUFFIX):
        return [Source(str(path), str(path))]
    return _zip_sources(str(path), str(path), ())


def _zip_sources(name: str, path: str, members: tuple[str, ...]) -> list[Source]:
    """The WARC members of a WACZ, and of the WACZs inside it (a multi-WACZ), in name order."""
    try:
        with Source(name, path, members).open() as stream, zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            profile = _profile(archive, names)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        return [Source(name, path, members, problem=f"unreadable WACZ: {exc}")]
    warcs = sorted(n for n in names if not n.endswith("/") and is_archive_name(n) and
                   (n.startswith("archive/") or profile == "multi-wacz-package"))
    waczs = sorted(n for n in names if n.lower().endswith(WACZ_SUFFIX))
    sources = [Source(f"{name}#{n}", path, (*members, n)) for n in warcs]
    for inner in waczs:
        if len(members) + 1 >= MAX_NESTING:
            sources.append(Source(f"{name}#{inner}", path, (*members, inner),
                                  problem=f"WACZ nested deeper than {MAX_NESTING}: not read"))
            continue
        sources.extend(_zip_sources(f"{name}#{inner}", path, (*members, inner)))
    if not sources:
        sources.append(Source(name, path, members, problem="a WACZ holding no WARC files (nothing under archive/)"))
    return sources


def _profile(archive: zipfile.ZipFile, names: list[str]) -> str:
    if "datapackage.json" not in names:
        return ""
    try:
        package = json.loads(archive.read("datapackage.json"))
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(package.get("profile") or "") if isinstance(package, dict) else ""
