"""The crawl's outputs written from its state database: crawl.jsonl and index.cdxj.

crawl.jsonl has one JSON object per URL with its final outcome.  It is
regenerated from the state database (never appended), so a resumed crawl has
exactly one line per URL.  Both files are written to a temporary file and
renamed, so a reader never sees half of one.

``write_cdxj`` writes the CDXJ lines pywb reads (the same fields and order as
cdxj-indexer) from what the crawl already knows about every record it wrote,
so a crawl that ran in one go need not read its WARC files again.  Like
``cdxj.build_index`` it leaves out server-not-modified revisits (a re-crawl's
304s): pywb would replay them as an empty 304.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path


def entry(row: dict) -> dict:
    """One crawl.jsonl object from a frontier row."""
    stamp = row.get("updated_at")
    return {
        "url": row["url"],
        "status": row["http_status"],
        "error": row["error"],
        "attempts": row["attempts"],
        "bytes": row["bytes"],
        "warc_file": row["warc_file"],
        "warc_offset": row["warc_offset"],
        "record_type": row["record_type"],
        "discovered_from": row["discovered_from"],
        "via": row["via"],
        "depth": row["depth"],
        "kind": row["kind"],
        "skipped_reason": row["skipped_reason"],
        "content_type": row["content_type"],
        "state": row["status"],  # done, failed, skipped, or queued when the crawl was stopped early
        "timestamp": datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else None,
    }


def is_live_page(entry: dict) -> bool:
    """A crawl.jsonl entry for an HTML page that is there (2xx, or 304 to a re-crawl): what a
    person counts as a page of the site, unlike robots.txt, sitemaps, images, styles,
    redirects and errors.  (``frontier.LIVE_PAGE`` is the same rule in SQL.)"""
    status = entry.get("status")
    return (entry.get("state") == "done" and entry.get("kind") in ("seed", "page") and status is not None
            and (200 <= status < 300 or status == 304) and "html" in (entry.get("content_type") or "").lower())


def _write_atomic(lines, path: Path | str, *, fsync: bool) -> int:
    """Write ``lines`` to a temporary file renamed to ``path``; returns the number of lines."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
            n += 1
        if fsync:
            out.flush()
            os.fsync(out.fileno())
    os.replace(tmp, path)
    return n


def write_crawl_log(rows, path: Path | str) -> int:
    """Write every row to ``path`` atomically; returns the number of lines."""
    return _write_atomic((json.dumps(entry(row), ensure_ascii=False) for row in rows), path, fsync=True)


def cdxj_line(row: dict) -> str | None:
    """The CDXJ line of a frontier row's record, or None when it wrote none or one pywb
    must not replay (a 304 revisit, see the module docstring)."""
    if not row.get("warc_file") or not row.get("index_key") or not row.get("warc_date"):
        return None
    if row["record_type"] == "revisit" and row.get("http_status") == 304:
        return None
    stamp = "".join(c for c in row["warc_date"] if c.isdigit())[:14]
    if row["record_type"] == "revisit":
        mime = "warc/revisit"
    else:
        mime = re.split(r"[;\s]", row.get("content_type") or "", maxsplit=1)[0].strip()
    fields = {
        "url": row["url"],
        "mime": mime,
        "status": str(row["http_status"]) if row.get("http_status") is not None else None,
        "digest": row.get("payload_digest"),
        "length": str(row["warc_length"]),
        "offset": str(row["warc_offset"]),
        "filename": f"warc/{row['warc_file']}",
    }
    return f"{row['index_key']} {stamp} {json.dumps({k: v for k, v in fields.items() if v})}"


def write_cdxj(rows, path: Path | str) -> int:
    """Write the CDXJ lines of ``rows`` (already in index order) to ``path`` atomically."""
    return _write_atomic((line for line in map(cdxj_line, rows) if line), path, fsync=False)


def read_crawl_log(path: Path | str):
    """Yield the objects of a crawl.jsonl file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
