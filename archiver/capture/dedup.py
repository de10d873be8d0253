"""Deduplication and incremental re-crawl state, in SQLite.

Two tables, kept in the crawl's state database (or any SQLite file):

- ``dedup_digest``: payload digest -> the first record that holds that payload
  (URI, WARC-Date, record id). A later identical payload, in this crawl or a
  later one, is written as an identical-payload-digest revisit pointing there.
- ``dedup_previous``: URL -> its validators (ETag, Last-Modified), payload
  digest, and the record holding its payload. The next run sends conditional
  requests from it and writes a 304 as a server-not-modified revisit of that
  record.

Public API::

    index = DedupIndex(path_or_connection)       # creates the tables if needed
    index.lookup(digest) -> Original(url, date, record_id) | None
    index.remember(digest, url, date, record_id)  # first writer wins
    index.previous(url) -> Previous | None         # .conditional_headers() -> dict
    index.remember_capture(result, ref, original=None)  # after each write (write_capture does it)
    index.import_state(previous_db)   # carry both tables over from a previous crawl's state DB
    index.import_warcs(paths)         # or rebuild them from a previous crawl's WARC files
    index.forget(urls)                # records of these URLs are gone (cut by recovery): refer to them no more
    index.close()

All methods are thread-safe (one connection behind a lock); writes are
committed at once, so the tables survive kill -9 with the rest of the state.
"""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from .fetch import FetchResult
    from .warcwriter import RecordRef

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_digest (
    digest TEXT PRIMARY KEY, url TEXT NOT NULL, date TEXT NOT NULL, record_id TEXT);
CREATE TABLE IF NOT EXISTS dedup_previous (
    url TEXT PRIMARY KEY, status INTEGER, etag TEXT, last_modified TEXT, digest TEXT,
    ref_url TEXT, ref_date TEXT, ref_record_id TEXT);
"""


@dataclass(frozen=True)
class Original:
    """The record that holds a payload: what a revisit refers to."""

    url: str
    date: str
    record_id: str | None = None


@dataclass(frozen=True)
class Previous:
    """What an earlier capture of a URL left for the next run."""

    url: str  # URI of the record holding the payload (WARC-Refers-To-Target-URI)
    date: str  # its WARC-Date (WARC-Refers-To-Date)
    record_id: str | None
    digest: str | None
    etag: str | None = None
    last_modified: str | None = None
    status: int | None = None

    def conditional_headers(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for a re-validating request."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class DedupIndex:
    def __init__(self, db: str | Path | sqlite3.Connection):
        if isinstance(db, sqlite3.Connection):
            self.db, self._owned = db, False
        else:
            self.db = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # survives kill -9; no fsync per insert
            self._owned = True
        self._lock = threading.Lock()
        with self._lock:
            self.db.executescript(SCHEMA)

    def lookup(self, digest: str | None) -> Original | None:
        if not digest:
            return None
        with self._lock:
            row = self.db.execute("SELECT url, date, record_id FROM dedup_digest WHERE digest=?",
                                  (digest,)).fetchone()
        return Original(*row) if row else None

    def remember(self, digest: str, url: str, date: str, record_id: str | None) -> None:
        with self._lock:
            self.db.execute("INSERT OR IGNORE INTO dedup_digest VALUES (?, ?, ?, ?)",
                            (digest, url, date, record_id))

    def previous(self, url: str) -> Previous | None:
        with self._lock:
            row = self.db.execute(
                "SELECT ref_url, ref_date, ref_record_id, digest, etag, last_modified, status "
                "FROM dedup_previous WHERE url=?", (url,)).fetchone()
        return Previous(*row) if row and row[0] else None

    def remember_capture(self, result: "FetchResult", ref: "RecordRef",
                         original: "Original | Previous | None" = None, digest: str | None = None) -> None:
        """Note a written capture of ``result.url`` for the next run. ``original`` is
        the record holding the payload when ``ref`` is a revisit (a 304 may omit
        validators; then the previous ones are kept)."""
        holder = original or Original(result.url, ref.date, ref.record_id)
        etag = result.header("etag") or getattr(original, "etag", None)
        last_modified = result.header("last-modified") or getattr(original, "last_modified", None)
        status = getattr(original, "status", None) if result.status == 304 else result.status
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO dedup_previous VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (result.url, status, etag, last_modified, digest or result.payload_digest,
                             holder.url, holder.date, holder.record_id))

    def forget(self, urls: Iterable[str]) -> None:
        """Drop what refers to records of ``urls`` (cut by crash recovery): a later identical
        payload is then written as a response, never as a revisit of a record that is gone."""
        with self._lock:
            for url in urls:
                self.db.execute("DELETE FROM dedup_digest WHERE url=?", (url,))
                self.db.execute("DELETE FROM dedup_previous WHERE ref_url=?", (url,))

    def import_state(self, previous_db: str | Path) -> int:
        """Copy both tables from a previous crawl's SQLite file (missing tables: nothing),
        read-only: nothing is written in the previous crawl's folder."""
        import tempfile

        from .incremental import readonly_uri

        with self._lock, tempfile.TemporaryDirectory(prefix="archiver-previous-") as scratch:
            self.db.execute("ATTACH DATABASE ? AS prev", (readonly_uri(Path(previous_db), Path(scratch)),))
            try:
                tables = {r[0] for r in self.db.execute("SELECT name FROM prev.sqlite_master WHERE type='table'")}
                n = 0
                if "dedup_digest" in tables:
                    n += self.db.execute("INSERT OR IGNORE INTO dedup_digest SELECT * FROM prev.dedup_digest").rowcount
                if "dedup_previous" in tables:
                    n += self.db.execute(
                        "INSERT OR IGNORE INTO dedup_previous SELECT * FROM prev.dedup_previous").rowcount
            finally:
                self.db.execute("DETACH DATABASE prev")
        return n

    def import_warcs(self, paths: Iterable[str | Path]) -> int:
        """Rebuild both tables from WARC files (response and revisit records)."""
        from warcio.archiveiterator import ArchiveIterator

        n = 0
        for path in paths:
            with open(path, "rb") as fh:
                for record in ArchiveIterator(fh, no_record_parse=False):
                    if record.rec_type not in ("response", "revisit"):
                        continue
                    h = record.rec_headers
                    url, date, rid = (h.get_header("WARC-Target-URI"), h.get_header("WARC-Date"),
                                      h.get_header("WARC-Record-ID"))
                    digest = h.get_header("WARC-Payload-Digest")
                    http = record.http_headers
                    if record.rec_type == "revisit":
                        holder = Original(h.get_header("WARC-Refers-To-Target-URI"),
                                          h.get_header("WARC-Refers-To-Date"), h.get_header("WARC-Refers-To"))
                    else:
                        holder = Original(url, date, rid)
                        if digest and record.length:
                            self.remember(digest, url, date, rid)
                    if not url or not holder.url:
                        continue
                    with self._lock:
                        self.db.execute(
                            "INSERT OR REPLACE INTO dedup_previous VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (url, int(http.get_statuscode() or 0) if http else None,
                             http.get_header("ETag") if http else None,
                             http.get_header("Last-Modified") if http else None,
                             digest, holder.url, holder.date, holder.record_id))
                    n += 1
        return n

    def close(self) -> None:
        if self._owned:
            self.db.close()
