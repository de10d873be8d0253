"""The embedded demo: generated legacy sites and their new portal on loopback.

``manifests/demo.toml`` names the placeholder origins below and says
``[demo] embedded = true``; ``embedded_sites`` then serves the generated pair
(``archiver.demo.sitegen``, no network) and swaps the placeholders for the
live loopback URLs, so ``archiver run manifests/demo.toml`` works out of the
box. The new site listens on 127.0.0.2 where it can (Linux routes all of
127/8 to loopback), so the sites differ by host as they do in real life. The ports are remembered in ``OUT/<name>/.demo-ports.json`` and reused
when free, so a second run sees the same URLs and is incremental.

With ``[demo] sites = N`` (``archiver demo --sites N``) the job becomes a
programme, ``<name>-N-sites``: N generated ministry sites (on 127.0.0.3 and
up), each a ``[[legacy]]`` site named after its ministry with the ``[legacy]``
table's scope settings, all moved into one portal
(``sitegen.generate_programme``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import Counter
from pathlib import Path

from archiver.demo.server import SiteServer
from archiver.demo.sitegen import MINISTRIES, generate_pair, generate_programme
from archiver.errors import UsageError

LEGACY_PLACEHOLDER = "http://legacy.demo.invalid"
NEW_PLACEHOLDER = "http://new.demo.invalid"


def _start(port: int, host: str):
    """A started SiteServer on ``host`` (127.0.0.1 where that address is missing), ``port`` if free."""
    for address, wanted in ((host, port), (host, 0), ("127.0.0.1", port), ("127.0.0.1", 0)):
        try:
            return SiteServer(port=wanted, host=address).start()
        except OSError:
            continue
    raise OSError("cannot bind a loopback port for the demo sites")


def programme_manifest(manifest, sites: int):
    """The demo manifest as a programme of ``sites`` generated ministry sites: each a ``[[legacy]]`` site
    named after its ministry, on its own placeholder origin, with the ``[legacy]`` table's scope."""
    if not 1 < sites <= len(MINISTRIES):
        raise UsageError(f"[demo] sites: the demo generates 1 to {len(MINISTRIES)} legacy sites, not {sites}")
    template = manifest.sites[0]
    legacy = tuple(dataclasses.replace(template, name=ministry.short,
                                       seeds=(f"http://{ministry.short}.demo.invalid/",),
                                       sitemaps=(f"http://{ministry.short}.demo.invalid/sitemap.xml",))
                   for ministry in MINISTRIES[:sites])
    return dataclasses.replace(manifest, name=f"{manifest.name}-{sites}-sites", sites=legacy, programme=True)


