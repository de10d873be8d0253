"""Fetch one URL with retries and record the exchange byte for byte.

``requests`` is the HTTP client, but WARC needs the message *as it crossed the
wire* (status line, headers, chunk framing, gzip), which ``requests`` and
``http.client`` have already taken apart. So the session's urllib3 pool uses
connection subclasses that tee every byte: ``send()`` records the request as
sent, and the ``http.client`` response reads from a socket reader that copies
everything it receives into a :class:`~.wire.Recording` (spooled to disk
above 1 MB). The recording for the current attempt is found through a
thread-local, so each worker thread needs its own session (the fetcher keeps
one per thread) and requests are synchronous per thread.

urllib3 versions: these hooks are tested with urllib3 2.0.2 to 2.8.0 (the
upper bound is pinned in pyproject.toml; ``test_capture_fetch`` checks each
hook and fails by name when urllib3 moves one).  They rely on:

- ``PoolManager.pool_classes_by_scheme``: the adapter's pool manager builds
  our pool classes, whose ``ConnectionCls`` are the teeing connections;
- ``HTTPConnectionPool._make_request(conn, method, url, ...)`` (private): our
  pools swap in the request target exactly as written, found through the
  thread-local (urllib3 would re-encode it), passing every other argument on;
- ``HTTPSConnectionPool._validate_conn(conn)`` (private): ours connects as
  urllib3's does but without its ``InsecureRequestWarning``.  Not verifying
  certificates is this crawler's choice (``verify_tls``: archive what the
  site serves), so these pools alone stay quiet; warnings are not silenced
  for anything else in the process;
- ``HTTPConnection.response_class`` and ``http.client.HTTPResponse(sock,
  debuglevel, method, url)``: our response class replaces its ``fp`` with a
  reader that tees the socket (``socket._io_refs`` kept as
  ``socket.makefile`` keeps it).

Public API::

    fetcher = Fetcher(user_agent="archiver/0.1", timeout=30, total_timeout=120,
                      max_response_bytes=100 * 2**20, extra_headers={}, max_retries=3,
                      retry_base_delay=1.0, max_retry_after=300, verify_tls=False)
    result = fetcher.fetch(url, headers=None)   # one URL, retries included, no redirects followed
    result.status, result.reason, result.headers          # final answer (headers: list of pairs)
    result.request                                        # raw request bytes as sent
    result.response, result.response_length, result.head_length  # raw spool, rewound by readers
    result.payload_digest, result.block_digest, result.ip, result.date
    result.truncated      # None | "length" | "time" | "disconnect"  (WARC-Truncated)
    result.attempts, result.error, result.elapsed
    result.permanent      # the error is one no retry fixes (invalid URL, unsupported scheme)
    result.recorded       # True if there is an HTTP answer to write to the WARC
    result.location       # absolute Location of a redirect, else None
    result.content(max_bytes=20 * 2**20) -> bytes   # de-chunked, content-decoded, capped
    result.close()        # free the spool once written
    fetcher.close()

Behaviour: ``allow_redirects=False`` (the crawl engine decides about scope);
the body is read until EOF or ``max_response_bytes`` (then the connection is
dropped and ``truncated="length"``); ``total_timeout`` bounds the whole answer
(a server dripping a byte every few seconds), giving ``truncated="time"`` when
some body arrived. Connection errors, time-outs, cut bodies, 429 and 5xx are
retried with exponential back-off and full jitter (tenacity), honouring
``Retry-After`` (seconds or HTTP date, capped by ``max_retry_after``) on 429
and 503. Only the final attempt is returned; earlier spools are freed.

The URL is sent exactly as given (quotes, braces, ``%2f``-style escapes are
neither re-quoted nor normalised); only URLs with characters that cannot
appear in a request line (spaces, controls, non-ASCII) go through
``requests``' quoting.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Callable
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_random_exponential
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from archiver.http_message import (BROTLI_BOUNDED, READ_SIZE, Headers, decode_body, header_value, is_chunked,
                                   iter_dechunked, payload_digest_of, split_head, warc_digest)
from archiver.urls import resolve_link

from .wire import SPOOL_IN_MEMORY, Recording

DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))

_current = threading.local()  # .recording: the Recording of this thread's in-flight attempt


# ------------------------------------------------------------------ recording transport

class _TeeSocketIO(socket.SocketIO):
    """A socket reader that copies every byte received into the recording and
    enforces the recording's total deadline on each read."""

    def __init__(self, sock, recording: Recording):
        super().__init__(sock, "rb")
        sock._io_refs += 1  # as socket.makefile() does; keeps a closed socket readable
        self._recording = recording
        self._read_timeout = sock.gettimeout()

    def readinto(self, b):
        rec = self._recording
        left = rec.check_deadline()
        if left is not None:
            timeout = left if self._read_timeout is None else min(left, self._read_timeout)
            self._sock.settimeout(max(timeout, 0.001))
        try:
            n = super().readinto(b)
        except TimeoutError:
            if rec.deadline is not None and time.monotonic() >= rec.deadline:
                rec.deadline_hit = True
            raise
        if n:
            rec.on_receive(memoryview(b)[:n])
        return n


