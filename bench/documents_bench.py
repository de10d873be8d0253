"""Document mapping at scale: 100,000 legacy documents x 100,000 new ones, time and peak memory.

Two measurements:

1. **Matching**, 100,000 x 100,000 (``--n``): 80% of the legacy documents
   are on the portal as identical bytes under new names, 15% re-generated
   (other bytes, the same text; a third of them with one word changed), 5%
   gone; the portal's other 5,000 documents are its own. Bodies are small
   PDF-headed stubs and their text comes from a lookup (the reader seam of
   ``DocumentMatcher``): extraction has its own cost, measured next, and is
   not what this measures. Timed: ``DocumentMatcher`` end to end (sniffing,
   SHA-256 digests, shingling and MinHash of every new text and of the
   legacy texts whose bytes are not on the portal, LSH blocking, scoring,
   rows). Precision and recall against the generated truth are printed
   beside the times.
2. **Extraction**, real files (``--real``, default 1,000 x 1,000 with the same
   shares): PDFs and DOCX written by the demo's generators, read by pypdf and
   lxml through ``build_manifest``; documents per second of CPU, from which
   the extraction cost of the 100,000-document run is estimated (every
   distinct new file and the legacy files not found by digest are read).

    .venv/bin/python bench/documents_bench.py              # 100k x 100k, and 1,000 real files a side
    .venv/bin/python bench/documents_bench.py --quick      # 10k x 10k, 200 real files
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402

from archiver.demo import documents as demo_documents  # noqa: E402
from archiver.demo.sitegen import TOPICS, TextWriter  # noqa: E402
from archiver.documents import DocumentText  # noqa: E402
from archiver.mapping import build_manifest  # noqa: E402
from archiver.mapping.documents import DocumentMatcher  # noqa: E402
from archiver.types import Capture  # noqa: E402

OLD, NEW = "https://www.mnz.gov.si", "https://www.gov.si"
PDF = (("Content-Type", "application/pdf"),)
DOCX = (("Content-Type", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plan(n: int, seed: int = 11):
    """Per legacy document: (fate, id); fates identical 80%, regenerated 15% (a third edited), gone 5%."""
    rng = random.Random(seed)
    fates = []
    for k in range(n):
        roll = rng.random()
        fates.append("identical" if roll < 0.80 else "edited" if roll < 0.85 else "regenerated" if roll < 0.95
                     else "gone")
    return fates


class Texts:
    """Deterministic text per document id, made on demand in microseconds: 600-2,400 words drawn with
    Zipf-like frequencies from the demo's Slovenian and English vocabulary (~1,000 words) and 20,000
    made-up ones, so a generated text costs the bench far less than matching it costs archiver."""

    def __init__(self, seed: int = 3) -> None:
        import numpy as np

        self.np = np
        self.seed = seed
        known = sorted({w for pairs in TOPICS.values() for pair in pairs for phrase in pair for w in phrase.split()}
                       | {w for sentence in TextWriter(random.Random(seed)).paragraphs("sl", "migracije", 40)
                          for w in sentence.split()})
        made_up = [f"{a}{b}{c}" for a in ("pre", "po", "za", "od", "na", "iz", "pri", "raz", "do", "ob")
                   for b in ("stav", "var", "del", "mej", "prav", "uprav", "red", "stop", "nos", "vod")
                   for c in [f"a{i}" for i in range(200)]]
        self.vocab = np.array(known + made_up)
        weights = 1.0 / np.arange(1, len(self.vocab) + 1) ** 0.9
        self.cumulative = np.cumsum(weights) / weights.sum()

    def text(self, ident: int, edited: bool = False) -> tuple[str, str, int]:
        rng = self.np.random.default_rng(self.seed * 1_000_003 + ident)
        count = int(rng.integers(600, 2400))
        words = self.vocab[self.np.searchsorted(self.cumulative, rng.random(count + 8))]
        if edited:
            words[count // 2] = "popravljeno"
        return f"{' '.join(words[count:])} {2008 + ident % 12}", " ".join(words[:count]), 1 + count // 400


def _stub(ident: int, version: bytes) -> bytes:
    """A body that sniffs as a PDF and names its text: ident and version."""
    return b"%PDF-1.7\n%bench " + str(ident).encode() + b" " + version


def stub_captures(n: int, fates: list[str]):
    """(legacy captures, new captures, truth): PDF-headed stub bodies naming their text."""
    truth = {}

    def old():
        for k, fate in enumerate(fates):
            url = f"{OLD}/fileadmin/dokumenti/porocilo_{k}.pdf"
            truth[url] = None if fate == "gone" else f"{NEW}/assets/dokumenti/{k}-{fate}.pdf"
            yield Capture(url, 200, PDF, _stub(k, b"v1"), "2026-01-01T00:00:00Z", "old", k)

    def new():
        own = 0
        for k, fate in enumerate(fates):
            if fate != "gone":
                version = b"v1" if fate == "identical" else b"v2e" if fate == "edited" else b"v2"
                yield Capture(f"{NEW}/assets/dokumenti/{k}-{fate}.pdf", 200, PDF, _stub(k, version),
                              "2026-01-01T00:00:00Z", "new", k)
            else:  # the portal's own documents keep the new side at n
                yield Capture(f"{NEW}/assets/lastni/{own}.pdf", 200, PDF, _stub(n + own, b"own"),
                              "2026-01-01T00:00:00Z", "new", n + own)
                own += 1

    return old, new, truth


def stub_reader(texts: Texts):
    def read(kind, body, **_):
        _, ident, version = body.split(b" ", 2)
        title, text, pages = texts.text(int(ident), edited=version == b"v2e")
        return DocumentText(text, title, pages)
    return read


def score(rows, truth) -> dict:
    documents = [r for r in rows.values() if r.kind == "document"]
    right = sum(truth[r.old_url] == r.new_url for r in documents)
    moved = [u for u, v in truth.items() if v]
    found = sum(1 for u in moved if rows[u].kind == "document" and rows[u].new_url == truth[u])
    forced = sum(1 for u, v in truth.items() if v is None and rows[u].kind == "document")
    return {"rows": len(documents), "right": right, "precision": right / max(1, len(documents)),
            "found": found, "recall": found / max(1, len(moved)), "forced": forced}


def matching(n: int) -> dict:
    fates = plan(n)
    texts = Texts()
    old, new, truth = stub_captures(n, fates)
    matcher = DocumentMatcher(read=stub_reader(texts))
    reads = [0]
    counted = matcher.read

    def counting(*args, **kwargs):
        reads[0] += 1
        return counted(*args, **kwargs)

    matcher.read = counting
    before = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    for capture in new():
        matcher.add_new(capture)
    for capture in old():
        matcher.add_old(capture)
    rows = matcher.rows({}, status=301, old_pages=[], new_pages={}, allowed=lambda url: True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    result = score(rows, truth)
    result.update(n=n, wall_s=wall, cpu_s=cpu, peak_rss_mb=peak_rss_mb(), rss_before_mb=before, texts_read=reads[0])
    return result


def real_files(n: int) -> dict:
    """build_manifest on real PDF/DOCX bodies: extraction included."""
    fates = plan(n, seed=5)
    texts = Texts(seed=9)
    bodies: dict[int, tuple[bytes, bytes, tuple]] = {}
    t0 = time.perf_counter()
    for k, fate in enumerate(fates):
        title, text, _ = texts.text(k, edited=fate == "edited")
        paragraphs = [text[i:i + 600] for i in range(0, len(text), 600)]
        docx = k % 4 == 0
        make = demo_documents.docx if docx else demo_documents.pdf
        first = make(title, paragraphs)
        if fate == "identical":
            second = first
        elif docx:
            second = demo_documents.docx(title, paragraphs, author="GOV.SI", modified="2019-07-01T09:00:00Z")
        else:
            second = demo_documents.pdf(title, paragraphs, producer="GOV.SI", modified="D:20190701090000Z")
        bodies[k] = (first, second, DOCX if docx else PDF)
    generated = time.perf_counter() - t0
    truth = {}
    ext = {PDF: "pdf", DOCX: "docx"}
    old = []
    new = []
    for k, fate in enumerate(fates):
        first, second, headers = bodies[k]
        url = f"{OLD}/fileadmin/dokumenti/porocilo_{k}.{ext[headers]}"
        target = f"{NEW}/assets/dokumenti/{k}.{ext[headers]}"
        truth[url] = None if fate == "gone" else target
        old.append(Capture(url, 200, headers, first, "2026-01-01T00:00:00Z", "old", k))
        if fate != "gone":
            new.append(Capture(target, 200, headers, second, "2026-01-01T00:00:00Z", "new", k))
    t1, c1 = time.perf_counter(), time.process_time()
    rows = build_manifest([], old, new, allowed_hosts=["www.gov.si"])
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    result = score({r.old_url: r for r in rows}, truth)
    read = len(new) + sum(1 for f in fates if f not in ("identical",))
    result.update(n=n, generated_s=generated, wall_s=wall, cpu_s=cpu, files_read=read,
                  files_per_cpu_s=read / cpu if cpu else None)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="documents on each side (matching)")
    parser.add_argument("--real", type=int, default=1000, help="real PDF/DOCX files on each side (extraction)")
    parser.add_argument("--quick", action="store_true", help="10,000 x 10,000 and 200 real files")
    args = parser.parse_args()
    n, real = (10_000, 200) if args.quick else (args.n, args.real)

    match = matching(n)
    load = os.getloadavg()[0]
    print(f"matched {n:,} x {n:,} documents in {match['wall_s']:.1f}s wall, {match['cpu_s']:.1f}s CPU; peak RSS "
          f"{match['peak_rss_mb']:.0f} MB; {match['texts_read']:,} texts read (load average {load:.1f} on "
          f"{os.cpu_count()} cores)", flush=True)
    print(f"precision {match['precision']:.4f} ({match['right']}/{match['rows']}), recall {match['recall']:.4f} "
          f"({match['found']}), forced {match['forced']}", flush=True)
    files = real_files(real)
    estimate = (n + 0.2 * n) / files["files_per_cpu_s"] if files["files_per_cpu_s"] else None
    print(f"real files: {real:,} x {real:,} PDF/DOCX mapped in {files['wall_s']:.1f}s wall, {files['cpu_s']:.1f}s CPU "
          f"({files['files_per_cpu_s']:.0f} files read per CPU second); precision {files['precision']:.4f}, "
          f"recall {files['recall']:.4f}; estimated extraction for {n:,} x {n:,}: {estimate / 60:.0f} CPU minutes")
    summary = [
        common.row(f"documents {n:,}x{n:,} wall s", round(match["wall_s"], 1), "minutes at 100k",
                   match["wall_s"] < 600),
        common.row("documents CPU s", round(match["cpu_s"], 1)),
        common.row("documents peak RSS MB", round(match["peak_rss_mb"])),
        common.row("documents precision", round(match["precision"], 4), ">= 0.99", match["precision"] >= 0.99),
        common.row("documents recall", round(match["recall"], 4), ">= 0.95", match["recall"] >= 0.95),
        common.row("documents forced", match["forced"], "0", match["forced"] == 0),
        common.row("real PDF/DOCX read per CPU s", round(files["files_per_cpu_s"], 1)),
        common.row("real files precision / recall", f"{files['precision']:.3f} / {files['recall']:.3f}"),
    ]
    common.write_results("documents", summary, {"matching": match, "real_files": files, "load_average": load,
                                                "extraction_estimate_cpu_s": estimate})


if __name__ == "__main__":
    main()
