"""Mapping on labelled site pairs: precision and recall of page-level rows, and the rules around them."""
from __future__ import annotations

from collections import Counter

import pytest

from archiver.demo.site import Site
from archiver.demo.sitegen import GONE, generate_pair
from archiver.detect import detect
from archiver.mapping import Thresholds, build_manifest, parse_rule
from archiver.types import Capture, Notice, Signal

OLD, NEW = "http://localhost:8001", "http://127.0.0.2:8002"


def site_captures(site: Site, base: str) -> list[Capture]:
    """What a complete crawl of ``site`` would have archived (one capture per resource)."""
    return [Capture(url=base + path, status=r.status, headers=tuple(r.headers.items()), body=r.body,
                    date="2026-01-01T00:00:00Z", file="test.warc.gz", offset=i)
            for i, (path, r) in enumerate(site.resources.items())]


def precision_recall(rows, truth) -> tuple[float, float, list[str]]:
    """Page-level precision and recall against the generator's truth, and the mistakes."""
    by_url = {r.old_url: r for r in rows}
    pages = [r for r in rows if r.kind == "page"]
    right = [r for r in pages if truth.get(r.old_url) == r.new_url]
    expected = [u for u, v in truth.items() if v and v != GONE]
    found = [u for u in expected if u in by_url and by_url[u].kind == "page" and by_url[u].new_url == truth[u]]
    mistakes = [f"wrong: {r.old_url} -> {r.new_url} (truth {truth.get(r.old_url)}; {r.evidence})"
                for r in pages if r not in right]
    mistakes += [f"missed: {u} -> {truth[u]} (got {by_url.get(u)})" for u in expected if u not in found]
    return len(right) / max(1, len(pages)), len(found) / max(1, len(expected)), mistakes


@pytest.mark.parametrize("seed,n_articles", [(11, 150), (12, 220), (13, 300)])
def test_precision_and_recall_on_labelled_pairs(seed, n_articles):
    pair = generate_pair(OLD, NEW, n_articles=n_articles, seed=seed)
    old, new = site_captures(pair.legacy, OLD), site_captures(pair.new, NEW)
    rows = build_manifest(detect(old, new_hosts=["127.0.0.2"]), old, new)
    precision, recall, mistakes = precision_recall(rows, pair.truth)
    print(f"seed {seed}, {n_articles} articles: precision {precision:.4f} recall {recall:.4f}",
          Counter(r.kind for r in rows), Counter(r.method for r in rows))
    assert precision >= 0.99 and recall >= 0.97, "\n".join(mistakes)
    # windows-1250 pages and recurring titles are among the pages mapped right
    by_url = {r.old_url: r for r in rows}
    cp1250 = [OLD + p for p, r in pair.legacy.resources.items()
              if "1250" in r.headers.get("Content-Type", "") or b"charset=windows-1250" in r.body]
    cp1250 = [u for u in cp1250 if pair.truth.get(u) not in (None, GONE)]
    assert cp1250 and all(by_url[u].new_url == pair.truth[u] for u in cp1250)
    recurring = [u for u, v in pair.truth.items() if v not in (None, GONE) and (
        "tedenska_novinarska" in u or "weekly_press" in u or "seja_sveta" in u or "annual_police" in u)]
    assert recurring and sum(by_url[u].new_url == pair.truth[u] for u in recurring) >= 0.95 * len(recurring)
    # every legacy page and document has exactly one row; removed pages are 410s; documents are
    # mapped to their own new URLs, never onto another
    assert {r.old_url for r in rows} == set(pair.truth) | set(pair.documents)
    documents = [r for r in rows if r.old_url in pair.documents]
    assert documents and all(r.new_url == pair.documents[r.old_url] for r in documents if r.kind == "document")
    assert {r.old_url for r in documents if r.kind == "document"} == {u for u, v in pair.documents.items() if v}
    rows = [r for r in rows if r.old_url in pair.truth]
    for row in rows:
        if pair.truth[row.old_url] == GONE:
            assert (row.kind, row.status, row.new_url) == ("gone", 410, None)
        if row.kind == "unmatched":
            assert row.status is None and row.new_url is None and row.review
        if row.kind in ("page", "fallback"):
            assert row.status == 301 and row.new_url.startswith(NEW)
        assert 0.0 <= row.confidence <= 1.0 and row.evidence


