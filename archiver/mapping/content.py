"""Content matching: which new page, if any, is this old page?

Every page becomes a compact record: folded title, publication day, language,
URL slug, and a MinHash signature of its word 3-gram shingles. Shingles that
occur on many pages of one site (navigation, footers, banners, press-release
templates) are dropped before hashing, so boilerplate is removed by
statistics whatever the extractor left in.

Candidates come from blocking, never from all pairs: LSH banding of the
signatures (``minhash.py``, shared with document matching),
the same publication date +-1 day, and rare title words for undated pages.
All candidate pairs are then scored at once, vectorized: rapidfuzz for titles
and slugs, signature agreement for text (a Jaccard estimate), date agreement.
A page is matched only when its best score clears an absolute threshold *and*
beats its runner-up by a margin, so a page with no equivalent stays unmatched.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Sequence
from urllib.parse import unquote, urlsplit

import numpy as np
from rapidfuzz import fuzz, process

from archiver.extract import date_in_url, fold
from archiver.mapping.minhash import LshIndex, Shingler, Signer, agreement, drop_common, expand
from archiver.types import PageFacts

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"^\d+$")
_SLUG_NOISE = re.compile(r"(?:(?:19|20)\d\d-\d\d-\d\d-?)|(?:[_-]\d{2,}$)|\.(?:html?|php|aspx?)$")
_CHUNK = 65536  # candidate pairs scored per numpy batch (bounded memory)
KEPT_CANDIDATES = 3  # best new pages remembered per old page of a kept match(), for review

# weights of the parts of a content score; missing parts drop out and the rest are renormalized
W_TEXT, W_TITLE, W_DATE, W_SLUG = 0.45, 0.30, 0.15, 0.10


@dataclass(frozen=True)
class Thresholds:
    """When a content match is trusted (see README, "Mapping")."""

    accept: float = 0.55  # absolute minimum confidence of a content match
    margin: float = 0.08  # the best must beat the runner-up by this much
    strong: float = 0.80  # two old pages may share one new page only if both are this sure
    lsh: float = 0.4  # Jaccard threshold the LSH bands are tuned for
    lsh_candidates: int = 50  # per old page, the new pages sharing the most bands
    bucket_cap: int = 100  # an LSH bucket or date with more new pages than this does not block
    boilerplate_df: float = 0.02  # shingles on more than this share of a site's pages are furniture
    title_posting_cap: int = 100  # title words on more new pages than this do not block


@dataclass(frozen=True)
class Match:
    """The content matcher's verdict on one old page."""

    new_index: int | None  # index into the new pages, None when nothing cleared the bar
    confidence: float
    runner_up: float
    evidence: str
    ambiguous: bool = False  # cleared the threshold but not the margin
    best_index: int | None = None  # the best candidate even when not accepted (for review)


def url_slug(url: str) -> str:
    """The last meaningful path segment as words: dates, ids and extensions removed."""
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return ""
    segments = [s for s in path.split("/") if s]
    while segments and (_DIGITS.match(segments[-1]) or len(segments[-1]) < 3):
        segments.pop()
    if not segments:
        return ""
    slug = _SLUG_NOISE.sub("", fold(segments[-1]))
    return " ".join(w for w in re.split(r"[\W_]+", slug) if w and not w.isdigit())


def facts_from_url(url: str) -> PageFacts:
    """What a URL alone says about its page: its slug as a title, the date in its path."""
    return PageFacts(url, title=url_slug(url), date=date_in_url(url))


def _day(value: str | None) -> int:
    if not value:
        return -1
    try:
        return date.fromisoformat(value[:10]).toordinal()
    except ValueError:
        return -1


