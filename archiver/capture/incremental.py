"""Where an earlier crawl keeps each URL's payload, for incremental re-crawls.

A 304 answer to a conditional request has no body, yet the crawl must still
follow the page's links.  So every finished URL keeps a *body pointer* (the
absolute path and offset of the WARC record that holds its payload: its own
response, or for a revisit the original's), and a re-crawl reads links from
the previous crawl's record.  Pointers are carried forward run after run, so
a page unchanged for ten runs still points at the one response that holds it.
When the record is gone (runs pruned, directory moved) the caller fetches the
page again without conditions.

An earlier run's folder is only ever read: its SQLite files are opened through
``readonly_uri``, which leaves no ``-wal``/``-shm`` files beside them.
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import zlib
from pathlib import Path
from urllib.parse import quote

from archiver.urls import dedup_key


def readonly_uri(path: Path, scratch_dir: Path) -> str:
    """An SQLite URI that reads ``path`` without writing beside it (``mode=ro`` on a WAL
    database still creates ``-wal`` and ``-shm`` files and leaves them).  A cleanly closed
    database holds everything in its main file, read as ``immutable``; one whose writer was
    killed keeps committed pages in its ``-wal``, so a copy of both, checkpointed in
    ``scratch_dir``, is read instead."""
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        copy = Path(scratch_dir) / f"previous-{path.name}"
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        db = sqlite3.connect(copy)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        path = copy
    return f"file:{quote(str(path.resolve()))}?immutable=1"


class PreviousCrawl:
    """Read-only view of a previous crawl directory's state database."""

    def __init__(self, crawl_dir: Path, state_name: str = "state.sqlite3"):
        self.dir = Path(crawl_dir)
        path = self.dir / state_name
        self._lock = threading.Lock()
        self._scratch = tempfile.TemporaryDirectory(prefix="archiver-previous-")
        self.db = None
        if path.exists():
            self.db = sqlite3.connect(readonly_uri(path, Path(self._scratch.name)), uri=True,
                                      check_same_thread=False)

    def body_location(self, url: str) -> tuple[str, int] | None:
        """(WARC path, offset) of the record holding ``url``'s payload in that crawl, if known."""
        if self.db is None:
            return None
        with self._lock:
            try:
                row = self.db.execute(
                    "SELECT body_file, body_offset, warc_file, warc_offset, record_type FROM urls WHERE key=?",
                    (dedup_key(url),),
                ).fetchone()
            except sqlite3.Error:  # an older or foreign state database
                return None
        if not row:
            return None
        body_file, body_offset, warc_file, warc_offset, record_type = row
        if body_file:
            return body_file, body_offset
        if warc_file and record_type == "response":
            return str(self.dir / "warc" / warc_file), warc_offset
        return None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self._scratch.cleanup()


def read_payload(location: tuple[str, int] | None, max_bytes: int):
    """(HTTP headers, decoded entity body capped at ``max_bytes``) of the response record
    at ``location``, or None when it cannot be read (pruned, moved, damaged)."""
    if not location:
        return None
    path, offset = location
    # imported here: warcio (and the fsspec and asyncio it loads) is ~80 ms of every crawl's start,
    # and only a re-crawl whose previous payload must be compared reads it
    from warcio.archiveiterator import ArchiveIterator

    try:
        with open(path, "rb") as f:
            f.seek(offset)
            record = next(iter(ArchiveIterator(f)), None)
            if record is None or record.rec_type != "response" or record.http_headers is None:
                return None
            return list(record.http_headers.headers), record.content_stream().read(max_bytes)
    except (OSError, ValueError, EOFError, zlib.error):
        return None
