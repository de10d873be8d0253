"""An in-memory website: what the demo server serves (owned by mapping)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    """One answer: status, headers and body, served as they are."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Site:
    """Resources keyed by path+query exactly as a client requests them."""

    resources: dict[str, Resource] = field(default_factory=dict)
