"""Page-level signals and redirect chains, on Captures built directly."""
import json

import pytest

from archiver.detect import detect, read_notices, summarize, write_notices
from archiver.detect.hosts import hosts_named
from archiver.types import Capture

OLD = "https://www.mnz.gov.si"
NEW = "https://www.gov.si"


def cap(path, status=200, body="", headers=(), ctype="text/html; charset=utf-8", date="2024-01-01T00:00:00Z"):
    url = path if path.startswith("http") else OLD + path
    hdrs = ((("Content-Type", ctype),) if ctype else ()) + tuple(headers)
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Capture(url=url, status=status, headers=hdrs, body=data, date=date, file="t.warc.gz", offset=0)


def redirect(path, location, status=301):
    return cap(path, status, "", (("Location", location),))


def by_url(notices):
    return {n.url: n for n in notices}


def one(captures, url=None, **kw):
    notices = by_url(detect(captures, **kw))
    return notices[url or captures[0].url]


# ------------------------------------------------------------------ HTTP redirects

def test_redirect_chain_is_followed_hop_by_hop_to_the_final_url():
    captures = [
        redirect("/a", "/b"),  # relative: resolves against the URL that sent it
        redirect("/b", "c", 302),  # relative to /b
        redirect("/c", f"{NEW}/novice/2019-02-07-x", 308),
        cap(f"{NEW}/novice/2019-02-07-x", 200, "<html><body><h1>x</h1></body></html>"),
    ]
    notices = by_url(detect(captures, new_hosts=["www.gov.si"]))
    a = notices[f"{OLD}/a"]
    assert a.classification == "moved" and a.target == f"{NEW}/novice/2019-02-07-x"
    evidence = a.signals[0].evidence
    assert a.signals[0].kind == "http_redirect" and f"{OLD}/b -> {OLD}/c -> {NEW}/novice" in evidence
    assert "final status 200" in evidence
    assert notices[f"{OLD}/b"].target == a.target
    assert f"{NEW}/novice/2019-02-07-x" not in notices  # the new site's pages get no notice


def test_redirect_loop_is_an_error_with_the_loop_as_evidence():
    notices = by_url(detect([redirect("/loop1", "/loop2"), redirect("/loop2", f"{OLD}/loop1")]))
    note = notices[f"{OLD}/loop1"]
    assert note.classification == "error" and note.target is None
    assert note.signals[0].evidence.endswith(f"chain loop: {OLD}/loop1 -> {OLD}/loop2 -> {OLD}/loop1")


def test_over_long_chain_is_capped():
    captures = [redirect(f"/r{i}", f"/r{i + 1}") for i in range(40)]
    note = one(captures)
    assert note.classification == "error" and "more than 20 hops" in note.signals[0].evidence


def test_chain_ending_off_site_uncaptured_is_still_reported():
    note = one([redirect("/x", "https://elsewhere.example/page")])
    assert note.classification == "moved" and note.target == "https://elsewhere.example/page"
    assert "final URL not captured" in note.signals[0].evidence


def test_chain_ending_in_404_is_gone_and_in_500_is_error():
    notices = by_url(detect([
        redirect("/to-404", f"{NEW}/missing"), cap(f"{NEW}/missing", 404),
        redirect("/to-500", f"{NEW}/broken"), cap(f"{NEW}/broken", 500),
    ], new_hosts=["www.gov.si"]))
    assert notices[f"{OLD}/to-404"].classification == "gone"
    assert "final status 404" in notices[f"{OLD}/to-404"].signals[0].evidence
    assert notices[f"{OLD}/to-500"].classification == "error"


def test_redirect_without_location_is_an_error_but_304_is_live():
    note = one([cap("/nowhere", 302)])
    assert note.classification == "error" and "without a usable Location" in note.signals[0].evidence
    assert one([cap("/unchanged", 304)]).classification == "live"


