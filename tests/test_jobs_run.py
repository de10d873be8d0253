"""``archiver run`` twice and three times against local sites with ETag/Last-Modified.

One module-scoped scenario (three runs, one legacy page edited before runs 2
and 3) feeds the tests: incremental revisits and byte ratio, a changed page
captured in full and listed by diff, history kept untouched, ``latest``,
retention that keeps the holders of revisited originals, summaries.
"""
import csv
import dataclasses
import hashlib
import json
import random
import re
import string
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.warc import iter_captures
from archiver.cli import main
from archiver.jobs.originals import original_files
from archiver.demo.server import SiteServer
from archiver.demo.sitegen import generate_pair

MANIFEST = """
name = "ministry"
keep_runs = 1
[legacy]
seeds = ["{legacy}/"]
sitemaps = ["{legacy}/sitemap.xml"]
[new]
seeds = ["{new}/"]
sitemaps = ["{new}/sitemap.xml"]
[crawl]
delay = 0
concurrency = 4
"""


def warc_records(crawl_dir: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(type, url, profile, HTTP status) of the response/revisit records of a crawl."""
    out = []
    for path in sorted((crawl_dir / "warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type in ("response", "revisit"):
                    h = record.rec_headers
                    status = record.http_headers.get_statuscode() if record.http_headers else None
                    out.append((record.rec_type, h.get_header("WARC-Target-URI"), h.get_header("WARC-Profile"), status))
    return out


def warc_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in run_dir.glob("*/warc/*.warc.gz"))


def snapshot(run_dir: Path) -> dict[str, str]:
    """Hash of every file (SQLite's -wal/-shm sidecars come and go when a later run reads the state)."""
    return {str(p.relative_to(run_dir)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def edit(server: SiteServer, path: str, text: str) -> None:
    resources = dict(server.site.resources)
    old = resources[path]
    resources[path] = dataclasses.replace(old, body=old.body.replace(b"</body>", text.encode() + b"</body>"))
    server.site = dataclasses.replace(server.site, resources=resources)


def with_page_weight(site, rng: random.Random):
    """Give every HTML page the furniture of a real portal page (~25 KB of inline script).

    The generated pages are a few hundred bytes of text, so the fixed cost of a
    request record would dominate any byte ratio; real pages weigh 30-100 KB.
    """
    words = [''.join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 10))) for _ in range(400)]
    furniture = ("<script>var menu = '" + " ".join(rng.choice(words) for _ in range(3500)) + "';</script>").encode()
    resources = {path: dataclasses.replace(r, body=r.body.replace(b"</body>", furniture + b"</body>"))
                 if r.status == 200 and b"</body>" in r.body else r for path, r in site.resources.items()}
    return dataclasses.replace(site, resources=resources)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("job")
    with SiteServer() as legacy, SiteServer(host="127.0.0.2") as new:  # two hosts, as in real life
        pair = generate_pair(legacy.base_url, new.base_url, n_articles=16, seed=7)
        rng = random.Random(7)
        legacy.site, new.site = with_page_weight(pair.legacy, rng), with_page_weight(pair.new, rng)
        manifest = tmp / "ministry.toml"
        manifest.write_text(MANIFEST.format(legacy=legacy.base_url, new=new.base_url))
        out = tmp / "out"
        edited = next(p for p, r in pair.legacy.resources.items()
                      if r.status == 200 and "/article/" in p and b"</body>" in r.body)
        runs, codes, snapshots, seen = [], [], [], []
        for number in range(3):
            if number:
                edit(legacy, edited, f"<p>Correction number {number}.</p>")
            legacy.clear_log()
            codes.append(main(["run", str(manifest), "--out", str(out), "--json-summary", str(tmp / f"s{number}.json")]))
            latest = (out / "ministry" / "latest").resolve()
            runs.append(latest)
            snapshots.append(snapshot(latest))
            # what each run wrote, read now: retention removes the second run later
            seen.append({"legacy": warc_records(latest / "legacy"), "bytes": warc_bytes(latest),
                         "diff": json.loads((latest / "diff.json").read_text()), "requests": legacy.requests})
        edited_url = legacy.base_url + edited
        served = {legacy.base_url + path: r.body for path, r in legacy.site.resources.items()}
    return {"out": out, "runs": runs, "codes": codes, "snapshots": snapshots, "edited": edited_url,
            "seen": seen, "tmp": tmp, "served": served}


def test_runs_complete_in_their_own_directories(scenario):
    runs = scenario["runs"]
    assert scenario["codes"] == [0, 0, 0]
    assert len(set(runs)) == 3 and all(r.parent.name == "runs" for r in runs)
    assert (scenario["out"] / "ministry" / "latest").resolve() == runs[2]
    for run in (runs[0], runs[2]):
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["exit_code"] == 0
        for name in ("notices.jsonl", "redirects.csv", "redirects.nginx.conf", "diff.json", "legacy/crawl.jsonl",
                     "manifest.toml"):
            assert (run / name).is_file(), name
    assert json.loads((scenario["tmp"] / "s2.json").read_text())["run"] == runs[2].name


def test_second_run_is_conditional_and_writes_revisits(scenario):
    first, second = scenario["seen"][:2]
    conditional = [r for r in second["requests"] if "If-None-Match" in r.headers or "If-Modified-Since" in r.headers]
    assert len(conditional) >= 20 and sum(r.status == 304 for r in second["requests"]) >= 20
    first_pages = {url for kind, url, _, status in first["legacy"] if kind == "response" and status == "200"}
    second = second["legacy"]
    revisited = {url for kind, url, _, _ in second if kind == "revisit"}
    full = {url for kind, url, _, _ in second if kind == "response"}
    assert scenario["edited"] in full  # the edited page is captured in full
    unchanged = first_pages - {scenario["edited"]}  # every 200 answer; redirects carry no validators
    assert len(unchanged) >= 20
    assert unchanged <= revisited, sorted(unchanged - revisited)[:5]
    profiles = {profile for kind, _, profile, _ in second if kind == "revisit"}
    assert all(p.endswith(("server-not-modified", "identical-payload-digest")) for p in profiles)


def test_unchanged_run_writes_a_small_fraction_of_the_bytes(scenario):
    first, second = (seen["bytes"] for seen in scenario["seen"][:2])
    ratio = second / first
    print(f"\nincremental re-crawl: {second} / {first} WARC bytes = {ratio:.3f}")
    assert ratio < 0.35


def test_diff_lists_the_edited_page(scenario, capsys):
    diff = scenario["seen"][1]["diff"]
    assert [c["url"] for c in diff["legacy"]["changed"]] == [scenario["edited"]]
    assert diff["legacy"]["new"] == [] and diff["legacy"]["gone"] == []
    assert main(["diff", str(scenario["out"] / "ministry")]) == 0
    out = capsys.readouterr().out
    assert scenario["edited"] in out and "changed URLs: 1" in out


def test_history_untouched_and_retention_keeps_originals(scenario):
    first, second, third = scenario["runs"]
    # keep_runs = 1: the second run's only full page was edited again, so it goes;
    # the first run holds the originals of the third run's revisits, so it stays.
    assert not second.exists()
    assert first.exists() and snapshot(first) == scenario["snapshots"][0]
    summary = json.loads((third / "summary.json").read_text())
    assert summary["pruned"] == [second.name]
    assert first.name in summary["crawl"]["legacy"]["originals_in"]


def test_revisits_read_their_bodies_from_the_earlier_runs_files(scenario):
    """The third run's revisits resolve, through the first run's WARC files, to the very bytes served."""
    first, _, third = scenario["runs"]
    originals = original_files(third / "legacy", [first / "legacy"])
    assert originals and all(first in p.parents for p in originals)
    own = str(third / "legacy")
    revisits = [c for c in iter_captures([*map(str, originals), own]) if c.file.startswith(own)
                and c.record_type == "revisit" and c.status == 200 and c.url in scenario["served"]]
    assert len(revisits) >= 20
    for capture in revisits:
        assert capture.revisit_of is not None and capture.body == scenario["served"][capture.url], capture.url
    # without the earlier files the same records have no body: the assertion above can fail
    served = {c.url: c.body for c in revisits}
    alone = [c for c in iter_captures([own]) if c.url in served and c.record_type == "revisit"]
    assert {c.url for c in alone} == set(served) and not any(c.body == served[c.url] for c in alone)


def test_audit_of_latest_by_hand_finds_the_originals_as_the_job_did(scenario, tmp_path, capsys):
    latest = scenario["out"] / "ministry" / "latest"
    job = json.loads((latest / "audit" / "audit.json").read_text())
    assert main(["audit", str(latest / "legacy"), "--out", str(tmp_path / "audit")]) == 0
    by_hand = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert by_hand["summary"]["integrity"] == job["summary"]["integrity"] == {}
    assert [o["outcome"] for o in by_hand["outcomes"]] == [o["outcome"] for o in job["outcomes"]
                                                            if o["url"] in {x["url"] for x in by_hand["outcomes"]}]
    assert any("earlier runs" in w for w in by_hand["warnings"])
    assert "warning: read 1 WARC file(s) of earlier runs" in capsys.readouterr().out


def test_summary_counts_what_the_exports_hold_and_apache_reads_the_map_through_latest(scenario):
    latest = scenario["out"] / "ministry" / "latest"
    summary = json.loads((latest / "summary.json").read_text())
    with open(latest / "redirects.csv", newline="", encoding="utf-8") as fh:
        kinds = Counter(row["kind"] for row in csv.DictReader(fh))
    assert {k: summary["redirects"][k] for k in ("page", "document", "fallback", "gone", "unmatched")} == \
        {k: kinds.get(k, 0) for k in ("page", "document", "fallback", "gone", "unmatched")}
    assert summary["redirects"]["exported"] == sum(kinds.values()) and summary["redirects"]["refused"] == {}
    conf = (latest / "redirects.apache.conf").read_text()
    map_path = Path(re.search(r'RewriteMap archiver_redirects "txt:([^"]+)"', conf).group(1))
    # retention (keep_runs = 1) already deleted a run; the path names latest, which it never deletes
    assert map_path == (latest / "redirects.apache.map.txt").absolute() and map_path.is_file()


def test_allowed_hosts_that_refuse_every_redirect_are_a_configuration_error(tmp_path, capsys):
    from archiver.demo.site import Site

    legacy_site, new_site = Site(), Site()
    new_site.add("/", "<html><body><p>New</p></body></html>")
    new_site.add("/a", "<html><head><title>A</title></head><body><p>Page A on the new site</p></body></html>")
    with SiteServer(legacy_site) as legacy, SiteServer(new_site, host="127.0.0.2") as new:
        legacy_site.add("/", '<html><body><a href="/a">a</a></body></html>')
        legacy_site.add("/a", "", status=301, Location=f"{new.base_url}/a")
        manifest = tmp_path / "narrow.toml"
        manifest.write_text(f'name = "narrow"\n[legacy]\nseeds = ["{legacy.base_url}/"]\n[new]\nseeds = ["{new.base_url}/"]\n'
                            '[crawl]\ndelay = 0\n[mapping]\nallowed_hosts = ["elsewhere.example"]\n')
        code = main(["run", str(manifest), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "include none of the hosts the new site's capture has pages on" in err and "elsewhere.example" in err
    run = next((tmp_path / "out" / "narrow" / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["exit_code"] == 2 and "redirects" not in summary


def test_audit_under_threshold_exits_3_and_still_keeps_the_run(tmp_path, capsys):
    """Also: the manifest's [crawl.headers] are sent but not archived (record_credentials is off)."""
    from archiver.demo.site import Site

    legacy_site, new_site = Site(), Site()
    legacy_site.add("/", '<html><body><a href="/a">a</a> <a href="/missing">m</a></body></html>')
    legacy_site.add("/a", "<html><head><title>A</title></head><body><p>Page A</p></body></html>")
    new_site.add("/", "<html><body><p>New</p></body></html>")
    with SiteServer(legacy_site) as legacy, SiteServer(new_site, host="127.0.0.2") as new:
        manifest = tmp_path / "small.toml"
        manifest.write_text(f'name = "small"\n[legacy]\nseeds = ["{legacy.base_url}/"]\n[new]\nseeds = ["{new.base_url}/"]\n'
                            '[crawl]\ndelay = 0\n[crawl.headers]\nAuthorization = "Bearer s3cret"\n'
                            '[audit]\nfail_under = 1.0\n')
        code = main(["run", str(manifest), "--out", str(tmp_path / "out"), "--quiet"])
        sent = [r.headers.get("Authorization") for r in legacy.requests]
    out = capsys.readouterr().out.strip()
    assert code == 3
    assert out.count("\n") == 0 and out.startswith("archiver small: incomplete | ") and "< 100%" in out
    latest = (tmp_path / "out" / "small" / "latest").resolve()
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["status"] == "incomplete" and summary["exit_code"] == 3
    assert summary["audit"]["completeness"] < 1.0 and not summary["audit"]["passed"]
    assert (latest / "audit" / "audit.html").is_file()
    assert sent and set(sent) == {"Bearer s3cret"}
    requests_archived = [r for r in _records(latest / "legacy") if r[0] == "request"]
    assert requests_archived and not any("s3cret" in r[1] for r in requests_archived)


def _records(crawl_dir: Path) -> list[tuple[str, str]]:
    """(type, HTTP head as text) of every record."""
    out = []
    for path in sorted((crawl_dir / "warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                head = record.http_headers.to_str() if record.http_headers else ""
                out.append((record.rec_type, head))
    return out


def test_run_killed_mid_crawl_is_resumed_in_its_own_directory(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from archiver.demo.site import Site

    legacy_site, new_site = Site(), Site()
    legacy_site.add("/", "<html><body>" + "".join(f'<a href="/p{i}">{i}</a>' for i in range(12)) + "</body></html>")
    for i in range(12):
        legacy_site.add(f"/p{i}", f"<html><head><title>Page {i}</title></head><body><p>Text {i}</p></body></html>")
    new_site.add("/", "<html><body><p>New</p></body></html>")
    out = tmp_path / "out"
    with SiteServer(legacy_site, latency=0.3) as legacy, SiteServer(new_site, host="127.0.0.2") as new:
        manifest = tmp_path / "slow.toml"
        manifest.write_text(f'name = "slow"\n[legacy]\nseeds = ["{legacy.base_url}/"]\n[new]\nseeds = ["{new.base_url}/"]\n'
                            '[crawl]\ndelay = 0\nconcurrency = 1\n')
        proc = subprocess.Popen([sys.executable, "-m", "archiver", "run", str(manifest), "--out", str(out), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not any(r.status == 200 and r.path.startswith("/p") for r in legacy.requests):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = next((out / "slow" / "runs").iterdir())
        assert not (killed / "summary.json").exists() and not (out / "slow" / "latest").exists()
        fetched_before = {r.path for r in legacy.requests if r.status == 200}
        legacy.latency = 0
        legacy.clear_log()
        assert main(["run", str(manifest), "--out", str(out), "--quiet"]) == 0
    assert list((out / "slow" / "runs").iterdir()) == [killed]
    assert (out / "slow" / "latest").resolve() == killed.resolve()
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["resumed"] is True and summary["stale_lock_taken_over"]["pid"] == proc.pid
    assert summary["crawl"]["legacy"]["fetched"] == 14  # robots.txt, / and 12 pages, each once
    refetched = {r.path for r in legacy.requests if r.status == 200} & fetched_before - {"/robots.txt"}
    assert len(refetched) <= 1, refetched  # at most the page in flight when killed
    assert not list(killed.rglob("*.open"))
