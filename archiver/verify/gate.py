"""Politeness per server: at most N requests in flight, a delay between
request starts, and a rest when the server asks for one (``Retry-After``).

Each request takes a slot and a start time on its server (``host:port``):
slots bound what is in flight, start times are handed out ``delay`` apart,
and ``rest()`` pushes the next start out. Time comes from ``clock`` and
waiting goes through ``sleep``, so tests can run the rules without waiting.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass
class _Server:
    in_flight: int = 0
    next_start: float = 0.0


class HostGate:
    def __init__(self, *, per_host: int, delay: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_host = per_host
        self.delay = delay
        self.clock = clock
        self.sleep = sleep
        self._servers: dict[str, _Server] = {}
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, server: str) -> Iterator[None]:
        """Hold one of ``server``'s slots from its next start time until the request is done."""
        with self._changed:
            state = self._servers.setdefault(server, _Server())
            while state.in_flight >= self.per_host:
                self._changed.wait()
            state.in_flight += 1
            start = max(self.clock(), state.next_start)
            state.next_start = start + self.delay
        try:
            wait = start - self.clock()
            if wait > 0:
                self.sleep(wait)
            yield
        finally:
            with self._changed:
                state.in_flight -= 1
                self._changed.notify_all()

    def rest(self, server: str, seconds: float) -> None:
        """No request to ``server`` starts for ``seconds`` from now."""
        with self._changed:
            state = self._servers.setdefault(server, _Server())
            state.next_start = max(state.next_start, self.clock() + seconds)
