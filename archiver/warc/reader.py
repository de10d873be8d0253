"""Reading one source: the framer finds the records, a parser reads each, the record code says what it holds.

``read_source`` yields one :class:`Entry` per record and one ``problem``
entry per stretch that could not be read as a record, in file order, and
reads on after damage (the problem's detail says where). ``start``/``end``
let several processes share one big ``.warc.gz`` (``split_points`` finds
member boundaries to cut at).
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterable, Iterator

from archiver.gzip_members import find_member, is_gzip
from archiver.warc import parsers
from archiver.warc.framing import Damage, Framer
from archiver.warc.inputs import Source, expand_inputs
from archiver.warc.records import MAX_BODY, Entry, RecordInfo, read_record

log = logging.getLogger(__name__)

SPLIT_SCAN = 32 * 1024 * 1024  # how far to look for a record's member to split at (a file gzip'd whole has none)


def _problem(source: Source, damage: Damage) -> Entry:
    return Entry(RecordInfo(source.name, damage.offset, rec_type="problem", url=damage.url,
                            problems=[(damage.kind, damage.detail)]))


def read_source(source: Source, *, max_body: int = MAX_BODY,
                want_body: Callable[[RecordInfo], bool] | None = None,
                start: int | None = None, limit: int | None = None, end: int | None = None) -> Iterator[Entry]:
    """Every record of one source; each stretch that is not a record yields one ``problem`` entry.

    ``start`` begins at a record's (or its gzip member's) offset; ``limit``
    stops after that many records; ``end`` stops before the first record
    whose offset is at or after it. ``want_body(info)`` may say no to
    decoding a body nobody needs.
    """
    try:
        stream = source.open()
    except Exception as exc:
        yield Entry(RecordInfo(source.name, 0, rec_type="problem",
                               problems=[("unreadable", f"cannot open: {exc}")]))
        return
    count = 0
    try:
        framer = Framer(stream, start=start or 0, end=end)
        events = framer.events
        for segment in framer.segments():
            try:
                for parsed in parsers.records(segment, framer.fmt or "warc"):
                    while isinstance(events[0], Damage):
                        yield _problem(source, events.popleft())
                    frame = events.popleft()
                    entry = read_record(parsed.fields, parsed.block, frame, source.name, max_body=max_body,
                                        want_body=want_body)
                    yield entry
                    count += 1
                    if limit is not None and count >= limit:
                        return
            except Exception as exc:  # the framer served whole records: a parser failing on one is reported
                while events and isinstance(events[0], Damage):
                    yield _problem(source, events.popleft())
                if not events:
                    raise
                frame = events.popleft()
                detail = f"{type(exc).__name__}: {str(exc)[:200]}"
                yield Entry(RecordInfo(source.name, frame.offset, rec_type="problem", url=frame.url,
                                       index=frame.index, problems=[("unreadable", detail)]))
                return
            finally:
                segment.close()
        while events:
            event = events.popleft()
            if isinstance(event, Damage):
                yield _problem(source, event)
    finally:
        stream.close()


def split_points(source: Source, parts: int) -> list[int]:
    """Offsets near equal fractions of a ``.warc.gz`` where a record's gzip member starts, first 0: ranges
    that processes can read side by side (``read_source(start=, end=)``). An uncompressed file, one
    compressed as a whole, or a WACZ member stays one range."""
    if parts < 2 or source.members:
        return [0]
    size = os.path.getsize(source.path)
    points = [0]
    with open(source.path, "rb") as stream:
        if not is_gzip(stream.read(2)):
            return points
        for i in range(1, parts):
            found = find_member(stream, max(size * i // parts, points[-1] + 1), lambda head: head.startswith(b"WARC/"),
                                SPLIT_SCAN)
            if found is not None and found > points[-1]:
                points.append(found)
    return points


def iter_records(paths: Iterable | str | os.PathLike, *, max_body: int = MAX_BODY) -> Iterator[RecordInfo]:
    """What every record of every input holds (no bodies kept), damage included as ``problem`` records."""
    for source in expand_inputs(paths):
        for entry in read_source(source, max_body=max_body, want_body=lambda info: False):
            yield entry.info
