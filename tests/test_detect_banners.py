"""Banner detection on a synthetic retired site, measured; and detection over a real WARC.

The site mixes banners in several languages and wordings (two of them in no
phrase pack), a page-level banner, ordinary repeated furniture that must not
count (cookie bar naming another site, social footer, designer credit,
partner logo strip, a related-links box and a menu that both link GOV.SI), article text naming other sites, and pages without banners.
"""
import io
import json
import random

import pytest

from archiver.detect import detect
from archiver.types import Capture

from warcs import record

OLD = "https://www.mnz.gov.si"
NEW = "https://www.gov.si"

BANNERS = {
    # section: (banner html, position, truth, in a phrase pack?)
    "en": ('<div class="moved-notice"><p>The content of this website has been moved to '
           f'<a href="{NEW}/en/">GOV.SI</a>, the state administration\'s main website published on '
           f'1 July 2019.</p><p>For more recent information visit <a href="{NEW}/en/">GOV.SI</a>.</p></div>',
           "top", "moved_site"),
    "sl": ('<div id="obvestilo"><p>Vsebine tega spletnega mesta so bile preseljene na '
           f'<a href="{NEW}/">GOV.SI</a>, osrednje spletno mesto državne uprave.</p></div>',
           "top", "moved_site"),
    "sl-text": ('<header class="site-header"><p class="opozorilo">Spletna stran ni več ažurna. Vsebina je '
                'na voljo na portalu www.gov.si.</p></header>', "top", "moved_site"),
    # no pack has these wordings
    "de": ('<section class="hinweis">Dieses Angebot finden Sie künftig im Landesportal '
           f'<a href="{NEW}/de/">gov.si</a>.</section>', "bottom", "moved_site"),
    "hr": ('<div class="obavijest"><strong>Obavijest:</strong> stranice ministarstva od sada se nalaze '
           f'na <a href="{NEW}/">www.gov.si</a></div>', "top", "moved_site"),
    # a banner linking each page's own new address: page-level
    "page": ('<div class="notice">Ta stran ima nov naslov: <a href="{target}">preberite jo na portalu</a>'
             '</div>', "top", "moved"),
    "live": ("", "top", "live"),
}
SECTION_SIZES = {"en": 8, "sl": 8, "sl-text": 5, "de": 5, "hr": 5, "page": 6, "live": 12}

NAV = ('<nav class="main-menu"><ul><li><a href="/">Domov</a></li><li><a href="/novice/">Novice</a></li>'
       f'<li><a href="{NEW}/">GOV.SI</a></li></ul></nav>')
COOKIES = ('<div id="cookie-bar">Spletno mesto uporablja piškotke. Več o piškotkih na '
           '<a href="https://www.ip-rs.si/">www.ip-rs.si</a>.</div>')
RELATED = ('<aside class="povezave"><h3>Povezave</h3><ul><li><a href="https://www.vlada.si/">Vlada RS</a></li>'
           '<li><a href="https://www.policija.si/">Policija</a></li>'
           f'<li><a href="{NEW}/">Portal GOV.SI</a></li></ul></aside>')
PARTNERS = ('<div class="partners"><a href="https://www.eu-skladi.si/"><img src="/eu.png" alt="EU">'
            'Projekt sofinancira Evropska unija</a></div>')
FOOTER = ('<footer><p>Sledite nam na <a href="https://www.facebook.com/mnz">Facebook</a> in '
          '<a href="https://twitter.com/mnz">Twitter</a></p><p>© Ministrstvo za notranje zadeve, '
          'www.mnz.gov.si</p></footer><div class="credits">Oblikovanje: <a href="https://www.agencija.si/">'
          'agencija.si</a></div>')
WORDS = ("minister policija migracije meja azil sodelovanje zakon vlada svet evropska unija "
         "varnost državljani postopek odločba seja poročilo program").split()


def article(rng, i, banner, position):
    text = " ".join(rng.choice(WORDS) for _ in range(120))
    extra = " Več informacij na www.policija.si." if i % 7 == 3 else ""
    top, bottom = (banner, "") if position == "top" else ("", banner)
    return (f"<!DOCTYPE html><html lang='sl'><head><meta charset='utf-8'><title>Novica {i} | MNZ</title></head>"
            f"<body>{COOKIES}{NAV}{PARTNERS}{RELATED}{top}<main><h1>Novica {i}</h1><p class='date'>7. 2. 2019</p>"
            f"<p>{text}.{extra}</p>{bottom}</main>{FOOTER}</body></html>")


