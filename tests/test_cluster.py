"""Audit and detect on a real Dask cluster (``dask scheduler`` + two ``dask worker`` processes on loopback):
the same audit.json numbers and the same notices.jsonl as a local run, also when a worker is killed with
SIGKILL in the middle of a task; and the cluster flags' bad uses, each one line and exit 2."""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from archiver import scan
from archiver.audit import audit
from archiver.cluster import InlineExecutor, map_in_order, open_executor
from archiver.detect import detect_sources
from archiver.errors import ArchiverError, UsageError
from archiver.warc import expand_inputs
from warcs import response, revisit, sha1, write_warc

OLD = "http://www.mnz.si"
NEW = "https://www.gov.si"
PART = "16k"  # cuts the big file into parts, leaves the small ones whole
LOGO = b"\x89PNG shared logo" * 40  # one payload at many URLs


def _page_body(n: int) -> bytes:
    notice = (f'<div class="notice"><p>Vsebine ministrstva so se preselile na portal '
              f'<a href="{NEW}/mnz/{n}">GOV.SI</a>.</p></div>') if n % 5 else ""
    return (f'<html><head><title>Stran {n}</title><link rel="stylesheet" href="/s.css"></head><body>{notice}'
            f'<h1>Stran {n}</h1><p>Besedilo strani {n} o upravnih zadevah.</p><img src="/img/{n}.png">'
            f'<a href="/p/{n + 1}">naprej</a> <a href="/p/{n + 2}">in naprej</a></body></html>').encode()


def _records(n: int, date: str) -> list[bytes]:
    """One URL's capture, by a pattern of n: redirect (to the new home page, or its own new page), 404, refresh,
    or a page (and its image)."""
    if n % 17 == 0:
        return [response(f"{OLD}/p/{n}", b"", 301, {"Location": f"{NEW}/"}, date=date)]
    if n % 7 == 0:
        return [response(f"{OLD}/p/{n}", b"", 301, {"Location": f"{NEW}/mnz/{n}"}, date=date)]
    if n % 11 == 0:
        return [response(f"{OLD}/p/{n}", b"<html>ni najdeno</html>", 404, date=date)]
    if n % 13 == 0:
        body = f'<html><head><meta http-equiv="refresh" content="0; url={NEW}/mnz/{n}"></head></html>'.encode()
        return [response(f"{OLD}/p/{n}", body, headers={"Content-Type": "text/html"}, date=date)]
    return [response(f"{OLD}/p/{n}", _page_body(n), headers={"Content-Type": "text/html; charset=utf-8"}, date=date),
            response(f"{OLD}/img/{n}.png", LOGO, headers={"Content-Type": "image/png"}, date=date)]


