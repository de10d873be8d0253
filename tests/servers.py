"""Misbehaving loopback HTTP servers for the crawler's tests.

One server, many behaviours, chosen by path. Routes are data: a dict mapping a
path (``"/a.html"``) or a path with its query (``"/x?id=1"``, tried first) to
either a :class:`Resource` (a static answer) or a callable ``handler(req)``
that writes whatever bytes it likes to ``req.wfile`` (for the really broken
behaviours: resets, short bodies, drips, HTTP/1.0 close-delimited bodies).

Usage::

    with TestServer() as srv:                  # default_routes() + yours
        srv.add("/extra", Resource(200, {"Content-Type": "text/plain"}, b"hi"))
        requests.get(srv.url("/gzip"))
        assert srv.count("/gzip") == 1         # request log for politeness
        assert srv.count("/never-linked") == 0 # and "never fetched"

or the ``test_server`` pytest fixture (in ``conftest.py``). ``srv.log`` holds :class:`Hit` entries
(method, path with query, headers, time on the server's ``clock``) in arrival order.

Handlers receive ``req``: a ``BaseHTTPRequestHandler`` with ``req.server.app``
(the :class:`TestServer`), ``req.query`` (dict of first values) and helpers
``req.send_raw(bytes)`` and ``req.reset()`` (RST the connection).
"""
from __future__ import annotations

