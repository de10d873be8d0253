"""A loopback HTTP/1.1 server for a ``Site``: the demo's and the tests' web.

It behaves like a well-kept web server, because incremental re-crawls depend
on it: strong ETags from the body hash, ``Last-Modified``, conditional
requests answered with 304, HEAD, keep-alive and 404 for unknown paths. Every
request is logged (method, path, headers, time) so tests can see what a
crawler sent, e.g. that a re-crawl was conditional.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from archiver.demo.site import Resource, Site

_NOT_FOUND = Resource(404, {"Content-Type": "text/html; charset=utf-8"}, b"<!doctype html><title>Not found</title><h1>Not found</h1>")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    time: float
    status: int
    client_port: int  # the same port on two requests means a kept-alive connection


class SiteServer:
    """Serve ``site`` on 127.0.0.1 (or ``host``) at a free port; ``site`` may be set later.

    ``latency`` (seconds) delays every answer, for benchmarks; ``port`` asks
    for a particular port (``OSError`` when taken). ``on_request(path,
    client_address)``, when set, is called in each request's thread before it
    is answered: a test's seam, which may block to hold a request while it
    acts (say, kills the process that sent it). Use as a context manager or
    call ``start()`` / ``close()``.
    """

    def __init__(self, site: Site | None = None, *, latency: float = 0.0, port: int = 0, host: str = "127.0.0.1"):
        self.site = site if site is not None else Site({})
        self.latency = latency
        self.requested_port = port  # 0: any free port
        self.host = host  # any loopback address: 127.0.0.2 gives a second "host" on Linux
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._first_seen: dict[tuple[str, str], float] = {}  # (path, etag) -> when first served
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[str, tuple[str, int]], None] | None = None

    # lifecycle -----------------------------------------------------------
    def start(self) -> "SiteServer":
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"owner": self})
        httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # keep-alive threads must not block close()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="SiteServer", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> "SiteServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("SiteServer is not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # request log ---------------------------------------------------------
    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _last_modified(self, path: str, etag: str) -> float:
        """When this body was first served at this path: changes move it forward."""
        with self._lock:
            return self._first_seen.setdefault((path, etag), float(int(time.time())))


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def _not_modified_since(header: str, last_modified: float) -> bool:
    try:
        since = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError):
        return False
    return last_modified <= since


class _Handler(BaseHTTPRequestHandler):
    owner: SiteServer
    protocol_version = "HTTP/1.1"
    server_version = "archiver-demo/1"
    timeout = 30  # an idle keep-alive connection is closed after this

    def log_message(self, format, *args):  # quiet: the request log is in owner.requests
        pass

    def do_GET(self):
        self._answer(send_body=True)

    def do_HEAD(self):
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        owner = self.owner
        if owner.on_request is not None:
            owner.on_request(self.path, self.client_address)
        if owner.latency:
            time.sleep(owner.latency)
        resource = owner.site.resources.get(self.path, _NOT_FOUND)
        headers = {k: str(v) for k, v in resource.headers.items()}
        lower = {k.lower() for k in headers}
        if "content-type" not in lower:
            headers["Content-Type"] = "text/html; charset=utf-8"
        status, body = resource.status, resource.body
        if status == 200:
            etag = _header(headers, "ETag")
            if etag is None:
                etag = headers["ETag"] = '"' + hashlib.sha1(body).hexdigest() + '"'
            if "last-modified" not in lower:
                headers["Last-Modified"] = formatdate(owner._last_modified(self.path, etag), usegmt=True)
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            if inm is not None:
                fresh = _etag_matches(inm, etag)
            elif ims is not None:
                try:
                    modified = parsedate_to_datetime(_header(headers, "Last-Modified")).timestamp()
                    fresh = _not_modified_since(ims, modified)
                except (TypeError, ValueError, IndexError):
                    fresh = False
            else:
                fresh = False
            if fresh:
                status, body = 304, b""
                headers = {k: v for k, v in headers.items() if k.lower() in ("etag", "last-modified", "cache-control", "expires")}
        owner._record(LoggedRequest(self.command, self.path, dict(self.headers.items()), time.time(), status, self.client_address[1]))
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and status != 304:
            self.wfile.write(body)
