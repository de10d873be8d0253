"""``pages/pages.jsonl``: the crawl's HTML pages, with title and text for search.

A page is a 2xx HTML capture of the crawl (a revisit counts, with its
original's body); each URL is listed once, at its first capture. Title and
main text come from ``archiver.extract``, the same facts mapping uses, read
from the archived records through the reader, never from the live site.

All pages go to ``pages.jsonl``. The spec suggests ``extraPages.jsonl`` for
pages found by crawling rather than chosen, but ReplayWeb.page lists only
``pages.jsonl`` in its page browser (``extraPages.jsonl`` becomes a lazily
loaded search index), and every page of a retired site should be browsable.
Seeds are marked ``"seed": true`` (a property the spec allows), as
Browsertrix does.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from archiver.extract import MAX_PARSE_BYTES, extract
from archiver.types import Capture
from archiver.warc import iter_captures

HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All pages", "hasText": True}


@dataclass(frozen=True)
class PageList:
    """What ``write_pages`` wrote, and what it found on the way."""

    pages: int
    unresolved_revisits: int  # the crawl's revisits whose original is in no packed file
    main_page: tuple[str, str] | None  # (url, ts): the first seed's page, else the first page


def is_page(capture: Capture) -> bool:
    """A 2xx HTML capture of an http(s) URL."""
    return (capture.status is not None and 200 <= capture.status < 300 and capture.is_html
            and capture.url.lower().startswith(("http:", "https:")))


def page_id(url: str, ts: str) -> str:
    """A stable id: the same capture gets the same id in every package."""
    return hashlib.sha256(f"{ts} {url}".encode("utf-8")).hexdigest()[:24]


def page_entry(capture: Capture, *, seed: bool) -> dict:
    """The pages.jsonl object of one page capture."""
    facts = extract(capture)
    entry = {"id": page_id(capture.url, capture.date), "url": capture.url, "ts": capture.date}
    title = facts.title or facts.h1
    if title:
        entry["title"] = title
    if facts.text:
        entry["text"] = facts.text
    if seed:
        entry["seed"] = True
    return entry


def write_pages(files: list[Path], own: Iterable[Path], output: Path, *, seeds: Iterable[str] = ()) -> PageList:
    """Write pages.jsonl for the captures in ``own`` (the other ``files`` hold originals of its revisits)."""
    own_names = {str(p) for p in own}
    seeds = list(dict.fromkeys(seeds))
    seed_pages: dict[str, tuple[str, str]] = {}
    listed: set[str] = set()
    unresolved = 0
    first_page = None
    with open(output, "w", encoding="utf-8") as out:
        out.write(json.dumps(HEADER) + "\n")
        for capture in iter_captures([str(p) for p in files], max_body=MAX_PARSE_BYTES):
            if capture.file not in own_names:
                continue
            if capture.record_type == "revisit" and capture.revisit_of is None:
                unresolved += 1
            if not is_page(capture) or capture.url in listed:
                continue
            listed.add(capture.url)
            seed = capture.url in seeds
            out.write(json.dumps(page_entry(capture, seed=seed), ensure_ascii=False) + "\n")
            first_page = first_page or (capture.url, capture.date)
            if seed:
                seed_pages[capture.url] = (capture.url, capture.date)
    main_page = next((seed_pages[url] for url in seeds if url in seed_pages), first_page)
    return PageList(pages=len(listed), unresolved_revisits=unresolved, main_page=main_page)
