"""What ``archiver verify`` was pointed at: a ``redirects.csv``, or a job's run directory.

A run directory brings more than its ``redirects.csv``: the manifest the run
ran with (``manifest.toml``: the allowed new hosts, given explicitly, and the
``[crawl]`` politeness settings; ``[verify]`` for defaults) and the new
site's capture (``new/``), whose pages are what each target should still
look like. Revisits in that capture resolve through the earlier runs' WARC
files, as in the job itself. In a programme's run, ``RUN`` holds every
site's rows at once and ``RUN/sites/<name>`` one site's, with the run's
manifest and capture of the new site (and that site's ``verify_against``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from archiver.errors import UsageError
from archiver.jobs.history import earlier_crawls
from archiver.jobs.layout import site_of
from archiver.jobs.manifest import load_manifest
from archiver.jobs.originals import CrawlCaptures, original_files
from archiver.types import Capture

CSV_FILE = "redirects.csv"
MANIFEST_FILE = "manifest.toml"
NEW_CRAWL = "new"


@dataclass
class VerifySource:
    csv: Path
    run_dir: Path | None = None
    site_dir: Path | None = None  # the run directory, or a programme's RUN/sites/<name>
    allowed_hosts: tuple[str, ...] = ()  # explicit, from the run's manifest
    crawl: dict = field(default_factory=dict)  # the run's [crawl] settings
    against: str | None = None  # the run's [verify] against
    fail_under: float | None = None

    @property
    def default_out(self) -> Path:
        return (self.site_dir if self.site_dir is not None else self.csv.parent) / "verify"

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
    run_dir, site = site_of(path)
    source = VerifySource(csv=path / CSV_FILE, run_dir=run_dir, site_dir=path)
    if (run_dir / MANIFEST_FILE).is_file():
        manifest = load_manifest(run_dir / MANIFEST_FILE)
        source.allowed_hosts = manifest.target_hosts
        source.crawl = dict(manifest.crawl)
        source.against = manifest.verify.against
        if site is not None and site in {s.name for s in manifest.sites}:
            source.against = manifest.site(site).verify_against or source.against
        source.fail_under = manifest.verify.fail_under
    return source


def run_captures(run_dir: Path, side: str) -> CrawlCaptures:
    """Captures of one crawl of a run, its revisits resolved through earlier runs' WARC files."""
    crawl_dir = (run_dir / side).absolute()
    return CrawlCaptures(crawl_dir, original_files(crawl_dir, earlier_crawls(crawl_dir)))
