"""The crawl: a coordinator thread that owns the frontier and the politeness
state, and worker threads that fetch, write WARC records and extract links.

Coordinator (one thread, the only one touching SQLite)::

    loop: apply finished results -> frontier (commit)   # WARC already written
          pick queued URLs whose host is under its limits -> work queue
          until nothing is queued or in flight

Politeness is decided here, Heritrix-style, through one ``politeness.Slot``
per host: a host never has more than ``per_host_concurrency`` requests in
flight, and request starts on one host are ``delay`` seconds apart (raised to
robots.txt's Crawl-delay, capped), however many workers there are.  robots.txt
is fetched (and archived) before the first URL of an origin is dispatched.
``max_pages`` counts every URL dispatched, robots.txt and sitemaps included.

Workers (``worker.py``) are a pipeline: ``concurrency`` fetching threads (their
own connections each: at most ``concurrency`` requests at once) make one
attempt per task, hand each final answer to a recording thread that writes
the WARC records and parses the body for links, and tell the coordinator that
their slot is free, so the next request starts while the last answer is still
being written.  On a host crawled without a delay, the coordinator also
dispatches a few URLs ahead into the host's standby (``politeness.Slot``), and a
fetching thread whose request ended starts the next of them itself, without
waiting for the coordinator to hear of the free slot and pick a URL; it tells
the coordinator and the recorders about the last answer only once that next
request is on the wire (``_AnswerReport``).  A URL to
be tried again (``retry.py``: its time budget, back-off, Retry-After) comes back
as a retry time and waits in ``self.retries`` until due, holding no thread,
connection or slot meanwhile.  Results go back on a queue; the coordinator
marks a URL done only after its record is written (``os.write`` returned: kill
-9 loses nothing), and commits that state only after an fsync of the WARC file
(a power cut loses at most the last ``COMMIT_INTERVAL``, and never leaves state
pointing at a missing record).
"""
from __future__ import annotations

import errno
import fcntl
import functools
import logging
import os
import queue
import random
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archiver.capture import robots as robotsmod
from archiver.capture.cdxj import build_index
from archiver.capture.config import CrawlConfig
from archiver.capture.crawllog import write_cdxj, write_crawl_log
from archiver.capture.fetch import Fetcher
from archiver.capture.frontier import (
    PRIORITY_PAGE,
    PRIORITY_REQUISITE,
    PRIORITY_SEED,
    Candidate,
    Frontier,
    Task,
)
from archiver.capture.politeness import HostSlots
from archiver.capture.progress import Progress, Stats
from archiver.capture.recovery import recover
from archiver.capture.retry import RetryPolicy, RetryQueue
from archiver.capture.scope import Scope, is_private_host, origin
from archiver.capture.warcwriter import WarcWriteError
from archiver.capture.worker import STATE_DB, Fetched, Recorder, Result, Retry, Sink, Worker
from archiver.errors import ArchiverError, LockHeldError, UsageError
from archiver.urls import preload_surt, site_host

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10  # hops in one redirect chain before it is called a trap
BACKOFF_WITHOUT_RETRY_AFTER = 10.0  # seconds a host rests after a final 429/503 that named no time
MAX_HOST_REST = 300.0
# threads that write and parse answers: one, since zlib, lxml and hashlib let go of the GIL only
# in short spells and more threads mostly contend for it (against 3: -2% wall clock on one core
# and beside a CPU-bound process, -4% on a site of 1-2 MB documents, less CPU everywhere)
RECORDING_THREADS = 1
LINK_BUDGET = 60_000  # parsed links waiting for the coordinator (~430 bytes each) before recorders wait
SEEN_LINKS = 50_000  # links (as written) already queued or skipped: navigation repeated on every page costs nothing
COMMIT_INTERVAL = 1.0  # seconds: batch frontier commits and WARC fsyncs (kill -9 loses neither; a power cut at most this)
LOCK_FILE = "crawl.lock"


@dataclass(frozen=True)
class _SlotFree:
    """A fetching thread is done with a task's request: its connection and host slot are free
    (and a final 429/503 rests the host before the next request, not after the recording)."""

    task: Task
    http_status: int | None = None
    retry_after: float | None = None
    retry_at: float | None = None  # the task is to be tried again, not before this clock time
    handed_to: Task | None = None  # a standby task of the same host the thread started in this one's place


