"""Content matching: which new page, if any, is this old page?

Every page becomes a compact record (folded title, date as a day number,
language, URL slug, and a MinHash signature of its word 3-gram shingles).
Shingles that occur on many pages of one site (navigation, footers, banners,
press-release templates) are dropped before hashing, so boilerplate is
removed by statistics whatever the extractor left in.

Candidates come from blocking, never from all pairs: MinHash LSH over the
text (datasketch), the same publication date +-1 day, and rare title words.
Candidates are scored with rapidfuzz (title), the MinHash Jaccard estimate
(text), date agreement and slug similarity; a page is matched only when its
best score clears an absolute threshold *and* beats the runner-up by a
margin, so a page with no equivalent stays unmatched.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Sequence
from urllib.parse import unquote, urlsplit

import numpy as np

from archiver.types import PageFacts

NUM_PERM = 128
_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"^\d+$")
_SLUG_NOISE = re.compile(r"(?:(?:19|20)\d\d-\d\d-\d\d-?)|(?:[_-]\d{2,}$)|\.(?:html?|php|aspx?)$")


@dataclass(frozen=True)
class Thresholds:
    """When a content match is trusted (see README, "Mapping")."""

    accept: float = 0.55  # absolute minimum confidence of a content match
    margin: float = 0.08  # the best must beat the runner-up by this much
    strong: float = 0.80  # two old pages may share one new page only if both are this sure
    lsh: float = 0.3  # Jaccard threshold of the LSH candidate search
    boilerplate_df: float = 0.02  # shingles on more than this share of a site's pages are furniture
    max_candidates: int = 200  # per old page, after blocking
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


def fold(text: str) -> str:
    """Lower-case ASCII-ish text: diacritics removed (č -> c), for comparing words."""
    text = unicodedata.normalize("NFKD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


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
    slug = _SLUG_NOISE.sub("", segments[-1].lower())
    return " ".join(w for w in re.split(r"[\W_]+", fold(slug)) if w and not w.isdigit())


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
    days: list[int] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    shingles: list[np.ndarray] = field(default_factory=list)
    signatures: np.ndarray | None = None  # (n, NUM_PERM) uint32
    has_text: np.ndarray | None = None  # (n,) bool: enough shingles to compare
    rich_text: np.ndarray | None = None  # (n,) bool: enough that disagreement means a different page


class _Vocabulary:
    """Word -> integer id, folding each distinct word once."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._mix = np.random.default_rng(20190701).integers(1, 1 << 61, size=3, dtype=np.uint64) | np.uint64(1)

    def word_ids(self, text: str) -> np.ndarray:
        ids = self.ids
        out = []
        for word in _WORD.findall(text.lower()):
            wid = ids.get(word)
            if wid is None:
                folded = fold(word)
                wid = ids.get(folded)
                if wid is None:
                    wid = len(ids) + 1
                    ids[folded] = wid
                ids[word] = wid
            out.append(wid)
        return np.asarray(out, dtype=np.uint64)

    def shingles(self, text: str) -> np.ndarray:
        """Distinct 32-bit hashes of the word 3-grams (words alone for very short texts)."""
        ids = self.word_ids(text)
        if len(ids) < 3:
            grams = ids * self._mix[0]
        else:
            with np.errstate(over="ignore"):
                grams = ids[:-2] * self._mix[0] + ids[1:-1] * self._mix[1] + ids[2:] * self._mix[2]
        return np.unique((grams >> np.uint64(29)) & _MAX32).astype(np.uint32)


class _Signer:
    """MinHash signatures computed with numpy (same scheme as datasketch's legacy MinHash)."""

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        rng = np.random.RandomState(seed)
        self.a = rng.randint(1, int(_PRIME), size=num_perm, dtype=np.uint64)
        self.b = rng.randint(0, int(_PRIME), size=num_perm, dtype=np.uint64)
        self.num_perm = num_perm

    def sign(self, shingles: np.ndarray) -> np.ndarray:
        if len(shingles) == 0:
            return np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        out = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint64)
        for start in range(0, len(shingles), 512):  # bounded temporary memory for long pages
            hv = shingles[start:start + 512].astype(np.uint64)[:, None]
            with np.errstate(over="ignore"):
                phv = ((hv * self.a + self.b) % _PRIME) & _MAX32
            np.minimum(out, phv.min(axis=0), out=out)
        return out.astype(np.uint32)


def _build_side(facts: Iterable[PageFacts], vocab: _Vocabulary) -> _Side:
    side = _Side()
    for page in facts:
        title = page.title or page.h1
        side.urls.append(page.url)
        folded = fold(" ".join(title.split()))
        side.titles.append(folded)
        side.title_words.append(tuple(dict.fromkeys(w for w in _WORD.findall(folded) if len(w) > 2)))
        side.slugs.append(url_slug(page.url))
        side.days.append(_day(page.date))
        side.langs.append((page.lang or "")[:2].lower())
        side.shingles.append(vocab.shingles(page.text or ""))
    return side


