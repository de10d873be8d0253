"""Labelled legacy/new site pairs: a retired ministry site and the portal it moved to.

The pair imitates the 2019 move of Slovenian ministry sites to GOV.SI closely
enough to measure detection and mapping against a known truth: CMS paths with
numeric ids on the legacy side, dated title slugs on the new side, titles
edited on the way, recurring titles on many dates, pages never migrated or
removed, every kind of "moved" signal (banners in several languages and
wordings, redirect chains, meta refresh, JavaScript, canonical), windows-1250
pages, listings, sitemaps, robots.txt, assets and page furniture, and
documents attached to releases (PDF and DOCX, some with non-ASCII names):
most moved as they were under new names, some re-saved on the way, those of
unmigrated releases removed.

Everything is derived from ``random.Random(seed)``, so a seed is a fixture.
"""
from __future__ import annotations

import html
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import quote

from archiver.demo import documents
from archiver.demo.site import Site

GONE = "gone"

# --- vocabulary -------------------------------------------------------------------

_SURNAMES = ("Poklukar Novak Horvat Kovačič Krajnc Zupančič Potočnik Mlakar Kos Vidmar Golob Turk "
             "Božič Kralj Zupan Bizjak Hribar Kavčič Rozman Petek Žagar Kolar Oblak Medved Šinkovec "
             "Jerman Lesjak Čuk Dolenc Erjavec").split()
_PLACES = [("v Ljubljani", "in Ljubljana"), ("v Bruslju", "in Brussels"), ("v Mariboru", "in Maribor"),
           ("na Brdu pri Kranju", "at Brdo pri Kranju"), ("v Kopru", "in Koper"), ("v Zagrebu", "in Zagreb"),
           ("na Dunaju", "in Vienna"), ("v Bukarešti", "in Bucharest"), ("v Celju", "in Celje"),
           ("v Novem mestu", "in Novo mesto"), ("v Luksemburgu", "in Luxembourg"), ("v Rimu", "in Rome"),
           ("v Budimpešti", "in Budapest"), ("v Murski Soboti", "in Murska Sobota"), ("v Sarajevu", "in Sarajevo")]
# (Slovenian, English) phrase lists per area of work; articles draw most words from one topic
TOPICS = {
    "migracije": [
        ("mednarodno zaščito", "international protection"), ("nezakonite migracije", "illegal migration"),
        ("skupni evropski azilni sistem", "the common European asylum system"),
        ("vračanje nezakonitih migrantov", "the return of illegal migrants"),
        ("sporazum o ponovnem sprejemu", "the readmission agreement"), ("zakon o tujcih", "the Aliens Act"),
        ("sprejemne zmogljivosti", "reception capacities"), ("preselitev beguncev", "the resettlement of refugees"),
        ("integracijo tujcev", "the integration of foreigners"), ("azilni dom", "the asylum centre")],
    "policija": [
        ("varnost na javnih prireditvah", "security at public events"), ("policijsko sodelovanje", "police cooperation"),
        ("boj proti terorizmu", "the fight against terrorism"), ("organizirano kriminaliteto", "organised crime"),
        ("kibernetsko kriminaliteto", "cybercrime"), ("nadzor državne meje", "control of the state border"),
        ("trgovino z ljudmi", "trafficking in human beings"), ("novo policijsko postajo", "the new police station"),
        ("zaposlovanje policistov", "the recruitment of police officers"), ("policijsko opremo", "police equipment")],
    "uprava": [
        ("upravne enote", "administrative units"), ("elektronske storitve", "electronic services"),
        ("osebne izkaznice", "identity cards"), ("potne listine", "travel documents"),
        ("register prebivalstva", "the population register"), ("volilno pravico", "the right to vote"),
        ("prijavo prebivališča", "the registration of residence"), ("društva", "associations"),
        ("prireditve na prostem", "outdoor events"), ("orožne listine", "firearms licences")],
    "schengen": [
        ("schengensko območje", "the Schengen area"), ("zakonik o schengenskih mejah", "the Schengen Borders Code"),
        ("nadzor na notranjih mejah", "internal border controls"), ("zunanjo mejo", "the external border"),
        ("agencijo Frontex", "the Frontex agency"), ("vizumsko politiko", "visa policy"),
        ("informacijski sistem", "the information system"), ("mejni prehod", "the border crossing"),
        ("skupne patrulje", "joint patrols"), ("Zahodni Balkan", "the Western Balkans")],
    "zascita": [
        ("civilno zaščito", "civil protection"), ("gasilske enote", "fire brigades"),
        ("poplavno ogroženost", "flood risk"), ("nesreče in naravne nesreče", "disasters and natural disasters"),
        ("reševalne službe", "rescue services"), ("vajo reševanja", "the rescue exercise"),
        ("sistem zgodnjega opozarjanja", "the early warning system"), ("prostovoljne gasilce", "volunteer firefighters"),
        ("intervencijsko opremo", "intervention equipment"), ("požarno varnost", "fire safety")],
}
_VERBS = [("je predstavil", "presented"), ("je obravnaval", "discussed"), ("se je pogovarjal o", "talked about"),
          ("je podpisal dogovor o", "signed an agreement on"), ("je poudaril pomen", "stressed the importance of"),
          ("je sprejel predlog glede", "adopted a proposal on"), ("je obiskal projekt za", "visited the project on"),
          ("je napovedal spremembe glede", "announced changes concerning"),
          ("je pozval k okrepitvi", "called for strengthening"), ("je ocenil", "assessed")]
_TITLE_VERBS = [("predstavil", "presents"), ("o", "on"), ("podpisal sporazum o", "signs agreement on"),
                ("obiskal", "visits"), ("pozval k sodelovanju glede", "calls for cooperation on"),
                ("z ministri EU o", "with EU ministers on"), ("napovedal ukrepe za", "announces measures on")]
_ROLES = [("Minister", "Minister"), ("Državni sekretar", "State Secretary"), ("Ministrica", "Minister"),
          ("Generalni direktor policije", "Director General of the Police")]
