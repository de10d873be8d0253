"""Deduplication: which fetched answer is written as a response and which as a revisit.

Two parts. ``DedupIndex`` keeps the tables, in the crawl's ``dedup.sqlite3``
(or any SQLite file):

- ``dedup_digest``: payload digest -> the first record that holds that payload
  (URI, WARC-Date, record id). A later identical payload, in this crawl or a
  later one, is written as an identical-payload-digest revisit pointing there.
- ``dedup_previous``: URL -> its validators (ETag, Last-Modified), payload
  digest, and the record holding its payload. The next run sends conditional
  requests from it and writes a 304 as a server-not-modified revisit of that
  record.
- ``dedup_pending``: originals announced but not yet known to be on disk
  (see below).

``Deduplicator`` decides, per fetched answer, and has the ``WarcWriter`` write
the record it chose; the writer itself only writes. A 304 to a conditional
request becomes a server-not-modified revisit of the previous capture; a
payload the index holds becomes an identical-payload revisit; anything else is
a response and, unless its payload was cut (``WARC-Truncated``) or empty,
becomes the original of later copies. The decision is atomic per payload
digest: two identical payloads written at once give one response and one
revisit.

Crash safety. The crawl marks a URL done only after its record is written, so
after ``kill -9`` a URL whose response is already in the WARC is fetched
again, and must become a revisit of that response. So a new original is
written ahead: its digest, URI, date and record id go into ``dedup_digest``
(and its record id into ``dedup_pending``) *before* the record is written,
and leave ``dedup_pending`` once the write returned. On the next start,
``settle()`` looks for each still-pending record in the WARC files written
since it was announced: found, it stays the original; not found (the process
died before or during the write, and recovery cut it), it is forgotten.
Written the other way round (write, then remember) a kill between the two
left a response nobody knew about, and its URL was stored in full twice.

Public API::

    index = DedupIndex(path_or_connection, deferred=False)  # creates the tables if needed
    index.commit()                                 # deferred: end the open transaction
    index.lookup(digest) -> Original | None
    index.remember(digest, url, date, record_id)  # first writer wins
    index.previous(url) -> Previous | None         # .conditional_headers() -> dict
    index.settle(warc_files) -> int                # after a crash: forget originals never written
    index.forget(urls)                # records of these URLs were cut by recovery
    index.import_state(previous_db)   # carry the tables over from a previous crawl's database
    index.import_warcs(paths)         # or rebuild them from a previous crawl's WARC files
    index.close()

    dedup = Deduplicator(index, writer)
    ref = dedup.write(result, previous=None, metadata=None) -> RecordRef

Every method is thread-safe (one connection behind a lock); writes are
committed at once (WAL, no fsync per commit), so the tables survive kill -9
with the rest of the state.  A crawl opens its index ``deferred``: the
bookkeeping after a write (``written``, ``remember_capture``) then joins one
transaction that ``commit()`` ends, which the crawl calls once a second after
its WARC fsync, before it commits the frontier (one commit per new payload, its
announcement, instead of three).  A kill before that commit loses only
bookkeeping the next start redoes: ``settle`` finds the written originals
still pending, and the frontier, committed later, fetches those URLs again.
"""
from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from fastwarc.warc import WarcRecordType

from archiver.capture.incremental import readonly_uri
from archiver.capture.warcwriter import SERVER_NOT_MODIFIED, RecordRef, WarcWriter, new_record_id, warc_date

if TYPE_CHECKING:
    from archiver.capture.fetch import FetchResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_digest (
    digest TEXT PRIMARY KEY, url TEXT NOT NULL, date TEXT NOT NULL, record_id TEXT);
CREATE TABLE IF NOT EXISTS dedup_previous (
    url TEXT PRIMARY KEY, status INTEGER, etag TEXT, last_modified TEXT, digest TEXT,
    ref_url TEXT, ref_date TEXT, ref_record_id TEXT);