def test_files_that_are_not_pages_are_resources_not_live_pages():
    got = by_url(detect([cap("/robots.txt", body="User-agent: *", ctype="text/plain"),
                         cap("/sitemap.xml", body="<urlset/>", ctype="application/xml"),
                         cap("/logo.png", body=b"\x89PNG", ctype="image/png"),
                         cap("/report.pdf", body=b"%PDF-1.4", ctype="application/pdf"),
                         cap("/page", body="<html><body><h1>A page</h1></body></html>")]))
    assert {url.rsplit("/", 1)[1]: n.classification for url, n in got.items()} == {
        "robots.txt": "resource", "sitemap.xml": "resource", "logo.png": "resource", "report.pdf": "resource",
        "page": "live"}
    # a file that moves is moved, like a page
    assert one([redirect("/old.pdf", f"{NEW}/new.pdf")]).classification == "moved"


def test_redirect_to_the_new_home_is_moved_site():
    note = one([redirect("/", f"{NEW}/en/")])
    assert note.classification == "moved_site" and note.target == f"{NEW}/en/"


def test_many_old_urls_landing_on_one_url_is_site_level():
    captures = [redirect(f"/page{i}", f"{NEW}/drzavni-organi/ministrstva/mnz/") for i in range(6)]
    assert {n.classification for n in detect(captures)} == {"moved_site"}


# ------------------------------------------------------------------ status codes

def test_410_and_404_are_gone_and_5xx_error():
    linking = cap("/index", body='<a href="/linked-404">x</a>')
    notices = by_url(detect([cap("/removed", 410), cap("/linked-404", 404), cap("/other-404", 404),
                             cap("/err", 503), linking]))
    assert notices[f"{OLD}/removed"].classification == "gone"
    assert notices[f"{OLD}/removed"].signals[0].kind == "gone"
    linked = notices[f"{OLD}/linked-404"]
    assert linked.classification == "gone" and linked.signals[0].kind == "not_found"
    assert "linked" in linked.signals[0].evidence
    assert notices[f"{OLD}/other-404"].signals[0].strength < linked.signals[0].strength
    assert notices[f"{OLD}/err"].classification == "error"
    assert notices[f"{OLD}/index"].classification == "live"


# ------------------------------------------------------------------ meta refresh

@pytest.mark.parametrize("content, expected", [
    ("0; url=https://www.gov.si/novice/a", f"{NEW}/novice/a"),
    ("0;URL='https://www.gov.si/novice/a'", f"{NEW}/novice/a"),
    ('0; url="/novo/stran"', f"{OLD}/novo/stran"),
    ("0;url=stran.html", f"{OLD}/dir/stran.html"),
    ("5, https://www.gov.si/novice/a", f"{NEW}/novice/a"),  # url= is optional
    ("  3 ;  URL = https://www.gov.si/novice/a  ", f"{NEW}/novice/a"),
])
def test_meta_refresh_forms(content, expected):
    quoted = f"'{content}'" if '"' in content else f'"{content}"'
    body = f'<html><head><meta http-equiv="Refresh" content={quoted}></head><body>Moved</body></html>'
    note = one([cap("/dir/page", body=body)])
    assert note.classification == "moved" and note.target == expected
    assert note.signals[0].kind == "meta_refresh"


def test_meta_refresh_without_url_or_pointing_at_itself_is_ignored():
    for content in ("30", "0; url=/dir/page"):
        body = f'<html><head><meta http-equiv="refresh" content="{content}"></head><body>x</body></html>'
        assert one([cap("/dir/page", body=body)]).classification == "live"


def test_refresh_header_and_base_href():
    note = one([cap("/p", body="<html></html>", headers=(("Refresh", "0; url=/new"),))])
    assert note.target == f"{OLD}/new"
    body = ('<html><head><base href="https://www.gov.si/novice/"><meta http-equiv="refresh" '
            'content="0; url=clanek-1"></head></html>')
    assert one([cap("/p2", body=body)]).target == f"{NEW}/novice/clanek-1"


def test_refresh_chain_continues_through_captured_redirects():
    body = '<meta http-equiv="refresh" content="0; url=/hop">'
    captures = [cap("/start", body=body), redirect("/hop", f"{NEW}/novice/final")]
    note = one(captures)
    assert note.target == f"{NEW}/novice/final" and note.signals[0].kind == "meta_refresh"


