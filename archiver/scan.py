"""A collection read in tasks on any Executor, each task's partial result handed back in collection order.

The audit and detection read a collection the same way. Small files are
grouped into tasks of about one part's size (per-task costs, and a
scheduler's task count, stay bounded), and a big ``.warc.gz`` is cut at
gzip member boundaries (``warc.split_points``) into parts read side by
side. The plan depends on the collection alone, never on the executor, so a
run in this process, in local processes or on a Dask cluster reads the same
tasks. What travels to a worker is a :class:`ScanTask` (paths and offsets);
what comes back is the caller's partial summary, which has a
``merge(other)`` taking in the next one, and where a part's last record
ended, which lets the parts of a file be checked to meet end to end: a split
point that was not a record boundary after all makes the file be read again
whole.
"""
from __future__ import annotations

import os
import zipfile
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


def part_size(total: int) -> int:
    """The size to cut big files of a ``total``-byte collection at: the total over ``PARTS_WANTED``, within
    [PART_MIN, PART_MAX]."""
    return min(PART_MAX, max(PART_MIN, total // PARTS_WANTED))


def shareable(sources: list[Source]) -> list[Source]:
    """The sources with absolute paths, which a worker in another directory (or on another node) can open;
    their names, which reports show, stay as the user gave them."""
    return [replace(s, path=os.path.abspath(s.path)) for s in sources]


@dataclass(frozen=True)
class ScanTask:
    """Whole files read one after the other, or one part of a big file (a single range with offsets)."""

    ranges: tuple[ScanRange, ...]

    @property
    def is_part(self) -> bool:
        return len(self.ranges) == 1 and (self.ranges[0].start != 0 or self.ranges[0].end is not None)


def plan(sources: list[Source], part: int | None = None) -> list[ScanTask]:
    """The tasks: a ``.warc.gz`` of at least two parts cut into parts of ``part`` bytes or more, one task each;
    other files whole, consecutive ones grouped until a group holds ``part`` bytes."""
    sizes = [_size(s) for s in sources]  # a WACZ member's size means opening the package: once each
    part = part or part_size(sum(sizes))
    tasks: list[ScanTask] = []
    group: list[ScanRange] = []
    group_size = 0
    for number, (source, size) in enumerate(zip(shareable(sources), sizes)):
        points = split_points(source, size // part) if size >= 2 * part else [0]
        if len(points) == 1:
            group.append(ScanRange(number, source))
            group_size += size
            if group_size >= part:
                tasks.append(ScanTask(tuple(group)))
                group, group_size = [], 0
            continue
        if group:
            tasks.append(ScanTask(tuple(group)))
            group, group_size = [], 0
        tasks.extend(ScanTask((ScanRange(number, source, start, end),))
                     for start, end in zip(points, [*points[1:], None]))
    if group:
        tasks.append(ScanTask(tuple(group)))
    return tasks


def _size(source: Source) -> int:
    """The bytes a task reads: a file's size, a WACZ member's uncompressed size (0 when unreadable)."""
    if not source.members:
        return os.path.getsize(source.path) if os.path.isfile(source.path) else 0
    try:
        with replace(source, members=source.members[:-1]).open() as outer, zipfile.ZipFile(outer) as package:
            return package.getinfo(source.members[-1]).file_size
    except (OSError, zipfile.BadZipFile, KeyError):
        return 0  # read anyway: the reader reports why it cannot be


def record_end(info: RecordInfo) -> int | None:
    """Where a record read ends, for :func:`scan_in_order`'s check (None after damage)."""
    return None if info.rec_type == "problem" or info.length is None else info.offset + info.length


def scan_in_order(executor: Executor, task: Callable, tasks: list[ScanTask], args: tuple = (), *,
                  what: str = "scan") -> Iterator:
    """``task(range, *args) -> (partial, reach)`` over every range; partials yielded in collection order.

    A group of whole files is merged where it was read (``partial.merge``).
    ``reach`` is where a part's last record ended (``record_end``), or None
    after damage (the next part then reads on from its own start). When a
    part ends anywhere but where the next begins, that file's partials are
    dropped and the file is read again whole.
    """
    parts: list[tuple[ScanRange, object, int | None]] = []
    for scan_task, (partial, reach) in zip(tasks, map_in_order(executor, _read_task, [(task, t, args) for t in tasks],
                                                                what=what)):
        if not scan_task.is_part:
            yield partial
            continue
        (scan_range,) = scan_task.ranges
        parts.append((scan_range, partial, reach))
        if scan_range.end is not None:
            continue  # more parts of this file follow
        if not all(reach is None or reach == part.end for part, _, reach in parts[:-1]):
            whole = ScanTask((ScanRange(scan_range.number, scan_range.source),))
            ((partial, _),) = map_in_order(executor, _read_task, [(task, whole, args)], what=f"{what} again")
            parts = [(whole.ranges[0], partial, None)]
        for _, partial, _ in parts:
            yield partial
        parts = []


def _read_task(task: Callable, scan_task: ScanTask, args: tuple):
    """One task where it runs: its ranges read in order and merged, and the last one's reach."""
    partial, reach = task(scan_task.ranges[0], *args)
    for scan_range in scan_task.ranges[1:]:
        more, reach = task(scan_range, *args)
        partial.merge(more)
    return partial, reach