CREATE TABLE IF NOT EXISTS dedup_pending (record_id TEXT PRIMARY KEY, announced REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_runs (started TEXT NOT NULL);
"""
# a file's mtime comes from the kernel's coarse clock, a little behind time.time()
MTIME_SLACK = 2.0


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
    """The dedup tables behind one lock (see the module docstring)."""

    def __init__(self, db: str | Path | sqlite3.Connection, *, deferred: bool = False):
        self._deferred = deferred
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
            # records of the run before this one are the only ones recovery can have cut
            self._last_run_started = self.db.execute("SELECT MAX(started) FROM dedup_runs").fetchone()[0]
            self.db.execute("INSERT INTO dedup_runs VALUES (?)", (warc_date(datetime.now(timezone.utc)),))

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

    def announce(self, digest: str, url: str, date: str, record_id: str) -> None:
        """``record_id`` is about to be written as the original of ``digest`` (pending until
        ``written``; ``settle`` decides after a crash)."""
        with self._lock, self._transaction():
            self.db.execute("INSERT OR IGNORE INTO dedup_digest VALUES (?, ?, ?, ?)", (digest, url, date, record_id))
            self.db.execute("INSERT OR REPLACE INTO dedup_pending VALUES (?, ?)", (record_id, time.time()))

    def written(self, record_id: str) -> None:
        """The announced record is on disk."""
        with self._lock:
            self._defer()
            self.db.execute("DELETE FROM dedup_pending WHERE record_id=?", (record_id,))

    def withdraw(self, record_ids: Iterable[str]) -> None:
        """These announced records were never written: refer to them no more."""
        with self._lock, self._transaction():
            for record_id in record_ids:
                self.db.execute("DELETE FROM dedup_digest WHERE record_id=?", (record_id,))
                self.db.execute("DELETE FROM dedup_previous WHERE ref_record_id=?", (record_id,))
                self.db.execute("DELETE FROM dedup_pending WHERE record_id=?", (record_id,))

    def settle(self, warc_files: Iterable[str | Path]) -> int:
        """After a crash: keep each pending original found in ``warc_files`` (only files written
        to since it was announced are read), withdraw the others; returns how many were withdrawn."""
        with self._lock:
            pending = dict(self.db.execute("SELECT record_id, announced FROM dedup_pending").fetchall())
        if not pending:
            return 0
        since = min(pending.values()) - MTIME_SLACK
        candidates = sorted((Path(p) for p in warc_files if _modified(Path(p)) >= since), reverse=True)
        missing = set(pending)
        for path in candidates:  # newest first: that is where a crash leaves them
            missing -= _record_ids(path, missing)
            if not missing:
                break
        self.withdraw(missing)
        with self._lock:
            self.db.execute("DELETE FROM dedup_pending")
        return len(missing)

    def previous(self, url: str) -> Previous | None:
        with self._lock:
            row = self.db.execute(
                "SELECT ref_url, ref_date, ref_record_id, digest, etag, last_modified, status "
                "FROM dedup_previous WHERE url=?", (url,)).fetchone()
        return Previous(*row) if row and row[0] else None

    def remember_capture(self, result: "FetchResult", ref: RecordRef,
                         original: "Original | Previous | None" = None, digest: str | None = None) -> None:
        """Note a written capture of ``result.url`` for the next run. ``original`` is
        the record holding the payload when ``ref`` is a revisit (a 304 may omit
        validators; then the previous ones are kept)."""
        holder = original or Original(result.url, ref.date, ref.record_id)
        etag = result.header("etag") or getattr(original, "etag", None)
        last_modified = result.header("last-modified") or getattr(original, "last_modified", None)
        status = getattr(original, "status", None) if result.status == 304 else result.status
        with self._lock:
            self._defer()
            self.db.execute("INSERT OR REPLACE INTO dedup_previous VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (result.url, status, etag, last_modified, digest or result.payload_digest,
                             holder.url, holder.date, holder.record_id))

    def forget(self, urls: Iterable[str]) -> None:
        """Records of ``urls`` were cut by crash recovery: a later identical payload is then
        written as a response, never as a revisit of a record that is gone.  Only records
        of the last run can have been cut, so an earlier run's record of the same URL (which
        the cut one was a revisit of) stays the original."""
        since = self._last_run_started or ""
        with self._lock, self._transaction():
            for url in urls:
                self.db.execute("DELETE FROM dedup_digest WHERE url=? AND date>=?", (url, since))
                self.db.execute("DELETE FROM dedup_previous WHERE ref_url=? AND ref_date>=?", (url, since))

    def import_state(self, previous_db: str | Path) -> int:
        """Copy both tables from a previous crawl's SQLite file (missing tables: nothing),
        read-only: nothing is written in the previous crawl's folder.  Originals that crawl
        announced but never settled (it was killed and not resumed) are left out."""
        with self._lock, tempfile.TemporaryDirectory(prefix="archiver-previous-") as scratch:
            self._end_deferred()  # no ATTACH inside a transaction
            self.db.execute("ATTACH DATABASE ? AS prev", (readonly_uri(Path(previous_db), Path(scratch)),))
            try:
                tables = {r[0] for r in self.db.execute("SELECT name FROM prev.sqlite_master WHERE type='table'")}
                unsettled = "SELECT record_id FROM prev.dedup_pending" if "dedup_pending" in tables else "SELECT NULL"
                n = 0
                if "dedup_digest" in tables:
                    n += self.db.execute(
                        "INSERT OR IGNORE INTO dedup_digest SELECT * FROM prev.dedup_digest "
                        f"WHERE record_id IS NULL OR record_id NOT IN ({unsettled})").rowcount
                if "dedup_previous" in tables:
                    n += self.db.execute(
                        "INSERT OR IGNORE INTO dedup_previous SELECT * FROM prev.dedup_previous "
                        f"WHERE ref_record_id IS NULL OR ref_record_id NOT IN ({unsettled})").rowcount
            finally:
                self.db.execute("DETACH DATABASE prev")
        return n

    def import_warcs(self, paths: Iterable[str | Path]) -> int:
        """Rebuild both tables from WARC files (response and revisit records)."""
        # imported here: warcio (and the fsspec and asyncio it loads) is ~80 ms of CPU at the start of
        # every crawl, and only a re-crawl of an archive written by another tool reads it
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

    def _defer(self) -> None:
        """In deferred mode, open the transaction the next ``commit()`` ends (the caller
        holds the lock); otherwise the statement commits by itself."""
        if self._deferred and not self.db.in_transaction:
            self.db.execute("BEGIN")

    def commit(self) -> None:
        """End the deferred transaction (nothing to do when none is open)."""
        with self._lock:
            self._end_deferred()

    def _end_deferred(self) -> None:
        if self.db.in_transaction:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                with suppress(sqlite3.Error):  # a full disk: what was deferred is redone on resume
                    self.db.execute("ROLLBACK")
                raise

    @contextmanager
    def _transaction(self):
        """One transaction on the (autocommit) connection, which also commits what was
        deferred; the caller holds the lock."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.commit()
        if self._owned:
            self.db.close()


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")  # gone: it holds nothing


