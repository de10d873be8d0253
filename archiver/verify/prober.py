"""Requests: each URL once, politely, with retries; redirects followed hop by hop.

``Prober.answer(url)`` requests one URL (never following its redirect) through
the ``HostPolicy`` route and the ``HostGate``, with capture's ``Fetcher``:
the request target goes on the wire exactly as the export matched it, each
answer is bounded by the total deadline (a server dripping a byte at a time
gets an error, not a hang) and a size cap, and bodies are decoded with a cap.
Connection errors, time-outs, 429 and 5xx are retried up to ``max_retries``
times; a 429/503 ``Retry-After`` (capped at ``MAX_RETRY_AFTER``) rests the
whole server, other failures back off exponentially with jitter. Answers are
cached by URL, so a target shared by many rows is requested once.

``Prober.walk(url)`` follows redirects from ``url`` until a final answer, a
loop, a host that is not allowed (never requested), a broken ``Location``, or
more than ``MAX_HOPS`` redirects.
"""
from __future__ import annotations

import functools
import random
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import tenacity

from archiver.capture.fetch import Fetcher, FetchResult
from archiver.export.urls import URL, InvalidURL, defang, parse_url
from archiver.urls import resolve_link

from .gate import HostGate
from .hosts import HostPolicy, Route
from .pages import PageReader, PageView, url_key

MAX_HOPS = 10  # redirects followed from an old URL
REDIRECTS = (301, 302, 303, 307, 308)
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is cut to this
MAX_BACKOFF = 60.0
OLD_SIDE_MAX_BYTES = 1024 * 1024  # an old URL's body is not read: its status and Location are the answer
NEW_SIDE_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """One URL's final answer after retries (``status`` None: no HTTP answer)."""

    url: str  # the URL key requested
    status: int | None = None
    location: str | None = None  # the raw Location header
    error: str | None = None
    cut: str | None = None  # the body was cut: "time" (total deadline) or "disconnect"
    attempts: int = 1
    page: PageView | None = None  # 2xx answers of the new side

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECTS and bool(self.location)


@dataclass
class Walk:
    """The answers met following redirects from one URL.

    ``end``: final (a non-redirect answer), error (no HTTP answer), loop,
    off_host, bad_location or too_many. ``next_url`` is the URL the walk
    stopped before (the repeated URL of a loop; a refused URL, defanged).
    """

    answers: list[Answer] = field(default_factory=list)
    end: str = "final"
    next_url: str | None = None
    detail: str = ""

    @property
    def last(self) -> Answer:
        return self.answers[-1]

    @property
    def redirects(self) -> int:
        return sum(1 for a in self.answers if a.is_redirect)

    def reaches(self, key: str) -> int | None:
        """Index of the answer for URL ``key``, if the walk met it."""
        return next((i for i, a in enumerate(self.answers) if a.url == key), None)


