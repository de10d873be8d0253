"""extract.py: decoding (windows-1250 traps), metadata, main text, hostile input."""
import os
from pathlib import Path

import pytest

from archiver.extract import date_in_url, decode_html, extract, fold, guess_language, parse_date_text
from archiver.mapping.content import facts_from_url
from archiver.types import Capture

SLOVENIAN = (
    "<html><head><title>Sporočilo za javnost | Ministrstvo za notranje zadeve</title></head><body>"
    "<h1>Minister Poklukar na neformalnem srečanju v Bukarešti</h1>"
    "<p>Minister za notranje zadeve Boštjan Poklukar se je 7. februarja 2019 udeležil neformalnega "
    "zasedanja Sveta za pravosodje in notranje zadeve. Glavne teme so bile migracijska in azilna "
    "politika EU, krepitev boja proti terorizmu ter policijsko sodelovanje. Čeprav je bilo že veliko "
    "narejenega, ostaja odprtih še več vprašanj, ki jih bo treba rešiti v prihodnjih mesecih.</p>"
    "</body></html>"
)


def capture(body, content_type="text/html", url="https://www.mnz.gov.si/si/novica/", headers=()):
    hdrs = ((("Content-Type", content_type),) if content_type else ()) + tuple(headers)
    return Capture(url=url, status=200, headers=hdrs, body=body, date="2024-01-01T00:00:00Z",
                   file="t.warc.gz", offset=0)


@pytest.mark.parametrize("declared", [
    "text/html; charset=iso-8859-1",  # the classic lie on old Slovenian sites
    "text/html; charset=utf-8",  # wrong and undecodable
    "text/html",  # no declaration at all
    "text/html; charset=windows-1250",  # honest
    "text/html; charset=bogus-charset",  # unknown name
])
def test_windows_1250_decodes_whatever_the_declaration(declared):
    text = decode_html(capture(SLOVENIAN.encode("cp1250"), declared))
    assert "Sporočilo" in text and "Boštjan" in text and "Čeprav" in text and "srečanju" in text


def test_meta_charset_and_bom_are_honoured():
    meta = SLOVENIAN.replace("<head>", '<head><meta http-equiv="Content-Type" content="text/html; charset=windows-1250">')
    assert "Boštjan" in decode_html(capture(meta.encode("cp1250"), "text/html"))
    assert "Boštjan" in decode_html(capture(b"\xef\xbb\xbf" + SLOVENIAN.encode(), "text/html; charset=iso-8859-2"))
    meta5 = SLOVENIAN.replace("<head>", '<head><meta charset="utf-8">')
    assert "Boštjan" in decode_html(capture(meta5.encode(), None))


def test_facts_title_h1_date_language_text():
    facts = extract(capture(SLOVENIAN.encode()))
    assert facts.title == "Minister Poklukar na neformalnem srečanju v Bukarešti"
    assert facts.h1 == "Minister Poklukar na neformalnem srečanju v Bukarešti"
    assert facts.date == "2019-02-07"
    assert facts.lang == "sl"
    assert "azilna politika" in facts.text


def test_title_prefers_og_then_h1_confirmed_by_title():
    html = ("<html lang='en-GB'><head><title>Interior Ministers meet | Ministry of the Interior</title>"
            "<meta property='article:published_time' content='2019-02-07T10:00:00+01:00'></head>"
            "<body><h1>Interior Ministers meet</h1><p>Text.</p></body></html>")
    facts = extract(capture(html.encode(), url="https://www.mnz.gov.si/en/x/"))
    assert facts.title == "Interior Ministers meet" and facts.lang == "en" and facts.date == "2019-02-07"
    og = html.replace("<head>", "<head><meta property='og:title' content='Ministers in Bucharest'>")
    assert extract(capture(og.encode())).title == "Ministers in Bucharest"


