"""Fetch one URL once and record the exchange byte for byte.

urllib3 is the HTTP client (one pool per origin per thread), but WARC needs the
message *as it crossed the wire* (status line, headers, chunk framing, gzip),
which urllib3 and ``http.client`` have already taken apart. So the pools use
connection subclasses that tee every byte: ``send()`` records the request as
sent, and the ``http.client`` response reads from a socket reader that copies
everything it receives into a :class:`~.wire.Recording` (spooled to disk
above 1 MB). The recording for the current request is found through a
thread-local, so each thread has its own pools and its requests are
synchronous.

``requests`` is not used here: its per-request machinery (preparing,
merging settings, hooks, its Response) cost as much CPU as urllib3 itself and
none of it is needed, since the crawler reads the recording, not the response.
Cookies the site sets are kept in one ``http.cookiejar`` jar for the whole
fetcher (all threads), as a browser or wget would send them back.  The jar
(with ``urllib.request``, ~13 ms of imports) is made at the first
``Set-Cookie``: many sites never send one.

urllib3 versions: these hooks are tested with urllib3 2.0.2 to 2.8.0 (the
upper bound is pinned in pyproject.toml; ``test_capture_fetch`` checks each
hook and fails by name when urllib3 moves one).  They rely on:

- ``HTTPConnectionPool(host, port, maxsize=, retries=)`` and
  ``HTTPSConnectionPool(..., cert_reqs=)``: each thread keeps one pool per
  origin (our subclasses, whose ``ConnectionCls`` are the teeing
  connections) and calls ``urlopen`` on it;
- ``HTTPConnectionPool._make_request(conn, method, url, ...)`` (private): our
  pools swap in the request target exactly as written, found through the
  thread-local (urllib3 would re-encode it), passing every other argument on;
- ``HTTPSConnectionPool._validate_conn(conn)`` (private): ours connects as
  urllib3's does but without its ``InsecureRequestWarning``.  Not verifying
  certificates is this crawler's choice (``verify_tls``: archive what the
  site serves), so these pools alone stay quiet; warnings are not silenced
  for anything else in the process;
- ``HTTPConnection.is_connected`` (a property), which the pool's check for a
  dropped connection (``util.connection.is_connection_dropped``) reads: ours
  answers without a ``poll()`` for a connection used under a second ago;
- ``HTTPConnection.response_class`` and ``http.client.HTTPResponse(sock,
  debuglevel, method, url)``: our response class replaces its ``fp`` with a
  reader that tees the socket (``socket._io_refs`` kept as
  ``socket.makefile`` keeps it).

Public API::

    fetcher = Fetcher(user_agent="archiver/0.1", timeout=30, total_timeout=120,
                      max_response_bytes=100 * 2**20, extra_headers={}, verify_tls=False,
                      clock=time.monotonic)
    result = fetcher.fetch(url, headers=None, time_limit=None,  # one attempt, no redirects followed
                           on_sent=None)  # called once the request is on the wire (or the attempt is over)
    result.status, result.reason, result.headers          # the answer (headers: list of pairs)
    result.request                                        # raw request bytes as sent
    result.response, result.response_length, result.head_length  # raw spool, rewound by readers
    result.payload_digest, result.block_digest, result.ip, result.date
    result.truncated      # None | "length" | "time" | "disconnect"  (WARC-Truncated)
    result.error, result.retry_after, result.attempts (set by whoever retries)
    result.permanent      # the error is one no retry fixes (invalid URL, unsupported scheme)
    result.retryable      # a connection error, a time-out, a cut answer, 429 or 5xx
    result.partial        # an answer arrived, then stalled, dripped past the deadline or was cut
    result.recorded       # True if there is an HTTP answer to write to the WARC
    result.location       # absolute Location of a redirect, else None
    result.content(max_bytes=20 * 2**20) -> bytes   # de-chunked, content-decoded, capped
    result.close()        # free the spool once written
    fetcher.close()

Behaviour: redirects are not followed (the crawl engine decides about
scope); the body is read until EOF or ``max_response_bytes`` (then the
connection is dropped and ``truncated="length"``); the attempt ends at
``min(total_timeout, time_limit)`` seconds of ``clock`` (a server dripping a
byte every few seconds), giving ``truncated="time"`` when some body arrived.
Nothing is retried here: which attempts are repeated, and when, is
``retry.py``'s decision, so that a URL waiting to be tried again holds no
connection and no politeness slot.  The one exception is HTTP's own: a
request sent on a kept-alive connection the server had closed meanwhile (no
byte came back) is sent once more on a new connection.  A connection whose
last request is under a second old is reused without urllib3's ``poll()``
for a dropped connection, which would hand the GIL away just before the
request (see ``_RecordingConnectionMixin``).  For the same reason a caller
may leave its bookkeeping about the previous answer to ``on_sent``: it runs
as soon as the request has gone out, so waking other threads for that answer
happens while the server works on this one, not between the two requests.

The URL is sent exactly as given (quotes, braces, ``%2f``-style escapes are
neither re-quoted nor normalised); only URLs with characters that cannot
appear in a request line (spaces, controls, non-ASCII) go through urllib3's
encoding.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import re
import socket
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Callable
from urllib.parse import urlsplit

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url

from archiver.http_message import (
    BROTLI_BOUNDED,
    READ_SIZE,
    Headers,
    decode_body,
    is_chunked,
    iter_dechunked,
    payload_digest_of,
    split_head,
    warc_digest,
)
from archiver.urls import resolve_link

from .wire import SPOOL_IN_MEMORY, Recording

DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
POOLS_PER_THREAD = 16  # origins a fetching thread keeps a connection open to
FRESH_CONNECTION = 1.0  # seconds after its last request that a connection is reused unchecked

_current = threading.local()  # .recording: the Recording of this thread's in-flight request; .on_sent


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
            if rec.deadline is not None and rec.clock() >= rec.deadline:
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
    """Tees what is sent into the thread's recording, and skips urllib3's check for a
    dropped connection while the connection's last request is less than
    ``FRESH_CONNECTION`` seconds old: that check is a ``poll()``, which lets go of the GIL
    between an answer and the next request, and getting it back cost ~1 ms on average
    beside another busy process.  A kept-alive connection the server closed anyway (the
    check could only narrow that race) is tried once more on a new one (``Fetcher.fetch``)."""

    response_class = _TeeHTTPResponse
    _peer_ip: str | None = None
    _requested_at: float | None = None  # time.monotonic() of the last request on this connection

    def connect(self):
        super().connect()
        self._requested_at = None
        try:
            self._peer_ip = self.sock.getpeername()[0]
        except (OSError, AttributeError, IndexError):
            self._peer_ip = None

    @property
    def is_connected(self) -> bool:
        if self.sock is not None and self._requested_at is not None \
                and time.monotonic() - self._requested_at < FRESH_CONNECTION:
            return True
        return super().is_connected

    def send(self, data):
        recording = getattr(_current, "recording", None)
        first = recording is not None and not recording.sent  # a request's first bytes
        if first:
            recording.reused = self.sock is not None and self._requested_at is not None
        super().send(data)  # connects first if needed (plain HTTP connects lazily)
        if recording is not None and isinstance(data, (bytes, bytearray, memoryview)):
            recording.ip = self._peer_ip
            recording.on_send(bytes(data))
            if first:
                self._requested_at = time.monotonic()
                _request_sent()


def _request_sent() -> None:
    """Run the thread's ``on_sent`` callback, once."""
    callback = getattr(_current, "on_sent", None)
    if callback is not None:
        _current.on_sent = None
        callback()


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