# ------------------------------------------------------------------ JavaScript

@pytest.mark.parametrize("script, expected", [
    ('location = "https://www.gov.si/novice/a";', f"{NEW}/novice/a"),
    ("window.location.href='https://www.gov.si/novice/a'", f"{NEW}/novice/a"),
    ('window.location.replace("/nova-stran");', f"{OLD}/nova-stran"),
    ("window.location.assign('https://www.gov.si/novice/a')", f"{NEW}/novice/a"),
    ('document.location = "https://www.gov.si/novice/a";', f"{NEW}/novice/a"),
    ("top.location.href = 'https://www.gov.si/novice/a';", f"{NEW}/novice/a"),
    ("setTimeout(function(){ location.href = 'https://www.gov.si/novice/a'; }, 3000);", f"{NEW}/novice/a"),
])
def test_js_redirect_forms(script, expected):
    body = f"<html><head><script>{script}</script></head><body>Moved</body></html>"
    note = one([cap("/js", body=body)])
    assert note.classification == "moved" and note.target == expected
    assert note.signals[0].kind == "js_redirect"


@pytest.mark.parametrize("script", [
    'if (location.href == "https://www.gov.si/") { x(); }',  # a comparison
    "location.href = '/search?q=' + query;",  # not a literal target
    "function go() { location.href = 'https://www.gov.si/novice/a'; }",  # only on demand
    "document.getElementById('b').onclick = function(){ location.href = 'https://www.gov.si/a'; };",
    'var s = document.createElement("script"); s.src = "https://stats.example/x.js";',
])
def test_js_that_does_not_redirect_on_load_is_not_followed(script):
    body = f"<html><head><script>{script}</script></head><body>Still here</body></html>"
    note = one([cap("/js", body=body)])
    assert note.classification == "live"


def test_external_scripts_are_not_read():
    body = '<html><head><script src="/app.js">location = "https://www.gov.si/";</script></head></html>'
    assert one([cap("/js", body=body)]).classification == "live"


# ------------------------------------------------------------------ canonical

def test_cross_host_canonical_is_moved_same_host_is_not():
    cross = '<html><head><link rel="canonical" href="https://www.gov.si/novice/2019-a"></head><body>x</body></html>'
    same = '<html><head><link rel="canonical" href="/page?id=1"></head><body>x</body></html>'
    notices = by_url(detect([cap("/cross", body=cross), cap("/same", body=same)]))
    assert notices[f"{OLD}/cross"].classification == "moved"
    assert notices[f"{OLD}/cross"].target == f"{NEW}/novice/2019-a"
    assert notices[f"{OLD}/same"].classification == "live" and notices[f"{OLD}/same"].signals == ()


def test_canonical_link_header():
    headers = (("Link", '<https://www.gov.si/novice/2019-b>; rel="canonical", <https://cdn.x/s.css>; rel=preload'),)
    note = one([cap("/hdr", body="<html><body>x</body></html>", headers=headers)])
    assert note.classification == "moved" and note.target == f"{NEW}/novice/2019-b"
    assert note.signals[0].kind == "canonical" and "Link:" in note.signals[0].evidence


def test_strongest_signal_wins_and_all_are_reported():
    body = ('<html><head><link rel="canonical" href="https://www.gov.si/novice/canon">'
            '<meta http-equiv="refresh" content="0; url=https://www.gov.si/novice/refresh">'
            '<script>location.replace("https://www.gov.si/novice/js")</script></head></html>')
    note = one([cap("/multi", body=body)])
    assert note.target == f"{NEW}/novice/refresh"
    assert {s.kind for s in note.signals} == {"meta_refresh", "js_redirect", "canonical"}


# ------------------------------------------------------------------ robustness and output

@pytest.mark.parametrize("body", [
    bytes(range(256)) * 200,  # binary garbage as text/html
    b"<html><head><meta http-equiv=refresh content='0;url=http://[bad'></head>",
    b"<html><body>" + b"<div><a href='https://www.gov.si/'>GOV.SI</a>" * 3000,
    b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00",
    b"",
])
def test_hostile_pages_do_not_break_detection(body):
    notices = detect([cap("/bad", body=body), cap("/ok", 410)])
    assert {n.url for n in notices} == {f"{OLD}/bad", f"{OLD}/ok"}


