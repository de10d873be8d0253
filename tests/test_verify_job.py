"""The ``[verify]`` step of ``archiver run``: a demo-like job checked against a
real nginx serving the job's own export.

Run 1 checks a deploy that does not carry the redirects yet (every row
``not_redirected``, exit 3); run 1's export is then loaded into nginx and run
2 finds every checked row right (exit 0), and ``archiver diff`` lists the
verdicts that changed.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from archiver.cli import main
from archiver.demo.server import SiteServer
from archiver.demo.sitegen import generate_pair
from archiver.export import export_all

from webservers import NGINX, free_port, nginx_conf, raw_get, require, run_nginx, stop

MANIFEST = """
name = "ministry"
[legacy]
seeds = ["{legacy}/"]
sitemaps = ["{legacy}/sitemap.xml"]
[new]
seeds = ["{new}/"]
sitemaps = ["{new}/sitemap.xml"]
[crawl]
delay = 0
concurrency = 4
max_retries = 0
[verify]
against = "{against}"
"""
NGINX_FILES = ("redirects.nginx.conf", "redirects.nginx.http.conf", "redirects.nginx.server.conf")


def reload_nginx(tmp, conf, port: int, probe: str) -> None:
    """Reload nginx's configuration and wait until ``probe`` redirects (reloads are asynchronous)."""
    subprocess.run([NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf), "-s", "reload"],
                   check=True, capture_output=True, timeout=30)
    deadline = time.monotonic() + 30
    while raw_get(port, probe)[0] != 301:
        if time.monotonic() > deadline:
            pytest.fail("nginx did not load the new configuration")
        time.sleep(0.05)


def test_job_verifies_the_live_server_and_diff_shows_changed_verdicts(tmp_path, capsys):
    require(NGINX)
    deployed = tmp_path / "deployed"
    with SiteServer() as legacy, SiteServer(host="127.0.0.2") as new:
        pair = generate_pair(legacy.base_url, new.base_url, n_articles=12, seed=3)
        legacy.site, new.site = pair.legacy, pair.new
        export_all([], deployed, allowed_hosts=[new.base_url.split("//")[1]], formats=["nginx"])  # nothing deployed
        port = free_port()
        conf = nginx_conf(tmp_path, deployed, port)
        proc = run_nginx(tmp_path, conf, port)
        try:
            manifest = tmp_path / "ministry.toml"
            manifest.write_text(MANIFEST.format(legacy=legacy.base_url, new=new.base_url,
                                                against=f"http://127.0.0.1:{port}"))
            out = tmp_path / "out"
            assert main(["run", str(manifest), "--out", str(out)]) == 3
            first = (out / "ministry" / "latest").resolve()
            for name in NGINX_FILES:
                shutil.copy(first / name, deployed / name)
            rows = (first / "redirects.csv").read_text().splitlines()[1:]
            probe = next(line.split(",")[0] for line in rows if ",301," in line).split(legacy.base_url, 1)[1]
            reload_nginx(tmp_path, conf, port, probe)
            capsys.readouterr()
            assert main(["run", str(manifest), "--out", str(out)]) == 0
            second = (out / "ministry" / "latest").resolve()
        finally:
            stop(proc)
    before = json.loads((first / "verify" / "verify.json").read_text())
    after = json.loads((second / "verify" / "verify.json").read_text())
    checked = after["checked"]
    assert checked > 10 and before["checked"] == checked
    assert set(before["verdicts"]) == {"not_redirected", "gone_wrong"} and not before["passed"]  # 404s
    assert set(after["verdicts"]) <= {"ok", "gone_ok", "not_checked"} and after["passed"]
    assert after["verdicts"]["ok"] > 5 and after["verdicts"].get("gone_ok", 0) > 0
    assert {r["old_url"] for r in after["rows"]} == {line.split(",")[0] for line in rows}
    summary = json.loads((second / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["verify"]["passed"] and summary["verify"]["right"] == checked
    assert json.loads((first / "summary.json").read_text())["status"] == "incomplete"
    diff = json.loads((second / "diff.json").read_text())
    changed = diff["verify"]["changed"]
    assert len(changed) == checked and {tuple(c["verdict"]) for c in changed} <= {
        ("not_redirected", "ok"), ("gone_wrong", "gone_ok")}
    assert summary["diff"]["verify"]["changed"] == checked
    assert main(["diff", str(out / "ministry")]) == 0
    assert f"verdicts changed: {checked}" in capsys.readouterr().out
