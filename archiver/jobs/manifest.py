"""Job manifests: one TOML file says what to crawl, detect, map, export and audit.

``load_manifest(path)`` parses and validates the whole file up front, so a
typo fails in a second with one line that names the key
(``manifests/x.toml: [crawl] concurrency: expected an integer > 0, got 'four'``)
instead of an hour into a crawl. ``manifests/demo.toml`` documents every key.

Each table is a settings dataclass and its keys are that dataclass's
``setting`` fields (``archiver/settings.py``): ``[crawl]`` is ``CrawlConfig``
itself, ``[legacy]``/``[new]`` are ``SiteSpec``, and so on, so a new setting is
declared once, where it is used. ``[demo]`` belongs to the demo and is read by
``archiver.demo`` (imported only when a manifest has that table).

A *programme* lists several legacy sites moved into one new site, each as a
``[[legacy]]`` table (``LegacySite``: a ``SiteSpec`` with a ``name`` and its own
``verify_against`` and ``expected``); a single ``[legacy]`` table is a
programme of one site, named by the job. No host may belong to two legacy
sites: each site is one crawl task, and per-host politeness holds because a
host is crawled by one task only.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.capture import CrawlConfig
from archiver.errors import UsageError
from archiver.export import FORMATS
from archiver.settings import read_table, setting
from archiver.types import SectionRule
from archiver.urls import site_host
from archiver.verify.settings import VerifySettings

# tables that belong to another package: name -> "module:SettingsClass", imported when present
PLUGGED_TABLES = {"demo": "archiver.demo.settings:DemoSettings"}


@dataclass(frozen=True)
class SiteSpec:
    """One side of the job (the legacy or the new site) and its crawl scope."""

    seeds: tuple[str, ...] = setting((), kind="urls")  # start URLs (required)
    sitemaps: tuple[str, ...] = setting((), kind="urls")  # every URL in them is a seed too
    include: tuple[str, ...] = setting((), kind="regexes")  # page URLs must match one (when given)
    exclude: tuple[str, ...] = setting((), kind="regexes")  # never fetched
    max_pages: int | None = setting(None, kind="positive_int")  # overrides [crawl] max_pages
    max_depth: int | None = setting(None, kind="count")  # overrides [crawl] max_depth

    @property
    def hosts(self) -> tuple[str, ...]:
        """Host[:port] of the seeds and sitemaps, in order, without repeats."""
        hosts = (urlsplit(u).netloc.lower() for u in (*self.seeds, *self.sitemaps))
        return tuple(dict.fromkeys(hosts))


@dataclass(frozen=True)
class LegacySite(SiteSpec):
    """One legacy site of a programme (a ``[[legacy]]`` table): its own crawl, notices, redirect
    manifest, exports, audit and verify, under ``RUN/sites/<name>/``."""

    name: str = setting("", kind="name")  # required in [[legacy]]; a single [legacy] is named by the job
    verify_against: str | None = setting(None, kind="origin")  # this site as served now; default [verify] against
    expected: Path | None = setting(None, kind="path")  # its expected URLs, relative to the manifest


@dataclass(frozen=True)
class DetectSettings:
    phrases: tuple[str, ...] = setting((), kind="strings")  # extra notice phrases, any language


@dataclass(frozen=True)
class MappingSettings:
    rules: tuple[SectionRule, ...] = setting((), kind="rules")  # section fallbacks
    min_confidence: float | None = setting(None, kind="fraction")  # content matches below it stay unmatched
    status: int = setting(301, kind="redirect_status")
    allowed_hosts: tuple[str, ...] = setting((), kind="hosts")  # default: the [new] hosts
    assets: tuple[str, ...] = setting((), kind="media_types")  # further types that get rows, e.g. "image/*"
    documents_follow_gone: bool = setting(False, kind="bool")  # a document removed with its pages answers 410
    # a person's decisions (archiver review), relative to the manifest; default <name>.decisions.csv beside it
    decisions: Path | None = setting(None, kind="path")


@dataclass(frozen=True)
class ExportSettings:
    formats: tuple[str, ...] | None = setting(None, kind="strings")  # None: every format


@dataclass(frozen=True)
class AuditSettings:
    fail_under: float | None = setting(None, kind="fraction")  # exit 3 under this completeness
    expected: Path | None = setting(None, kind="path")  # URL list, relative to the manifest


@dataclass(frozen=True)
class Manifest:
    name: str = setting(kind="name")
    sites: tuple[LegacySite, ...] = ()  # the legacy sites, in manifest order
    programme: bool = False  # [[legacy]] tables (results per site under RUN/sites/<name>/), not one [legacy]
    new: SiteSpec = field(default_factory=SiteSpec)
    keep_runs: int | None = setting(None, kind="positive_int")  # None: keep every run
    crawl: dict[str, Any] = field(default_factory=dict)  # CrawlConfig fields set by [crawl]
    detect: DetectSettings = field(default_factory=DetectSettings)
    mapping: MappingSettings = field(default_factory=MappingSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    plugged: dict[str, Any] = field(default_factory=dict)  # table name -> its package's settings object
    path: Path | None = None

    @property
    def decisions_file(self) -> Path | None:
        """Where this job's decisions live: ``[mapping] decisions``, else ``<name>.decisions.csv``
        beside the manifest (None for a manifest that is not a file)."""
        if self.mapping.decisions is not None:
            return self.mapping.decisions
        return self.path.parent / f"{self.name}.decisions.csv" if self.path else None

    @property
    def target_hosts(self) -> tuple[str, ...]:
        """Hosts a redirect may point to."""
        return self.mapping.allowed_hosts or self.new.hosts

    def site(self, name: str) -> SiteSpec:
        """"new", a legacy site by name, or "legacy": the legacy site of a one-site job."""
        if name == "new":
            return self.new
        if name == "legacy" and len(self.sites) == 1:
            return self.sites[0]
        found = next((site for site in self.sites if site.name == name), None)
        if found is None:
            names = ", ".join(site.name for site in self.sites)
            raise UsageError(f"{self.path or 'manifest'}: no legacy site named {name!r} (its sites: {names})")
        return found

    def crawl_config(self, side: str, out_dir: Path | str, *, previous: Path | str | None = None,
                     progress: str = "none") -> CrawlConfig:
        """The capture ``CrawlConfig`` for ``side`` (see ``site()``)."""
        site = self.site(side)
        settings = dict(self.crawl)
        for key in ("max_pages", "max_depth"):
            if getattr(site, key) is not None:
                settings[key] = getattr(site, key)
        return CrawlConfig(seeds=list(site.seeds), sitemaps=list(site.sitemaps), include=list(site.include),
                           exclude=list(site.exclude), out_dir=Path(out_dir), previous=previous, progress=progress,
                           **settings)

    def with_origins(self, replacements: dict[str, str]) -> "Manifest":
        """A copy with URL origins replaced (the demo's placeholders -> live servers)."""

        def swap(url: str) -> str:
            for old, new in replacements.items():
                if url == old or url.startswith(old + "/") or url.startswith(old + "?"):
                    return new + url[len(old):]
            return url

        def swap_host(host: str) -> str:
            for old, new in replacements.items():
                if host == urlsplit(old).netloc:
                    return urlsplit(new).netloc
            return host

        def site(spec: SiteSpec) -> SiteSpec:
            changed = {"seeds": tuple(map(swap, spec.seeds)), "sitemaps": tuple(map(swap, spec.sitemaps))}
            if getattr(spec, "verify_against", None):
                changed["verify_against"] = swap(spec.verify_against)
            return dataclasses.replace(spec, **changed)

        mapping = dataclasses.replace(
            self.mapping,
            rules=tuple(SectionRule(r.pattern, swap(r.target)) for r in self.mapping.rules),
            allowed_hosts=tuple(map(swap_host, self.mapping.allowed_hosts)),
        )
        return dataclasses.replace(self, sites=tuple(map(site, self.sites)), new=site(self.new), mapping=mapping)


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a job manifest; any problem raises one-line ``UsageError``."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"{path}: manifest not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a manifest") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read manifest: {exc}") from None
    return parse_manifest(data, path)