def test_explicit_signals_win_and_content_evidence_reads_like_a_person_wrote_it():
    pair = generate_pair(OLD, NEW, n_articles=200, seed=21)
    old, new = site_captures(pair.legacy, OLD), site_captures(pair.new, NEW)
    rows = build_manifest(detect(old, new_hosts=["127.0.0.2"]), old, new, status=308)
    methods = Counter(r.method for r in rows if r.kind == "page")
    for kind in ("http_redirect", "meta_refresh", "js_redirect", "canonical", "content"):
        assert methods[kind] > 0, methods
    content = [r for r in rows if r.method == "content"]
    assert all("title" in r.evidence and "runner-up" in r.evidence for r in content)
    assert all(r.status == 308 for r in rows if r.kind in ("page", "fallback"))
    # a redirect chain through the portal's own 308 lands on the final URL
    for row in rows:
        if row.method == "http_redirect" and row.kind == "page":
            assert pair.new.resources[row.new_url[len(NEW):]].status == 200


# --- small hand-built cases -------------------------------------------------------------------

def _page(url, title, text, *, date="2019-02-07", lang="en", status=200, headers=()):
    html = (f'<!doctype html><html lang="{lang}"><head><title>{title}</title></head><body>'
            f'<h1>{title}</h1><p class="date">{date or ""}</p><p>{text}</p></body></html>')
    return Capture(url=url, status=status, headers=(("Content-Type", "text/html; charset=utf-8"), *headers),
                   body=html.encode(), date="2026-01-01T00:00:00Z", file="t", offset=0)


def _redirect(url, location, status=301):
    return Capture(url=url, status=status, headers=(("Location", location),), body=b"",
                   date="2026-01-01T00:00:00Z", file="t", offset=0)


_TEXT = ("Interior Minister Boštjan Poklukar attended an informal meeting of the Justice and Home Affairs Council "
         "in Bucharest. The main topics were migration and asylum policy, the fight against terrorism and "
         "police cooperation in a globalised world, and the ministers examined recommendations of the special "
         "committee on terrorism and agreed that Europol platforms should be used for exchanging expertise.")
_OTHER = ("The police presented the annual report on road safety. Fewer people died on the roads than a year "
          "before, while speeding and drink-driving remain the most frequent causes of serious accidents, "
          "so the campaign in the summer months will focus on motorcyclists and young drivers.")


def test_off_site_and_broken_targets_are_rejected_then_content_decides():
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT),
           _page(f"{OLD}/a/2/", "Road safety report", _OTHER)]
    new = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT),
           _page(f"{NEW}/en/news/2019-02-07-road-safety-report", "Road safety report", _OTHER),
           _page(f"{NEW}/missing", "Not found", "Nothing here.", status=404)]
    notices = [
        Notice(f"{OLD}/a/1/", 200, "moved", "https://evil.example/x",
               (Signal("canonical", "https://evil.example/x", "canonical to another host"),)),
        Notice(f"{OLD}/a/2/", 200, "moved", f"{NEW}/missing",
               (Signal("meta_refresh", f"{NEW}/missing", "meta refresh"),)),
    ]
    rows = {r.old_url: r for r in build_manifest(notices, old, new)}
    first, second = rows[f"{OLD}/a/1/"], rows[f"{OLD}/a/2/"]
    assert (first.kind, first.method, first.new_url) == ("page", "content", new[0].url)
    assert "evil.example" in first.evidence and "rejected" in first.evidence
    assert (second.kind, second.method, second.new_url) == ("page", "content", new[1].url)
    assert "answers 404" in second.evidence


def test_a_page_with_no_equivalent_stays_unmatched_even_with_a_close_neighbour():
    old = [_page(f"{OLD}/a/1/", "Weekly press conference", _TEXT, date="2019-02-07")]
    new = [_page(f"{NEW}/en/news/2019-02-14-weekly-press-conference", "Weekly press conference", _OTHER,
                 date="2019-02-14"),
           _page(f"{NEW}/en/news/2019-02-21-weekly-press-conference", "Weekly press conference", _OTHER + " More.",
                 date="2019-02-21")]
    [row] = build_manifest([], old, new)
    assert (row.kind, row.status, row.new_url, row.review) == ("unmatched", None, None, True)


