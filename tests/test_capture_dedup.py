"""Deduplication never points a revisit at a truncated record: its payload is not the page's."""
from __future__ import annotations

from archiver.capture import CrawlConfig, crawl
from archiver.capture.crawllog import read_crawl_log

from servers import Resource, TestServer
from warcs import warc_records

BODY = bytes(range(256)) * 20  # 5,120 bytes, incompressible enough, no links
CAP = 1000


def test_a_truncated_payload_never_becomes_the_original_of_a_revisit(tmp_path):
    with TestServer(defaults=False) as srv:
        binary = {"Content-Type": "application/octet-stream"}
        srv.add("/t1", Resource(200, binary, BODY))  # cut at CAP bytes
        srv.add("/t2", Resource(200, binary, BODY))  # cut the same way: the same kept bytes
        srv.add("/prefix", Resource(200, binary, BODY[:CAP]))  # exactly the bytes kept of /t1, complete
        srv.add("/robots.txt", Resource(404, {"Content-Type": "text/plain"}, b""))
        crawl(CrawlConfig(seeds=[srv.url(p) for p in ("/t1", "/t2", "/prefix")], out_dir=tmp_path, delay=0,
                          concurrency=1, per_host_concurrency=1, progress="none", max_response_bytes=CAP))
    log = {row["url"]: row for row in read_crawl_log(tmp_path / "crawl.jsonl")}
    assert {log[srv.url(p)]["record_type"] for p in ("/t1", "/t2", "/prefix")} == {"response"}
    records = warc_records(tmp_path)
    assert [r for r in records if r[0] == "revisit"] == []
    assert sorted(uri for kind, uri, _ in records if kind == "response") == sorted(
        [srv.url("/t1"), srv.url("/t2"), srv.url("/prefix"), srv.url("/robots.txt")])