_CLAUSES = [
    ("je sodelovanje z drugimi državami članicami ključno", "cooperation with other member states is essential"),
    ("bo ministrstvo še naprej namenjalo posebno pozornost temu področju",
     "the ministry will continue to pay special attention to this area"),
    ("so prvi rezultati že vidni", "the first results are already visible"),
    ("je treba zagotoviti dovolj sredstev", "sufficient funds must be ensured"),
    ("se bodo pogovori nadaljevali prihodnji mesec", "the talks will continue next month"),
    ("je varnost državljanov prednostna naloga", "the safety of citizens is a priority"),
    ("morajo biti postopki hitrejši in preglednejši", "procedures must be faster and more transparent"),
    ("so bile izmenjane dobre prakse", "good practices were exchanged"),
    ("je Slovenija pripravljena pomagati", "Slovenia is ready to help"),
    ("bo predlog obravnavala vlada", "the government will consider the proposal"),
    ("je bilo v zadnjem letu opravljenega veliko dela", "a lot of work has been done in the last year"),
    ("potrebujemo celovit pristop", "we need a comprehensive approach"),
]
_ORGS = [("Evropske komisije", "the European Commission"), ("policije", "the police"),
         ("upravnih enot", "the administrative units"), ("občin", "the municipalities"),
         ("nevladnih organizacij", "non-governmental organisations"), ("Europola", "Europol"),
         ("sosednjih držav", "neighbouring countries"), ("Urada vlade za oskrbo in integracijo migrantov",
                                                        "the Government Office for the Support and Integration of Migrants")]
RECURRING = [("Tedenska novinarska konferenca ministrstva", "Weekly press conference of the ministry"),
             ("Seja Sveta za pravosodje in notranje zadeve", "Justice and Home Affairs Council meeting"),
             ("Redna letna konferenca policije", "Annual police conference")]
_MONTHS_SL = "januar februar marec april maj junij julij avgust september oktober november december".split()
_MONTHS_SL_GEN = ("januarja februarja marca aprila maja junija julija avgusta septembra oktobra novembra "
                  "decembra").split()
_MONTHS_EN = ("January February March April May June July August September October November "
              "December").split()

@dataclass(frozen=True)
class Ministry:
    """Who a legacy site belongs to: its names, its slugs on the portal, its footer."""

    short: str  # a programme's site name
    name_sl: str
    name_en: str
    slug: str  # /drzavni-organi/ministrstva/<slug>/ on the portal
    slug_en: str  # /en/state-authorities/ministries/<slug_en>/
    address: str
    phone: str


MINISTRIES = (
    Ministry("mnz", "Ministrstvo za notranje zadeve", "Ministry of the Interior", "ministrstvo-za-notranje-zadeve",
             "ministry-of-the-interior", "Štefanova ulica 2, 1501 Ljubljana", "428 40 00"),
    Ministry("mju", "Ministrstvo za javno upravo", "Ministry of Public Administration", "ministrstvo-za-javno-upravo",
             "ministry-of-public-administration", "Tržaška cesta 21, 1000 Ljubljana", "478 83 30"),
    Ministry("mzz", "Ministrstvo za zunanje zadeve", "Ministry of Foreign Affairs", "ministrstvo-za-zunanje-zadeve",
             "ministry-of-foreign-affairs", "Prešernova cesta 25, 1000 Ljubljana", "478 20 00"),
    Ministry("mop", "Ministrstvo za okolje in prostor", "Ministry of the Environment and Spatial Planning",
             "ministrstvo-za-okolje-in-prostor", "ministry-of-the-environment-and-spatial-planning",
             "Dunajska cesta 48, 1000 Ljubljana", "478 70 00"),
    Ministry("mk", "Ministrstvo za kulturo", "Ministry of Culture", "ministrstvo-za-kulturo", "ministry-of-culture",
             "Maistrova ulica 10, 1000 Ljubljana", "369 59 00"),
    Ministry("mizs", "Ministrstvo za izobraževanje, znanost in šport", "Ministry of Education, Science and Sport",
             "ministrstvo-za-izobrazevanje-znanost-in-sport", "ministry-of-education-science-and-sport",
             "Masarykova cesta 16, 1000 Ljubljana", "400 52 00"),
)
_MNZ = MINISTRIES[0]
_STATIC = [  # legacy path, new path, sl/en, title, topic
    ("/o_ministrstvu/", "/drzavni-organi/ministrstva/ministrstvo-za-notranje-zadeve/o-ministrstvu/", "sl",
     "O ministrstvu", "uprava"),
    ("/o_ministrstvu/organiziranost/", "/drzavni-organi/ministrstva/ministrstvo-za-notranje-zadeve/o-ministrstvu/"
     "organiziranost/", "sl", "Organiziranost ministrstva", "uprava"),
    ("/delovna_podrocja/migracije/", "/podrocja/drzava-in-druzba/migracije/", "sl", "Migracije in azil",
     "migracije"),
    ("/delovna_podrocja/policija_in_varnost/", "/podrocja/drzava-in-druzba/policija-in-varnost/", "sl",
     "Policija in notranja varnost", "policija"),
    ("/delovna_podrocja/schengen/", "/podrocja/drzava-in-druzba/schengen/", "sl", "Schengensko sodelovanje",
     "schengen"),
    ("/en/areas_of_work/migration/", "/en/topics/migration/", "en", "Migration and asylum", "migracije"),
    ("/en/about_the_ministry/", "/en/state-authorities/ministries/ministry-of-the-interior/about-the-ministry/",
     "en", "About the ministry", "uprava"),
    ("/delovna_podrocja/projekti_eu/arhiv_2007_2013/", None, "sl", "Arhiv projektov EU 2007–2013", "zascita"),
]



def _static_for(ministry: Ministry) -> list[tuple]:
    """The static pages of a ministry's site: the same CMS sections for every ministry, moved to its own
    pages on the portal."""
    if ministry == _MNZ:
        return _STATIC

    def moved(path: str | None) -> str | None:
        if path is None:
            return None
        return (path.replace(_MNZ.slug, ministry.slug).replace(_MNZ.slug_en, ministry.slug_en)
                .replace("/drzava-in-druzba/", f"/{ministry.short}/").replace("/en/topics/", f"/en/topics/{ministry.short}/"))

    return [(legacy, moved(new), lang, title, topic) for legacy, new, lang, title, topic in _STATIC]