def _drop_boilerplate(side: _Side, share: float) -> None:
    """Remove shingles found on more than ``share`` of the site's pages (at least 5)."""
    if not side.shingles:
        return
    everything = np.concatenate(side.shingles) if side.shingles else np.empty(0, np.uint32)
    values, counts = np.unique(everything, return_counts=True)
    common = values[counts > max(5, share * len(side.shingles))]
    if len(common):
        side.shingles = [s[~np.isin(s, common, assume_unique=True)] if len(s) else s for s in side.shingles]


def _sign_side(side: _Side, signer: _Signer) -> None:
    side.signatures = np.vstack([signer.sign(s) for s in side.shingles]) if side.shingles \
        else np.empty((0, signer.num_perm), np.uint32)
    side.has_text = np.array([len(s) >= 3 for s in side.shingles], dtype=bool)
    side.rich_text = np.array([len(s) >= 30 for s in side.shingles], dtype=bool)
    side.shingles = []  # signatures are all scoring needs; free the memory


class ContentMatcher:
    """Match old pages to new pages by content; build once per new site."""

    def __init__(self, new_pages: Sequence[PageFacts], thresholds: Thresholds | None = None) -> None:
        from datasketch import MinHashLSH

        self.thresholds = thresholds or Thresholds()
        self.vocab = _Vocabulary()
        self.signer = _Signer()
        self.new = _build_side(new_pages, self.vocab)
        _drop_boilerplate(self.new, self.thresholds.boilerplate_df)
        _sign_side(self.new, self.signer)
        self.lsh = MinHashLSH(threshold=self.thresholds.lsh, num_perm=NUM_PERM)
        self._lsh_insert()
        self.by_day: dict[int, list[int]] = defaultdict(list)
        for i, day in enumerate(self.new.days):
            if day >= 0:
                self.by_day[day].append(i)
        self.by_title_word: dict[str, list[int]] = defaultdict(list)
        for i, words in enumerate(self.new.title_words):
            for word in words:
                self.by_title_word[word].append(i)
        self.title_counts = Counter(self.new.titles)

    def _lsh_insert(self) -> None:
        from datasketch import LeanMinHash

        with self.lsh.insertion_session() as session:
            for i, sig in enumerate(self.new.signatures):
                if self.new.has_text[i]:
                    session.insert(i, LeanMinHash(seed=1, hashvalues=sig, scheme="legacy"))

    # blocking -------------------------------------------------------------------------------
    def _candidates(self, old: _Side, i: int) -> np.ndarray:
        from datasketch import LeanMinHash

        found: dict[int, None] = {}
        if old.has_text[i]:
            for key in self.lsh.query(LeanMinHash(seed=1, hashvalues=old.signatures[i], scheme="legacy")):
                found[key] = None
        day = old.days[i]
        if day >= 0:
            for d in (day - 1, day, day + 1):
                for j in self.by_day.get(d, ()):
                    found[j] = None
        votes: Counter = Counter()
        cap = self.thresholds.title_posting_cap
        for word in old.title_words[i]:
            posting = self.by_title_word.get(word)
            if posting and len(posting) <= cap:
                votes.update(posting)
        if votes:
            need = max(1, (len(old.title_words[i]) + 1) // 3)
            for j, count in votes.most_common(50):
                if count >= need:
                    found[j] = None
        lang = old.langs[i]
        keep = [j for j in found if not (lang and self.new.langs[j] and self.new.langs[j] != lang)]
        return np.fromiter(keep[: self.thresholds.max_candidates], dtype=np.int64, count=min(
            len(keep), self.thresholds.max_candidates))

    # scoring ---------------------------------------------------------------------------------
    def _score(self, old: _Side, i: int, cand: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from rapidfuzz import fuzz, process

        new = self.new
        n = len(cand)
        weights = np.zeros(n)
        total = np.zeros(n)
        if old.has_text[i]:
            text = (new.signatures[cand] == old.signatures[i]).mean(axis=1)
            usable = new.has_text[cand]
            total += np.where(usable, 0.45 * text, 0.0)
            weights += np.where(usable, 0.45, 0.0)
        else:
            text = np.full(n, np.nan)
        title = np.full(n, np.nan)
        if old.titles[i]:
            cand_titles = [new.titles[j] for j in cand]
            title = process.cdist([old.titles[i]], cand_titles, scorer=fuzz.token_set_ratio,
                                  dtype=np.float64)[0] / 100.0
            sort = process.cdist([old.titles[i]], cand_titles, scorer=fuzz.token_sort_ratio,
                                 dtype=np.float64)[0] / 100.0
            title = 0.5 * title + 0.5 * sort
            has_title = np.array([bool(t) for t in cand_titles])
            # a title shared by many new pages ("Weekly press conference") proves little
            rarity = np.array([1.0 / self.title_counts[t] ** 0.5 if t else 1.0 for t in cand_titles])
            days = np.array([new.days[j] for j in cand])
            same_day = (days >= 0) & (old.days[i] >= 0) & (np.abs(days - old.days[i]) <= 1)
            rarity = np.where(same_day, 1.0, rarity)  # unless the date tells the recurring ones apart
            total += np.where(has_title, 0.30 * title * rarity, 0.0)
            weights += np.where(has_title, 0.30, 0.0)
        slug = np.full(n, np.nan)
        if old.slugs[i]:
            cand_slugs = [new.slugs[j] for j in cand]
            slug = process.cdist([old.slugs[i]], cand_slugs, scorer=fuzz.token_set_ratio,
                                 dtype=np.float64)[0] / 100.0
            has_slug = np.array([bool(s) for s in cand_slugs])
            total += np.where(has_slug, 0.10 * slug, 0.0)
            weights += np.where(has_slug, 0.10, 0.0)
        days = np.array([new.days[j] for j in cand])
        day = old.days[i]
        date_known = (days >= 0) & (day >= 0)
        gap = np.abs(days - day)
        date_score = np.where(gap == 0, 1.0, np.where(gap == 1, 0.8, 0.0))
        total += np.where(date_known, 0.15 * date_score, 0.0)
        weights += np.where(date_known, 0.15, 0.0)
        score = np.divide(total, weights, out=np.zeros(n), where=weights > 0)
        # a different publication date means a different release, however alike the text
        score = np.where(date_known & (gap > 1), score * 0.75, score)
        # two substantial texts with almost nothing in common are different pages, whatever the title
        if old.rich_text[i]:
            score = np.where(new.rich_text[cand] & (text < 0.1), score * 0.7, score)
        # too little to compare: at most weak evidence
        score = np.where(weights < 0.4, score * 0.7, score)
        notes = []
        for k in range(n):
            parts = []
            if not np.isnan(title[k]):
                parts.append(f"title {title[k] * 100:.0f}")
            if date_known[k]:
                parts.append("date =" if gap[k] == 0 else f"date {'+-1' if gap[k] == 1 else 'differs'}")
            if not np.isnan(text[k]) and new.has_text[cand[k]]:
                parts.append(f"text {text[k]:.2f}")
            if not np.isnan(slug[k]):
                parts.append(f"slug {slug[k] * 100:.0f}")
            notes.append(", ".join(parts))
        return score, notes

    def match_side(self, old: _Side) -> list[Match]:
        t = self.thresholds
        out = []
        for i in range(len(old.urls)):
            cand = self._candidates(old, i)
            if not len(cand):
                out.append(Match(None, 0.0, 0.0, "no candidate shares text, date or title words"))
                continue
            score, notes = self._score(old, i, cand)
            order = np.argsort(-score, kind="stable")
            best = int(order[0])
            top = float(score[best])
            second = float(score[order[1]]) if len(order) > 1 else 0.0
            evidence = f"{notes[best]}; runner-up {second:.2f}"
            j = int(cand[best])
            if top >= t.accept and top - second >= t.margin:
                out.append(Match(j, round(top, 3), round(second, 3), evidence, best_index=j))
            elif top >= t.accept:
                rival = self.new.urls[int(cand[order[1]])]
                out.append(Match(None, round(top, 3), round(second, 3),
                                 f"ambiguous: {self.new.urls[j]} ({notes[best]}) vs {rival} ({second:.2f})",
                                 ambiguous=True, best_index=j))
            else:
                out.append(Match(None, round(top, 3), round(second, 3),
                                 f"best {top:.2f} under {t.accept} ({self.new.urls[j]}: {notes[best]})",
                                 best_index=j))
        return out

    def match(self, old_pages: Sequence[PageFacts]) -> list[Match]:
        """One Match per old page, in order (no one-to-one resolution here)."""
        old = _build_side(old_pages, self.vocab)
        _drop_boilerplate(old, self.thresholds.boilerplate_df)
        _sign_side(old, self.signer)
        self.old = old
        return self.match_side(old)

    def pair_score(self, old_index: int, new_index: int) -> tuple[float, str]:
        """Confidence and evidence for one given pair of the last ``match()`` (to corroborate a target)."""
        score, notes = self._score(self.old, old_index, np.array([new_index]))
        return float(score[0]), notes[0]

    def same_content(self, old_a: int, old_b: int) -> float:
        """MinHash agreement of two old pages of the last ``match()``: near 1 for aliases of one page."""
        if not (self.old.has_text[old_a] and self.old.has_text[old_b]):
            return 0.0
        return float((self.old.signatures[old_a] == self.old.signatures[old_b]).mean())

    @property
    def new_urls(self) -> list[str]:
        return self.new.urls