def _revisit_of(n: int, date: str) -> bytes:
    """A revisit of page n's capture in the small files (found by URL and date, or by digest alone)."""
    url = f"{OLD}/p/{n}"
    return revisit(url, url, "2024-01-01T00:00:00Z", sha1(_page_body(n)), date=date)


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """60 small WARC files and one big one (cut into parts at PART): pages, redirects, 404s, refreshes, a
    payload under many URLs, revisits across files and parts, re-captures with a later date, a file cut short
    and a damaged member inside the big file."""
    root = tmp_path_factory.mktemp("collection")
    warcs = root / "warcs"
    warcs.mkdir()
    for f in range(60):
        records = [r for n in range(5 * f, 5 * f + 5) for r in _records(n, "2024-01-01T00:00:00Z")]
        if f % 10 == 9:  # a revisit of an earlier file's page
            records.append(_revisit_of(5 * (f - 9) + 1, f"2024-03-{f // 10 + 1:02d}T00:00:00Z"))
        if f >= 50:  # an earlier file's page, now gone
            gone = 5 * (f - 50) + 2
            records.append(response(f"{OLD}/p/{gone}", b"<html>gone</html>", 410, date="2024-04-01T00:00:00Z"))
        write_warc(warcs / f"mnz-{f:03d}.warc.gz", records)
    cut = warcs / "mnz-033.warc.gz"
    cut.write_bytes(cut.read_bytes()[:-60])
    big = []
    for n in range(1000, 1300):
        big.extend(_records(n, "2024-02-01T00:00:00Z"))
        if n % 20 == 3:  # revisits of pages in the small files and earlier in the big one
            big.append(_revisit_of(n - 1000 if n % 40 == 3 else 1001, f"2024-05-01T00:{n % 60:02d}:00Z"))
    offsets = write_warc(warcs / "mnz-big.warc.gz", big)
    data = bytearray((warcs / "mnz-big.warc.gz").read_bytes())
    data[offsets[len(offsets) // 2] + 10] = 0x07  # a member whose deflate block type is reserved: unreadable
    (warcs / "mnz-big.warc.gz").write_bytes(bytes(data))
    expected = [f"{OLD}/p/{n}" for n in [*range(300), *range(1000, 1300), *range(5000, 5010)]]
    (root / "expected.txt").write_text("\n".join(expected) + "\n")
    return root


def _archiver(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archiver", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def _audit_args(out: Path) -> list[str]:
    """Inputs relative to the collection's directory (the workers run elsewhere)."""
    return ["audit", "warcs", "--expected", "expected.txt", "--part-size", PART, "--ignore-integrity",
            "--out", str(out)]


def _numbers(out: Path) -> tuple[dict, str]:
    """audit.json without the time it was written and the cluster it ran on (returned apart)."""
    data = json.loads((out / "audit.json").read_text())
    data.pop("generated")
    return data, data["summary"].pop("cluster")


@pytest.fixture(scope="module")
def local_audit(collection, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local-audit")
    done = _archiver(*_audit_args(out), cwd=collection)
    assert done.returncode == 0, done.stderr
    data, cluster = _numbers(out)
    assert cluster == (f"{os.cpu_count()} local processes" if (os.cpu_count() or 1) > 1 else "in-process")
    return data


def test_audit_and_detect_on_the_cluster_match_a_local_run(dask_cluster, collection, local_audit, tmp_path,
                                                           monkeypatch):
    sources = expand_inputs([collection / "warcs"])
    tasks = scan.plan(sources, 16 * 1024)
    assert len(sources) == 61 and sum(task.is_part for task in tasks) >= 4  # the big file is read in parts
    assert max(len(task.ranges) for task in tasks) > 1  # small files are read a few to a task
    summary = local_audit["summary"]
    assert summary["files"] == 61 and summary["outcomes"]["captured"] > 300
    assert all(summary["outcomes"][k] for k in ("redirected", "not_found", "not_captured"))
    assert {e["kind"] for e in local_audit["integrity_errors"]} >= {"cut_gzip", "unreadable"}
    assert summary["record_types"]["revisit"] >= 20
    assert summary["duplicates"]["top_payloads"][0]["urls"] > 200  # the logo under every page's image URL
    # the same numbers read whole in this process: the split parts do not change a count
    monkeypatch.chdir(collection)
    whole = audit(["warcs"], expected_file="expected.txt", executor=InlineExecutor(), part=1 << 40,
                  ignore_integrity=True).to_json()
    whole = json.loads(json.dumps(whole))  # as written to audit.json
    whole.pop("generated")
    whole["summary"].pop("cluster")
    assert whole == local_audit

    done = _archiver(*_audit_args(tmp_path / "cluster"), "--scheduler", dask_cluster.address, cwd=collection)
    assert done.returncode == 0, done.stderr
    data, cluster = _numbers(tmp_path / "cluster")
    assert cluster == f"dask scheduler {dask_cluster.address} (2 workers, 2 threads)"
    assert data == local_audit

    notices = {}
    for where, flags in (("local", []), ("cluster", ["--scheduler", dask_cluster.address])):
        out = tmp_path / f"{where}.jsonl"
        done = _archiver("detect", "warcs", "--new-host", "www.gov.si", "--part-size", PART, "--out", str(out),
                         *flags, cwd=collection)
        assert done.returncode == 0, done.stderr
        notices[where] = out.read_text()
    assert f"read on dask scheduler {dask_cluster.address}" in done.stdout
    assert notices["cluster"] == notices["local"]
    whole, _ = detect_sources(["warcs"], executor=InlineExecutor(), new_hosts=["www.gov.si"], part=1 << 40)
    assert "".join(json.dumps(n.to_json(), ensure_ascii=False) + "\n" for n in whole) == notices["local"]
    kinds = [json.loads(line)["classification"] for line in notices["local"].splitlines()]
    assert {"moved", "moved_site", "gone", "live"} <= set(kinds)
    by_url = {n["url"]: n for n in map(json.loads, notices["local"].splitlines())}
    assert by_url[f"{OLD}/p/2"]["classification"] == "gone"  # re-captured later as 410: the latest speaks
    assert by_url[f"{OLD}/p/1"]["classification"] == "moved"  # its banner names its own new page


def test_a_worker_killed_mid_task_is_replaced_and_the_audit_is_the_same(dask_cluster, collection, local_audit,
                                                                        tmp_path):
    out = tmp_path / "killed"
    try:
        with dask_cluster.hold():
            client = subprocess.Popen([sys.executable, "-m", "archiver", *_audit_args(out),
                                       "--scheduler", dask_cluster.address], cwd=collection,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            holders = dask_cluster.wait_for_holders(2, watch=client)  # each worker is inside a scan task
            victim = min(holders)
            dask_cluster.kill(victim)
            assert victim not in {w.pid for w in dask_cluster.alive()}
        stdout, stderr = client.communicate(timeout=600)
        assert client.returncode == 0, stderr
        data, _ = _numbers(out)
        assert data == local_audit
    finally:
        dask_cluster.ensure_workers()


def test_a_worker_that_cannot_see_the_inputs_is_one_line(dask_cluster, tmp_path):
    with pytest.raises(UsageError, match=r"worker tcp://127\.0\.0\.1:\d+ cannot see .*nowhere: inputs and outputs "
                                         r"must be on a path every worker shares"):
        with open_executor(scheduler=dask_cluster.address, shared_paths=[tmp_path / "nowhere"]):
            pass


@pytest.mark.parametrize("command", ["audit", "detect"])
def test_cluster_flags_misused_are_one_line_and_exit_2(command, collection, tmp_path):
    out = ["--out", str(tmp_path / ("out" if command == "audit" else "n.jsonl"))]
    with socket.socket() as bound:  # bound, never listening: nothing answers there
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        cases = {
            "nothing listens": ["--scheduler", f"tcp://127.0.0.1:{port}"],
            "no workers": ["--workers", "0"],
            "both": ["--workers", "2", "--scheduler", f"tcp://127.0.0.1:{port}"],
        }
        for case, flags in cases.items():
            done = _archiver(command, "warcs", *out, *flags, cwd=collection)
            assert done.returncode == 2, (case, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, (case, done.stderr)


def test_progress_is_logged_every_interval_and_results_come_in_task_order(caplog):
    now = [0.0]

    def clock() -> float:
        now[0] += 2.0  # each look at the clock is two seconds later
        return now[0]

    caplog.set_level(logging.INFO, logger="archiver.cluster")
    results = list(map_in_order(InlineExecutor(), pow, [(2, n) for n in range(6)], what="scan", interval=5.0,
                                clock=clock))
    assert results == [1, 2, 4, 8, 16, 32]
    lines = [r.getMessage() for r in caplog.records if r.name == "archiver.cluster"]
    assert lines and all(line.startswith("scan: ") and line.endswith(" of 6 tasks done") for line in lines)
    assert len(lines) < 6  # not one per task: one per interval


def test_a_dead_local_process_is_one_error_not_a_traceback():
    with ProcessPoolExecutor(1) as pool, pytest.raises(ArchiverError, match="a worker process died"):
        list(map_in_order(pool, os._exit, [(3,)], what="audit"))
