"""A programme: three generated legacy sites moved into one portal, as one job.

Real servers on loopback (the legacy sites on 127.0.0.3-5, the portal on
127.0.0.2), a real Dask cluster (``dask scheduler`` and two ``dask worker``
processes), a worker killed with SIGKILL in the middle of a crawl, and the
combined exports loaded into the real nginx and Apache.
"""
from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from archiver.cli import main
from archiver.demo.server import SiteServer
from archiver.demo.sitegen import generate_programme
from archiver.jobs.layout import RunLayout
from archiver.review import ReviewSession

from warcs import warc_records, warcio_check
from webservers import APACHE, NGINX, apache_conf, free_port, nginx_conf, raw_get, require, run_apache, run_nginx, stop

ARCHIVER = Path(sys.executable).parent / "archiver"
SITES = ("mnz", "mju", "mzz")
MANIFEST = """
name = "gov"
[new]
seeds = ["{new}/"]
sitemaps = ["{new}/sitemap.xml"]
[crawl]
delay = 0
concurrency = 4
[audit]
fail_under = 0.5
"""
SITE = """
[[legacy]]
name = "{name}"
seeds = ["{base}/"]
sitemaps = ["{base}/sitemap.xml"]
"""


def _server(host: str) -> SiteServer:
    """A started SiteServer on ``host``, or on 127.0.0.1 where that address cannot be bound."""
    try:
        return SiteServer(host=host).start()
    except OSError:
        return SiteServer().start()


@pytest.fixture(scope="module")
def programme():
    # Apache's unprivileged worker reads the exported map where the run wrote it: a directory it may enter
    root = Path(tempfile.mkdtemp(prefix="archiver-programme-"))
    root.chmod(0o755)
    try:
        with contextlib.ExitStack() as stack:
            portal = stack.enter_context(_server("127.0.0.2"))
            legacy = {name: stack.enter_context(_server(f"127.0.0.{3 + k}")) for k, name in enumerate(SITES)}
            generated = generate_programme([s.base_url for s in legacy.values()], portal.base_url, n_articles=12,
                                           seed=5)
            assert tuple(generated.sites) == SITES
            portal.site = generated.new
            for name, server in legacy.items():
                server.site = generated.sites[name].legacy
            manifest = root / "gov.toml"
            manifest.write_text(MANIFEST.format(new=portal.base_url) + "".join(
                SITE.format(name=name, base=server.base_url) for name, server in legacy.items()), encoding="utf-8")
            yield {"root": root, "portal": portal, "legacy": legacy, "manifest": manifest}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(programme, out: str, *extra: str) -> tuple[int, Path, list]:
    """``archiver run`` in this process: (exit code, run directory, the portal's requests during the run)."""
    programme["portal"].clear_log()
    code = main(["run", str(programme["manifest"]), "--out", str(programme["root"] / out), "--quiet", *extra])
    return code, (programme["root"] / out / "gov" / "latest").resolve(), programme["portal"].requests


@pytest.fixture(scope="module")
def sequential(programme):
    code, run_dir, requests = _run(programme, "sequential")
    assert code == 0
    return {"run": run_dir, "requests": requests}


def _fetched_once(requests) -> None:
    """The portal was crawled once: every URL it was asked for, asked once."""
    counts = Counter(r.path for r in requests)
    assert counts and max(counts.values()) == 1, [p for p, n in counts.items() if n > 1]


def _crawl_log(crawl_dir: Path) -> dict[str, int]:
    """URL -> final status of every URL a crawl fetched."""
    entries = [json.loads(line) for line in (crawl_dir / "crawl.jsonl").read_text().splitlines() if line.strip()]
    return {e["url"]: e["status"] for e in entries if e.get("status") is not None}


def _same_redirects(one: Path, other: Path) -> None:
    for name in ("", *(f"sites/{site}/" for site in SITES)):
        assert (one / name / "redirects.csv").read_bytes() == (other / name / "redirects.csv").read_bytes(), name


