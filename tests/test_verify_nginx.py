"""``archiver verify`` against the real nginx loaded with the project's own export.

The old site is nginx serving the export of a redirect manifest for two old
host names (so the map keys on ``$host$request_uri`` and verify must send the
old Host); the new site is a loopback server. A correct deploy gives every
row its right verdict; a deliberately broken deploy of the same manifest
gives each broken row exactly its verdict and leaves the others as they were.
"""
from __future__ import annotations

import pytest

from archiver.capture.config import CrawlConfig
from archiver.export import export_all
from archiver.types import RedirectRow
from archiver.verify import read_rows, verify_redirects

from servers import Resource, TestServer, html, redirect
from webservers import NGINX, free_port, nginx_conf, require, run_nginx, stop

FAST = CrawlConfig(delay=0, max_retries=0, timeout=10, total_timeout=20)
OLD = "http://old.example"
WWW = "http://www.old.example"


def page(n: int) -> Resource:
    text = " ".join(f"Paragraph {n} of the ministry's article about topic {n}, with its own words." for _ in range(5))
    return Resource(200, body=html(text, title=f"Article {n}"))


HOME = Resource(200, body=html("Welcome to the portal of the government. News, services, contacts.", title="Portal"))


def manifest(new: str) -> list[RedirectRow]:
    """The manifest every deploy is checked against."""
    rows = [RedirectRow(f"{OLD}/a/{n}", f"{new}/news/{n}", 301, "page", "content", 0.9) for n in range(10)]
    rows += [
        RedirectRow(f"{WWW}/b?id=10", f"{new}/news/10", 308, "page", "http_redirect", 1.0),
        RedirectRow(f"{OLD}/caf%C3%A9/%2Fslash", f"{new}/news/11", 301, "page", "content", 0.8),  # raw escapes kept
        RedirectRow(f"{OLD}/gone", None, 410, "gone", "gone", 1.0),
        RedirectRow(f"{WWW}/unmatched", None, None, "unmatched", "none", 0.0),
    ]
    return rows


def deploy(tmp_path, name: str, rows: list[RedirectRow], new_host: str, extra: str = ""):
    out = tmp_path / name
    export_all(rows, out, allowed_hosts=[new_host], formats=["nginx", "csv"])
    port = free_port()
    return out, port, run_nginx(tmp_path / name, nginx_conf(tmp_path / name, out, port, extra=extra), port)


def intended_rows(tmp_path, rows, new):
    """The manifest as deployed when nothing is broken (its redirects.csv)."""
    out = tmp_path / "intended"
    export_all(rows, out, allowed_hosts=[new.split("//")[1]], formats=["csv"])
    return read_rows(out / "redirects.csv")


@pytest.fixture
def new_site():
    routes = {"/": HOME, **{f"/news/{n}": page(n) for n in range(12)}}
    with TestServer(routes, defaults=False) as srv:
        yield srv


def verdicts(report) -> dict[str, str]:
    return {o.old_url: o.verdict for o in report.outcomes}


def test_correct_deploy_every_row_is_right(tmp_path, new_site):
    require(NGINX)
    rows = manifest(new_site.base_url)
    out, port, proc = deploy(tmp_path, "correct", rows, new_site.base_url.split("//")[1])
    try:
        report = verify_redirects(read_rows(out / "redirects.csv"), f"http://127.0.0.1:{port}",
                                  allowed_hosts=[new_site.base_url], config=FAST)
    finally:
        stop(proc)
    expected = {r.old_url: "ok" for r in rows}
    expected[f"{OLD}/gone"] = "gone_ok"
    expected[f"{WWW}/unmatched"] = "not_checked"
    assert verdicts(report) == expected
    assert report.passed and report.ratio == 1.0 and report.checked == 13
    ok = next(o for o in report.outcomes if o.old_url == f"{WWW}/b?id=10")
    assert (ok.got_status, ok.got_location, ok.final_status, ok.hops) == (308, new_site.url("/news/10"), 200, 1)
    # every target requested once, plus the portal's home page (the soft-404 reference)
    assert sorted(h.path for h in new_site.log) == sorted(["/", *(f"/news/{n}" for n in range(12))])


def test_broken_deploy_gives_each_row_its_verdict(tmp_path, new_site):
    require(NGINX)
    new = new_site.base_url
    rows = manifest(new)
    deployed = []
    for row in rows:
        n = row.old_url.rsplit("/", 1)[-1]
        if row.old_url in (f"{OLD}/a/0", f"{OLD}/a/1", f"{OLD}/a/7"):
            continue  # 0: never deployed; 1 and 7: answered by the locations below
        target = {"2": f"{new}/news/9", "3": f"{new}/hop/3", "4": f"{new}/loop/4"}.get(n) if "/a/" in row.old_url else None
        deployed.append(RedirectRow(row.old_url, target or row.new_url, row.status, row.kind, row.method, row.confidence))
    extra = (f"        location = /a/1 {{ return 302 {new}/news/1; }}\n"
             "        location = /a/7 { return 301 http://evil.example/phish; }\n")
    new_site.add("/hop/3", redirect(f"{new}/news/3"))  # a second hop
    new_site.add("/loop/4", redirect(f"{OLD}/a/4"))  # back to the old URL
    del new_site.routes["/news/5"]  # the target now answers 404
    new_site.add("/news/6", HOME)  # the target now serves the home page
    out, port, proc = deploy(tmp_path, "broken", deployed, new.split("//")[1], extra)
    try:
        report = verify_redirects(intended_rows(tmp_path, rows, new), f"http://127.0.0.1:{port}",
                                  allowed_hosts=[new], config=FAST)
    finally:
        stop(proc)
    expected = {r.old_url: "ok" for r in rows}
    expected.update({f"{OLD}/a/0": "not_redirected", f"{OLD}/a/1": "wrong_status", f"{OLD}/a/2": "wrong_target",
                     f"{OLD}/a/3": "chain", f"{OLD}/a/4": "loop", f"{OLD}/a/5": "target_broken",
                     f"{OLD}/a/6": "target_soft_404", f"{OLD}/a/7": "off_host", f"{OLD}/gone": "gone_ok",
                     f"{WWW}/unmatched": "not_checked"})
    assert verdicts(report) == expected
    by_url = {o.old_url: o for o in report.outcomes}
    assert by_url[f"{OLD}/a/3"].hops == 2 and by_url[f"{OLD}/a/3"].final_url == f"{new}/news/3"
    assert (by_url[f"{OLD}/a/1"].expected_status, by_url[f"{OLD}/a/1"].got_status) == (301, 302)
    assert by_url[f"{OLD}/a/2"].got_location == f"{new}/news/9"
    assert by_url[f"{OLD}/a/5"].final_status == 404
    assert "home page" in by_url[f"{OLD}/a/6"].detail
    assert by_url[f"{OLD}/a/7"].got_location == "hxxp[:]//evil[.]example/phish"  # defanged, never followed
    assert by_url[f"{OLD}/a/0"].got_status == 404
    assert not report.passed and report.right == 5
