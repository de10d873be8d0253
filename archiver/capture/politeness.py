"""Per-host politeness: one ``Slot`` per host, like Scrapy's downloader slots.

A slot says when its host may get its next request: never more than
``concurrency`` requests in flight, request starts ``delay`` seconds apart
(raised to robots.txt's Crawl-delay once that is known), nothing while the
host rests after a final 429/503, and nothing but robots.txt before its rules
arrived.  The coordinator (``engine.py``) is the only thread that touches the
slots; times come from its clock (``time.monotonic`` unless a test injects
another), so a test can replay the decisions without waiting.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Slot:
    """The politeness state of one host (``host:port``)."""

    host: str
    concurrency: int  # requests allowed in flight at once
    delay: float  # seconds between request starts
    active: int = 0  # requests on the wire or about to be
    last_start: float | None = None  # clock time of the latest request start
    rest_until: float = 0.0  # no request before this clock time (the host answered 429/503)
    robots_pending: bool = False  # its robots.txt is being fetched: nothing else starts

    def free_at(self) -> float:
        """The earliest clock time the next request may start (concurrency aside)."""
        after_last = self.last_start + self.delay if self.last_start is not None else float("-inf")
        return max(after_last, self.rest_until)

    def free(self, now: float) -> bool:
        """Under its limits at ``now`` (robots.txt aside)."""
        return self.active < self.concurrency and now >= self.free_at()

    def ready(self, now: float) -> bool:
        return not self.robots_pending and self.free(now)

    def start(self, now: float) -> None:
        self.active += 1
        self.last_start = now

    def finish(self) -> None:
        self.active -= 1

    def rest(self, until: float) -> None:
        self.rest_until = max(self.rest_until, until)


@dataclass
class HostSlots:
    """The slots of every host seen so far, created with the crawl's defaults."""

    concurrency: int
    delay: float
    slots: dict[str, Slot] = field(default_factory=dict)

    def __getitem__(self, host: str) -> Slot:
        slot = self.slots.get(host)
        if slot is None:
            slot = self.slots[host] = Slot(host, self.concurrency, self.delay)
        return slot

    def blocked(self, now: float) -> set[str]:
        """Hosts that may not start a request at ``now``."""
        return {host for host, slot in self.slots.items() if not slot.ready(now)}

    def next_free(self, now: float) -> float | None:
        """Seconds until the first host that waits for its delay or rest is free, or None
        when none waits for time (they wait for answers, or for nothing)."""
        waits = [slot.free_at() - now for slot in self.slots.values()
                 if slot.free_at() > now and slot.active < slot.concurrency and not slot.robots_pending]
        return min(waits) if waits else None

    def robots_pending(self) -> list[str]:
        return sorted(host for host, slot in self.slots.items() if slot.robots_pending)
