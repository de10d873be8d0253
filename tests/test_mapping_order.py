"""The redirect manifest does not depend on the order the crawl wrote its records in.

A crawl's threads write pages in an order their timing chooses, and a
programme's tasks finish in any order; the same captures in another order
must give the same notices, the same rows and the same review candidates.
"""
from __future__ import annotations

import random

import pytest

from archiver.capture import CrawlConfig, crawl
from archiver.demo.server import SiteServer
from archiver.demo.sitegen import generate_pair
from archiver.detect import detect
from archiver.mapping import build_manifest
from archiver.warc import iter_captures


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    root = tmp_path_factory.mktemp("order")
    with SiteServer() as legacy, SiteServer(host="127.0.0.2") as new:
        pair = generate_pair(legacy.base_url, new.base_url, n_articles=24, seed=11)
        legacy.site, new.site = pair.legacy, pair.new
        for name, server in (("old", legacy), ("new", new)):
            crawl(CrawlConfig(seeds=[server.base_url + "/"], sitemaps=[server.base_url + "/sitemap.xml"],
                              out_dir=root / name, delay=0, concurrency=4, progress="none"))
        new_host = new.base_url.split("//")[1]
    return list(iter_captures([root / "old"])), list(iter_captures([root / "new"])), new_host


def _mapped(old, new, new_host):
    notices = detect(old, new_hosts=[new_host])
    candidates = []
    rows = build_manifest(notices, old, new, allowed_hosts=[new_host],
                          candidates=lambda facts, found: candidates.append((facts.url, found)))
    return [n.to_json() for n in notices], rows, candidates


def test_shuffled_captures_give_the_same_notices_rows_and_candidates(captures):
    old, new, new_host = captures
    notices, rows, candidates = _mapped(old, new, new_host)
    assert len(rows) > 30 and sum(r.kind == "page" for r in rows) > 10 and candidates
    for seed in range(3):
        rng = random.Random(seed)
        shuffled_old, shuffled_new = old[:], new[:]
        rng.shuffle(shuffled_old)
        rng.shuffle(shuffled_new)
        again = _mapped(shuffled_old, shuffled_new, new_host)
        assert again[0] == notices, seed
        assert again[1] == rows, seed
        assert again[2] == candidates, seed
