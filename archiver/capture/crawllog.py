"""crawl.jsonl: one JSON object per URL with its final outcome.

The file is regenerated from the state database (never appended), so a
resumed crawl has exactly one line per URL.  It is written to a temporary
file and renamed, so a reader never sees half of it.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

FIELDS = (
    "url", "status", "error", "attempts", "bytes", "warc_file", "warc_offset", "record_type",
    "discovered_from", "via", "depth", "kind", "skipped_reason", "content_type", "state", "timestamp",
)


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


def write_crawl_log(rows, path: Path | str) -> int:
    """Write every row to ``path`` atomically; returns the number of lines."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(entry(row), ensure_ascii=False) + "\n")
            n += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return n


def read_crawl_log(path: Path | str):
    """Yield the objects of a crawl.jsonl file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
