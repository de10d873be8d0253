"""Per-host politeness: one ``Slot`` per host, like Scrapy's downloader slots.

A slot says when its host may get its next request: never more than
``concurrency`` requests in flight, request starts ``delay`` seconds apart
(raised to robots.txt's Crawl-delay once that is known), nothing while the
host rests after a final 429/503, and nothing but robots.txt before its rules
arrived.  The coordinator (``engine.py``) changes the slots (a fetching thread
only takes a standby task, below); times come from its clock
(``time.monotonic`` unless a test injects another), so a test can replay the
decisions without waiting.

A host crawled without a delay also keeps a *standby* while all its places are
taken: URLs already dispatched that wait for one of the host's requests to end.
The fetching thread whose request ended starts the first of them at once
(``hand_on``), in that request's place, so the host's count of requests in
flight does not change and the connection does not idle while the coordinator
hears of the free place and picks the next URL. A host with a delay never keeps
one: its next request must wait for the delay anyway.
"""
from __future__ import annotations

from collections import deque
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
    standby: deque = field(default_factory=deque)  # dispatched tasks waiting for a request of this host to end

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

    def takes_standby(self, now: float) -> bool:
        """Another dispatched task may wait here at ``now``: every place of the host is taken
        (so the host's own limit, not the crawl's, is what holds it back: hosts without
        requests keep their turn), no delay between requests, no rest, robots.txt known,
        and fewer waiting than the host may have in flight."""
        return (self.active >= self.concurrency and not self.delay and now >= self.rest_until
                and not self.robots_pending and len(self.standby) < self.concurrency)

    def hand_on(self, now: float):
        """The standby task to start at ``now`` in place of a request of this host that just
        ended, or None (none waits, or the host now rests or keeps a delay).  The host's
        count of requests in flight stays as it is.  Called by fetching threads: it reads
        the slot, pops the deque (atomic: each waiting task starts once) and stores the start
        time, and changes nothing else."""
        if self.delay or self.robots_pending or now < self.rest_until:
            return None
        task = self.take_standby()
        if task is not None:
            self.last_start = now
        return task

    def take_standby(self):
        """The first standby task, or None; atomic, so each task is taken once whichever
        thread (a fetching thread or the coordinator) takes it."""
        try:
            return self.standby.popleft()
        except IndexError:
            return None


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

    def get(self, host: str) -> Slot | None:
        """The host's slot if it has one (never creates one: safe from any thread)."""
        return self.slots.get(host)

    def waiting_for_standby(self, now: float) -> bool:
        """Some host could hold another standby task."""
        return any(slot.takes_standby(now) for slot in self.slots.values())

    def with_standby(self) -> list[Slot]:
        return [slot for slot in self.slots.values() if slot.standby]

    def standby_count(self) -> int:
        return sum(len(slot.standby) for slot in self.slots.values())

    def robots_pending(self) -> list[str]:
        return sorted(host for host, slot in self.slots.items() if slot.robots_pending)
