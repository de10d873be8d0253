"""Export the redirect manifest for the servers that will answer old URLs.

``export_all(rows, out_dir, allowed_hosts=[...])`` validates the rows once
(``validate.py``: normalised URLs, no open redirects, chains, loops or
duplicate sources) and hands the same checked list to one module per format,
each owning its own escaping:

=========== =========================================================
csv, json   ``redirects.csv``, ``redirects.json`` (``tables.py``)
nginx       ``redirects.nginx.conf`` + ``.http.conf`` + ``.server.conf``
apache      ``redirects.apache.conf`` + ``redirects.apache.map.txt``
netlify     ``_redirects``
cloudflare  ``redirects.cloudflare.csv`` (Bulk Redirects import)
=========== =========================================================

``redirects.rejected.json`` is always written: refused rows with reasons
(refused targets defanged, never as a usable URL), rewrites (collapsed
chains), rows a format could not express, and warnings. A format that ends
up holding none of the rows it was given says so in a warning, with the
reasons, rather than leaving an empty file to be deployed in silence.

What an export reports (``Exported.counts()``) is what was written: rows by
kind after validation, refusals by cause, rows skipped per format. When the
allowed hosts refuse every redirect target there is nothing to deploy:
that is a configuration error (``UsageError``, exit 2), raised after the
files are written so ``redirects.rejected.json`` shows what was refused.
Rows flagged for review carry a ``# review`` comment in every format that
has comments (nginx, Apache, Netlify); CSV and JSON have the review column.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterable, Mapping

from archiver.errors import UsageError
from archiver.types import RedirectRow

from . import apache, cloudflare, netlify, nginx, tables
from .validate import CAUSES, KINDS, Redirect, Rejection, Validated, validate

FORMATS = ("csv", "json", "nginx", "apache", "netlify", "cloudflare")
REJECTED_FILE = "redirects.rejected.json"
_WRITERS = {"nginx": nginx.write, "apache": apache.write, "netlify": netlify.write, "cloudflare": cloudflare.write}
_FILES = {"nginx": nginx.MAP_FILE, "apache": apache.MAP_FILE, "netlify": netlify.FILE, "cloudflare": cloudflare.FILE}

__all__ = ["CAUSES", "FORMATS", "KINDS", "Exported", "check_formats", "describe_refusals", "export_all", "validate",
           "Validated"]


@dataclass
class Exported:
    """What ``export_all`` wrote and what it refused or skipped."""

    paths: dict[str, Path]
    redirects: list[Redirect]  # the validated rows every format was given
    rejected: list[Rejection]
    skipped: dict[str, list[dict]] = field(default_factory=dict)  # format -> rows it could not express
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        """Rows exported by kind, those flagged for review, refusals by cause, skips per format."""
        kinds = Counter(item.row.kind for item in self.redirects)
        return {
            "exported": {kind: kinds.get(kind, 0) for kind in KINDS},
            "review": sum(1 for item in self.redirects if item.row.review),
            "refused": dict(Counter(r.cause for r in self.rejected).most_common()),
            "skipped": {name: len(rows) for name, rows in self.skipped.items()},
        }


def check_formats(formats: Iterable[str] | None) -> list[str]:
    """The chosen formats (all by default); an unknown one is a UsageError before any work."""
    chosen = list(FORMATS if formats is None else formats)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown export format {unknown[0]!r} (known: {', '.join(FORMATS)})")
    return chosen


def describe_refusals(refused: Mapping[str, int]) -> str:
    """'3 refused (2 target host not allowed, 1 redirect loop)', or '' when nothing was."""
    if not refused:
        return ""
    return f"{sum(refused.values())} refused (" + ", ".join(f"{n} {CAUSES.get(c, c)}" for c, n in refused.items()) + ")"


def _empty_format_warning(name: str, given: int, skipped: list[dict]) -> str | None:
    """A warning when a format was given rows to answer and could express none of them."""
    if not given or len(skipped) < given:
        return None
    reasons = Counter(s["reason"] for s in skipped).most_common(3)
    why = "; ".join(f"{n} x {reason}" for reason, n in reasons)
    return f"{_FILES[name]} holds no redirects: all {given} rows were skipped ({why})"


def export_all(
    rows: Iterable[RedirectRow],
    out_dir,
    *,
    formats: Iterable[str] | None = None,
    allowed_hosts: Iterable[str],
    status_default: int = 301,
    target_status: Mapping[str, int | None] | None = None,
    deploy_dir: Path | str | None = None,
) -> Exported:
    """Validate ``rows`` and write each format into ``out_dir``.

    ``target_status`` ({new-site URL: HTTP status}, e.g. read from the new
    site's ``crawl.jsonl``) refuses targets that are themselves redirects or
    errors there. ``deploy_dir`` is where the web server will read the files
    from (default ``out_dir``); the Apache configuration names its map file
    there. ``Exported.paths`` holds {name: path} for every file written
    (``nginx``, ``nginx.http``, ``nginx.server``, ``apache``, ``apache.map``,
    ``rejected``, ...).
    """
    chosen = check_formats(formats)
    allowed_hosts = list(allowed_hosts)
    checked = validate(rows, allowed_hosts=allowed_hosts, status_default=status_default, target_status=target_status)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    writers = dict(_WRITERS, apache=partial(apache.write, map_dir=Path(deploy_dir) if deploy_dir else None))
    given = sum(1 for item in checked.redirects if item.is_redirect or item.is_gone)
    paths: dict[str, Path] = {}
    skipped: dict[str, list[dict]] = {}
    warnings: list[str] = []
    for name in chosen:
        if name in writers:
            written, format_skipped, format_warnings = writers[name](checked.redirects, out)
            paths.update(written)
            if format_skipped:
                skipped[name] = format_skipped
            warnings += format_warnings
            empty = _empty_format_warning(name, given, format_skipped)
            if empty:
                warnings.append(empty)
    report = {
        "rejected": [r.to_json() for r in checked.rejected],
        "changes": checked.changes,
        "skipped": skipped,
        "warnings": warnings,
    }
    if "csv" in chosen:
        paths["csv"] = tables.write_csv(checked.redirects, out)
    if "json" in chosen:
        paths["json"] = tables.write_json(checked.redirects, report, out)
    paths["rejected"] = out / REJECTED_FILE
    paths["rejected"].write_text(json.dumps(report, indent=1, ensure_ascii=True) + "\n", encoding="ascii")
    off_host = sum(1 for r in checked.rejected if r.cause == "target_host_not_allowed")
    if off_host and not any(item.is_redirect for item in checked.redirects):
        raise UsageError(f"no redirect can be exported: the allowed target hosts ({', '.join(allowed_hosts)}) refuse "
                         f"the targets of all {off_host} redirect rows; check the allowed hosts "
                         f"(refused rows in {paths['rejected']})")
    return Exported(paths, checked.redirects, checked.rejected, skipped, warnings)
