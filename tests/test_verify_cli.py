"""``archiver verify`` on the command line: exit codes 0/3/2, the one-line
summary, verify.json/verify.html (hostile titles and Locations escaped), and
a run directory whose new-site capture tells a replaced page from the mapped one."""
from __future__ import annotations

import json
import re
import shutil
from html import escape

import lxml.html
import pytest

from archiver.capture import CrawlConfig, crawl
from archiver.cli import main
from archiver.export import export_all
from archiver.types import RedirectRow

from servers import Resource, TestServer, html, redirect
from webservers import free_port

OLD = "http://old.example"
HOSTILE_TITLE = 'Page not found: </td><script>alert(1)</script><img src=x onerror="alert(2)">'


def text_page(n: int, title: str) -> Resource:
    words = " ".join(f"Section {n} explains rule {n}.{k} of the procedure in plain words." for k in range(8))
    return Resource(200, body=html(words, title=title))


@pytest.fixture
def sites():
    home = Resource(200, body=html("Portal of the ministry", title="Portal", links=("/p1", "/p2", "/p3")))
    with TestServer(defaults=False) as old, TestServer({"/": home, "/p1": text_page(1, "Rule one"),
                                                      "/p2": text_page(2, "Rule two"),
                                                      "/p3": text_page(3, "Rule three")}, defaults=False) as new:
        for n in (1, 2, 3):
            old.add(f"/r{n}", redirect(new.url(f"/p{n}")))
        old.add("/gone", Resource(410, body=b"gone"))
        yield old, new


def write_manifest(folder, new_base: str, extra_rows=()) -> None:
    rows = [RedirectRow(f"{OLD}/r{n}", f"{new_base}/p{n}", 301, "page", "content", 0.9) for n in (1, 2, 3)]
    rows += [RedirectRow(f"{OLD}/gone", None, 410, "gone", "gone", 1.0),
             RedirectRow(f"{OLD}/unmatched", None, None, "unmatched", "none", 0.0), *extra_rows]
    export_all(rows, folder, allowed_hosts=[new_base.split("//")[1]], formats=["csv"])


def verify(*args: str) -> int:
    return main(["verify", *args, "--delay", "0", "--max-retries", "0"])


def test_exit_codes_and_one_line_summary(tmp_path, sites, capsys):
    old, new = sites
    write_manifest(tmp_path, new.base_url)
    csv = str(tmp_path / "redirects.csv")
    assert verify(csv, "--against", old.base_url, "--allowed-host", new.base_url) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"verify {old.base_url}: 5 rows, 4 checked: 3 ok, 1 gone_ok; 1 not checked; 100.0% right: passed"
                    f" | {tmp_path / 'verify' / 'verify.html'}")
    old.add("/r3", redirect(new.url("/p3"), 302))
    assert verify(csv, "--against", old.base_url, "--allowed-host", new.base_url, "--out", str(tmp_path / "o")) == 3
    line = capsys.readouterr().out.strip()
    assert "3 ok" not in line and "2 ok, 1 gone_ok, 1 wrong_status" in line and "75.0% right < 100%: FAILED" in line
    report = json.loads((tmp_path / "o" / "verify.json").read_text())
    assert report["verdicts"] == {"ok": 2, "gone_ok": 1, "wrong_status": 1, "not_checked": 1}
    assert report["passed"] is False and report["checked"] == 4 and report["hosts"]["old.example"]["wrong_status"] == 1
    assert verify(csv, "--against", old.base_url, "--allowed-host", new.base_url, "--fail-under", "75%") == 0


def test_bad_usage_exits_2_with_one_line(tmp_path, sites, capsys):
    old, new = sites
    write_manifest(tmp_path, new.base_url)
    csv = str(tmp_path / "redirects.csv")
    (tmp_path / "list.csv").write_text("url\nhttp://old.example/a\n")
    (tmp_path / "empty").mkdir()
    cases = {
        "no such file": [str(tmp_path / "missing.csv"), "--against", old.base_url],
        "without a path": [csv, "--against", old.base_url + "/staging"],
        "not an http(s) URL": [csv, "--against", "ftp://old.example"],
        "no old_url, new_url, status column": [str(tmp_path / "list.csv"), "--against", old.base_url],
        "not a run directory": [str(tmp_path / "empty"), "--against", old.base_url],
        "give --against": [csv],
        "no answer to any request": [csv, "--against", f"http://127.0.0.1:{free_port()}", "--max-retries", "0"],
        "delay: expected a number >= 0": [csv, "--against", old.base_url, "--delay", "-1"],
    }
    for message, args in cases.items():
        assert main(["verify", *args]) == 2, message
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    with pytest.raises(SystemExit) as exited:
        main(["verify", csv, "--against", old.base_url, "--fail-under", "2"])
    assert exited.value.code == 2


