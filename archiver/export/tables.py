"""The redirect manifest itself: ``redirects.csv`` and ``redirects.json``.

Both carry every accepted row, unmatched ones included, with its method,
confidence, evidence and review flag; ``redirects.json`` also carries what
was refused, rewritten or skipped by a format (the same content as
``redirects.rejected.json``). In the CSV a text cell starting with ``=``,
``+``, ``-``, ``@`` or a control character gets a leading ``'`` so that a
spreadsheet does not run crawled text as a formula (the JSON keeps it as is).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .validate import Redirect

CSV_FILE = "redirects.csv"
JSON_FILE = "redirects.json"
COLUMNS = ("old_url", "new_url", "status", "kind", "method", "confidence", "evidence", "review")


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r", "\n") else text


def write_csv(redirects: list[Redirect], out_dir: Path) -> Path:
    path = Path(out_dir) / CSV_FILE
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for item in redirects:
            row = item.row
            writer.writerow([
                row.old_url, row.new_url or "", row.status or "", row.kind, _cell(row.method or ""),
                f"{float(row.confidence or 0):.3f}", _cell(row.evidence or ""), "yes" if row.review else "",
            ])
    return path


def write_json(redirects: list[Redirect], report: dict, out_dir: Path) -> Path:
    """One row per line: readable, diffable, and fast to write for 100,000 rows."""
    path = Path(out_dir) / JSON_FILE
    with path.open("w", encoding="ascii") as fh:
        fh.write('{\n "rows": [')
        for number, item in enumerate(redirects):
            fh.write(("," if number else "") + "\n  " + json.dumps(vars(item.row), ensure_ascii=True))
        fh.write("\n ]")
        for key, value in report.items():
            fh.write(f',\n "{key}": {json.dumps(value, ensure_ascii=True)}')
        fh.write("\n}\n")
    return path