def test_recurring_titles_are_told_apart_by_date_and_text():
    old = [_page(f"{OLD}/a/1/", "Weekly press conference", _TEXT, date="2019-02-07"),
           _page(f"{OLD}/a/2/", "Weekly press conference", _OTHER, date="2019-02-14")]
    new = [_page(f"{NEW}/en/news/2019-02-14-weekly-press-conference", "Weekly press conference", _OTHER,
                 date="2019-02-14"),
           _page(f"{NEW}/en/news/2019-02-07-weekly-press-conference", "Weekly press conference", _TEXT,
                 date="2019-02-07")]
    rows = {r.old_url: r.new_url for r in build_manifest([], old, new)}
    assert rows == {f"{OLD}/a/1/": new[1].url, f"{OLD}/a/2/": new[0].url}


def test_one_new_page_claimed_twice_keeps_the_better_and_flags_the_other():
    shorter = _TEXT.split(". ")[0] + ". " + _OTHER
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT),
           _page(f"{OLD}/a/2/", "Ministers meet in Bucharest again", shorter)]
    new = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT)]
    rows = {r.old_url: r for r in build_manifest([], old, new, thresholds=Thresholds(strong=0.99))}
    assert rows[f"{OLD}/a/1/"].kind == "page" and not rows[f"{OLD}/a/1/"].review
    loser = rows[f"{OLD}/a/2/"]
    assert loser.kind != "page" and loser.review and "already claimed" in loser.evidence


def test_redirect_chains_are_followed_and_site_level_targets_become_fallbacks():
    old = [_redirect(f"{OLD}/a/1/", "/index.php?id=1"), _redirect(f"{OLD}/index.php?id=1", f"{NEW}/old-slug", 302),
           _redirect(f"{OLD}/a/2/", f"{NEW}/"), _page(f"{OLD}/gone/", "Gone", "", status=410)]
    new = [_redirect(f"{NEW}/old-slug", "/en/news/2019-02-07-final", 308),
           _page(f"{NEW}/en/news/2019-02-07-final", "Final", _TEXT), _page(f"{NEW}/", "Portal", _OTHER)]
    rows = {r.old_url: r for r in build_manifest([], old, new)}
    first = rows[f"{OLD}/a/1/"]
    assert (first.kind, first.method, first.new_url) == ("page", "http_redirect", f"{NEW}/en/news/2019-02-07-final")
    assert rows[f"{OLD}/index.php?id=1"].new_url == first.new_url
    site = rows[f"{OLD}/a/2/"]
    assert (site.kind, site.new_url, site.review) == ("fallback", f"{NEW}/", True)
    assert (rows[f"{OLD}/gone/"].kind, rows[f"{OLD}/gone/"].status) == ("gone", 410)


def test_section_rules_give_fallbacks_and_bad_rules_are_usage_errors():
    from archiver.errors import UsageError

    old = [_page(f"{OLD}/sl/projekti/zgodovina/", "Zgodovina projektov", _OTHER, date=None, lang="sl")]
    new = [_page(f"{NEW}/podrocja/projekti/", "Projekti", "Seznam projektov ministrstva.", date=None, lang="sl")]
    rule = parse_rule(rf"^/sl/(projekti)/={NEW}/podrocja/\1/")
    [row] = build_manifest([], old, new, rules=[rule])
    assert (row.kind, row.method, row.new_url) == ("fallback", "rule", f"{NEW}/podrocja/projekti/")
    with pytest.raises(UsageError):
        parse_rule("^/a(=/relative")
    with pytest.raises(UsageError):
        parse_rule("^/a(=https://x.example/")
    with pytest.raises(UsageError):
        build_manifest([], old, new, status=302)


def test_languages_stay_apart():
    sl = ("Minister Poklukar se je udeležil neformalnega zasedanja Sveta za pravosodje in notranje zadeve v "
          "Bukarešti, kjer so ministri razpravljali o migracijski in azilni politiki ter o boju proti terorizmu.")
    old = [_page(f"{OLD}/en/a/1/", "Ministers meet in Bucharest", _TEXT),
           _page(f"{OLD}/a/1/", "Ministri v Bukarešti", sl, lang="sl")]
    new = [_page(f"{NEW}/novice/2019-02-07-ministri-v-bukaresti", "Ministri v Bukarešti", sl, lang="sl"),
           _page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT)]
    rows = {r.old_url: r.new_url for r in build_manifest([], old, new)}
    assert rows == {f"{OLD}/en/a/1/": new[1].url, f"{OLD}/a/1/": new[0].url}


