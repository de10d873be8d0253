"""Repair WARC files left open by a crash (kill -9, power cut, full disk).

The writer appends one gzip member per record and writes each fetch as a
group ``request [+ metadata] + response|revisit`` with the response last, so
after a crash the tail of a ``*.warc.gz.open`` file can hold a cut gzip
member, or whole members of a group whose response never made it. Recovery
walks the members (streaming, bounded memory), keeps everything up to the end
of the last complete record that closes a group (warcinfo, response, revisit,
resource), truncates the rest, and closes the file (fsync + rename to
``.warc.gz``; a file left with nothing but its warcinfo is removed). The URLs
of the records that were cut are returned, so the engine fetches them again.

Public API::

    recover(directory) -> list[str]          # URLs to fetch again (in file order, no repeats)
    scan(path) -> Iterator[Member]            # members of one file: start, end, type, uri, complete
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from archiver import gzip_members

from .warcwriter import OPEN_SUFFIX, fsync_dir

HEAD_KEEP = 1 << 16  # decompressed bytes kept per member to read its WARC headers
GROUP_ENDS = frozenset({"warcinfo", "response", "revisit", "resource", "conversion", "continuation"})


@dataclass(frozen=True)
class Member:
    start: int
    end: int | None  # None when the gzip member is cut or corrupt
    rtype: str | None
    uri: str | None
    complete: bool  # a whole gzip member holding a whole WARC record


def _parse_head(head: bytes) -> tuple[dict[str, str], int] | None:
    """WARC header fields (lower-cased names) and the header length, if complete."""
    end = head.find(b"\r\n\r\n")
    if end < 0 or not head.startswith(b"WARC/"):
        return None
    fields = {}
    for line in head[:end].split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields[name.strip().decode("latin-1").lower()] = value.strip().decode("utf-8", "replace")
    return fields, end + 4


def _member(scanned: gzip_members.Member) -> Member:
    parsed = _parse_head(scanned.head)
    if parsed is None:
        return Member(scanned.start, scanned.end, None, None, False)
    fields, head_len = parsed
    rtype, uri = fields.get("warc-type"), fields.get("warc-target-uri")
    try:
        length = int(fields.get("content-length", ""))
    except ValueError:
        return Member(scanned.start, scanned.end, rtype, uri, False)
    complete = (scanned.end is not None and scanned.size == head_len + length + 4
                and scanned.tail == b"\r\n\r\n")
    return Member(scanned.start, scanned.end, rtype, uri, complete)


def scan(path: str | os.PathLike) -> Iterator[Member]:
    """Yield the gzip members of a ``.warc.gz`` file; stops after the first bad one."""
    with open(path, "rb") as fh:
        for scanned in gzip_members.iter_members(fh, head_keep=HEAD_KEEP):
            member = _member(scanned)
            yield member
            if not member.complete:
                return


def _repair(path: Path) -> list[str]:
    keep, only_info = 0, True
    pending: list[str] = []  # URIs of records after the last group end
    cut: list[str] = []
    for member in scan(path):
        if member.complete and member.rtype in GROUP_ENDS:
            keep, pending = member.end, []
            only_info = only_info and member.rtype == "warcinfo"
        elif member.complete:
            pending.append(member.uri)
        else:
            pending.append(member.uri)
            break
    cut = [uri for uri in pending if uri]
    final = path.with_name(path.name[: -len(OPEN_SUFFIX)])
    if only_info:
        path.unlink()
        return cut
    with open(path, "r+b") as fh:
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    if final.exists():  # never overwrite a closed file
        final = final.with_name(final.name.replace(".warc.gz", "-recovered.warc.gz"))
    os.replace(path, final)
    fsync_dir(final.parent)
    return cut


def recover(directory: str | os.PathLike) -> list[str]:
    """Cut and close every ``*.warc.gz.open`` in ``directory``; return URLs to fetch again."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    urls: dict[str, None] = {}
    for path in sorted(directory.glob(f"*.warc.gz{OPEN_SUFFIX}")):
        for uri in _repair(path):
            urls[uri] = None
    return list(urls)