# ------------------------------------------------------------------ results

@dataclass
class FetchResult:
    """The answer to one attempt (see the module docstring)."""

    url: str
    status: int | None = None
    reason: str = ""
    headers: Headers = field(default_factory=list)
    request: bytes = b""
    response: BinaryIO | None = None
    response_length: int = 0
    head_length: int = 0
    ip: str | None = None
    date: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    truncated: str | None = None
    attempts: int = 1  # set by whoever tries again (``retry.Attempts``)
    error: str | None = None
    retry_after: float | None = None
    deadline_hit: bool = False
    permanent: bool = False  # an error no retry can fix (invalid URL, unsupported scheme)
    _first: tuple | None = field(default=None, repr=False, compare=False)  # (headers, {name: first value})
    _payload_digest: str | None = field(default=None, repr=False)
    _block_digest: str | None = field(default=None, repr=False)

    @property
    def payload_digest(self) -> str | None:
        """WARC-Payload-Digest: over the entity body, chunk framing removed, content coding kept."""
        if self._payload_digest is None:
            self._digest()
        return self._payload_digest

    @property
    def block_digest(self) -> str | None:
        """WARC-Block-Digest: over the message as received."""
        if self._block_digest is None:
            self._digest()
        return self._block_digest

    def _digest(self) -> None:
        """Both digests in one pass, at their first use: in a crawl that is the recording
        thread.  hashlib lets go of the GIL for every chunk it hashes, and a fetching thread
        that lets go of it between an answer and its next request waits for a recording
        thread to give it back (~1 ms on average beside another busy process)."""
        if self.response is None:
            return
        block = hashlib.sha1()
        for data in self.iter_raw(0, self.head_length):
            block.update(data)
        payload = hashlib.sha1() if self._payload_digest is None and not is_chunked(self.headers) else None
        for data in self.iter_raw(self.head_length):
            block.update(data)
            if payload is not None:
                payload.update(data)
        self._block_digest = warc_digest(block)
        if payload is not None:
            self._payload_digest = warc_digest(payload)
        elif self._payload_digest is None:  # chunked and cut: the framing was never read through
            self.response.seek(self.head_length)
            self._payload_digest = payload_digest_of(self.response, self.headers)

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
        loc = self.header("location")
        return resolve_link(self.url, loc) if loc else None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        if self._first is None or self._first[0] is not self.headers:
            first: dict[str, str] = {}
            for key, value in self.headers:
                first.setdefault(key.lower(), value)
            self._first = (self.headers, first)
        return self._first[1].get(name.lower())

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
    def partial(self) -> bool:
        """An answer arrived, then stalled, dripped past the deadline or was cut off."""
        return self.status is not None and self.truncated in ("time", "disconnect")

    @property
    def retryable(self) -> bool:
        """Another attempt may get a better answer: a connection error, a time-out, a cut
        answer, 429 or 5xx (not an answer cut at the total deadline: it came too slowly)."""
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


