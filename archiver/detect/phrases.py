"""Moved-notice phrase packs (``phrases/*.toml``) plus phrases from a manifest.

Packs are data, not code: one TOML file per language with ``moved`` (says the
content lives elsewhere now), ``soft`` (no longer updated, archived) and
``furniture`` (cookie bars, privacy, "follow us": ordinary repeated blocks)
and ``soft404`` (titles of "page not found" pages served with 200) lists.
Phrases only add to a banner's score; a repeated block naming the new site
counts without them, so a wording nobody listed is still found.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from archiver.extract import fold

PACK_DIR = Path(__file__).with_name("phrases")
_PUNCTUATION = str.maketrans({c: " " for c in "!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~“”„«»…–—"})


@dataclass(frozen=True)
class PhraseHit:
    kind: str  # moved | soft | manifest | furniture
    phrase: str


def _pattern(phrases: list[str]) -> re.Pattern | None:
    folded = sorted({fold(p) for p in phrases if p and p.strip()}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in folded) + ")")


@lru_cache(maxsize=1)
def load_packs(directory: Path = PACK_DIR) -> dict[str, list[str]]:
    """All packs merged by kind: moved, soft, furniture, soft404 (lists of phrases)."""
    merged: dict[str, list[str]] = {"moved": [], "soft": [], "furniture": [], "soft404": []}
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for kind in merged:
            merged[kind].extend(str(p) for p in data.get(kind, []))
    return merged


class PhraseBook:
    """Finds pack and manifest phrases in text (case/diacritics-insensitive)."""

    def __init__(self, extra: tuple[str, ...] | list[str] = ()):
        packs = load_packs()
        every = [fold(p) for p in list(extra) + packs["moved"] + packs["soft"] + packs["furniture"]
                 if p and p.strip()]
        # A cheap gate before the regexes: a key word of some phrase must be in the text.
        self._keywords = set()
        self._stems = set()
        for phrase in every:
            words = phrase.split()
            inner = words[:-1] if len(words) > 1 else []
            if inner:
                self._keywords.add(max(inner, key=len))
            else:
                self._stems.add(words[0])
        soft404 = sorted({fold(p) for p in packs["soft404"] if p.strip()}, key=len, reverse=True)
        # the whole heading, or the phrase then a separator: "404 - Not found", not "404 applications"
        self._soft404 = re.compile(
            "^(?:" + "|".join(map(re.escape, soft404)) + r")(?:\s*$|\s*[-|:–—!.,(])") if soft404 else None
        self._stem_pattern = re.compile("|".join(map(re.escape, sorted(self._stems)))) if self._stems else None
        self._patterns = [
            (kind, pattern)
            for kind, pattern in (
                ("manifest", _pattern(list(extra))),
                ("moved", _pattern(packs["moved"])),
                ("soft", _pattern(packs["soft"])),
                ("furniture", _pattern(packs["furniture"])),
            )
            if pattern is not None
        ]

    def find(self, folded_text: str) -> tuple[PhraseHit, ...]:
        """The first hit of each kind in text already passed through ``fold``."""
        if self._keywords.isdisjoint(folded_text.translate(_PUNCTUATION).split()) and not (
                self._stem_pattern and self._stem_pattern.search(folded_text)):
            return ()
        hits = []
        for kind, pattern in self._patterns:
            match = pattern.search(folded_text)
            if match:
                hits.append(PhraseHit(kind, match.group(0)))
        return tuple(hits)

    def soft404(self, heading: str) -> str | None:
        """The soft-404 phrase a page title or heading starts with, if any."""
        if self._soft404 is None or not heading:
            return None
        match = self._soft404.match(fold(heading))
        return match.group(0).rstrip(" -|:–—!.,(") if match else None
