"""Crawl speed: ours at concurrency 8 against wget on a slow local site.

Serves a generated site (home, sections, articles; every page 20-60 KB of
HTML with 1-3 images of 5-50 KB and a shared stylesheet) on 127.0.0.1 where
every answer takes ``--latency`` seconds, as a distant server would. Each
round crawls it with wget (one connection) and with ``archiver crawl``
(concurrency 8, 8 per host, no delay), alternating which goes first; the
report gives medians of wall clock, the speed ratio, CPU per fetch (user+sys
of the child / requests the server answered during that run) and its ratio
to wget's, the load average before each run, and the URLs each WARC holds,
read back with warcio, including every URL wget captured that ours did not.

With ``--burner`` each round also runs every tool while another process
spins on a CPU (started just before the tool, stopped just after), quiet and
loaded runs interleaved in one bench run.  ``--one-core`` adds runs with
each tool pinned to one core (``taskset -c 0``): beside a burner the
crawler behaves as it does there (``bench/README.md``), with less noise, so
it is the condition to try a change on; the goal is not checked on it. With ``--compare-with DIR`` the
code in DIR (a directory holding an ``archiver/`` package, first on
``PYTHONPATH``) is measured too, as "before", in the same rounds.

    .venv/bin/python bench/crawl_bench.py            # 400 pages, 3 rounds
    .venv/bin/python bench/crawl_bench.py --quick    # 60 pages, 1 round
    .venv/bin/python bench/crawl_bench.py --burner --compare-with ../archiver-before  # a checkout of older code
    .venv/bin/python bench/crawl_bench.py --profile  # + py-spy profile of ours
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

GOAL_RATIO = 7.0  # wget's wall clock / ours, quiet and with a CPU burner
GOAL_CPU_RATIO = 2.0  # our CPU per fetch / wget's
CONCURRENCY = 8

WORDS = (
    "ministry public administration notice regulation procedure citizens "
    "applications decree report annual budget statistics environment "
    "agriculture transport infrastructure education health justice interior "
    "finance culture labour family social affairs project funding call "
    "tender results archive press release minister state secretary office "
    "directorate department document form guidance deadline consultation"
).split()


# --------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------

def generate_site(n_pages: int, seed: int = 2019) -> dict[str, common.Resource]:
    """A ministry-like site: home -> sections -> articles, all reachable
    within three links, every page with nav, cross links, images and CSS."""
    rng = random.Random(seed)
    n_sections = max(2, min(20, n_pages // 20))
    n_articles = max(1, n_pages - 1 - n_sections)
    sections = [f"/section/{s}/" for s in range(n_sections)]
    articles = [f"/section/{a % n_sections}/article-{a}.html" for a in range(n_articles)]
    n_images = max(4, int(n_pages * 0.8))
    images = [f"/media/img-{i}.jpg" for i in range(n_images)]
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 140)))
        for _ in range(300)
    ]

    site: dict[str, common.Resource] = {}
    used_images: set[str] = set()
    nav = "".join(f'<li><a href="{s}">Section {i}</a></li>' for i, s in enumerate(sections))

    def page(title: str, links: list[str]) -> common.Resource:
        pics = rng.sample(images, rng.randint(1, 3))
        used_images.update(pics)
        target = rng.randint(20_000, 60_000)
        parts = [
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title>"
            '<link rel="stylesheet" href="/static/site.css"></head><body>'
            f'<header><a href="/">Home</a><ul class="nav">{nav}</ul></header>'
            f"<main><h1>{title}</h1>",
            *(f'<figure><img src="{p}" alt="figure"></figure>' for p in pics),
            "<ul class=\"related\">",
            *(f'<li><a href="{link}">{link.rsplit("/", 2)[-2:]}</a></li>' for link in links),
            "</ul>",
        ]
        size = sum(len(p) for p in parts)
        while size < target - 200:
            para = f"<p>{rng.choice(paragraphs)}</p>\n"
            parts.append(para)
            size += len(para)
        parts.append("</main><footer>Ministry of Examples</footer></body></html>\n")
        return common.Resource("text/html; charset=utf-8", "".join(parts).encode())

    site["/"] = page("Ministry of Examples", sections)
    for s, section in enumerate(sections):
        site[section] = page(f"Section {s}", articles[s::n_sections])
    for a, article in enumerate(articles):
        others = rng.sample(articles, min(len(articles), rng.randint(3, 5)))
        site[article] = page(f"Article {a}", [sections[a % n_sections], *others])
    for path in sorted(used_images):
        body = b"\xff\xd8\xff\xe0" + rng.randbytes(rng.randint(5_000, 50_000))
        site[path] = common.Resource("image/jpeg", body)
    site["/static/site.css"] = common.Resource(
        "text/css",
        (b"body{font-family:sans-serif;background:url(/static/bg.png)}\n"
         + b".nav li{display:inline}\n" * 300),
    )
    site["/static/bg.png"] = common.Resource("image/png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(8_000))
    return site


# --------------------------------------------------------------------------
# The crawlers
# --------------------------------------------------------------------------

def captured_urls(paths) -> set[str]:
    """Target URIs of response and revisit records (wget writes ``<...>``)."""
    from warcio.archiveiterator import ArchiveIterator

    urls = set()
    for path in paths:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type in ("response", "revisit"):
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    urls.add(uri.strip().strip("<>"))
    return urls


def wget_command(url: str, warc_prefix: Path) -> list[str]:
    return [
        "wget", "--recursive", "--level=inf", "--page-requisites", "--no-verbose",
        f"--warc-file={warc_prefix}", "--delete-after", "--no-directories",
        "-e", "robots=off", url,
    ]


def ours_command(url: str, out_dir: Path, archiver: list[str] | None = None) -> list[str]:
    """Ours with every politeness limit set to match the comparison: 8
    connections, 8 per host (default 2), no delay (default 0.25 s), robots.txt
    off as with wget's ``-e robots=off``."""
    return [*(archiver or [common.venv_bin("archiver")]), "crawl", url, "--out", str(out_dir),
            "--concurrency", str(CONCURRENCY), "--per-host-concurrency", str(CONCURRENCY),
            "--delay", "0", "--ignore-robots"]


