"""What a person watching the crawl sees: a live line on a terminal, periodic
plain lines in a log or cron mail, and a summary at the end."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Counters the engine updates as results arrive (coordinator thread only)."""

    started: float = field(default_factory=time.monotonic)
    fetched: int = 0
    errors: int = 0
    bytes: int = 0
    skipped: int = 0
    queued: int = 0
    inflight: int = 0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.fetched / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        return (f"fetched {self.fetched} ({self.rate():.1f}/s), queued {self.queued}, "
                f"in flight {self.inflight}, errors {self.errors}, skipped {self.skipped}, "
                f"{_size(self.bytes)}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


class Progress:
    """``mode``: auto (live display on a TTY, else plain), plain (a line every
    ``interval`` seconds on stderr) or none."""

    def __init__(self, mode: str = "auto", *, interval: float = 10.0, stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self.interval = interval
        self._last = 0.0
        self._live = None

    def start(self, stats: Stats) -> None:
        if self.mode == "live":
            # imported here: rich is ~40 ms of a crawl's start, and only a terminal watching it draws
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(stats), console=Console(file=self.stream),
                              refresh_per_second=4, transient=True)
            self._live.start()
        self._last = time.monotonic()

    def update(self, stats: Stats) -> None:
        if self.mode == "live" and self._live is not None:
            self._live.update(self._render(stats))
        elif self.mode == "plain" and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            print(f"crawl: {stats.line()}", file=self.stream, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def summary(self, text: str) -> None:
        if self.mode != "none":
            print(text, file=self.stream, flush=True)

    @staticmethod
    def _render(stats: Stats):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for name in ("fetched", "queued", "in flight", "rate", "errors", "skipped", "bytes"):
            table.add_column(name)
        table.add_row("[b]fetched", "[b]queued", "[b]in flight", "[b]rate", "[b]errors", "[b]skipped", "[b]bytes")
        table.add_row(str(stats.fetched), str(stats.queued), str(stats.inflight), f"{stats.rate():.1f}/s",
                      str(stats.errors), str(stats.skipped), _size(stats.bytes))
        return table