@dataclass
class _Side:
    """The records of one site, column-wise so scoring is vectorized."""

    urls: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    title_words: list[tuple[str, ...]] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    days: np.ndarray | None = None  # (n,) int64 ordinal, -1 unknown
    langs: np.ndarray | None = None  # (n,) int32 code, 0 unknown
    shingles: list[np.ndarray] = field(default_factory=list)
    signatures: np.ndarray | None = None  # (n, NUM_PERM) uint32 MinHash signatures
    has_text: np.ndarray | None = None  # enough shingles to compare
    rich_text: np.ndarray | None = None  # enough that disagreement means a different page
    has_title: np.ndarray | None = None
    has_slug: np.ndarray | None = None


def _build_side(facts: Iterable[PageFacts], vocab: Shingler, lang_codes: dict[str, int]) -> _Side:
    side = _Side()
    days, langs = [], []
    for page in facts:
        folded = fold(page.title or page.h1)
        side.urls.append(page.url)
        side.titles.append(folded)
        side.title_words.append(tuple(dict.fromkeys(w for w in _WORD.findall(folded) if len(w) > 2)))
        side.slugs.append(url_slug(page.url))
        days.append(_day(page.date))
        lang = (page.lang or "")[:2].lower()
        langs.append(lang_codes.setdefault(lang, len(lang_codes)) if lang else 0)
        side.shingles.append(vocab.shingles(page.text or ""))
    side.days = np.array(days, dtype=np.int64)
    side.langs = np.array(langs, dtype=np.int32)
    side.has_title = np.array([bool(t) for t in side.titles], dtype=bool)
    side.has_slug = np.array([bool(s) for s in side.slugs], dtype=bool)
    return side


def _sign_side(side: _Side, signer: Signer, boilerplate_df: float) -> None:
    """Signatures of the side's texts without its furniture; the shingles are freed."""
    shingles = drop_common(side.shingles, boilerplate_df)
    sizes = np.array([len(s) for s in shingles], dtype=np.int64)
    side.signatures = signer.sign_all(shingles)
    side.has_text = sizes >= 3
    side.rich_text = sizes >= 30
    side.shingles = []  # signatures are all scoring needs; free the memory


@dataclass(frozen=True)
class _Parts:
    """The components of a score, per candidate pair (NaN or -1 where unknown)."""

    title: np.ndarray
    text: np.ndarray
    slug: np.ndarray
    gap: np.ndarray  # days between the publication dates, -1 unknown

    def note(self, k: int) -> str:
        """Evidence a person can read: "title 97, date =, text 0.91, slug 88"."""
        parts = []
        if not np.isnan(self.title[k]):
            parts.append(f"title {self.title[k] * 100:.0f}")
        if self.gap[k] >= 0:
            parts.append("date =" if self.gap[k] == 0 else ("date +-1" if self.gap[k] == 1 else
                                                            f"date differs by {self.gap[k]} days"))
        if not np.isnan(self.text[k]):
            parts.append(f"text {self.text[k]:.2f}")
        if not np.isnan(self.slug[k]):
            parts.append(f"slug {self.slug[k] * 100:.0f}")
        return ", ".join(parts)


ACCEPTED, AMBIGUOUS, UNDER = "accepted", "ambiguous", "under the threshold"


def verdict(best: float, runner_up: float, thresholds: Thresholds) -> str:
    """Whether the best candidate is the page's equivalent: it must clear the absolute threshold and
    lead the runner-up (0 when there is none) by the margin; clearing only the first is ambiguous."""
    if best < thresholds.accept:
        return UNDER
    return ACCEPTED if best - runner_up >= thresholds.margin else AMBIGUOUS


