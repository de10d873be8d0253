"""Mapping at scale: 100,000 legacy pages x 100,000 new pages, time and peak memory.

Page facts are generated directly (no HTTP, no HTML parsing: extraction has
its own cost and is not what this measures) with the demo generator's
vocabulary: Slovenian and English releases over twelve years (~25 a day),
recurring titles, 85% migrated with edited titles and text (some re-dated by
a day), 15% never migrated, the rest of the new site new-only content, and a
site banner left in half the legacy texts. The timed part is
``build_manifest`` end to end (reading, shingling, boilerplate removal,
MinHash, LSH, blocking, scoring, one-to-one, rows). Precision and recall
against the generated truth are printed beside the times.

    .venv/bin/python bench/map_bench.py            # 100k x 100k
    .venv/bin/python bench/map_bench.py --n 10000  # smaller
    .venv/bin/python bench/map_bench.py --quick    # 10k x 10k
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402

from archiver.demo.sitegen import RECURRING, TOPICS, TextWriter, slugify  # noqa: E402
from archiver.mapping import build_manifest  # noqa: E402
from archiver.mapping.candidates import CandidatesWriter  # noqa: E402
from archiver.types import Capture, PageFacts  # noqa: E402

OLD, NEW = "https://www.mnz.gov.si", "https://www.gov.si"
BANNER = ("Vsebine tega spletnega mesta so bile prenesene na osrednje spletno mesto državne uprave GOV.SI. "
          "Spletno mesto se ne posodablja več.")


def generate(n: int, seed: int = 7):
    """(old facts, new facts, truth) for n legacy and n new pages."""
    rng = random.Random(seed)
    writer = TextWriter(rng)
    start, span = date(2008, 1, 1), 12 * 365
    old, new, truth = [], [], {}
    topics = list(TOPICS)
    for k in range(n):
        lang = "en" if rng.random() < 0.3 else "sl"
        topic = rng.choice(topics)
        day = start + timedelta(days=rng.randrange(span))
        title = rng.choice(RECURRING)[lang == "en"] if rng.random() < 0.05 else writer.title(lang, topic)
        paragraphs = writer.paragraphs(lang, topic, rng.randint(2, 6))
        section = "/medijsko_sredisce/sporocilo/article/" if lang == "sl" else "/en/media_centre/article/"
        url = f"{OLD}{section}{slugify(title, '_', 60)}_{k}/"
        text = " ".join(([BANNER] if rng.random() < 0.5 else []) + paragraphs)
        old.append(PageFacts(url, title=title, date=day.isoformat(), lang=lang, text=text))
        if rng.random() < 0.85:
            new_title = writer.edit_title(title, lang) if rng.random() < 0.45 else title
            new_day = day + timedelta(days=1) if rng.random() < 0.08 else day
            prefix = "/novice/" if lang == "sl" else "/en/news/"
            new_url = f"{NEW}{prefix}{new_day.isoformat()}-{slugify(new_title)}-{k}"
            new.append(PageFacts(new_url, title=new_title, date=new_day.isoformat(), lang=lang,
                                 text=" ".join(writer.edit_paragraphs(paragraphs, lang, topic))))
            truth[url] = new_url
        else:
            truth[url] = None
    while len(new) < n:  # content that only the portal has
        lang = "en" if rng.random() < 0.3 else "sl"
        topic = rng.choice(topics)
        day = start + timedelta(days=rng.randrange(span + 400))
        title = writer.title(lang, topic)
        new.append(PageFacts(f"{NEW}/novice/{day.isoformat()}-{slugify(title)}-n{len(new)}", title=title,
                             date=day.isoformat(), lang=lang,
                             text=" ".join(writer.paragraphs(lang, topic, rng.randint(2, 5)))))
    rng.shuffle(new)
    return old, new, truth


def _captures(facts):
    return [Capture(f.url, 200, (("Content-Type", "text/html"),), b"", "2026-01-01T00:00:00Z", "bench", i)
            for i, f in enumerate(facts)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="pages on each side")
    parser.add_argument("--quick", action="store_true", help="10,000 x 10,000")
    parser.add_argument("--candidates", action="store_true",
                        help="also write candidates.jsonl (what archiver run keeps for review) and report its size")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.n

    t0 = time.perf_counter()
    old, new, truth = generate(n)
    generated = time.perf_counter() - t0
    by_url = {f.url: f for f in old + new}
    old_caps, new_caps = _captures(old), _captures(new)
    rss_before = peak_rss_mb()
    print(f"generated {n:,} x {n:,} page facts in {generated:.1f}s (RSS {rss_before:.0f} MB)", flush=True)

    t1 = time.perf_counter()
    cpu1 = time.process_time()
    candidates_bytes = None
    if args.candidates:
        with tempfile.TemporaryDirectory() as tmp:
            with CandidatesWriter(Path(tmp) / "candidates.jsonl") as candidates:
                rows = build_manifest([], old_caps, new_caps, extract=lambda c: by_url[c.url], candidates=candidates)
            candidates_bytes = (Path(tmp) / "candidates.jsonl").stat().st_size
    else:
        rows = build_manifest([], old_caps, new_caps, extract=lambda c: by_url[c.url])
    elapsed = time.perf_counter() - t1
    cpu = time.process_time() - cpu1
    peak = peak_rss_mb()
    load = os.getloadavg()[0]

    pages = [r for r in rows if r.kind == "page"]
    right = sum(truth.get(r.old_url) == r.new_url for r in pages)
    expected = [u for u, v in truth.items() if v]
    by_old = {r.old_url: r for r in rows}
    found = sum(1 for u in expected if by_old[u].kind == "page" and by_old[u].new_url == truth[u])
    precision, recall = right / max(1, len(pages)), found / max(1, len(expected))
    print(f"mapped {n:,} x {n:,} in {elapsed:.1f}s wall, {cpu:.1f}s CPU; peak RSS {peak:.0f} MB "
          f"(load average {load:.1f} on {os.cpu_count()} cores: wall time includes waiting for other work)")
    print(f"precision {precision:.4f} ({right}/{len(pages)}), recall {recall:.4f} ({found}/{len(expected)})")
    if candidates_bytes is not None:
        print(f"candidates.jsonl: {candidates_bytes / 1e6:.1f} MB")
    summary = [
        common.row(f"map {n:,}x{n:,} wall s", round(elapsed, 1), "minutes at 100k", elapsed < 600),
        common.row("map CPU s", round(cpu, 1)),
        common.row("map peak RSS MB", round(peak)),
        common.row("map precision", round(precision, 4), ">= 0.99", precision >= 0.99),
        common.row("map recall", round(recall, 4), ">= 0.97", recall >= 0.97),
    ]
    common.write_results("map", summary, {"n": n, "generated_s": generated, "wall_s": elapsed, "cpu_s": cpu,
                                          "peak_rss_mb": peak, "load_average": load,
                                          "rss_before_mb": rss_before, "precision": precision,
                                          "recall": recall, "rows": len(rows), "candidates_bytes": candidates_bytes})


if __name__ == "__main__":
    main()