def test_report_escapes_hostile_titles_and_locations(tmp_path, sites):
    old, new = sites
    new.add("/p1", Resource(200, body=html("nothing here", title=escape(HOSTILE_TITLE))))
    old.add("/evil", Resource(301, {"Location": 'http://evil.example/"><script>alert(3)</script>',
                                    "Content-Type": "text/html"}, b""))
    write_manifest(tmp_path, new.base_url, [RedirectRow(f"{OLD}/evil", new.url("/p9"), 301, "page", "content", 0.9)])
    assert verify(str(tmp_path / "redirects.csv"), "--against", old.base_url, "--allowed-host", new.base_url) == 3
    page = (tmp_path / "verify" / "verify.html").read_text()
    doc = lxml.html.fromstring(page)
    assert len(doc.xpath("//script")) == 1 and not doc.xpath("//img") and not doc.xpath("//*[@onerror]")
    assert "alert(3)" not in doc.xpath("//script")[0].text and "evil.example" not in page
    rows = {tr.xpath("string(td[2])"): tr for tr in doc.xpath("//table[@id='rows']/tbody/tr")}
    soft = rows[f"{OLD}/r1"]
    assert soft.get("data-verdict") == "target_soft_404" and soft.xpath("string(td[7])") == HOSTILE_TITLE
    assert rows[f"{OLD}/evil"].get("data-verdict") == "off_host"
    assert "hxxp[:]//evil[.]example/" in rows[f"{OLD}/evil"].xpath("string(td[4])")
    data = json.loads((tmp_path / "verify" / "verify.json").read_text())
    assert next(r for r in data["rows"] if r["old_url"] == f"{OLD}/r1")["final_title"] == HOSTILE_TITLE


def test_run_directory_compares_targets_with_the_new_sites_capture(tmp_path, sites, capsys):
    old, new = sites
    run = tmp_path / "out" / "job" / "runs" / "20240101T000000Z"
    run.mkdir(parents=True)
    assert crawl(CrawlConfig(seeds=[new.url("/")], out_dir=run / "new", delay=0, progress="none")).ok
    write_manifest(run, new.base_url)
    (run / "manifest.toml").write_text(f"""name = "job"
[legacy]
seeds = ["{old.base_url}/"]
[new]
seeds = ["{new.base_url}/"]
[crawl]
delay = 0
max_retries = 0
[verify]
against = "{old.base_url}"
""")
    # since the capture: p2 replaced by a maintenance page (no "not found" wording, not the home page), p3 edited
    new.add("/p2", Resource(200, body=html("We are updating this part of the portal. Come back later.",
                                           title="Maintenance")))
    edited = text_page(3, "Rule three (updated)")
    new.add("/p3", Resource(200, body=edited.body.replace(b"plain words", b"simpler words")))
    assert main(["verify", str(run)]) == 3  # BASE_URL, allowed hosts and politeness from the run's manifest
    assert re.search(r"4 checked: 2 ok, 1 gone_ok, 1 target_soft_404; 1 not checked", capsys.readouterr().out)
    rows = {r["old_url"]: r for r in json.loads((run / "verify" / "verify.json").read_text())["rows"]}
    assert rows[f"{OLD}/r2"]["verdict"] == "target_soft_404" and 'captured as "Rule two"' in rows[f"{OLD}/r2"]["detail"]
    assert rows[f"{OLD}/r3"]["verdict"] == "ok"
    # the same manifest without the capture cannot tell the maintenance page from the mapped one
    shutil.copy(run / "redirects.csv", tmp_path / "redirects.csv")
    assert verify(str(tmp_path / "redirects.csv"), "--against", old.base_url, "--allowed-host", new.base_url) == 0


def test_rows_that_cannot_be_checked_are_reported_and_never_requested(tmp_path, sites, capsys):
    old, new = sites
    (tmp_path / "redirects.csv").write_text(
        "old_url,new_url,status,kind\n"
        f"{OLD}/r1,{new.url('/p1')},301,page\n"
        f"{OLD}/temporary,{new.url('/p1')},302,page\n"
        f"{OLD}/no-target,,308,page\n"
        f"javascript:alert(1),{new.url('/p1')},301,page\n"
        f"{OLD}/bad-target,javascript:alert(1),301,page\n"
        f"{OLD}/unmatched,,,unmatched\n")
    assert verify(str(tmp_path / "redirects.csv"), "--against", old.base_url, "--allowed-host", new.base_url) == 0
    assert "1 checked: 1 ok; 5 not checked; 100.0% right: passed" in capsys.readouterr().out
    rows = {r["old_url"]: r for r in json.loads((tmp_path / "verify" / "verify.json").read_text())["rows"]}
    assert {u: r["verdict"] for u, r in rows.items()} == {
        f"{OLD}/r1": "ok", f"{OLD}/temporary": "not_checked", f"{OLD}/no-target": "not_checked",
        "javascript:alert(1)": "not_checked", f"{OLD}/bad-target": "not_checked", f"{OLD}/unmatched": "not_checked"}
    assert "is not 301, 308 or 410" in rows[f"{OLD}/temporary"]["detail"]
    assert "without a new URL" in rows[f"{OLD}/no-target"]["detail"]
    assert "old URL is not usable" in rows["javascript:alert(1)"]["detail"]
    assert "new URL is not usable" in rows[f"{OLD}/bad-target"]["detail"]
    assert [h.path for h in old.log] == ["/r1"]
