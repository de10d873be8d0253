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
from typing import Callable, Iterator

from archiver.capture.politeness import HostSlots


class HostGate:
    """Capture's per-host ``Slot`` rules (``capture/politeness.py``) for threads that wait: capture's
    coordinator asks a slot and moves on, verify's threads block here until theirs is free."""

    def __init__(self, *, per_host: int, delay: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.clock = clock
        self.sleep = sleep
        self._slots = HostSlots(concurrency=per_host, delay=delay)
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, server: str) -> Iterator[None]:
        """Hold one of ``server``'s slots from its next start time until the request is done."""
        with self._changed:
            slot = self._slots[server]
            while slot.active >= slot.concurrency:
                self._changed.wait()
            start = max(self.clock(), slot.free_at())
            slot.start(start)  # the start time is taken now: the next request of this server starts after it
        try:
            wait = start - self.clock()
            if wait > 0:
                self.sleep(wait)
            yield
        finally:
            with self._changed:
                slot.finish()
                self._changed.notify_all()

    def rest(self, server: str, seconds: float) -> None:
        """No request to ``server`` starts for ``seconds`` from now."""
        with self._changed:
            self._slots[server].rest(self.clock() + seconds)
