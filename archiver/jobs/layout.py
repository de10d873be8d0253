"""Where a run keeps what, for a one-site job and for a programme of many sites.

A one-site job (a ``[legacy]`` table) keeps the layout it always had; a
programme (``[[legacy]]`` tables) gives each legacy site the same files in a
directory of its own and combines their exports at the top::

    RUN/new/                      the new site's crawl (the portal: crawled once, shared by every site)
    RUN/manifest.toml, summary.json, diff.json
    one site:   RUN/legacy/  RUN/notices.jsonl  RUN/redirects.*  RUN/candidates.jsonl  RUN/audit/  RUN/verify/
    programme:  RUN/sites/<name>/  each holding those for one site;
                RUN/redirects.*  RUN/candidates.jsonl  every site's rows at once (one nginx, one Apache for all hosts)

A *site directory* is where one legacy site's files are: the run directory
itself for a one-site job, ``RUN/sites/<name>`` in a programme. Tools given a
run directory or a site directory (``archiver verify``, ``review``, ``diff``)
read the layout from the disk with :meth:`RunLayout.of`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SITES_DIR = "sites"
LEGACY_CRAWL = "legacy"
NEW_CRAWL = "new"
PORTAL_INDEX = "portal-index.pickle"  # the new site's content index while a run maps (removed after)


@dataclass(frozen=True)
class RunLayout:
    run_dir: Path
    sites: tuple[str, ...]  # legacy site names, in manifest order (a one-site job: the job's name)
    programme: bool  # True: RUN/sites/<name>/ per site, combined exports at the top

    def site_dir(self, name: str) -> Path:
        return self.run_dir / SITES_DIR / name if self.programme else self.run_dir

    def legacy_crawl(self, name: str) -> Path:
        return self.site_dir(name) / LEGACY_CRAWL

    @property
    def new_crawl(self) -> Path:
        return self.run_dir / NEW_CRAWL

    @property
    def portal_index(self) -> Path:
        return self.run_dir / PORTAL_INDEX

    def crawls(self) -> dict[str, Path]:
        """Label -> crawl directory: ``legacy`` (one site) or each site's name, then ``new``."""
        legacy = {name if self.programme else LEGACY_CRAWL: self.legacy_crawl(name) for name in self.sites}
        return {**legacy, NEW_CRAWL: self.new_crawl}

    @classmethod
    def of(cls, run_dir: Path | str) -> "RunLayout":
        """The layout a run directory has on disk (a programme's sites in name order)."""
        run_dir = Path(run_dir)
        sites = run_dir / SITES_DIR
        if sites.is_dir():
            return cls(run_dir, tuple(sorted(p.name for p in sites.iterdir() if p.is_dir())), True)
        return cls(run_dir, (job_name(run_dir),), False)


def job_name(run_dir: Path) -> str:
    """The job a run directory belongs to (``OUT/<name>/runs/<run>``), else the directory's own name."""
    run_dir = Path(run_dir).absolute()
    return run_dir.parent.parent.name if run_dir.parent.name == "runs" else run_dir.name


def site_of(path: Path | str) -> tuple[Path, str | None]:
    """(run directory, site name) for a run directory (None: the whole run) or a programme's site
    directory ``RUN/sites/<name>``."""
    path = Path(path)
    if path.parent.name == SITES_DIR and (path / LEGACY_CRAWL).is_dir():
        return path.parent.parent, path.name
    return path, None
