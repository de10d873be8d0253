"""The crawl frontier and every URL's outcome, on disk in SQLite (WAL mode).

One row per normalised URL key (a unique index drops duplicates cheaply), with
its status: ``queued`` -> ``inflight`` -> ``done`` | ``failed``, or
``skipped`` with a reason.  Only a small batch of queued rows is ever held in
memory, so a million-URL frontier costs disk, not RAM.

Only one thread (the engine's coordinator) touches the connection.  The
engine commits a URL as done only after its WARC record is written, so after
``kill -9`` an ``inflight`` row is simply fetched again (``resume``).
"""
from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from archiver.capture.scope import host_key, path_key
from archiver.urls import dedup_key

if TYPE_CHECKING:
    from archiver.capture.retry import Attempts

# lower runs first: robots.txt, then seeds and sitemaps, page requisites early
# (so pages replay with their images and styles), then pages breadth-first
PRIORITY_ROBOTS = -1
PRIORITY_SEED = 0
PRIORITY_REQUISITE = 1
PRIORITY_PAGE = 10

OUTCOME_COLUMNS = frozenset({
    "http_status", "error", "bytes", "warc_file", "warc_offset", "record_type", "content_type",
    "body_file", "body_offset", "warc_length", "warc_date", "payload_digest", "index_key",
})
_OUTCOME_ORDER = sorted(OUTCOME_COLUMNS)
_FINISH = (f"UPDATE urls SET status=?, attempts=attempts+?, {', '.join(f'{c}=?' for c in _OUTCOME_ORDER)}, "
           "skipped_reason=NULL, updated_at=? WHERE id=?")
RECENT_KEYS = 50_000  # a bounded cache of keys already queued, never the whole frontier

SCHEMA = """
CREATE TABLE IF NOT EXISTS urls (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,            -- seed, page, requisite, sitemap, robots
    status TEXT NOT NULL,          -- queued, inflight, done, failed, skipped
    priority INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    redirects INTEGER NOT NULL DEFAULT 0,  -- length of the redirect chain that led here
    discovered_from TEXT,
    via TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    error TEXT,
    bytes INTEGER,
    warc_file TEXT,
    warc_offset INTEGER,
    record_type TEXT,
    content_type TEXT,
    body_file TEXT,                -- WARC holding the payload (own response, or a revisit's original)
    body_offset INTEGER,
    warc_length INTEGER,           -- of the record's gzip member; with the next three, its CDXJ line
    warc_date TEXT,
    payload_digest TEXT,
    index_key TEXT,                -- SURT of the URL
    skipped_reason TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS urls_queue ON urls(priority, id) WHERE status = 'queued';
CREATE TABLE IF NOT EXISTS query_variants (path TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT NOT NULL, v TEXT);  -- origins a seed redirected to; resumes
"""
# crawllog.is_live_page in SQL: an HTML page that is there (the summary counts them apart)
LIVE_PAGE = ("kind IN ('seed', 'page') AND (http_status BETWEEN 200 AND 299 OR http_status = 304) "
              "AND (content_type LIKE '%html%')")

_ADD = """
INSERT INTO urls (key, url, host, kind, status, priority, depth, redirects, discovered_from, via,
                  skipped_reason, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(key) DO UPDATE SET
    status = 'queued', skipped_reason = NULL, kind = excluded.kind, priority = excluded.priority,
    depth = excluded.depth, discovered_from = excluded.discovered_from, via = excluded.via,
    updated_at = excluded.updated_at
WHERE urls.status = 'skipped' AND urls.skipped_reason = 'out_of_scope' AND excluded.status = 'queued'
"""


@dataclass
class Candidate:
    """A URL found somewhere, with where it came from and whether it may be fetched."""

    url: str
    kind: str = "page"
    depth: int = 0
    priority: int = PRIORITY_PAGE
    discovered_from: str | None = None
    via: str | None = None
    redirects: int = 0
    skipped_reason: str | None = None


@dataclass(frozen=True)
class Totals:
    """What the frontier holds at the end of a crawl, for its summary."""

    done: int
    failed: int
    skipped: int
    queued: int  # queued or in flight when the crawl stopped
    bytes: int
    revisits: int
    not_modified: int  # 304 answers (revisits of an earlier crawl's record)
    pages: int  # live HTML pages among the done URLs
    seeds_fetched: int  # seeds and sitemaps that got an answer
    seed_problem: str | None  # "URL: reason" of the first seed that got none


@dataclass
class Task:
    """A queued URL handed to a worker."""

    id: int
    url: str
    host: str
    kind: str
    depth: int
    redirects: int
    attempts: int  # made in earlier runs (the state's count)
    tries: "Attempts | None" = None  # this run's attempts, carried between them (``retry.py``)


