"""The audit's documents section: what people link directly, checked on its own.

Two lists: documents that captured pages link but the archive does not hold
(or holds only as an error or a broken redirect), and captured documents that
the redirect manifest gives no row, so their old links would break on the
day of the switch. The audit reads no document bodies: a document is what
its Content-Type, or its file name's extension where the type is generic,
says (``documents.sniff.declared_kind``); mapping also reads the magic bytes.
"""
from __future__ import annotations

from archiver.audit.expected import Expected, crawl_reason
from archiver.audit.inventory import Inventory
from archiver.documents import declared_kind, file_name
from archiver.urls import lookup_key

_MACHINERY = ("/robots.txt",)  # plain text that is no one's document


def _kind(url: str, media_type: str) -> str | None:
    if url.split("?", 1)[0].endswith(_MACHINERY):
        return None
    return declared_kind(media_type, file_name(url))


def documents_section(inv: Inventory, expected: Expected) -> dict:
    """audit.json's ``documents``: counts, ``linked_not_captured`` and ``captured_without_row``
    (None when no redirect manifest was given to compare with)."""
    linked = []
    for key, ref in inv.references.items():
        if ref.kind != "document" or _kind(ref.url, "") is None:
            continue
        state, chain = inv.follow(ref.url)
        if state is not None and state.status is not None and 200 <= state.status < 300:
            continue
        if state is None:
            row = expected.crawl.get(lookup_key(chain[-1]))
            reason = crawl_reason(row)[1] if row is not None else "never captured"
        else:
            reason = f"HTTP {state.status}"
        if len(chain) > 1:
            reason = f"redirects to {chain[-1]}: {reason}"
        linked.append({"url": ref.url, "reason": reason, "linked_from": ref.pages, "links": ref.count})
    linked.sort(key=lambda r: (-r["links"], r["url"]))
    captured = sorted(state.url for state in inv.urls.values()
                      if state.status is not None and 200 <= state.status < 300 and _kind(state.url, state.mime))
    without_row = None
    if expected.redirect_kinds:
        without_row = [url for url in captured if lookup_key(url) not in expected.redirect_kinds]
    return {
        "captured": len(captured),
        "linked_not_captured_count": len(linked),
        "captured_without_row_count": None if without_row is None else len(without_row),
        "linked_not_captured": linked,
        "captured_without_row": without_row,
        "identified_by": "Content-Type, or the file name's extension where the type is generic",
    }
