"""Job manifests: one TOML file says what to crawl, detect, map, export and audit.

``load_manifest(path)`` parses and validates the whole file up front, so a
typo fails in a second with one line that names the key
(``manifests/x.toml: [crawl] concurrency: expected an integer, got 'four'``)
instead of an hour into a crawl. ``manifests/demo.toml`` documents every key.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")

# key -> expected kind; a nested dict is a table. Kinds are checked by _check().
_SITE = {
    "seeds": "urls",
    "sitemaps": "urls",
    "include": "regexes",
    "exclude": "regexes",
    "max_pages": "positive_int",
    "max_depth": "count",
}
_CRAWL = {
    "concurrency": "positive_int",
    "per_host_concurrency": "positive_int",
    "delay": "seconds",
    "timeout": "positive_seconds",
    "max_retries": "count",
    "max_pages": "positive_int",
    "max_depth": "count",
    "warc_max_size": "positive_int",
    "max_response_bytes": "positive_int",
    "ignore_robots": "bool",
    "requisites_any_host": "bool",
    "user_agent": "line",
    "headers": "headers",
    "record_credentials": "bool",
}
_SCHEMA: dict[str, Any] = {
    "name": "name",
    "keep_runs": "positive_int",
    "legacy": _SITE,
    "new": _SITE,
    "crawl": _CRAWL,
    "detect": {"phrases": "strings"},
    "mapping": {
        "rules": "rules",
        "min_confidence": "fraction",
        "status": "redirect_status",
        "allowed_hosts": "hosts",
    },
    "export": {"formats": "strings"},
    "audit": {"fail_under": "fraction", "expected": "path"},
    "demo": {"embedded": "bool", "articles": "positive_int", "seed": "int"},
}
_REQUIRED = {("name",), ("legacy", "seeds"), ("new", "seeds")}

_EXPECTED = {
    "int": "an integer",
    "positive_int": "an integer > 0",
    "count": "an integer >= 0",
    "seconds": "a number >= 0",
    "positive_seconds": "a number > 0",
    "fraction": "a number from 0 to 1",
    "bool": "true or false",
    "line": "a string",
    "name": "a string",
    "path": "a string",
    "strings": "a list of strings",
    "urls": "a list of http(s) URLs",
    "regexes": "a list of regular expressions",
    "hosts": "a list of host names",
    "headers": "a table of header = \"value\" strings",
    "rules": "a list of {pattern = \"regex\", target = \"URL\"} tables",
    "redirect_status": "301 or 308",
}


@dataclass(frozen=True)
class SiteSpec:
    """One side of the job (the legacy or the new site) and its crawl scope."""

    seeds: tuple[str, ...]
    sitemaps: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_pages: int | None = None
    max_depth: int | None = None

    @property
    def hosts(self) -> tuple[str, ...]:
        """Host[:port] of the seeds and sitemaps, in order, without repeats."""
        hosts = (urlsplit(u).netloc.lower() for u in (*self.seeds, *self.sitemaps))
        return tuple(dict.fromkeys(hosts))


@dataclass(frozen=True)
class MappingRule:
    """A section rule: old URLs matching ``pattern`` fall back to ``target``."""

    pattern: str
    target: str


@dataclass(frozen=True)
class Manifest:
    name: str
    legacy: SiteSpec
    new: SiteSpec
    path: Path | None = None
    crawl: dict[str, Any] = field(default_factory=dict)  # CrawlConfig overrides
    phrases: tuple[str, ...] = ()
    rules: tuple[MappingRule, ...] = ()
    min_confidence: float | None = None
    redirect_status: int = 301
    allowed_hosts: tuple[str, ...] = ()  # default: the new site's hosts
    formats: tuple[str, ...] | None = None  # None: every export format
    fail_under: float | None = None
    expected: Path | None = None
    keep_runs: int | None = None
    demo_embedded: bool = False
    demo_articles: int = 60
    demo_seed: int = 1

    @property
    def target_hosts(self) -> tuple[str, ...]:
        """Hosts a redirect may point to."""
        return self.allowed_hosts or self.new.hosts

    def crawl_config(self, side: str, out_dir: Path | str, *, previous: Path | str | None = None, progress: str = "none"):
        """The capture ``CrawlConfig`` for ``side`` ("legacy" or "new")."""
        from archiver.capture import CrawlConfig

        site: SiteSpec = getattr(self, side)
        settings = {key: value for key, value in self.crawl.items() if key != "headers"}
        if "headers" in self.crawl:
            settings["extra_headers"] = dict(self.crawl["headers"])
        for key in ("max_pages", "max_depth"):
            if getattr(site, key) is not None:
                settings[key] = getattr(site, key)
        known = {f.name for f in dataclasses.fields(CrawlConfig)}
        return CrawlConfig(
            seeds=list(site.seeds),
            sitemaps=list(site.sitemaps),
            include=list(site.include),
            exclude=list(site.exclude),
            out_dir=Path(out_dir),
            previous=previous,
            progress=progress,
            **{k: v for k, v in settings.items() if k in known},
        )

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
            return dataclasses.replace(spec, seeds=tuple(map(swap, spec.seeds)), sitemaps=tuple(map(swap, spec.sitemaps)))

        return dataclasses.replace(
            self,
            legacy=site(self.legacy),
            new=site(self.new),
            rules=tuple(MappingRule(r.pattern, swap(r.target)) for r in self.rules),
            allowed_hosts=tuple(map(swap_host, self.allowed_hosts)),
        )


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


def parse_manifest(data: dict, path: Path | str = "manifest") -> Manifest:
    """Validate an already-parsed TOML document (see ``load_manifest``)."""
    _validate_table(data, _SCHEMA, (), str(path))
    for required in _REQUIRED:
        table = data
        for key in required[:-1]:
            table = table.get(key, {})
        if required[-1] not in table:
            raise UsageError(f"{path}: {_where(required[:-1], required[-1])}: required")
    for side in ("legacy", "new"):
        if not data[side]["seeds"]:
            raise UsageError(f"{path}: [{side}] seeds: give at least one seed URL")

    def site(table: dict) -> SiteSpec:
        return SiteSpec(
            seeds=tuple(table["seeds"]),
            sitemaps=tuple(table.get("sitemaps", ())),
            include=tuple(table.get("include", ())),
            exclude=tuple(table.get("exclude", ())),
            max_pages=table.get("max_pages"),
            max_depth=table.get("max_depth"),
        )

    mapping, export, audit, demo = (data.get(k, {}) for k in ("mapping", "export", "audit", "demo"))
    formats = export.get("formats")
    if formats is not None:
        _check_formats(formats, str(path))
    expected = audit.get("expected")
    if expected is not None:
        expected = (Path(path).parent / expected) if not Path(expected).is_absolute() else Path(expected)
    return Manifest(
        name=data["name"],
        path=Path(path),
        legacy=site(data["legacy"]),
        new=site(data["new"]),
        crawl=dict(data.get("crawl", {})),
        phrases=tuple(data.get("detect", {}).get("phrases", ())),
        rules=tuple(MappingRule(r["pattern"], r["target"]) for r in mapping.get("rules", ())),
        min_confidence=mapping.get("min_confidence"),
        redirect_status=mapping.get("status", 301),
        allowed_hosts=tuple(h.lower() for h in mapping.get("allowed_hosts", ())),
        formats=tuple(formats) if formats is not None else None,
        fail_under=audit.get("fail_under"),
        expected=expected,
        keep_runs=data.get("keep_runs"),
        demo_embedded=demo.get("embedded", False),
        demo_articles=demo.get("articles", 60),
        demo_seed=demo.get("seed", 1),
    )


def _where(section: tuple[str, ...], key: str) -> str:
    return f"[{'.'.join(section)}] {key}" if section else key


def _validate_table(table: dict, schema: dict, section: tuple[str, ...], source: str) -> None:
    for key, value in table.items():
        where = _where(section, key)
        if key not in schema:
            known = ", ".join(sorted(schema))
            if isinstance(value, dict):
                raise UsageError(f"{source}: [{'.'.join((*section, key))}]: unknown table (expected one of: {known})")
            raise UsageError(f"{source}: {where}: unknown key (expected one of: {known})")
        kind = schema[key]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise UsageError(f"{source}: {where}: expected a table [{'.'.join((*section, key))}], got {value!r}")
            _validate_table(value, kind, (*section, key), source)
        else:
            problem = _check(kind, value)
            if problem is not None:
                raise UsageError(f"{source}: {where}: {problem}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str):
        return f"expected a URL string, got {url!r}"
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError:
        return f"not a valid URL: {url!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {url!r}"
    if any(c.isspace() for c in url):
        return f"URL contains white space: {url!r}"
    return None


def _check(kind: str, value: Any) -> str | None:
    """None when ``value`` fits ``kind``, else what is wrong with it."""
    bad = f"expected {_EXPECTED[kind]}, got {value!r}"
    if kind == "int":
        return None if _is_int(value) else bad
    if kind == "positive_int":
        return None if _is_int(value) and value > 0 else bad
    if kind == "count":
        return None if _is_int(value) and value >= 0 else bad
    if kind == "seconds":
        return None if _is_number(value) and value >= 0 else bad
    if kind == "positive_seconds":
        return None if _is_number(value) and value > 0 else bad
    if kind == "fraction":
        return None if _is_number(value) and 0 <= value <= 1 else bad
    if kind == "bool":
        return None if isinstance(value, bool) else bad
    if kind in ("line", "path"):
        return None if isinstance(value, str) and value and "\n" not in value and "\r" not in value else bad
    if kind == "name":
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            return f"expected a name of letters, digits, '.', '_' or '-' (at most 64, usable as a directory name), got {value!r}"
        return None
    if kind == "redirect_status":
        return None if _is_int(value) and value in (301, 308) else bad
    if not isinstance(value, list) and kind != "headers":
        return bad
    if kind == "strings":
        return None if all(isinstance(v, str) and v for v in value) else bad
    if kind == "urls":
        return next(filter(None, map(_url_problem, value)), None)
    if kind == "regexes":
        for pattern in value:
            if not isinstance(pattern, str):
                return bad
            try:
                re.compile(pattern)
            except re.error as exc:
                return f"bad regular expression {pattern!r}: {exc}"
        return None
    if kind == "hosts":
        return None if all(isinstance(h, str) and _HOST.fullmatch(h) for h in value) else bad
    if kind == "headers":
        if not isinstance(value, dict):
            return bad
        for name, text in value.items():
            if not isinstance(text, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                return f"{name}: expected a header name and a string value, got {text!r}"
            if "\r" in text or "\n" in text:
                return f"{name}: header value contains a line break"
        return None
    if kind == "rules":
        for index, rule in enumerate(value):
            if not isinstance(rule, dict) or set(rule) != {"pattern", "target"}:
                return f"rule {index + 1}: {bad}"
            try:
                re.compile(rule["pattern"]) if isinstance(rule["pattern"], str) else None
            except re.error as exc:
                return f"rule {index + 1}: bad regular expression {rule['pattern']!r}: {exc}"
            if not isinstance(rule["pattern"], str):
                return f"rule {index + 1}: pattern: expected a regular expression string, got {rule['pattern']!r}"
            problem = _url_problem(rule["target"])
            if problem:
                return f"rule {index + 1}: target: {problem}"
        return None
    raise AssertionError(f"unknown kind {kind}")


def _check_formats(formats: list[str], source: str) -> None:
    try:
        from archiver.export import FORMATS
    except ImportError:  # export stage not installed: checked when exporting
        return
    for name in formats:
        if name not in FORMATS:
            raise UsageError(f"{source}: [export] formats: unknown format {name!r} (known: {', '.join(FORMATS)})")
