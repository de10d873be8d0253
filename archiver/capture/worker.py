"""The worker side of a crawl: fetch one URL, write its WARC records, find its links.

Two steps in two kinds of thread, so a connection never idles while an answer
is compressed and parsed: ``Worker.fetch(task) -> Fetched`` runs in a fetching
thread with its own HTTP connections and makes one attempt (``retry.py``
decides whether the URL is tried again: then it is a ``Retry`` for the
coordinator to dispatch later);
``Recorder.record(fetched) -> Result`` runs in a recording thread: it writes
the records through the shared ``Sink`` (WARC writer, payload dedup, previous
crawl), then parses the body, capped, for links, sitemap entries or robots.txt
rules.  The result goes back to the coordinator (``engine.py``), which alone
touches the frontier.
"""
from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archiver.capture import links as linkmod
from archiver.capture import robots as robotsmod
from archiver.capture.config import CrawlConfig
from archiver.capture.dedup import DedupIndex, Deduplicator
from archiver.capture.fetch import Fetcher, FetchResult
from archiver.capture.frontier import Task
from archiver.capture.incremental import PreviousCrawl, read_payload
from archiver.capture.retry import Attempts, RetryPolicy
from archiver.capture.scope import is_private_host, origin
from archiver.capture.warcwriter import WarcWriter
from archiver.http_message import header_value
from archiver.sitemaps import SitemapError, parse_sitemap
from archiver.urls import parse_refresh, resolve_link, surt_key

log = logging.getLogger(__name__)

_LINK_HEADER = re.compile(r"<([^>]*)>([^,<]*)")  # RFC 8288: <uri>; param=value, <uri2>; ...
_LINK_REL = re.compile(r"""\brel\s*=\s*["']?([^"';]*)""", re.IGNORECASE)
STATE_DB = "state.sqlite3"
DEDUP_DB = "dedup.sqlite3"


@dataclass
class Result:
    """What a worker hands back to the coordinator for one task."""

    task: Task
    ok: bool = False
    http_status: int | None = None
    error: str | None = None
    attempts: int = 1
    nbytes: int | None = None
    warc_file: str | None = None
    warc_offset: int | None = None
    record_type: str | None = None
    content_type: str | None = None
    location: str | None = None
    links: list = field(default_factory=list)  # linkmod.Link
    sitemap_pages: list[str] = field(default_factory=list)
    sitemap_children: list[str] = field(default_factory=list)
    robots: robotsmod.Rules | None = None
    fatal: str | None = None  # the output cannot be written (disk full): stop, keep the URL queued
    body: tuple[str, int] | None = None  # WARC path and offset of the record holding the payload
    refers_to: str | None = None  # an identical-payload revisit's original URL
    warc_length: int | None = None  # with the next three: the record's CDXJ line
    warc_date: str | None = None
    payload_digest: str | None = None
    index_key: str | None = None
    retry_after: float | None = None  # the server's Retry-After on a final 429/503
    skipped_reason: str | None = None  # not fetched after all (a public name for a private address)
    held_links: int = 0  # links counted against the engine's budget until the coordinator applies them



