"""Cloudflare Bulk Redirects: a CSV for the dashboard's list import.

Cloudflare's documented line format, without a header row (the import
refuses one): ``source_url,target_url,status_code,preserve_query_string,
include_subdomains,subpath_matching,preserve_path_suffix``. Choices:

- ``source_url`` is ``host/path`` without a scheme, so it matches on http and
  https; the flags are all ``FALSE``: exact URL, no subdomains, no query
  passed on (a list item is one exact redirect; there are no wildcards).
- Bulk Redirects source URLs hold no query string and no port, and the
  status is 301, 302, 307 or 308: old URLs with a query or a port and gone
  (410) rows are skipped and reported (serve those from nginx or Apache).
- URLs are at most 32 KB (enforced for every format during validation);
  a list has no duplicate sources (validation keeps one row per source).
- How many items an account may hold depends on its plan; check before
  importing large lists.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .validate import Redirect

FILE = "redirects.cloudflare.csv"
COLUMNS = ("source_url", "target_url", "status_code", "preserve_query_string",
           "include_subdomains", "subpath_matching", "preserve_path_suffix")


def write(redirects: list[Redirect], out_dir: Path) -> tuple[dict[str, Path], list[dict], list[str]]:
    skipped: list[dict] = []
    rows = []
    for item in redirects:
        if item.is_gone:
            skipped.append({"old_url": item.row.old_url, "reason": "Bulk Redirects cannot answer 410"})
            continue
        if not item.is_redirect:
            continue
        if item.old.query is not None:
            skipped.append({"old_url": item.row.old_url, "reason": "Bulk Redirects source URLs cannot hold a query string"})
            continue
        if item.old.port is not None:
            skipped.append({"old_url": item.row.old_url, "reason": "Bulk Redirects source URLs cannot hold a port"})
            continue
        rows.append((item.old.host + item.old.path, str(item.new), str(item.row.status), "FALSE", "FALSE", "FALSE", "FALSE"))
    path = Path(out_dir) / FILE
    with path.open("w", newline="", encoding="ascii") as fh:
        csv.writer(fh, lineterminator="\n").writerows(sorted(rows))
    return {"cloudflare": path}, skipped, []