def ours_usable() -> bool:
    """False when ``archiver crawl`` cannot run the comparison (missing, a
    placeholder, or without the flags it needs)."""
    try:
        proc = subprocess.run([common.venv_bin("archiver"), "crawl", "--help"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    needed = ("--out", "--per-host-concurrency", "--delay", "--ignore-robots")
    return proc.returncode == 0 and all(flag in proc.stdout for flag in needed)


class Burner:
    """Another CPU-bound process for the length of one run (a busy machine)."""

    def __enter__(self) -> "Burner":
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def run_tool(tool: str, server: common.SlowSite, work: Path, round_no: int, timeout: float,
             wrap: list[str] | None = None, condition: str = "quiet", compare_with: str | None = None) -> dict:
    name = f"{tool}-{condition}-{round_no}"
    run_dir = work / name
    run_dir.mkdir()
    env = None
    if tool == "wget":
        cmd = wget_command(server.base_url + "/", run_dir / "wget")
    elif tool == "before":
        cmd = ours_command(server.base_url + "/", run_dir / "crawl", [sys.executable, "-m", "archiver"])
        env = dict(os.environ, PYTHONPATH=compare_with)
    else:
        cmd = ours_command(server.base_url + "/", run_dir / "crawl")
    server.reset()
    load = round(os.getloadavg()[0], 2)
    if condition == "one-core":
        cmd = ["taskset", "-c", "0", *cmd]
    with Burner() if condition == "burner" else contextlib.nullcontext():
        child = common.run_child((wrap or []) + cmd, cwd=run_dir, log_prefix=work / name, timeout=timeout, env=env)
    stats = server.stats()
    warcs = sorted(p for p in run_dir.rglob("*.warc.gz"))
    urls = captured_urls(warcs) if warcs else set()
    fetches = stats["requests"] or 1
    result = {
        "tool": tool, "condition": condition, "round": round_no, "load_before": load, "child": child,
        "server": stats, "warc_files": [str(p) for p in warcs], "urls": urls,
        "cpu_ms_per_fetch": 1000.0 * child.cpu_s / fetches,
    }
    ok = child.returncode == 0 and not child.timed_out
    # wget exits 8 when any request got an error answer (e.g. a 404)
    if tool == "wget" and child.returncode == 8:
        ok = True
    result["ok"] = ok
    print(f"  {tool:6s} {condition:6s} round {round_no}: {child.wall_s:6.2f} s wall, "
          f"{child.cpu_s:6.2f} s cpu ({result['cpu_ms_per_fetch']:.2f} ms/fetch), {stats['requests']} requests "
          f"(max {stats['max_inflight']}, mean {stats['mean_inflight']:.1f} at once over "
          f"{stats['active_s']:.2f} s), {len(urls)} URLs in WARC, load {load}, "
          f"rc={child.returncode}{' TIMEOUT' if child.timed_out else ''}", flush=True)
    if not ok:
        print("    stderr tail:\n      " + child.tail().replace("\n", "\n      "), flush=True)
    return result


def find_py_spy() -> str | None:
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"), common.venv_bin("py-spy")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def profile_ours(server: common.SlowSite, work: Path, timeout: float) -> dict:
    """One more crawl of ours under py-spy, sampling whichever thread holds
    the GIL: with 8 threads on 2 cores that is the serial work that bounds
    the crawl. Returns the functions with most self and inclusive samples
    and the share of each stage (``STAGES``)."""
    py_spy = find_py_spy()
    if not py_spy:
        return {"error": "py-spy not found (pip install py-spy, or set PY_SPY)"}
    raw = work / "ours-profile.txt"
    wrap = [py_spy, "record", "--rate", "250", "--format", "raw", "--gil",
            "-o", str(raw), "--"]
    run = run_tool("ours", server, work, 99, timeout, wrap=wrap)
    if not raw.exists():
        return {"error": "py-spy wrote no profile", "stderr": run["child"].tail()}
    self_samples: collections.Counter = collections.Counter()
    incl_samples: collections.Counter = collections.Counter()
    stages: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short_frame(f) for f in stack.split(";")]
        self_samples[frames[-1]] += n
        for frame in set(frames):
            incl_samples[frame] += n
        stack_text = ";".join(frames)
        stage = next((name for name, keys in STAGES if any(k in stack_text for k in keys)), "other")
        stages[stage] += n

    def top(counter, k=20):
        return [(frame, round(100.0 * n / total, 1)) for frame, n in counter.most_common(k)]

    return {"samples": total, "stages_pct": top(stages), "self_pct": top(self_samples),
            "inclusive_pct": top(incl_samples), "raw_file": str(raw)}


# where a GIL sample belongs, first match wins (function names of archiver.capture)
STAGES = [
    ("startup: imports", ["_find_and_load"]),
    ("end: index.cdxj", ["build_index", "write_cdxj"]),
    ("end: crawl.jsonl", ["write_crawl_log"]),
    ("worker: link extraction", ["parse_result_links"]),
    ("worker: WARC write", ["Deduplicator.write"]),
    ("worker: fetch", ["Fetcher.fetch"]),
    ("coordinator: scope + frontier add", ["_queue_links"]),
    ("coordinator: frontier finish", ["Frontier.finish"]),
    ("coordinator: dispatch", ["_dispatch"]),
    ("coordinator: WARC fsync", ["Sink.flush"]),
    ("coordinator: commit", ["Frontier.commit"]),
    ("queue hand-offs", ["Queue.get", "Queue.put"]),
]


def _short_frame(frame: str) -> str:
    # py-spy raw frames look like "func (path/to/module.py:123)"
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    parts = Path(path).parts
    for anchor in ("site-packages", "archiver", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + (anchor != "archiver"):]
            break
    return f"{func} ({'/'.join(parts[-3:])})"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=400, help="HTML pages on the site")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per tool")
    parser.add_argument("--latency", type=float, default=0.040, help="seconds per answer")
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 pages, 1 round")
    parser.add_argument("--burner", action="store_true", help="also run every tool beside a CPU-bound process")
    parser.add_argument("--one-core", action="store_true", help="also run every tool pinned to one core")
    parser.add_argument("--compare-with", metavar="DIR", help="also measure the archiver package in DIR")
    parser.add_argument("--profile", action="store_true", help="also profile ours with py-spy")
    parser.add_argument("--timeout", type=float, default=600, help="per crawl, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.pages, args.rounds = 60, 1

    site = generate_site(args.pages)
    html = [r for r in site.values() if r.content_type.startswith("text/html")]
    print(f"crawl_bench: {len(html)} pages + {len(site) - len(html)} other resources "
          f"({sum(len(r.body) for r in site.values()) / 1e6:.1f} MB), "
          f"{args.latency * 1000:.0f} ms per answer, {args.rounds} round(s)", flush=True)
    server = common.SlowSite(site, args.latency)
    site_urls = {server.base_url + path for path in site}
    usable = ours_usable()
    if not usable:
        print("  ours: `archiver crawl` is missing or lacks --per-host-concurrency/--delay/"
              "--ignore-robots; measuring wget only", flush=True)
    tools = ["wget"] + (["ours"] if usable else []) + (["before"] if args.compare_with else [])
    common.compile_package()
    if args.compare_with:
        common.compile_package(args.compare_with)
    conditions = ["quiet"] + (["burner"] if args.burner else []) + (["one-core"] if args.one_core else [])

    work = Path(tempfile.mkdtemp(prefix="crawl_bench-"))
    runs: dict[tuple[str, str], list[dict]] = {(t, c): [] for t in tools for c in conditions}
    profile = None
    try:
        for round_no in range(args.rounds):
            for condition in conditions if round_no % 2 == 0 else conditions[::-1]:
                shift = round_no % len(tools)
                for tool in tools[shift:] + tools[:shift]:  # each tool goes first in turn
                    runs[tool, condition].append(run_tool(tool, server, work, round_no, args.timeout,
                                                          condition=condition, compare_with=args.compare_with))
        if args.profile and usable:
            profile = profile_ours(server, work, args.timeout)
    finally:
        server.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"  work directory kept: {work}")

    summary, details = summarise(runs, site_urls, args)
    if profile:
        details["profile_ours"] = profile
        print_profile(profile)
    print()
    print(common.format_table(summary, "crawl_bench"))
    path = common.write_results("crawl", summary, details)
    print(f"\nresults: {path}")
    return 0 if all(r["ok"] for tool_runs in runs.values() for r in tool_runs) else 1


