"""PageFacts from a Capture: decoded text, title, date, language, main text, links.

Mapping calls this for every page of both sites, so the HTML is decoded and
parsed once and the one lxml tree is reused for metadata, links and
trafilatura's main-text extraction. Nothing here raises on bad input: a binary
or malformed body yields whatever facts could be read.
"""
from __future__ import annotations

import codecs
import logging
import re
import sys
import unicodedata
from collections import Counter
from datetime import date
from urllib.parse import urlsplit

import lxml.html
import trafilatura
from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio
from htmldate import find_date
from lxml import etree

from archiver.types import Capture, PageFacts
from archiver.urls import resolve_link

log = logging.getLogger(__name__)

MAX_PARSE_BYTES = 3_000_000  # larger bodies are cut before decoding and parsing
MAX_TEXT_CHARS = 200_000  # main text kept per page
MAX_LINK_TEXT = 200  # characters of a link's text kept

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_SINGLE_BYTE_LATIN = {"latin-1", "iso8859-1", "cp1252", "ascii", "iso8859-15"}
_CENTRAL_EUROPEAN = {"cp1250", "iso8859-2"}


# --- decoding -----------------------------------------------------------------

def _codec(name: str | None) -> str | None:
    """Python codec name for a declared charset, or None if unknown."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in ("x-user-defined", "unicode"):  # browsers' aliases with no codec
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _header_charset(capture: Capture) -> str | None:
    value = capture.header("content-type") or ""
    match = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", value, re.IGNORECASE)
    return match.group(1) if match else None


def _bom_charset(body: bytes) -> str | None:
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return name
    return None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:8192])
    return match.group(1).decode("ascii", "ignore") if match else None


def _normalizer_guess(body: bytes) -> tuple[str, float] | None:
    """charset-normalizer's best (codec, mess ratio) for a sample of the body."""
    try:
        best = from_bytes(body[:65536]).best()
    except Exception:  # the library must not take the page down with it
        return None
    if best is None:
        return None
    return _codec(best.encoding) or "utf-8", best.chaos


def _mess(text: str) -> float:
    try:
        return mess_ratio(text[:65536], maximum_threshold=1.0)
    except Exception:
        return 1.0


def _looks_misdeclared(body: bytes, codec: str, text: str) -> str | None:
    """A better codec when a declared single-byte charset produced mojibake.

    Old Slovenian pages in windows-1250 are often declared iso-8859-1 (read
    as windows-1252, as browsers do): the decode "succeeds" but č becomes è.
    Valid UTF-8 under a single-byte label is UTF-8.
    """
    if codec not in _SINGLE_BYTE_LATIN | _CENTRAL_EUROPEAN or not re.search(rb"[\x80-\xff]", body):
        return None
    try:
        body.decode("utf-8")
        return "utf-8"  # high bytes that form valid UTF-8 are UTF-8, whatever the label says
    except UnicodeDecodeError:
        pass
    if codec in _CENTRAL_EUROPEAN:
        return None  # an honest central European label is the common case: no detector run
    # č ć đ read as windows-1252 show up as è æ ð; š ž exist in both charsets
    western = len(re.findall("[èæðÈÆÐ]", text))
    if western:
        slavic = len(re.findall("[čćđČĆĐŠŽšž]", body.decode("cp1250", "replace")))
        if slavic > western:
            return "cp1250"
    guess = _normalizer_guess(body)
    if guess is None or guess[0] == codec:
        return None
    other, other_mess = guess
    if other_mess + 0.05 < _mess(text):
        return other
    return None


def looks_binary(body: bytes) -> bool:
    """True for bodies that are not text whatever their Content-Type says."""
    sample = body[:4096]
    if not sample or sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.05


_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def decode_html(capture: Capture) -> str:
    """The body as text: header charset, BOM, <meta>, then charset-normalizer.

    A declared charset that fails to decode, or decodes to mojibake that
    charset-normalizer clearly beats, is overruled.
    """
    body = capture.body[:MAX_PARSE_BYTES] if capture.body else b""
    if not body or looks_binary(body):
        return ""
    bom = _bom_charset(body)
    if bom:
        return body.decode(bom, "replace")
    for declared in (_header_charset(capture), _meta_charset(body)):
        codec = _codec(declared)
        if codec is None:
            continue
        if codec == "latin-1":
            codec = "cp1252"  # WHATWG: iso-8859-1 means windows-1252
        try:
            text = body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            break  # the declaration is wrong: let the detector decide
        better = _looks_misdeclared(body, codec, text)
        return body.decode(better, "replace") if better else text
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    guess = _normalizer_guess(body)
    return body.decode(guess[0] if guess else "cp1252", "replace")


