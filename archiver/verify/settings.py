"""The job manifest's ``[verify]`` table (kept free of heavy imports: the
manifest reader loads it for every job)."""
from __future__ import annotations

from dataclasses import dataclass

from archiver.settings import setting


@dataclass(frozen=True)
class VerifySettings:
    """``against``: the old site as served now (production, or a staging server
    answering for the old host names); when set, ``archiver run`` checks it
    against the run's redirect manifest after the export."""

    against: str | None = setting(None, kind="origin")
    fail_under: float = setting(1.0, kind="fraction")  # share of checked rows that must be right (exit 3 under it)