def summarise(runs: dict, site_urls: set[str], args) -> tuple[list[dict], dict]:
    summary = [common.row("site URLs (pages + requisites)", len(site_urls))]
    details: dict = {"pages": args.pages, "rounds": args.rounds, "latency_s": args.latency,
                     "concurrency": CONCURRENCY, "site_urls": len(site_urls), "compare_with": args.compare_with}
    med = {}
    for (tool, condition), tool_runs in runs.items():
        good = [r for r in tool_runs if r["ok"]] or tool_runs
        m = med[tool, condition] = {
            "wall_s": common.median(r["child"].wall_s for r in good),
            "cpu_ms_per_fetch": common.median(r["cpu_ms_per_fetch"] for r in good),
            "peak_rss_mb": common.median(r["child"].peak_rss_mb for r in good),
            "fetches": common.median(r["server"]["requests"] for r in good),
            "urls": common.median(len(r["urls"]) for r in good),
            "max_inflight": max(r["server"]["max_inflight"] for r in good),
            "mean_inflight": common.median(r["server"]["mean_inflight"] for r in good),
            "active_s": common.median(r["server"]["active_s"] for r in good),
            "gap_ms": common.median(r["server"]["connection_gap_ms_median"] for r in good),
            "load_before": [r["load_before"] for r in tool_runs],
        }
        label = f"{tool} ({condition})"
        summary += [
            common.row(f"{label}: wall clock (median s)", m["wall_s"]),
            common.row(f"{label}: CPU per fetch (ms)", m["cpu_ms_per_fetch"]),
            common.row(f"{label}: fetches / URLs in WARC", f"{m['fetches']:.0f} / {m['urls']:.0f}"),
            common.row(f"{label}: requests in flight (max / mean)", f"{m['max_inflight']} / {m['mean_inflight']:.1f}"),
            common.row(f"{label}: first request to last answer (s)", m["active_s"]),
            common.row(f"{label}: answer -> next request on a connection, at the server (median ms)", m["gap_ms"]),
            common.row(f"{label}: peak RSS (MB)", m["peak_rss_mb"]),
            common.row(f"{label}: load average before each run", " ".join(f"{x:.1f}" for x in m["load_before"])),
        ]
        details[label] = {
            "median": m,
            "runs": [{k: v for k, v in r.items() if k != "urls"} for r in tool_runs],
            "missing_from_site": sorted(site_urls - tool_runs[-1]["urls"])[:50],
            "not_on_site": sorted(tool_runs[-1]["urls"] - site_urls)[:50],
        }
    head = []
    wget_urls = set().union(*(r["urls"] for (tool, _), rs in runs.items() if tool == "wget" for r in rs))
    for (tool, condition) in runs:
        if tool == "wget" or ("wget", condition) not in runs:
            continue
        pairs = zip(runs["wget", condition], runs[tool, condition])
        per_round = [w["child"].wall_s / o["child"].wall_s for w, o in pairs if o["child"].wall_s > 0]
        ratio = med["wget", condition]["wall_s"] / med[tool, condition]["wall_s"]
        cpu_ratio = med[tool, condition]["cpu_ms_per_fetch"] / med["wget", condition]["cpu_ms_per_fetch"]
        details[f"speed_ratio_per_round {tool} ({condition})"] = per_round
        mine = tool == "ours"
        goal = mine and condition in ("quiet", "burner")  # the speed goals' conditions
        head += [
            common.row(f"speed ratio wget/{tool} ({condition}; c={CONCURRENCY}, limit 8x; rounds "
                       f"{', '.join(f'{x:.1f}' for x in per_round)})", round(ratio, 2),
                       f">= {GOAL_RATIO}x" if goal else "", ratio >= GOAL_RATIO if goal else None),
            common.row(f"CPU per fetch {tool}/wget ({condition})", round(cpu_ratio, 2),
                       f"<= {GOAL_CPU_RATIO}x" if goal else "", cpu_ratio <= GOAL_CPU_RATIO if goal else None),
        ]
        if mine:
            # every run of ours must hold every URL wget captured, not just their union
            missing = set().union(*(wget_urls - r["urls"] for r in runs[tool, condition]))
            extra = set().union(*(r["urls"] for r in runs[tool, condition])) - wget_urls
            details[f"wget_only_urls ({condition})"] = sorted(missing)
            details[f"ours_only_urls ({condition})"] = sorted(extra)
            head += [common.row(f"URLs wget captured that ours missed ({condition})", len(missing), "0", not missing),
                     common.row(f"URLs ours captured that wget did not ({condition})", len(extra))]
            for url in sorted(missing)[:100]:
                print(f"  wget only ({condition}): {url}")
    summary[1:1] = head
    return summary, details


def print_profile(profile: dict) -> None:
    if "error" in profile:
        print(f"\nprofile: {profile['error']}")
        return
    print(f"\nprofile of ours (py-spy --gil: {profile['samples']} samples of the thread holding the GIL)")
    print("  by stage:")
    for stage, pct in profile["stages_pct"]:
        print(f"    {pct:5.1f}%  {stage}")
    print("  self time:")
    for frame, pct in profile["self_pct"][:15]:
        print(f"    {pct:5.1f}%  {frame}")
    print("  inclusive:")
    for frame, pct in profile["inclusive_pct"][:20]:
        print(f"    {pct:5.1f}%  {frame}")


if __name__ == "__main__":
    sys.exit(main())
