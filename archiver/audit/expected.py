"""The expected set: which URLs the archive should hold, and where each came from.

Sources: a URL list, sitemaps (files or URLs; a URL is the audit's only live
fetch), crawl logs (crawl.jsonl: their skipped/blocked outcomes become
reasons), and the redirect manifest's old URLs. Sitemaps are parsed without
DTDs or entities (a document declaring them is refused) by the one sitemap
parser capture uses too (``archiver/sitemaps.py``), gzip is inflated with a
cap, and sitemap indexes are followed to a bounded depth.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from archiver.errors import UsageError
from archiver.sitemaps import parse_sitemap
from archiver.urls import lookup_key

MAX_SITEMAP_BYTES = 100 * 1024 * 1024  # the sitemaps protocol allows 50 MB uncompressed
MAX_SITEMAPS = 1000
MAX_SITEMAP_DEPTH = 3
FETCH_TIMEOUT = 30
MAX_WACZ_NESTING = 2  # a multi-WACZ holds WACZs; deeper is not read (as the reader)


@dataclass
class Expected:
    """Expected URLs (normalised key -> URL as given, sources) plus crawl-log facts."""

    urls: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    crawl: dict[str, dict] = field(default_factory=dict)  # last crawl-log line per URL
    redirect_kinds: dict[str, str] = field(default_factory=dict)  # old URL key -> manifest kind
    warnings: list[str] = field(default_factory=list)
    given: list[str] = field(default_factory=list)  # descriptions of the inputs used

    def add(self, url: str, source: str) -> None:
        url = (url or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            return
        key = lookup_key(url)
        self.urls.setdefault(key, url)
        tags = self.sources.setdefault(key, [])
        if source not in tags:
            tags.append(source)


def load_url_file(expected: Expected, path: str | Path) -> None:
    """One URL per line; blank lines and ``#`` comments skipped; a CSV's first column also works."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read expected-URL file {path}: {exc.strerror}") from exc
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            expected.add(line.split()[0].split(",")[0].strip('"'), "list")
    expected.given.append(f"url list {path}")


def load_crawl_log(expected: Expected, path: str | Path) -> None:
    """Our crawl.jsonl: every page URL it met is expected; its last line per URL is kept as evidence."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read crawl log {path}: {exc.strerror}") from exc
    bad = 0
    with handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(row, dict) or row.get("kind") in ("robots", "sitemap"):
                continue
            url = row.get("url") or ""
            expected.add(url, "crawl-log")
            if url:
                expected.crawl[lookup_key(url)] = row
    if bad:
        expected.warnings.append(f"{path}: {bad} unreadable line(s) skipped")
    expected.given.append(f"crawl log {path}")


def load_wacz_pages(expected: Expected, path: str | Path) -> bool:
    """A WACZ's pages/pages.jsonl (and extraPages.jsonl), and those of the WACZs inside a multi-WACZ: the
    pages its crawler visited. False if it has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = _wacz_pages(expected, archive, depth=0)
    except (zipfile.BadZipFile, OSError):
        return False
    if found:
        expected.given.append(f"WACZ page list {path}")
    return found


def _wacz_pages(expected: Expected, archive: zipfile.ZipFile, depth: int) -> bool:
    found = False
    for member in ("pages/pages.jsonl", "pages/extraPages.jsonl"):
        if member not in archive.namelist():
            continue
        found = True
        with archive.open(member) as handle:
            for line in io.TextIOWrapper(handle, encoding="utf-8", errors="replace"):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and row.get("url"):
                    expected.add(str(row["url"]), "wacz pages")
    for inner in (n for n in archive.namelist() if n.lower().endswith(".wacz") and depth < MAX_WACZ_NESTING):
        with archive.open(inner) as handle, zipfile.ZipFile(handle) as nested:
            found = _wacz_pages(expected, nested, depth + 1) or found
    return found


