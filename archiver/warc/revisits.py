"""Revisit records resolved to their originals' content, in one pass over the collection.

A revisit holds only headers; its content is an earlier record's, found by
record id (WARC-Refers-To), by URL and date (WARC-Refers-To-Target-URI/-Date),
by payload digest (Heritrix writes nothing else), or for a server-not-modified
revisit by URL. :class:`RevisitIndex` keeps those keys of every original seen
(small values, never bodies). ``iter_captures`` reads every source once: a
revisit whose original was read shortly before is resolved from a bounded
cache of recent bodies; the others wait until the pass is done, and then each
original still needed is read once, sources in order and offsets ascending,
however many revisits share it.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict, defaultdict
from dataclasses import replace
from typing import Iterable, Iterator, NamedTuple

from archiver.types import Capture
from archiver.urls import lookup_key
from archiver.warc.inputs import Source, expand_inputs
from archiver.warc.reader import read_source
from archiver.warc.records import MAX_BODY, SEVERITY, Entry, RecordInfo

log = logging.getLogger(__name__)

CACHE_BYTES = 64 * 1024 * 1024  # bodies of recent originals kept to resolve revisits at once


class Original(NamedTuple):
    """Where an original record is: source number, offset, records before it in its gzip member, status."""

    source: int
    offset: int
    index: int
    status: int | None


class RevisitIndex:
    """Where each original lives, to resolve revisits: by record id, (URL, date), payload digest, URL."""

    def __init__(self) -> None:
        self.by_id: dict[str, Original] = {}
        self.by_url_date: dict[tuple[str, str], Original] = {}
        self.by_digest: dict[str, Original] = {}
        self.by_url: dict[str, Original] = {}

    def add(self, info: RecordInfo, source_no: int) -> Original | None:
        """Index an original (any status: crawlers dedup identical 404 pages too); where it is, if indexed."""
        if info.rec_type not in ("response", "resource") or info.truncated:
            return None
        where = Original(source_no, info.offset, info.index, info.status)
        if info.record_id:
            self.by_id[info.record_id] = where
        key = lookup_key(info.url)
        self.by_url_date[(key, info.date)] = where
        if info.status is None or 200 <= info.status < 300:
            self.by_url[key] = where  # a not-modified answer stands for the last good copy
        digest = info.payload_digest or info.computed_payload_digest
        if digest:
            self.by_digest.setdefault(digest_key(digest), where)
        return where

    def find(self, info: RecordInfo) -> Original | None:
        """Where the revisit's original is, or None."""
        if info.refers_to and info.refers_to in self.by_id:
            return self.by_id[info.refers_to]
        if info.refers_to_uri and info.refers_to_date:
            hit = self.by_url_date.get((lookup_key(info.refers_to_uri), info.refers_to_date))
            if hit:
                return hit
        if info.payload_digest:
            hit = self.by_digest.get(digest_key(info.payload_digest))
            if hit:
                return hit
        if info.profile and "server-not-modified" in info.profile:
            return self.by_url.get(lookup_key(info.refers_to_uri or info.url))
        return None

    def update(self, other: "RevisitIndex") -> None:
        """Take in another part's originals, as if read after these (the first digest seen stays)."""
        self.by_id.update(other.by_id)
        self.by_url_date.update(other.by_url_date)
        self.by_url.update(other.by_url)
        for digest, where in other.by_digest.items():
            self.by_digest.setdefault(digest, where)


def digest_key(digest: str) -> str:
    algo, _, value = digest.strip().partition(":")
    return f"{algo.lower().replace('-', '')}:{value.upper()}"


def resolve(revisit: Capture, info: RecordInfo, original: Capture) -> Capture:
    """The revisit with its original's content (and status and headers, for a not-modified one)."""
    not_modified = revisit.status == 304 or "server-not-modified" in (info.profile or "")
    use_original_headers = not_modified or not revisit.headers
    return replace(
        revisit,
        status=original.status if use_original_headers else revisit.status,
        headers=original.headers if use_original_headers else revisit.headers,
        body=original.body,
        body_capped=original.body_capped,
        revisit_of=(original.url, original.date),
        payload_digest=revisit.payload_digest or original.payload_digest,
    )


