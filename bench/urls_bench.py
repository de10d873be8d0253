"""URL keys and link resolution on a million archive-like URLs, against the libraries' own.

The audit keys every record's URL (``lookup_key``), the crawler keys every
discovered link (``dedup_key``) and resolves it (``resolve_link``), so these
run millions of times. Each is timed in this process on the same generated
URLs as its references: ``urlsplit`` alone (the floor: one parse),
``urljoin`` for resolution, ``surt.surt`` (the canonicaliser behind the CDXJ
keys, a dependency) and, when installed, urlcanon's ``whatwg`` canonicaliser
(brozzler's; not a dependency). Figures are microseconds per URL (CPU time)
and ratios against ``urlsplit`` from the same run.

The URLs mix what archives hold: mostly plain ASCII paths, some with escapes
(upper- and lower-case hex), UTF-8 paths written raw, queries, ports,
fragments, upper-case hosts, IDN hosts and wget's ``<...>``.

    .venv/bin/python bench/urls_bench.py            # 1,000,000 URLs
    .venv/bin/python bench/urls_bench.py --quick    # 100,000
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import format_table, row, write_results  # noqa: E402

from archiver.urls import dedup_key, lookup_key, resolve_link, surt_key  # noqa: E402

HOSTS = ["www.gov.si", "www.mnz.gov.si", "127.0.0.1:8001", "example.org", "WWW.Example.ORG", "b\u00fccher.example",
         "xn--bcher-kva.example"]
WORDS = ["novice", "2019", "sporocila-za-javnost", "index.html", "clanek_38302", "o-nas", "foto.jpg",
         "%C4%8Dlanek", "%c5%a1ola", "\u010dlanek", "a%2Fb", "vsebina", "dokumenti", "porocilo.pdf"]


def archive_urls(n: int, seed: int = 20190701) -> list[str]:
    rnd = random.Random(seed)
    urls = []
    for _ in range(n):
        host = rnd.choice(HOSTS) if rnd.random() < 0.2 else "www.gov.si"
        words = [rnd.choice(WORDS[:7]) if rnd.random() < 0.9 else rnd.choice(WORDS) for _ in range(rnd.randint(1, 4))]
        url = f"{'https' if rnd.random() < 0.7 else 'http'}://{host}/{'/'.join(words)}"
        if rnd.random() < 0.25:
            url += f"?id={rnd.randint(1, 99999)}&lang=sl"
        if rnd.random() < 0.03:
            url += "#top"
        if rnd.random() < 0.02:
            url = f"<{url}>"
        urls.append(url)
    return urls


def link_pairs(urls: list[str], seed: int = 7) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    refs = ["/novice/", "../foto.jpg", "clanek_1.html", "https://www.gov.si/", "/sl/o-nas?x=1#a", "#top",
            "//cdn.example.org/app.js", "mailto:info@gov.si", " /a b.html", "../../%C4%8D/x"]
    return [(u.strip("<>"), rnd.choice(refs) + (str(rnd.randint(1, 500)) if rnd.random() < 0.5 else ""))
            for u in urls]


def per_url_us(func, items, star: bool = False) -> float:
    """CPU microseconds per call of ``func`` over ``items`` (caches cleared first)."""
    for cached in (resolve_link, lookup_key):
        getattr(cached, "cache_clear", lambda: None)()
    started = time.process_time()
    if star:
        for a, b in items:
            func(a, b)
    else:
        for item in items:
            func(item)
    return (time.process_time() - started) / len(items) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 URLs")
    args = parser.parse_args()
    n = 100_000 if args.quick else args.urls
    urls = archive_urls(n)
    pairs = link_pairs(urls)
    sample = urls[: max(n // 10, 1000)]  # the slow references run on a tenth
    timings = {
        "urlsplit (floor)": per_url_us(urlsplit, urls),
        "lookup_key": per_url_us(lookup_key, urls),
        "dedup_key": per_url_us(dedup_key, urls),
        "surt.surt": per_url_us(surt_key, sample),
        "urljoin": per_url_us(urljoin, pairs, star=True),
        "resolve_link": per_url_us(resolve_link, pairs, star=True),
    }
    try:
        import urlcanon
    except ImportError:
        urlcanon = None
    if urlcanon is not None:
        timings["urlcanon.whatwg"] = per_url_us(lambda u: str(urlcanon.whatwg(u)), sample)
    already = sum(1 for u in urls if lookup_key(u) == u) / n
    floor = timings["urlsplit (floor)"]
    rows = [row(f"{name}: us per URL (x urlsplit)", f"{us:.2f} ({us / floor:.1f}x)") for name, us in timings.items()]
    rows.append(row("URLs already in key form (fast path)", f"{already:.0%}"))
    rows.append(row("lookup_key on 1M URLs, CPU s", round(timings["lookup_key"], 1)))
    rows.append(row("lookup_key faster than surt.surt", round(timings["surt.surt"] / timings["lookup_key"], 1),
                    ">= 5x", timings["surt.surt"] / timings["lookup_key"] >= 5))
    rows.append(row("resolve_link / urljoin", round(timings["resolve_link"] / timings["urljoin"], 2)))
    if urlcanon is None:
        rows.append(row("urlcanon.whatwg", "not installed (pip install urlcanon to compare)"))
    print(format_table(rows, title=f"urls bench: {n} URLs, load {common.machine()['loadavg_1m']}"))
    write_results("urls", rows, {"urls": n, "us_per_url": timings, "already_key": already})
    return 0


if __name__ == "__main__":
    sys.exit(main())
