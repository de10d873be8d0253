"""What ``archiver verify`` was pointed at: a ``redirects.csv``, or a job's run directory.

A run directory brings more than its ``redirects.csv``: the manifest the run
ran with (``manifest.toml``: the allowed new hosts, given explicitly, and the
``[crawl]`` politeness settings; ``[verify]`` for defaults) and the new
site's capture (``new/``), whose pages are what each target should still
look like. Revisits in that capture resolve through the earlier runs' WARC
files, as in the job itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from archiver.warc import iter_captures
from archiver.errors import UsageError
from archiver.jobs.manifest import load_manifest
from archiver.jobs.originals import original_files
from archiver.types import Capture

CSV_FILE = "redirects.csv"
MANIFEST_FILE = "manifest.toml"
NEW_CRAWL = "new"


@dataclass
class VerifySource:
    csv: Path
    run_dir: Path | None = None
    allowed_hosts: tuple[str, ...] = ()  # explicit, from the run's manifest
    crawl: dict = field(default_factory=dict)  # the run's [crawl] settings
    against: str | None = None  # the run's [verify] against
    fail_under: float | None = None

    @property
    def default_out(self) -> Path:
        return (self.run_dir if self.run_dir is not None else self.csv.parent) / "verify"

    def new_captures(self) -> Iterator[Capture] | None:
        """The run's capture of the new site, or None when there is none."""
        if self.run_dir is None or not (self.run_dir / NEW_CRAWL / "warc").is_dir():
            return None
        return run_captures(self.run_dir, NEW_CRAWL)


def resolve_source(path: Path | str) -> VerifySource:
    """A ``VerifySource`` for a CSV file or a run directory; anything else raises ``UsageError``."""
    path = Path(path)
    if path.is_file():
        return VerifySource(csv=path)
    if not path.is_dir():
        raise UsageError(f"{path}: no such file or directory")
    if not (path / CSV_FILE).is_file():
        raise UsageError(f"{path}: not a run directory (no {CSV_FILE} in it)")
    source = VerifySource(csv=path / CSV_FILE, run_dir=path)
    if (path / MANIFEST_FILE).is_file():
        manifest = load_manifest(path / MANIFEST_FILE)
        source.allowed_hosts = manifest.target_hosts
        source.crawl = dict(manifest.crawl)
        source.against = manifest.verify.against
        source.fail_under = manifest.verify.fail_under
    return source


def run_captures(run_dir: Path, side: str) -> Iterator[Capture]:
    """Captures of one crawl of a run, its revisits resolved through earlier runs' WARC files."""
    crawl_dir = (run_dir / side).absolute()
    earlier = [r / side for r in sorted(run_dir.parent.iterdir())
               if r.name < run_dir.name and (r / side).is_dir()]
    originals = original_files(crawl_dir, earlier)
    own = str(crawl_dir) + "/"
    for capture in iter_captures([*map(str, originals), str(crawl_dir)]):
        if capture.file.startswith(own):
            yield capture
