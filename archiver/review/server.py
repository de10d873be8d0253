"""The review page: a small Starlette app served by uvicorn on loopback.

Everything it shows comes from the run and the archive; nothing is fetched
live and nothing is loaded from elsewhere (the script and style sheet ship in
``static/``). Defences, since page titles and bodies come from strangers:

- HTML is produced only by Jinja2 with autoescape, and the page's script sets
  text with ``textContent``, never ``innerHTML``; the initial state is JSON in
  a ``<script type="application/json">`` block (``tojson`` escapes ``<``, ``>``
  and ``&``) and a CSP without inline scripts backs that up.
- The archived page is shown in an ``<iframe sandbox>``, made inert by
  ``pages.render_html`` and served with a CSP that blocks scripts and every
  fetch.
- Every request must name this server in ``Host`` (so a DNS-rebinding site
  cannot read it); a write must carry the token the page got when it was
  served and, when the browser says where it comes from (``Origin``,
  ``Sec-Fetch-Site``), come from this page: another site open in the same
  browser cannot post decisions.
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading

import uvicorn
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from archiver.errors import ArchiverError, UsageError
from archiver.review import ReviewSession

TOKEN_HEADER = "X-Review-Token"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# the archived page: no script, no fetch of any kind, and a sandbox even if opened outside the iframe
RENDER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _json(data, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=_COMMON_HEADERS)


class HostCheck:
    """ASGI middleware: answer 400 unless the Host header (name and port) is one of ``hosts``
    ("*" allows any), so a page on another name resolving here (DNS rebinding) gets nothing."""

    def __init__(self, app, hosts: list[str]) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and "*" not in self.hosts:
            host = Headers(scope=scope).get("host", "").lower()
            if host not in self.hosts:
                await PlainTextResponse(f"unknown Host {host!r}", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ReviewApp:
    """The routes over one open ``ReviewSession``; ``origins`` are the page's own origins."""

    def __init__(self, session: ReviewSession, *, hosts: list[str], origins: set[str], token: str | None = None):
        self.session = session
        self.origins = origins
        self.token = token or secrets.token_urlsafe(32)
        self.templates = Environment(loader=PackageLoader("archiver.review", "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))
        routes = [
            Route("/", self.index),
            Route("/api/state", self.state),
            Route("/api/item", self.item),
            Route("/api/search", self.search),
            Route("/api/suggest", self.suggest),
            Route("/render", self.render),
            Route("/api/decide", self.decide, methods=["POST"]),
            Route("/api/undo", self.undo, methods=["POST"]),
            Mount("/static", StaticFiles(packages=[("archiver.review", "static")]), name="static"),
        ]
        self.app = Starlette(routes=routes, middleware=[Middleware(HostCheck, hosts=hosts)])

    # guards ---------------------------------------------------------------------------------
    def refusal(self, request: Request) -> Response | None:
        """403 for a write that is not from this page: wrong token, foreign Origin or a cross-site fetch."""
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.origins:
            return _json({"error": f"cross-origin request refused (Origin {origin})"}, 403)
        if request.headers.get("sec-fetch-site") not in (None, "same-origin"):
            return _json({"error": "cross-site request refused"}, 403)
        if not hmac.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            return _json({"error": "missing or wrong review token: reload the page"}, 403)
        return None

    @staticmethod
    async def _call(func, *args) -> Response:
        try:
            return _json(await run_in_threadpool(func, *args))
        except UsageError as exc:
            return _json({"error": str(exc)}, 422)
        except ArchiverError as exc:
            return _json({"error": str(exc)}, 500)

    # pages ----------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        state = await run_in_threadpool(self.session.state)
        page = self.templates.get_template("review.html").render(token=self.token, state=state,
                                                                 run=self.session.run_dir.name)
        return HTMLResponse(page, headers={**_COMMON_HEADERS, "Content-Security-Policy": PAGE_CSP})

    async def render(self, request: Request) -> Response:
        html = await run_in_threadpool(self.session.render, request.query_params.get("url", ""))
        if html is None:
            html, status = "<!DOCTYPE html><p>This URL has no archived page.</p>", 404
        else:
            status = 200
        return HTMLResponse(html, status_code=status, headers={**_COMMON_HEADERS, "Content-Security-Policy": RENDER_CSP})

    # reading --------------------------------------------------------------------------------
    async def state(self, request: Request) -> Response:
        return await self._call(self.session.state)

    async def item(self, request: Request) -> Response:
        return await self._call(self.session.detail, request.query_params.get("url", ""))

    async def search(self, request: Request) -> Response:
        return await self._call(self.session.search, request.query_params.get("q", ""))

    async def suggest(self, request: Request) -> Response:
        return await self._call(self.session.suggest, request.query_params.get("q", ""))

    # writing --------------------------------------------------------------------------------
    async def decide(self, request: Request) -> Response:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "expected a JSON body"}, 400)
        if not isinstance(body, dict) or not all(isinstance(body.get(k, ""), (str, type(None)))
                                                 for k in ("old_url", "decision", "new_url", "note")):
            return _json({"error": "expected {old_url, decision, new_url, note} strings"}, 400)
        return await self._call(self.session.decide, body.get("old_url") or "", body.get("decision") or "",
                                body.get("new_url"), body.get("note") or "")

    async def undo(self, request: Request) -> Response:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        return await self._call(self.session.undo)


class ReviewServer:
    """``ReviewApp`` on a socket bound at once (port 0: a free one), served by uvicorn."""

    def __init__(self, session: ReviewSession, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.socket = socket.create_server((host, port), family=family)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.port = self.socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        if host in ("0.0.0.0", "::"):  # reached by any name of this machine; the token still guards writes
            hosts, origins = ["*"], _AnyHostOrigin(self.port)
        else:
            names = {"127.0.0.1", "localhost", "[::1]", shown} if is_loopback(host) else {shown}
            hosts = sorted(f"{name}:{self.port}" for name in names)
            origins = {f"http://{h}" for h in hosts}
        self.review = ReviewApp(session, hosts=hosts, origins=origins, token=token)
        self.server = uvicorn.Server(uvicorn.Config(self.review.app, log_level="warning", access_log=False,
                                                    lifespan="off"))
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> "ReviewServer":
        """Serve in a background thread; ``stop()`` ends it. The socket already listens, so a
        client may connect at once (the kernel queues it until uvicorn accepts)."""
        self._thread = threading.Thread(target=self.serve_forever, name="review-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join()
        self.socket.close()

    def __enter__(self) -> "ReviewServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _AnyHostOrigin:
    """The page's origins when it listens on every address: any host, this port, plain http."""

    def __init__(self, port: int) -> None:
        self.suffix = f":{port}"

    def __contains__(self, origin: str) -> bool:
        return origin.startswith("http://") and origin.endswith(self.suffix) and "/" not in origin[7:]
