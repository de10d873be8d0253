"""The HTTP exchange exactly as it crossed the wire: a :class:`Recording` of one attempt.

The fetcher records raw bytes below ``http.client`` (see :mod:`.fetch`) into
a Recording: the request as sent, the response as received (status line,
headers, chunk framing and content coding untouched), spooled to disk past
1 MB. Reading those bytes (splitting the head, de-chunking, digests, capped
decoding) follows the rules every reader of the archive follows, in
:mod:`archiver.http_message`.
"""
from __future__ import annotations

import tempfile
import time
from typing import BinaryIO, Callable

SPOOL_IN_MEMORY = 1 << 20  # bytes kept in RAM before a recording spills to disk


class TotalTimeout(TimeoutError):
    """The whole answer took longer than the fetcher's total deadline."""


class Recording:
    """Raw bytes of one HTTP attempt: request as sent, response as received.

    ``received`` is a spooled temporary file (RAM up to 1 MB, then disk), so a
    100 MB answer does not sit in memory. ``deadline`` (a ``clock()`` value or
    None) is checked on every socket read by the tee'ing reader; ``limit`` is
    the time the attempt was given, for the message when it runs out.
    """

    def __init__(self, deadline: float | None = None, clock: Callable[[], float] = time.monotonic,
                 limit: float | None = None):
        self.sent = bytearray()
        self.received: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.received_length = 0
        self.ip: str | None = None
        self.deadline = deadline
        self.clock = clock
        self.limit = limit
        self.deadline_hit = False
        self.reused = False  # sent on a connection that had carried a request before

    def on_send(self, data: bytes) -> None:
        self.sent += data

    def on_receive(self, data) -> None:
        self.received.write(data)
        self.received_length += len(data)

    def check_deadline(self) -> float | None:
        """Seconds left before the total deadline; raises :class:`TotalTimeout` past it."""
        if self.deadline is None:
            return None
        left = self.deadline - self.clock()
        if left <= 0:
            self.deadline_hit = True
            raise TotalTimeout("total deadline for the answer exceeded")
        return left

    def close(self) -> None:
        self.received.close()