@contextlib.contextmanager
def embedded_sites(manifest, out_root: Path | str):
    """Yield ``(manifest with live URLs, SitePair or sitegen.Programme)``; ``(manifest, None)`` when not a demo."""
    settings = manifest.plugged.get("demo")
    if settings is None or not settings.embedded:
        yield manifest, None
        return
    if settings.sites > 1:
        manifest = programme_manifest(manifest, settings.sites)
    names = [site.name for site in manifest.sites] if manifest.programme else ["legacy"]
    ports_file = Path(out_root) / manifest.name / ".demo-ports.json"
    try:
        remembered = json.loads(ports_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        remembered = {}
    with contextlib.ExitStack() as stack:
        new = stack.enter_context(_start(int(remembered.get("new", 0) or 0), "127.0.0.2"))
        legacy = {name: stack.enter_context(_start(int(remembered.get(name, 0) or 0),
                                                   "127.0.0.1" if not manifest.programme else f"127.0.0.{3 + k}"))
                  for k, name in enumerate(names)}
        if manifest.programme:
            generated = generate_programme([server.base_url for server in legacy.values()], new.base_url,
                                           n_articles=settings.articles, seed=settings.seed)
            for name, server in legacy.items():
                server.site = generated.sites[name].legacy
            new.site = generated.new
            origins = {f"http://{name}.demo.invalid": server.base_url for name, server in legacy.items()}
        else:
            generated = generate_pair(legacy["legacy"].base_url, new.base_url, n_articles=settings.articles,
                                      seed=settings.seed)
            legacy["legacy"].site, new.site = generated.legacy, generated.new
            origins = {LEGACY_PLACEHOLDER: legacy["legacy"].base_url}
        live = manifest.with_origins({**origins, NEW_PLACEHOLDER: new.base_url})
        yield live, generated
        # remembered only after a run (not one refused by the lock, which had to take other ports)
        try:
            ports_file.write_text(json.dumps({**{name: s.port for name, s in legacy.items()}, "new": new.port}),
                                  encoding="utf-8")
        except OSError:
            pass


def score_mappings(rows: list[dict], truth: dict[str, str | None]) -> dict:
    """Precision and recall of page-level rows against the generated truth.

    ``rows`` are redirect rows as dicts (``redirects.csv``). Precision counts
    page rows whose old URL is labelled; recall counts labelled pages that
    have a page-level equivalent; removed pages are scored separately.
    """
    expected_pages = [u for u, target in truth.items() if target not in (None, "gone")]
    by_url, page_rows, correct, right = _scored(rows, truth, "page", expected_pages)
    found = len(right)
    gone = [u for u, target in truth.items() if target == "gone"]
    gone_found = sum(1 for u in gone if by_url.get(u, {}).get("kind") == "gone")
    no_equivalent = [u for u, target in truth.items() if target is None]
    forced = sum(1 for u in no_equivalent if by_url.get(u, {}).get("kind") == "page")
    return {
        "page_rows": len(page_rows),
        "correct": correct,
        "precision": correct / len(page_rows) if page_rows else None,
        "expected_pages": len(expected_pages),
        "found": found,
        "recall": found / len(expected_pages) if expected_pages else None,
        "expected_pages_with_a_row": sum(1 for u in expected_pages if u in by_url),  # the rest were never captured
        "gone_expected": len(gone),
        "gone_found": gone_found,
        "no_equivalent": len(no_equivalent),
        "forced_onto_a_page": forced,
        "wrong": sorted(r["old_url"] for r in page_rows if truth[r["old_url"]] != r.get("new_url")),
        "missed": sorted(set(expected_pages) - set(right)),
    }


def _scored(rows: list[dict], truth: dict, kind: str, expected: list[str]):
    """(rows by old URL, the ``kind`` rows of labelled URLs, how many of them are right, the ``expected``
    URLs whose row is of ``kind`` and right)."""
    by_url = {row["old_url"]: row for row in rows}
    claimed = [r for r in rows if r.get("kind") == kind and r["old_url"] in truth]
    correct = sum(1 for r in claimed if truth[r["old_url"]] == r.get("new_url"))
    right = [u for u in expected if by_url.get(u, {}).get("kind") == kind and by_url[u].get("new_url") == truth[u]]
    return by_url, claimed, correct, right


def score_documents(rows: list[dict], truth: dict[str, str | None]) -> dict:
    """Precision and recall of document rows against the generated documents' truth (scored apart
    from pages): precision counts document rows of labelled documents, recall the labelled documents
    that moved; a removed document given a document row was forced onto another."""
    moved = [u for u, target in truth.items() if target]
    by_url, document_rows, correct, right = _scored(rows, truth, "document", moved)
    found = len(right)
    removed = [u for u, target in truth.items() if target is None]
    return {
        "document_rows": len(document_rows),
        "correct": correct,
        "precision": correct / len(document_rows) if document_rows else None,
        "expected": len(moved),
        "found": found,
        "recall": found / len(moved) if moved else None,
        "with_a_row": sum(1 for u in truth if u in by_url),
        "removed": len(removed),
        "forced_onto_a_document": sum(1 for u in removed if by_url.get(u, {}).get("kind") == "document"),
        "methods": dict(sorted(Counter(r.get("method", "") for r in document_rows).items())),
        "wrong": sorted(r["old_url"] for r in document_rows if truth[r["old_url"]] != r.get("new_url")),
    }