def build_site(seed=7, with_redirects=True):
    """(records, truth): records are (url, status, headers, body); truth maps url -> (class, target)."""
    rng = random.Random(seed)
    records, truth = [], {}
    n = 0
    for section, size in SECTION_SIZES.items():
        banner, position, label = BANNERS[section]
        for _ in range(size):
            n += 1
            url = f"{OLD}/{section}/clanek_{1000 + n}/"
            target = None
            if section == "page":
                target = f"{NEW}/novice/2019-02-{n % 28 + 1:02d}-novica-{n}"
                html = article(rng, n, banner.format(target=target), position)
            else:
                html = article(rng, n, banner, position)
                target = {"en": f"{NEW}/en/", "sl": f"{NEW}/", "de": f"{NEW}/de/", "hr": f"{NEW}/"}.get(section)
            records.append((url, 200, [("Content-Type", "text/html; charset=utf-8")], html.encode()))
            truth[url] = (label, target)
    for i in range(3):
        url = f"{OLD}/odstranjeno/{i}/"
        records.append((url, 410, [("Content-Type", "text/html")], b"<h1>Gone</h1>"))
        truth[url] = ("gone", None)
    url = f"{OLD}/manjka/"
    records.append((url, 404, [("Content-Type", "text/html")], b"<h1>Not found</h1>"))
    truth[url] = ("gone", None)
    if with_redirects:
        for i in range(3):
            url = f"{OLD}/preusmeritev/{i}/"
            target = f"{NEW}/novice/2019-03-0{i + 1}-preusmerjeno-{i}"
            records.append((url, 301, [("Location", target)], b""))
            truth[url] = ("moved", target)
    rng.shuffle(records)
    return records, truth


def captures(records):
    return [Capture(url=u, status=s, headers=tuple(h), body=b, date="2024-01-01T00:00:00Z", file="site",
                    offset=i) for i, (u, s, h, b) in enumerate(records)]


def measure(notices, truth):
    """Precision/recall of "moved" (moved or moved_site) and exact agreement on class and target."""
    moved = {"moved", "moved_site"}
    got = {n.url: n for n in notices}
    tp = sum(1 for u, (label, _) in truth.items() if label in moved and got[u].classification in moved)
    fp = sum(1 for u, (label, _) in truth.items() if label not in moved and got[u].classification in moved)
    fn = sum(1 for u, (label, _) in truth.items() if label in moved and got[u].classification not in moved)
    wrong = [(u, label, target, got[u].classification, got[u].target)
             for u, (label, target) in truth.items()
             if got[u].classification != label or got[u].target != target]
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), wrong


@pytest.mark.parametrize("new_hosts, with_redirects", [
    (["www.gov.si"], True),  # the job manifest names the new site
    ((), True),  # inferred from the site's own redirects
    ((), False),  # nothing known: the banners' shape alone
])
def test_banner_classification_precision_recall(new_hosts, with_redirects):
    records, truth = build_site(with_redirects=with_redirects)
    notices = detect(captures(records), new_hosts=new_hosts)
    assert {n.url for n in notices} == set(truth)
    precision, recall, wrong = measure(notices, truth)
    print(f"\nnew_hosts={list(new_hosts)} redirects={with_redirects}: precision {precision:.3f} "
          f"recall {recall:.3f} exact {1 - len(wrong) / len(truth):.3f}")
    assert precision >= 0.99 and recall >= 0.97, wrong
    assert wrong == []


def test_banner_evidence_names_the_block_and_why():
    records, truth = build_site()
    notices = {n.url: n for n in detect(captures(records), new_hosts=["www.gov.si"])}
    hr = next(n for u, n in notices.items() if "/hr/" in u)
    banner = next(s for s in hr.signals if s.kind == "banner")
    assert "stranice ministarstva od sada se nalaze" in banner.evidence.lower()
    assert "repeated on 5 pages" in banner.evidence and banner.strength >= 0.6
    en = next(n for u, n in notices.items() if "/en/" in u)
    assert 'moved phrase "content of this website has been moved"' in en.signals[0].evidence
    live = [n for u, n in notices.items() if "/live/" in u]
    assert all(n.classification == "live" and n.target is None for n in live)
    # the partner strip and credits were candidates, but scored too low to be reported
    assert all(not any("agencija" in s.evidence or "eu-skladi" in s.evidence for s in n.signals) for n in live)


