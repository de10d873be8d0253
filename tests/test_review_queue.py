"""The review queue's order and the choices it offers, from rows as redirects.csv holds them."""
from archiver.review.queue import ReviewQueue
from archiver.types import Candidate


def _row(url, kind, method, confidence, review="", new_url=""):
    return {"old_url": url, "new_url": new_url, "kind": kind, "method": method, "confidence": str(confidence),
            "evidence": "why", "review": review}


def test_flagged_then_unmatched_then_fallbacks_weakest_first_then_reviewed():
    rows = [_row("http://o/page", "page", "content", 0.9),
            _row("http://o/fb-strong", "fallback", "rule", 0.6, new_url="http://n/s"),
            _row("http://o/fb-weak", "fallback", "banner_link", 0.4, new_url="http://n/"),
            _row("http://o/none", "unmatched", "none", 0.0, "yes"),
            _row("http://o/flag-b", "page", "canonical", 0.9, "yes", "http://n/b"),
            _row("http://o/flag-a", "fallback", "rule", 0.3, "yes", "http://n/a"),
            _row("http://o/decided", "gone", "reviewed", 1.0),
            _row("http://o/decided-now", "page", "content", 0.95)]
    queue = ReviewQueue(rows, {}, decided={"http://o/decided-now"})
    assert [queue.items[k].old_url for k in queue.order] == [
        "http://o/flag-a", "http://o/flag-b", "http://o/none", "http://o/fb-weak", "http://o/fb-strong",
        "http://o/decided-now", "http://o/decided"]
    assert queue.get("http://o/page").group is None
    queue.add_decided("http://o/page")
    assert queue.items[queue.order[-1]].old_url == "http://o/page"
    assert [i.old_url for i in queue.search("FLAG")] == ["http://o/flag-b", "http://o/flag-a"]


def test_the_rows_own_target_comes_first_then_content_candidates_three_at_most():
    candidates = {"http://o/x": {"old_url": "http://o/x", "title": "Old title", "date": None, "candidates": [
        Candidate(f"http://n/{i}", 0.5 - i / 10, f"title {50 - i}") for i in range(3)]}}
    rows = [_row("http://o/x", "fallback", "rule", 0.4, "yes", "http://n/section")]
    item = ReviewQueue(rows, candidates, set()).get("http://o/x")
    assert item.title == "Old title"
    assert [(c["new_url"], c["source"]) for c in item.choices()] == [
        ("http://n/section", "this row"), ("http://n/0", "content match"), ("http://n/1", "content match")]
    rows = [_row("http://o/x", "fallback", "rule", 0.4, "yes", "http://n/1")]  # already a candidate: not twice
    assert [c["new_url"] for c in ReviewQueue(rows, candidates, set()).get("http://o/x").choices()] == [
        "http://n/0", "http://n/1", "http://n/2"]
