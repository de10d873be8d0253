"""Write ``DIR/archive.wacz`` (WACZ 1.1.1) from a crawl directory.

Layout::

    archive/<file>.warc.gz        the crawl's WARC files, byte for byte (ZIP_STORED)
                                  (+ earlier crawls' files holding its revisits' originals)
    indexes/index.cdx.gz          CDXJ in gzip blocks (ZIP_STORED, read by range)
    indexes/index.idx             one line per block (see ``index.py``)
    pages/pages.jsonl             the HTML pages with title and text (see ``pages.py``)
    logs/crawl.jsonl              the crawl's outcome for every URL, failures included
    datapackage.json              every file above with its sha256 and size
    datapackage-digest.json       the sha256 of datapackage.json

Files already compressed are stored, not deflated again, so a reader can seek
into them inside the zip. The package is written to ``archive.wacz.partial``
and renamed when complete (after an fsync), so a crash never leaves a
half-written ``archive.wacz``; the scratch files live in a temporary folder
beside it, not in /tmp (the page text of a large crawl can be big).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from archiver import __version__
from archiver.capture.cdxj import index_files
from archiver.capture.crawllog import read_crawl_log
from archiver.capture.warcwriter import OPEN_SUFFIX
from archiver.errors import ArchiverError, UsageError
from archiver.wacz.index import DATA_NAME, write_compressed_index
from archiver.wacz.pages import write_pages

WACZ_NAME = "archive.wacz"
WACZ_VERSION = "1.1.1"
COPY_SIZE = 1 << 20
CRAWL_LOG = "crawl.jsonl"


@dataclass(frozen=True)
class WaczResult:
    """What ``write_wacz`` packed."""

    path: Path
    pages: int
    records: int  # lines of the CDXJ index
    warc_files: int  # of which ``original_files`` came from earlier crawls
    original_files: int
    bytes: int  # size of the .wacz
    unresolved_revisits: int  # revisits whose original is not in the package (replay shows them missing)

    def text(self) -> str:
        line = (f"wrote {self.path}: {self.pages} pages, {self.records} index records, {self.warc_files} WARC file(s)"
                + (f" ({self.original_files} from earlier crawls)" if self.original_files else "")
                + f", {self.bytes / 1e6:.1f} MB")
        if self.unresolved_revisits:
            line += (f"; {self.unresolved_revisits} revisit(s) have no original in the package and will not "
                     "replay (give the earlier crawl with --previous)")
        return line


def crawl_warcs(crawl_dir: Path) -> list[Path]:
    """The crawl's closed WARC files (``DIR/warc/*.warc.gz``); ``UsageError`` when there are none
    or the crawl is still being written."""
    warc_dir = crawl_dir / "warc"
    if not warc_dir.is_dir():
        raise UsageError(f"not a crawl directory (no warc/ folder): {crawl_dir}")
    names = sorted(p.name for p in warc_dir.iterdir() if p.is_file())
    still_open = [n for n in names if n.endswith(OPEN_SUFFIX)]
    if still_open:
        raise UsageError(f"the crawl in {crawl_dir} is running or was stopped by force ({still_open[0]} is still "
                         "open): run the same crawl again to finish it, then pack it")
    files = [warc_dir / n for n in names if n.endswith((".warc.gz", ".warc"))]
    if not files:
        raise UsageError(f"not a crawl directory (no WARC files in {warc_dir})")
    return files


def write_wacz(crawl_dir: Path | str, output: Path | str | None = None, *,
               originals: Iterable[Path | str] = ()) -> WaczResult:
    """Pack ``crawl_dir`` into ``output`` (default ``crawl_dir/archive.wacz``).

    ``originals`` are earlier crawls' WARC files holding the payloads of this
    crawl's revisit records (``archiver.jobs.originals.original_files``); they
    are packed too, so the file replays on its own.
    """
    crawl_dir = Path(crawl_dir)
    own = crawl_warcs(crawl_dir)
    earlier = [Path(p) for p in dict.fromkeys(map(str, originals)) if Path(p) not in own]
    files = [*earlier, *own]
    seen: dict[str, Path] = {}
    for path in files:
        if path.name in seen:
            raise ArchiverError(f"two WARC files named {path.name} ({seen[path.name]} and {path}): "
                                "a WACZ holds its files by name")
        seen[path.name] = path
    output = Path(output) if output is not None else crawl_dir / WACZ_NAME
    partial = output.with_name(output.name + ".partial")
    log_path = crawl_dir / CRAWL_LOG
    seeds = [e["url"] for e in read_crawl_log(log_path) if e.get("kind") == "seed"] if log_path.is_file() else []
    try:
        with tempfile.TemporaryDirectory(prefix=".wacz-", dir=output.parent) as scratch_dir:
            scratch = Path(scratch_dir)
            records = write_compressed_index(index_files(files, scratch / "index.cdxj"),
                                             scratch / DATA_NAME, scratch / "index.idx")
            if not records:
                raise UsageError(f"nothing to pack: no captures in the WARC files of {crawl_dir}")
            pages = scratch / "pages.jsonl"
            page_list = write_pages(files, own, pages, seeds=seeds)
            members = [*((f"archive/{p.name}", p, zipfile.ZIP_STORED, None) for p in files),
                       (f"indexes/{DATA_NAME}", scratch / DATA_NAME, zipfile.ZIP_STORED, None),
                       ("indexes/index.idx", scratch / "index.idx", zipfile.ZIP_DEFLATED, None),
                       ("pages/pages.jsonl", pages, zipfile.ZIP_DEFLATED, _first_keys(pages))]
            if log_path.is_file():
                members.append((f"logs/{CRAWL_LOG}", log_path, zipfile.ZIP_DEFLATED, _first_keys(log_path)))
            with zipfile.ZipFile(partial, "w", allowZip64=True) as package:
                resources = [_add_file(package, *member) for member in members]
                metadata = _datapackage(resources, seeds=seeds, main_page=page_list.main_page,
                                        pages=page_list.pages, records=records)
                _add_bytes(package, "datapackage.json", metadata)
                digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(metadata).hexdigest()}
                _add_bytes(package, "datapackage-digest.json", json.dumps(digest, indent=2).encode("utf-8"))
            _fsync(partial)
            os.replace(partial, output)
            _fsync(output.parent)
    except OSError as exc:
        raise ArchiverError(f"cannot write {output}: {exc.strerror or exc}; the crawl directory is unchanged, "
                            f"run `archiver wacz {crawl_dir}` again once that is fixed") from exc
    finally:
        partial.unlink(missing_ok=True)
    return WaczResult(path=output, pages=page_list.pages, records=records, warc_files=len(files),
                      original_files=len(earlier), bytes=output.stat().st_size,
                      unresolved_revisits=page_list.unresolved_revisits)


def _resource_name(path: str) -> str:
    """A Frictionless resource name (lower-case letters, digits, ``-._``) from a member's file name."""
    return re.sub(r"[^-a-z0-9._]", "-", path.rsplit("/", 1)[-1].lower())


