"""Scope, trap rules and the frontier's on-disk dedup (no network needed)."""
from archiver.capture.frontier import Candidate, Frontier
from archiver.capture.scope import Scope, is_private_host


def test_private_hosts():
    assert is_private_host("127.0.0.1") and is_private_host("localhost") and is_private_host("10.1.2.3")
    assert is_private_host("169.254.169.254") and is_private_host("[::1]") and is_private_host("192.168.0.1")
    assert not is_private_host("www.gov.si") and not is_private_host("8.8.8.8")


def test_scope_origin_ports_hosts_and_requisites():
    scope = Scope(["http://127.0.0.1:8001/start"])
    assert scope.reason("http://127.0.0.1:8001/page", depth=1) is None
    assert scope.reason("http://127.0.0.1:8002/page", depth=1) == "out_of_scope"  # other port
    assert scope.reason("https://127.0.0.1:8001/page", depth=1) == "out_of_scope"  # other scheme
    assert scope.reason("http://www.example.org/page", depth=1) == "out_of_scope"
    # requisites may come from public hosts, never from private addresses or other local ports
    assert scope.reason("http://cdn.example.org/logo.png", depth=1, requisite=True) is None
    assert scope.reason("http://127.0.0.1:8002/logo.png", depth=1, requisite=True) == "out_of_scope"
    assert scope.reason("http://169.254.169.254/latest", depth=1, requisite=True) == "out_of_scope"
    strict = Scope(["http://h.test/"], requisites_any_host=False)
    assert strict.reason("http://cdn.example.org/logo.png", depth=1, requisite=True) == "out_of_scope"


def test_include_exclude():
    scope = Scope(["http://h.test/"], include=[r"/news/"], exclude=[r"\.zip$", r"/private/"])
    assert scope.reason("http://h.test/news/1.html", depth=1) is None
    assert scope.reason("http://h.test/about.html", depth=1) == "out_of_scope"
    assert scope.reason("http://h.test/img/a.png", depth=1, requisite=True) is None  # pages need their images
    assert scope.reason("http://h.test/news/a.zip", depth=1) == "excluded"
    assert scope.reason("http://h.test/news/private/x", depth=1) == "excluded"


def test_trap_rules():
    scope = Scope(["http://h.test/"], max_depth=5, max_url_length=100)
    assert scope.reason("http://h.test/a", depth=6) == "trap:max_depth"
    assert scope.reason("http://h.test/a", depth=5) is None
    assert scope.reason("http://h.test/a.png", depth=6, requisite=True) is None  # a last page's images
    assert scope.reason("http://h.test/a.png", depth=9, requisite=True) == "trap:max_depth"  # frames in frames
    assert scope.reason("http://h.test/" + "x" * 200, depth=1) == "trap:url_length"
    assert scope.reason("http://h.test/a/b/a/c/a/", depth=1) == "trap:repeated_segment"
    assert scope.reason("http://h.test/a/b/a/", depth=1) is None
    assert scope.reason("ftp://h.test/a", depth=1) == "scheme"


def test_frontier_dedups_and_caps_query_variants(tmp_path):
    fr = Frontier(tmp_path / "state.sqlite3", max_query_variants=10)
    added = fr.add(Candidate(f"http://h.test/cal?day={i}") for i in range(50))
    assert added == 10
    assert fr.add([Candidate("http://h.test/cal?day=1"), Candidate("HTTP://H.TEST:80/cal?day=2")]) == 0
    fr.commit()
    counts = fr.counts()
    assert counts == {"queued": 10, "skipped": 40}
    reasons = {r["skipped_reason"] for r in fr.rows() if r["status"] == "skipped"}
    assert reasons == {"trap:query_variants"}
    # out of scope first, then found again as an allowed requisite: it gets queued
    fr.add([Candidate("http://cdn.test/a.png", skipped_reason="out_of_scope")])
    assert fr.add([Candidate("http://cdn.test/a.png", kind="requisite")]) == 1
    fr.close()


def test_frontier_batches_by_priority_and_resumes(tmp_path):
    fr = Frontier(tmp_path / "state.sqlite3")
    fr.add([Candidate("http://h.test/page", priority=11), Candidate("http://h.test/img.png", priority=1),
            Candidate("http://other.test/x", priority=0)])
    batch = fr.next_batch(10)
    assert [t.url for t in batch] == ["http://other.test/x", "http://h.test/img.png", "http://h.test/page"]
    assert [t.url for t in fr.next_batch(10, skip_hosts=["other.test:80"])][0] == "http://h.test/img.png"
    for t in batch:
        fr.mark_inflight(t)
    fr.finish(batch[0], ok=True, attempts=1, http_status=200, warc_file="a.warc.gz", warc_offset=0)
    fr.commit()
    fr.close()
    fr = Frontier(tmp_path / "state.sqlite3")  # as after kill -9
    assert fr.resume(["http://other.test/x"]) == 3
    assert len(fr.next_batch(10)) == 3
    fr.close()