def test_a_programme_gives_each_site_its_results_and_every_site_one_export(programme, sequential):
    run = sequential["run"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["cluster"] == "in-process"
    assert list(summary["sites"]) == list(SITES)
    combined = set((run / "redirects.csv").read_text().splitlines()[1:])
    each: set[str] = set()
    for name in SITES:
        site = run / "sites" / name
        for part in ("legacy/crawl.jsonl", "notices.jsonl", "redirects.csv", "redirects.nginx.conf", "audit/audit.json"):
            assert (site / part).is_file(), (name, part)
        rows = (site / "redirects.csv").read_text().splitlines()[1:]
        host = urlsplit(programme["legacy"][name].base_url).netloc
        assert rows and all(urlsplit(next(csv.reader([row]))[0]).netloc == host for row in rows)
        assert summary["sites"][name]["redirects"]["rows"] == len(rows)
        each.update(rows)
    assert combined == each  # the combined export holds every site's rows, and nothing else
    assert not (run / "legacy").exists() and (run / "new" / "crawl.jsonl").is_file()
    assert not (run / "portal-index.pickle").exists()  # read by every mapping, kept by none
    _fetched_once(sequential["requests"])


def test_the_cluster_gives_the_same_redirects_and_crawls_the_portal_once(programme, sequential, dask_cluster):
    code, run, requests = _run(programme, "cluster", "--scheduler", dask_cluster.address)
    assert code == 0
    _same_redirects(sequential["run"], run)
    _fetched_once(requests)
    summary = json.loads((run / "summary.json").read_text())
    assert dask_cluster.address in summary["cluster"]
    for name in SITES:
        assert _crawl_log(run / "sites" / name / "legacy") == _crawl_log(sequential["run"] / "sites" / name / "legacy")


def _worker_with_connection(cluster, address: tuple[str, int]) -> int:
    """The pid of the worker process that holds the TCP connection whose local end is ``address``."""
    for worker in cluster.alive():
        for conn in psutil.Process(worker.pid).net_connections(kind="tcp"):
            if conn.laddr and (conn.laddr.ip, conn.laddr.port) == tuple(address):
                return worker.pid
    raise AssertionError(f"no worker holds the connection from {address}")


def test_a_worker_killed_in_the_middle_of_a_crawl(programme, sequential, dask_cluster):
    """A legacy site's server holds one request until the test has SIGKILLed the worker that sent it:
    Dask runs the crawl task again on the other worker, the crawl resumes from its state, and the run
    ends with every page captured once (again only as a revisit) and the WARC files whole."""
    server = programme["legacy"]["mju"]
    held_path = next(path for path in server.site.resources if "/article/" in path)
    arrived, release, sender = threading.Event(), threading.Event(), {}

    def hold(path: str, client: tuple[str, int]) -> None:
        if path == held_path and not arrived.is_set():
            sender["address"] = client
            arrived.set()
            release.wait(120)

    out = programme["root"] / "killed"
    server.on_request = hold
    try:
        run = subprocess.Popen([str(ARCHIVER), "run", str(programme["manifest"]), "--out", str(out), "--quiet",
                                "--scheduler", dask_cluster.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while not arrived.wait(0.1):
            assert run.poll() is None, run.stdout.read().decode(errors="replace")
        dask_cluster.kill(_worker_with_connection(dask_cluster, sender["address"]))
    finally:
        release.set()
        server.on_request = None
    output = run.communicate(timeout=600)[0].decode(errors="replace")
    assert run.returncode == 0, output
    dask_cluster.ensure_workers()

    run_dir = (out / "gov" / "latest").resolve()
    crawl = run_dir / "sites" / "mju" / "legacy"
    with sqlite3.connect(crawl / "state.sqlite3") as db:  # the task ran again and resumed the crawl
        assert db.execute("SELECT 1 FROM meta WHERE k='resumed'").fetchone() is not None
    layout = RunLayout.of(run_dir)
    for name, crawl_dir in layout.crawls().items():
        if name != "new":
            assert _crawl_log(crawl_dir) == _crawl_log(sequential["run"] / "sites" / name / "legacy"), name
        responses = Counter(uri for kind, uri, _ in warc_records(crawl_dir) if kind == "response")
        assert responses and max(responses.values()) == 1, [u for u, n in responses.items() if n > 1]
        warcio_check(sorted((crawl_dir / "warc").glob("*.warc.gz")))
    for name in SITES:  # the job's audit read every record back with archiver's reader
        audit = json.loads((run_dir / "sites" / name / "audit" / "audit.json").read_text())
        assert audit["integrity_errors"] == [], (name, audit["integrity_errors"][:3])
    _same_redirects(sequential["run"], run_dir)


def _answers_every_host(port: int, run_dir: Path) -> int:
    """Each row of the combined redirects.csv, requested with its own Host: 301 to its target or 410."""
    with (run_dir / "redirects.csv").open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["status"]]
    hosts = {urlsplit(row["old_url"]).hostname for row in rows}
    assert len(hosts) == len(SITES), hosts
    for row in rows:
        old = urlsplit(row["old_url"])
        target = old.path + (f"?{old.query}" if old.query else "")
        expected = (410, None) if row["status"] == "410" else (int(row["status"]), row["new_url"])
        assert raw_get(port, target, host=old.hostname) == expected, row
    return len(rows)


def test_one_nginx_answers_every_legacy_host(programme, sequential, tmp_path):
    require(NGINX)
    port = free_port()
    proc = run_nginx(tmp_path, nginx_conf(tmp_path, sequential["run"], port), port)
    try:
        assert _answers_every_host(port, sequential["run"]) > 30
        # archiver verify, given the run or one site, asks the same nginx with each old URL's own host
        assert main(["verify", str(sequential["run"]), "--against", f"http://127.0.0.1:{port}",
                     "--out", str(tmp_path / "verify-all")]) == 0
        site = sequential["run"] / "sites" / "mzz"
        assert main(["verify", str(site), "--against", f"http://127.0.0.1:{port}"]) == 0
        report = json.loads((site / "verify" / "verify.json").read_text())
        assert report["checked"] > 10 and report["right"] == report["checked"]
    finally:
        stop(proc)


def test_one_apache_answers_every_legacy_host(programme, sequential):
    require(APACHE)
    server_root = programme["root"] / "apache"
    server_root.mkdir()
    port = free_port()
    proc = run_apache(apache_conf(server_root, sequential["run"], port), port)
    try:
        assert _answers_every_host(port, sequential["run"]) > 30
    finally:
        stop(proc)


def test_each_site_is_recrawled_against_its_own_previous_crawl(programme, sequential, capsys):
    code, run, _ = _run(programme, "sequential")
    assert code == 0 and run != sequential["run"]
    summary = json.loads((run / "summary.json").read_text())
    for name in SITES:
        crawl = summary["sites"][name]["crawl"]
        assert crawl["incremental_from"] == sequential["run"].name and crawl["revisits"] > 10, (name, crawl)
        assert crawl["originals_in"] == [sequential["run"].name]
        host = urlsplit(programme["legacy"][name].base_url).netloc
        assert {urlsplit(uri).netloc for _, uri, _ in warc_records(run / "sites" / name / "legacy") if uri} == {host}
    assert summary["diff"]["sites"] == {name: {"new": 0, "changed": 0, "gone": 0} for name in SITES}
    capsys.readouterr()
    assert main(["diff", str(programme["root"] / "sequential" / "gov")]) == 0
    printed = capsys.readouterr().out
    assert all(f" site {name}" in printed for name in SITES) and " new site" in printed
    # the originals of a site's revisits are found in its own earlier crawl
    assert main(["wacz", str(run / "sites" / "mnz" / "legacy")]) == 0
    assert "from earlier crawls" in capsys.readouterr().out
    with ReviewSession.open(programme["root"] / "sequential" / "gov") as session:
        shown = {urlsplit(item["old_url"]).netloc for item in session.state()["items"]}
        assert len(shown) == len(SITES)  # every site's rows to review, with their archived pages
        url = next(item["old_url"] for item in session.state()["items"] if session.detail(item["old_url"])["old"]["captured"])
        assert session.render(url)


@pytest.mark.parametrize("sites, expected", [
    ('name = "mnz"\nseeds = ["http://www.mnz.example/"]\n[[legacy]]\nname = "MNZ"\nseeds = ["http://mnz.example/"]',
     "[[legacy]] name: 'MNZ' names two sites (1 and 2)"),
    ('name = "mnz"\nseeds = ["http://www.mnz.example/"]\n[[legacy]]\nseeds = ["http://www.mju.example/"]',
     "[[legacy]] name: required (site 2 has none"),
    ('name = "mnz"\nseeds = ["http://www.mnz.example/"]\nsitemap = "http://www.mnz.example/sitemap.xml"',
     "[[legacy]] sitemap: unknown key"),
    ('name = "mnz"\nseeds = ["http://www.mnz.example/"]\n[[legacy]]\nname = "mju"\n'
     'seeds = ["http://www.mju.example/", "https://www.mnz.example/en/"]',
     "[[legacy]] seeds: www.mnz.example is in sites 'mnz' and 'mju'"),
    ('name = "mnz"\nseeds = ["http://www.mnz.example/"]\nverify_against = "http://www.mnz.example/en/"',
     "[[legacy]] verify_against: expected scheme://host[:port] without a path"),
])
def test_programme_manifest_errors_are_one_line_exit_2(tmp_path, capsys, sites, expected):
    path = tmp_path / "gov.toml"
    path.write_text(MANIFEST.format(new="https://www.gov.example") + "[[legacy]]\n" + sites + "\n", encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_site_fails_the_run_after_the_others_are_done(programme, tmp_path, capsys):
    """One site's failure is the run's (exit 2, its line), and does not stop the other sites' tasks."""
    path = tmp_path / "gov.toml"
    path.write_text(MANIFEST.format(new=programme["portal"].base_url).replace("concurrency = 4", "concurrency = 4\nmax_retries = 0")
                    + SITE.format(name="mnz", base=programme["legacy"]["mnz"].base_url)
                    + SITE.format(name="closed", base=f"http://127.0.0.1:{free_port()}"), encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "site closed: nothing could be fetched" in err, err
    run = next((tmp_path / "out" / "gov" / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("failed", 2)
    assert summary["sites"]["mnz"]["audit"]["passed"] and (run / "sites" / "mnz" / "redirects.csv").is_file()
    assert (run / "new" / "crawl.jsonl").is_file()  # the new site was crawled for the sites that could be
    assert not (run / "sites" / "closed" / "redirects.csv").exists() and not (run / "redirects.csv").exists()
    assert not (tmp_path / "out" / "gov" / "latest").exists()