# table name -> settings dataclass (the Manifest field of the same name holds it; [legacy] becomes ``sites``)
TABLES = {"legacy": SiteSpec, "new": SiteSpec, "crawl": CrawlConfig, "detect": DetectSettings,
          "mapping": MappingSettings, "export": ExportSettings, "audit": AuditSettings, "verify": VerifySettings}


def parse_manifest(data: dict, path: Path | str = "manifest") -> Manifest:
    """Validate an already-parsed TOML document (see ``load_manifest``)."""
    source = str(path)
    top = {key: value for key, value in data.items() if key not in TABLES and key not in PLUGGED_TABLES}
    values = read_table(Manifest, top, "", source, tables=(*TABLES, *PLUGGED_TABLES))
    if "name" not in values:
        raise UsageError(f"{source}: name: required")
    sites = _legacy_sites(data.get("legacy"), values["name"], source, Path(path).parent)
    new = SiteSpec(**_site_values(SiteSpec, data.get("new"), "new", source))
    tables = {name: read_table(cls, data.get(name, {}), name, source) for name, cls in TABLES.items()
              if name not in ("legacy", "new")}
    for name in ("detect", "mapping", "export"):
        tables[name] = {key: tuple(value) if isinstance(value, list) else value for key, value in tables[name].items()}
    mapping = tables["mapping"]
    mapping["rules"] = tuple(SectionRule(re.compile(r["pattern"]), r["target"]) for r in mapping.get("rules", ()))
    mapping["allowed_hosts"] = tuple(h.lower() for h in mapping.get("allowed_hosts", ()))
    for name in tables["export"].get("formats", ()):
        if name not in FORMATS:
            raise UsageError(f"{source}: [export] formats: unknown format {name!r} (known: {', '.join(FORMATS)})")
    if "decisions" in mapping:
        mapping["decisions"] = Path(path).parent / mapping["decisions"]
    formats = tables["export"].get("formats")
    if formats is not None and "csv" not in formats:
        if tables["verify"].get("against"):
            raise UsageError(f"{source}: [verify] against: the check reads redirects.csv; add \"csv\" to [export] formats")
        if any(site.verify_against for site in sites):
            raise UsageError(f"{source}: [[legacy]] verify_against: the check reads redirects.csv; add \"csv\" to "
                             "[export] formats")
    if "expected" in tables["audit"]:
        if len(sites) > 1:
            raise UsageError(f"{source}: [audit] expected: a programme's expected URLs are per site: give each "
                             "[[legacy]] table its own expected")
        tables["audit"]["expected"] = Path(path).parent / tables["audit"]["expected"]
    return Manifest(
        name=values["name"],
        keep_runs=values.get("keep_runs"),
        path=Path(path),
        sites=sites,
        programme=isinstance(data["legacy"], list),
        new=new,
        crawl=tables["crawl"],
        detect=DetectSettings(**tables["detect"]),
        mapping=MappingSettings(**mapping),
        export=ExportSettings(**tables["export"]),
        audit=AuditSettings(**tables["audit"]),
        verify=VerifySettings(**tables["verify"]),
        plugged={name: _plugged(name, data[name], source) for name in PLUGGED_TABLES if name in data},
    )


