"""One streaming pass over the collection: what each URL's best capture is, what is damaged, what pages embed.

Memory holds per-URL summaries and references, never bodies: HTML and CSS
bodies are parsed for requisites as they stream past and dropped.
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field

from archiver.audit.requisites import MAX_PARSE, css_references, html_references
from archiver.cluster import open_executor
from archiver.scan import ScanRange, plan, record_end, scan_in_order
from archiver.urls import key_hash, lookup_key, resolve_link, url_host
from archiver.warc import SEVERITY, RecordInfo, RevisitIndex, expand_inputs, read_source

MAX_PAGES_PER_REFERENCE = 5
MAX_URLS_PER_DIGEST = 10


@dataclass
class UrlState:
    """The best capture of one URL (2xx > 3xx > 404/410 > other), and how many there were."""

    url: str
    status: int | None
    file: str
    offset: int
    date: str
    mime: str = ""
    location: str | None = None
    record_type: str = "response"
    count: int = 1
    revisit_unresolved: bool = False


def _rank(status: int | None) -> int:
    if status is None:
        return 0
    if 200 <= status < 300:
        return 4
    if 300 <= status < 400:
        return 3
    if status in (404, 410):
        return 2
    return 1


@dataclass
class Reference:
    url: str
    kind: str
    pages: list[str] = field(default_factory=list)
    count: int = 0


@dataclass
class Inventory:
    files: list[str] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    record_types: Counter = field(default_factory=Counter)
    status_hist: Counter = field(default_factory=Counter)
    mime_hist: Counter = field(default_factory=Counter)
    hosts: dict[str, Counter] = field(default_factory=dict)
    urls: dict[str, UrlState] = field(default_factory=dict)
    integrity: list[dict] = field(default_factory=list)
    digest_urls: dict[str, list[str]] = field(default_factory=dict)  # the first URL keys of a 2xx payload
    digest_counts: Counter = field(default_factory=Counter)  # how many distinct URL keys have that payload
    digest_all: dict[str, set[int]] = field(default_factory=dict)  # key_hash of every one, past the first few
    references: dict[str, Reference] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)  # URL key -> where its damaged record is

    def problem(self, kind: str, file: str, offset: int | None, url: str, detail: str) -> None:
        self.integrity.append({"severity": SEVERITY.get(kind, "error"), "kind": kind, "file": file,
                               "offset": offset, "url": url, "detail": detail})

    def lookup(self, url: str) -> UrlState | None:
        return self.urls.get(lookup_key(url))

    def follow(self, url: str, max_hops: int = 20) -> tuple[UrlState | None, list[str]]:
        """The capture a URL ends at after following archived redirects (bounded, loop-safe), and the chain."""
        chain = [url]
        key = lookup_key(url)
        state = self.urls.get(key)
        seen = {key}
        while state is not None and state.status and 300 <= state.status < 400 and state.location:
            # a Location naming no http(s) URL is kept as written, so the chain shows it
            target = resolve_link(chain[-1], state.location) or state.location.strip()
            chain.append(target)
            key = lookup_key(target)
            if key in seen or len(chain) > max_hops:
                break
            seen.add(key)
            state = self.urls.get(key)
        return state, chain


@dataclass
class InventoryPart:
    """What one task read: its inventory, its originals, its revisits (resolved once the whole collection's
    originals are known). ``merge`` takes in the next part, as if read after this one."""

    inv: Inventory = field(default_factory=Inventory)
    originals: RevisitIndex = field(default_factory=RevisitIndex)
    revisits: list[RecordInfo] = field(default_factory=list)

    def merge(self, other: "InventoryPart") -> None:
        _merge(self.inv, other.inv)
        self.originals.update(other.originals)
        self.revisits.extend(other.revisits)


def _wants_body(info: RecordInfo) -> bool:
    return (info.status is not None and 200 <= info.status < 300
            and (info.mime in ("text/html", "application/xhtml+xml", "text/css") or not info.mime))


def take_inventory(inputs, *, executor: Executor | None = None, part: int | None = None) -> Inventory:
    """Read every record once; revisits are resolved at the end against an index of originals.

    Files, and parts of big ``.warc.gz`` files (``archiver.scan``), are read
    as tasks of ``executor`` (default: a process per CPU); the partial
    inventories are merged in collection order by rules that give the same
    inventory whatever the parts, so the result does not depend on where
    the tasks ran. ``part``: the size to cut big files at (default: from the
    collection's size).
    """
    if executor is None:
        with open_executor(local_processes=True) as (local, _):
            return take_inventory(inputs, executor=local, part=part)
    sources = expand_inputs(inputs)
    whole = InventoryPart()
    for partial in scan_in_order(executor, scan_range, plan(sources, part), what="audit"):
        whole.merge(partial)
    inv = whole.inv
    inv.files = [s.name for s in sources]
    for info in whole.revisits:
        where = whole.originals.find(info)
        status = info.status
        if where is None:
            inv.problem("revisit_original_missing", info.file, info.offset, info.url,
                        f"revisit of {info.refers_to_uri or info.url} ({info.refers_to_date or info.payload_digest}); "
                        "original not in the collection")
        elif status is None or status == 304 or "server-not-modified" in (info.profile or ""):
            status = where.status  # the original's answer stands for it
        _count(inv, info, status)
        _remember(inv, info, status, unresolved=where is None)
    return inv


def scan_range(part: ScanRange) -> tuple[InventoryPart, int | None]:
    """One file's (or file part's) inventory, originals and revisits, and where its last record ended
    (``archiver.scan``)."""
    scanned = InventoryPart()
    inv = scanned.inv
    reach = part.start
    for entry in read_source(part.source, max_body=MAX_PARSE, want_body=_wants_body, start=part.start,
                             end=part.end):
        info = entry.info
        reach = record_end(info)
        for kind, detail in info.problems:
            inv.problem(kind, info.file, info.offset, info.url, detail)
        damaged = any(SEVERITY.get(k) == "error" for k, _ in info.problems)
        if damaged and info.url and info.rec_type in ("problem", "response", "resource", "revisit"):
            inv.damaged.setdefault(lookup_key(info.url), f"{info.file} at offset {info.offset}")
        if info.rec_type == "problem":
            continue
        inv.records += 1
        inv.bytes += info.length or 0
        inv.record_types[info.rec_type] += 1
        if not info.is_capture or (info.rec_type == "response" and info.status is None):
            continue
        if info.rec_type == "revisit":
            info.problems = []
            scanned.revisits.append(info)
            continue
        if not damaged:
            scanned.originals.add(info, part.number)
        _count(inv, info, info.status)
        if damaged:  # a damaged record is not evidence of a capture
            continue
        _remember(inv, info, info.status)
        if entry.capture is not None and entry.capture.body:
            _collect_references(inv, entry.capture)
    return scanned, reach


def _merge(inv: Inventory, other: Inventory) -> None:
    """Take in ``other`` as if its records were read after ``inv``'s: the same inventory however the
    collection was cut into parts."""
    inv.records += other.records
    inv.bytes += other.bytes
    inv.record_types.update(other.record_types)
    inv.status_hist.update(other.status_hist)
    inv.mime_hist.update(other.mime_hist)
    for host, counts in other.hosts.items():
        inv.hosts.setdefault(host, Counter()).update(counts)
    for key, state in other.urls.items():
        old = inv.urls.get(key)
        if old is None:
            inv.urls[key] = state
            continue
        total = old.count + state.count
        if (_rank(state.status), state.date) >= (_rank(old.status), old.date):  # as in one pass: later wins ties
            inv.urls[key] = state
        inv.urls[key].count = total
    inv.integrity.extend(other.integrity)
    for digest, keys in other.digest_urls.items():
        for key in keys:
            _share_payload(inv, digest, key)
        every = other.digest_all.get(digest)
        if every is not None:  # the part had more than the examples: so has the whole
            mine = inv.digest_all.get(digest)
            if mine is None:
                mine = inv.digest_all[digest] = {key_hash(k) for k in inv.digest_urls[digest]}
            mine |= every
            inv.digest_counts[digest] = len(mine)
    for key, ref in other.references.items():
        mine = inv.references.get(key)
        if mine is None:
            inv.references[key] = ref
            continue
        mine.count += ref.count
        mine.pages.extend(p for p in ref.pages if p not in mine.pages)
        del mine.pages[MAX_PAGES_PER_REFERENCE:]
    for key, where in other.damaged.items():
        inv.damaged.setdefault(key, where)


def _count(inv: Inventory, info: RecordInfo, status: int | None) -> None:
    inv.status_hist[str(status) if status is not None else "none"] += 1
    inv.mime_hist[info.mime or "(none)"] += 1
    host = url_host(info.url)
    counts = inv.hosts.setdefault(host, Counter())
    counts["records"] += 1
    if status is not None:
        counts[f"{status // 100}xx"] += 1
    digest = info.payload_digest or info.computed_payload_digest
    if digest and status is not None and 200 <= status < 300 and info.rec_type != "revisit":
        _share_payload(inv, digest, lookup_key(info.url))


def _share_payload(inv: Inventory, digest: str, key: str) -> None:
    """Count ``key`` among the URLs with this payload: the first few kept as examples, and past them a set
    of every key's hash, so that merged parts count each URL once however the collection was cut."""
    keys = inv.digest_urls.setdefault(digest, [])
    if key in keys:
        return
    if len(keys) < MAX_URLS_PER_DIGEST:
        keys.append(key)
        inv.digest_counts[digest] = len(keys)
        return
    every = inv.digest_all.get(digest)
    if every is None:
        every = inv.digest_all[digest] = {key_hash(k) for k in keys}
    every.add(key_hash(key))
    inv.digest_counts[digest] = len(every)


def _remember(inv: Inventory, info: RecordInfo, status: int | None, *, unresolved: bool = False) -> None:
    key = lookup_key(info.url)
    effective = None if unresolved else status
    new = UrlState(info.url, effective, info.file, info.offset, info.date, info.mime, info.location,
                   info.rec_type, revisit_unresolved=unresolved)
    old = inv.urls.get(key)
    if old is None:
        inv.urls[key] = new
        return
    new.count = old.count + 1
    if (_rank(effective), info.date) >= (_rank(old.status), old.date):
        inv.urls[key] = new
    else:
        old.count = new.count


def _collect_references(inv: Inventory, capture) -> None:
    if capture.mime == "text/css":
        refs = css_references(capture.url, capture.body)
    elif capture.is_html or (not capture.mime and capture.body.lstrip()[:1] == b"<"):
        refs = html_references(capture.url, capture.body)
    else:
        return
    for url, kind in refs:
        key = lookup_key(url)
        ref = inv.references.get(key)
        if ref is None:
            ref = inv.references[key] = Reference(url, kind)
        ref.count += 1
        if len(ref.pages) < MAX_PAGES_PER_REFERENCE and capture.url not in ref.pages:
            ref.pages.append(capture.url)