def _message_end(result: FetchResult, payload, method: str = "GET") -> int:
    """Where the HTTP message ends inside the recording (bytes after it are not ours); a
    chunked body's data, read on the way, goes into the ``payload`` hash (None: not chunked)."""
    length = result.response_length
    if method == "HEAD" or result.status in (204, 304) or (result.status or 0) < 200:
        return result.head_length
    if is_chunked(result.headers):
        stats: dict = {}
        result.response.seek(result.head_length)
        for data in iter_dechunked(result.response, stats):
            payload.update(data)
        return length if stats["end"] is None else min(length, result.head_length + stats["end"])
    cl = result.header("content-length")
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
    """Parse the recording's head and trim bytes past the message (the digests are computed
    at their first use, ``FetchResult._digest``)."""
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
    # a chunked body is read through to find its end: its payload digest comes on the way
    payload = hashlib.sha1() if is_chunked(headers) else None
    if result.truncated is None:
        end = _message_end(result, payload)
        if end < result.response_length:
            spool.seek(end)
            spool.truncate()
            result.response_length = end
        if payload is not None:
            result._payload_digest = warc_digest(payload)
    result.retry_after = parse_retry_after(result.header("retry-after"))
    return result


# ------------------------------------------------------------------ the fetcher

_INVALID_REQUEST = (urllib3.exceptions.LocationValueError, urllib3.exceptions.URLSchemeUnknown, UnicodeError)
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException)
_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError)


