"""Where the originals of a re-crawl's revisit records live.

An incremental run stores unchanged pages as revisit records whose payload
is in an earlier run's WARC. Reading the run (detect, map, audit) therefore
needs those earlier WARC files too, and retention must not delete a run that
still holds originals. A crawl's revisits are listed by its ``crawl.jsonl``
(record type, WARC file, offset); each revisit's header names its payload
digest and the original's URI and date. Earlier crawls' full records are
found in their ``index.cdxj`` (digest, URL, timestamp, file) without reading
their WARC files; ``CrawlCaptures`` reads a crawl together with them (detect,
map, verify). (``history.originals_beside`` does the same for inputs given by
hand, ``archiver audit OUT/<name>/latest``.)
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Iterator

from warcio.archiveiterator import ArchiveIterator

from archiver.types import Capture
from archiver.warc import iter_captures

Ref = tuple[str, str]  # ("digest", value) or ("capture", "URL 14-digit-timestamp")


def index_records(crawl_dir: Path) -> Iterator[dict]:
    """The JSON fields (plus ``timestamp``) of a crawl's index.cdxj lines for GET captures."""
    index = crawl_dir / "index.cdxj"
    if not index.is_file():
        return
    with index.open(encoding="utf-8") as lines:
        for line in lines:
            parts = line.split(" ", 2)
            if len(parts) < 3:
                continue
            try:
                fields = json.loads(parts[2])
            except ValueError:
                continue
            if fields.get("filename") and fields.get("method", "GET") == "GET":
                fields["timestamp"] = parts[1]
                yield fields


def _full_record_refs(fields: dict) -> list[Ref]:
    if fields.get("mime") == "warc/revisit":
        return []
    refs = [("capture", f"{fields.get('url')} {fields['timestamp']}")]
    if fields.get("digest"):
        refs.append(("digest", fields["digest"]))
    return refs


def _timestamp14(iso_date: str) -> str:
    return re.sub(r"\D", "", iso_date or "")[:14]


def _revisit_headers(crawl_dir: Path) -> Iterator[dict]:
    """Header fields of every revisit record the crawl log points at (each WARC opened once)."""
    log = crawl_dir / "crawl.jsonl"
    if not log.is_file():
        return
    by_file: dict[str, list[int]] = {}
    with log.open(encoding="utf-8") as lines:
        for line in lines:
            if '"revisit"' not in line:
                continue
            entry = json.loads(line)
            if entry.get("record_type") == "revisit" and entry.get("warc_file") and entry.get("warc_offset") is not None:
                by_file.setdefault(entry["warc_file"], []).append(int(entry["warc_offset"]))
    for warc_file, offsets in by_file.items():
        name = Path(warc_file).name
        warc = next((p for p in (crawl_dir / "warc" / name, crawl_dir / warc_file) if p.is_file()), None)
        if warc is None:
            continue
        with warc.open("rb") as stream:
            for offset in sorted(offsets):
                try:
                    stream.seek(offset)
                    record = next(iter(ArchiveIterator(stream)), None)
                except (OSError, ValueError):
                    continue
                if record is not None and record.rec_type == "revisit":
                    yield dict(record.rec_headers.headers)


def revisit_refs(crawl_dir: Path) -> set[Ref]:
    """What this crawl's revisits need from earlier crawls (not held in full by the crawl itself)."""
    own: set[Ref] = set()
    for fields in index_records(crawl_dir):
        own.update(_full_record_refs(fields))
    needed: set[Ref] = set()
    for headers in _revisit_headers(crawl_dir):
        digest = headers.get("WARC-Payload-Digest")
        if digest:
            needed.add(("digest", digest))
        elif headers.get("WARC-Refers-To-Target-URI"):
            needed.add(("capture", f"{headers['WARC-Refers-To-Target-URI']} {_timestamp14(headers.get('WARC-Refers-To-Date', ''))}"))
    return needed - own


def find_originals(wanted: set[Ref], earlier: Iterable[Path]) -> tuple[list[Path], set[Ref]]:
    """(WARC files of ``earlier`` crawls holding ``wanted``, oldest first; what none of them holds)."""
    wanted = set(wanted)
    found: list[Path] = []
    for previous in reversed(list(earlier)):  # the newest original wins
        if not wanted:
            break
        hits, files = set(), set()
        for fields in index_records(previous):
            matched = wanted.intersection(_full_record_refs(fields))
            if matched:
                hits |= matched
                files.add(previous / fields["filename"])
        wanted -= hits
        found[:0] = sorted(files)
    return found, wanted


def original_files(crawl_dir: Path, earlier: Iterable[Path], *, needed: set[Ref] | None = None) -> list[Path]:
    """WARC files of ``earlier`` crawls (oldest first) holding this crawl's revisited payloads."""
    return find_originals(revisit_refs(crawl_dir) if needed is None else needed, earlier)[0]


class CrawlCaptures:
    """Re-iterable captures of one crawl (each pass re-reads its WARCs).

    ``originals`` are earlier runs' WARC files that hold the payloads of this
    crawl's revisit records: read first so revisits resolve to full bodies,
    but their own captures are not yielded (they belong to earlier runs).
    """

    def __init__(self, crawl_dir: Path | str, originals=()):
        self.crawl_dir = Path(crawl_dir).absolute()
        self.originals = [str(Path(p).absolute()) for p in originals]

    def __iter__(self) -> Iterator[Capture]:
        own = str(self.crawl_dir) + "/"
        for capture in iter_captures([*self.originals, str(self.crawl_dir)]):
            if capture.file.startswith(own):
                yield capture