import gzip
import os
import random
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Resource:
    """A static answer. ``Content-Length`` is added unless ``chunked``."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    body: bytes = b""


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    time: float


Handler = Callable[["_RequestHandler"], None]


# ---------------------------------------------------------------- behaviours

def html(body: str, *, title: str = "page", charset: str = "utf-8", links: tuple[str, ...] = ()) -> bytes:
    """A small HTML page with links, encoded in ``charset``."""
    anchors = "".join(f'<a href="{href}">{href}</a>\n' for href in links)
    doc = (f"<!DOCTYPE html><html><head><title>{title}</title></head>"
           f"<body><h1>{title}</h1><p>{body}</p>\n{anchors}</body></html>")
    return doc.encode(charset)


def chunked(body: bytes, *, headers: dict[str, str] | None = None, chunk_size: int = 7,
            trailer: bytes = b"") -> Handler:
    """Answer with real Transfer-Encoding: chunked framing (odd-sized chunks)."""
    def handle(req):
        head = {"Content-Type": "text/html; charset=utf-8", **(headers or {}),
                "Transfer-Encoding": "chunked"}
        out = [b"HTTP/1.1 200 OK\r\n", *(f"{k}: {v}\r\n".encode("latin-1") for k, v in head.items()), b"\r\n"]
        for i in range(0, len(body), chunk_size):
            piece = body[i:i + chunk_size]
            out.append(b"%x;ext=1\r\n" % len(piece) if i == 0 else b"%x\r\n" % len(piece))
            out.append(piece + b"\r\n")
        out.append(b"0\r\n" + trailer + b"\r\n")
        req.send_raw(b"".join(out))
    return handle


def http10_close(body: bytes, content_type: str = "text/html") -> Handler:
    """HTTP/1.0 answer without Content-Length: the body ends when the connection closes."""
    def handle(req):
        req.send_raw(b"HTTP/1.0 200 OK\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        req.close_connection = True
    return handle


def raw(response: bytes, *, close: bool = True) -> Handler:
    """Send exactly these bytes (odd status lines, bare LF, ...)."""
    def handle(req):
        req.send_raw(response)
        req.close_connection = close
    return handle


def flaky(failures: list[Resource], final: Resource) -> Handler:
    """Answer ``failures[i]`` on the i-th request to this path, then ``final``."""
    def handle(req):
        n = req.server.app.count(req.path_only) - 1
        req.send_resource(failures[n] if n < len(failures) else final)
    return handle


def flapping(good: Resource, bad: Resource = None, period: int = 2) -> Handler:
    """Alternate: ``period - 1`` bad answers (503), then one good one, repeat."""
    bad = bad or Resource(503, {"Content-Type": "text/plain"}, b"busy")
    def handle(req):
        n = req.server.app.count(req.path_only)
        req.send_resource(good if n % period == 0 else bad)
    return handle


def drip(interval: float = 1.0, size: int = 50) -> Handler:
    """Announce ``size`` bytes and send one every ``interval`` seconds (query overrides)."""
    def handle(req):
        step = float(req.query.get("interval", interval))
        total = int(req.query.get("size", size))
        req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(total):
            if req.server.app.stopping.wait(step):
                return
            req.send_raw(b"x")
    return handle


class SiteTime:
    """A clock for the crawler under test: real time, plus the time that misbehaving routes
    and the crawler's own waits let pass without waiting (``skip``, also usable as the
    engine's ``sleep``).  A site that drips a byte every 2 s then costs the test
    milliseconds, while the crawler sees the seconds go by."""

    def __init__(self):
        self.skipped = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.monotonic() + self.skipped

    def skip(self, seconds: float) -> None:
        with self._lock:
            self.skipped += seconds


def drip_then_silence(drops: int = 40, interval: float = 2.0, announced: int = 10_000,
                      site_time: SiteTime | None = None) -> Handler:
    """Announce ``announced`` bytes, send one every ``interval`` seconds ``drops`` times, then
    say nothing more on the open keep-alive connection.  With ``site_time`` the intervals
    pass on that clock (a few milliseconds of real time each) instead of being waited."""
    def handle(req):
        req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % announced)
        for _ in range(drops):
            if site_time is None:
                if req.server.app.stopping.wait(interval):
                    return
            else:
                time.sleep(0.005)
                site_time.skip(interval)
            req.send_raw(b"x")  # raises once the client has hung up
        req.server.app.stopping.wait(600)
        req.close_connection = True
    return handle


def reset_mid_body(total: int = 100_000, sent: int = 20_000) -> Handler:
    """Announce ``total`` bytes, send ``sent``, then RST the connection."""
    def handle(req):
        req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % total + b"a" * sent)
        time.sleep(0.05)
        req.reset()
    return handle


def short_body(announced: int = 1000, sent: int = 100) -> Handler:
    """Content-Length says ``announced`` but the connection closes after ``sent``."""
    def handle(req):
        req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % announced + b"s" * sent)
        req.close_connection = True
    return handle


def never_answers(req) -> None:
    """Read the request, then say nothing until the server stops."""
    req.server.app.stopping.wait(120)
    req.close_connection = True


def huge(size: int = 30 * 1024 * 1024, content_type: str = "application/octet-stream") -> Handler:
    """A large body generated on the fly (``?size=`` overrides)."""
    def handle(req):
        total = int(req.query.get("size", size))
        req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                     % (content_type.encode(), total))
        block = b"0123456789abcdef" * 4096
        left = total
        try:
            while left > 0:
                req.wfile.write(block[:left])
                left -= len(block)
        except OSError:
            pass  # the client gave up at its size cap
    return handle


def random_body(size: int = 100_000) -> Handler:
    """Incompressible bytes (seeded by the query string, ``?size=`` overrides)."""
    def handle(req):
        total = int(req.query.get("size", size))
        data = random.Random(req.path).randbytes(total)
        req.send_resource(Resource(200, {"Content-Type": "application/octet-stream"}, data))
    return handle


_BOMB: bytes | None = None
_BOMB_LOCK = threading.Lock()
BOMB_SIZE = 600 * 1024 * 1024


def gzip_bomb_bytes() -> bytes:
    """600 MB of zeros gzip'd to about 600 KB, built once per process.

    Built from one compressed megabyte repeated: after a full flush, deflate
    output for the same input is identical, so only the CRC needs all 600 MB."""
    global _BOMB
    with _BOMB_LOCK:
        if _BOMB is None:
            zeros, megabytes = bytes(1 << 20), BOMB_SIZE >> 20
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
            repeat = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
            crc = 0
            for _ in range(megabytes):
                crc = zlib.crc32(zeros, crc)
            _BOMB = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + repeat * (megabytes - 1)
                     + comp.flush(zlib.Z_FINISH) + struct.pack("<II", crc, BOMB_SIZE & 0xFFFFFFFF))
        return _BOMB


def gzip_bomb(req) -> None:
    bomb = gzip_bomb_bytes()
    req.send_resource(Resource(200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb))


def conditional(body: bytes, etag: str = '"v1"', last_modified: float = 1_500_000_000.0,
                content_type: str = "text/html; charset=utf-8") -> Handler:
    """ETag + Last-Modified; 304 on a matching If-None-Match or a fresh If-Modified-Since."""
    lm = formatdate(last_modified, usegmt=True)
    def handle(req):
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        fresh = False
        if inm is not None:
            fresh = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        elif ims:
            try:
                fresh = parsedate_to_datetime(ims).timestamp() >= last_modified
            except (TypeError, ValueError):
                fresh = False
        validators = {"ETag": etag, "Last-Modified": lm}
        if fresh:
            req.send_resource(Resource(304, validators, b""), length=False)
        else:
            req.send_resource(Resource(200, {"Content-Type": content_type, **validators}, body))
    return handle


def with_base(res: Resource) -> Handler:
    """Serve ``res`` with every ``{base}`` in its body replaced by the server's base URL
    (sitemaps and robots.txt need absolute URLs)."""
    def handle(req):
        body = res.body.replace(b"{base}", req.server.app.base_url.encode())
        req.send_resource(Resource(res.status, res.headers, body))
    return handle


def gzipped(handler_res: Resource) -> Handler:
    """Like :func:`with_base`, then gzip the body (a gzip'd sitemap file)."""
    def handle(req):
        body = handler_res.body.replace(b"{base}", req.server.app.base_url.encode())
        req.send_resource(Resource(handler_res.status, handler_res.headers, _gz(body)))
    return handle


def redirect(location: str, status: int = 301) -> Resource:
    return Resource(status, {"Location": location, "Content-Type": "text/html"}, b"moved")


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


CP1250_TEXT = "Vsebina tega spletnega mesta je preseljena na GOV.SI. Žični čaj, šola, Šiška, Ćevapčići."


def default_routes() -> dict[str, Resource | Handler]:
    """Every behaviour the capture tests need; copy and extend freely."""
    home = html("Ministrstvo", title="Home", links=("/a.html", "/b.html", "/gzip", "/chunked",
                                                     "/http10", "/cp1250-meta", "/etag"))
    cp1250_meta = (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1250">'
                   b"<title>Stran</title></head><body><p>" + CP1250_TEXT.encode("cp1250") + b"</p></body></html>")
    return {
        "/": Resource(200, {"Content-Type": "text/html; charset=utf-8"}, home),
        "/a.html": Resource(200, {"Content-Type": "text/html; charset=utf-8"},
                            html("A", title="A", links=("/b.html", "/img.png"))),
        "/b.html": Resource(200, {"Content-Type": "text/html; charset=utf-8"},
                            html("B", title="B", links=("/a.html",))),
        "/img.png": Resource(200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        "/same-a": Resource(200, {"Content-Type": "text/plain"}, b"identical payload\n"),
        "/same-b": Resource(200, {"Content-Type": "text/plain"}, b"identical payload\n"),
        "/gzip": Resource(200, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip",
                                "Vary": "Accept-Encoding"}, _gz(html("gzip'd page", title="Gzip"))),
        "/chunked": chunked(html("chunked page " * 20, title="Chunked")),
        "/chunked-gzip": chunked(_gz(html("chunked and gzip'd " * 20, title="CG")),
                                 headers={"Content-Encoding": "gzip"}, chunk_size=100),
        "/http10": http10_close(html("HTTP/1.0 page ended by close", title="Old")),
        "/odd-status": raw(b"HTTP/1.0 200\nContent-Type: text/plain\n\nno reason phrase, bare LF"),
        "/cp1250-meta": Resource(200, {"Content-Type": "text/html"}, cp1250_meta),
        "/cp1250-wrong": Resource(200, {"Content-Type": "text/html; charset=utf-8"}, cp1250_meta),
        "/retry-after": flaky([Resource(429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down")],
                              Resource(200, {"Content-Type": "text/plain"}, b"finally")),
        "/flap": flapping(Resource(200, {"Content-Type": "text/plain"}, b"up")),
        "/error500": Resource(500, {"Content-Type": "text/plain"}, b"broken"),
        "/redirect/1": redirect("/redirect/0"),
        "/redirect/2": redirect("/redirect/1"),
        "/redirect/3": redirect("/redirect/2", 302),
        "/redirect/0": Resource(200, {"Content-Type": "text/plain"}, b"end of chain"),
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect("/loop-a"),
        "/drip": drip(),
        "/reset": reset_mid_body(),
        "/short": short_body(),
        "/hang": never_answers,
        "/huge": huge(),
        "/random": random_body(),
        "/bomb": gzip_bomb,
        "/garbage": Resource(200, {"Content-Type": "text/html"}, bytes((i * 37 + 11) % 256 for i in range(20_000))),
        "/etag": conditional(html("validated page", title="ETag")),
        "/robots.txt": with_base(Resource(200, {"Content-Type": "text/plain"},
                                          b"User-agent: *\nDisallow: /private/\n\nSitemap: {base}/sitemap.xml\n")),
        "/private/secret.html": Resource(200, {"Content-Type": "text/html"}, html("never fetch me")),
        "/sitemap.xml": with_base(Resource(200, {"Content-Type": "application/xml"},
                                           b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                           b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                           b"<sitemap><loc>{base}/sitemap-1.xml.gz</loc></sitemap></sitemapindex>")),
        "/sitemap-1.xml.gz": gzipped(Resource(200, {"Content-Type": "application/gzip"},
                                              b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                              b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                              b"<url><loc>{base}/only-in-sitemap.html</loc></url></urlset>")),
        "/only-in-sitemap.html": Resource(200, {"Content-Type": "text/html"}, html("orphan", title="Orphan")),
    }


# ---------------------------------------------------------------- the server

class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestServer/1"
    disable_nagle_algorithm = True  # head and body go out as separate writes

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _dispatch(self):
        app: TestServer = self.server.app
        parts = urlsplit(self.path)
        self.path_only = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        app._record(self)
        route = app.routes.get(self.path, app.routes.get(parts.path))
        if route is None:
            self.send_resource(Resource(404, {"Content-Type": "text/plain"}, b"not found"))
        elif isinstance(route, Resource):
            self.send_resource(route)
        else:
            route(self)

    do_GET = do_POST = _dispatch

    def do_HEAD(self):
        self._dispatch()

    def send_raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def send_resource(self, res: Resource, length: bool = True) -> None:
        self.send_response(res.status)
        for name, value in res.headers.items():
            self.send_header(name, value)
        if length and "Content-Length" not in res.headers:
            self.send_header("Content-Length", str(len(res.body)))
        self.end_headers()
        if self.command != "HEAD" and res.status not in (204, 304):
            self.wfile.write(res.body)
        self.wfile.flush()

    def reset(self) -> None:
        """Close with SO_LINGER 0, so the peer sees a TCP reset."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """Clients that hang up early (size caps, time-outs) are expected here."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class TestServer:
    """A threaded HTTP/1.1 server on 127.0.0.1, port 0, with a request log."""

    __test__ = False  # not a pytest test class

    def __init__(self, routes: dict[str, Resource | Handler] | None = None, *, defaults: bool = True,
                 tls: bool = False, clock: Callable[[], float] = time.monotonic):
        self.tls = tls  # serve HTTPS with a throw-away self-signed certificate (needs openssl)
        self.clock = clock  # stamps the request log (a test's SiteTime, to compare with the crawler's)
        self.routes: dict[str, Resource | Handler] = default_routes() if defaults else {}
        self.routes.update(routes or {})
        self.log: list[Hit] = []
        self._log_lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd: _Server | None = None

    def add(self, path: str, route: Resource | Handler) -> None:
        self.routes[path] = route

    # request log ------------------------------------------------------------
    def _record(self, req: _RequestHandler) -> None:
        with self._log_lock:
            self.log.append(Hit(req.command, req.path, dict(req.headers.items()), self.clock()))

    def count(self, path: str) -> int:
        """Requests so far for ``path`` (with query: exact match; without: any query)."""
        with self._log_lock:
            if "?" in path:
                return sum(1 for h in self.log if h.path == path)
            return sum(1 for h in self.log if h.path.split("?", 1)[0] == path)

    def hits(self, path: str) -> list[Hit]:
        with self._log_lock:
            return [h for h in self.log if h.path.split("?", 1)[0] == path.split("?", 1)[0]
                    and ("?" not in path or h.path == path)]

    # lifecycle --------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> "TestServer":
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.app = self
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self_signed_cert())
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_CERT: tuple[str, str] | None = None


def self_signed_cert() -> tuple[str, str]:
    """(cert, key) paths of a self-signed certificate for 127.0.0.1, made once per process."""
    global _CERT
    with _BOMB_LOCK:
        if _CERT is None:
            if shutil.which("openssl") is None:
                pytest.skip("openssl is needed to make a test certificate")
            folder = tempfile.mkdtemp(prefix="testcert-")
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            _CERT = (cert, key)
        return _CERT