def _first_keys(jsonl: Path) -> tuple[str, ...]:
    """The keys of the first object of a JSON-lines file: the column labels a Frictionless reader takes."""
    with open(jsonl, encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "{}")
    return tuple(json.loads(first))


def _add_file(package: zipfile.ZipFile, name: str, path: Path, compression: int,
              fields: Iterable[str] | None) -> dict:
    """Copy ``path`` into the package as ``name``, hashing it on the way; return its resource entry.

    A JSON-lines member gets a schema of untyped ``fields``: Frictionless
    validators (``wacz validate``) read such a file as a table whose columns
    are its first object's keys, and would otherwise guess each column's type
    from its first rows, then reject a crawl log whose first hundred URLs all
    succeeded and whose later ones have an ``error`` text.
    """
    info = zipfile.ZipInfo.from_file(path, name)  # its size decides ZIP64 before any byte is written
    info.compress_type = compression
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source, package.open(info, "w") as member:
        while chunk := source.read(COPY_SIZE):
            digest.update(chunk)
            member.write(chunk)
            size += len(chunk)
    resource = {"name": _resource_name(name), "path": name, "hash": "sha256:" + digest.hexdigest(), "bytes": size}
    if fields is not None:
        resource["schema"] = {"fields": [{"name": field, "type": "any"} for field in fields]}
    return resource


def _add_bytes(package: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    package.writestr(info, data)


def _datapackage(resources: list[dict], *, seeds: list[str], main_page: tuple[str, str] | None,
                 pages: int, records: int) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sites = ", ".join(dict.fromkeys(seeds)) or "a website"
    metadata = {
        "profile": "data-package",
        "wacz_version": WACZ_VERSION,
        "title": f"Crawl of {sites}",
        "description": f"{pages} pages and {records} archived records, captured by archiver {__version__}.",
        "created": now,
        "modified": now,
        "software": f"archiver {__version__}",
    }
    if main_page:
        metadata["mainPageUrl"], metadata["mainPageDate"] = main_page
    metadata["resources"] = resources
    return json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