def test_a_notice_naming_the_pages_own_new_page_maps_it_but_a_shared_link_is_only_a_fallback():
    target = f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest"
    old = [_page(f"{OLD}/a/1/", "Ministers", "Moved.")] + [_page(f"{OLD}/b/{k}/", f"Page {k}", "Moved.")
                                                          for k in range(6)]
    new = [_page(target, "Ministers meet in Bucharest", _TEXT), _page(f"{NEW}/en/", "Portal", _OTHER)]
    notices = [Notice(f"{OLD}/a/1/", 200, "moved", target, (Signal("banner", target, "This page is now at ..."),))]
    notices += [Notice(f"{OLD}/b/{k}/", 200, "moved", f"{NEW}/en/", (Signal("banner", f"{NEW}/en/", "moved"),))
                for k in range(6)]
    rows = {r.old_url: r for r in build_manifest(notices, old, new)}
    first = rows[f"{OLD}/a/1/"]
    assert (first.kind, first.method, first.new_url) == ("page", "banner_link", target)
    for k in range(6):
        row = rows[f"{OLD}/b/{k}/"]
        assert (row.kind, row.new_url, row.review) == ("fallback", f"{NEW}/en/", True)


def test_hostile_targets_are_rejected_not_followed():
    old = [_page(f"{OLD}/a/{k}/", f"Page {k}", _OTHER, date=None) for k in range(4)]
    new = [_page(f"{NEW}/en/", "Portal", "Welcome to the portal of the state administration.", date=None)]
    targets = ["javascript:alert(1)", f"{NEW}/x\r\nSet-Cookie: a=b", "//evil.example/", f"http://user@{NEW[7:]}@evil.example/"]
    notices = [Notice(f"{OLD}/a/{k}/", 200, "moved", t, (Signal("meta_refresh", t, "refresh"),))
               for k, t in enumerate(targets)]
    rows = build_manifest(notices, old, new)
    assert len(rows) == 4
    for row in rows:
        assert row.kind == "unmatched" and row.new_url is None and "rejected" in row.evidence


def test_a_redirect_to_an_uncaptured_old_slug_is_matched_by_its_url_and_flagged():
    final = f"{NEW}/novice/2019-02-07-minister-je-obiskal-policijsko-postajo-v-celju"
    old = [_redirect(f"{OLD}/a/1/", f"{NEW}/novice/2019-02-07-minister-obiskal-policijsko-postajo-v-celju"),
           _redirect(f"{OLD}/a/2/", f"{NEW}/novice/2019-03-01-nekaj-povsem-drugega")]
    new = [_page(final, "Minister je obiskal policijsko postajo v Celju", _TEXT, lang="sl"),
           _page(f"{NEW}/novice/2019-02-07-vlada-sprejela-proracun", "Vlada sprejela proračun", _OTHER, lang="sl")]
    rows = {r.old_url: r for r in build_manifest([], old, new)}
    guessed = rows[f"{OLD}/a/1/"]
    assert (guessed.kind, guessed.method, guessed.new_url, guessed.review) == ("page", "http_redirect", final, True)
    assert "not in the new site's capture" in guessed.evidence and guessed.confidence <= 0.7
    assert rows[f"{OLD}/a/2/"].kind == "unmatched"


def test_a_largely_rewritten_release_with_its_unique_title_and_date_still_matches():
    rewritten = _TEXT.split(". ")[0] + ". " + _OTHER  # the first sentence kept, the rest new
    old = [_page(f"{OLD}/a/1/", "Minister visits the new police station in Celje", _TEXT)]
    new = [_page(f"{NEW}/en/news/2019-02-07-minister-visits-the-new-police-station-in-celje",
                 "Minister visits the new police station in Celje", rewritten),
           _page(f"{NEW}/en/news/2019-02-07-road-safety", "Road safety report", _OTHER + " Also.")]
    [row] = build_manifest([], old, new)
    assert (row.kind, row.new_url) == ("page", new[0].url), row


# --- threshold and margin, pinned ------------------------------------------------------------------

def _matcher_and_match(old_pages, new_pages, thresholds):
    from archiver.mapping import ContentMatcher

    matcher = ContentMatcher([_facts(p) for p in new_pages], thresholds)
    return matcher.match([_facts(p) for p in old_pages])


def _facts(capture):
    from archiver.extract import extract

    return extract(capture, fast=True)


