"""An in-memory website: what the demo server serves (owned by mapping)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    """One answer: status, headers and body, served as they are."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Site:
    """Resources keyed by path+query exactly as a client requests them."""

    resources: dict[str, Resource] = field(default_factory=dict)

    def add(self, path: str, body: bytes | str = b"", *, status: int = 200,
            content_type: str = "text/html; charset=utf-8", **headers: str) -> Resource:
        """Add (or replace) one resource; ``headers`` use '_' for '-'."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type} if content_type else {}
        all_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
        resource = Resource(status, all_headers, data)
        self.resources[path] = resource
        return resource