class Prober:
    def __init__(self, policy: HostPolicy, gate: HostGate, pages: PageReader, *, user_agent: str,
                 timeout: float, total_timeout: float, max_retries: int, extra_headers: dict | None = None,
                 max_response_bytes: int = NEW_SIDE_MAX_BYTES, rng: random.Random | None = None):
        self.policy = policy
        self.gate = gate
        self.pages = pages
        self.max_retries = max_retries
        self.rng = rng or random.Random()
        common = dict(user_agent=user_agent, timeout=timeout, total_timeout=total_timeout,
                      extra_headers=extra_headers)
        # a staging server is often addressed by IP, so its certificate cannot match; the new
        # site's must, as a browser would refuse it
        self.old_fetcher = Fetcher(max_response_bytes=min(OLD_SIDE_MAX_BYTES, max_response_bytes), verify_tls=False,
                                   **common)
        self.new_fetcher = Fetcher(max_response_bytes=min(NEW_SIDE_MAX_BYTES, max_response_bytes), verify_tls=True,
                                   **common)
        self.requests = 0  # attempts sent, retries included
        self._answers: dict[str, Future] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.old_fetcher.close()
        self.new_fetcher.close()

    # one URL ------------------------------------------------------------------
    def answer(self, url: URL, route: Route) -> Answer:
        """The answer for ``url`` (requested once per run; concurrent askers wait for it)."""
        key = url_key(url)
        with self._lock:
            pending = self._answers.get(key)
            mine = pending is None
            if mine:
                pending = self._answers[key] = Future()
        if not mine:
            return pending.result()
        try:
            answer = self._request(key, route)
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        pending.set_result(answer)
        return answer

    def _request(self, key: str, route: Route) -> Answer:
        fetcher = self.old_fetcher if route.old_side else self.new_fetcher
        headers = {"Host": route.host_header} if route.host_header else None

        def attempt() -> FetchResult:
            with self.gate.slot(route.server):
                result = fetcher.fetch(route.wire_url, headers=headers)
            with self._lock:
                self.requests += 1
            return result

        # tenacity runs the attempts; its "sleep" rests the whole server at the gate rather than
        # blocking this thread, so the wait also holds back the other URLs of that server
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda result: result.retryable),
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            sleep=functools.partial(self.gate.rest, route.server),
            before_sleep=lambda state: state.outcome.result().close(),
            retry_error_callback=lambda state: state.outcome.result(),  # out of tries: the last answer
        )
        result = retrying(attempt)
        try:
            return self._answer_of(key, result, retrying.statistics["attempt_number"], read_page=not route.old_side)
        finally:
            result.close()

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next attempt: the server's Retry-After on 429/503 (capped), else an
        exponential back-off with full jitter (up to 1, 2, 4, ... s, at most ``MAX_BACKOFF``)."""
        result = state.outcome.result()
        if result.status in (429, 503) and result.retry_after is not None:
            return min(result.retry_after, MAX_RETRY_AFTER)
        return self.rng.uniform(0, min(MAX_BACKOFF, 2.0 ** (state.attempt_number - 1)))

    def _answer_of(self, key: str, result: FetchResult, attempts: int, *, read_page: bool) -> Answer:
        if result.status is None:
            return Answer(key, error=result.error or "no answer", attempts=attempts)
        cut = result.truncated if result.truncated in ("time", "disconnect") else None
        page = None
        if read_page and 200 <= result.status < 300 and cut is None:
            page = self.pages.view(result, key)
        return Answer(key, result.status, result.header("location"), result.error, cut, attempts, page)

    # redirects ----------------------------------------------------------------
    def walk(self, start: URL, *, follow: bool = True, max_hops: int = MAX_HOPS) -> Walk:
        """Answers from ``start`` on, following redirects (see the module docstring)."""
        walk = Walk()
        seen = {url_key(start)}
        current = start
        while True:
            route = self.policy.route(current)
            if route is None:
                walk.end, walk.next_url = "off_host", defang(str(current))
                walk.detail = self.policy.refusal(current)
                return walk
            answer = self.answer(current, route)
            walk.answers.append(answer)
            if answer.status is None:
                walk.end, walk.detail = "error", answer.error or ""
                return walk
            if not follow or not answer.is_redirect:
                return walk
            if walk.redirects > max_hops:
                walk.end, walk.detail = "too_many", f"still redirecting after {max_hops} redirects"
                return walk
            try:
                resolved = resolve_link(str(current), answer.location)
                if resolved is None:
                    raise InvalidURL("not an http(s) URL with a host")
                target = parse_url(resolved)
            except (InvalidURL, ValueError) as exc:
                walk.end, walk.next_url = "bad_location", defang(answer.location[:300])
                walk.detail = f"Location is not a usable http(s) URL ({exc})"
                return walk
            key = url_key(target)
            if key in seen:
                walk.end, walk.next_url, walk.detail = "loop", key, f"redirects back to {key}"
                return walk
            if self.policy.route(target) is None:
                walk.end, walk.next_url = "off_host", defang(str(target))
                walk.detail = self.policy.refusal(target)
                return walk
            seen.add(key)
            current = target