def resolves_to_private(url: str, trusted_hosts) -> bool:
    """True when a host other than the seeds' is a name for a private, loopback or link-local
    address, so a hostile page cannot reach an intranet through a public-looking name."""
    o = origin(url)
    if o is None or o[1] in trusted_hosts or is_private_host(o[1]):
        return False  # literal private addresses were already refused by the scope
    try:
        ipaddress.ip_address(o[1].strip("[]"))
        return False  # a public address literal
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(o[1], o[2], proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # unresolvable: the fetch fails and says so
    return any(not ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_global for info in infos)


def parse_result_links(config: CrawlConfig, task: Task, result: Result, body: bytes, headers,
                       status: int | None = None) -> None:
    """Fill ``result``'s links (or robots rules, or sitemap entries) from a decoded body."""
    ctype = (header_value(headers, "content-type") or "").lower()
    mime = ctype.split(";", 1)[0].strip()
    status = status or result.http_status or 0
    if task.kind == "robots":
        result.robots = robotsmod.parse(status, body)
        return
    if 300 <= status < 400:
        location = header_value(headers, "location")
        if location:
            result.location = resolve_link(task.url, location)
    if not body or status >= 400:
        return
    limit = config.max_parse_bytes
    if task.kind == "sitemap" or (mime in ("application/xml", "text/xml") and "sitemap" in task.url.lower()):
        try:
            found = parse_sitemap(body)
        except SitemapError as exc:
            log.warning("sitemap %s not read: %s", task.url, exc)
            return
        resolved = ([u for u in (resolve_link(task.url, ref) for ref in refs) if u]
                    for refs in (found.sitemaps, found.pages))
        result.sitemap_children, result.sitemap_pages = resolved
    elif mime in ("text/html", "application/xhtml+xml") or (not mime and body.lstrip()[:1] == b"<"):
        charset = None
        if "charset=" in ctype:
            charset = ctype.split("charset=", 1)[1].split(";")[0].strip(" \"'") or None
        result.links = linkmod.extract_html(body, task.url, encoding=charset, max_bytes=limit)
    elif mime == "text/css":
        result.links = linkmod.extract_css(body, task.url, max_bytes=limit)
    refresh = header_value(headers, "refresh")
    if refresh:
        parsed = parse_refresh(refresh)
        url = parsed and resolve_link(task.url, parsed[1])
        if url:
            result.links.append(linkmod.Link(url, False, "refresh_header"))
    for ref, params in _LINK_HEADER.findall(header_value(headers, "link") or ""):
        rels = _LINK_REL.search(params)
        if rels and "canonical" in rels.group(1).lower().split():
            url = resolve_link(task.url, ref)
            if url:
                result.links.append(linkmod.Link(url, False, "link_header"))


@dataclass
class Fetched:
    """A task's final answer, fetched and waiting to be written and parsed."""

    task: Task
    fetched: FetchResult
    previous: tuple | None = None  # (headers, body) of the previous crawl's record, for a 304
    outcome: str | None = None  # what went wrong, for crawl.jsonl (``Attempts.outcome``)


@dataclass(frozen=True)
class Retry:
    """The task is to be tried again, not before ``not_before`` (engine clock)."""

    task: Task
    not_before: float
    http_status: int | None = None
    retry_after: float | None = None


class Worker:
    """One fetching thread's tools: its own HTTP connections, one attempt per call.  What
    it fetched goes to a ``Recorder`` (another thread), so the connection is busy again
    while the answer is written and parsed; a URL to be tried again goes back to the
    coordinator (``Retry``), which dispatches it when its wait is over."""

    def __init__(self, config: CrawlConfig, sink: "Sink", fetcher: Fetcher, policy: RetryPolicy,
                 clock: Callable[[], float], trusted_hosts=()):
        self.config = config
        self.sink = sink
        self.fetcher = fetcher
        self.policy = policy
        self.clock = clock
        self.trusted_hosts = trusted_hosts  # the seeds' hosts: private addresses allowed there

    def fetch(self, task: Task, on_sent: Callable[[], None] | None = None) -> Fetched | Result | Retry:
        """One attempt at the task: its final answer, its final Result when there is nothing
        to write, or a Retry.  ``on_sent`` goes to the fetcher (``Fetcher.fetch``): it is
        called once the request is on the wire, unless the task ends before a request."""
        if resolves_to_private(task.url, self.trusted_hosts):
            return Result(task, skipped_reason="out_of_scope")
        tries = task.tries = task.tries or Attempts(started=self.clock())
        conditional = self.sink.conditional_headers(task.url)
        fetched = self._attempt(task.url, conditional, tries, on_sent)
        previous = None
        if conditional and fetched.status == 304:
            # unchanged since the previous crawl: its record holds the body whose links we follow
            previous = self.sink.previous_payload(task.url, self.config.max_parse_bytes)
            if previous is None:  # that record is gone: fetch the page itself
                fetched.close()
                fetched = self._attempt(task.url, None, tries)
        now = self.clock()
        wait = self.policy.after(fetched, tries, now)
        if wait is not None:
            tries.keep(fetched)
            return Retry(task, now + wait, fetched.status, fetched.retry_after)
        answer = tries.final(fetched)
        outcome = tries.outcome(answer)
        if not answer.recorded:
            answer.close()
            result = Result(task, attempts=answer.attempts, http_status=answer.status,
                            error=outcome or "no answer", retry_after=answer.retry_after)
            if task.kind == "robots":
                result.robots = robotsmod.parse(None, b"")
            return result
        return Fetched(task, answer, previous if answer is fetched else None, outcome)

    def _attempt(self, url: str, headers: dict | None, tries: Attempts,
                 on_sent: Callable[[], None] | None = None) -> FetchResult:
        return self.fetcher.fetch(url, headers=headers, time_limit=self.policy.time_left(tries, self.clock()),
                                  on_sent=on_sent)


class Recorder:
    """Writes a fetched answer's WARC records through the shared ``Sink`` and finds its
    links (thread-safe: several recording threads share one)."""

    def __init__(self, config: CrawlConfig, sink: "Sink"):
        self.config = config
        self.sink = sink

    def record(self, item: Fetched) -> Result:
        task, fetched, previous = item.task, item.fetched, item.previous
        try:
            result = Result(task, attempts=fetched.attempts, http_status=fetched.status, error=item.outcome,
                            content_type=fetched.header("content-type"), retry_after=fetched.retry_after)
            ref = self.sink.write(fetched)
            result.ok = True
            result.nbytes = fetched.response_length
            result.warc_file, result.warc_offset, result.record_type = ref.filename, ref.offset, ref.record_type
            result.warc_length, result.warc_date = ref.length, ref.date
            result.payload_digest = fetched.payload_digest
            result.index_key = surt_key(task.url)
            if previous is not None:
                result.body = self.sink.previous_body(task.url)
                result.payload_digest = self.sink.previous_digest(task.url)
                headers, body = previous
                result.content_type = result.content_type or dict((k.lower(), v) for k, v in headers).get("content-type")
                parse_result_links(self.config, task, result, body, headers, status=200)
                return result
            if ref.record_type == "response":
                result.body = (str(self.sink.warc_dir / ref.filename), ref.offset)
            else:
                result.refers_to = ref.refers_to
            body = fetched.content(max_bytes=self.config.max_parse_bytes) if self._wants_body(task, fetched) else b""
            parse_result_links(self.config, task, result, body, fetched.headers)
            return result
        finally:
            fetched.close()

    @staticmethod
    def _wants_body(task: Task, fetched) -> bool:
        status = fetched.status or 0
        if task.kind in ("robots", "sitemap"):
            return 200 <= status < 300
        if not 200 <= status < 300:
            return False
        ctype = (fetched.header("content-type") or "").lower()
        return not ctype or any(t in ctype for t in ("html", "css", "xml"))


class Sink:
    """Where fetched answers go: the WARC writer, through the payload-digest
    deduplicator (seeded from ``previous`` for cross-run dedup and conditional
    requests)."""

    def __init__(self, config: CrawlConfig, out_dir: Path):
        self.config = config
        self.out_dir = out_dir
        self.warc_dir = out_dir / "warc"
        self.writer = WarcWriter(
            self.warc_dir, prefix="archiver", max_size=config.warc_max_size,
            record_credentials=config.record_credentials,
            info={"robots": "ignore" if config.ignore_robots else "obey",
                  "http-header-user-agent": config.user_agent},
        )
        # its own file: recorders write it while the coordinator holds the frontier's transaction
        self.index = DedupIndex(out_dir / DEDUP_DB, deferred=True)  # committed by flush()
        self.dedup = Deduplicator(self.index, self.writer)
        self.incremental = config.previous is not None
        self.previous = None
        if self.incremental:
            self.previous = PreviousCrawl(Path(config.previous), STATE_DB)
            self._import_previous(Path(config.previous))

    def _import_previous(self, previous: Path) -> None:
        if (previous / DEDUP_DB).exists():
            n = self.index.import_state(previous / DEDUP_DB)
        else:  # a crawl by another tool, or one whose state is gone: read its WARC files
            n = self.index.import_warcs(sorted(previous.rglob("*.warc.gz")) + sorted(previous.rglob("*.warc")))
        log.info("incremental: %d digests and validators from %s", n, previous)

    def _previous(self, url: str):
        return self.index.previous(url) if self.incremental else None

    def recovered(self, cut_urls) -> None:
        """After crash recovery: originals announced but never written, and records recovery
        cut (``cut_urls``), no longer hold their payloads: later copies must not become
        revisits of them."""
        withdrawn = self.index.settle(sorted(self.warc_dir.glob("*.warc.gz")))
        if withdrawn:
            log.info("resuming: %d response(s) the last run announced were never written", withdrawn)
        self.index.forget(cut_urls)

    def conditional_headers(self, url: str) -> dict | None:
        previous = self._previous(url)
        return previous.conditional_headers() or None if previous else None

    def previous_body(self, url: str) -> tuple[str, int] | None:
        return self.previous.body_location(url) if self.previous is not None else None

    def previous_digest(self, url: str) -> str | None:
        previous = self._previous(url)
        return previous.digest if previous else None

    def previous_payload(self, url: str, max_bytes: int):
        return read_payload(self.previous_body(url), max_bytes)

    def write(self, fetched):
        return self.dedup.write(fetched, previous=self._previous(fetched.url))

    def flush(self) -> None:
        """fsync the WARC files, then commit the dedup bookkeeping of what they hold."""
        self.writer.flush()
        self.index.commit()

    def close(self) -> None:
        self.writer.close()
        self.index.close()
        if self.previous is not None:
            self.previous.close()
