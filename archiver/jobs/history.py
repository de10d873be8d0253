"""Run history of a job: ``OUT/<name>/runs/<UTC timestamp>/`` and ``latest``.

Run directories are named by their UTC start time (``20261129T091500Z``, a
``-N`` suffix when two runs start in the same second), created exclusively so
a run never writes into another's. ``latest`` is a relative symlink replaced
atomically once a run has finished (a plain file naming the run where
symlinks are not available). A run is complete when its ``summary.json``
exists.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Iterable

from archiver.audit.expected import crawls_in
from archiver.errors import UsageError
from archiver.jobs.originals import find_originals, original_files, revisit_refs

_RUN_ID = re.compile(r"(\d{8}T\d{6}Z)(?:-(\d+))?")


def _sort_key(run_dir: Path) -> tuple[str, int]:
    match = _RUN_ID.fullmatch(run_dir.name)
    return (match.group(1), int(match.group(2) or 0)) if match else ("", 0)


class JobHistory:
    def __init__(self, job_dir: Path | str):
        self.job_dir = Path(job_dir)
        self.runs_dir = self.job_dir / "runs"

    def runs(self) -> list[Path]:
        """Every run directory, oldest first."""
        if not self.runs_dir.is_dir():
            return []
        found = [p for p in self.runs_dir.iterdir() if p.is_dir() and _RUN_ID.fullmatch(p.name)]
        return sorted(found, key=_sort_key)

    def completed(self) -> list[Path]:
        return [p for p in self.runs() if (p / "summary.json").is_file()]

    def interrupted(self) -> Path | None:
        """The newest run when it never finished (no summary.json): killed, to be resumed.

        Only call this while holding the job's lock, so the run is not in progress.
        """
        runs = self.runs()
        return runs[-1] if runs and not (runs[-1] / "summary.json").exists() else None

    def new_run(self) -> Path:
        """Create and return a fresh run directory."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for n in range(1000):
            candidate = self.runs_dir / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
        raise RuntimeError(f"cannot create a run directory under {self.runs_dir}")

    def crawl_inputs(self, run_dir: Path, side: str | Path) -> tuple[list[Path], Path]:
        """(earlier runs' WARC files holding the originals of this crawl's revisits, the crawl
        directory): what a reader needs to see ``run_dir/side`` whole (``side``: ``legacy``,
        ``new`` or a programme site's ``sites/<name>/legacy``)."""
        crawl_dir = run_dir / side
        return original_files(crawl_dir, earlier_crawls(crawl_dir)), crawl_dir

    @property
    def latest_link(self) -> Path:
        return self.job_dir / "latest"

    def check_latest(self) -> None:
        """Refuse to start a run whose end could not point ``latest`` at it (a real directory there)."""
        link = self.latest_link
        if link.is_dir() and not link.is_symlink():
            raise UsageError(f"{link} is a real directory, not the link to the newest run that archiver keeps "
                             "there; move it away (e.g. mv latest latest.old) and run again")

    def latest(self) -> Path | None:
        """The run ``latest`` points at, or None."""
        link = self.latest_link
        if link.is_symlink():
            target = link.resolve()
            return target if target.is_dir() else None
        if link.is_file():
            target = self.runs_dir / link.read_text(encoding="utf-8").strip()
            return target if target.is_dir() else None
        return None

    def set_latest(self, run_dir: Path) -> None:
        """Point ``latest`` at ``run_dir`` atomically."""
        relative = Path("runs") / run_dir.name
        tmp = self.job_dir / f".latest.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.symlink(relative, tmp)
        except OSError:  # no symlinks here (some file systems): a file naming the run
            tmp.write_text(run_dir.name + "\n", encoding="utf-8")
        os.replace(tmp, self.latest_link)

    def prune(self, keep: int, *, current: Path | None = None, needed=None) -> list[Path]:
        """Delete all but the newest ``keep`` runs; never the latest or ``current``.

        ``needed(kept, runs)`` may name older runs the kept ones still depend on
        (e.g. holders of the originals of their revisit records); those stay too.
        """
        runs = self.runs()
        protected = {p.resolve() for p in (self.latest(), current) if p is not None}
        kept = [p for p in runs if p.resolve() in protected] + runs[max(len(runs) - keep, 0):]
        if needed is not None:
            protected |= {p.resolve() for p in needed(kept, runs)}
        doomed = [p for p in runs[: max(len(runs) - keep, 0)] if p.resolve() not in protected]
        for run_dir in doomed:
            shutil.rmtree(run_dir)
        return doomed


def run_of(crawl_dir: Path | str) -> tuple[Path, Path] | None:
    """(run directory, the crawl's path inside it) for a crawl of a job's run
    (``OUT/<name>/runs/<run>/legacy``, ``.../sites/<name>/legacy``, ``.../new``), else None."""
    crawl_dir = Path(crawl_dir).resolve()
    for parent in crawl_dir.parents:
        if parent.parent.name == "runs" and _RUN_ID.fullmatch(parent.name):
            return parent, crawl_dir.relative_to(parent)
    return None


def earlier_crawls(crawl_dir: Path | str) -> list[Path]:
    """The same crawl (the same side, or the same site of a programme) in the job's earlier runs,
    oldest first: where the originals of its revisits may be."""
    found = run_of(crawl_dir)
    if found is None:
        return []
    run, relative = found
    runs = JobHistory(run.parent.parent).runs()
    names = [r.name for r in runs]
    if run.name not in names:
        return []
    return [r / relative for r in runs[: names.index(run.name)] if (r / relative).is_dir()]


def originals_beside(inputs: Iterable) -> tuple[list[Path], list[str]]:
    """Earlier runs' WARC files that the inputs' revisits need, and a note per crawl whose originals are
    nowhere to be found, naming the earlier run to add.

    This is what a job does for its own audit, for someone auditing
    ``OUT/<name>/latest`` (or one of its crawls) by hand.
    """
    inputs = [Path(p) for p in inputs]
    given = {p.resolve() for p in inputs}
    crawls = list(dict.fromkeys(c.resolve() for p in inputs for c in crawls_in(p)))
    files: list[Path] = []
    notes: list[str] = []
    for crawl_dir in crawls:
        wanted = revisit_refs(crawl_dir)
        if not wanted:
            continue
        # the other crawls given may hold originals too (searched first: they are read anyway)
        found, missing = find_originals(wanted, [*earlier_crawls(crawl_dir), *(c for c in crawls if c != crawl_dir)])
        files += [f for f in found if f not in files and not any(g == f or g in f.parents for g in given)]
        if missing:
            dates = sorted({ref[1].rsplit(" ", 1)[-1] for ref in missing if ref[0] == "capture"})
            when = f" (recorded {dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''})" if dates else ""
            notes.append(f"{crawl_dir}: {len(missing)} revisit records point at originals in an earlier crawl{when} "
                         "that is not among the inputs; add that crawl's directory (the --previous of this crawl, "
                         "or for a job OUT/<name>/runs/<earlier run>/" + _in_run(crawl_dir) + ")")
    return files, notes


def _in_run(crawl_dir: Path) -> str:
    found = run_of(crawl_dir)
    return str(found[1]) if found else crawl_dir.name