class Fetcher:
    """Fetches URLs one at a time per thread; safe to share between threads."""

    def __init__(self, user_agent: str = "archiver", timeout: float = 30.0, total_timeout: float = 120.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, extra_headers: dict | None = None,
                 verify_tls: bool = False, clock: Callable[[], float] = time.monotonic):
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self.verify_tls = verify_tls  # archive what the site serves, even behind a bad certificate
        self.clock = clock
        self.headers = _merge_headers({
            "User-Agent": user_agent,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            # br only where its decoding can be capped
            "Accept-Encoding": "gzip, deflate, br" if BROTLI_BOUNDED else "gzip, deflate",
        }, extra_headers)
        self.cookies = None  # an http.cookiejar.CookieJar from the first Set-Cookie on (thread-safe)
        self._no_retries = urllib3.Retry(total=False, redirect=False)
        self._local = threading.local()
        self._pools: list[OrderedDict] = []  # every thread's pools, closed by close()
        self._lock = threading.Lock()

    def _pool(self, scheme: str, host: str, port: int | None) -> HTTPConnectionPool:
        """This thread's pool for the origin: one connection, kept alive; the pools of the
        least recently used origins beyond ``POOLS_PER_THREAD`` are closed."""
        pools = getattr(self._local, "pools", None)
        if pools is None:
            pools = self._local.pools = OrderedDict()
            with self._lock:
                self._pools.append(pools)
        key = (scheme, host, port)
        pool = pools.get(key)
        if pool is not None:
            pools.move_to_end(key)
            return pool
        if scheme == "https":
            pool = _HTTPSPool(host, port, maxsize=1, retries=self._no_retries,
                              cert_reqs="CERT_REQUIRED" if self.verify_tls else "CERT_NONE")
        else:
            pool = _HTTPPool(host, port, maxsize=1, retries=self._no_retries)
        pools[key] = pool
        if len(pools) > POOLS_PER_THREAD:
            pools.popitem(last=False)[1].close()
        return pool

    def fetch(self, url: str, headers: dict | None = None, time_limit: float | None = None,
              on_sent: Callable[[], None] | None = None) -> FetchResult:
        """One GET of ``url`` (no redirects followed, nothing retried but a request lost to a
        kept-alive connection the server had closed), cut after ``total_timeout`` seconds or
        ``time_limit``, whichever is shorter.  ``on_sent`` (which must not raise) is called
        once: when the request is on the wire, or when the attempt ends without sending it."""
        _current.on_sent = on_sent
        try:
            return self._fetch(url, headers, limit=self.total_timeout if time_limit is None
                               else max(0.0, min(self.total_timeout, time_limit)))
        finally:
            _request_sent()

    def _fetch(self, url: str, headers: dict | None, limit: float) -> FetchResult:
        waits = min(self.timeout, limit)  # for a connection or the next bytes: never past the deadline
        result = FetchResult(url=url)
        try:
            target = parse_url(url)
            if target.scheme not in ("http", "https") or not target.host:
                raise urllib3.exceptions.LocationValueError(f"not an http(s) URL with a host: {url!r}")
            if _unusable_host(target.host):  # urllib3 before 2.8 would look it up in DNS, again and again
                raise urllib3.exceptions.LocationValueError(f"no such host name can exist: {target.host!r}")
            pool = self._pool(target.scheme, target.host, target.port)
        except _INVALID_REQUEST as exc:  # a URL no retry can fix
            result.error, result.permanent = f"invalid URL: {exc}"[:500], True
            return result
        if _sendable_as_written(url):
            _current.target = _request_target(url)  # urllib3 would re-quote; fetch exactly what the site wrote
        else:
            result.url = target.url
        request_headers = self._request_headers(result.url, headers)
        deadline = self.clock() + limit
        try:
            for last_try in (False, True):
                rec = Recording(deadline=deadline, clock=self.clock, limit=limit)
                _current.recording = rec
                try:
                    result.date = datetime.now(timezone.utc)
                    response = pool.urlopen("GET", target.request_uri, headers=request_headers,
                                            retries=self._no_retries, redirect=False, assert_same_host=False,
                                            timeout=urllib3.Timeout(connect=waits, read=waits),
                                            preload_content=False, decode_content=False, release_conn=False)
                    break
                except _INVALID_REQUEST as exc:
                    _current.recording = None
                    result.error, result.permanent = f"invalid URL: {exc}"[:500], True
                    return _finish(result, rec)
                except _NETWORK_ERRORS as exc:
                    _current.recording = None
                    if not last_try and _closed_while_kept_alive(exc, rec):
                        rec.close()
                        continue  # urllib3 dropped that connection: the pool opens a new one
                    result.error = self._describe(exc, rec, url, waits)
                    return _finish(result, rec)
        finally:
            _current.target = None
        try:
            self._read_body(response, rec, result, waits)
        finally:
            _current.recording = None
        _finish(result, rec)
        if result.recorded and result.header("set-cookie") is not None:
            import urllib.request  # with http.cookiejar: see the module docstring

            self._cookie_jar().extract_cookies(_CookieSource(result.headers), urllib.request.Request(result.url))
        return result

    def _request_headers(self, url: str, extra: dict | None) -> dict[str, str]:
        """The fetcher's headers, the caller's, and the cookies the site set (when it set any)."""
        headers = _merge_headers(self.headers, extra) if extra else dict(self.headers)
        if self.cookies is not None and len(self.cookies) and not any(name.lower() == "cookie" for name in headers):
            import urllib.request

            probe = urllib.request.Request(url)
            self.cookies.add_cookie_header(probe)
            cookie = probe.get_header("Cookie")
            if cookie:
                headers["Cookie"] = cookie
        return headers

    def _cookie_jar(self):
        with self._lock:
            if self.cookies is None:
                import http.cookiejar

                self.cookies = http.cookiejar.CookieJar()
            return self.cookies

    @staticmethod
    def _describe(exc: BaseException, rec: Recording, url: str, waits: float) -> str:
        if rec.deadline_hit:
            return f"timed out after {rec.limit:.3g} s in total (the answer came too slowly)"
        return describe_error(exc, url, waits)

    def _read_body(self, response: urllib3.BaseHTTPResponse, rec: Recording, result: FetchResult,
                   waits: float) -> None:
        clean = False
        try:
            while True:
                if rec.received_length > self.max_response_bytes:
                    result.truncated = "length"
                    break
                if not response.read(READ_SIZE, decode_content=False):
                    clean = True
                    break
        except _NETWORK_ERRORS as exc:
            result.error = self._describe(exc, rec, result.url, waits)
            result.truncated = "time" if isinstance(exc, _TIMEOUTS) else "disconnect"
        finally:
            if not clean:
                response.close()  # a cut or capped answer leaves the connection unusable
            response.release_conn()

    def close(self) -> None:
        with self._lock:
            for pools in self._pools:
                for pool in pools.values():
                    pool.close()
                pools.clear()
            self._pools.clear()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _closed_while_kept_alive(exc: BaseException, rec: Recording) -> bool:
    """The request went out on a kept-alive connection the server had closed meanwhile: not
    a byte came back, and it was no time-out.  HTTP/1.1 lets a server close an idle
    connection at any moment, so a client sends the request again on a new connection
    (RFC 9112, section 9.3.1), as browsers, curl and wget do; it is not another attempt."""
    return rec.reused and rec.received_length == 0 and not rec.deadline_hit and not isinstance(exc, _TIMEOUTS)


