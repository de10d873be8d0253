"""Where the originals of a re-crawl's revisit records live.

An incremental run stores unchanged pages as revisit records whose payload
is in an earlier run's WARC. Reading the run (detect, map, audit) therefore
needs those earlier WARC files too, and retention must not delete a run that
still holds originals. A crawl's revisits are listed by its ``crawl.jsonl``
(record type, WARC file, offset); each revisit's header names its payload
digest and the original's URI and date. Earlier crawls' full records are
found in their ``index.cdxj`` (digest, URL, timestamp, file) without reading
their WARC files. ``originals_beside`` does the same for inputs given by
hand (``archiver audit OUT/<name>/latest``), finding the earlier runs from
the job's layout, and names the crawl to add when none holds them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Iterator

from archiver.audit.expected import crawls_in
from archiver.jobs.history import JobHistory

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
    from warcio.archiveiterator import ArchiveIterator

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


def _search(wanted: set[Ref], earlier: Iterable[Path]) -> tuple[list[Path], set[Ref]]:
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
    return _search(revisit_refs(crawl_dir) if needed is None else needed, earlier)[0]


def earlier_crawls(crawl_dir: Path) -> list[Path]:
    """The same site's crawls in the job's earlier runs (``OUT/<name>/runs/<run>/<side>``), oldest first."""
    crawl_dir = Path(crawl_dir).resolve()
    run_dir = crawl_dir.parent
    if run_dir.parent.name != "runs":
        return []
    runs = [r.resolve() for r in JobHistory(run_dir.parent.parent).runs()]
    if run_dir not in runs:
        return []
    return [r / crawl_dir.name for r in runs[: runs.index(run_dir)] if (r / crawl_dir.name).is_dir()]


def originals_beside(inputs: Iterable) -> tuple[list[Path], list[str]]:
    """Earlier runs' WARC files that the inputs' revisits need, and a note per crawl whose originals are
    nowhere to be found, naming the earlier run to add.

    This is what a job does for its own audit, for someone auditing
    ``OUT/<name>/latest`` (or one of its crawls) by hand.
    """
    inputs = [Path(p) for p in inputs]
    given = {p.resolve() for p in inputs}
    crawls = list(dict.fromkeys(c.resolve() for p in inputs for c in crawls_in(p)))
    files: list[Path] = []
    notes: list[str] = []
    for crawl_dir in crawls:
        wanted = revisit_refs(crawl_dir)
        if not wanted:
            continue
        # the other crawls given may hold originals too (searched first: they are read anyway)
        found, missing = _search(wanted, [*earlier_crawls(crawl_dir), *(c for c in crawls if c != crawl_dir)])
        files += [f for f in found if f not in files and not any(g == f or g in f.parents for g in given)]
        if missing:
            dates = sorted({ref[1].rsplit(" ", 1)[-1] for ref in missing if ref[0] == "capture"})
            when = f" (recorded {dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''})" if dates else ""
            notes.append(f"{crawl_dir}: {len(missing)} revisit records point at originals in an earlier crawl{when} "
                         "that is not among the inputs; add that crawl's directory (the --previous of this crawl, "
                         "or for a job OUT/<name>/runs/<earlier run>/" + crawl_dir.name + ")")
    return files, notes
