"""What a target page is: the page we mapped, or a not-found or home page
served with 200 (a *soft 404*).

A live page is read once, when it is fetched, into a small ``PageView``:
title, main heading, a fingerprint of its text, the "not found" phrase its
title or heading starts with (the detect stage's phrase packs), and, when
the new site's capture holds the page under the same URL (an
``Expectation``), how much of the captured page's main text is found in it.
Only the view is kept, never the body, so 100,000 rows cost little memory.

Bodies are decoded with a cap: a page that decodes past it is reported, not
inflated (a decompression bomb costs at most the cap).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from rapidfuzz import fuzz

from archiver.capture.fetch import FetchResult
from archiver.detect.phrases import PhraseBook
from archiver.export.urls import InvalidURL, parse_url
from archiver.extract import decode_html, element_text, fold, main_text, parse_html
from archiver.http_message import decode_body
from archiver.types import Capture

MAX_DECODED_BYTES = 5 * 1024 * 1024  # a page decoding past this is not read further
MAX_EXPECTED_TEXT = 4000  # characters of the captured main text kept per target
SHINGLE = 3  # words per shingle when looking for the expected text in a page
MIN_SHINGLES = 5  # an expected text shorter than this says too little to compare
SAME_TEXT = 0.5  # share of the expected text's shingles that makes it the same page
SAME_TITLE = 90  # rapidfuzz ratio of folded titles that makes it the same page ...
SOME_TEXT = 0.1  # ... when at least this share of the expected text is there too


def url_key(url) -> str:
    """The form URLs are cached and compared in: normalised, without fragment."""
    return f"{url.scheme}://{url.netloc}{url.request_target}"


@dataclass(frozen=True)
class Expectation:
    """The mapped page as the new site's capture holds it."""

    title: str
    h1: str
    text: str  # main text, the first MAX_EXPECTED_TEXT characters

    @property
    def usable(self) -> bool:
        return bool(fold(self.title)) or len(_shingles(self.text)) >= MIN_SHINGLES


@dataclass(frozen=True)
class PageView:
    """A live 2xx answer as far as verdicts need it."""

    html: bool
    title: str = ""
    h1: str = ""
    fingerprint: str = ""  # equal for pages with the same title, heading and text
    not_found: str | None = None  # the "not found" phrase the title or heading starts with
    too_big: bool = False  # the body decodes past MAX_DECODED_BYTES (a decompression bomb?)
    expected: Expectation | None = None
    resemblance: float | None = None  # share of the expected text found here (None: no usable expectation)

    @property
    def title_matches(self) -> bool:
        return bool(self.expected and fold(self.expected.title)
                    and fuzz.ratio(fold(self.title), fold(self.expected.title)) >= SAME_TITLE)

    @property
    def is_expected_page(self) -> bool | None:
        """True/False against the captured page; None when there is nothing to compare with.

        Most of the captured main text, or the captured title with some of the
        text (a portal may give every page, its home page included, one title)."""
        if self.expected is None or not self.expected.usable:
            return None
        if self.resemblance is None:
            return self.title_matches
        return self.resemblance >= SAME_TEXT or (self.title_matches and self.resemblance >= SOME_TEXT)

    def same_page_as(self, other: "PageView") -> bool:
        """Served the same page: the same text, or the same non-empty title and heading."""
        if not (self.html and other.html):
            return False
        if self.fingerprint and self.fingerprint == other.fingerprint:
            return True
        return bool(fold(self.title)) and (fold(self.title), fold(self.h1)) == (fold(other.title), fold(other.h1))


def _shingles(text: str) -> set[int]:
    words = fold(text).split()
    if len(words) < SHINGLE:
        return {hash(" ".join(words))} if words else set()
    return {hash(" ".join(words[i:i + SHINGLE])) for i in range(len(words) - SHINGLE + 1)}


def resemblance(expected_text: str, page_text: str) -> float | None:
    """Share of the expected text's word shingles present in ``page_text`` (containment,
    so the page's own menus and footers do not dilute it)."""
    wanted = _shingles(expected_text)
    if len(wanted) < MIN_SHINGLES:
        return None
    return len(wanted & _shingles(page_text)) / len(wanted)


def _read(capture: Capture) -> tuple[str, str, object]:
    """(<title> text, first <h1> text, lxml tree or None) of an HTML capture.

    The raw ``<title>`` rather than extract's cleaned title (which prefers the
    h1): a not-found page often says so in its title only."""
    tree = parse_html(decode_html(capture))
    if tree is None:
        return "", "", None
    title = " ".join(" ".join(tree.xpath("//title//text()")).split())
    h1 = next((text for text in map(element_text, tree.xpath("//h1")[:3]) if text), "")
    return title, h1, tree


def _body_text(tree) -> str:
    body = tree.find("body")
    return element_text(body if body is not None else tree)


class PageReader:
    """Reads live answers into ``PageView``s against the captured expectations."""

    def __init__(self, expectations: dict[str, Expectation] | None = None):
        self.expectations = expectations or {}
        self.phrases = PhraseBook()

    def view(self, result: FetchResult, key: str) -> PageView:
        """The view of a 2xx answer for the URL ``key``; the body is read here and then dropped."""
        headers = tuple(result.headers)
        probe = Capture(url=key, status=result.status, headers=headers, body=b"", date="", file="", offset=0)
        if probe.mime and not probe.is_html:
            return PageView(html=False)
        body, capped = b"", False
        if result.response is not None:
            result.response.seek(result.head_length)
            body, capped = decode_body(result.response, result.headers, MAX_DECODED_BYTES, result.body_length)
        if capped and probe.header("content-encoding"):
            return PageView(html=True, too_big=True)
        title, h1, tree = _read(Capture(url=key, status=result.status, headers=headers, body=body, date="",
                                        file="", offset=0))
        text = _body_text(tree) if tree is not None else ""
        digest = hashlib.sha1("\0".join(map(fold, (title, h1, text))).encode("utf-8", "surrogatepass"))
        expected = self.expectations.get(key)
        return PageView(
            html=True, title=title, h1=h1, fingerprint=digest.hexdigest()[:20],
            not_found=self.phrases.soft404(title) or self.phrases.soft404(h1),
            expected=expected,
            resemblance=resemblance(expected.text, text) if expected is not None else None,
        )


def expectations_from(captures: Iterable[Capture], wanted: set[str]) -> dict[str, Expectation]:
    """The captured page of each URL key in ``wanted`` (2xx HTML captures; the last one wins)."""
    found: dict[str, Expectation] = {}
    for capture in captures:
        if capture.status is None or not 200 <= capture.status < 300 or not capture.is_html:
            continue
        try:
            key = url_key(parse_url(capture.url, keep_fragment=False))
        except InvalidURL:
            continue
        if key in wanted:
            title, h1, tree = _read(capture)
            if tree is not None:
                text = main_text(tree, capture.url) or _body_text(tree)
                found[key] = Expectation(title, h1, text[:MAX_EXPECTED_TEXT])
    return found