_LEGACY_NEWS_SL = "/medijsko_sredisce/sporocila_za_javnost/"
_LEGACY_NEWS_EN = "/en/media_centre/press_releases/"
_LEGACY_ARTICLE_SL = _LEGACY_NEWS_SL + "sporocilo_za_javnost/article/"
_LEGACY_ARTICLE_EN = _LEGACY_NEWS_EN + "press_release/article/"
_PAGE_SIZE = 20

# --- helpers ----------------------------------------------------------------------------


def slugify(text: str, sep: str = "-", limit: int = 0) -> str:
    """ASCII slug: diacritics folded, words joined by ``sep`` (cut at ``limit`` chars)."""
    text = unicodedata.normalize("NFKD", text.lower().replace("đ", "d"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    slug = sep.join(re.findall(r"[a-z0-9]+", text))
    if limit and len(slug) > limit:
        slug = slug[:limit].rsplit(sep, 1)[0]
    return slug


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _format_date(day: date, lang: str, style: int) -> str:
    if style == 0:
        return day.isoformat()
    if lang == "sl":
        return (f"{day.day}. {day.month}. {day.year}", f"{day.day:02d}.{day.month:02d}.{day.year}",
                f"{day.day}. {_MONTHS_SL_GEN[day.month - 1]} {day.year}")[style % 3]
    return (f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}", f"{_MONTHS_EN[day.month - 1]} {day.day}, {day.year}",
            f"{day.day:02d}/{day.month:02d}/{day.year}")[style % 3]


@dataclass
class Attachment:
    """A document a release links, and what the portal did with it."""

    legacy_path: str  # as linked (may hold non-ASCII)
    new_path: str | None  # None: removed with its release
    kind: str  # pdf | docx
    resaved: bool  # the portal holds other bytes with the same text
    title: str
    paragraphs: list[str]
    link_text: str


@dataclass
class Article:
    """One piece of content and its fate in the migration."""

    ident: int
    lang: str
    day: date | None
    title: str
    paragraphs: list[str]
    topic: str
    fate: str = "migrated"  # migrated | unmigrated | gone410 | gone404
    signal: str = "banner"  # banner | plain | http | refresh | js | canonical | broken | offsite | home301
    legacy_path: str = ""
    new_path: str | None = None  # final new path
    new_title: str = ""
    new_paragraphs: list[str] = field(default_factory=list)
    new_day: date | None = None
    redirect_new_path: str | None = None  # a new-site URL that 308s to new_path (old slug)
    print_alias: bool = False
    cp1250: str = ""  # "", "meta" or "header"
    date_style: int = 0
    image: bool = False
    attachment: Attachment | None = None
    ministry: Ministry = _MNZ  # whose site it is on


@dataclass
class SitePair:
    """A legacy site, the portal it moved to, and the expected mapping.

    ``truth`` maps every legacy page's absolute URL to its expected new
    absolute URL, ``"gone"`` for removed pages, or None where the page has
    no page-level equivalent (never migrated, listings, the home page);
    ``documents`` maps every legacy document's URL (as requested) to its new
    URL, or None when it was removed.
    """

    legacy: Site
    new: Site
    truth: dict[str, str | None]
    legacy_base: str = ""
    new_base: str = ""
    documents: dict[str, str | None] = field(default_factory=dict)


class TextWriter:
    """Random plausible text in Slovenian or English from the phrase lists."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def person(self) -> tuple[str, str, str]:
        role = self.rng.choice(_ROLES)
        name = self.rng.choice(_SURNAMES)
        return role[0], role[1], name

    def sentence(self, lang: str, topic: str) -> str:
        r = self.rng
        k = 0 if lang == "sl" else 1
        phrase = r.choice(TOPICS[topic])[k]
        other = r.choice(TOPICS[r.choice(list(TOPICS))])[k]
        role_sl, role_en, name = self.person()
        role = role_sl if lang == "sl" else role_en
        verb = r.choice(_VERBS)[k]
        place = r.choice(_PLACES)[k]
        clause = r.choice(_CLAUSES)[k]
        org = r.choice(_ORGS)[k]
        number = r.randint(2, 950)
        if lang == "sl":
            forms = [f"{role} {name} {verb} {phrase} {place}.",
                     f"{role} {name} je poudaril, da {clause}.",
                     f"Na srečanju so sodelovali tudi predstavniki {org}, ki so govorili o temi {other}.",
                     f"Po podatkih ministrstva je bilo lani obravnavanih {number} primerov, povezanih s področjem {phrase}.",
                     f"Sogovorniki so se strinjali, da {clause}, pri čemer bodo posebej spremljali {other}.",
                     f"V razpravi o temi {phrase} je bilo izpostavljeno, da {clause}.",
                     f"Do konca leta bo za {other} namenjenih {number} tisoč evrov."]
        else:
            forms = [f"{role} {name} {verb} {phrase} {place}.",
                     f"{role} {name} emphasised that {clause}.",
                     f"Representatives of {org} also attended the meeting and spoke about {other}.",
                     f"According to the ministry, {number} cases related to {phrase} were dealt with last year.",
                     f"The participants agreed that {clause}, and {other} will be closely monitored.",
                     f"In the debate on {phrase}, it was pointed out that {clause}.",
                     f"By the end of the year, {number} thousand euros will be earmarked for {other}."]
        text = r.choice(forms)
        return text[0].upper() + text[1:]

    def paragraphs(self, lang: str, topic: str, count: int) -> list[str]:
        return [" ".join(self.sentence(lang, topic) for _ in range(self.rng.randint(2, 5)))
                for _ in range(count)]

    def title(self, lang: str, topic: str) -> str:
        r = self.rng
        k = 0 if lang == "sl" else 1
        role_sl, role_en, name = self.person()
        verb = r.choice(_TITLE_VERBS)[k]
        phrase = r.choice(TOPICS[topic])[k]
        place = r.choice(_PLACES)[k] if r.random() < 0.6 else ""
        role = role_sl if lang == "sl" else role_en
        text = f"{role} {name} {verb} {phrase} {place}".strip()
        if lang == "en" and phrase.startswith("the "):
            text = text.replace(" the ", " ", 1) if r.random() < 0.5 else text
        return text

    def edit_title(self, title: str, lang: str) -> str:
        """A small editorial change, as made when content moved to the portal."""
        r = self.rng
        words = title.split()
        choice = r.randrange(6)
        if choice == 0 and len(words) > 5:
            return " ".join(words[:-2]) if r.random() < 0.5 else " ".join(words[:-1])
        if choice == 1:
            return title + (" – izjava za javnost" if lang == "sl" else " – press release")
        if choice == 2 and len(words) > 3:
            return f"{words[0]} {words[1]}: " + " ".join(words[2:])
        if choice == 3 and len(words) > 4:
            return " ".join(words[:2] + (["je"] if lang == "sl" else []) + words[2:])
        if choice == 4:
            return title.replace(" o ", " glede ", 1) if lang == "sl" else title.replace(" on ", " about ", 1)
        return title

    def edit_paragraphs(self, paragraphs: list[str], lang: str, topic: str) -> list[str]:
        r = self.rng
        out = list(paragraphs)
        if len(out) > 2 and r.random() < 0.3:
            out.pop()  # the portal dropped the closing paragraph
        if r.random() < 0.4:
            out.append(self.sentence(lang, topic))  # or added a note
        if r.random() < 0.5:
            i = r.randrange(len(out))
            words = out[i].split()
            j = r.randrange(len(words))
            words[j] = words[j].upper() if r.random() < 0.5 else words[j] + ","
            out[i] = " ".join(words)
        return out


# --- page templates ------------------------------------------------------------------

_LEGACY_NAV_SL = [("/", "Domov"), (_LEGACY_NEWS_SL, "Sporočila za javnost"), ("/o_ministrstvu/", "O ministrstvu"),
                  ("/delovna_podrocja/migracije/", "Migracije"), ("/delovna_podrocja/policija_in_varnost/",
                                                                  "Policija in varnost"), ("/en/", "English")]
_LEGACY_NAV_EN = [("/en/", "Home"), (_LEGACY_NEWS_EN, "Press releases"), ("/en/about_the_ministry/", "About us"),
                  ("/en/areas_of_work/migration/", "Migration"), ("/", "Slovenščina")]


def _banner(kind: str, new_base: str, lang: str, ministry: Ministry) -> str:
    portal = f"{new_base}/"
    ministry = f"{new_base}/drzavni-organi/ministrstva/{ministry.slug}/"
    if kind == "en_govsi":
        return (f'<div class="alert alert-info" role="alert"><p>The content of this website has been moved to '
                f'<a href="{portal}">GOV.SI</a>, the state administration\'s main website published on 1 July '
                f'2019.<br>For more recent information visit <a href="{portal}">GOV.SI</a>.</p></div>')
    if kind == "sl_link":
        return (f'<div class="obvestilo"><strong>Obvestilo:</strong> Vsebine tega spletnega mesta so bile '
                f'prenesene na <a href="{ministry}">osrednje spletno mesto državne uprave GOV.SI</a>. '
                f'Spletno mesto se ne posodablja več.</div>')
    if kind == "sl_text":
        return ('<div class="notice-bar">Spletna stran se ne posodablja več. Aktualne informacije '
                'ministrstva najdete na www.gov.si.</div>')
    if kind == "sl_unlisted":  # a wording no phrase pack lists
        return (f'<aside class="opozorilo">Arhivsko spletišče: tu hranimo starejše objave ministrstva. '
                f'Novejše objave so zbrane na <a href="{portal}">enotnem državnem portalu</a>.</aside>')
    if kind == "it":
        return (f'<div class="avviso">Il contenuto di questo sito è stato trasferito sul portale '
                f'<a href="{portal}">GOV.SI</a>. Il sito non viene più aggiornato.</div>')
    return ""


def _legacy_page(*, title: str, lang: str | None, body: str, nav_lang: str, ministry: Ministry, banner: str = "",
                 head: str = "", charset: str = "utf-8") -> str:
    nav = _LEGACY_NAV_SL if nav_lang == "sl" else _LEGACY_NAV_EN
    menu = "".join(f'<li><a href="{p}">{_esc(t)}</a></li>' for p, t in nav)
    lang_attr = f' lang="{lang}"' if lang else ""
    site_name = ministry.name_sl if nav_lang == "sl" else ministry.name_en
    footer = (f"{ministry.address} · T: 01 {ministry.phone} · E: gp.{ministry.short}@gov.si · Izjava o dostopnosti"
              if nav_lang == "sl" else
              f"{ministry.address}, Slovenia · T: +386 1 {ministry.phone} · Accessibility statement")
    return (f'<!DOCTYPE html>\n<html{lang_attr}><head><meta http-equiv="Content-Type" content="text/html; '
            f'charset={charset}"><title>{_esc(title)} | {_esc(site_name)}</title>'
            f'<link rel="stylesheet" href="/fileadmin/css/main.css">{head}</head>\n<body>'
            f'<div id="header"><a href="{nav[0][0]}"><img src="/fileadmin/images/logo.png" alt="grb"></a>'
            f'<ul class="menu">{menu}</ul></div>\n{banner}\n<div id="content">{body}</div>\n'
            f'<div id="footer"><p>{_esc(footer)}</p><p>© {site_name}</p></div></body></html>\n')


def _new_page(*, title: str, lang: str, body: str, head: str = "") -> str:
    if lang == "sl":
        nav = [("/", "Domov"), ("/novice/", "Novice"), ("/podrocja/", "Področja"),
               ("/drzavni-organi/", "Državni organi"), ("/en/", "English")]
        footer = "GOV.SI – osrednje spletno mesto državne uprave · Pravno obvestilo · Piškotki · Dostopnost"
    else:
        nav = [("/en/", "Home"), ("/en/news/", "News"), ("/en/topics/", "Topics"),
               ("/en/state-authorities/", "State authorities"), ("/", "Slovenščina")]
        footer = "GOV.SI – the state administration's central website · Legal notice · Cookies · Accessibility"
    menu = "".join(f'<a class="nav-link" href="{p}">{_esc(t)}</a>' for p, t in nav)
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{_esc(title)} | GOV.SI'
            f'</title><meta property="og:title" content="{_esc(title)}"><link rel="stylesheet" '
            f'href="/assets/css/gov.css">{head}</head>\n<body><header><a href="/"><img src="/assets/images/'
            f'logo.svg" alt="GOV.SI"></a><nav>{menu}</nav></header>\n<main>{body}</main>\n'
            f'<footer><p>{_esc(footer)}</p></footer></body></html>\n')


def _paragraphs_html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{_esc(p)}</p>" for p in paragraphs)


# --- the generator ----------------------------------------------------------------------

def generate_pair(legacy_base: str, new_base: str, *, n_articles: int = 60, seed: int = 1,
                  en_share: float = 0.3, unmigrated: float = 0.08, removed: float = 0.07,
                  new_only: float = 0.15, cp1250_share: float = 0.15) -> SitePair:
    """A legacy ministry site, its new portal, and ``truth`` for every legacy page.

    Links between the sites use the given bases (``http://127.0.0.1:PORT``),
    so bind both servers first, then generate.
    """
    legacy_base = legacy_base.rstrip("/")
    new_base = new_base.rstrip("/")
    rng = random.Random(seed)
    writer = TextWriter(rng)
    articles = _plan_articles(rng, writer, n_articles, en_share, unmigrated, removed, cp1250_share)
    extras = _new_only_articles(rng, writer, articles, int(n_articles * new_only))
    _plan_attachments(random.Random(seed * 7919 + 17), articles)  # its own stream: the pages stay as they were
    legacy, new, truth = Site(), Site(), {}
    _build_new(new, articles + extras, new_base, rng, writer)
    _build_legacy(legacy, articles, legacy_base, new_base, truth, rng)
    pair = SitePair(legacy, new, truth, legacy_base, new_base)
    _add_attachments(pair, articles)
    return pair


@dataclass
class Programme:
    """Legacy ministry sites moved into one portal: ``sites[name]`` is each site's ``SitePair`` (its
    ``new`` is the one shared portal), names from ``MINISTRIES``."""

    sites: dict[str, SitePair]
    new: Site
    new_base: str


def generate_programme(legacy_bases: list[str], new_base: str, *, n_articles: int = 60, seed: int = 1,
                       en_share: float = 0.3, unmigrated: float = 0.08, removed: float = 0.07,
                       new_only: float = 0.15, cp1250_share: float = 0.15) -> Programme:
    """Several legacy ministry sites (one per base, on distinct hosts or ports) and the one portal
    they all moved into, with each site's truth: the same kinds of content and signals as
    ``generate_pair``, each site from its own random stream, its ids apart from the others'."""
    if not 1 <= len(legacy_bases) <= len(MINISTRIES):
        raise ValueError(f"a programme of 1 to {len(MINISTRIES)} generated sites, not {len(legacy_bases)}")
    new_base = new_base.rstrip("/")
    plans = []
    for k, base in enumerate(legacy_bases):
        stream = seed * 1009 + k
        rng = random.Random(stream)
        writer = TextWriter(rng)
        articles = _plan_articles(rng, writer, n_articles, en_share, unmigrated, removed, cp1250_share,
                                  ministry=MINISTRIES[k], ident_base=k * 200_000)
        extras = _new_only_articles(rng, writer, articles, int(n_articles * new_only), ident_base=k * 200_000)
        _plan_attachments(random.Random(stream * 7919 + 17), articles)
        plans.append((MINISTRIES[k], base.rstrip("/"), rng, articles, extras))
    portal_rng = random.Random(seed * 1009 - 1)
    new = Site()
    _build_new(new, [a for *_, articles, extras in plans for a in articles + extras], new_base, portal_rng,
               TextWriter(portal_rng), tuple(ministry for ministry, *_ in plans))
    sites = {}
    for ministry, base, rng, articles, _ in plans:
        legacy, truth = Site(), {}
        _build_legacy(legacy, articles, base, new_base, truth, rng, ministry)
        pair = SitePair(legacy, new, truth, base, new_base)
        _add_attachments(pair, articles)
        sites[ministry.short] = pair
    return Programme(sites, new, new_base)


def _plan_attachments(rng: random.Random, articles: list[Article], share: float = 0.25) -> None:
    """A document for about ``share`` of the dated releases that have a page of their own on the legacy site."""
    writer = TextWriter(rng)
    eligible = [a for a in articles if a.day is not None and a.signal not in ("http", "home301")
                and a.fate in ("migrated", "unmigrated")]
    chosen = [a for a in eligible if rng.random() < share]
    unmigrated = [a for a in eligible if a.fate == "unmigrated"]
    if unmigrated and not any(a.fate == "unmigrated" for a in chosen):
        chosen.append(unmigrated[0])  # at least one document is removed with its release
    for art in chosen:
        kind = "docx" if rng.random() < 0.25 else "pdf"
        report = "Poročilo" if art.lang == "sl" else "Report"
        title = f"{report}: {art.title}"
        # a third carry the title's letters in their file name (never on windows-1250 pages, whose
        # links a browser would send in another encoding)
        if not art.cp1250 and rng.random() < 0.35:
            name = "_".join([report, *art.title.split()[:3]]) + f"_{art.ident}.{kind}"
        else:
            name = f"{slugify(report, '_')}_{art.ident}.{kind}"
        new_path = (f"/assets/dokumenti/{slugify(art.new_title or art.title)[:50]}-{art.day.year}-{art.ident}.{kind}"
                    if art.fate == "migrated" else None)
        art.attachment = Attachment(
            legacy_path=f"/fileadmin/dokumenti/{name}", new_path=new_path, kind=kind,
            resaved=new_path is not None and rng.random() < 0.35, title=title,
            paragraphs=writer.paragraphs(art.lang, art.topic, rng.randint(6, 14)),
            link_text=f"{title} ({kind.upper()})")


def _add_attachments(pair: SitePair, articles: list[Article]) -> None:
    """The documents themselves on both sites, and their truth."""
    for art in articles:
        att = art.attachment
        if att is None:
            continue
        make = documents.pdf if att.kind == "pdf" else documents.docx
        body = make(att.title, att.paragraphs)
        media_type = ("application/pdf" if att.kind == "pdf" else
                      "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        pair.legacy.add(_requested(att.legacy_path), body, content_type=media_type)
        new_url = None
        if att.new_path:
            if att.resaved:
                body = (documents.pdf(att.title, att.paragraphs, producer="GOV.SI", modified="D:20190701090000Z")
                        if att.kind == "pdf" else
                        documents.docx(att.title, att.paragraphs, author="GOV.SI", modified="2019-07-01T09:00:00Z"))
            pair.new.add(_requested(att.new_path), body, content_type=media_type)
            new_url = pair.new_base + _requested(att.new_path)
        pair.documents[pair.legacy_base + _requested(att.legacy_path)] = new_url


def _requested(path: str) -> str:
    """A path as a client requests it (non-ASCII and spaces percent-encoded): the resource key."""
    return quote(path, safe="/%:@!$&'()*+,;=-._~?")


def _attachment_link(att: Attachment | None, path: str | None) -> str:
    if att is None or path is None:
        return ""
    return f'<p class="priloga"><a href="{_esc(path)}">{_esc(att.link_text)}</a></p>'


def _plan_articles(rng, writer, n, en_share, unmigrated, removed, cp1250_share, ministry: Ministry = _MNZ,
                   ident_base: int = 0) -> list[Article]:
    """The content of one ministry's site and its fate; ids from ``ident_base`` up (apart per site of a programme)."""
    start = date(2014, 1, 6)
    span = (date(2019, 6, 28) - start).days
    used_ids: set[int] = set()
    articles: list[Article] = []
    recurring_days: dict[int, date] = {}
    i = 0
    while len(articles) < n:
        i += 1
        lang = "en" if rng.random() < en_share else "sl"
        topic = rng.choice(list(TOPICS))
        ident = rng.randint(1000, 99999)
        while ident in used_ids:
            ident = rng.randint(1000, 99999)
        used_ids.add(ident)
        if rng.random() < 0.12:  # a recurring title: weekly, same wording, different content
            which = rng.randrange(len(RECURRING))
            day = recurring_days.get(which, start + timedelta(days=rng.randrange(60)))
            day = day + timedelta(days=7 * rng.randint(1, 3))
            recurring_days[which] = day
            title = RECURRING[which][0 if lang == "sl" else 1]
        else:
            day = start + timedelta(days=rng.randrange(span))
            title = writer.title(lang, topic)
        paragraphs = writer.paragraphs(lang, topic, rng.randint(2, 6))
        art = Article(ident + ident_base, lang, day, title, paragraphs, topic, date_style=rng.randrange(4),
                      image=rng.random() < 0.3, ministry=ministry)
        roll = rng.random()
        if roll < removed:
            art.fate = "gone410" if rng.random() < 0.5 else "gone404"
        elif roll < removed + unmigrated:
            art.fate = "unmigrated"
            art.signal = rng.choice(["banner", "banner", "plain", "home301"])
        else:
            art.signal = rng.choices(
                ["banner", "plain", "http", "refresh", "js", "canonical", "broken", "offsite"],
                [58, 8, 10, 6, 6, 6, 3, 3])[0]
            art.print_alias = rng.random() < 0.04
        if lang == "sl" and rng.random() < cp1250_share:
            art.cp1250 = rng.choice(["meta", "header"])
        base = _LEGACY_ARTICLE_SL if lang == "sl" else _LEGACY_ARTICLE_EN
        art.legacy_path = f"{base}{slugify(title, '_', 60)}_{art.ident}/"
        articles.append(art)
        # some releases exist in both languages: the English one is its own page
        if lang == "sl" and art.fate == "migrated" and rng.random() < 0.2 and len(articles) < n:
            ident2 = art.ident + 100000
            en_title = RECURRING[_RECURRING_SL.index(title)][1] if title in _RECURRING_SL \
                else writer.title("en", topic)
            twin = Article(ident2, "en", day, en_title, writer.paragraphs("en", topic, rng.randint(2, 5)), topic,
                           signal=rng.choice(["banner", "banner", "canonical", "plain"]),
                           date_style=rng.randrange(4), ministry=ministry)
            twin.legacy_path = f"{_LEGACY_ARTICLE_EN}{slugify(en_title, '_', 60)}_{ident2}/"
            articles.append(twin)
    # the static pages
    for legacy_path, new_path, lang, title, topic in _static_for(ministry):
        art = Article(0, lang, None, title, writer.paragraphs(lang, topic, rng.randint(3, 6)), topic,
                      fate="migrated" if new_path else "unmigrated", signal="banner",
                      legacy_path=legacy_path, new_path=new_path, ministry=ministry)
        articles.append(art)
    for art in articles:
        if art.fate != "migrated":
            continue
        art.new_title = writer.edit_title(art.title, art.lang) if rng.random() < 0.45 else art.title
        art.new_paragraphs = writer.edit_paragraphs(art.paragraphs, art.lang, art.topic)
        if art.day is None:
            continue
        art.new_day = art.day + timedelta(days=1) if rng.random() < 0.08 else art.day
        prefix = "/novice/" if art.lang == "sl" else "/en/news/"
        art.new_path = f"{prefix}{art.new_day.isoformat()}-{slugify(art.new_title)}"
        if art.new_title != art.title and rng.random() < 0.5:
            art.redirect_new_path = f"{prefix}{art.new_day.isoformat()}-{slugify(art.title)}"
    return articles


_RECURRING_SL = [sl for sl, _ in RECURRING]


def _new_only_articles(rng, writer, articles, count, ident_base: int = 0) -> list[Article]:
    """News published only on the portal: distractors for content matching."""
    out = []
    dated = [a for a in articles if a.day]
    for k in range(count):
        lang = "en" if rng.random() < 0.3 else "sl"
        topic = rng.choice(list(TOPICS))
        if dated and rng.random() < 0.5:  # same day as a legacy release, or a recurring title
            ref = rng.choice(dated)
            day = ref.day + timedelta(days=rng.choice([0, 7, 14]))
            title = ref.title if ref.title in _RECURRING_SL + [en for _, en in RECURRING] and ref.lang == lang \
                else writer.title(lang, topic)
        else:
            day = date(2019, 7, 1) + timedelta(days=rng.randrange(500))
            title = writer.title(lang, topic)
        prefix = "/novice/" if lang == "sl" else "/en/news/"
        path = f"{prefix}{day.isoformat()}-{slugify(title)}"
        if any(a.new_path == path for a in articles + out):
            continue
        art = Article(-k - 1 - ident_base, lang, day, title, [], topic, new_path=path, new_title=title, new_day=day,
                      new_paragraphs=writer.paragraphs(lang, topic, rng.randint(2, 5)))
        out.append(art)
    return out


def _build_new(site: Site, articles: list[Article], new_base: str, rng, writer,
               ministries: tuple[Ministry, ...] = (_MNZ,)) -> None:
    migrated = [a for a in articles if (a.fate == "migrated" or a.ident < 0) and a.new_path]
    seen: set[str] = set()
    for art in migrated:
        if art.new_path in seen:  # two releases collapse onto one slug: the portal keeps the first
            art.new_path = f"{art.new_path}-{abs(art.ident)}"
        seen.add(art.new_path)
        body = [f"<article><h1>{_esc(art.new_title)}</h1>"]
        if art.new_day:
            shown = _format_date(art.new_day, art.lang, rng.randrange(1, 3))
            body.append(f'<p class="date"><time datetime="{art.new_day.isoformat()}">{shown}</time></p>')
        body.append(_paragraphs_html(art.new_paragraphs))
        if art.attachment is not None:
            body.append(_attachment_link(art.attachment, art.attachment.new_path))
        if rng.random() < 0.3:
            body.append(f'<figure><img src="/assets/images/news/{abs(art.ident)}.jpg" alt=""></figure>')
        body.append("</article>")
        site.add(art.new_path, _new_page(title=art.new_title, lang=art.lang, body="".join(body)))
        if art.redirect_new_path and art.redirect_new_path != art.new_path:
            site.add(art.redirect_new_path, b"", status=308, content_type="", Location=art.new_path)
    for lang, listing in (("sl", "/novice/"), ("en", "/en/news/")):
        items = sorted((a for a in migrated if a.lang == lang and a.new_day), key=lambda a: a.new_day,
                       reverse=True)
        pages = [items[i:i + 10] for i in range(0, len(items), 10)] or [[]]
        for number, chunk in enumerate(pages, 1):
            path = listing if number == 1 else f"{listing}?page={number}"
            links = "".join(f'<li><a href="{a.new_path}">{_esc(a.new_title)}</a> '
                            f'<span>{a.new_day.isoformat()}</span></li>' for a in chunk)
            nxt = f'<a rel="next" href="{listing}?page={number + 1}">Naprej</a>' if number < len(pages) else ""
            site.add(path, _new_page(title="Novice" if lang == "sl" else "News", lang=lang,
                                     body=f"<h1>{'Novice' if lang == 'sl' else 'News'}</h1><ul>{links}</ul>{nxt}"))
    pages = {m: f"/drzavni-organi/ministrstva/{m.slug}/" for m in ministries}
    site.add("/", _new_page(title="GOV.SI", lang="sl", body=(
        '<h1>GOV.SI</h1><p>Osrednje spletno mesto državne uprave.</p><a href="/novice/">Novice</a> '
        + " ".join(f'<a href="{path}">{m.name_sl}</a>' for m, path in pages.items()))))
    site.add("/en/", _new_page(title="GOV.SI", lang="en", body=(
        "<h1>GOV.SI</h1><p>The state administration's central website.</p><a href=\"/en/news/\">News</a>")))
    for ministry, path in pages.items():
        statics = [a for a in migrated if not a.new_day and a.ministry == ministry]
        site.add(path, _new_page(title=ministry.name_sl, lang="sl", body=(
            f"<h1>{ministry.name_sl}</h1>" + _paragraphs_html(writer.paragraphs("sl", "uprava", 2))
            + "".join(f'<a href="{a.new_path}">{_esc(a.new_title)}</a> ' for a in statics))))
    site.add("/assets/css/gov.css", b"body{font-family:sans-serif}main{max-width:50em}", content_type="text/css")
    site.add("/assets/images/logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
             content_type="image/svg+xml")
    for art in migrated:
        site.add(f"/assets/images/news/{abs(art.ident)}.jpg", _fake_jpeg(art.ident), content_type="image/jpeg")
    pages = [p for p, r in site.resources.items() if r.status == 200 and "html" in r.headers.get("Content-Type", "")]
    site.add("/sitemap.xml", _sitemap(new_base, pages), content_type="application/xml")
    site.add("/robots.txt", f"User-agent: *\nDisallow: /iskanje/\nSitemap: {new_base}/sitemap.xml\n",
             content_type="text/plain")


def _build_legacy(site: Site, articles: list[Article], legacy_base: str, new_base: str,
                  truth: dict[str, str | None], rng, ministry: Ministry = _MNZ) -> None:
    banner_kinds = {"sl": ["sl_link", "sl_link", "sl_text", "sl_unlisted", "en_govsi"],
                    "en": ["en_govsi", "en_govsi", "en_govsi", "it"]}
    site_banner = {"sl": "sl_link", "en": "en_govsi"}
    for art in articles:
        url = legacy_base + art.legacy_path
        new_url = new_base + art.new_path if art.new_path else None
        pointed = new_base + (art.redirect_new_path or art.new_path) if art.new_path else None
        truth[url] = GONE if art.fate.startswith("gone") else new_url
        if art.fate == "gone410":
            site.add(art.legacy_path, "<!DOCTYPE html><html><head><title>410 Gone</title></head><body>"
                     "<h1>Vsebina je bila odstranjena</h1></body></html>", status=410)
            continue
        if art.fate == "gone404":
            site.add(art.legacy_path, _legacy_page(title="Strani ni mogoče najti", lang=art.lang, nav_lang=art.lang,
                                                   ministry=ministry,
                                                   body="<h1>Napaka 404</h1><p>Iskane strani ni.</p>"), status=404)
            continue
        if art.signal == "home301":
            site.add(art.legacy_path, b"", status=301, content_type="", Location=new_base + "/")
            truth[url] = None  # a site-level redirect says nothing about this page
            continue
        if art.signal == "http":
            alias = f"/index.php?id={art.ident}"
            site.add(art.legacy_path, b"", status=301, content_type="", Location=alias)
            site.add(alias, b"", status=rng.choice([302, 301]), content_type="", Location=pointed)
            truth[legacy_base + alias] = new_url
            continue
        head, body_extra = "", ""
        if art.signal == "refresh":
            head = f'<meta http-equiv="refresh" content="{rng.choice([0, 3, 5])}; url={pointed}">'
        elif art.signal == "js":
            code = rng.choice([f'window.location.replace("{pointed}");', f"location.href = '{pointed}';",
                               f'window.location = "{pointed}";'])
            body_extra = f"<script>{code}</script>"
        elif art.signal == "canonical":
            head = f'<link rel="canonical" href="{new_url}">'
        elif art.signal == "broken":  # points at a portal URL that does not exist
            head = f'<meta http-equiv="refresh" content="0; url={new_base}/novice/{art.ident}">'
        elif art.signal == "offsite":  # a canonical to a host that is not the portal
            head = f'<link rel="canonical" href="https://www.gov.si.example.net{art.new_path or "/"}">'
        banner = ""
        if art.signal != "plain":
            kind = rng.choice(banner_kinds[art.lang]) if rng.random() < 0.5 else site_banner[art.lang]
            banner = _banner(kind, new_base, art.lang, ministry)
        parts = [f"<h1>{_esc(art.title)}</h1>"]
        if art.day:
            shown = _format_date(art.day, art.lang, art.date_style)
            if art.date_style == 3 and art.lang == "sl":  # dateline inside the first paragraph
                parts.append(_paragraphs_html([f"Ljubljana, {shown} – " + art.paragraphs[0]]
                                              + art.paragraphs[1:]))
            else:
                parts.append(f'<p class="news-date">{_esc(shown)}</p>' + _paragraphs_html(art.paragraphs))
        else:
            parts.append(_paragraphs_html(art.paragraphs))
        if art.image:
            parts.append(f'<img src="/fileadmin/images/news/{art.ident}.jpg" alt="">')
            site.add(f"/fileadmin/images/news/{art.ident}.jpg", _fake_jpeg(art.ident), content_type="image/jpeg")
        if art.print_alias:
            parts.append(f'<p class="print"><a href="{art.legacy_path}?type=98">Natisni</a></p>')
        if art.attachment is not None:
            parts.append(_attachment_link(art.attachment, art.attachment.legacy_path))
        parts.append(body_extra)
        charset = "windows-1250" if art.cp1250 == "meta" else "utf-8"
        page = _legacy_page(title=art.title, lang=art.lang if rng.random() < 0.85 else None, body="".join(parts),
                            ministry=ministry,
                            nav_lang="en" if art.legacy_path.startswith("/en/") else "sl", banner=banner,
                            head=head, charset=charset)
        if art.cp1250:
            ctype = "text/html; charset=windows-1250" if art.cp1250 == "header" else "text/html"
            site.add(art.legacy_path, page.encode("cp1250", "xmlcharrefreplace"), content_type=ctype)
        else:
            site.add(art.legacy_path, page)
        if art.print_alias:
            site.add(art.legacy_path + "?type=98", page)
            truth[url + "?type=98"] = new_url
    _legacy_listings(site, articles, legacy_base, new_base, truth, ministry)


def _legacy_listings(site: Site, articles, legacy_base, new_base, truth, ministry: Ministry) -> None:
    for lang, listing in (("sl", _LEGACY_NEWS_SL), ("en", _LEGACY_NEWS_EN)):
        items = sorted((a for a in articles if a.day and a.legacy_path.startswith(
            _LEGACY_ARTICLE_SL if lang == "sl" else _LEGACY_ARTICLE_EN)), key=lambda a: a.day, reverse=True)
        pages = [items[i:i + _PAGE_SIZE] for i in range(0, len(items), _PAGE_SIZE)] or [[]]
        for number, chunk in enumerate(pages, 1):
            path = listing if number == 1 else f"{listing}?stran={number}"
            rows = "".join(f'<div class="news-item"><span>{a.day.strftime("%d.%m.%Y")}</span> '
                           f'<a href="{a.legacy_path}">{_esc(a.title)}</a></div>' for a in chunk)
            nxt = f'<a href="{listing}?stran={number + 1}">Starejše</a>' if number < len(pages) else ""
            title = "Sporočila za javnost" if lang == "sl" else "Press releases"
            site.add(path, _legacy_page(title=title, lang=lang, nav_lang=lang, body=f"<h1>{title}</h1>{rows}{nxt}",
                                        ministry=ministry,
                                        banner=_banner("sl_link" if lang == "sl" else "en_govsi", new_base, lang,
                                                       ministry)))
            truth[legacy_base + path] = None
    for path, lang in (("/", "sl"), ("/en/", "en")):
        links = "".join(f'<a href="{a.legacy_path}">{_esc(a.title)}</a> ' for a in articles if not a.day)
        name = ministry.name_sl if lang == "sl" else ministry.name_en
        site.add(path, _legacy_page(title=name, lang=lang, nav_lang=lang, body=f"<h1>{name}</h1>{links}",
                                    ministry=ministry,
                                    banner=_banner("sl_link" if lang == "sl" else "en_govsi", new_base, lang, ministry)))
        # the ministry's home page lives on as its page on the portal; the English home has no equivalent
        truth[legacy_base + path] = f"{new_base}/drzavni-organi/ministrstva/{ministry.slug}/" if lang == "sl" else None
    site.add("/fileadmin/css/main.css", b"#header{background:#036}#footer{font-size:small}", content_type="text/css")
    site.add("/fileadmin/images/logo.png", _PNG, content_type="image/png")
    pages = [p for p, r in site.resources.items()
             if "html" in r.headers.get("Content-Type", "") or r.status in (301, 302, 410)]
    site.add("/sitemap.xml", _sitemap(legacy_base, [p for p in pages if "?" not in p or "stran" in p]),
             content_type="application/xml")
    site.add("/robots.txt", f"User-agent: *\nDisallow: /iskalnik/\nSitemap: {legacy_base}/sitemap.xml\n",
             content_type="text/plain")


def _sitemap(base: str, paths: list[str]) -> str:
    urls = "".join(f"<url><loc>{_esc(base + p)}</loc></url>" for p in sorted(paths))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n'


_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
        b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def _fake_jpeg(ident: int) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + str(ident).encode() * 20 + b"\xff\xd9"