def _record_ids(path: Path, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` are the record ids of response records in the WARC file ``path``."""
    found = set()
    try:
        with open(path, "rb") as fh:
            for record in FastArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=False):
                if record.record_id in wanted:
                    found.add(record.record_id)
                    if found == wanted:
                        break
    except OSError:
        pass  # unreadable: its records count as missing, so nothing refers to them
    return found


class Deduplicator:
    """Decides response or revisit for each fetched answer and has ``writer`` write it."""

    def __init__(self, index: DedupIndex, writer: WarcWriter):
        self.index = index
        self.writer = writer
        self.locks = KeyLocks()  # one decision per payload digest at a time

    def write(self, result: "FetchResult", previous: Previous | None = None,
              metadata: dict | None = None) -> RecordRef:
        """Write one fetch: a 304 to a conditional request as a server-not-modified revisit
        of ``previous``; a payload the index holds as an identical-payload revisit; anything
        else as a response, which becomes the original of later copies unless its payload
        was cut or empty."""
        if result.status == 304 and previous is not None:
            ref = self.writer.write_revisit(result, previous.url, previous.date, refers_to_id=previous.record_id,
                                            profile=SERVER_NOT_MODIFIED, payload_digest=previous.digest,
                                            metadata=metadata)
            self.index.remember_capture(result, ref, original=previous, digest=previous.digest)
            return ref
        if result.truncated is not None:  # a cut payload is never anyone's original
            return self.writer.write_response(result, metadata=metadata)
        original = None
        if result.body_length <= 0 or not result.payload_digest:
            ref = self.writer.write_response(result, metadata=metadata)
        else:
            with self.locks.held(result.payload_digest):
                original = self.index.lookup(result.payload_digest)
                if original is not None:
                    ref = self.writer.write_revisit(result, original.url, original.date,
                                                    refers_to_id=original.record_id, metadata=metadata)
                else:
                    ref = self._write_original(result, metadata)
        self.index.remember_capture(result, ref, original=original)
        return ref

    def _write_original(self, result: "FetchResult", metadata: dict | None) -> RecordRef:
        record_id = new_record_id()
        self.index.announce(result.payload_digest, result.url, warc_date(result.date), record_id)
        try:
            ref = self.writer.write_response(result, metadata=metadata, record_id=record_id)
        except BaseException:
            with suppress(sqlite3.Error):  # else the next start's settle() withdraws it
                self.index.withdraw([record_id])
            raise
        self.index.written(record_id)
        return ref


class KeyLocks:
    """Mutual exclusion per key (a payload digest), without a lock object per key ever seen."""

    def __init__(self):
        self._busy: set[str] = set()
        self._waiting: Counter[str] = Counter()
        self._changed = threading.Condition()

    def waiting(self, key: str) -> int:
        """How many threads wait for ``key`` (what a test needs to prove the exclusion)."""
        with self._changed:
            return self._waiting[key]

    @contextmanager
    def held(self, key: str):
        with self._changed:
            while key in self._busy:
                self._waiting[key] += 1
                self._changed.wait()
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]
            self._busy.add(key)
        try:
            yield
        finally:
            with self._changed:
                self._busy.discard(key)
                self._changed.notify_all()