class ContentMatcher:
    """Match old pages to new pages by content; build once per new site."""

    def __init__(self, new_pages: Sequence[PageFacts], thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.vocab = Shingler()
        self.signer = Signer()
        self.lang_codes: dict[str, int] = {"": 0}
        self.new = _build_side(new_pages, self.vocab, self.lang_codes)
        _sign_side(self.new, self.signer, self.thresholds.boilerplate_df)
        self.lsh = LshIndex(self.new.signatures, self.new.has_text, threshold=self.thresholds.lsh,
                            bucket_cap=self.thresholds.bucket_cap)
        self._day_order = np.argsort(self.new.days, kind="stable")
        self._day_sorted = self.new.days[self._day_order]
        self.by_title_word: dict[str, list[int]] = defaultdict(list)
        for j, words in enumerate(self.new.title_words):
            for word in words:
                self.by_title_word[word].append(j)
        counts = Counter(self.new.titles)
        self._title_rarity = np.array([counts[t] ** -0.5 if t else 1.0 for t in self.new.titles])
        self.old: _Side | None = None
        self._top_new = np.empty((0, KEPT_CANDIDATES), np.int64)  # per kept old page, best first; -1 none
        self._top_scores = np.empty((0, KEPT_CANDIDATES))

    @property
    def new_urls(self) -> list[str]:
        return self.new.urls

    # blocking -------------------------------------------------------------------------------
    def _lsh_pairs(self, old: _Side) -> tuple[np.ndarray, np.ndarray]:
        """The new pages sharing the most LSH bands with each old page."""
        return self.lsh.candidates(old.signatures, old.has_text, per_item=self.thresholds.lsh_candidates)

    def _date_pairs(self, old: _Side) -> tuple[np.ndarray, np.ndarray]:
        known = old.days >= 0
        lo = np.searchsorted(self._day_sorted, np.where(known, old.days - 1, -10), "left")
        hi = np.searchsorted(self._day_sorted, np.where(known, old.days + 1, -10), "right")
        hi = np.where((hi - lo) > 3 * self.thresholds.bucket_cap, lo, hi)
        owners, positions = expand(lo, hi)
        return owners, self._day_order[positions]

    def _title_pairs(self, old: _Side, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rare shared title words, for pages the date cannot block (undated or dated wrong)."""
        owners, found = [], []
        cap = self.thresholds.title_posting_cap
        for i in which:
            votes: Counter = Counter()
            for word in old.title_words[i]:
                posting = self.by_title_word.get(word)
                if posting and len(posting) <= cap:
                    votes.update(posting)
            need = max(1, (len(old.title_words[i]) + 1) // 3)
            for j, count in votes.most_common(30):
                if count >= need:
                    owners.append(i)
                    found.append(j)
        return np.array(owners, dtype=np.int64), np.array(found, dtype=np.int64)

    def _candidates(self, old: _Side) -> tuple[np.ndarray, np.ndarray]:
        """(old index, new index) candidate pairs, unique, sorted by old index."""
        lsh_o, lsh_n = self._lsh_pairs(old)
        day_o, day_n = self._date_pairs(old)
        have = np.zeros(len(old.urls), dtype=np.int64)
        np.add.at(have, lsh_o, 1)
        np.add.at(have, day_o, 1)
        thin = np.flatnonzero((have < 3) | (old.days < 0))
        title_o, title_n = self._title_pairs(old, thin)
        owners = np.concatenate([lsh_o, day_o, title_o]).astype(np.int64)
        found = np.concatenate([lsh_n, day_n, title_n]).astype(np.int64)
        pair = np.unique(owners * len(self.new.urls) + found)
        owners, found = pair // len(self.new.urls), pair % len(self.new.urls)
        a, b = old.langs[owners], self.new.langs[found]
        same_language = (a == 0) | (b == 0) | (a == b)
        return owners[same_language], found[same_language]

    # scoring ---------------------------------------------------------------------------------
    def _score(self, old: _Side, owners: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, _Parts]:
        """Confidence of each (old, new) pair and the parts it was made of, vectorized."""
        new = self.new
        n = len(owners)
        total, weights = np.zeros(n), np.zeros(n)

        usable = old.has_text[owners] & new.has_text[found]
        text = np.full(n, np.nan)
        if usable.any():
            text[usable] = agreement(old.signatures[owners[usable]], new.signatures[found[usable]])
        total += np.where(usable, W_TEXT * np.nan_to_num(text), 0.0)
        weights += np.where(usable, W_TEXT, 0.0)

        days_old, days_new = old.days[owners], new.days[found]
        date_known = (days_old >= 0) & (days_new >= 0)
        gap = np.where(date_known, np.abs(days_old - days_new), -1)
        total += np.where(date_known, W_DATE * np.where(gap == 0, 1.0, np.where(gap == 1, 0.8, 0.0)), 0.0)
        weights += np.where(date_known, W_DATE, 0.0)

        both = old.has_title[owners] & new.has_title[found]
        title = np.full(n, np.nan)
        if both.any():
            a = [old.titles[i] for i in owners[both]]
            b = [new.titles[j] for j in found[both]]
            title[both] = (process.cpdist(a, b, scorer=fuzz.token_set_ratio, dtype=np.float64, workers=-1)
                           + process.cpdist(a, b, scorer=fuzz.token_sort_ratio, dtype=np.float64,
                                            workers=-1)) / 200.0
        # a title many new pages share ("Weekly press conference") proves little, unless the date
        # tells the recurring ones apart
        rarity = np.where(date_known & (gap <= 1), 1.0, self._title_rarity[found])
        total += np.where(both, W_TITLE * np.nan_to_num(title) * rarity, 0.0)
        weights += np.where(both, W_TITLE, 0.0)

        both = old.has_slug[owners] & new.has_slug[found]
        slug = np.full(n, np.nan)
        if both.any():
            slug[both] = process.cpdist([old.slugs[i] for i in owners[both]], [new.slugs[j] for j in found[both]],
                                        scorer=fuzz.token_set_ratio, dtype=np.float64, workers=-1) / 100.0
        total += np.where(both, W_SLUG * np.nan_to_num(slug), 0.0)
        weights += np.where(both, W_SLUG, 0.0)

        score = np.divide(total, weights, out=np.zeros(n), where=weights > 0)
        # a different publication date means a different release, however alike the text
        score = np.where(date_known & (gap > 1), score * 0.75, score)
        # two substantial texts with almost nothing in common are different pages, unless a title
        # no other new page carries and the same date both say otherwise (a rewritten release)
        vouched = (np.nan_to_num(title) >= 0.9) & (self._title_rarity[found] >= 1.0) & (gap == 0)
        score = np.where(old.rich_text[owners] & new.rich_text[found] & (np.nan_to_num(text) < 0.1) & ~vouched,
                         score * 0.7, score)
        # agreeing dates and slugs only corroborate: without a similar title or text they prove nothing
        said = np.maximum(np.nan_to_num(title), np.minimum(1.0, 1.5 * np.nan_to_num(text)))
        score = np.where(said < 0.5, score * 0.6, score)
        # too little to compare: at most weak evidence
        score = np.where(weights < 0.4, score * 0.7, score)
        return score, _Parts(title, text, slug, gap)

    def _scores(self, old: _Side, owners: np.ndarray, found: np.ndarray) -> np.ndarray:
        out = np.empty(len(owners))
        for start in range(0, len(owners), _CHUNK):
            out[start:start + _CHUNK] = self._score(old, owners[start:start + _CHUNK],
                                                    found[start:start + _CHUNK])[0]
        return out

    # matching ---------------------------------------------------------------------------------
    def match(self, old_pages: Sequence[PageFacts], *, keep: bool = True) -> list[Match]:
        """One Match per old page, in order (no one-to-one resolution here).

        ``keep`` remembers these pages for ``pair_score``, ``same_content`` and
        ``top_candidates``.
        """
        old = _build_side(old_pages, self.vocab, self.lang_codes)
        _sign_side(old, self.signer, self.thresholds.boilerplate_df)
        if keep:
            self.old = old
        n = len(old.urls)
        if not self.new.urls:
            if keep:
                self._keep_top(np.empty(0, np.int64), np.empty(0), np.zeros(n, np.int64), np.zeros(n, np.int64))
            return [Match(None, 0.0, 0.0, "the new site's capture has no pages") for _ in range(n)]
        owners, found = self._candidates(old)
        scores = self._scores(old, owners, found)
        order = np.lexsort((-scores, owners))
        owners, found, scores = owners[order], found[order], scores[order]
        starts = np.searchsorted(owners, np.arange(n), "left")
        ends = np.searchsorted(owners, np.arange(n), "right")
        if keep:
            self._keep_top(found, scores, starts, ends)
        has = ends > starts
        best = np.where(has, starts, 0)
        has_runner = (ends - starts) > 1
        runner = np.where(has_runner, starts + 1, 0)
        top = np.where(has, scores[best] if len(scores) else 0.0, 0.0)
        second = np.where(has_runner, scores[runner] if len(scores) else 0.0, 0.0)
        picked = np.flatnonzero(has)
        _, parts = self._score(old, owners[best[picked]], found[best[picked]]) if len(picked) else (None, None)
        notes = {int(i): parts.note(k) for k, i in enumerate(picked)}
        t = self.thresholds
        out = []
        for i in range(n):
            if not has[i]:
                out.append(Match(None, 0.0, 0.0, "no candidate shares text, date or title words"))
                continue
            j = int(found[best[i]])
            conf, rival = round(float(top[i]), 3), round(float(second[i]), 3)
            decision = verdict(float(top[i]), float(second[i]), t)
            if decision == ACCEPTED:
                out.append(Match(j, conf, rival, f"{notes[i]}; runner-up {rival:.2f}", best_index=j))
            elif decision == AMBIGUOUS:
                other = self.new.urls[int(found[runner[i]])]
                out.append(Match(None, conf, rival, f"ambiguous: {self.new.urls[j]} ({notes[i]}) vs {other} "
                                                    f"({rival:.2f})", ambiguous=True, best_index=j))
            else:
                out.append(Match(None, conf, rival, f"best {conf:.2f} under {t.accept} ({self.new.urls[j]}: "
                                                    f"{notes[i]})", best_index=j))
        return out

    def _keep_top(self, found: np.ndarray, scores: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        self._top_new = np.full((len(starts), KEPT_CANDIDATES), -1, np.int64)
        self._top_scores = np.zeros((len(starts), KEPT_CANDIDATES))
        for rank in range(KEPT_CANDIDATES):
            at = starts + rank
            has = at < ends
            self._top_new[has, rank] = found[at[has]]
            self._top_scores[has, rank] = scores[at[has]]

    def top_candidates(self, n: int = KEPT_CANDIDATES) -> list[list[tuple[int, float, str]]]:
        """For every old page of the last kept ``match()``, its best ``n`` new pages (at most
        ``KEPT_CANDIDATES``) as (new index, score, reasons), best first: what a person reviewing
        the page is shown, accepted or not."""
        n = min(n, KEPT_CANDIDATES)
        rows, ranks = np.nonzero(self._top_new[:, :n] >= 0)
        owners, found = rows.astype(np.int64), self._top_new[rows, ranks]
        notes = []
        for start in range(0, len(owners), _CHUNK):
            _, parts = self._score(self.old, owners[start:start + _CHUNK], found[start:start + _CHUNK])
            notes.extend(parts.note(k) for k in range(len(parts.gap)))
        out: list[list[tuple[int, float, str]]] = [[] for _ in range(len(self._top_new))]
        for i, j, rank, note in zip(owners.tolist(), found.tolist(), ranks.tolist(), notes):
            out[i].append((j, round(float(self._top_scores[i, rank]), 3), note))
        return out

    def pair_score(self, old_index: int, new_index: int) -> tuple[float, str]:
        """Confidence and evidence for one pair of the last ``match()`` (to corroborate a target)."""
        score, parts = self._score(self.old, np.array([old_index]), np.array([new_index]))
        return float(score[0]), parts.note(0)

    def same_content(self, old_a: int, old_b: int) -> float:
        """Signature agreement of two old pages of the last ``match()``: near 1 for aliases of one page."""
        if not (self.old.has_text[old_a] and self.old.has_text[old_b]):
            return 0.0
        return float((self.old.signatures[old_a] == self.old.signatures[old_b]).mean())