def test_date_sources():
    assert parse_date_text("Objavljeno 7. 2. 2019 ob 10:00") == "2019-02-07"
    assert parse_date_text("Published on 7 February 2019") == "2019-02-07"
    assert parse_date_text("February 7, 2019") == "2019-02-07"
    assert parse_date_text("31. 2. 2019") is None
    page = b"<html><body><h1>x</h1><p>No date here at all, just words.</p></body></html>"
    url = "https://www.gov.si/novice/2019-07-01-slovenia-joins/"
    assert extract(capture(page, url=url), fast=True).date == "2019-07-01"
    timed = b"<html><body><time datetime='2018-12-24'>Christmas</time><p>x</p></body></html>"
    assert extract(capture(timed), fast=True).date == "2018-12-24"


def test_links_are_absolute_and_honour_base_href():
    html = (b"<html><head><base href='https://static.example.org/dir/'></head><body>"
            b"<a href='page.html#frag'>a</a><a href='/root'>b</a><a href='mailto:x@y.si'>m</a>"
            b"<a href='javascript:void(0)'>j</a><a href='https://www.gov.si/'>g</a>"
            b"<a href='page.html'>dup</a></body></html>")
    facts = extract(capture(html))
    assert facts.links == ("https://static.example.org/dir/page.html", "https://static.example.org/root",
                           "https://www.gov.si/")
    assert facts.link_texts == ("a", "b", "g")


def test_link_texts_in_step_with_links():
    html = ("<html><body><a href='/d/Poročilo_2018.pdf'><img src='i.png' alt=''></a>"
            "<a href='/d/Poročilo_2018.pdf'> Letno   <b>poročilo</b> 2018 (PDF, 2 MB)</a>"
            "<map><area href='/d/karta.pdf' alt='Karta upravnih enot'></map><a href='/x'></a></body></html>")
    facts = extract(capture(html.encode("utf-8"), url="https://www.mnz.gov.si/sl/"))
    assert facts.links == ("https://www.mnz.gov.si/d/Poro%C4%8Dilo_2018.pdf", "https://www.mnz.gov.si/d/karta.pdf",
                           "https://www.mnz.gov.si/x")
    assert facts.link_texts == ("Letno poročilo 2018 (PDF, 2 MB)", "Karta upravnih enot", "")


def test_language_guess_without_markup():
    assert guess_language("The minister said that the government is working on the new law for the citizens") == "en"
    assert guess_language("Minister je dejal, da vlada pripravlja nov zakon in da bo tudi ta za vse ki so") == "sl"
    assert guess_language("Der Minister sagte, dass die Regierung an dem neuen Gesetz für die Bürger arbeitet und sich") == "de"
    assert guess_language("too short") is None


@pytest.mark.parametrize("body", [
    os.urandom(40_000),  # binary garbage served as text/html
    b"\x00\x01\x02" * 1000,
    b"<html><body><div" * 20_000,  # unclosed tags
    b"<?xml version='1.0' encoding='utf-8'?><html><body><p>x</p></body></html>",
    b"<html>\x00<body><p>nul bytes \x00 in text</p><a href='http://[::1'>bad url</a></body></html>",
    b"",
    b"<div>" * 50_000 + b"deep",  # deep nesting
])
def test_hostile_bodies_never_raise(body):
    facts = extract(capture(body))
    assert facts.url == "https://www.mnz.gov.si/si/novica/"
    if body[:3] in (b"\x00\x01\x02",):
        assert facts.text == ""


def test_huge_page_is_capped_not_fatal():
    body = b"<html><body>" + b"<p>" + b"word " * 2_000_000 + b"</p></body></html>"  # 10 MB
    facts = extract(capture(body), fast=True)
    assert 0 < len(facts.text) <= 200_000


def test_non_html_gives_empty_facts():
    facts = extract(capture(b"%PDF-1.4 ...", "application/pdf"))
    assert facts.text == "" and facts.title == ""


