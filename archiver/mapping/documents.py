"""Documents get redirects too: every captured legacy PDF, office file, RTF or text file gets a row.

Other sites, courts and search engines link a ministry's documents directly,
often more than its pages, so each captured legacy document (``documents.
sniff``: by Content-Type and magic bytes; images, CSS and JS only when the
manifest's ``assets`` names their type) is mapped in a fixed order of trust:

1. ``digest``: the same bytes exist on the new site. Exact, across any
   rename, no parsing; among several identical copies the one with the same
   file name, then the one the moved page links, is taken.
2. ``text``: the same document re-saved (new metadata, re-exported): its
   text is near-identical (MinHash signatures, blocked with the same LSH as
   pages, ``minhash.py``; 0.9, or 0.95 when a title is missing), its page
   count is the same (when both files are of one kind and say it) and its
   title agrees (when both have a real one; numbers in it must be equal),
   and it clearly beats the runner-up.
3. ``linked_from``: the page that linked it moved (its row is a page-level
   redirect), and the new page links a document with the same file name or
   the same link text, not claimed by steps 1-2 and not contradicted by its
   text. A candidate, so flagged for review.
4. otherwise unmatched, never forced; a document whose every linking page
   is gone follows their 410 when ``follow_gone`` is set.

Text is read only where it can matter: for every distinct new document, and
for legacy documents whose bytes are not on the new site.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Callable, Iterable, Mapping

import numpy as np
from rapidfuzz import fuzz

from archiver.documents import Budget, DocumentText, Limits, document_kind, extract, file_name
from archiver.mapping.minhash import LshIndex, Shingler, Signer, agreement, fold
from archiver.types import Capture, PageFacts, RedirectRow
from archiver.urls import lookup_key

TEXT_ACCEPT = 0.9  # signature agreement of "near-identical" text, when both titles agree
TEXT_ACCEPT_UNTITLED = 0.95  # ... when a title is missing: sibling forms on one template reach 0.9
TEXT_MARGIN = 0.05  # the best must beat the runner-up (a different file) by this much
TEXT_LSH = 0.7  # Jaccard threshold the LSH bands are tuned for (well under TEXT_ACCEPT: no pair is missed)
TEXT_CANDIDATES = 20  # per legacy document, the new documents sharing the most bands
BUCKET_CAP = 200  # an LSH bucket with more documents than this is a template, not a match
MIN_SHINGLES = 20  # texts shorter than this (a scan, a one-line form) are not compared
TEXT_VETO = 0.3  # a linked_from candidate whose text agrees less than this is another document
TITLE_AGREE = 85  # rapidfuzz token-set ratio of two real titles
LINKED_CONFIDENCE = 0.5
BOTH_CLUES_CONFIDENCE = 0.6  # file name *and* link text agree
GONE_CONFIDENCE = 0.8
_FAMILIES = {"pdf": "pdf", "doc": "word", "docx": "word", "odt": "word", "rtf": "word", "xls": "sheet",
             "xlsx": "sheet", "ods": "sheet", "ppt": "slides", "pptx": "slides", "odp": "slides"}
_NUMBER = re.compile(r"\d+")
_GENERATOR_TITLE = re.compile(r"^(?:microsoft (?:word|excel|powerpoint) - |untitled|brez naslova|dokument\d*$|"
                              r"document\d*$|presentation\d*$|predstavitev\d*$|slide \d+$|title$|naslov$)")
_FILE_LIKE = re.compile(r"\.(?:pdf|docx?|xlsx?|pptx?|od[tsp]|rtf|txt)$")
_LINK_NOISE = re.compile(r"[(\[][^)\]]*\b(?:pdf|docx?|xlsx?|pptx?|od[tsp]|rtf|txt|kb|mb|kib|mib|bytes?|zlozenka|"
                         r"size|velikost)\b[^)\]]*[)\]]|\b(?:pdf|docx?|xlsx?|pptx?|od[tsp]|rtf)\b")
_GENERIC_LABELS = frozenset("""prenesi prenos download tukaj here vec more link povezava datoteka file dokument
document priloga attachment odpri open klikni click preberi read pdf word excel""".split())


@dataclass(slots=True)
class _Doc:
    url: str
    key: str  # lookup_key: the row key, and what links are compared in
    kind: str
    digest: str | None
    name: str  # folded file name without extension: what "the same file name" compares
    title: str  # folded title when it is a real one, else ""
    pages: int | None
    problem: str
    signature: np.ndarray | None  # MinHash of the text; None when too short to compare


@dataclass
class _Side:
    docs: dict[str, _Doc] = field(default_factory=dict)  # key -> document (the latest capture wins)
    by_digest: dict[str, list[_Doc]] = field(default_factory=lambda: defaultdict(list))

    def add(self, doc: _Doc) -> None:
        self.docs[doc.key] = doc

    def index_digests(self) -> None:
        self.by_digest.clear()
        for doc in self.docs.values():
            if doc.digest:
                self.by_digest[doc.digest].append(doc)


def _digest(capture: Capture) -> str | None:
    """Identity of the bytes: SHA-256 of the whole decoded body, else the WARC's payload digest."""
    if capture.body and not capture.body_capped and not capture.truncated:
        return "sha256:" + hashlib.sha256(capture.body).hexdigest()
    return f"warc:{capture.payload_digest}" if capture.payload_digest and capture.body else None


