"""End to end through real WARCs: serve a labelled pair, crawl both sites, `archiver map`, check the manifest."""
from __future__ import annotations

import csv
import json

from archiver.warc import iter_captures
from archiver.capture import CrawlConfig, crawl
from archiver.cli import main
from archiver.demo.server import SiteServer
from archiver.demo.sitegen import GONE, generate_pair
from archiver.detect import detect
from archiver.mapping import explicit_targets


def _crawl(base: str, out, extra_seeds=()):
    crawl(CrawlConfig(seeds=[base + "/", *extra_seeds], sitemaps=[base + "/sitemap.xml"], out_dir=out, delay=0,
                      concurrency=4, per_host_concurrency=4, progress="none", max_retries=0, timeout=10,
                      requisites_any_host=False))
    return out


def test_archiver_map_on_crawled_warcs(tmp_path, capsys):
    with SiteServer(host="127.0.0.1") as legacy_server, SiteServer(host="127.0.0.2") as new_server:
        pair = generate_pair(legacy_server.base_url, new_server.base_url, n_articles=120, seed=31)
        legacy_server.site, new_server.site = pair.legacy, pair.new
        old_dir = _crawl(legacy_server.base_url, tmp_path / "old")
        # as `archiver run` does: the legacy capture's explicit targets seed the new crawl, so that
        # old-slug URLs the portal only reaches by redirect are captured and can be verified
        seeds = [t for t in explicit_targets(detect(iter_captures([old_dir]), new_hosts=["127.0.0.2"]))
                 if t.startswith(new_server.base_url)]
        new_dir = _crawl(new_server.base_url, tmp_path / "new", seeds)
    out = tmp_path / "map"
    code = main(["map", "--old", str(old_dir), "--new", str(new_dir), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed

    with open(out / "redirects.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {"old_url", "new_url", "status", "kind", "method", "confidence"} <= set(rows[0])
    by_url = {r["old_url"]: r for r in rows}
    expected = {u: v for u, v in pair.truth.items() if v and v != GONE}
    pages = [r for r in rows if r["kind"] == "page"]
    right = [r for r in pages if pair.truth.get(r["old_url"]) == r["new_url"]]
    found = [u for u, v in expected.items() if by_url.get(u, {}).get("new_url") == v
             and by_url[u]["kind"] == "page"]
    precision, recall = len(right) / len(pages), len(found) / len(expected)
    print(f"end to end: precision {precision:.4f} recall {recall:.4f} ({len(rows)} rows)")
    missed = [(u, v, by_url.get(u)) for u, v in expected.items() if u not in found]
    assert precision >= 0.99 and recall >= 0.97, "\n".join(map(str, [r for r in pages if r not in right] + missed))
    gone = [u for u, v in pair.truth.items() if v == GONE]
    assert gone and all(by_url[u]["kind"] == "gone" and by_url[u]["status"] == "410" for u in gone)
    summary = json.loads((out / "map-summary.json").read_text())
    counts = {kind: sum(1 for r in rows if r["kind"] == kind) for kind in ("page", "document", "fallback", "gone", "unmatched")}
    assert summary["kinds"] == counts and summary["refused"] == {}
    # what the console says is what the files hold
    assert (f"{len(rows)} legacy URLs; exported: page {counts['page']}, document {counts['document']}, fallback {counts['fallback']}, "
            f"gone {counts['gone']}, unmatched {counts['unmatched']};") in printed
    assert (out / "notices.jsonl").stat().st_size > 0
    # re-mapping from the saved notices, with 308s and only the CSV, gives the same decisions
    again = tmp_path / "again"
    assert main(["map", "--old", str(old_dir), "--new", str(new_dir), "--out", str(again), "--notices",
                 str(out / "notices.jsonl"), "--status", "308", "--format", "csv"]) == 0
    with open(again / "redirects.csv", newline="", encoding="utf-8") as handle:
        rows_again = list(csv.DictReader(handle))
    assert [(r["old_url"], r["new_url"], r["kind"]) for r in rows_again] == \
        [(r["old_url"], r["new_url"], r["kind"]) for r in rows]
    assert {r["status"] for r in rows_again if r["kind"] in ("page", "fallback")} == {"308"}
    assert not (again / "redirects.nginx.conf").exists()
    nginx_map = (out / "redirects.nginx.conf").read_text()
    for r in rows:  # every redirect is in the nginx map, nothing unmatched is
        path = r["old_url"].split("/", 3)[3]
        assert (f'"/{path}" "{r["new_url"]}";' in nginx_map) == (r["kind"] in ("page", "document", "fallback")), r


def test_archiver_map_usage_errors(tmp_path, capsys):
    assert main(["map", "--old", str(tmp_path / "nope"), "--new", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["map", "--old", str(tmp_path), "--new", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--rule", "no-equals-sign"]) == 2
    assert "REGEX=URL" in capsys.readouterr().err
