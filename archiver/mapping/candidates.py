"""``candidates.jsonl``: the new pages content matching weighed for each old page.

Written at map time beside ``redirects.csv`` so that ``archiver review`` can
show a person the best three candidates (title, date, score and why) without
building the matcher again. One JSON object a line::

    {"old_url": ..., "title": ..., "date": ..., "candidates": [Candidate.to_json(), ...]}

for every legacy page with content, accepted match or not.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from archiver.types import Candidate, PageFacts

CANDIDATES_FILE = "candidates.jsonl"


class CandidatesWriter:
    """Collects candidates from ``build_manifest(candidates=...)`` into a file, written whole
    (temporary file, then renamed) when the context ends without an error."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._out = None

    def __enter__(self) -> "CandidatesWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(self._tmp, "w", encoding="utf-8")
        return self

    def __call__(self, old: PageFacts, candidates: list[Candidate]) -> None:
        line = {"old_url": old.url, "title": old.title or old.h1, "date": old.date,
                "candidates": [c.to_json() for c in candidates]}
        self._out.write(json.dumps(line, ensure_ascii=False) + "\n")

    def __exit__(self, kind, *exc) -> None:
        self._out.close()
        if kind is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def read_candidates(path: Path | str) -> dict[str, dict]:
    """{old URL: its line} from a candidates file (empty when there is none)."""
    path = Path(path)
    if not path.is_file():
        return {}
    found = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                item = json.loads(line)
                item["candidates"] = [Candidate(**c) for c in item.get("candidates", ())]
                found[item["old_url"]] = item
    return found
