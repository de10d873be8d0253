"""The labelled site pair is deterministic, self-consistent and carries every signal kind."""
from collections import Counter

from archiver.demo.sitegen import GONE, generate_pair

OLD, NEW = "http://127.0.0.1:8001", "http://127.0.0.1:8002"


def _pair(seed=5, n=150):
    return generate_pair(OLD, NEW, n_articles=n, seed=seed)


def test_same_seed_same_sites_other_seed_other_sites():
    a, b, c = _pair(), _pair(), _pair(seed=6)
    assert a.truth == b.truth
    assert {k: v.body for k, v in a.legacy.resources.items()} == {k: v.body for k, v in b.legacy.resources.items()}
    assert a.truth != c.truth


def test_truth_targets_exist_on_the_new_site_and_gone_pages_answer_410_or_404():
    pair = _pair()
    kinds = Counter()
    for old, expected in pair.truth.items():
        path = old[len(OLD):]
        assert path in pair.legacy.resources, old
        status = pair.legacy.resources[path].status
        if expected == GONE:
            assert status in (404, 410)
            kinds["gone"] += 1
        elif expected is None:
            kinds["none"] += 1
        else:
            target = pair.new.resources[expected[len(NEW):]]
            assert target.status == 200 and b"<h1>" in target.body
            kinds["page"] += 1
    assert kinds["page"] > 100 and kinds["gone"] > 3 and kinds["none"] > 5


def test_every_signal_kind_and_windows_1250_pages_are_present():
    pair = _pair(seed=7, n=250)
    bodies = [r.body for r in pair.legacy.resources.values()]
    statuses = Counter(r.status for r in pair.legacy.resources.values())
    assert statuses[301] and statuses[302] + statuses[301] > 2 and statuses[410] and statuses[404]
    assert any(b'http-equiv="refresh"' in b for b in bodies)
    assert any(b"location" in b and b"<script>" in b for b in bodies)
    assert any(b'rel="canonical"' in b and NEW.encode() in b for b in bodies)
    assert any(b"has been moved to" in b for b in bodies)  # English GOV.SI banner
    assert any(b"www.gov.si" in b for b in bodies)  # the portal named as text only
    assert any("Arhivsko spletišče".encode() in b for b in bodies)  # a wording no phrase pack lists
    cp1250 = [r for r in pair.legacy.resources.values()
              if b"windows-1250" in r.body or "windows-1250" in r.headers.get("Content-Type", "")]
    assert cp1250 and any("č".encode("cp1250") in r.body and "č".encode() not in r.body for r in cp1250)
    assert "/sitemap.xml" in pair.legacy.resources and "/robots.txt" in pair.new.resources
    assert any(r.status == 308 for r in pair.new.resources.values())  # slug changed on the portal


def test_recurring_titles_appear_on_several_dates():
    pair = _pair(seed=8, n=300)
    recurring = [u for u in pair.truth if "tedenska_novinarska_konferenca" in u or "weekly_press_conference" in u]
    assert len(recurring) >= 3
