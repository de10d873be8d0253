"""Documents get redirects: generated sites with PDFs and office files, real loopback servers, real crawls,
`archiver map`, precision and recall of the document rows, and a real nginx answering the old URLs."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from archiver.capture import CrawlConfig, crawl
from archiver.cli import main
from archiver.demo.server import SiteServer
from archiver.detect import detect
from archiver.mapping import explicit_targets
from archiver.urls import lookup_key
from archiver.warc import iter_captures

import documents_gen as gen
from webservers import APACHE, NGINX, apache_conf, free_port, nginx_conf, raw_get, require, run_apache, run_nginx, stop


def _crawl(base: str, out: Path, extra_seeds=()) -> Path:
    crawl(CrawlConfig(seeds=[base + "/", *extra_seeds], out_dir=out, delay=0, concurrency=4, per_host_concurrency=4,
                      progress="none", max_retries=0, timeout=10, requisites_any_host=False))
    return out


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Two captures of the legacy site (before and after a page's removal) and one of the portal."""
    root = tmp_path_factory.mktemp("documents")
    with SiteServer(host="127.0.0.1") as legacy_server, SiteServer(host="127.0.0.2") as new_server:
        legacy, new, truth, later = gen.document_pair(legacy_server.base_url, new_server.base_url)
        legacy_server.site, new_server.site = legacy, new
        old = _crawl(legacy_server.base_url, root / "old")
        legacy_server.site = later
        old_later = _crawl(legacy_server.base_url, root / "old-later")
        seeds = [t for t in explicit_targets(detect(iter_captures([old]), new_hosts=["127.0.0.2"]))
                 if t.startswith(new_server.base_url)]
        new_dir = _crawl(new_server.base_url, root / "new", seeds)
        bases = {"legacy_base": legacy_server.base_url, "new_base": new_server.base_url}
    return {"old": [old, old_later], "new": new_dir, "truth": truth, "root": root, **bases}


def _map(crawled, name: str, *options: str) -> dict[str, dict]:
    out = crawled["root"] / name
    args = ["map", "--old", *map(str, crawled["old"]), "--new", str(crawled["new"]), "--out", str(out), *options]
    assert main(args) == 0
    with open(out / "redirects.csv", newline="", encoding="utf-8") as handle:
        return {row["old_url"]: row for row in csv.DictReader(handle)}


def test_every_document_gets_a_row_precise_and_never_forced(crawled, capsys):
    rows = _map(crawled, "map")
    printed = capsys.readouterr().out
    truth = crawled["truth"]
    assert set(truth) <= set(rows), sorted(set(truth) - set(rows))  # every captured legacy document has a row
    documents = {u: r for u, r in rows.items() if r["kind"] == "document"}
    correct = [u for u, r in documents.items() if truth.get(u) == r["new_url"]]
    expected = {u: v for u, v in truth.items() if v}
    found = [u for u, v in expected.items() if rows[u]["kind"] == "document" and rows[u]["new_url"] == v]
    precision, recall = len(correct) / len(documents), len(found) / len(expected)
    print(f"\ndocument rows: precision {precision:.3f} ({len(correct)}/{len(documents)}), "
          f"recall {recall:.3f} ({len(found)}/{len(expected)})")
    wrong = {u: (r["new_url"], r["evidence"]) for u, r in documents.items() if u not in correct}
    missed = {u: (rows[u]["kind"], rows[u]["evidence"]) for u in expected if u not in found}
    assert precision >= 0.99 and recall >= 0.95, (wrong, missed)
    forced = [u for u, v in truth.items() if v is None and rows[u]["kind"] == "document"]
    assert not forced, forced

    def row(path: str) -> dict:
        return rows[lookup_key(crawled["legacy_base"] + path)]

    assert row("/files/letno_porocilo_2018.pdf")["method"] == "digest"
    assert row("/files/Poročilo_2018.pdf")["method"] == "digest"  # a non-ASCII name, renamed
    assert row(gen.LONG_QUERY)["method"] == "digest"
    assert row("/prenos?id=77")["method"] == "digest"  # sent as application/octet-stream: its bytes say PDF
    for path in ("/files/statistika 2017.pdf", "/files/vloga.docx", "/files/vloge.xlsx",
                 "/obrazci/orozje/obrazec.pdf"):
        assert row(path)["method"] == "text" and row(path)["review"] == "", (path, row(path))
    assert row("/obrazci/prebivalisce/obrazec.pdf")["method"] == "digest"
    scan = row("/files/scan0001.pdf")  # no text layer: found through its moved page's link text, to review
    assert scan["method"] == "linked_from" and scan["review"] == "yes" and "link text" in scan["evidence"]
    lookalike = row("/files/poplave_2012.pdf")
    assert lookalike["kind"] == "unmatched" and "poplave-2013" in lookalike["evidence"]
    assert "title 'poplave 2012' vs 'poplave 2013'" in lookalike["evidence"]  # near-identical text, another year
    for path, cap in (("/files/bomba.pdf", "Limit reached"), ("/files/bomba.docx", "declares 67,108,864 bytes")):
        assert row(path)["kind"] == "unmatched" and cap in row(path)["evidence"], row(path)
    removed = row("/files/narocilo_2016.pdf")
    assert removed["kind"] == "unmatched" and "documents_follow_gone" in removed["evidence"]
    assert lookup_key(crawled["legacy_base"] + "/files/graf.png") not in rows  # images stay out by default
    summary = json.loads((crawled["root"] / "map" / "map-summary.json").read_text())
    assert summary["kinds"]["document"] == len(documents) and f"document {len(documents)}" in printed