# --- parsing ------------------------------------------------------------------

def parse_html(text: str) -> lxml.html.HtmlElement | None:
    """An lxml tree for (possibly broken) HTML text, or None if there is none."""
    text = _CONTROL_CHARS.sub(" ", text[:MAX_PARSE_BYTES])
    text = re.sub(r"^\s*<\?xml[^>]*>", "", text)  # lxml refuses str with an encoding declaration
    if not text.strip():
        return None
    try:
        return lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return None


def base_url(tree, url: str) -> str:
    """The URL relative links resolve against (the first <base href>, when it is an http(s) URL)."""
    for href in tree.xpath("//base/@href")[:1]:
        return resolve_link(url, href) or url
    return url


def _anchors(tree, url: str):
    """(absolute URL, <a>/<area> element) of each link: fragment removed, in document order."""
    base = base_url(tree, url)
    for element in tree.iter("a", "area"):
        link = resolve_link(base, element.get("href"))
        if link:
            yield link, element


def absolute_links(tree, url: str) -> tuple[str, ...]:
    """http(s) targets of <a>/<area> links, absolute, fragment removed, in order, without repeats."""
    return tuple(dict.fromkeys(link for link, _ in _anchors(tree, url)))


def links_and_texts(tree, url: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``absolute_links`` and, in step, each link's text (an <a>'s words, an <area>'s alt; the first
    non-empty one where a URL is linked twice): what a person clicked to get a document."""
    texts: dict[str, str] = {}
    for link, element in _anchors(tree, url):
        if not texts.get(link):
            text = (element.get("alt") or "") if element.tag == "area" else element_text(element)
            texts[link] = sys.intern(text[:MAX_LINK_TEXT]) if text else ""
    return tuple(texts), tuple(texts.values())


_NON_TEXT = frozenset(("script", "style", "noscript", "template"))


def element_text(el) -> str:
    """Whitespace-collapsed text of an element, without scripts and styles."""
    parts = []
    for node in el.iter():
        if isinstance(node.tag, str) and node.tag not in _NON_TEXT and node.text:
            parts.append(node.text)
        if node is not el and node.tail:
            parts.append(node.tail)
    return " ".join(" ".join(parts).split())


# --- metadata -----------------------------------------------------------------

_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|::|»|·|/)\s+")


def _metas(tree) -> dict[str, str]:
    """<meta property/name/itemprop=... content=...>: first non-empty value per lower-cased key."""
    found: dict[str, str] = {}
    for el in tree.iter("meta"):
        content = " ".join((el.get("content") or "").split())
        if not content:
            continue
        for attr in ("property", "name", "itemprop"):
            key = (el.get(attr) or "").strip().lower()
            if key:
                found.setdefault(key, content)
    return found


def _meta(metas: dict[str, str], *names: str) -> str:
    for name in names:
        if value := metas.get(name.lower()):
            return value
    return ""


def _clean_title(title: str) -> str:
    """Drop a site-name prefix or suffix: the longest separated segment wins."""
    parts = [p for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    return max(parts, key=len).strip() if len(parts) > 1 else title.strip()


def _title(tree, metas: dict[str, str]) -> tuple[str, str]:
    """(title, h1): og:title, else an h1 the <title> confirms, else <title>."""
    h1 = ""
    for el in tree.xpath("//h1")[:3]:
        h1 = element_text(el)
        if h1:
            break
    raw = " ".join(" ".join(tree.xpath("//title//text()")).split()) if tree.find(".//title") is not None else ""
    og = _meta(metas, "og:title", "twitter:title")
    if og:
        return _clean_title(og), h1
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(raw) if p.strip()]
    if h1 and len(parts) > 1 and h1.lower() == parts[-1].lower():
        return parts[0], h1  # the h1 is the site's logo text, the title's suffix
    if h1:
        return h1, h1  # "Article | Site" confirms it; "Section | Site" is worse than it
    return _clean_title(raw), h1


_MONTHS = {
    # English
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    # Slovenian (nominative and genitive forms)
    "januar": 1, "januarja": 1, "februar": 2, "februarja": 2, "marec": 3, "marca": 3,
    "aprila": 4, "maj": 5, "maja": 5, "junij": 6, "junija": 6, "julij": 7,
    "julija": 7, "avgust": 8, "avgusta": 8, "septembra": 9, "oktober": 10,
    "oktobra": 10, "novembra": 11, "decembra": 12,
}
_DATE_PATTERNS = (
    # ISO 2019-02-07
    (re.compile(r"\b((?:19|20)\d\d)-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    # 7. 2. 2019 / 7.2.2019 / 07.02.2019
    (re.compile(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?((?:19|20)\d\d)\b"), ("d", "m", "y")),
    # 7. februar 2019 / 7 February 2019 (month words checked against _MONTHS)
    (re.compile(r"\b(\d{1,2})\.?\s+([^\W\d_]{3,9})\.?,?\s+((?:19|20)\d\d)\b"), ("d", "M", "y")),
    # February 7, 2019
    (re.compile(r"\b([^\W\d_]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+((?:19|20)\d\d)\b"), ("M", "d", "y")),
)
_URL_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)[-/_]?(0[1-9]|1[0-2])[-/_]?(0[1-9]|[12]\d|3[01])(?!\d)")


def _valid(y: int, m: int, d: int) -> str | None:
    try:
        day = date(y, m, d)
    except ValueError:
        return None
    return day.isoformat() if 1990 <= y <= date.today().year + 1 else None


def parse_date_text(text: str) -> str | None:
    """The first date in Slovenian/English/ISO notation, as YYYY-MM-DD."""
    best: tuple[int, str] | None = None
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups()))
            month = _MONTHS.get(parts["M"].lower().rstrip(".")) if "M" in parts else int(parts["m"])
            value = month and _valid(int(parts["y"]), month, int(parts["d"]))
            if value and (best is None or match.start() < best[0]):
                best = (match.start(), value)
            if value:
                break
    return best[1] if best else None


def date_in_url(url: str) -> str | None:
    """The date a URL's path spells (/2019/07/01/, /20190701-...), as YYYY-MM-DD."""
    try:
        match = _URL_DATE.search(urlsplit(url).path)
    except ValueError:
        return None
    return _valid(*map(int, match.groups())) if match else None


