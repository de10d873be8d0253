"""Which attempts at a URL are made again, when, and which answer is kept.

Each URL has a time budget for all its attempts together (``url_budget``,
120 s by default), counted on the engine's clock from the start of its first
attempt: every attempt is cut where the budget ends, and a retry whose wait
would end past it is not made.  Within the budget:

- no answer at all (refused, reset, unresolvable, timed out before the
  status line) and 429/5xx answers are tried again, up to ``max_retries``
  times, after the server's ``Retry-After`` (429/503, capped) or an
  exponential back-off with full jitter (uniform in 0..min(60, 2**(n-1)) s
  after the n-th attempt);
- an answer that arrived and then stalled, or was cut off, is tried again
  once at most: a server that did it once tends to do it again, and each
  try can cost a whole read time-out;
- anything else is final, and so is an answer cut at the attempt's total
  deadline (it came, too slowly).

Between attempts a URL waits in the coordinator's ``RetryQueue``, not in a
worker thread, so it holds neither a connection nor its host's politeness
slot: other URLs, of its host and of others, go on meanwhile.  The best
answer so far is kept (``Attempts.keep``: a whole answer before a cut one,
one that is not 429/5xx before one that is, then the longer body, the later
on a tie) and is what gets archived when the URL runs out of tries or of
budget, marked ``WARC-Truncated`` when it was cut; ``Attempts.outcome`` is
the URL's ``error`` in crawl.jsonl and says why it stopped.

Public API::

    policy = RetryPolicy(max_retries=3, url_budget=120.0, rng=random.Random())
    tries = Attempts(started=clock())        # carried by the Task from attempt to attempt
    policy.time_left(tries, now) -> float    # what the next attempt may take
    policy.after(result, tries, now) -> float | None   # wait before the next attempt, None: final
    tries.keep(result)                       # between attempts: keep the better answer
    answer = tries.final(result)             # the answer to archive (the others are closed)
    tries.outcome(answer) -> str | None      # why it ended, for crawl.jsonl

    queue = RetryQueue(); queue.push(task, not_before); queue.start_due(now, start)  # start(task) -> bool
    queue.next_at() -> float | None; queue.drain() -> [Task]; len(queue)
"""
from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from archiver.capture.fetch import RETRY_STATUSES, FetchResult

if TYPE_CHECKING:
    from archiver.capture.frontier import Task

BASE_DELAY = 1.0  # seconds: the back-off after the first attempt is up to this, doubling after each
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0  # a longer Retry-After is cut to this (the budget usually ends it first)
PARTIAL_TRIES = 2  # an answer that stalls or is cut: tried once more at most


@dataclass
class Attempts:
    """One URL's attempts so far: when the first started, how many there were, and the
    best answer received (kept open while the URL waits to be tried again)."""

    started: float  # clock time the first attempt started
    count: int = 0
    partial: int = 0  # answers that arrived, then stalled or were cut off
    best: FetchResult | None = None
    best_attempt: int = 0
    why: str | None = None  # why no further attempt was made, when that is not plain from the answer

    def keep(self, result: FetchResult) -> None:
        """Keep the better of the best answer so far and ``result`` (attempt ``count``);
        close the other."""
        if self.best is None or _rank(result) >= _rank(self.best):
            if self.best is not None:
                self.best.close()
            self.best, self.best_attempt = result, self.count
        else:
            result.close()

    def final(self, result: FetchResult) -> FetchResult:
        """The answer to archive once ``result`` ended the URL: the best of all its attempts."""
        self.keep(result)
        answer, self.best = self.best, None
        answer.attempts = self.count
        if self.best_attempt != self.count:
            earlier = f"the answer of attempt {self.best_attempt} of {self.count} is kept (the most complete)"
            self.why = f"{self.why}; {earlier}" if self.why else earlier
        return answer

    def outcome(self, answer: FetchResult) -> str | None:
        """What went wrong, in words, for the URL's crawl.jsonl entry (None: nothing)."""
        text = answer.error
        if answer.truncated:
            text = f"truncated ({answer.truncated})" + (f": {text}" if text else "")
        if self.why:
            text = f"{text}; {self.why}" if text else self.why
        return text

    def close(self) -> None:
        if self.best is not None:
            self.best.close()
            self.best = None


def _rank(result: FetchResult):
    whole = result.recorded and result.truncated is None and result.error is None
    return result.recorded, whole, result.status not in RETRY_STATUSES, result.body_length


class RetryPolicy:
    """The rules in the module docstring, for one crawl's settings."""

    def __init__(self, *, max_retries: int, url_budget: float, rng: random.Random | None = None):
        self.max_retries = max_retries
        self.url_budget = url_budget
        self.rng = rng or random.Random()

    def time_left(self, tries: Attempts, now: float) -> float:
        return tries.started + self.url_budget - now

    def after(self, result: FetchResult, tries: Attempts, now: float) -> float | None:
        """Count ``result`` as the URL's latest attempt; return the seconds to wait before
        the next one, or None when ``result`` ends the URL (``tries.why`` then says why,
        when it was the budget or repeated cut answers rather than the answer itself)."""
        tries.count += 1
        left = self.time_left(tries, now)
        spent = f"the URL's time budget of {self.url_budget:g} s ran out after {_attempts(tries.count)}"
        if not result.retryable:
            if result.deadline_hit and left <= 0:
                tries.why = spent
            return None
        if result.partial:
            tries.partial += 1
            if tries.partial >= PARTIAL_TRIES:
                tries.why = f"not tried again: {tries.partial} answers stalled or were cut off"
                return None
        if tries.count > self.max_retries:
            return None
        if result.retry_after is not None and result.status in (429, 503):
            wait = min(result.retry_after, MAX_RETRY_AFTER)
        else:
            wait = self.rng.uniform(0, min(MAX_BACKOFF, BASE_DELAY * 2 ** (tries.count - 1)))
        if wait >= left:
            tries.why = spent
            return None
        return wait


def _attempts(n: int) -> str:
    return f"{n} attempt" + ("s" if n != 1 else "")


@dataclass
class RetryQueue:
    """Tasks waiting for their next attempt, earliest first (the coordinator's alone)."""

    _heap: list = field(default_factory=list)
    _order: itertools.count = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, task: "Task", not_before: float) -> None:
        heapq.heappush(self._heap, (not_before, next(self._order), task))

    def next_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def start_due(self, now: float, start: Callable[["Task"], bool]) -> None:
        """Offer every task whose time has come to ``start``, earliest first; those it
        refuses (their host is busy) stay queued, due."""
        refused = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if not start(entry[2]):
                refused.append(entry)
        for entry in refused:
            heapq.heappush(self._heap, entry)

    def drain(self) -> list["Task"]:
        tasks = [entry[2] for entry in sorted(self._heap)]
        self._heap.clear()
        return tasks