def test_a_single_page_notice_needs_a_phrase_or_the_new_site():
    body = ("<html><body><div class='note'>Vsebine tega spletnega mesta so bile preseljene na "
            f"<a href='{NEW}/'>GOV.SI</a></div><h1>x</h1><p>Besedilo.</p></body></html>")
    alone = detect(captures([(f"{OLD}/edina/", 200, [("Content-Type", "text/html")], body.encode())]))
    assert alone[0].classification == "moved_site" and alone[0].target == f"{NEW}/"
    credit = ("<html><body><h1>x</h1><p>Besedilo.</p><div>Oblikovanje: "
              "<a href='https://www.agencija.si/'>agencija.si</a></div></body></html>")
    plain = detect(captures([(f"{OLD}/edina/", 200, [("Content-Type", "text/html")], credit.encode())]))
    assert plain[0].classification == "live"


def test_manifest_phrase_adds_to_the_score():
    body = "<html><body><p class='x'>Stari portal ne deluje več, obiščite e-portal.</p><h1>x</h1></body></html>"
    recs = [(f"{OLD}/p{i}/", 200, [("Content-Type", "text/html")], body.encode()) for i in range(3)]
    assert {n.classification for n in detect(captures(recs))} == {"live"}
    flagged = detect(captures(recs), phrases=["stari portal ne deluje več"])
    assert {n.classification for n in flagged} == {"moved_site"}
    assert "manifest phrase" in flagged[0].signals[0].evidence


def test_windows_1250_page_with_misdeclared_charset_is_read():
    banner = "Vsebine tega spletnega mesta so bile preseljene na portal GOV.SI. Spletna stran ni več ažurna."
    body = f"<html><body><div class='obvestilo'>{banner}</div><h1>Sporočilo</h1></body></html>"
    recs = [(f"{OLD}/p{i}/", 200, [("Content-Type", "text/html; charset=iso-8859-1")], body.encode("cp1250"))
            for i in range(4)]
    notices = detect(captures(recs), new_hosts=["www.gov.si"])
    assert {n.classification for n in notices} == {"moved_site"}
    assert "ni več ažurna" in notices[0].signals[0].evidence


def write_warc(path, records):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    reasons = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 410: "Gone"}
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, status, headers, body in records:
            http = StatusAndHeaders(f"{status} {reasons[status]}", headers + [("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            writer.write_record(record)


def test_cli_detect_over_a_real_warc(tmp_path, capsys):
    from archiver.cli import main

    records, truth = build_site(seed=11)
    warc = tmp_path / "crawl" / "warc" / "legacy-00000.warc.gz"
    warc.parent.mkdir(parents=True)
    write_warc(warc, records)
    out = tmp_path / "notices.jsonl"
    code = main(["detect", str(tmp_path / "crawl"), "--out", str(out), "--new-host", "www.gov.si"])
    assert code == 0
    printed = capsys.readouterr().out
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(truth)
    got = {line["url"]: (line["classification"], line["target"]) for line in lines}
    assert got == truth
    moved_site = sum(1 for label, _ in truth.values() if label == "moved_site")
    assert f"moved_site {moved_site}" in printed


def test_cli_bad_input_exits_2(tmp_path, capsys):
    from archiver.cli import main

    assert main(["detect", str(tmp_path / "missing.warc.gz"), "--out", str(tmp_path / "n.jsonl")]) == 2
    assert "missing.warc.gz" in capsys.readouterr().err


def test_cli_inputs_without_captures_exit_2(tmp_path, capsys):
    from archiver.cli import main

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("not a warc")
    assert main(["detect", str(empty_dir), "--out", str(tmp_path / "n.jsonl")]) == 2
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"this is not a WARC file at all" * 10)
    assert main(["detect", str(junk), "--out", str(tmp_path / "n.jsonl")]) == 2
    assert not (tmp_path / "n.jsonl").exists()
    assert "is not a WARC, ARC or WACZ file" in capsys.readouterr().err
    info_only = tmp_path / "info.warc"  # an archive, but without one HTTP capture
    info_only.write_bytes(record("", rec_type="warcinfo", http=b"software: x\r\n",
                                 content_type="application/warc-fields"))
    assert main(["detect", str(info_only), "--out", str(tmp_path / "n.jsonl")]) == 2
    assert "no HTTP captures" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("http://example.com/\n")
    assert main(["map", "--old", str(notes), "--new", str(info_only), "--out", str(tmp_path / "map")]) == 2
    err = capsys.readouterr().err
    assert "not a WARC" in err and len(err.strip().splitlines()) == 1