def test_latest_capture_of_a_url_wins():
    old = cap("/p", body="<html><body>x</body></html>", date="2023-01-01T00:00:00Z")
    new = cap("/p", 410, date="2024-06-01T00:00:00Z")
    assert one([new, old]).classification == "gone"
    assert one([old, new]).classification == "gone"


def test_notices_round_trip_through_jsonl(tmp_path):
    notices = detect([redirect("/a", f"{NEW}/novice/x"), cap("/g", 410)])
    path = write_notices(notices, tmp_path / "out" / "notices.jsonl")
    lines = path.read_text().splitlines()
    assert [json.loads(line)["url"] for line in lines] == [f"{OLD}/a", f"{OLD}/g"]
    assert json.loads(lines[0])["signals"][0]["kind"] == "http_redirect"
    assert read_notices(path) == notices
    assert summarize(notices) == {"moved": 1, "moved_site": 0, "gone": 1, "live": 0, "resource": 0, "error": 0}


def test_hosts_named_in_text():
    assert hosts_named("moved to GOV.SI, see www.gov.si/en or e-uprava.gov.si.") == {"gov.si", "www.gov.si", "e-uprava.gov.si"}
    assert hosts_named("pišite na gp.mnz@gov.si, glej npr. str. 5, datoteka porocilo.pdf, node.js, 3.14") == set()


def test_old_domain_redirecting_to_the_legacy_domain_keeps_its_notices():
    captures = [redirect(f"https://mnz.old.si/p{i}", f"{OLD}/p{i}") for i in range(3)]
    captures += [cap(f"/p{i}", body="<html><body><h1>x</h1></body></html>") for i in range(3)]
    notices = by_url(detect(captures))
    assert len(notices) == 6
    assert notices["https://mnz.old.si/p0"].target == f"{OLD}/p0"
    assert notices[f"{OLD}/p0"].classification == "live"


@pytest.mark.parametrize("title, h1, gone", [
    ("Page not found | Ministry", "", True),
    ("Ministrstvo", "Napaka 404: stran ne obstaja", True),
    ("404 - Seite nicht gefunden", "", True),
    ("404 prijav za azil v letu 2019 | Ministrstvo", "404 prijav za azil v letu 2019", False),
    ("Not found in translation: a seminar", "", False),
])
def test_soft_404_pages_are_gone(title, h1, gone):
    body = f"<html><head><title>{title}</title></head><body><h1>{h1}</h1><p>Besedilo.</p></body></html>"
    note = one([cap("/x", body=body)])
    assert (note.classification == "gone") is gone
    if gone:
        assert note.signals[-1].kind == "not_found" and "soft 404" in note.signals[-1].evidence


def test_chain_matches_one_url_however_its_hops_spell_it():
    # the Location escapes lower-case; the next hop was archived with the raw UTF-8 path
    captures = [
        redirect("/a", "/nova-%c4%8dlanek"),
        redirect(f"{OLD}/nova-\u010dlanek", f"{NEW}/novice/final"),
        cap(f"{NEW}/novice/final", 200, "<html><body><h1>x</h1></body></html>"),
    ]
    note = by_url(detect(captures, new_hosts=["www.gov.si"]))[f"{OLD}/a"]
    assert note.classification == "moved" and note.target == f"{NEW}/novice/final"


def test_a_page_read_again_from_the_memo_still_counts_its_links():
    # the same page archived twice (a re-crawl's unchanged copy), then detection run twice in one
    # process (a Dask worker runs many commands): every run sees the 404 as linked
    home = '<html><body><p>Our news.</p><a href="/old-report">report</a></body></html>'
    captures = [cap("/", body=home), cap("/", body=home, date="2024-02-01T00:00:00Z"), cap("/old-report", 404)]
    first, second = (by_url(detect(captures))[OLD + "/old-report"] for _ in range(2))
    assert first == second and first.classification == "gone"
    assert "linked from captured pages" in first.signals[0].evidence
