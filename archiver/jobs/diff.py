"""What changed between two runs of a job: URLs and redirect rows.

Per crawled site, a URL is *new* when the earlier run did not capture it,
*gone* when the earlier run captured it and this one did not (or it now
answers 404/410), and *changed* when both captured it with a different
payload digest or status. A 304 answer (a server-not-modified revisit) is
unchanged by definition. Digests come from the crawl's
``index.cdxj``, matched to ``crawl.jsonl`` by WARC file and offset, and are
read from the WARC record header where the index lacks them.

Each legacy site of a programme is compared with the same site in the
earlier run (``sites``), the new site once. Redirect rows (``redirects.csv``:
a programme's combined one) are compared by old URL: added, removed,
and changed (target, status or kind). When both runs checked the live server
(``verify/verify.json``), the rows whose verdict changed are listed too: a
deploy that broke rows shows as ``ok -> not_redirected``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archiver.jobs.layout import NEW_CRAWL, RunLayout
from archiver.jobs.originals import index_records
from archiver.verify import read_verdicts

VERIFY_JSON = Path("verify") / "verify.json"
_GONE_STATUSES = (404, 410)


def _index_digests(crawl_dir: Path) -> dict[tuple[str, int], str]:
    """(WARC file name, offset) -> payload digest, from the crawl's index.cdxj."""
    digests: dict[tuple[str, int], str] = {}
    for fields in index_records(crawl_dir):
        try:
            key = (Path(fields["filename"]).name, int(fields["offset"]))
        except (KeyError, TypeError, ValueError):
            continue
        if fields.get("digest"):
            digests[key] = fields["digest"]
    return digests


def _record_digest(warc: Path, offset: int) -> str | None:
    try:
        with warc.open("rb") as stream:
            stream.seek(offset)
            for record in ArchiveIterator(stream):
                return record.rec_headers.get_header("WARC-Payload-Digest")
    except (OSError, ValueError):
        return None
    return None


def crawl_state(crawl_dir: Path | str) -> dict[str, dict]:
    """url -> {status, digest, revisit} for every URL a crawl fetched."""
    crawl_dir = Path(crawl_dir)
    log_path = crawl_dir / "crawl.jsonl"
    if not log_path.is_file():
        return {}
    digests = _index_digests(crawl_dir)
    state: dict[str, dict] = {}
    with log_path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry.get("status") is None:
                continue  # failed, skipped or never fetched
            digest = None
            revisit = entry.get("record_type") == "revisit"
            warc_file, offset = entry.get("warc_file"), entry.get("warc_offset")
            if warc_file and offset is not None and not (revisit and entry["status"] == 304):  # 304: unchanged anyway
                name = Path(warc_file).name
                digest = digests.get((name, int(offset)))
                if digest is None:
                    candidates = [crawl_dir / "warc" / name, crawl_dir / warc_file]
                    warc = next((p for p in candidates if p.is_file()), None)
                    digest = _record_digest(warc, int(offset)) if warc else None
            state[entry["url"]] = {
                "status": entry["status"],
                "digest": digest,
                "revisit": revisit,
            }
    return state


def diff_crawls(before: dict[str, dict], after: dict[str, dict]) -> dict[str, list]:
    """new / changed / gone URLs between two ``crawl_state`` results."""
    new, changed, gone = [], [], []

    def present(info: dict | None) -> bool:
        return info is not None and info["status"] not in _GONE_STATUSES

    for url, now in sorted(after.items()):
        then = before.get(url)
        if not present(then):
            if present(now):
                new.append(url)
            continue
        if not present(now):
            gone.append(url)
        elif now["revisit"] and now["status"] == 304:
            continue  # the server said: not modified
        elif now["status"] != then["status"]:
            changed.append({"url": url, "reason": f"status {then['status']} -> {now['status']}"})
        elif now["digest"] and then["digest"] and now["digest"] != then["digest"]:
            changed.append({"url": url, "reason": "payload digest differs"})
    gone.extend(url for url, then in sorted(before.items()) if url not in after and present(then))
    return {"new": new, "changed": changed, "gone": sorted(gone)}


def read_redirects(run_dir: Path | str) -> dict[str, dict]:
    path = Path(run_dir) / "redirects.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["old_url"]: row for row in csv.DictReader(fh)}


def diff_redirects(before: dict[str, dict], after: dict[str, dict]) -> dict[str, list]:
    added = [{"old_url": u, "new_url": r.get("new_url", ""), "status": r.get("status", ""), "kind": r.get("kind", "")}
             for u, r in sorted(after.items()) if u not in before]
    removed = sorted(u for u in before if u not in after)
    changed = []
    for url, now in sorted(after.items()):
        then = before.get(url)
        if then is None:
            continue
        fields = [f for f in ("new_url", "status", "kind") if then.get(f, "") != now.get(f, "")]
        if fields:
            changed.append({"old_url": url, **{f: [then.get(f, ""), now.get(f, "")] for f in fields}})
    return {"added": added, "removed": removed, "changed": changed}