class _AnswerReport:
    """A fetching thread's two messages about an answer, when the thread goes straight on
    to a standby task of the same host: the freed slot to the coordinator, the answer to
    the recorders.  They are sent once the next request is on the wire (``Fetcher.fetch``
    calls the report then): sent before it, they woke the coordinator and a recorder, which
    on a busy CPU ran between the answer and the next request (4-5% of a crawl's wall clock
    on one core or beside a CPU-bound process).  The answer is queued for the recorders
    without waiting; when their queue is full it waits for ``deliver()``, after that
    request's answer, so a request never waits on the recorders and a thread holds at most
    one answer it could not hand over."""

    def __init__(self, engine: "Engine", free: _SlotFree, fetched: Fetched):
        self.engine = engine
        self.free: _SlotFree | None = free
        self.fetched: Fetched | None = fetched

    def __call__(self) -> None:
        if self.free is None:
            return
        self.engine.results.put(self.free)  # before the recorder's result: a task's two messages keep their order
        self.free = None
        try:
            self.engine.recording.put_nowait(self.fetched)
            self.fetched = None
        except queue.Full:
            pass

    def deliver(self) -> None:
        """Send what is not sent yet, waiting for room at the recorders (fetch no further ahead)."""
        self()
        if self.fetched is not None:
            self.engine.recording.put(self.fetched)
            self.fetched = None


@dataclass
class CrawlSummary:
    """What a finished (or stopped) crawl did; ``ok`` is False when no seed could be fetched."""

    out_dir: Path
    fetched: int = 0
    failed: int = 0
    skipped: int = 0
    queued: int = 0
    revisits: int = 0
    not_modified: int = 0  # 304 answers to a re-crawl's conditional requests (revisits too)
    pages: int = 0  # fetched HTML pages that answered 2xx or 304 (not robots.txt, sitemaps, images, styles...)
    bytes: int = 0
    duration: float = 0.0
    seeds_fetched: int = 0
    seed_problem: str | None = None  # why the first unfetched seed was not fetched
    warc_files: list[Path] = field(default_factory=list)
    crawl_log: Path | None = None
    index: Path | None = None
    interrupted: bool = False
    # earlier crawls' WARC files holding the payloads of this crawl's revisits, oldest first
    # (found through the body pointers, however many runs back they lead)
    originals: list[Path] = field(default_factory=list)
    originals_located: bool = True  # every revisit's pointer leads to an existing WARC file

    @property
    def ok(self) -> bool:
        return self.seeds_fetched > 0

    def text(self) -> str:
        mb = self.bytes / 1e6
        revisits = f"{self.revisits} revisits" + (f" ({self.not_modified} not modified)" if self.not_modified else "")
        return (f"crawl {'stopped' if self.interrupted else 'finished'}: {self.fetched} fetched "
                f"({self.pages} pages), {self.failed} failed, {self.skipped} skipped, {revisits}, {mb:.1f} MB "
                f"in {self.duration:.1f} s; {len(self.warc_files)} WARC file(s) in {self.out_dir / 'warc'}, "
                f"log {self.crawl_log}")


