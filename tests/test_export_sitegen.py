"""The demo generator's legacy/new pair, exported and answered by a real nginx and Apache.

The hostile set (test_export_hostile.py) proves the escaping; this one proves
the ordinary case at a realistic size: every legacy URL of a generated site
answers its own new page (301), 410 when removed, nothing when unmatched.
"""
from __future__ import annotations

from archiver.demo.sitegen import generate_pair
from archiver.export import export_all
from archiver.types import RedirectRow

from webservers import (
    APACHE,
    NGINX,
    apache_conf,
    free_port,
    nginx_conf,
    raw_get,
    require,
    run_apache,
    run_nginx,
    stop,
)

OLD, NEW = "http://www.mnz.example", "https://www.gov.example"


def truth_rows() -> tuple[dict, list[RedirectRow]]:
    truth = generate_pair(OLD, NEW, n_articles=300, seed=5).truth
    rows = []
    for old, new in truth.items():
        if new == "gone":
            rows.append(RedirectRow(old, None, 410, "gone", "gone", 1.0))
        elif new is None:
            rows.append(RedirectRow(old, None, None, "unmatched", "none", 0.0))
        else:
            rows.append(RedirectRow(old, new, 301, "page", "content", 0.95))
    return truth, rows


def assert_truth_answers(port: int, truth: dict) -> None:
    for old, new in truth.items():
        status, location = raw_get(port, old[len(OLD):], "www.mnz.example")
        if new == "gone":
            assert status == 410, old
        elif new is None:
            assert (status, location) == (404, None), old
        else:
            assert (status, location) == (301, new), old


def test_nginx_answers_every_generated_legacy_url(tmp_path):
    require(NGINX)
    truth, rows = truth_rows()
    assert sum(v not in (None, "gone") for v in truth.values()) > 200
    export_all(rows, tmp_path / "out", allowed_hosts=["www.gov.example"])
    port = free_port()
    proc = run_nginx(tmp_path, nginx_conf(tmp_path, tmp_path / "out", port), port)
    try:
        assert_truth_answers(port, truth)
    finally:
        stop(proc)


def test_apache_answers_every_generated_legacy_url(apache_dir):  # noqa: F811 (fixture)
    require(APACHE)
    truth, rows = truth_rows()
    export_all(rows, apache_dir / "export", allowed_hosts=["www.gov.example"])
    port = free_port()
    proc = run_apache(apache_conf(apache_dir, apache_dir / "export", port), port)
    try:
        assert_truth_answers(port, truth)
    finally:
        stop(proc)
