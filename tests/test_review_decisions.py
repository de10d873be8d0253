"""The decisions file: checked when read, applied first by `archiver map`, reported, written safely."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from archiver.capture import CrawlConfig, crawl
from archiver.cli import main
from archiver.demo.server import SiteServer
from archiver.demo.sitegen import GONE, generate_pair
from archiver.errors import LockHeldError, UsageError
from archiver.export import export_all
from archiver.mapping.decisions import Decisions, decided_row, decisions_report, parse_decisions
from archiver.mapping.targets import Resolver
from archiver.review.store import DecisionsFile
from archiver.types import Decision, RedirectRow

ROOT = Path(__file__).resolve().parent.parent
HEADER = "old_url,decision,new_url,note,decided_at\n"


@pytest.mark.parametrize("line, problem", [
    ("http://old.example/a,redirect,https://evil.example/x,,", "decisions.csv:2: new_url: evil.example is not an allowed target host"),
    ("http://old.example/a,redirect,,,", "decisions.csv:2: new_url: a redirect decision needs the target URL"),
    ("http://old.example/a,gone,https://new.example/x,,", "decisions.csv:2: new_url: a 'gone' decision names no target"),
    ("http://old.example/a,maybe,,,", "decisions.csv:2: decision: expected one of redirect, gone, unmatched, ignore"),
    ("javascript:alert(1),gone,,,", "decisions.csv:2: old_url: not an http(s) URL"),
    ("http://old.example/a,redirect,javascript:alert(1),,", "decisions.csv:2: new_url: not an http(s) URL"),
    ("http://old.example/a,gone,,,\nhttp://OLD.example/a,unmatched,,,", "decisions.csv:3: a second decision for"),
])
def test_a_bad_decisions_file_is_refused_naming_file_and_line(line, problem):
    with pytest.raises(UsageError) as refused:
        parse_decisions(HEADER + line + "\n", "decisions.csv", allowed_hosts=["new.example"])
    assert str(refused.value).startswith(problem)


def test_unknown_columns_are_refused_and_notes_become_one_line():
    with pytest.raises(UsageError, match="unknown column 'comment'"):
        parse_decisions("old_url,decision,comment\n", "d.csv", allowed_hosts=["new.example"])
    [decision] = parse_decisions(HEADER + 'http://old.example/a,unmatched,,"two\nlines\x07",\n', "d.csv",
                                 allowed_hosts=["new.example"])
    assert decision.note == "two lines"


def test_archiver_run_refuses_a_decisions_file_off_the_allowed_hosts(tmp_path, capsys):
    manifest = tmp_path / "demo.toml"
    shutil.copyfile(ROOT / "manifests" / "demo.toml", manifest)
    (tmp_path / "demo.decisions.csv").write_text(HEADER + "http://legacy.example/a,redirect,https://evil.example/,,\n")
    assert main(["run", str(manifest), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"archiver run: {tmp_path / 'demo.decisions.csv'}:2: new_url: evil.example is not an "
                              "allowed target host (allowed: 127.0.0.2:")
    assert not list((tmp_path / "out" / "demo" / "runs").glob("*/legacy"))  # refused before any crawl


def test_decided_rows_follow_the_new_capture_and_flag_a_broken_target():
    resolver = Resolver()
    resolver.add("https://new.example/old-slug", 308, "/page")
    resolver.add("https://new.example/page", 200, None)
    resolver.add("https://new.example/missing", 404, None)
    allowed = {"new.example"}

    def row(target):
        decision = Decision("http://old.example/a", "redirect", target, "checked", "2026-11-29T10:00:00Z")
        return decided_row(decision, "http://old.example/a", 301, resolver.land(target, allowed))

    moved = row("https://new.example/old-slug")
    assert (moved.new_url, moved.method, moved.kind, moved.review) == ("https://new.example/page", "reviewed", "page", False)
    assert "lands on https://new.example/page" in moved.evidence and moved.evidence.startswith("reviewed 2026")
    broken = row("https://new.example/missing")
    assert broken.new_url == "https://new.example/missing" and broken.review and "answers 404" in broken.evidence
    assert row("https://new.example/never-crawled").evidence.endswith("target not in the new site's capture")
    ignored = Decision("http://old.example/a", "ignore")
    assert decided_row(ignored, "http://old.example/a", 301, None) is None


def test_a_decided_row_the_export_refuses_is_reported(tmp_path):
    decisions = Decisions([Decision("http://old.example/a", "redirect", "https://new.example/b")])
    assert decisions.take("HTTP://old.example:80/a") is not None
    rows = [RedirectRow("https://old.example/a", "https://new.example/c", 301, "page", "content", 0.99),
            RedirectRow("http://old.example/a", "https://new.example/b", 301, "page", "reviewed", 0.5)]
    files = export_all(rows, tmp_path, formats=["csv"], allowed_hosts=["new.example"]).paths
    report = decisions_report(decisions, tmp_path / "d.csv", files["rejected"])
    assert report["applied"] == 1 and report["refused"] == [
        {"old_url": "http://old.example/a", "reason": "duplicate source; kept the stronger row -> https://new.example/c"}]


def test_one_writer_at_a_time_and_every_change_on_disk(tmp_path):
    path = tmp_path / "job.decisions.csv"
    with DecisionsFile(path, allowed_hosts=["new.example"]) as store:
        with pytest.raises(LockHeldError, match="another reviewer is editing these decisions") as held:
            DecisionsFile(path, allowed_hosts=["new.example"]).__enter__()
        assert held.value.exit_code == 4
        assert store.set(Decision("http://old.example/a", "gone", decided_at="t1")) is None
        assert path.read_text() == HEADER + "http://old.example/a,gone,,,t1\n"
        previous = store.set(Decision("http://old.example/a", "redirect", "https://new.example/b", "x", "t2"))
        assert previous.decision == "gone"
        assert path.read_text() == HEADER + "http://old.example/a,redirect,https://new.example/b,x,t2\n"
        with pytest.raises(UsageError, match="not an allowed target host"):
            store.set(Decision("http://old.example/c", "redirect", "https://evil.example/"))
        assert store.remove("http://old.example/a").decided_at == "t2"
        assert path.read_text() == HEADER
        assert sorted(p.name for p in tmp_path.iterdir()) == ["job.decisions.csv", "job.decisions.csv.lock"]
    with DecisionsFile(path, allowed_hosts=["new.example"]):  # released: the next reviewer may open it
        pass


def _crawl(base: str, out: Path) -> Path:
    crawl(CrawlConfig(seeds=[base + "/"], sitemaps=[base + "/sitemap.xml"], out_dir=out, delay=0, concurrency=4,
                      per_host_concurrency=4, progress="none", max_retries=0, timeout=10, requisites_any_host=False))
    return out


def test_archiver_map_applies_decisions_first_and_reports_the_rest(tmp_path, capsys):
    with SiteServer(host="127.0.0.1") as legacy_server, SiteServer(host="127.0.0.2") as new_server:
        pair = generate_pair(legacy_server.base_url, new_server.base_url, n_articles=20, seed=5)
        legacy_server.site, new_server.site = pair.legacy, pair.new
        old_dir, new_dir = _crawl(legacy_server.base_url, tmp_path / "old"), _crawl(new_server.base_url, tmp_path / "new")
    moved = sorted(u for u, v in pair.truth.items() if v and v != GONE)
    redirect, gone, ignored = moved[:3]
    section = f"{pair.new_base}/novice/"
    stale = f"{pair.legacy_base}/never/captured/"
    decisions = tmp_path / "decisions.csv"
    with decisions.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["old_url", "decision", "new_url", "note", "decided_at"])
        writer.writerows([[redirect, "redirect", section, "a section will do", "2026-11-29T10:00:00Z"],
                          [gone, "gone", "", "", ""], [ignored, "ignore", "", "", ""], [stale, "gone", "", "", ""]])
    out = tmp_path / "map"
    assert main(["map", "--old", str(old_dir), "--new", str(new_dir), "--out", str(out),
                 "--decisions", str(decisions)]) == 0
    printed = capsys.readouterr().out
    assert "decisions: 3 of 4 applied (redirect 1, gone 1, ignore 1); 1 not in the capture" in printed
    assert f"not applied: {stale} is not among the legacy capture's pages (kept in the file)" in printed
    with open(out / "redirects.csv", newline="", encoding="utf-8") as fh:
        rows = {r["old_url"]: r for r in csv.DictReader(fh)}
    assert (rows[redirect]["new_url"], rows[redirect]["method"], rows[redirect]["review"]) == (section, "reviewed", "")
    assert rows[redirect]["evidence"] == "reviewed 2026-11-29T10:00:00Z: a section will do"
    assert (rows[gone]["kind"], rows[gone]["status"], rows[gone]["method"]) == ("gone", "410", "reviewed")
    assert ignored not in rows
    summary = json.loads((out / "map-summary.json").read_text())
    assert summary["decisions"]["not_captured"] == [stale] and summary["methods"]["reviewed"] == 2
    # the candidates the review page shows: for every legacy page with content, best first
    lines = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    assert lines and all(c["score"] >= d["score"] for line in lines
                         for c, d in zip(line["candidates"], line["candidates"][1:]))
    found = {line["old_url"]: line for line in lines}
    assert found[moved[5]]["candidates"][0]["new_url"] == pair.truth[moved[5]]

    decisions.write_text(HEADER + f"{redirect},redirect,https://evil.example/,,\n")
    assert main(["map", "--old", str(old_dir), "--new", str(new_dir), "--out", str(out),
                 "--decisions", str(decisions)]) == 2
    assert f"{decisions}:2: new_url: evil.example is not an allowed target host" in capsys.readouterr().err