def test_follow_gone_and_asset_types_opt_in(crawled):
    rows = _map(crawled, "map-options", "--documents-follow-gone", "--asset-type", "image/*")
    removed = rows[lookup_key(crawled["legacy_base"] + "/files/narocilo_2016.pdf")]
    assert (removed["kind"], removed["status"], removed["method"]) == ("gone", "410", "page_gone")
    image = rows[lookup_key(crawled["legacy_base"] + "/files/graf.png")]
    assert (image["kind"], image["method"], image["new_url"]) == (
        "document", "digest", lookup_key(crawled["new_base"] + "/assets/graf.png"))
    gone_without_page = rows[lookup_key(crawled["legacy_base"] + "/files/razpis_2014.pdf")]
    assert gone_without_page["kind"] == "unmatched"  # its page moved: not removed with it


def test_a_persons_decision_about_a_document_comes_first(crawled):
    scan = lookup_key(crawled["legacy_base"] + "/files/scan0001.pdf")
    removed = lookup_key(crawled["legacy_base"] + "/files/razpis_2014.pdf")
    decisions = crawled["root"] / "decisions.csv"
    decisions.write_text("old_url,decision,new_url,note,decided_at\n"
                         f"{scan},gone,,withdrawn,2026-11-29T10:00:00Z\n"
                         f"{removed},ignore,,,2026-11-29T10:00:00Z\n", encoding="utf-8")
    rows = _map(crawled, "map-decided", "--decisions", str(decisions))
    assert (rows[scan]["kind"], rows[scan]["status"], rows[scan]["method"]) == ("gone", "410", "reviewed")
    assert removed not in rows  # ignored: no row at all
    assert rows[lookup_key(crawled["legacy_base"] + "/files/vloga.docx")]["method"] == "text"


def test_usage_error_for_a_bad_asset_type(crawled, capsys):
    args = ["map", "--old", str(crawled["old"][0]), "--new", str(crawled["new"]), "--out",
            str(crawled["root"] / "bad"), "--asset-type", "images"]
    assert main(args) == 2
    assert "--asset-type" in capsys.readouterr().err


def _answers_document_urls(port: int, rows: dict[str, dict]) -> None:
    """Every document row's old URL, requested byte for byte as the crawler did, answers 301 to its target."""
    documents = {u: r for u, r in rows.items() if r["kind"] == "document"}
    names = {u.rsplit("/", 1)[-1] for u in documents}
    assert "Poro%C4%8Dilo_2018.pdf" in names and "statistika%202017.pdf" in names
    assert any("download.php?" in u and len(u) > 400 for u in documents) and len(documents) >= 10
    for old_url, row in documents.items():
        status, location = raw_get(port, "/" + old_url.split("/", 3)[3])
        assert (status, location) == (301, row["new_url"]), (old_url, status, location)


def test_nginx_answers_old_document_urls(crawled, tmp_path):
    require(NGINX)
    rows = _map(crawled, "map-nginx")
    port = free_port()
    proc = run_nginx(tmp_path, nginx_conf(tmp_path, crawled["root"] / "map-nginx", port), port)
    try:
        _answers_document_urls(port, rows)
    finally:
        stop(proc)


def test_apache_answers_old_document_urls(crawled, apache_dir):
    require(APACHE)
    out = apache_dir / "export"
    assert main(["map", "--old", *map(str, crawled["old"]), "--new", str(crawled["new"]), "--out", str(out),
                 "--format", "apache", "--format", "csv"]) == 0
    with open(out / "redirects.csv", newline="", encoding="utf-8") as handle:
        rows = {row["old_url"]: row for row in csv.DictReader(handle)}
    port = free_port()
    proc = run_apache(apache_conf(apache_dir, out, port), port)
    try:
        _answers_document_urls(port, rows)
    finally:
        stop(proc)