def diff_verdicts(before: dict[str, str], after: dict[str, str]) -> list[dict]:
    """Rows checked in both runs whose verdict changed: {old_url, verdict: [then, now]}."""
    return [{"old_url": url, "verdict": [before[url], now]} for url, now in sorted(after.items())
            if url in before and before[url] != now]


def _verdicts(layout: RunLayout) -> dict[str, str]:
    """Every site's verify verdicts by old URL (a programme's sites have distinct hosts)."""
    found: dict[str, str] = {}
    for name in layout.sites:
        found.update(read_verdicts(layout.site_dir(name) / VERIFY_JSON))
    return found


def _legacy_crawl(layout: RunLayout | None, name: str, programme: bool) -> Path | None:
    """A site's legacy crawl in ``layout`` when that run has the same layout (and the site)."""
    if layout is None or layout.programme != programme or (programme and name not in layout.sites):
        return None
    return layout.legacy_crawl(layout.sites[0] if not programme else name)


def diff_runs(before: Path | str | None, after: Path | str) -> dict:
    """The full diff of run directory ``after`` against ``before`` (None: the first run)."""
    after = Path(after)
    now = RunLayout.of(after)
    then = RunLayout.of(before) if before else None
    result: dict = {"from": Path(before).name if before else None, "to": after.name}

    def crawl_diff(previous: Path | None, current: Path) -> dict:
        return diff_crawls(crawl_state(previous) if previous else {}, crawl_state(current))

    if now.programme:
        result["sites"] = {name: crawl_diff(_legacy_crawl(then, name, True), now.legacy_crawl(name))
                           for name in now.sites}
    else:
        result["legacy"] = crawl_diff(_legacy_crawl(then, "", False), now.legacy_crawl(now.sites[0]))
    result[NEW_CRAWL] = crawl_diff(then.new_crawl if then else None, now.new_crawl)
    result["redirects"] = diff_redirects(read_redirects(before) if before else {}, read_redirects(after))
    result["verify"] = {"changed": diff_verdicts(_verdicts(then) if then else {}, _verdicts(now))}
    return result


def _crawl_sections(diff: dict) -> dict[str, dict]:
    """Title -> the crawl diff: "legacy site" (or "site NAME" for each of a programme's), then "new site"."""
    legacy = {f"site {name}": d for name, d in diff["sites"].items()} if "sites" in diff else {"legacy site": diff["legacy"]}
    return {**legacy, "new site": diff[NEW_CRAWL]}


def format_diff(diff: dict, *, limit: int = 20) -> str:
    """Human-readable text of a ``diff_runs`` result; lists cut at ``limit`` lines."""
    lines = [f"changes from run {diff['from'] or '(none)'} to run {diff['to']}"]

    def section(title: str, items: list) -> None:
        lines.append(f"  {title}: {len(items)}")
        for item in items[:limit]:
            if isinstance(item, str):
                lines.append(f"    {item}")
            elif "reason" in item:
                lines.append(f"    {item['url']}  ({item['reason']})")
            elif "kind" in item and "old_url" in item and not isinstance(item["kind"], list):
                lines.append(f"    {item['old_url']} -> {item['new_url'] or '-'} ({item['status'] or '-'} {item['kind']})")
            else:
                detail = ", ".join(f"{k} {v[0] or '-'} -> {v[1] or '-'}" for k, v in item.items() if k != "old_url")
                lines.append(f"    {item['old_url']}: {detail}")
        if len(items) > limit:
            lines.append(f"    ... and {len(items) - limit} more")

    for title, crawl in _crawl_sections(diff).items():
        lines.append(f" {title}")
        for kind in ("new", "changed", "gone"):
            section(f"{kind} URLs", crawl[kind])
    lines.append(" redirect manifest")
    for kind in ("added", "removed", "changed"):
        section(f"rows {kind}", diff["redirects"][kind])
    lines.append(" live server (archiver verify)")
    section("verdicts changed", diff["verify"]["changed"])
    return "\n".join(lines)


def counts(diff: dict) -> dict:
    """Just the numbers, for summaries."""
    def count(crawl: dict) -> dict:
        return {k: len(v) for k, v in crawl.items()}

    if "sites" in diff:
        out: dict = {"sites": {name: count(d) for name, d in diff["sites"].items()}}
    else:
        out = {"legacy": count(diff["legacy"])}
    out[NEW_CRAWL] = count(diff[NEW_CRAWL])
    out["redirects"] = {k: len(v) for k, v in diff["redirects"].items()}
    out["verify"] = {"changed": len(diff["verify"]["changed"])}
    return out