def _merge_headers(headers: dict[str, str], extra: dict[str, str] | None) -> dict[str, str]:
    """``headers`` with ``extra`` added, an extra header replacing one of the same name in
    any case."""
    merged = dict(headers)
    for name, value in (extra or {}).items():
        for same in [key for key in merged if key.lower() == name.lower()]:
            del merged[same]
        merged[name] = value
    return merged


class _CookieSource:
    """What ``http.cookiejar`` reads Set-Cookie from: ``info().get_all(name)``."""

    def __init__(self, headers: Headers):
        self.headers = headers

    def info(self) -> "_CookieSource":
        return self

    def get_all(self, name: str, default=None):
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values or default


def _request_target(url: str) -> str:
    """Path and query of ``url`` as written (no fragment), for the request line."""
    rest = url.split("://", 1)[-1].split("#", 1)[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    target = rest[cut:]
    return target if target.startswith("/") else "/" + target


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def _unusable_host(host: str) -> bool:
    """A host with characters no DNS name or address literal has (controls, spaces)."""
    return _CONTROL_OR_SPACE.search(host) is not None


def _sendable_as_written(url: str) -> bool:
    return url.isascii() and _CONTROL_OR_SPACE.search(url) is None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (urllib3 -> socket), outermost first."""
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
        return f"timed out after {timeout:.3g} s " + ("connecting" if connecting else "waiting for the server")
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
