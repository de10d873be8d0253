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

from archiver.jobs.originals import original_files

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
