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
chains), rows a format could not express, and warnings.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

from archiver.errors import UsageError
from archiver.types import RedirectRow

from . import apache, cloudflare, netlify, nginx, tables
from .validate import Validated, validate

FORMATS = ("csv", "json", "nginx", "apache", "netlify", "cloudflare")
REJECTED_FILE = "redirects.rejected.json"
_WRITERS = {"nginx": nginx.write, "apache": apache.write, "netlify": netlify.write, "cloudflare": cloudflare.write}

__all__ = ["FORMATS", "export_all", "validate", "Validated"]


def export_all(
    rows: Iterable[RedirectRow],
    out_dir,
    *,
    formats: Iterable[str] | None = None,
    allowed_hosts: Iterable[str],
    status_default: int = 301,
    target_status: Mapping[str, int | None] | None = None,
) -> dict[str, Path]:
    """Validate ``rows`` and write each format into ``out_dir``.

    ``target_status`` ({new-site URL: HTTP status}, e.g. read from the new
    site's ``crawl.jsonl``) refuses targets that are themselves redirects or
    errors there. Returns {name: path} for every file written (``nginx``, ``nginx.http``,
    ``nginx.server``, ``apache``, ``apache.map``, ``rejected``, ...).
    """
    chosen = list(FORMATS if formats is None else formats)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown export format {unknown[0]!r} (known: {', '.join(FORMATS)})")
    checked = validate(rows, allowed_hosts=allowed_hosts, status_default=status_default, target_status=target_status)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    paths: dict[str, Path] = {}
    skipped: dict[str, list[dict]] = {}
    warnings: list[str] = []
    for name in chosen:
        if name in _WRITERS:
            written, format_skipped, format_warnings = _WRITERS[name](checked.redirects, out)
            paths.update(written)
            if format_skipped:
                skipped[name] = format_skipped
            warnings += format_warnings
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
    return paths