def _site_values(cls, table: Any, section: str, source: str) -> dict[str, Any]:
    """A site table's values (``SiteSpec`` or ``LegacySite``), seeds required, lists as tuples."""
    values = read_table(cls, {} if table is None else table, section, source)
    if table is None or "seeds" not in table:
        raise UsageError(f"{source}: [{section}] seeds: required")
    if not values["seeds"]:
        raise UsageError(f"{source}: [{section}] seeds: give at least one seed URL")
    return {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}


def _legacy_sites(table: Any, job: str, source: str, base: Path) -> tuple[LegacySite, ...]:
    """One site from a ``[legacy]`` table (named by the job), or each ``[[legacy]]`` table's: named,
    names distinct, no host in two sites."""
    if not isinstance(table, list):
        return (LegacySite(name=job, **_site_values(SiteSpec, table, "legacy", source)),)
    if not table:
        raise UsageError(f"{source}: [[legacy]]: give at least one legacy site")
    sites: list[LegacySite] = []
    names: dict[str, int] = {}
    owners: dict[str, str] = {}
    for number, entry in enumerate(table, 1):
        values = _site_values(LegacySite, entry, "[legacy]", source)
        name = values.get("name")
        if name is None:
            raise UsageError(f"{source}: [[legacy]] name: required (site {number} has none; a programme's sites are "
                             "named, their results go to RUN/sites/<name>/)")
        if name.lower() in names:
            raise UsageError(f"{source}: [[legacy]] name: {name!r} names two sites ({names[name.lower()]} and {number})")
        names[name.lower()] = number
        for url in (*values["seeds"], *values.get("sitemaps", ())):
            host = site_host(url)
            if owners.setdefault(host, name) != name:
                raise UsageError(f"{source}: [[legacy]] seeds: {host} is in sites {owners[host]!r} and {name!r}: a host "
                                 "is crawled by one task only (per-host politeness); merge them into one [[legacy]] table")
        if "expected" in values:
            values["expected"] = base / values["expected"]
        sites.append(LegacySite(**values))
    return tuple(sites)


def _plugged(name: str, table: Any, source: str) -> Any:
    module_name, _, class_name = PLUGGED_TABLES[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**read_table(cls, table, name, source))
