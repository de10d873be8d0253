"""Textual banners: blocks repeated across a site that name or link another site.

A retired site's notice is page furniture: the same block on many pages, near
the top, naming or linking the new site ("... moved to GOV.SI"). That shape is
found without any phrase list, so a wording or language nobody listed still
counts; phrase packs and manifest phrases only add to the score. Ordinary
repeated furniture (share buttons, "Follow us on Facebook", a designer's
credit in the footer) is kept out by ignoring social/plug-in hosts, by
penalising footers, link-heavy and long blocks, and (when the new site's hosts
are known or inferred from redirects) by counting only links to those hosts.

Per page only a few *candidate* blocks are kept, as fingerprints plus their
outgoing links, so a 100,000-page site fits in memory. What a block's text
says (``BlockStats``) comes with it from the page it was read on; how many
pages carry it is counted once the latest capture of every URL is known
(``count_pages``), so parts of a collection read apart give the same counts.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterable

from archiver.detect.hosts import bare, host_matches, hosts_named, is_furniture, is_site_root, related, same_site
from archiver.detect.phrases import PhraseBook, PhraseHit
from archiver.extract import element_text, fold
from archiver.urls import resolve_link, site_host

BLOCK_TAGS = frozenset(
    "div p section aside header article ul ol li td th tr tbody table blockquote center dd dl form h2 h3 h4 h5 h6 "
    "main figure details summary".split()
)
_NAV_TOKEN = re.compile(r"^(?:nav|navbar|navigation|menu|menus|mainmenu|main-menu|topmenu|submenu|"
                        r"breadcrumbs?|skip|skiplinks?|meni|navigacija)(?:[-_].*)?$", re.IGNORECASE)
_FOOTER_TOKEN = re.compile(r"^(?:footer|foot|bottom|copyright|noga|colophon)(?:[-_].*)?$", re.IGNORECASE)
MAX_BLOCK_CHARS = 1200  # a container longer than this is not a notice
GROW_UNTIL_CHARS = 400  # climb to the parent block while it stays this short
MAX_ANCHORS = 200  # candidate anchor points examined per page
BANNER_THRESHOLD = 0.6
WEAK_THRESHOLD = 0.3


@dataclass
class PageBlock:
    """One candidate block on one page (what pass 2 needs; no page text)."""

    fingerprint: bytes
    links: tuple[str, ...]  # absolute off-site targets inside the block
    position: float  # 0 = top of the page text, 1 = bottom
    in_footer: bool


@dataclass
class BlockStats:
    """What is known about one block text across the whole site."""

    text: str
    named: frozenset[str]
    phrases: tuple[PhraseHit, ...]
    n_links: int
    link_density: float  # share of the block's text that is link text
    foreign_hosts: int  # distinct other sites linked or named
    pages: int = 0
    targets: Counter = field(default_factory=Counter)  # link target -> pages carrying it here


def _classes(el) -> list[str]:
    return (el.get("class") or "").split() + [el.get("id") or "", el.get("role") or ""]


def _context(el, body) -> tuple[bool, bool]:
    """(inside navigation, inside a footer) for an element below <body>."""
    in_footer = False
    node = el
    while node is not None and node is not body:
        tag = node.tag if isinstance(node.tag, str) else ""
        tokens = [t for t in _classes(node) if t]
        if tag == "nav" or any(_NAV_TOKEN.match(t) for t in tokens) or "navigation" in tokens:
            return True, in_footer
        if tag == "footer" or any(_FOOTER_TOKEN.match(t) for t in tokens) or "contentinfo" in tokens:
            in_footer = True
        node = node.getparent()
    return False, in_footer


def _rough_length(el) -> int:
    """Text length counted in C (scripts included): rules out big containers cheaply."""
    try:
        return len(el.text_content())
    except ValueError:
        return 0


def _block_for(el, body):
    """The notice-sized block around an anchor: nearest block ancestor, grown while short."""
    node = el
    while node is not None and node is not body and node.tag not in BLOCK_TAGS:
        node = node.getparent()
    if node is None or node is body or _rough_length(node) > 2 * MAX_BLOCK_CHARS:
        return None, ""
    text = element_text(node)
    if len(text) > MAX_BLOCK_CHARS:
        return None, ""
    while True:
        parent = node.getparent()
        if parent is None or parent is body or parent.tag not in BLOCK_TAGS:
            break
        if _rough_length(parent) > 2 * GROW_UNTIL_CHARS:
            break
        parent_text = element_text(parent)
        if len(parent_text) > GROW_UNTIL_CHARS:
            break
        node, text = parent, parent_text
    return node, text


def _without(text: str, parts: list[str]) -> str:
    for part in sorted(filter(None, parts), key=len, reverse=True):
        text = text.replace(part, " <a> ")
    return text


def fingerprint(text: str) -> bytes:
    """Same notice, same fingerprint: case, diacritics, digits and spacing ignored."""
    key = re.sub(r"\d+", "0", fold(text))
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()


class BlockCollector:
    """Pass 1: candidate blocks of each page, each with what its text says (counts left at zero)."""

    def __init__(self, phrases: PhraseBook):
        self.phrases = phrases

    def collect(self, tree, url: str, base: str) -> list[tuple[PageBlock, BlockStats]]:
        body = tree.find("body") if tree is not None else None
        if body is None:
            return []
        page_host = site_host(url)
        local_base = same_site(site_host(base), page_host)
        anchors = []  # (element, char offset)
        offset = 0
        for el in body.iter():
            if not isinstance(el.tag, str) or el.tag in ("script", "style", "noscript", "template"):
                continue
            own = el.text or ""
            href = (el.get("href") or "").lstrip() if el.tag == "a" else ""
            if href and (not local_base or href[:5].lower() in ("http:", "https") or href.startswith("//")):
                target = resolve_link(base, href)  # relative links on a same-site base cannot leave the site
                if target and not same_site(site_host(target), page_host) and not is_furniture(site_host(target)):
                    anchors.append((el, offset))
            if own.strip():
                folded = fold(own)
                if "." in own and hosts_named(own) or self.phrases.find(folded):
                    anchors.append((el, offset))
            offset += len(own)
            tail = el.tail or ""
            if tail.strip() and el.getparent() is not None:
                if "." in tail and hosts_named(tail) or self.phrases.find(fold(tail)):
                    anchors.append((el.getparent(), offset))
                offset += len(tail)
            if len(anchors) >= MAX_ANCHORS:
                break
        total = max(offset, 1)
        blocks: dict[bytes, tuple[PageBlock, BlockStats]] = {}
        seen_nodes = set()
        for el, at in anchors:
            node, text = _block_for(el, body)
            if node is None or node in seen_nodes or len(text) < 4:
                continue
            seen_nodes.add(node)  # the element, not id(): lxml proxies' ids are reused
            in_nav, in_footer = _context(node, body)
            if in_nav:
                continue
            anchors_text = [element_text(a) for a in node.iter("a")]
            fp = fingerprint(_without(text, anchors_text))  # per-page link wording does not split a banner
            if fp in blocks:
                continue
            links = []
            all_links = set()
            for href in node.xpath(".//a/@href"):
                target = resolve_link(base, href)
                if not target:
                    continue
                all_links.add(target)
                host = site_host(target)
                if not same_site(host, page_host) and not is_furniture(host):
                    links.append(target)
            named = {h for h in hosts_named(text) if not same_site(h, page_host)}
            hits = self.phrases.find(fold(text))
            if not (links or named) and all(h.kind == "furniture" for h in hits):
                continue  # nothing points elsewhere and no wording says "moved"
            link_text = sum(len(t) for t in anchors_text)
            foreign = {bare(site_host(u)) for u in links} | {bare(h) for h in named}
            stats = BlockStats(text[:400], frozenset(named), hits, len(all_links),
                               min(link_text / max(len(text), 1), 1.0), len(foreign))
            blocks[fp] = PageBlock(fp, tuple(dict.fromkeys(links)), min(at / total, 1.0), in_footer), stats
        return list(blocks.values())


def count_pages(stats: dict[bytes, BlockStats], pages: Iterable[list[PageBlock]]) -> dict[bytes, BlockStats]:
    """``stats`` with site-wide counts from each page's blocks: pages carrying a block, and per link target
    the pages whose copy of the block links it."""
    counted = {fp: replace(s, pages=0, targets=Counter()) for fp, s in stats.items()}
    for blocks in pages:
        for block in blocks:
            entry = counted[block.fingerprint]
            entry.pages += 1
            entry.targets.update(block.links)
    return counted


@dataclass(frozen=True)
class BannerVerdict:
    score: float
    target: str | None
    page_level: bool
    evidence: str
    phrased: bool  # the block's wording matched a phrase pack or the manifest


class BannerScorer:
    """Pass 2: scores a page's candidate blocks against site-wide statistics."""

    def __init__(self, stats: dict[bytes, BlockStats], *, html_pages: int, legacy_hosts: set[str],
                 new_hosts: set[str]):
        self.stats = stats
        self.html_pages = max(html_pages, 1)
        self.legacy_hosts = legacy_hosts
        self.new_hosts = new_hosts

    def _foreign(self, host: str) -> bool:
        return bool(host) and not host_matches(host, self.legacy_hosts) and not is_furniture(host)

    def _host_score(self, stats: BlockStats, links: tuple[str, ...]) -> tuple[float, str]:
        linked = {site_host(u) for u in links}
        hosts = {h for h in (linked | stats.named) if self._foreign(h)}
        if self.new_hosts:
            new = sorted(h for h in hosts if host_matches(h, self.new_hosts))
            if new:
                return 0.45, f"names/links the new site ({', '.join(new[:3])})"
            if hosts:  # perhaps a host the manifest did not list; weak on its own
                return 0.1, f"names/links another site ({', '.join(sorted(hosts)[:3])})"
            return 0.0, ""
        if not hosts:
            return 0.0, ""
        score = 0.15  # any other site: a partner logo strip looks the same, so it needs more
        if any(host_matches(h, linked) for h in stats.named):
            score += 0.1  # says the host it links to: "moved to <a>GOV.SI</a>"
        if any(related(h, legacy) for h in hosts for legacy in self.legacy_hosts):
            score += 0.15  # a sibling or parent domain of the legacy site
        if len(stats.text.split()) >= 6 and stats.link_density < 0.5:
            score += 0.1 if stats.named else 0.05  # a sentence sending readers elsewhere, not a credit
        return score, f"names/links another site ({', '.join(sorted(hosts)[:3])})"

    def score(self, block: PageBlock) -> BannerVerdict:
        stats = self.stats[block.fingerprint]
        reasons = []
        score, why = self._host_score(stats, block.links)
        if why:
            reasons.append(why)
        if stats.pages >= 3:
            plenty = max(5, 0.02 * self.html_pages)
            score += 0.2 + 0.1 * min(1.0, stats.pages / plenty)
            reasons.append(f"repeated on {stats.pages} pages")
        kinds = {hit.kind: hit.phrase for hit in stats.phrases}
        if "manifest" in kinds:
            score += 0.5
            reasons.append(f'manifest phrase "{kinds["manifest"]}"')
        if "moved" in kinds:
            score += 0.4
            reasons.append(f'moved phrase "{kinds["moved"]}"')
        elif "soft" in kinds:
            score += 0.15
            reasons.append(f'soft phrase "{kinds["soft"]}"')
        if block.position < 0.33:
            score += 0.1
            reasons.append("near the top")
        elif block.position > 0.66:
            score -= 0.1
        if block.in_footer:
            score -= 0.25
            reasons.append("in a footer")
        says_moved = "moved" in kinds or "manifest" in kinds
        if "furniture" in kinds and not says_moved:
            score -= 0.3
            reasons.append(f'furniture wording "{kinds["furniture"]}"')
        if stats.foreign_hosts >= 3:
            score -= 0.3
            reasons.append(f"links {stats.foreign_hosts} different sites")
        if stats.link_density > 0.7 and not says_moved:
            short = len(stats.text.split()) <= 4
            score -= 0.3 if short else 0.2  # a bare link or a link list, not a sentence
            reasons.append("a bare link" if short else "mostly link text")
        if stats.n_links > 4:
            score -= 0.2
        if len(stats.text) >= 400:
            score -= 0.15
        target, page_level = self._target(stats, block)
        evidence = f'"{stats.text[:200]}" ({"; ".join(reasons)})'
        return BannerVerdict(round(max(0.0, min(score, 1.0)), 3), target, page_level, evidence,
                             bool(stats.phrases))

    def _target(self, stats: BlockStats, block: PageBlock) -> tuple[str | None, bool]:
        """The block's best link, and whether it names this page's own new URL.

        A link every page of the banner shares is the new site's home or a
        section; a link unique to one page of a widely repeated banner is that
        page's own equivalent.
        """
        links = [u for u in block.links if self._foreign(site_host(u))]
        if self.new_hosts:
            links = [u for u in links if host_matches(site_host(u), self.new_hosts)] or links
        named = [u for u in links if host_matches(site_host(u), stats.named)]
        links = named + [u for u in links if u not in named]
        if not links:
            return None, False
        target = links[0]
        if is_site_root(target):
            return target, False
        shared = stats.targets.get(target, 0)
        if stats.pages >= 3:
            return target, shared <= 1
        return target, bool(re.search(r"\d{4}|\d{3,}|_\d+", target.split("//", 1)[-1].split("/", 1)[-1]))

    def best(self, blocks: list[PageBlock]) -> BannerVerdict | None:
        verdicts = [self.score(b) for b in blocks]
        # below the threshold only a block whose words say "moved/archived" is worth reporting
        verdicts = [v for v in verdicts if v.score >= BANNER_THRESHOLD or (v.phrased and v.score >= WEAK_THRESHOLD)]
        return max(verdicts, key=lambda v: (v.score, v.target is not None), default=None)