class _DirLock:
    """An exclusive advisory lock on the crawl directory (freed by the kernel on kill -9)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = None

    def __enter__(self):
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise LockHeldError(f"another crawl is writing to {self.path.parent}") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class Engine:
    """One crawl (see the module docstring).  ``clock`` (seconds, ``time.monotonic`` by
    default) times every politeness decision, retry and URL budget, so a test can check
    them through it; ``sleep`` is how the coordinator waits when nothing but retries is
    pending (a test's clock may skip the wait instead); ``rng`` draws the retries'
    jittered back-off (a seeded ``random.Random`` makes it repeatable)."""

    def __init__(self, config: CrawlConfig, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        self.config = config.validate()
        self.clock = clock
        self.sleep = sleep
        self.policy = RetryPolicy(max_retries=config.max_retries, url_budget=config.url_budget, rng=rng)
        self.retries = RetryQueue()  # tasks waiting for their next attempt (in flight for the frontier)
        self.out_dir = Path(config.out_dir)
        self.warc_dir = self.out_dir / "warc"
        self.stats = Stats()
        self.scope: Scope | None = None
        self.frontier: Frontier | None = None
        self.robots = robotsmod.RobotsCache()
        self.results: queue.Queue[Result] = queue.Queue()
        self.work: queue.Queue[Task | None] = queue.Queue()
        self.recording: queue.Queue[Fetched | None] = queue.Queue(maxsize=config.concurrency)
        self.slots = HostSlots(config.per_host_concurrency, config.delay)  # politeness per host
        self.fetching = 0  # requests on the wire or about to be, all hosts
        self.inflight = 0  # dispatched, result not yet applied
        self.budget_used = 0
        self.stopping = threading.Event()
        # links parsed but not yet applied (a hub page holds tens of thousands): recorders wait
        # before taking on more while the coordinator is this far behind, so memory stays bounded
        self.held_links = 0
        self.held_changed = threading.Condition()
        self._let_in = False  # a recorder that had to wait is recording: the others wait for its count
        self.seen_links: OrderedDict[tuple[str, bool], None] = OrderedDict()  # bounded, most recent last
        self.fatal: str | None = None
        self._stats_at = 0.0
        self._skipped_robots = 0
        self._surt_loading: threading.Thread | None = None  # surt's import, started with the crawl

    # ------------------------------------------------------------------ setup
    def _open(self) -> None:
        try:
            self.warc_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create output directory {self.out_dir}: {exc.strerror}") from None
        if not os.access(self.out_dir, os.W_OK):
            raise UsageError(f"output directory is not writable: {self.out_dir}")

    def _refuse_another_site(self) -> None:
        """A directory holding a crawl of another site is not resumed into nothing (every new
        seed would be out of that crawl's scope): say what it holds and how to start fresh."""
        cfg = self.config
        stored = self.frontier.site_urls()
        if not stored or {_site(u) for u in stored} & {_site(u) for u in [*cfg.seeds, *cfg.sitemaps]} - {None}:
            return
        raise UsageError(f"{self.out_dir} holds a crawl of {stored[0]} ({self.frontier.size()} URLs), not of "
                         f"{(cfg.seeds or cfg.sitemaps)[0]}: give another --out directory, or delete this one "
                         "to start fresh")

    def _seed(self) -> None:
        cfg = self.config
        fr = self.frontier
        self.scope = Scope(
            [*cfg.seeds, *(cfg.sitemaps if not cfg.seeds else []), *fr.extra_origins()],
            include=cfg.include, exclude=cfg.exclude, requisites_any_host=cfg.requisites_any_host,
            max_depth=cfg.max_depth, max_url_length=cfg.max_url_length,
            max_repeated_segments=cfg.max_repeated_segments,
        )
        seeds = [Candidate(u, kind="seed", priority=PRIORITY_SEED, via="seed") for u in cfg.seeds]
        seeds += [Candidate(u, kind="sitemap", priority=PRIORITY_SEED, via="sitemap") for u in cfg.sitemaps]
        fr.add(seeds)
        fr.commit()

    def _add_origin(self, url: str) -> None:
        """A seed redirected to another origin (http -> https, www): that origin is the site too."""
        o = origin(url)
        if o and o not in self.scope.origins:
            self.scope.origins.add(o)
            self.frontier.add_extra_origin(url)
            self.seen_links.clear()  # links to that origin were out of scope until now

    # ------------------------------------------------------------------- run
    def run(self) -> CrawlSummary:
        self._open()
        with _DirLock(self.out_dir / LOCK_FILE):
            self.frontier = Frontier(self.out_dir / STATE_DB, max_query_variants=self.config.max_query_variants)
            try:
                self._refuse_another_site()
            except UsageError:
                self.frontier.close()
                raise
            refetch = recover(self.warc_dir)
            if refetch or not self.frontier.is_empty():
                self.frontier.note_resumed()
            requeued = self.frontier.resume(refetch)
            if requeued:
                log.info("resuming: %d URL(s) queued again", requeued)
            self._seed()
            if self.config.ignore_robots:
                log.warning("ignoring robots.txt (--ignore-robots): be sure the site owner agrees")
            sink = self.sink = Sink(self.config, self.out_dir)  # (may import warcio: before surt's import)
            sink.recovered(refetch)
            progress = Progress(self.config.progress)
            interrupted = False
            trusted_hosts = frozenset(o[1] for o in self.scope.origins)
            cfg = self.config
            fetcher = Fetcher(user_agent=cfg.user_agent, timeout=cfg.timeout, total_timeout=cfg.total_timeout,
                              max_response_bytes=cfg.max_response_bytes, extra_headers=cfg.extra_headers,
                              clock=self.clock)
            worker = Worker(cfg, sink, fetcher, self.policy, self.clock, trusted_hosts)
            fetchers = [threading.Thread(target=self._fetch_loop, args=(worker,), name=f"crawl-fetch-{i}", daemon=True)
                        for i in range(cfg.concurrency)]
            recorder = Recorder(self.config, sink)
            recorders = [
                threading.Thread(target=self._record_loop, args=(recorder,), name=f"crawl-record-{i}", daemon=True)
                for i in range(min(self.config.concurrency, RECORDING_THREADS))
            ]
            for t in fetchers + recorders:
                t.start()
            # the first record needs surt; the seed's request is the time to load it (not sooner:
            # the import holds the GIL for ~0.1 s, which the setup above would wait for)
            self._surt_loading = preload_surt()
            self.budget_used = self.frontier.fetched_count()  # a resumed crawl spent part of max_pages
            progress.start(self.stats)
            try:
                self._coordinate(progress)
            except KeyboardInterrupt:
                interrupted = True
                self.stopping.set()
                self._drain(timeout=5)  # what is still in flight is fetched again on resume
            finally:
                self.stopping.set()  # recorders waiting for the link budget go on: nothing else drains it
                for _ in fetchers:
                    self.work.put(None)
                progress.stop()
                if not interrupted:
                    for t in fetchers:
                        t.join(timeout=5)
                for _ in recorders:
                    try:
                        self.recording.put(None, timeout=1 if interrupted else 5)
                    except queue.Full:  # interrupted with answers still waiting: they are fetched again
                        break
                if not interrupted:
                    for t in recorders:
                        t.join(timeout=5)
                self._drop_waiting()
                self._commit()
                fetcher.close()
                sink.close()
                summary = self._finish(sink, interrupted)
                self.frontier.close()
            progress.summary(summary.text())
            if interrupted:
                raise KeyboardInterrupt
            if self.fatal:
                raise ArchiverError(f"{self.fatal}; free space or fix the directory, then run the same command "
                                    "again to resume")
            return summary

    def _finish(self, sink, interrupted: bool) -> CrawlSummary:
        self._surt_loading.join()  # what comes next (cdxj-indexer, the WACZ packer) imports surt's modules too
        fr = self.frontier
        if not interrupted and self._budget_spent():
            fr.skip_remaining("max_pages")
            fr.commit()
        crawl_log = self.out_dir / "crawl.jsonl"
        write_crawl_log(fr.rows(), crawl_log)
        index = self.out_dir / "index.cdxj"
        if fr.was_resumed():  # records of killed runs are in the WARC files, not all in the state
            build_index(self.out_dir, output=index)
        else:  # one uninterrupted run: the state knows every record it wrote
            write_cdxj(fr.index_rows(), index)
        t = fr.totals()
        return CrawlSummary(
            out_dir=self.out_dir,
            fetched=t.done,
            failed=t.failed,
            skipped=t.skipped,
            queued=t.queued,
            revisits=t.revisits,
            not_modified=t.not_modified,
            pages=t.pages,
            bytes=t.bytes,
            duration=time.monotonic() - self.stats.started,
            seeds_fetched=t.seeds_fetched,
            seed_problem=t.seed_problem,
            warc_files=sorted(self.warc_dir.glob("*.warc.gz")),
            crawl_log=crawl_log,
            index=index,
            interrupted=interrupted,
            **self._originals(),
        )

    def _originals(self) -> dict:
        """``originals`` and ``originals_located`` of the summary: the earlier WARC files the
        revisits' body pointers lead to, and whether every pointer led to one that exists (a
        moved or deleted earlier crawl: then its index is the only way to them)."""
        own = self.warc_dir.resolve()
        names = self.frontier.revisit_body_files()
        files = {Path(name).resolve() for name in names if name is not None}
        existing = {p for p in files if p.is_file()}
        return {"originals": sorted((p for p in existing if p.parent != own), key=lambda p: (p.stat().st_mtime, p)),
                "originals_located": None not in names and existing == files}

    # ----------------------------------------------------------- coordinator
    def _budget_spent(self) -> bool:
        return self.config.max_pages is not None and self.budget_used >= self.config.max_pages

    def _coordinate(self, progress: Progress) -> None:
        last_commit = time.monotonic()
        while True:
            wait = self._dispatch()
            self._refresh_stats()
            progress.update(self.stats)
            if self.inflight == 0 and (wait is None or self._budget_spent() or self.stopping.is_set()):
                self._commit()
                return
            if wait and self.fetching == 0 and self.inflight == len(self.retries) + self.slots.standby_count():
                self.sleep(min(wait, 0.5))  # only retries and standbys wait: no result can come meanwhile
                continue
            try:
                if wait == 0:
                    first = self.results.get_nowait()
                else:
                    first = self.results.get(timeout=min(wait if wait is not None else 0.5, 0.5))
            except queue.Empty:
                continue
            self._apply_arrived(first)
            first = None  # its links are counted free: do not keep them alive meanwhile
            if time.monotonic() - last_commit >= COMMIT_INTERVAL or self.inflight == 0:
                self._commit()
                last_commit = time.monotonic()

    def _apply_arrived(self, first: Result | _SlotFree) -> None:
        """Apply ``first`` and everything that arrived meanwhile, freed slots first: their
        connections get their next URL before the pages' links go into the frontier, which
        is the slow part (a task's slot is freed before its result is sent, so each task's
        two messages keep their order)."""
        arrived = [first]
        while True:
            try:
                arrived.append(self.results.get_nowait())
            except queue.Empty:
                break
        results = deque()
        for message in arrived:
            if isinstance(message, _SlotFree):
                self._apply(message)
            else:
                results.append(message)
        arrived.clear()
        if results and self.fetching < self.config.concurrency:
            self._dispatch()
        while results:
            self._apply(results.popleft())  # popped: a page's links are freed once applied

    def _commit(self) -> None:
        try:
            self.sink.flush()  # the records on disk before the state that points at them
            self.frontier.commit()
        except Exception as exc:  # a full disk: what came since the last commit is fetched again on resume
            if not _is_write_error(exc):
                raise
            self._stop_for(_describe_write_error(exc))

    def _stop_for(self, reason: str) -> None:
        """The crawl's own files cannot be written: stop (the first reason is the one told)."""
        if self.fatal is None:
            log.error("stopping: %s", reason)
            self.fatal = reason
            self.stopping.set()

    def _refresh_stats(self) -> None:
        self.stats.inflight = self.inflight
        now = time.monotonic()
        if now - self._stats_at >= 2.0:  # counting a big frontier is not free
            self._stats_at = now
            self.stats.queued = self.frontier.queued_count()
            self.stats.skipped = self._skipped_robots + self.frontier.skipped_added

    def _drain(self, timeout: float) -> None:
        self._drop_standby()  # the threads no longer hand them on
        deadline = time.monotonic() + timeout
        while self.inflight > len(self.retries) and time.monotonic() < deadline:
            try:
                self._apply(self.results.get(timeout=0.2))
            except queue.Empty:
                pass
        self.frontier.commit()

    def _dispatch(self) -> float | None:
        """Hand eligible URLs to workers (due retries first); returns seconds until a blocked
        host or a retry is due, 0 when more may be dispatched at once, or None when nothing
        is queued or waiting for a retry."""
        cfg = self.config
        if self.stopping.is_set():
            self._drop_waiting()
            return None
        now = self.clock()
        self._start_standby(now)
        if self.fetching >= cfg.concurrency and not self.slots.waiting_for_standby(now):
            return 0.5  # wait for a result
        if self.retries:
            self.retries.start_due(now, lambda task: self._start_again(task, now))
        if self._budget_spent():
            return self._next_wait(now) if self.retries else None
        lost = self.slots.robots_pending()
        if lost and self.inflight == 0:  # a robots.txt fetch vanished: never wait forever
            log.warning("robots.txt of %s never arrived; asking again", ", ".join(lost))
            for host in lost:
                self.slots[host].robots_pending = False
            self.robots.forget_pending()
        blocked = self.slots.blocked(now)
        standby = {host for host in blocked if self._takes_standby(host, now)}
        limit = max((cfg.concurrency - self.fetching) * 4, 16)
        batch = self.frontier.next_batch(limit, skip_hosts=blocked - standby)
        if not batch and not self.frontier.has_queued():
            return self._next_wait(now) if self.retries else None
        held_back = False  # a URL ahead waits only for a free connection: none behind it jumps ahead
        for task in batch:
            if self._budget_spent():
                break
            if task.host not in blocked:
                if self.fetching >= cfg.concurrency:
                    held_back = True
                    continue
                if self._robots_allow(task, now):
                    self._start(task, now)
                if not self.slots[task.host].ready(now):
                    blocked.add(task.host)
            elif not held_back and self._takes_standby(task.host, now) and self._robots_allow(task, now):
                self._reserve(task)
        if self.fetching < cfg.concurrency and len(batch) == limit:
            return 0  # more queued rows may be eligible right now
        return self._next_wait(now)

    def _next_wait(self, now: float) -> float:
        """Seconds until a host waiting for its delay or rest is free or the next retry is
        due, whichever is first; 0.5 when only answers are awaited (a due retry whose host
        is busy waits for one)."""
        waits = []
        host_free = self.slots.next_free(now)
        if host_free is not None:
            waits.append(host_free)
        retry_at = self.retries.next_at()
        if retry_at is not None and retry_at > now:
            waits.append(retry_at - now)
        return max(0.005, min(waits)) if waits else 0.5

    def _start(self, task: Task, now: float) -> None:
        """Send ``task`` to a fetching thread.  Every URL fetched counts against max_pages
        once (robots.txt and sitemaps too; a robots.txt fetched again after a resume was
        counted when it was first fetched)."""
        if task.attempts == 0 or task.kind != "robots":
            self.budget_used += 1
        self.frontier.mark_inflight(task)
        self.inflight += 1
        self._send(task, now)

    def _takes_standby(self, host: str, now: float) -> bool:
        slot = self.slots.get(host)
        return slot is not None and slot.takes_standby(now)

    def _reserve(self, task: Task) -> None:
        """Dispatch ``task`` into its host's standby (counted like a started URL: against
        max_pages, in flight for the frontier)."""
        self.budget_used += 1
        self.frontier.mark_inflight(task)
        self.inflight += 1
        self.slots[task.host].standby.append(task)

    def _start_standby(self, now: float) -> None:
        """Standby tasks whose host has a free place start here: no request of that host
        ended to hand them on (it failed, went to the retries, or was the last)."""
        for slot in self.slots.with_standby():
            while self.fetching < self.config.concurrency and slot.ready(now):
                task = slot.take_standby()
                if task is None:  # none left (a fetching thread may have taken the last one)
                    break
                self._send(task, now)

    def _drop_standby(self) -> None:
        """The crawl stops: standby tasks go back to the queue, uncounted."""
        for slot in self.slots.with_standby():
            while (task := slot.take_standby()) is not None:
                self.budget_used -= 1
                self.inflight -= 1
                self.frontier.requeue(task)

    def _start_again(self, task: Task, now: float) -> bool:
        """Send a task whose retry is due, if its host's slot allows (robots.txt is what its
        host is waiting for, so only the slot's limits apply to it); True when sent."""
        slot = self.slots[task.host]
        allowed = slot.free(now) if task.kind == "robots" else slot.ready(now)
        if self.fetching >= self.config.concurrency or not allowed:
            return False
        self._send(task, now)
        return True

    def _send(self, task: Task, now: float) -> None:
        self.fetching += 1
        self.slots[task.host].start(now)
        self.work.put(task)

    def _drop_waiting(self) -> None:
        """The crawl stops: tasks waiting for a retry or in a standby go back to the queue
        (fetched again on resume) and the answers the retries kept are freed."""
        self._drop_standby()
        for task in self.retries.drain():
            self.inflight -= 1
            self.frontier.requeue(task)
            if task.tries is not None:
                task.tries.close()

    def _robots_allow(self, task: Task, now: float) -> bool:
        """True to fetch now; False when the URL was skipped or must wait for robots.txt
        (which this call may have started fetching)."""
        if self.config.ignore_robots:
            return True
        rules = self.robots.get(task.url)
        if rules is None:
            if self.robots.claim(task.url):
                robots_task = self.frontier.claim(robotsmod.robots_url(task.url), "robots")
                robots_task.depth = task.depth
                self._start(robots_task, now)
                self.slots[task.host].robots_pending = True
            return False
        if task.kind == "robots" or rules.allowed(task.url, self.config.user_agent):
            return True
        self.frontier.skip(task, rules.skip_reason)
        self._skipped_robots += 1
        return False

    # ------------------------------------------------------------ results
    def _apply(self, r: Result | _SlotFree) -> None:
        if isinstance(r, _SlotFree) or not r.held_links:
            self._apply_one(r)
            return
        try:
            self._apply_one(r)
        finally:
            with self.held_changed:
                self.held_links -= r.held_links
                self.held_changed.notify_all()

    def _apply_one(self, r: Result | _SlotFree) -> None:
        task = r.task
        if isinstance(r, _SlotFree):  # always before the task's Result: one fetching thread sends both
            slot = self.slots[task.host]
            if r.handed_to is None:  # else its thread started a standby task in its place: no count moves
                self.fetching -= 1
                slot.finish()
            final = r.retry_at is None
            if r.http_status in (429, 503) and (final or r.retry_after is not None):
                # overloaded: the host rests for the time it asked, or a while after our last retry
                rest = min(r.retry_after or BACKOFF_WITHOUT_RETRY_AFTER, MAX_HOST_REST)
                slot.rest(self.clock() + rest)
                (log.warning if final else log.info)("%s answers %s: pausing the host for %.0f s",
                                                      task.host, r.http_status, rest)
            if not final:
                self.retries.push(task, r.retry_at)
            return
        self.inflight -= 1
        if task.tries is not None:
            task.tries.close()  # whatever a failed step left open
        if r.skipped_reason:
            self.frontier.skip(task, r.skipped_reason)
            if task.kind == "robots":
                self._apply_robots(task, r)  # no rules: the host's own URLs meet the same check
            return
        if r.fatal:
            self.frontier.requeue(task)
            self._stop_for(r.fatal)
            return
        body = r.body or self._original_body(r.refers_to)
        self.frontier.finish(
            task, ok=r.ok, attempts=r.attempts, http_status=r.http_status, error=r.error, bytes=r.nbytes,
            warc_file=r.warc_file, warc_offset=r.warc_offset, record_type=r.record_type,
            content_type=r.content_type, body_file=body and body[0], body_offset=body and body[1],
            warc_length=r.warc_length, warc_date=r.warc_date, payload_digest=r.payload_digest,
            index_key=r.index_key,
        )
        if r.ok:
            self.stats.fetched += 1
            self.stats.bytes += r.nbytes or 0
        else:
            self.stats.errors += 1
            log.info("failed: %s (%s)", task.url, r.error or r.http_status)
        if task.kind == "robots":
            self._apply_robots(task, r)
            return
        self._queue_links(task, r)

    def _original_body(self, url: str | None) -> tuple[str, int] | None:
        if not url:
            return None
        return self.frontier.body_location(url) or self.sink.previous_body(url)

    def _apply_robots(self, task: Task, r: Result) -> None:
        rules = r.robots or robotsmod.parse(None, b"")
        self.robots.store(task.url, rules)
        slot = self.slots[task.host]
        slot.robots_pending = False
        delay = rules.crawl_delay(self.config.user_agent)
        if delay is not None:
            slot.delay = max(self.config.delay, min(delay, self.config.max_crawl_delay))
        sitemaps = [
            Candidate(u, kind="sitemap", priority=PRIORITY_SEED, discovered_from=task.url, via="robots.txt",
                      skipped_reason=self.scope.reason(u, depth=0))
            for u in rules.sitemaps()
        ]
        self.frontier.add(sitemaps)

    def _queue_links(self, task: Task, r: Result) -> None:
        scope = self.scope
        candidates = []
        if r.location:
            if task.kind == "seed" and task.redirects == 0 and r.http_status and 300 <= r.http_status < 400:
                target = origin(r.location)
                if target and (not is_private_host(target[1]) or target[1] in {o[1] for o in scope.origins}):
                    self._add_origin(r.location)
            requisite = task.kind == "requisite"
            hops = task.redirects + 1
            reason = "trap:redirect_chain" if hops > MAX_REDIRECTS else scope.reason(
                r.location, depth=task.depth, requisite=requisite)
            candidates.append(Candidate(
                r.location, kind=task.kind if task.kind in ("seed", "sitemap", "requisite") else "page",
                depth=task.depth, priority=PRIORITY_REQUISITE if requisite else PRIORITY_PAGE + task.depth,
                discovered_from=task.url, via="redirect", redirects=hops, skipped_reason=reason))
        followable = scope.in_origin(task.url)  # off-origin requisites are fetched, never followed
        for link in r.links:
            if (not link.requisite and not followable) or not self._first_sight(link.url, link.requisite):
                continue
            depth = task.depth + 1
            candidates.append(Candidate(
                link.url, kind="requisite" if link.requisite else "page", depth=depth,
                priority=PRIORITY_REQUISITE if link.requisite else PRIORITY_PAGE + depth,
                discovered_from=task.url, via=link.via,
                skipped_reason=scope.reason(link.url, depth=depth, requisite=link.requisite)))
        for url in r.sitemap_children:
            candidates.append(Candidate(url, kind="sitemap", priority=PRIORITY_SEED, discovered_from=task.url,
                                        via="sitemap", skipped_reason=scope.reason(url, depth=0)))
        for url in r.sitemap_pages:
            candidates.append(Candidate(url, kind="page", depth=0, priority=PRIORITY_PAGE, discovered_from=task.url,
                                        via="sitemap", skipped_reason=scope.reason(url, depth=0)))
        if candidates:
            self.frontier.add(candidates)

    def _first_sight(self, url: str, requisite: bool) -> bool:
        """False for a link queued or skipped recently: the frontier would ignore it again
        (a URL keeps its first decision, unless it was out of scope and the scope grew,
        which clears this memory), so it skips the scope check and the URL keys."""
        seen = self.seen_links
        key = (url, requisite)
        if key in seen:
            seen.move_to_end(key)
            return False
        seen[key] = None
        if len(seen) > SEEN_LINKS:
            seen.popitem(last=False)
        return True

    # --------------------------------------------------------------- workers
    def _fetch_loop(self, worker: Worker) -> None:
        task = self.work.get()
        report = None  # about the answer before ``task``'s request: told once that request is out
        while task is not None:
            item = self._guarded(task, functools.partial(worker.fetch, on_sent=report), task)
            if report is not None:
                report.deliver()  # the task ended without a request, or the recorders were full
                report = None
            handed_to = None
            if isinstance(item, Fetched):
                handed_to = self._hand_on(task, item.fetched.status)
                report = _AnswerReport(self, _SlotFree(task, item.fetched.status, item.fetched.retry_after,
                                                       handed_to=handed_to), item)
                if handed_to is None:  # no request of this thread's comes first: tell now
                    report.deliver()
                    report = None
            elif isinstance(item, Retry):
                self.results.put(_SlotFree(task, item.http_status, item.retry_after, item.not_before))
            else:
                handed_to = self._hand_on(task, item.http_status)
                self.results.put(_SlotFree(task, item.http_status, item.retry_after, handed_to=handed_to))
                self.results.put(item)
            task = handed_to or self.work.get()

    def _hand_on(self, task: Task, http_status: int | None) -> Task | None:
        """The standby task of ``task``'s host this thread starts next, in its place (not
        after a 429/503: the host is to rest; not once the crawl stops)."""
        if http_status in (429, 503) or self.stopping.is_set():
            return None
        slot = self.slots.get(task.host)
        return slot.hand_on(self.clock()) if slot is not None else None

    def _record_loop(self, recorder: Recorder) -> None:
        while True:
            item = self.recording.get()
            if item is None:
                return
            waited = self._wait_for_link_budget()
            result = None
            try:
                result = self._guarded(item.task, recorder.record, item)
            finally:
                held = result and len(result.links) + len(result.sitemap_pages) + len(result.sitemap_children)
                if held or waited:
                    with self.held_changed:
                        if held:
                            result.held_links = held
                            self.held_links += held
                        if waited:
                            self._let_in = False
                            self.held_changed.notify_all()
            self.results.put(result)  # unbounded: a recorder never blocks here, nor does a fetcher

    def _wait_for_link_budget(self) -> bool:
        """Wait while the coordinator is LINK_BUDGET links behind (it applies results, and
        lowers the count, whenever it runs); never once the crawl is stopping, since then
        nothing may drain the results any more.  Recorders that had to wait go on one at a
        time, each after the last one's links are counted, so they do not all parse a huge
        page at once.  True when this one waited (it then lets the next one in)."""
        with self.held_changed:
            if self.held_links < LINK_BUDGET or self.stopping.is_set():
                return False
            while (self.held_links >= LINK_BUDGET or self._let_in) and not self.stopping.is_set():
                self.held_changed.wait(timeout=0.2)
            self._let_in = True
            return True

    @staticmethod
    def _guarded(task: Task, step, arg):
        """``step(arg)``, or a Result saying why it failed: a write error stops the crawl with
        the URL still queued; a bug must neither hang the crawl nor lose the URL."""
        try:
            return step(arg)
        except Exception as exc:
            if isinstance(arg, Fetched):
                arg.fetched.close()
            if _is_write_error(exc):
                return Result(task, fatal=_describe_write_error(exc))
            log.exception("worker failed on %s", task.url)
            return Result(task, ok=False, error=f"{type(exc).__name__}: {exc}")


def _site(url: str) -> str | None:
    """What makes two crawls one site: ``site_host`` without a leading ``www.`` (so http and
    https, with www or without, are one)."""
    return site_host(url).removeprefix("www.") or None


_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO}


def _is_write_error(exc: BaseException) -> bool:
    """The crawl's own files cannot be written (disk full, quota, read-only, I/O error)."""
    if isinstance(exc, WarcWriteError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return any(word in str(exc).lower() for word in ("disk", "full", "readonly", "read-only"))
    return isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS and not isinstance(exc, ConnectionError)


def _describe_write_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"cannot write the crawl state: {exc}"
