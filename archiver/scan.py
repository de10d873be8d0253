"""A collection read range by range on any Executor, each range's partial result handed back in collection order.

The audit and detection read a collection the same way: every source (a WARC
file, a WACZ member) is one task, and a big ``.warc.gz`` is cut at gzip
member boundaries (``warc.split_points``) into parts read side by side. The
plan depends on the collection alone, never on the executor, so a run in
this process, in local processes or on a Dask cluster reads the same ranges
and merges the same partials. What travels to a worker is a
:class:`ScanRange` (a path and two offsets); what comes back is the
caller's partial summary and where the range's last record ended, which
lets the parts of a file be checked to meet end to end: a split point that
was not a record boundary after all makes the file be read again whole.
"""
from __future__ import annotations

import os
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from archiver.cluster import map_in_order
from archiver.warc import RecordInfo, Source, split_points

PART_MIN = 16 * 1024 * 1024  # a file is cut into parts of at least this size...
PART_MAX = 256 * 1024 * 1024  # ...and at most this (a bound on the number of tasks of a big collection)
PARTS_WANTED = 64  # parts of the collection to aim at between those bounds: enough for a few dozen workers


@dataclass(frozen=True)
class ScanRange:
    """Records of ``source`` (the ``number``-th of the collection) whose offsets are in [start, end)."""

    number: int
    source: Source
    start: int = 0
    end: int | None = None  # None: to the end of the source


def part_size(sources: list[Source]) -> int:
    """The size to cut big files at: the collection over ``PARTS_WANTED``, within [PART_MIN, PART_MAX]."""
    total = sum(_size(s) for s in sources)
    return min(PART_MAX, max(PART_MIN, total // PARTS_WANTED))


def shareable(sources: list[Source]) -> list[Source]:
    """The sources with absolute paths, which a worker in another directory (or on another node) can open;
    their names, which reports show, stay as the user gave them."""
    return [replace(s, path=os.path.abspath(s.path)) for s in sources]


def plan(sources: list[Source], part: int | None = None) -> list[ScanRange]:
    """Every source whole, a ``.warc.gz`` of at least two parts cut into parts of ``part`` bytes or more."""
    part = part or part_size(sources)
    ranges = []
    for number, source in enumerate(shareable(sources)):
        size = _size(source)
        points = split_points(source, size // part) if size >= 2 * part else [0]
        ranges.extend(ScanRange(number, source, start, end) for start, end in zip(points, [*points[1:], None]))
    return ranges


def _size(source: Source) -> int:
    """On-disk size of a plain file (WACZ members are read whole: 0)."""
    return os.path.getsize(source.path) if not source.members and os.path.isfile(source.path) else 0


def record_end(info: RecordInfo) -> int | None:
    """Where a record read ends, for :func:`scan_in_order`'s check (None after damage)."""
    return None if info.rec_type == "problem" or info.length is None else info.offset + info.length


def scan_in_order(executor: Executor, task: Callable, ranges: list[ScanRange], args: tuple = (), *,
                  what: str = "scan") -> Iterator:
    """``task(range, *args) -> (partial, reach)`` over every range; partials yielded in range order.

    ``reach`` is where the range's last record ended (``record_end``), or
    None after damage (the next part then reads on from its own start). When
    a part ends anywhere but where the next begins, that file's partials are
    dropped and the file is read again whole.
    """
    group: list[tuple[ScanRange, object, int | None]] = []
    for scan_range, (partial, reach) in zip(ranges, map_in_order(executor, task, [(r, *args) for r in ranges],
                                                                  what=what)):
        group.append((scan_range, partial, reach))
        if scan_range.end is not None:
            continue  # more parts of this file follow
        if not all(reach is None or reach == part.end for part, _, reach in group[:-1]):
            whole = ScanRange(scan_range.number, scan_range.source)
            ((partial, _),) = map_in_order(executor, task, [(whole, *args)], what=f"{what} again")
            group = [(whole, partial, None)]
        for _, partial, _ in group:
            yield partial
        group = []