def _date(tree, url: str, metas: dict[str, str]) -> str | None:
    meta = _meta(metas, "article:published_time", "datePublished", "og:published_time",
                 "dc.date.issued", "DC.date.issued", "dcterms.created", "date", "pubdate")
    if meta and (found := parse_date_text(meta)):
        return found
    for value in tree.xpath("//time/@datetime")[:3]:
        if found := parse_date_text(value):
            return found
    if found := date_in_url(url):
        return found
    return None


def _date_fallback(tree, url: str, body: str, fast: bool) -> str | None:
    """A date written in the text after the heading, else htmldate's guess.

    Text before the heading is page furniture: a retirement notice "published
    on 1 July 2019" must not date every page of the site.
    """
    after = ""
    for heading in tree.xpath("//h1")[:1]:
        texts = heading.xpath("following::text()[not(ancestor::script) and not(ancestor::style)]")
        after = " ".join(t for _, t in zip(range(300), texts))[:3000]
    if found := parse_date_text(after or body[:3000]):
        return found
    if not fast:
        try:
            found = find_date(tree, url=url, original_date=True, extensive_search=False)
        except Exception:  # htmldate is heuristic; its failure is no date, not an error
            found = None
        if found:
            return found
    return None


_STOPWORDS = {
    "en": "the of and to in is that for on with as was are by this be at from have it an has".split(),
    "sl": "in je za na se da so pri ki tudi ali bo kot smo po iz od ter bil bila".split(),
    "hr": "i je za na se da su u od koji što ili kao biti te s bio bila prema".split(),
    "de": "der die und das ist zu den von mit für auf des sich nicht im dem ein eine".split(),
    "it": "il di che la per è un una del della le con non sono nel alla gli".split(),
    "fr": "le de la et les des est un une pour dans du que qui sur par au avec".split(),
    "es": "el de la que los en y las del se por un una para con es al".split(),
    "sr": "и је за на се да су у од који што или као".split(),
    "hu": "a az és hogy nem is egy van meg ez azt el de".split(),
}


_WORD_BREAKS = str.maketrans({c: " " for c in "!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~“”„«»…–—'’"})