class Frontier:
    def __init__(self, path: Path | str, *, max_query_variants: int = 100):
        self.path = Path(path)
        self.max_query_variants = max_query_variants
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-16000")  # 16 MB page cache, whatever the frontier size
        self.db.executescript(SCHEMA)
        self.db.execute("BEGIN")
        self._recent: OrderedDict[str, None] = OrderedDict()  # bounded: keys known to be in the table
        self.skipped_added = 0  # for the progress display

    # -- the crawl's own facts
    def site_urls(self) -> list[str]:
        """The URLs this crawl was started from (seeds, configured sitemaps) and the origins
        its seeds redirected to: which site the directory holds."""
        rows = self.db.execute(
            "SELECT url FROM urls WHERE kind IN ('seed', 'sitemap') AND discovered_from IS NULL ORDER BY id"
        ).fetchall()
        return [r[0] for r in rows] + self.extra_origins()

    def extra_origins(self) -> list[str]:
        """URLs on the origins a seed redirected to (http -> https, www): part of the site."""
        return [r[0] for r in self.db.execute("SELECT v FROM meta WHERE k='origin'")]

    def add_extra_origin(self, url: str) -> None:
        self.db.execute("INSERT INTO meta (k, v) VALUES ('origin', ?)", (url,))

    def is_empty(self) -> bool:
        return self.db.execute("SELECT 1 FROM urls LIMIT 1").fetchone() is None

    def size(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM urls").fetchone()[0]

    def note_resumed(self) -> None:
        """This run continues an earlier one (its records are not all in this state)."""
        self.db.execute("INSERT INTO meta (k, v) VALUES ('resumed', ?)", (time.time(),))

    def was_resumed(self) -> bool:
        return self.db.execute("SELECT 1 FROM meta WHERE k='resumed'").fetchone() is not None

    # -- transactions
    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.close()

    # -- adding URLs
    def add(self, candidates) -> int:
        """Insert new URLs (known keys are ignored); returns how many were queued.

        URLs with a query go one by one (each new one counts against its path's
        query-variant cap); the rest go to SQLite in bulk."""
        queued = 0
        now = time.time()
        cur = self.db.cursor()
        recent = self._recent
        bulk_queued, bulk_skipped = [], []
        for c in candidates:
            key = dedup_key(c.url)
            status = "skipped" if c.skipped_reason else "queued"
            if status == "queued":
                if key in recent:  # navigation links repeat on every page: skip the database
                    recent.move_to_end(key)
                    continue
                recent[key] = None
                if len(recent) > RECENT_KEYS:
                    recent.popitem(last=False)
            params = (key, c.url, host_key(c.url), c.kind, status, c.priority, c.depth, c.redirects,
                      c.discovered_from, c.via, c.skipped_reason, now)
            if status != "queued":
                bulk_skipped.append(params)
            elif "?" not in key:
                bulk_queued.append(params)
            else:
                cur.execute(_ADD, params)
                if cur.rowcount != 1:
                    continue
                if not self._query_variant_allowed(cur, key):
                    cur.execute(
                        "UPDATE urls SET status='skipped', skipped_reason='trap:query_variants' WHERE key=?",
                        (key,),
                    )
                    self.skipped_added += 1
                    continue
                queued += 1
        for rows, queued_rows in ((bulk_queued, True), (bulk_skipped, False)):
            if rows:
                before = self.db.total_changes
                cur.executemany(_ADD, rows)
                changed = self.db.total_changes - before
                if queued_rows:
                    queued += changed
                else:
                    self.skipped_added += changed
        return queued

    def _query_variant_allowed(self, cur, key: str) -> bool:
        path = path_key(key)
        cur.execute(
            "INSERT INTO query_variants (path, n) VALUES (?, 1) "
            "ON CONFLICT(path) DO UPDATE SET n = n + 1 RETURNING n",
            (path,),
        )
        return cur.fetchone()[0] <= self.max_query_variants

    def claim(self, url: str, kind: str, priority: int = PRIORITY_ROBOTS) -> Task:
        """Insert-or-reset a URL fetched outside the queue (robots.txt) and mark it in flight."""
        key = dedup_key(url)
        self.db.execute(
            "INSERT INTO urls (key, url, host, kind, status, priority, depth, updated_at) "
            "VALUES (?, ?, ?, ?, 'inflight', ?, 0, ?) "
            "ON CONFLICT(key) DO UPDATE SET status='inflight', skipped_reason=NULL",
            (key, url, host_key(url), kind, priority, time.time()),
        )
        row = self.db.execute("SELECT id, attempts FROM urls WHERE key=?", (key,)).fetchone()
        return Task(row[0], url, host_key(url), kind, 0, 0, row[1])

    # -- taking URLs
    def next_batch(self, limit: int, *, skip_hosts=()) -> list[Task]:
        """Up to ``limit`` queued URLs in priority order, none on ``skip_hosts``."""
        skip = list(skip_hosts)
        where = "status='queued'"
        if skip:
            where += f" AND host NOT IN ({','.join('?' * len(skip))})"
        rows = self.db.execute(
            f"SELECT id, url, host, kind, depth, redirects, attempts FROM urls "
            f"WHERE {where} ORDER BY priority, id LIMIT ?",
            (*skip, limit),
        ).fetchall()
        return [Task(*row) for row in rows]

    def mark_inflight(self, task: Task) -> None:
        self.db.execute("UPDATE urls SET status='inflight' WHERE id=?", (task.id,))

    def requeue(self, task: Task) -> None:
        self.db.execute("UPDATE urls SET status='queued' WHERE id=?", (task.id,))

    def skip(self, task: Task, reason: str) -> None:
        self.db.execute(
            "UPDATE urls SET status='skipped', skipped_reason=?, updated_at=? WHERE id=?",
            (reason, time.time(), task.id),
        )

    def finish(self, task: Task, *, ok: bool, attempts: int, **outcome) -> None:
        """Record a fetch's outcome; ``outcome`` keys are columns (http_status, error, bytes, warc_file...)."""
        if not outcome.keys() <= OUTCOME_COLUMNS:
            raise TypeError(f"unknown outcome columns: {sorted(outcome.keys() - OUTCOME_COLUMNS)}")
        self.db.execute(_FINISH, ("done" if ok else "failed", attempts,
                                  *[outcome.get(column) for column in _OUTCOME_ORDER], time.time(), task.id))

    def revisit_body_files(self) -> list[str | None]:
        """The WARC files holding the payloads of the crawl's revisit records (their body
        pointers, carried from run to run: they may be several runs back); None among them
        when some revisit has no pointer."""
        return [row[0] for row in self.db.execute(
            "SELECT DISTINCT body_file FROM urls WHERE record_type='revisit'")]

    def body_location(self, url: str) -> tuple[str, int] | None:
        row = self.db.execute("SELECT body_file, body_offset FROM urls WHERE key=?", (dedup_key(url),)).fetchone()
        return (row[0], row[1]) if row and row[0] else None

    # -- resume
    def resume(self, refetch_urls=()) -> int:
        """After a crash: in-flight rows and URLs whose WARC records were cut go back to the queue."""
        n = self.db.execute("UPDATE urls SET status='queued' WHERE status='inflight'").rowcount
        n += self.db.execute(
            "UPDATE urls SET status='queued', skipped_reason=NULL WHERE status='skipped' AND skipped_reason='max_pages'"
        ).rowcount
        for url in refetch_urls:
            n += self.db.execute(
                "UPDATE urls SET status='queued', warc_file=NULL, warc_offset=NULL "
                "WHERE key=? AND status IN ('done', 'failed')",
                (dedup_key(url),),
            ).rowcount
        return n

    def skip_remaining(self, reason: str) -> int:
        return self.db.execute(
            "UPDATE urls SET status='skipped', skipped_reason=? WHERE status='queued'", (reason,)
        ).rowcount

    # -- reporting
    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM urls GROUP BY status").fetchall())

    def fetched_count(self) -> int:
        """URLs fetched so far (for max_pages): everything done or failed, robots.txt too."""
        return self.db.execute("SELECT COUNT(*) FROM urls WHERE status IN ('done', 'failed')").fetchone()[0]

    def totals(self) -> Totals:
        counts = self.counts()
        done = self.db.execute(
            "SELECT COALESCE(SUM(bytes), 0), COALESCE(SUM(record_type = 'revisit'), 0), "
            f"COALESCE(SUM(http_status = 304), 0), COALESCE(SUM({LIVE_PAGE}), 0) FROM urls WHERE status = 'done'"
        ).fetchone()
        seeds_fetched = self.db.execute(
            "SELECT COUNT(*) FROM urls WHERE kind IN ('seed', 'sitemap') AND http_status IS NOT NULL"
        ).fetchone()[0]
        problem = self.db.execute(
            "SELECT url, COALESCE(error, skipped_reason) FROM urls WHERE kind IN ('seed', 'sitemap') "
            "AND http_status IS NULL AND COALESCE(error, skipped_reason) IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
        return Totals(
            done=counts.get("done", 0), failed=counts.get("failed", 0), skipped=counts.get("skipped", 0),
            queued=counts.get("queued", 0) + counts.get("inflight", 0), bytes=done[0], revisits=done[1],
            not_modified=done[2], pages=done[3], seeds_fetched=seeds_fetched,
            seed_problem=f"{problem[0]}: {problem[1]}" if problem else None,
        )

    def queued_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM urls WHERE status='queued'").fetchone()[0]

    def has_queued(self) -> bool:
        return self.db.execute("SELECT 1 FROM urls WHERE status='queued' LIMIT 1").fetchone() is not None

    def index_rows(self) -> Iterator[dict]:
        """Rows with a WARC record, in CDXJ order (SQLite sorts on disk, not in RAM)."""
        cur = self.db.execute("SELECT * FROM urls WHERE warc_file IS NOT NULL ORDER BY index_key, warc_date")
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def rows(self) -> Iterator[dict]:
        """Every URL and its outcome, in discovery order (a separate cursor; streams)."""
        cur = self.db.execute("SELECT * FROM urls ORDER BY id")
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))