def test_two_near_identical_candidates_leave_the_page_unmatched_never_forced():
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT)]
    twins = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT),
             _page(f"{NEW}/en/archive/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT)]
    [row] = build_manifest([], old, twins)
    assert row.kind == "unmatched" and row.new_url is None and row.review and "ambiguous" in row.evidence
    # what the margin alone prevents: with no margin the same page is forced onto one twin
    [forced] = build_manifest([], old, twins, thresholds=Thresholds(margin=0.0))
    assert forced.kind == "page" and forced.new_url in {p.url for p in twins}


def test_acceptance_threshold_and_margin_are_exact_bounds():
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT)]
    new = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT),
           _page(f"{NEW}/en/news/2019-02-07-road-safety", "Road safety in Bucharest", _OTHER)]
    [probe] = _matcher_and_match(old, new, Thresholds(accept=0.0, margin=0.0))
    top, second = probe.confidence, probe.runner_up
    assert probe.new_index == 0 and 0.55 < top <= 1.0 and 0.0 < second < top - 0.08
    lead = top - second
    # accepted at exactly the threshold and the margin, refused just above either
    [at] = _matcher_and_match(old, new, Thresholds(accept=top, margin=lead - 1e-9))
    assert at.new_index == 0 and not at.ambiguous
    [above] = _matcher_and_match(old, new, Thresholds(accept=top + 0.002, margin=0.0))
    assert above.new_index is None and not above.ambiguous and f"under {top + 0.002}" in above.evidence
    [narrow] = _matcher_and_match(old, new, Thresholds(accept=0.0, margin=lead + 0.002))
    assert narrow.new_index is None and narrow.ambiguous and narrow.best_index == 0
    # the rows follow the matcher: no content row below the bar
    [row] = build_manifest([], old, new, thresholds=Thresholds(accept=top + 0.002))
    assert row.kind == "unmatched" and row.new_url is None


def test_default_thresholds_are_the_documented_ones():
    """README and ``archiver map --help`` promise these defaults."""
    assert (Thresholds().accept, Thresholds().margin, Thresholds().strong) == (0.55, 0.08, 0.80)


def test_verdict_needs_the_threshold_and_the_margin_both_inclusive():
    from archiver.mapping.content import ACCEPTED, AMBIGUOUS, UNDER, verdict

    bar = Thresholds(accept=0.5, margin=0.25)
    assert verdict(0.5, 0.25, bar) == ACCEPTED  # exactly at both bounds
    assert verdict(0.75, 0.0, bar) == ACCEPTED
    assert verdict(0.4999, 0.0, bar) == UNDER
    assert verdict(0.5, 0.2501, bar) == AMBIGUOUS
    assert verdict(1.0, 0.7501, bar) == AMBIGUOUS
    assert verdict(0.25, 0.5, bar) == UNDER


def test_the_surer_content_claim_keeps_the_page_whatever_the_order_of_the_urls():
    shorter = _TEXT.split(". ")[0] + ". " + _OTHER
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest again", shorter),
           _page(f"{OLD}/a/2/", "Ministers meet in Bucharest", _TEXT)]
    new = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT)]
    rows = {r.old_url: r for r in build_manifest([], old, new, thresholds=Thresholds(strong=0.99))}
    assert rows[f"{OLD}/a/2/"].kind == "page" and rows[f"{OLD}/a/2/"].new_url == new[0].url
    assert rows[f"{OLD}/a/1/"].kind != "page" and "already claimed by" in rows[f"{OLD}/a/1/"].evidence


def test_an_explicit_redirect_holds_its_target_against_a_content_claim():
    target = f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest"
    old = [_redirect(f"{OLD}/z/moved/", target),
           _page(f"{OLD}/a/copy/", "Ministers meet in Bucharest, a copy", _TEXT)]
    new = [_page(target, "Ministers meet in Bucharest", _TEXT)]
    rows = {r.old_url: r for r in build_manifest([], old, new, thresholds=Thresholds(strong=0.99))}
    assert (rows[f"{OLD}/z/moved/"].kind, rows[f"{OLD}/z/moved/"].method) == ("page", "http_redirect")
    claimer = rows[f"{OLD}/a/copy/"]
    assert claimer.kind != "page" and claimer.review
    assert f"already claimed by {OLD}/z/moved/" in claimer.evidence