def _stem(name: str) -> str:
    """A file name as compared: folded, extension and separators dropped (Poročilo_2018.pdf -> porocilo 2018)."""
    name = fold(name)
    dot = name.rfind(".")
    if dot > 0 and len(name) - dot <= 5:
        name = name[:dot]
    return " ".join(re.split(r"[\W_]+", name)).strip()


def _specific_name(stem: str) -> bool:
    """A name that identifies a document (not "1234", not "dokument")."""
    return len(stem) >= 4 and not stem.replace(" ", "").isdigit() and stem not in _GENERIC_LABELS


def _real_title(title: str) -> str:
    """The folded title, or "" when it is a generator's default or a file name."""
    folded = " ".join(fold(title).split())
    if len(folded) < 3 or _GENERATOR_TITLE.match(folded) or _FILE_LIKE.search(folded):
        return ""
    return folded


def _label(text: str) -> str:
    """A link's text as compared: folded, "(PDF, 2 MB)" and the like removed; "" when generic."""
    label = " ".join(_LINK_NOISE.sub(" ", fold(text)).split()).strip(" -:,;.")
    return label if len(label) >= 4 and label not in _GENERIC_LABELS else ""


class DocumentMatcher:
    """Collects documents of both sites while the captures stream past, then gives the legacy ones rows.

    ``assets``: media-type patterns (``image/*``) of further types that get a row (digest and
    linking page only); ``follow_gone``: a document whose linking pages are all gone gets their 410;
    ``read``: the text reader (``documents.extract``; the bench passes a lookup), ``clock`` its
    time budget's clock.
    """

    def __init__(self, *, assets: Iterable[str] = (), follow_gone: bool = False, limits: Limits | None = None,
                 clock: Callable[[], float] | None = None,
                 read: Callable[..., DocumentText] = extract) -> None:
        self.assets = tuple(a.lower() for a in assets)
        self.follow_gone = follow_gone
        self.limits = limits or Limits()
        self.clock = clock
        self.read = read
        self.shingler, self.signer = Shingler(), Signer()
        self.new, self.old = _Side(), _Side()
        self._read: dict[str, tuple[DocumentText, np.ndarray | None]] = {}  # digest -> what its text gave
        self._new_indexed = False

    # reading -------------------------------------------------------------------------------
    def add_new(self, capture: Capture) -> bool:
        """Keep a new-site capture if it is a document; True when it is one."""
        doc = self._document(capture, read_text=True)
        if doc is not None:
            self.new.add(doc)
        return doc is not None

    def add_old(self, capture: Capture) -> bool:
        """Keep a legacy capture if it is a document (it then needs a row); True when it is one.

        Its text is read only when its bytes are not on the new site (read before)."""
        doc = self._document(capture, read_text=None)
        if doc is not None:
            self.old.add(doc)
        return doc is not None

    def has_old(self, key: str) -> bool:
        return key in self.old.docs

    def has_new(self, key: str) -> bool:
        return key in self.new.docs

    def order_new(self) -> None:
        """The new documents in URL-key order, once all are read: ties between candidates are broken
        by position, and the order the crawl captured them in is its timing's."""
        self.new.docs = dict(sorted(self.new.docs.items()))
        self.new.index_digests()
        self._new_indexed = True

    def discard_old(self, key: str) -> None:
        """A later capture of the URL is not a document (a 404, a redirect): it gets a page's row."""
        self.old.docs.pop(key, None)

    def _document(self, capture: Capture, *, read_text: bool | None) -> _Doc | None:
        if capture.status is None or not 200 <= capture.status < 300:
            return None
        name = file_name(capture.url, capture.header("content-disposition"))
        kind = document_kind(capture.body, capture.mime, name)
        if kind is None:
            if not (self.assets and capture.mime and any(fnmatchcase(capture.mime, p) for p in self.assets)):
                return None
            kind = capture.mime
        digest = _digest(capture)
        if read_text is None:  # legacy: only what no identical new file answers needs its text
            if not self._new_indexed:
                self.new.index_digests()
                self._new_indexed = True
            read_text = not (digest and digest in self.new.by_digest)
        text, signature = DocumentText(), None
        if kind not in _FAMILIES and kind != "txt":  # an asset type the manifest opted in
            text = DocumentText(problem="no text read: matched by identical bytes and linking page only")
        elif read_text:
            text, signature = self._text(kind, capture.body, digest)
        return _Doc(url=capture.url, key=lookup_key(capture.url), kind=kind,
                    digest=digest, name=_stem(name), title=_real_title(text.title), pages=text.pages,
                    problem=text.problem, signature=signature)

    def _text(self, kind: str, body: bytes, digest: str | None) -> tuple[DocumentText, np.ndarray | None]:
        """Text facts and signature, read once per distinct file."""
        known = self._read.get(digest) if digest else None
        if known is not None:
            return known
        budget = Budget(self.limits.seconds, clock=self.clock) if self.clock else None
        text = self.read(kind, body, limits=self.limits, budget=budget)
        shingles = self.shingler.shingles(text.text) if text.text else np.empty(0, np.uint32)
        signature = self.signer.sign(shingles) if len(shingles) >= MIN_SHINGLES else None
        result = (DocumentText(title=text.title, pages=text.pages, problem=text.problem), signature)
        if digest:
            self._read[digest] = result
        return result

    # deciding -------------------------------------------------------------------------------
    def rows(self, page_rows: Mapping[str, RedirectRow], *, status: int, old_pages: Iterable[PageFacts],
             new_pages: Mapping[str, PageFacts], allowed: Callable[[str], bool]) -> dict[str, RedirectRow]:
        """One row per legacy document, keyed like the page rows (``page_rows``: the final page rows,
        whose page-level redirects say where a linking page went; ``new_pages``: new pages by key)."""
        self.new.index_digests()
        self._read.clear()
        linked_by = self._links_to_old_documents(old_pages)
        new_links: dict[str, list[tuple[_Doc, str]]] = {}

        def moved_links(doc: _Doc) -> list[tuple[str, str, str, list[tuple[_Doc, str]]]]:
            """(old page, its link text, new page, the new page's document links) for each page-level move."""
            out = []
            for page_key, page_url, text in linked_by.get(doc.key, ()):
                row = page_rows.get(page_key)
                if row is None or row.kind != "page" or not row.new_url:
                    continue
                if row.new_url not in new_links:
                    facts = new_pages.get(row.new_url)
                    new_links[row.new_url] = self._document_links(facts) if facts is not None else []
                out.append((page_url, text, row.new_url, new_links[row.new_url]))
            return out

        out: dict[str, RedirectRow] = {}
        claimed: set[str] = set()
        for doc in self.old.docs.values():
            copies = [d for d in self.new.by_digest.get(doc.digest, ()) if allowed(d.url)] if doc.digest else []
            if copies:
                target = self._pick_copy(doc, copies, moved_links(doc))
                claimed.add(target.key)
                more = f" ({len(copies)} identical copies there)" if len(copies) > 1 else ""
                out[doc.key] = RedirectRow(doc.url, lookup_key(target.url), status, "document", "digest", 1.0,
                                           f"{_describe(doc)}: identical bytes ({doc.digest[:19]}...) at "
                                           f"{target.url}{more}")
        text_notes: dict[str, str] = {}
        for doc, target, score, note in self._text_matches([d for d in self.old.docs.values() if d.key not in out],
                                                           allowed):
            if target is None:
                text_notes[doc.key] = note
                continue
            claimed.add(target.key)
            out[doc.key] = RedirectRow(doc.url, lookup_key(target.url), status, "document", "text",
                                       round(min(0.95, score), 3), f"{_describe(doc)}: same document re-saved: {note}")
        for doc in self.old.docs.values():
            if doc.key in out:
                continue
            moves = moved_links(doc)
            row, refused = self._linked_row(doc, moves, claimed, status, allowed)
            if row is None:
                row = self._unmatched(doc, linked_by.get(doc.key, ()), page_rows, moves,
                                      [text_notes.get(doc.key, ""), *refused])
            out[doc.key] = row
        return out

    def _links_to_old_documents(self, old_pages: Iterable[PageFacts]) -> dict[str, list[tuple[str, str, str]]]:
        """Legacy document (key) -> [(page row key, page URL, link text)] of the pages linking it."""
        found: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        documents = self.old.docs
        for page in old_pages:
            page_key = None
            for link, text in zip(page.links, page.link_texts or [""] * len(page.links)):
                link_key = lookup_key(link)
                if link_key in documents:
                    page_key = page_key or lookup_key(page.url)
                    found[link_key].append((page_key, page.url, text))
        return found

    def _document_links(self, page: PageFacts) -> list[tuple[_Doc, str]]:
        """(new document, link text) of each document the new page links."""
        out = []
        for link, text in zip(page.links, page.link_texts or [""] * len(page.links)):
            doc = self.new.docs.get(lookup_key(link))
            if doc is not None:
                out.append((doc, text))
        return out

    @staticmethod
    def _pick_copy(doc: _Doc, copies: list[_Doc], moves) -> _Doc:
        """Among identical new copies: the same file name, then one the moved page links, then the shortest URL."""
        linked = {d.key for *_, links in moves for d, _ in links}
        return min(copies, key=lambda d: (d.name != doc.name, d.key not in linked, len(d.url), d.url))

    def _text_matches(self, pending: list[_Doc], allowed) -> Iterable[tuple[_Doc, _Doc | None, float, str]]:
        """(legacy document, new document or None, score, evidence) for each legacy document with text."""
        pending = [d for d in pending if d.signature is not None]
        new = [d for d in self.new.docs.values() if d.signature is not None and allowed(d.url)]
        if not pending or not new:
            return
        new_sigs = np.vstack([d.signature for d in new])
        old_sigs = np.vstack([d.signature for d in pending])
        index = LshIndex(new_sigs, np.ones(len(new), bool), threshold=TEXT_LSH, bucket_cap=BUCKET_CAP)
        owners, found = index.candidates(old_sigs, np.ones(len(pending), bool), per_item=TEXT_CANDIDATES)
        scores = agreement(old_sigs[owners], new_sigs[found]) if len(owners) else np.empty(0)
        starts = np.searchsorted(owners, np.arange(len(pending)), "left")
        ends = np.searchsorted(owners, np.arange(len(pending)), "right")
        for i, doc in enumerate(pending):
            ranked = []
            for k in range(starts[i], ends[i]):
                candidate = new[found[k]]
                why = _disagreement(doc, candidate)
                ranked.append((float(scores[k]) if not why else 0.0, float(scores[k]), candidate, why))
            ranked.sort(key=lambda r: (-r[0], -r[1], r[2].url))
            if not ranked or ranked[0][1] < TEXT_ACCEPT:
                best = f"best text agreement {ranked[0][1]:.2f} ({ranked[0][2].url})" if ranked else \
                    "no new document shares its text"
                yield doc, None, 0.0, best
                continue
            score, raw, target, why = ranked[0]
            if score < TEXT_ACCEPT:
                yield doc, None, 0.0, f"text {raw:.2f} like {target.url}, but {why}"
                continue
            if not (doc.title and target.title) and score < TEXT_ACCEPT_UNTITLED:
                yield doc, None, 0.0, (f"text {score:.2f} like {target.url}, under {TEXT_ACCEPT_UNTITLED} without "
                                       "titles to agree")
                continue
            rival = next((r for r in ranked[1:] if r[2].digest != target.digest), None)
            if rival is not None and score - rival[0] < TEXT_MARGIN:
                yield doc, None, 0.0, (f"ambiguous: text {score:.2f} like {target.url} and {rival[0]:.2f} like "
                                       f"{rival[2].url}")
                continue
            runner = f"; runner-up {rival[1]:.2f}" if rival is not None else ""
            yield doc, target, score, f"text {score:.2f}, {_agreeing(doc, target)} at {target.url}{runner}"

    def _linked_row(self, doc: _Doc, moves, claimed: set[str], status: int,
                    allowed) -> tuple[RedirectRow | None, list[str]]:
        """The one candidate the moved pages offer, or None and why each candidate was refused."""
        candidates: dict[str, tuple[_Doc, set[str], set[str]]] = {}
        vetoed: list[str] = []
        for page_url, text, new_page, links in moves:
            label = _label(text)
            labels = defaultdict(int)
            for _, other_text in links:
                labels[_label(other_text)] += 1
            for new_doc, new_text in links:
                if new_doc.key in claimed or not allowed(new_doc.url):
                    continue
                clues = set()
                if _specific_name(doc.name) and new_doc.name == doc.name:
                    clues.add("file name")
                if label and _label(new_text) == label and labels[label] == 1:
                    clues.add(f"link text {text.strip()!r}")
                if not clues:
                    continue
                if doc.signature is not None and new_doc.signature is not None:
                    agree = float(agreement(doc.signature[None, :], new_doc.signature[None, :])[0])
                    if agree < TEXT_VETO:
                        vetoed.append(f"{new_doc.url} ({' and '.join(sorted(clues))}) has other text ({agree:.2f})")
                        continue
                entry = candidates.setdefault(new_doc.key, (new_doc, set(), set()))
                entry[1].update(clues)
                entry[2].add(f"{page_url} -> {new_page}")
        if len(candidates) > 1:
            vetoed.append("several candidates on the moved page: " + ", ".join(
                sorted(d.url for d, _, _ in candidates.values())))
        if len(candidates) != 1:
            return None, vetoed
        target, clues, moved = next(iter(candidates.values()))
        confidence = BOTH_CLUES_CONFIDENCE if len(clues) > 1 else LINKED_CONFIDENCE
        return RedirectRow(doc.url, lookup_key(target.url), status, "document", "linked_from", confidence,
                           f"{_describe(doc)}: its page moved ({'; '.join(sorted(moved))}) and links "
                           f"{target.url} with the same {' and '.join(sorted(clues))}", review=True), vetoed

    def _unmatched(self, doc: _Doc, linking, page_rows, moves, refused: list[str]) -> RedirectRow:
        pages = {page_key: url for page_key, url, _ in linking}
        gone = [url for key, url in pages.items() if (page_rows.get(key) is not None and page_rows[key].kind == "gone")]
        notes = ["no identical file on the new site"]
        if refused[0]:
            notes.append(refused[0])
        elif doc.signature is None and doc.kind in _FAMILIES and not doc.problem:
            notes.append("too little text to compare")
        if not pages:
            notes.append("no captured page links it")
        elif not moves:
            notes.append(f"none of the {len(pages)} page(s) linking it moved to a page-level equivalent")
        notes.extend(refused[1:])
        if doc.problem:
            notes.append(f"text: {doc.problem}")
        if self.follow_gone and pages and len(gone) == len(pages):
            return RedirectRow(doc.url, None, 410, "gone", "page_gone", GONE_CONFIDENCE,
                               f"{_describe(doc)}: removed with the page(s) linking it: {', '.join(sorted(gone))}; "
                               + "; ".join(notes))
        if gone and len(gone) == len(pages):
            notes.append(f"its page(s) are gone ({', '.join(sorted(gone))}); [mapping] documents_follow_gone "
                         "would answer 410")
        return RedirectRow(doc.url, None, None, "unmatched", "none", 0.0,
                           f"{_describe(doc)}: " + "; ".join(notes), review=True)


def _disagreement(a: _Doc, b: _Doc) -> str:
    """Why two documents with similar text are not the same document ("" when nothing says so)."""
    if a.pages and b.pages and a.pages != b.pages and _FAMILIES.get(a.kind) == _FAMILIES.get(b.kind):
        return f"{a.pages} pages vs {b.pages}"
    if a.title and b.title:
        if _NUMBER.findall(a.title) != _NUMBER.findall(b.title) or fuzz.token_set_ratio(a.title, b.title) < TITLE_AGREE:
            return f"title {a.title!r} vs {b.title!r}"
    return ""


def _agreeing(a: _Doc, b: _Doc) -> str:
    parts = []
    if a.pages and b.pages and _FAMILIES.get(a.kind) == _FAMILIES.get(b.kind):
        parts.append(f"{a.pages} page{'s' if a.pages != 1 else ''}")
    if a.title and b.title:
        parts.append(f"title {b.title!r}")
    return ", ".join(parts) or "no page count or title to compare"


def _describe(doc: _Doc) -> str:
    pages = f", {doc.pages} page{'s' if doc.pages != 1 else ''}" if doc.pages else ""
    return f"document ({doc.kind}{pages})"
