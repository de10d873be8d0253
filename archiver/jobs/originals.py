"""Where the originals of a re-crawl's revisit records live.

An incremental run stores unchanged pages as revisit records whose payload
is in an earlier run's WARC. Reading the run (detect, map) therefore needs
those earlier WARC files too, and retention must not delete a run that still
holds originals. Both are answered from the crawls' ``index.cdxj``
(payload digest, record kind, file), without reading any WARC.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator


def _index_records(crawl_dir: Path) -> Iterator[tuple[str, bool, str]]:
    """(payload digest, is revisit, WARC file path relative to the crawl) per record."""
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
            digest, filename = fields.get("digest"), fields.get("filename")
            if digest and filename and fields.get("method", "GET") == "GET":
                yield digest, fields.get("mime") == "warc/revisit", filename


def revisited_digests(crawl_dir: Path) -> set[str]:
    """Payload digests this crawl stored only as revisits."""
    full, revisits = set(), set()
    for digest, is_revisit, _ in _index_records(crawl_dir):
        (revisits if is_revisit else full).add(digest)
    return revisits - full


def original_files(crawl_dir: Path, earlier: Iterable[Path]) -> list[Path]:
    """WARC files of ``earlier`` crawls (oldest first) holding this crawl's revisited payloads."""
    wanted = revisited_digests(crawl_dir)
    found: list[Path] = []
    for previous in reversed(list(earlier)):  # the newest original wins
        if not wanted:
            break
        hits, files = set(), set()
        for digest, is_revisit, filename in _index_records(previous):
            if not is_revisit and digest in wanted:
                hits.add(digest)
                files.add(previous / filename)
        wanted -= hits
        found[:0] = sorted(files)
    return found