def test_a_demoted_claim_becomes_the_fallback_its_notice_gives_and_aliases_all_keep_the_page():
    shorter = _TEXT.split(". ")[0] + ". A short note on the meeting."  # its content, far from the section's
    target = f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest"
    section = f"{NEW}/en/news/"
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT),
           _page(f"{OLD}/a/1/print/", "Ministers meet in Bucharest", _TEXT),  # the same page again: an alias
           _page(f"{OLD}/a/2/", "Ministers meet in Bucharest again", shorter)]
    new = [_page(target, "Ministers meet in Bucharest", _TEXT), _page(section, "News", _OTHER + " Index.")]
    notices = [Notice(f"{OLD}/a/2/", 200, "moved_site", section, (Signal("banner", section, "moved to the portal"),))]
    rows = {r.old_url: r for r in build_manifest(notices, old, new, thresholds=Thresholds(strong=0.99))}
    assert rows[f"{OLD}/a/1/"].new_url == rows[f"{OLD}/a/1/print/"].new_url == target
    demoted = rows[f"{OLD}/a/2/"]
    assert (demoted.kind, demoted.method, demoted.new_url, demoted.status, demoted.confidence) == (
        "fallback", "banner_link", section, 301, 0.4)
    assert demoted.review and demoted.evidence.startswith(f"content match {target} (")
    assert f"is already claimed by {OLD}/a/1/" in demoted.evidence and f"notice links {section}" in demoted.evidence


def test_two_strong_claims_on_one_new_page_both_keep_it():
    """Both clear the strong bar (a page and its near copy): neither is forced off the new page."""
    shorter = _TEXT.split(". ")[0] + ". " + _OTHER
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT),
           _page(f"{OLD}/a/2/", "Ministers meet in Bucharest again", shorter)]
    new = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT)]
    weaker = next(r for r in build_manifest([], old, new, thresholds=Thresholds(strong=0.0)) if r.old_url.endswith("/2/"))
    assert weaker.kind == "page" and weaker.confidence < 0.99
    rows = build_manifest([], old, new, thresholds=Thresholds(strong=weaker.confidence))
    assert [(r.kind, r.new_url) for r in rows] == [("page", new[0].url)] * 2


def test_a_best_claim_exactly_at_the_strong_bar_is_strong():
    """Two different pages (short texts, same title) claim one new page with the same score; with the
    strong bar exactly at that score both keep it, and just above it the second is demoted."""
    old = [_page(f"{OLD}/x/1", "Ministers meet in Bucharest", "Short."),
           _page(f"{OLD}/y/1", "Ministers meet in Bucharest", "Brief.")]
    new = [_page(f"{NEW}/en/news/ministers-meet", "Ministers meet in Bucharest", _TEXT),
           _page(f"{NEW}/en/other", "Road safety report", _OTHER)]
    at = {r.old_url: r for r in build_manifest([], old, new, thresholds=Thresholds(accept=0.5, strong=0.99))}
    score = at[f"{OLD}/x/1"].confidence
    assert at[f"{OLD}/x/1"].kind == "page" and at[f"{OLD}/y/1"].kind == "unmatched"
    assert f"({score:.2f}) is already claimed" in at[f"{OLD}/y/1"].evidence  # the same score, claimed second
    rows = build_manifest([], old, new, thresholds=Thresholds(accept=0.5, strong=score))
    assert [(r.kind, r.new_url, r.confidence) for r in rows] == [("page", new[0].url, score)] * 2


def test_a_demoted_claim_keeps_the_reasons_its_fallbacks_were_refused():
    shorter = _TEXT.split(". ")[0] + ". " + _OTHER
    old = [_page(f"{OLD}/a/1/", "Ministers meet in Bucharest", _TEXT),
           _page(f"{OLD}/a/2/", "Ministers meet in Bucharest again", shorter)]
    new = [_page(f"{NEW}/en/news/2019-02-07-ministers-meet-in-bucharest", "Ministers meet in Bucharest", _TEXT)]
    notices = [Notice(f"{OLD}/a/2/", 200, "moved_site", "https://evil.example/x",
                      (Signal("banner", "https://evil.example/x", "moved"),))]
    rows = {r.old_url: r for r in build_manifest(notices, old, new, thresholds=Thresholds(strong=0.99))}
    demoted = rows[f"{OLD}/a/2/"]
    assert demoted.kind == "unmatched" and demoted.new_url is None and demoted.review
    assert "notice link https://evil.example/x rejected: off-site" in demoted.evidence