class _TeeHTTPResponse(http.client.HTTPResponse):
    def __init__(self, sock, debuglevel=0, method=None, url=None):
        super().__init__(sock, debuglevel, method, url)
        recording = getattr(_current, "recording", None)
        if recording is not None:
            self.fp.close()
            self.fp = io.BufferedReader(_TeeSocketIO(sock, recording), READ_SIZE)


class _RecordingConnectionMixin:
    response_class = _TeeHTTPResponse
    _peer_ip: str | None = None

    def connect(self):
        super().connect()
        try:
            self._peer_ip = self.sock.getpeername()[0]
        except (OSError, AttributeError, IndexError):
            self._peer_ip = None

    def send(self, data):
        super().send(data)  # connects first if needed (plain HTTP connects lazily)
        recording = getattr(_current, "recording", None)
        if recording is not None and isinstance(data, (bytes, bytearray, memoryview)):
            recording.ip = self._peer_ip
            recording.on_send(bytes(data))


class _HTTPConnection(_RecordingConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_RecordingConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _ExactTargetMixin:
    """Send the request target exactly as the URL was written (urllib3 would
    percent-encode quotes and braces and upper-case existing escapes)."""

    def _make_request(self, conn, method, url, *args, **kwargs):
        target = getattr(_current, "target", None)
        return super()._make_request(conn, method, target or url, *args, **kwargs)


class _HTTPPool(_ExactTargetMixin, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_ExactTargetMixin, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection

    def _validate_conn(self, conn):
        """urllib3's, without the warning on an unverified certificate (see the module docstring)."""
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


class _RecordingAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# ------------------------------------------------------------------ results

@dataclass
class FetchResult:
    """The final answer for one URL (see the module docstring)."""

    url: str
    status: int | None = None
    reason: str = ""
    headers: Headers = field(default_factory=list)
    request: bytes = b""
    response: BinaryIO | None = None
    response_length: int = 0
    head_length: int = 0
    payload_digest: str | None = None
    block_digest: str | None = None
    ip: str | None = None
    date: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    truncated: str | None = None
    attempts: int = 1
    error: str | None = None
    elapsed: float = 0.0
    retry_after: float | None = None
    deadline_hit: bool = False
    permanent: bool = False  # an error no retry can fix (invalid URL, unsupported scheme)

    @property
    def recorded(self) -> bool:
        """True when an HTTP answer (at least its head) was received and can be written."""
        return self.response is not None and self.status is not None

    @property
    def body_length(self) -> int:
        return self.response_length - self.head_length

    @property
    def location(self) -> str | None:
        """The absolute redirect target of a 3xx answer, else None."""
        if self.status is None or not 300 <= self.status < 400:
            return None
        loc = header_value(self.headers, "location")
        return resolve_link(self.url, loc) if loc else None

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def iter_raw(self, start: int = 0, end: int | None = None):
        """Yield the recorded bytes ``[start, end)`` (default: the whole message)."""
        if self.response is None:
            return
        end = self.response_length if end is None else end
        self.response.seek(start)
        left = end - start
        while left > 0:
            data = self.response.read(min(left, READ_SIZE))
            if not data:
                return
            left -= len(data)
            yield data

    def content(self, max_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> bytes:
        """The body de-chunked and content-decoded, at most ``max_bytes`` (for parsing)."""
        if self.response is None:
            return b""
        self.response.seek(self.head_length)
        data, _capped = decode_body(self.response, self.headers, max_bytes, self.body_length)
        return data

    @property
    def retryable(self) -> bool:
        if self.permanent:
            return False
        if self.error is not None:
            return not self.deadline_hit or self.body_length <= 0
        return self.status in RETRY_STATUSES

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
            self.response = None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _message_end(result: FetchResult, method: str = "GET") -> int:
    """Where the HTTP message ends inside the recording (bytes after it are not ours)."""
    length = result.response_length
    if method == "HEAD" or result.status in (204, 304) or (result.status or 0) < 200:
        return result.head_length
    if is_chunked(result.headers):
        stats: dict = {}
        result.response.seek(result.head_length)
        for _ in iter_dechunked(result.response, stats):
            pass
        return length if stats["end"] is None else min(length, result.head_length + stats["end"])
    cl = header_value(result.headers, "content-length")
    if cl and cl.strip().isdigit():
        return min(length, result.head_length + int(cl.strip()))
    return length


def _drop_interim(rec: Recording, length: int):
    """A new spool holding the recording minus its first ``length`` bytes."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    rec.received.seek(length)
    while data := rec.received.read(READ_SIZE):
        spool.write(data)
    rec.received.close()
    rec.received, rec.received_length = spool, rec.received_length - length
    spool.seek(0)
    return spool


def _finish(result: FetchResult, rec: Recording) -> FetchResult:
    """Parse the recording's head, trim bytes past the message and compute digests."""
    result.request = bytes(rec.sent)
    result.ip = rec.ip
    result.deadline_hit = rec.deadline_hit
    if rec.received_length == 0:
        rec.close()
        return result
    spool = rec.received
    spool.seek(0)
    head, status, reason, headers = split_head(spool)
    if status == 100:  # "100 Continue" before the real answer: http.client skips it, so do we
        spool = _drop_interim(rec, len(head))
        head, status, reason, headers = split_head(spool)
    if status is None:
        rec.close()
        result.error = result.error or "not an HTTP answer"
        return result
    result.status, result.reason, result.headers = status, reason, headers
    result.response, result.response_length, result.head_length = spool, rec.received_length, len(head)
    if result.truncated is None:
        end = _message_end(result)
        if end < result.response_length:
            spool.seek(end)
            spool.truncate()
            result.response_length = end
    block = hashlib.sha1()
    for data in result.iter_raw():
        block.update(data)
    result.block_digest = warc_digest(block)
    spool.seek(result.head_length)
    result.payload_digest = payload_digest_of(spool, headers)
    result.retry_after = parse_retry_after(header_value(headers, "retry-after"))
    return result


# ------------------------------------------------------------------ the fetcher

_INVALID_REQUEST = (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                    requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader,
                    urllib3.exceptions.LocationValueError, UnicodeError)
_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                   http.client.HTTPException)


class Fetcher:
    """Fetches URLs one at a time per thread; safe to share between threads."""

    def __init__(self, user_agent: str = "archiver", timeout: float = 30.0, total_timeout: float = 120.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, extra_headers: dict | None = None,
                 max_retries: int = 3, retry_base_delay: float = 1.0, max_retry_after: float = 300.0,
                 max_backoff: float = 60.0, verify_tls: bool = False,
                 sleep: Callable[[float], None] = time.sleep):
        self.user_agent = user_agent
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self.extra_headers = dict(extra_headers or {})
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.max_retry_after = max_retry_after
        self.max_backoff = max_backoff
        self.verify_tls = verify_tls  # archive what the site serves, even behind a bad certificate
        self.sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._backoff = wait_random_exponential(multiplier=retry_base_delay, max=max_backoff)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never send ~/.netrc credentials or use env proxies on a crawl
            adapter = _RecordingAdapter(pool_connections=16, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({
                "User-Agent": self.user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                # br only where its decoding can be capped
                "Accept-Encoding": "gzip, deflate, br" if BROTLI_BOUNDED else "gzip, deflate",
            })
            session.headers.update(self.extra_headers)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _wait(self, state) -> float:
        result: FetchResult = state.outcome.result()
        if result.retry_after is not None and result.status in (429, 503):
            return min(result.retry_after, self.max_retry_after)
        return self._backoff(state)

    def fetch(self, url: str, headers: dict | None = None) -> FetchResult:
        """Fetch ``url`` (GET, no redirects followed), retrying transient failures."""
        started = time.monotonic()
        attempts = 0

        def attempt() -> FetchResult:
            nonlocal attempts
            attempts += 1
            return self._attempt(url, headers)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_result(lambda r: r.retryable),
            before_sleep=lambda state: state.outcome.result().close(),
            retry_error_callback=lambda state: state.outcome.result(),
            sleep=self.sleep,
        )
        result = retrying(attempt)
        result.attempts = attempts
        result.elapsed = time.monotonic() - started
        return result

    def _attempt(self, url: str, headers: dict | None) -> FetchResult:
        session = self._session()
        rec = Recording(deadline=time.monotonic() + self.total_timeout if self.total_timeout else None)
        result = FetchResult(url=url)
        _current.recording = rec
        try:
            if _unusable_host(url):  # urllib3 before 2.8 would look it up in DNS, again and again
                raise requests.exceptions.InvalidURL(f"no such host name can exist: {urlsplit(url).hostname!r}")
            prepared = session.prepare_request(requests.Request("GET", url, headers=headers or {}))
            session.get_adapter(prepared.url)
        except _INVALID_REQUEST as exc:  # a URL no retry can fix
            _current.recording = None
            rec.close()
            result.error, result.permanent = f"invalid URL: {exc}"[:500], True
            return result
        try:
            if _sendable_as_written(url):
                prepared.url = url  # requests would re-quote; fetch exactly what the site wrote
                _current.target = _request_target(url)
            result.url = prepared.url
            result.date = datetime.now(timezone.utc)
            response = session.send(prepared, stream=True, allow_redirects=False,
                                    timeout=(self.timeout, self.timeout), verify=self.verify_tls)
        except _INVALID_REQUEST as exc:
            _current.recording = None
            result.error, result.permanent = f"invalid URL: {exc}"[:500], True
            return _finish(result, rec)
        except _NETWORK_ERRORS as exc:
            _current.recording = None
            result.error = self._describe(exc, rec, url)
            return _finish(result, rec)
        finally:
            _current.target = None
        try:
            self._read_body(response, rec, result)
        finally:
            _current.recording = None
        return _finish(result, rec)

    def _describe(self, exc: BaseException, rec: Recording, url: str) -> str:
        if rec.deadline_hit:
            return f"timed out after {self.total_timeout:g} s in total (the answer came too slowly)"
        return describe_error(exc, url, self.timeout)

    def _read_body(self, response: requests.Response, rec: Recording, result: FetchResult) -> None:
        raw = response.raw
        clean = False
        try:
            while True:
                if rec.received_length > self.max_response_bytes:
                    result.truncated = "length"
                    break
                if not raw.read(READ_SIZE, decode_content=False):
                    clean = True
                    break
        except _NETWORK_ERRORS as exc:
            result.error = self._describe(exc, rec, result.url)
            timed_out = isinstance(exc, (TimeoutError, socket.timeout, urllib3.exceptions.TimeoutError,
                                         requests.Timeout))
            result.truncated = "time" if timed_out else "disconnect"
        finally:
            if clean:
                raw.release_conn()
            else:
                raw.close()  # a cut or capped answer leaves the connection unusable
                raw.release_conn()

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _request_target(url: str) -> str:
    """Path and query of ``url`` as written (no fragment), for the request line."""
    rest = url.split("://", 1)[-1].split("#", 1)[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    target = rest[cut:]
    return target if target.startswith("/") else "/" + target


def _unusable_host(url: str) -> bool:
    """A host with characters no DNS name or address literal has (controls, spaces)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False  # requests names what is wrong
    return any(ord(c) <= 0x20 or c == "\x7f" for c in host)


def _sendable_as_written(url: str) -> bool:
    return url.isascii() and not any(ord(c) <= 0x20 or c == "\x7f" for c in url)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (requests -> urllib3 -> socket), outermost first."""
    found, todo, seen = [], [exc], set()
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        found.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
    return found


def describe_error(exc: BaseException, url: str, timeout: float) -> str:
    """Why a request failed, in the words a person reads in crawl.jsonl and on the console
    (not urllib3's pool and retry wrappers)."""
    causes = _causes(exc)
    host = urlsplit(url).hostname or url

    def first(*types):
        return next((e for e in causes if isinstance(e, types)), None)

    if first(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return f"cannot resolve host {host}"
    if first(ConnectionRefusedError):
        return "connection refused"
    if first(TimeoutError):  # socket.timeout too
        connecting = first(urllib3.exceptions.ConnectTimeoutError) and not first(urllib3.exceptions.NewConnectionError)
        return f"timed out after {timeout:g} s " + ("connecting" if connecting else "waiting for the server")
    if tls := first(ssl.SSLError):
        return f"TLS failed: {tls.reason or tls}".lower()
    if cut := first(http.client.IncompleteRead):
        got = len(cut.partial) if isinstance(cut.partial, (bytes, bytearray)) else cut.partial
        announced = f" of {got + cut.expected}" if cut.expected is not None else ""  # expected: still missing
        return f"the answer was cut off after {got}{announced} bytes"
    if first(ConnectionResetError):
        return "connection reset by the server"
    if first(http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if (os_error := first(OSError)) and os_error.strerror:
        return os_error.strerror.lower()
    innermost = causes[-1]
    return f"{type(innermost).__name__}: {innermost}"[:500]