def _language_votes(text: str) -> tuple[str | None, int, int, int]:
    """(leading language, its stopword count, runner-up's count, words read)."""
    words = text[:6000].lower().translate(_WORD_BREAKS).split()
    bag = Counter(words)
    counts = sorted(((sum(bag[w] for w in stops), lang) for lang, stops in _STOPWORDS.items()), reverse=True)
    (best, lang), (second, _) = counts[0], counts[1]
    return (lang if best else None), best, second, len(words)


def guess_language(text: str) -> str | None:
    """A light stopword vote (ISO 639-1), or None when the text is too short."""
    lang, best, _, words = _language_votes(text)
    return lang if words >= 8 and best >= max(3, words * 0.05) else None


def _language(tree, capture: Capture, text: str, metas: dict[str, str]) -> str | None:
    """Declared language (html lang, Content-Language, meta), unless the text plainly says otherwise.

    Old CMS templates often declare one language on every page, translations
    included; a clear stopword majority in a long enough text overrules them.
    """
    candidates = tree.xpath("/html/@lang | /html/@xml:lang",
                            namespaces={"xml": "http://www.w3.org/XML/1998/namespace"})
    candidates.append(capture.header("content-language") or "")
    candidates.append(_meta(metas, "og:locale", "language", "dc.language"))
    candidates.extend(tree.xpath("//meta[translate(@http-equiv,'CONTENTLANGUAE','contentlanguae')"
                                 "='content-language']/@content"))
    declared = None
    for value in candidates:
        code = re.match(r"\s*([a-zA-Z]{2,3})\b", value or "")
        if code:
            declared = code.group(1).lower()
            break
    guessed, best, second, words = _language_votes(text)
    if declared is None:
        return guess_language(text)
    confident = words >= 40 and best >= words * 0.08 and best >= 3 * max(second, 1)
    if guessed and guessed != declared and confident:
        return guessed
    return declared


def _plain_text(tree) -> str:
    """Body text without scripts and page furniture: trafilatura's fallback."""
    body = tree.find("body")
    root = body if body is not None else tree
    kept = []
    for el in root:
        if not isinstance(el.tag, str) or el.tag in ("nav", "header", "footer", "aside", "script", "style"):
            continue
        kept.append(element_text(el))
    tail = element_text(root) if not kept else ""
    return " ".join(p for p in kept if p) or tail


def main_text(tree, url: str) -> str | None:
    """trafilatura's main text (boilerplate removed) from an already-parsed tree."""
    try:
        # fast: no second pass through the justext/readability fallbacks
        return trafilatura.extract(tree, url=url, fast=True, include_comments=False, include_tables=True,
                                   with_metadata=False, deduplicate=False)
    except Exception:  # trafilatura is heuristic; fall back rather than lose the page
        log.debug("trafilatura failed on %s", url, exc_info=True)
        return None


def extract(capture: Capture, *, fast: bool = False) -> PageFacts:
    """Facts about one captured page. ``fast`` skips trafilatura and htmldate."""
    facts = PageFacts(url=capture.url)
    if not capture.body or (capture.mime and not capture.is_html and capture.mime != "text/plain"):
        return facts
    try:
        text = decode_html(capture)
        tree = parse_html(text)
        if tree is None:
            return PageFacts(url=capture.url, text=" ".join(text.split())[:MAX_TEXT_CHARS]
                             if capture.mime == "text/plain" else "")
        metas = _metas(tree)
        title, h1 = _title(tree, metas)
        links, link_texts = links_and_texts(tree, capture.url)
        published = _date(tree, capture.url, metas)
        body = None if fast else main_text(tree, capture.url)
        if not body:
            body = _plain_text(tree)
        if published is None:
            published = _date_fallback(tree, capture.url, body, fast)
        return PageFacts(
            url=capture.url,
            title=title,
            h1=h1,
            date=published,
            lang=_language(tree, capture, body, metas),
            text=body[:MAX_TEXT_CHARS],
            links=links,
            link_texts=link_texts,
        )
    except Exception:  # never let one hostile page stop a 100,000-page run
        log.warning("could not extract %s", capture.url, exc_info=True)
        return facts


def fold(text: str) -> str:
    """Lower-case, strip diacritics (č -> c, đ -> d) and collapse spaces: for matching phrases and words."""
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).replace("đ", "d")
    return " ".join(text.split())


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