def test_reference_page_text_reads_as_english():
    # ../shared/reference beside the repository: the real mnz.gov.si page as text
    path = Path(__file__).resolve().parents[2] / "shared" / "reference" / "000_10253423cca985c9.txt"
    if not path.exists():
        pytest.skip(f"{path} is not here (it lives beside the repository, not in it)")
    text = path.read_text(encoding="utf-8")
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    # as on the live page: skip link, the moved notice, then the article with its h1
    notice = "".join(f"<p>{line}</p>" for line in blocks[1].splitlines())
    paragraphs = "".join(f"<p>{p}</p>" for p in blocks[3:])
    html = (f"<html><head><title>{blocks[2]}</title></head><body><a href='#main'>{blocks[0]}</a>"
            f"<div class='notice'>{notice}</div><h1>{blocks[2]}</h1>{paragraphs}</body></html>")
    facts = extract(capture(html.encode(), url="https://www.mnz.gov.si/en/article/x_1234/"))
    assert facts.lang == "en"
    assert facts.date == "2019-02-07"
    assert "Poklukar" in facts.text


def test_logo_h1_does_not_become_the_title():
    html = b"<html><head><title>Press release on asylum - Ministry</title></head><body><h1>Ministry</h1></body></html>"
    assert extract(capture(html), fast=True).title == "Press release on asylum"
    bare = b"<html><head><title>Ministry :: Press release on asylum policy</title></head><body></body></html>"
    assert extract(capture(bare), fast=True).title == "Press release on asylum policy"


def test_utf8_bytes_under_a_single_byte_label_are_utf8():
    assert "Boštjan" in decode_html(capture(SLOVENIAN.encode(), "text/html; charset=windows-1250"))
    assert "Boštjan" in decode_html(capture(SLOVENIAN.encode(), "text/html; charset=iso-8859-1"))


def test_western_latin1_stays_latin1():
    french = ("<html><body><p>Le ministère a présenté la réforme de l'été, très attendue par les élèves "
              "et les enseignants français; voilà une décision importante.</p></body></html>")
    assert "ministère" in decode_html(capture(french.encode("latin-1"), "text/html; charset=iso-8859-1"))


def test_short_slovenian_text_labelled_latin1_is_windows_1250():
    short = "<html><body><p>Sporočilo: šola in žoga, čaj.</p></body></html>"
    assert "Sporočilo: šola in žoga, čaj." in decode_html(capture(short.encode("cp1250"), "text/html; charset=iso-8859-1"))


def test_wrong_declared_language_is_overruled_by_a_clear_text():
    english = " ".join(["The minister said that the government is working on the new law for the citizens "
                        "and that it will be presented to the parliament in the spring of this year."] * 3)
    page = f"<html lang='sl'><head><title>x</title></head><body><h1>Minister</h1><p>{english}</p></body></html>"
    assert extract(capture(page.encode()), fast=True).lang == "en"
    short = "<html lang='sl'><body><p>The minister said hello.</p></body></html>"
    assert extract(capture(short.encode()), fast=True).lang == "sl"  # too little text to disagree
    assert extract(capture(SLOVENIAN.replace("<html>", "<html lang='sl-SI'>").encode()), fast=True).lang == "sl"


def test_fold_lowers_strips_diacritics_and_collapses_spaces():
    assert fold("  Sporočilo ZA\tjavnost\n Đurđa  ") == "sporocilo za javnost durda"
    assert fold("Ministry  of\nthe Interior") == "ministry of the interior"  # ASCII takes the short way
    assert fold("Ｍｉｎｉｓｔｒｙ") == "ministry"  # compatibility forms fold too


@pytest.mark.parametrize("url, day", [
    ("https://www.gov.si/novice/2019-02-07-obisk/", "2019-02-07"),
    ("https://www.gov.si/novice/2019/02/07/obisk", "2019-02-07"),
    ("https://www.gov.si/arhiv/20190207_obisk.html", "2019-02-07"),
    ("https://www.gov.si/novice/2019-02-30-obisk", None),  # no such day
    ("https://www.gov.si/novice/1985-05-12-obisk", None),  # outside the years pages are dated in
    ("https://www.gov.si/id/120190207123", None),  # digits inside a longer number
    ("https://www.gov.si/?d=2019-02-07", None),  # the query is not the path
    ("http://[::1/2019-02-07", None),  # unparseable: no date, no exception
])
def test_date_in_url(url, day):
    assert date_in_url(url) == day
    assert facts_from_url(url).date == day  # mapping's guesses from a URL read it the same way
