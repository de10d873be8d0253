"""The reviewer's side of the decisions file: one writer, every change on disk at once.

``DecisionsFile`` holds an flock on ``<file>.lock`` for as long as it is open
(a second reviewer of the same job gets exit 4), and every change rewrites the
file into a temporary file beside it, fsynced and renamed over the old one,
so a crash leaves the old or the new file, never half of one. Reading,
checking and applying decisions belong to mapping (``archiver.mapping.decisions``).
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Iterable

from archiver.errors import ArchiverError, UsageError
from archiver.export.validate import AllowedHosts
from archiver.jobs.lock import JobLock
from archiver.mapping.decisions import Decisions, check_decision, decisions_text, load_decisions
from archiver.types import Decision
from archiver.urls import lookup_key


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temporary file beside it, fsync, rename, fsync the directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class DecisionsFile:
    """One job's decisions file, open for changes by one writer at a time (a context manager).

    ``set`` and ``remove`` rewrite the whole file atomically before they
    return, so every decision is on disk the moment it is acknowledged.
    """

    def __init__(self, path: Path | str, *, allowed_hosts: Iterable[str]) -> None:
        self.path = Path(path)
        self.allowed = AllowedHosts(allowed_hosts)
        self._allowed_hosts = list(allowed_hosts)
        self.lock = JobLock(self.path.with_name(self.path.name + ".lock"),
                            busy="another reviewer is editing these decisions")
        self.decisions: Decisions = Decisions(source=str(self.path))
        self._changing = threading.Lock()  # the server answers requests on several threads

    def __enter__(self) -> "DecisionsFile":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            if self.path.exists():
                self.decisions = load_decisions(self.path, allowed_hosts=self._allowed_hosts)
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()

    def get(self, old_url: str) -> Decision | None:
        return self.decisions.get(old_url)

    def set(self, decision: Decision) -> Decision | None:
        """Record ``decision`` (replacing any for its old URL); returns the one it replaced."""
        problem = check_decision(decision, self.allowed)
        if problem:
            raise UsageError(problem)
        key = lookup_key(decision.old_url)
        with self._changing:
            previous = self.decisions.by_key.get(key)
            self.decisions.by_key[key] = decision
            self._save(key, previous)
        return previous

    def remove(self, old_url: str) -> Decision | None:
        """Forget the decision for ``old_url``; returns it (None when there was none)."""
        key = lookup_key(old_url)
        with self._changing:
            previous = self.decisions.by_key.pop(key, None)
            if previous is not None:
                self._save(key, previous)
        return previous

    def _save(self, key: str, previous: Decision | None) -> None:
        """Write the file; when that fails, forget the change too (memory matches the disk)."""
        try:
            write_atomically(self.path, decisions_text(self.decisions))
        except OSError as exc:
            if previous is None:
                self.decisions.by_key.pop(key, None)
            else:
                self.decisions.by_key[key] = previous
            raise ArchiverError(f"cannot write the decisions file {self.path}: {exc.strerror or exc}") from None
