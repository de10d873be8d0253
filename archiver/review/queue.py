"""What a person reviews, in which order: the rows of one run's redirect manifest.

The queue holds flagged rows first (the mapping asks for a person), then
unmatched rows, then the fallbacks nobody flagged (a section or the portal's
front page instead of the page's own equivalent), each group weakest first;
rows already decided in the decisions file follow, so progress can be shown
and a decision revisited. Search covers every row, queued or not.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from archiver.mapping.decisions import REVIEWED
from archiver.types import Candidate
from archiver.urls import lookup_key

GROUPS = ("flagged", "unmatched", "fallback", "reviewed")
SHOWN_CANDIDATES = 3


@dataclass
class Item:
    """One legacy URL: its row in the manifest, what is known of its page, its candidates."""

    old_url: str
    row: dict
    title: str = ""
    date: str | None = None
    group: str | None = None  # one of GROUPS, None when not queued
    candidates: list[Candidate] = field(default_factory=list)  # content matching's best, best first

    def choices(self) -> list[dict]:
        """The (at most three) targets offered: the row's own target first when content
        matching did not propose it, then content candidates."""
        offered: list[dict] = []
        target = self.row.get("new_url") or ""
        if target and self.row.get("method") != REVIEWED and all(c.new_url != target for c in self.candidates):
            offered.append({"new_url": target, "score": float(self.row.get("confidence") or 0),
                            "reasons": f"{self.row.get('method')}: {self.row.get('evidence') or ''}".strip(),
                            "title": "", "date": None, "source": "this row"})
        for candidate in self.candidates:
            offered.append({**candidate.to_json(), "source": "content match"})
        return offered[:SHOWN_CANDIDATES]


def group_of(row: dict) -> str | None:
    if row.get("kind") == "unmatched" and row.get("method") != REVIEWED:
        return "unmatched"
    if row.get("review") == "yes":
        return "flagged"
    if row.get("kind") == "fallback":
        return "fallback"
    return None


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class ReviewQueue:
    """Every row of a run by URL key; ``order`` is the queue (keys), see the module doc."""

    def __init__(self, rows: list[dict], candidates: dict[str, dict], decided: set[str]) -> None:
        known = {lookup_key(url): item for url, item in candidates.items()}
        self.items: dict[str, Item] = {}
        for row in rows:
            key = lookup_key(row["old_url"])
            found = known.get(key, {})
            group = group_of(row) or ("reviewed" if key in decided or row.get("method") == REVIEWED else None)
            self.items[key] = Item(row["old_url"], row, found.get("title") or "", found.get("date"), group,
                                   list(found.get("candidates", ())))

        def weakest_first(key: str) -> tuple:
            item = self.items[key]
            return GROUPS.index(item.group), float(item.row.get("confidence") or 0), item.old_url

        self.order = sorted((k for k, item in self.items.items() if item.group), key=weakest_first)

    def get(self, url: str) -> Item | None:
        return self.items.get(lookup_key(url))

    def add_decided(self, url: str) -> None:
        """A row decided in this session that was in no group stays in the queue (as reviewed)."""
        item = self.get(url)
        if item is not None and item.group is None:
            item.group = "reviewed"
            self.order.append(lookup_key(url))

    def search(self, query: str, limit: int = 20) -> list[Item]:
        """Rows whose old URL or page title holds every word of ``query`` (case-insensitive)."""
        words = query.casefold().split()
        if not words:
            return []
        found = []
        for item in self.items.values():
            text = f"{item.old_url} {item.title}".casefold()
            if all(word in text for word in words):
                found.append(item)
                if len(found) >= limit:
                    break
        return found
