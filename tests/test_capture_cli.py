"""``archiver crawl``: exit codes, one-line errors, manifests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archiver.capture.crawllog import read_crawl_log
from archiver.cli import main

from servers import TestServer

ARCHIVER = str(Path(sys.executable).parent / "archiver")


def test_crawl_command_exit_0_and_summary(tmp_path):
    with TestServer() as srv:
        proc = subprocess.run([ARCHIVER, "crawl", srv.url("/"), "--out", str(tmp_path / "c"), "--delay", "0",
                               "--max-pages", "5", "--progress", "plain", "--user-agent", "TestBot/1.0"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "crawl finished: 5 fetched (" in proc.stderr  # --max-pages 5: five URLs, robots.txt among them
        assert all(h.headers.get("User-Agent") == "TestBot/1.0" for h in srv.log)
    rows = list(read_crawl_log(tmp_path / "c" / "crawl.jsonl"))
    assert sum(1 for r in rows if r["state"] == "done") == 5
    assert list((tmp_path / "c" / "warc").glob("*.warc.gz"))


@pytest.mark.parametrize("argv, message", [
    (["http://h.test/", "--out", "X", "--concurrency", "0"], "--concurrency"),
    (["http://h.test/", "--out", "X", "--delay", "soon"], "--delay"),
    (["http://h.test/", "--out", "X", "--max-pages", "-3"], "--max-pages"),
    (["http://h.test/", "--out", "X", "--include", "(unclosed"], "bad regular expression"),
    (["ftp://h.test/", "--out", "X"], "not an http(s) URL"),
    (["http://h.test:99999/", "--out", "X"], "bad port"),
    (["--out", "X"], "at least one seed"),
    (["http://h.test/"], "--out DIR is required"),
    (["missing.toml"], "manifest not found"),
    (["http://h.test/", "--out", "X", "--header", "no-colon"], "--header"),
])
def test_bad_values_are_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["crawl", *argv])
    except SystemExit as exc:  # argparse's own exit for a bad option value
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "X").exists()


def test_a_directory_holding_another_sites_crawl_is_refused(tmp_path, capsys):
    """Crawling site B into a directory that holds site A's crawl would "resume" A with B's
    seed out of scope and exit 0: it is refused with one line, exit 2, and nothing changes."""
    out = tmp_path / "c"
    with TestServer() as a, TestServer() as b:
        assert main(["crawl", a.url("/"), "--out", str(out), "--delay", "0", "--max-pages", "3",
                     "--progress", "none"]) == 0
        before = sorted((p.name, p.stat().st_size) for p in out.rglob("*") if p.is_file())
        capsys.readouterr()
        code = main(["crawl", b.url("/"), "--out", str(out), "--progress", "none"])
        assert b.log == []
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert f"holds a crawl of {a.url('/')}" in err and "start fresh" in err
        assert sorted((p.name, p.stat().st_size) for p in out.rglob("*") if p.is_file()) == before
        # another seed on the same site continues that crawl, as before
        assert main(["crawl", a.url("/a.html"), "--out", str(out), "--delay", "0", "--progress", "none"]) == 0
    assert any(r["url"] == a.url("/a.html") and r["state"] == "done" for r in read_crawl_log(out / "crawl.jsonl"))


def test_unreachable_seeds_exit_2_with_a_clear_line(tmp_path, capsys):
    with TestServer(defaults=False) as srv:
        dead = srv.url("/")
    code = main(["crawl", dead, "--out", str(tmp_path / "c"), "--max-retries", "0", "--progress", "none"])
    assert code == 2
    assert "every seed was unreachable" in capsys.readouterr().err


def test_crawl_from_manifest_with_command_line_overrides(tmp_path):
    with TestServer() as srv:
        manifest = tmp_path / "site.toml"
        manifest.write_text(f'''
name = "ministry"
[legacy]
seeds = ["{srv.url("/")}"]
sitemaps = ["{srv.url("/sitemap.xml")}"]
exclude = ["/b\\\\.html$"]
[new]
seeds = ["http://new.example.org/"]
[crawl]
delay = 0.0
concurrency = 2
''')
        proc = subprocess.run([ARCHIVER, "crawl", str(manifest), "--out", str(tmp_path / "c"), "--ignore-robots",
                               "--progress", "none"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "ignoring robots.txt" in proc.stderr  # the override is logged
        assert srv.count("/only-in-sitemap.html") == 1  # the manifest's sitemap was read
        assert srv.count("/b.html") == 0  # and its exclude obeyed
        assert srv.count("/robots.txt") == 0
    rows = {r["url"]: r for r in read_crawl_log(tmp_path / "c" / "crawl.jsonl")}
    assert rows[srv.url("/b.html")]["skipped_reason"] == "excluded"


def test_bad_manifest_is_one_line_exit_2(tmp_path):
    manifest = tmp_path / "bad.toml"
    manifest.write_text('name = "x"\n[legacy]\nseeds = ["http://h.test/"]\n[new]\nseeds = ["http://n.test/"]\n'
                        '[crawl]\nconcurrency = "four"\n')
    proc = subprocess.run([ARCHIVER, "crawl", str(manifest), "--out", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "concurrency" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_progress_plain_lines_live_display_and_summary():
    import io

    from archiver.capture.progress import Progress, Stats

    stats = Stats(fetched=12, queued=30, errors=1, bytes=2_500_000)
    out = io.StringIO()
    progress = Progress("auto", interval=0, stream=out)  # not a terminal: plain lines
    assert progress.mode == "plain"
    progress.start(stats)
    progress.update(stats)
    progress.summary("crawl finished: 12 fetched")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("crawl: fetched 12 (") and "queued 30" in lines[0] and "errors 1" in lines[0]
    assert "2.5 MB" in lines[0] and lines[-1] == "crawl finished: 12 fetched"

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    live = Progress("auto", stream=tty)
    assert live.mode == "live"
    live.start(stats)
    live.update(stats)
    live.stop()
    assert "fetched" in tty.getvalue() and "queued" in tty.getvalue()
    quiet = io.StringIO()
    Progress("none", stream=quiet).summary("x")
    assert quiet.getvalue() == ""


def test_seeds_disallowed_by_robots_say_so(tmp_path, capsys):
    from servers import Resource

    with TestServer(defaults=False) as srv:
        srv.add("/robots.txt", Resource(200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /\n"))
        code = main(["crawl", srv.url("/"), "--out", str(tmp_path / "c"), "--progress", "none"])
        assert srv.count("/") == 0
    assert code == 2
    assert "robots.txt disallows every seed" in capsys.readouterr().err


def test_every_option_reaches_the_config(tmp_path):
    from archiver.capture.cli import build_config
    from archiver.cli import build_parser

    args = build_parser().parse_args([
        "crawl", "http://h.test/", "--out", str(tmp_path), "--sitemap", "http://h.test/s.xml", "--include", "a",
        "--exclude", "b", "--max-pages", "5", "--max-depth", "3", "--concurrency", "6",
        "--per-host-concurrency", "3", "--delay", "1.5", "--timeout", "9", "--max-retries", "0", "--url-budget", "45",
        "--ignore-robots",
        "--user-agent", "UA/1", "--header", "X-Test: 1", "--warc-max-size", "1000", "--max-response-bytes", "99",
        "--no-offsite-requisites", "--record-credentials", "--previous", str(tmp_path), "--progress", "plain"])
    c = build_config(args)
    assert (c.seeds, c.sitemaps, c.include, c.exclude) == (["http://h.test/"], ["http://h.test/s.xml"], ["a"], ["b"])
    assert (c.max_pages, c.max_depth, c.concurrency, c.per_host_concurrency) == (5, 3, 6, 3)
    assert (c.delay, c.timeout, c.max_retries, c.ignore_robots, c.user_agent) == (1.5, 9, 0, True, "UA/1")
    assert c.url_budget == 45
    assert (c.extra_headers, c.warc_max_size, c.max_response_bytes) == ({"X-Test": "1"}, 1000, 99)
    assert (c.requisites_any_host, c.record_credentials, c.progress) == (False, True, "plain")
    assert c.previous == tmp_path
    defaults = build_config(build_parser().parse_args(["crawl", "http://h.test/", "--out", str(tmp_path)]))
    assert defaults.requisites_any_host is True and defaults.record_credentials is False and defaults.delay == 0.25