class _BodyCache:
    """Recent originals' captures, least recently used dropped first past a byte budget."""

    def __init__(self, budget: int):
        self.budget, self.size = budget, 0
        self.items: OrderedDict[tuple[int, int, int], Capture] = OrderedDict()

    def put(self, key: tuple[int, int, int], capture: Capture) -> None:
        if len(capture.body) > self.budget // 4:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self.items[key] = capture
        self.size += len(capture.body)
        while self.size > self.budget:
            _, dropped = self.items.popitem(last=False)
            self.size -= len(dropped.body)

    def get(self, key: tuple[int, int, int]) -> Capture | None:
        capture = self.items.get(key)
        if capture is not None:
            self.items.move_to_end(key)
        return capture


def read_capture_at(source: Source, offset: int, index: int = 0, *, max_body: int = MAX_BODY) -> Capture | None:
    """The capture stored at ``offset`` of ``source`` (``index`` records into its gzip member), or None."""
    for count, entry in enumerate(read_source(source, max_body=max_body, start=offset, limit=index + 1)):
        if count == index:
            return entry.capture if entry.info.offset == offset else None
    return None


def read_originals(source: Source, wanted: set[tuple[int, int]], max_body: int = MAX_BODY) -> Iterator[Entry]:
    """The records of ``source`` at the wanted (offset, index) places, each read once, offsets ascending.
    Seeks between them where the source can seek cheaply (a file, a stored member); else one forward pass."""
    if source.members and not _cheap_seek(source):
        yield from (e for e in read_source(source, max_body=max_body,
                                           want_body=None) if (e.info.offset, e.info.index) in wanted)
        return
    by_offset: dict[int, int] = defaultdict(int)
    for offset, index in wanted:
        by_offset[offset] = max(by_offset[offset], index)
    for offset in sorted(by_offset):
        for entry in read_source(source, max_body=max_body, start=offset, limit=by_offset[offset] + 1):
            if entry.info.offset == offset and (offset, entry.info.index) in wanted:
                yield entry


def _cheap_seek(source: Source) -> bool:
    try:
        with source.open() as stream:
            return type(stream).__name__ == "Window"
    except Exception:
        return False


def iter_captures(paths: Iterable | str | os.PathLike, *, max_body: int = MAX_BODY,
                  include_revisits: bool = True) -> Iterator[Capture]:
    """HTTP captures of every input, revisits resolved; damage is logged and read past.

    A revisit whose original is not in the collection is yielded with an empty
    body and ``revisit_of=None`` when ``include_revisits`` is true.
    """
    sources = expand_inputs(paths)
    index = RevisitIndex()
    cache = _BodyCache(CACHE_BYTES)
    waiting: list[tuple[Capture, RecordInfo]] = []
    for number, source in enumerate(sources):
        for entry in read_source(source, max_body=max_body):
            info = entry.info
            _log_problems(info)
            capture = entry.capture
            if capture is None:
                continue
            if info.rec_type == "revisit":
                if not include_revisits:
                    continue
                where = index.find(info)
                original = cache.get(where[:3]) if where is not None else None
                if original is not None:
                    yield resolve(capture, info, original)
                else:
                    waiting.append((capture, info))
                continue
            if not any(SEVERITY.get(kind) == "error" for kind, _ in info.problems):  # damage is no original
                where = index.add(info, number)
                if where is not None:
                    cache.put(where[:3], capture)
            yield capture
    yield from _resolve_waiting(waiting, index, sources, max_body)


def _resolve_waiting(waiting: list[tuple[Capture, RecordInfo]], index: RevisitIndex, sources: list[Source],
                     max_body: int) -> Iterator[Capture]:
    """Revisits not resolved during the pass: each original they need read once, then each revisit yielded."""
    needs: dict[tuple[int, int, int], list[tuple[Capture, RecordInfo]]] = defaultdict(list)
    for capture, info in waiting:
        where = index.find(info)
        if where is None:
            log.info("%s at offset %d: revisit of %s, original not in the collection", info.file, info.offset,
                     info.refers_to_uri or info.url)
            yield capture
        else:
            needs[where[:3]].append((capture, info))
    by_source: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for source_no, offset, member_index in needs:
        by_source[source_no].add((offset, member_index))
    for source_no in sorted(by_source):
        for entry in read_originals(sources[source_no], by_source[source_no], max_body):
            key = (source_no, entry.info.offset, entry.info.index)
            for capture, info in needs.pop(key, ()):
                yield resolve(capture, info, entry.capture) if entry.capture is not None else capture
    for revisits in needs.values():  # an original that could not be read again
        yield from (capture for capture, _ in revisits)


def _log_problems(info: RecordInfo) -> None:
    for kind, detail in info.problems:
        if SEVERITY.get(kind, "error") != "note":
            log.warning("%s at offset %d%s: %s", info.file, info.offset, f" ({info.url})" if info.url else "",
                        detail)
