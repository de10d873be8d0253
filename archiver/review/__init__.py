"""Review: a person decides the rows the mapping could not, and every later run keeps it.

``ReviewSession`` is one run's rows, candidates and archived pages plus the
job's decisions file (``archiver.mapping.decisions``; written through
``store.DecisionsFile``, one writer at a time, atomically). ``server.py``
puts a local web page in front of it (``archiver review``).

    with ReviewSession.open("output/mnz") as session:
        session.decide("http://old.example/a", "redirect", "https://new.example/b")
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from archiver.errors import UsageError
from archiver.jobs.history import JobHistory
from archiver.jobs.layout import NEW_CRAWL, RunLayout, site_of
from archiver.mapping.candidates import CANDIDATES_FILE, read_candidates
from archiver.mapping.decisions import DECISIONS, REDIRECT, check_decision, clean_note
from archiver.review.pages import ArchivePages, render_html
from archiver.review.queue import GROUPS, Item, ReviewQueue, read_rows
from archiver.review.store import DecisionsFile
from archiver.types import Decision
from archiver.urls import lookup_key

__all__ = ["ReviewSession", "find_run"]

TEXT_SHOWN = 4000  # characters of a page's main text sent to the page
SUGGESTIONS = 12


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def find_run(path: Path | str) -> Path:
    """The run to review: ``path`` itself when it is a run directory (or a programme site's
    ``RUN/sites/<name>``), else the job's latest run (a programme's: every site at once)."""
    path = Path(path)
    if (path / "redirects.csv").is_file():
        return path
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory (expected OUT/<name> or a run directory)")
    history = JobHistory(path)
    run = history.latest() or next(reversed(history.completed()), None)
    if run is None or not (run / "redirects.csv").is_file():
        raise UsageError(f"{path}: no run with a redirects.csv here (expected OUT/<name> or a run directory)")
    return run


class ReviewSession:
    """One run under review, with its job's decisions file open for writing (a context manager)."""

    def __init__(self, run_dir: Path, decisions_path: Path, allowed_hosts: list[str], *,
                 now: Callable[[], str] = _utc_now) -> None:
        self.run_dir = run_dir
        self.now = now
        self.allowed_hosts = allowed_hosts
        self.store = DecisionsFile(decisions_path, allowed_hosts=allowed_hosts)
        run, site = site_of(run_dir)
        layout = RunLayout.of(run)
        job = JobHistory(run.parent.parent)
        legacy = [job.crawl_inputs(run, layout.legacy_crawl(name).relative_to(run))
                  for name in ([site] if site else layout.sites)]
        self.old_pages = ArchivePages([crawl for _, crawl in legacy], [p for originals, _ in legacy for p in originals])
        originals, crawl = job.crawl_inputs(run, NEW_CRAWL)
        self.new_pages = ArchivePages([crawl], originals)
        self.rows = read_rows(run_dir / "redirects.csv")
        self.candidates = read_candidates(run_dir / CANDIDATES_FILE)
        self.new_titles = {lookup_key(c.new_url): c.title for item in self.candidates.values()
                           for c in item["candidates"] if c.title}
        self.queue: ReviewQueue | None = None
        self.undo_stack: list[tuple[str, Decision | None]] = []

    @classmethod
    def open(cls, path: Path | str, *, decisions: Path | str | None = None, **kwargs) -> "ReviewSession":
        """The session for a job directory or run directory; the decisions file and the allowed
        target hosts come from the run's summary (``decisions`` overrides the file)."""
        run = find_run(path)
        try:
            summary = json.loads((site_of(run)[0] / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
        recorded = summary.get("decisions") or {}
        if not recorded.get("allowed_hosts"):
            raise UsageError(f"{run}: the run's summary.json does not say which target hosts are allowed "
                             "(a run made before review existed, or not by `archiver run`): run the job again")
        file = decisions or recorded.get("file")
        if not file:
            raise UsageError(f"{run}: the job has no decisions file (its manifest is not a file): pass --decisions FILE")
        return cls(run, Path(file), list(recorded["allowed_hosts"]), **kwargs)

    def __enter__(self) -> "ReviewSession":
        self.store.__enter__()
        self.queue = ReviewQueue(self.rows, self.candidates, set(self.store.decisions.by_key))
        return self

    def __exit__(self, *exc) -> None:
        self.store.__exit__(*exc)

    # reading ----------------------------------------------------------------------------
    def _summary(self, item: Item) -> dict:
        decision = self.store.get(item.old_url)
        return {"old_url": item.old_url, "title": item.title, "group": item.group, "kind": item.row.get("kind"),
                "decision": decision.to_json() if decision else None}

    def state(self) -> dict:
        """The queue in order with each item's decision, and the counts per group."""
        items = [self._summary(self.queue.items[key]) for key in self.queue.order]
        counts = {group: sum(i["group"] == group for i in items) for group in GROUPS}
        return {"items": items, "counts": counts, "decided": sum(i["decision"] is not None for i in items),
                "total": len(items), "rows": len(self.queue.items), "decisions_file": str(self.store.path),
                "can_undo": bool(self.undo_stack)}

    def _page(self, pages: ArchivePages, url: str) -> dict:
        where = pages.where(url)
        facts = pages.facts(url) if where is not None and where.is_html else None
        return {"url": url, "captured": where is not None, "status": where.status if where else None,
                "title": (facts.title or facts.h1) if facts else "", "date": facts.date if facts else None,
                "text": (facts.text or "")[:TEXT_SHOWN] if facts else ""}

    def detail(self, url: str) -> dict:
        """Everything the page shows for one legacy URL: its row, its archived page, the choices."""
        item = self.queue.get(url)
        if item is None:
            raise UsageError(f"{url} is not a row of this run's redirect manifest")
        choices = []
        for choice in item.choices():
            page = self._page(self.new_pages, choice["new_url"])
            choices.append({**choice, "title": page["title"] or choice["title"], "date": page["date"] or choice["date"],
                            "text": page["text"], "status": page["status"], "captured": page["captured"]})
        return {**self._summary(item), "row": item.row, "old": self._page(self.old_pages, item.old_url),
                "choices": choices}

    def render(self, url: str) -> str | None:
        """The archived legacy page made inert (``pages.render_html``), or None when not captured."""
        capture = self.old_pages.capture(url)
        return render_html(capture) if capture is not None else None

    def search(self, query: str) -> list[dict]:
        return [self._summary(item) for item in self.queue.search(query)]

    def suggest(self, text: str) -> dict:
        """Captured new-site pages whose URL or title holds every word of ``text``, shortest URL
        first, and what the capture says of ``text`` itself as a target."""
        words = text.casefold().split()
        found = []
        if words:
            for key, where in self.new_pages.pages.items():
                if not where.is_html or not (where.status and 200 <= where.status < 300):
                    continue
                title = self.new_titles.get(key, "")
                haystack = f"{self.new_pages.urls[key]} {title}".casefold()
                if all(word in haystack for word in words):
                    found.append({"url": self.new_pages.urls[key], "title": title})
        found.sort(key=lambda page: (len(page["url"]), page["url"]))  # the shortest (a section) first
        return {"suggestions": found[:SUGGESTIONS], "check": self.check_target(text.strip())}

    def check_target(self, url: str) -> dict:
        """Whether ``url`` may be a target (allowed host) and what the new site's capture says of it."""
        problem = check_decision(Decision("http://placeholder.invalid/", REDIRECT, url), self.store.allowed)
        if problem:
            return {"ok": False, "problem": problem.removeprefix("new_url: ")}
        where = self.new_pages.where(url)
        if where is None:
            return {"ok": True, "warning": "not in the new site's capture"}
        if where.status and 300 <= where.status < 400:
            return {"ok": True, "warning": f"the new site redirects it ({where.status}) to {where.location}"}
        if not (where.status and 200 <= where.status < 300):
            return {"ok": True, "warning": f"the new site answered {where.status}"}
        return {"ok": True}

    # deciding ---------------------------------------------------------------------------
    def decide(self, old_url: str, decision: str, new_url: str | None = None, note: str = "") -> dict:
        """Record a decision for a row of this run (written to the file before this returns)."""
        item = self.queue.get(old_url)
        if item is None:
            raise UsageError(f"{old_url} is not a row of this run's redirect manifest")
        if decision not in DECISIONS:
            raise UsageError(f"decision: expected one of {', '.join(DECISIONS)}, got {decision!r}")
        made = Decision(item.old_url, decision, (new_url or "").strip() or None, clean_note(note), self.now())
        previous = self.store.set(made)
        self.undo_stack.append((item.old_url, previous))
        self.queue.add_decided(item.old_url)
        return {"old_url": item.old_url, "decision": made.to_json()}

    def undo(self) -> dict:
        """Take back the last decision of this session (the one it replaced comes back)."""
        if not self.undo_stack:
            raise UsageError("nothing to undo")
        old_url, previous = self.undo_stack.pop()
        if previous is None:
            self.store.remove(old_url)
        else:
            self.store.set(previous)
        return {"old_url": old_url, "decision": previous.to_json() if previous else None}