def load_redirects(expected: Expected, path: str | Path) -> None:
    """redirects.csv (old_url,new_url,status,kind,...): old URLs are expected; kinds feed the coverage figure."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read redirect manifest {path}: {exc.strerror}") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "old_url" not in reader.fieldnames:
        raise UsageError(f"{path} is not a redirect manifest: no old_url column")
    for row in reader:
        url = (row.get("old_url") or "").strip()
        if url:
            expected.add(url, "redirects")
            expected.redirect_kinds[lookup_key(url)] = (row.get("kind") or "").strip() or "unknown"
    expected.given.append(f"redirect manifest {path}")


def load_sitemap(expected: Expected, ref: str) -> None:
    """A sitemap (XML, gzip'd XML, or plain text) or sitemap index, from a file or a URL."""
    seen: set[str] = set()
    queue = [(ref, 0)]
    while queue:
        current, depth = queue.pop(0)
        if current in seen or len(seen) >= MAX_SITEMAPS:
            continue
        seen.add(current)
        try:
            data = _read_sitemap(current)
            children, locs = parse_sitemap(data, max_bytes=MAX_SITEMAP_BYTES)
        except (OSError, ValueError) as exc:
            if current == ref:
                raise UsageError(f"cannot read sitemap {ref}: {exc}") from exc
            expected.warnings.append(f"sitemap {current}: {exc}")
            continue
        for loc in locs:
            expected.add(loc, f"sitemap {ref}")
        for child in children:
            if depth + 1 > MAX_SITEMAP_DEPTH:
                expected.warnings.append(f"sitemap index nested deeper than {MAX_SITEMAP_DEPTH}: {child} skipped")
                continue
            ref_child = _child_ref(current, child)
            if ref_child is None:
                expected.warnings.append(f"sitemap {child} (listed in {current}) not found beside it and not fetched: "
                                         "the audit goes live only for sitemap URLs given on the command line")
                continue
            queue.append((ref_child, depth + 1))
    expected.given.append(f"sitemap {ref}")


def _is_url(ref: str) -> bool:
    return ref.lower().startswith(("http://", "https://"))


def _child_ref(parent: str, child: str) -> str | None:
    """A child sitemap of a local index is looked for beside it (same file name); of a URL, fetched."""
    if _is_url(parent):
        return child
    local = Path(parent).parent / (Path(urlsplit(child).path).name or "sitemap.xml")
    return str(local) if local.is_file() else None


def _read_sitemap(ref: str) -> bytes:
    if _is_url(ref):
        try:
            with requests.get(ref, timeout=FETCH_TIMEOUT, stream=True, headers={"User-Agent": "archiver-audit"}) as resp:
                if resp.status_code != 200:
                    raise ValueError(f"HTTP {resp.status_code}")
                raw = resp.raw.read(MAX_SITEMAP_BYTES + 1, decode_content=False)
        except requests.RequestException as exc:
            raise ValueError(f"fetch failed: {type(exc).__name__}") from exc
    else:
        path = Path(ref)
        if not path.is_file():
            raise ValueError("no such file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_SITEMAP_BYTES + 1)
    if len(raw) > MAX_SITEMAP_BYTES:
        raise ValueError(f"larger than {MAX_SITEMAP_BYTES} bytes")
    return raw  # gzip'd (by the server or as a .xml.gz file) is inflated by parse_sitemap


def crawl_reason(row: dict) -> tuple[str, str]:
    """(outcome, reason) for an expected URL the archive lacks, from its crawl-log line."""
    skipped = str(row.get("skipped_reason") or "")
    error = str(row.get("error") or "")
    status = row.get("status")
    low = skipped.lower()
    if "robots" in low:
        return "blocked_by_robots", f"skipped by the crawler: {skipped}"
    if skipped and any(w in low for w in ("scope", "host", "exclude", "depth", "private", "port", "origin", "scheme")):
        return "out_of_scope", f"skipped by the crawler: {skipped}"
    if isinstance(status, int) and status in (404, 410):
        return "not_found", f"crawl log: HTTP {status}, not in the archive"
    if error or (isinstance(status, int) and status >= 500):
        attempts = row.get("attempts")
        tries = f" after {attempts} attempt(s)" if attempts else ""
        return "error", f"crawl log: {error or 'HTTP ' + str(status)}{tries}"
    if skipped:
        return "not_captured", f"skipped by the crawler: {skipped}"
    state = row.get("state")
    return "not_captured", f"crawl log: {state or 'no outcome recorded'}"


def crawls_in(path) -> list[Path]:
    """The crawl directories (holding a crawl.jsonl) an input names: a crawl, a folder inside one
    (its ``warc/``), or a directory holding crawls up to three levels down (a job's run:
    ``legacy/``, ``new/``, a programme's ``sites/<name>/legacy/``)."""
    path = Path(path)
    if not path.is_dir():
        return []
    if (path / "crawl.jsonl").is_file():
        return [path]
    if (path.parent / "crawl.jsonl").is_file():
        return [path.parent]
    return _crawls_below(path, depth=3)


def _crawls_below(path: Path, depth: int) -> list[Path]:
    found = []
    for child in sorted(c for c in path.iterdir() if c.is_dir() and not c.is_symlink()):
        if (child / "crawl.jsonl").is_file():
            found.append(child)
        elif depth > 1:
            found += _crawls_below(child, depth - 1)
    return found
