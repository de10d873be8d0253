"""The hostile job: `archiver run` on a small site where two URLs misbehave.

Two loopback servers: a legacy site made by the demo's generator (a dozen
articles, listings in two languages, a sitemap, a few images: about twenty
pages) and the portal it moved to. The legacy home page also links to two
hostile URLs:

* ``/porocila/letno-porocilo.html`` announces 10 KB, sends a byte every 2 s
  for 80 s, then nothing more on the open keep-alive connection;
* ``/fileadmin/docs/letno-porocilo.pdf`` announces 200 KB, sends 60 KB and
  closes the connection.

``archiver run`` runs the whole job (crawl the legacy site, detect, crawl the
new site, map, export, audit) from a manifest with no ``[crawl]`` table, so
every crawl setting is its default (2 per host, 0.25 s apart, 30 s time-out,
3 retries, 120 s budget per URL). Reported: the wall clock of the whole job
(goal: under 4 minutes) and of each stage (its ``summary.json``), what
``crawl.jsonl`` says about the two hostile URLs, and that every other URL of
the legacy site was captured (nothing else lost).

    .venv/bin/python bench/hostile_job_bench.py
    .venv/bin/python bench/hostile_job_bench.py --compare-with ../archiver-before   # + the job on older code

``--compare-with DIR`` runs the same job on the code in DIR (a directory
holding an ``archiver/`` package, e.g. ``git archive <commit> archiver | tar
-x -C DIR``), put first on ``PYTHONPATH``, after ours.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from archiver.demo.sitegen import generate_pair  # noqa: E402

GOAL_S = 240.0
DRIP_PATH = "/porocila/letno-porocilo.html"
CUT_PATH = "/fileadmin/docs/letno-porocilo.pdf"
DRIP_DROPS, DRIP_INTERVAL = 40, 2.0
CUT_ANNOUNCED, CUT_SENT = 200_000, 60_000


class HostileSite:
    """Serves a demo ``Site`` on 127.0.0.1 plus the two hostile URLs; counts requests."""

    def __init__(self, hostile: bool):
        self.site = None  # set once both servers have their ports
        self.hostile = hostile
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                with owner.lock:
                    owner.requests[self.path] = owner.requests.get(self.path, 0) + 1
                if owner.hostile and self.path == DRIP_PATH:
                    self.drip()
                elif owner.hostile and self.path == CUT_PATH:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (CUT_ANNOUNCED, b"%PDF" * (CUT_SENT // 4)))
                    self.close_connection = True
                else:
                    res = owner.site.resources.get(self.path)
                    status, headers, body = (res.status, res.headers, res.body) if res else (404, {}, b"not found")
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def drip(self):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10000\r\n\r\n")
                self.wfile.flush()
                for _ in range(DRIP_DROPS):
                    if owner.stop.wait(DRIP_INTERVAL):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
                owner.stop.wait()  # silent, the connection open, until the bench ends
                self.close_connection = True

            def log_message(self, *args):
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True  # the crawler hung up on a hostile answer

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


MANIFEST = """name = "hostile"
[legacy]
seeds = ["{legacy}/"]
sitemaps = ["{legacy}/sitemap.xml"]
[new]
seeds = ["{new}/"]
sitemaps = ["{new}/sitemap.xml"]
[mapping]
allowed_hosts = ["{new_host}"]
"""


def run_job(label: str, work: Path, legacy: HostileSite, new: HostileSite, timeout: float,
            pythonpath: str | None = None) -> dict:
    manifest = work / f"{label}.toml"
    manifest.write_text(MANIFEST.format(legacy=legacy.base_url, new=new.base_url,
                                        new_host=new.base_url.split("//", 1)[1]))
    out = work / f"{label}-out"
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    legacy.requests.clear()
    load = round(os.getloadavg()[0], 2)
    child = common.run_child([sys.executable, "-m", "archiver", "run", str(manifest), "--out", str(out), "--quiet"],
                             cwd=work, log_prefix=work / label, timeout=timeout, env=env)
    run_dir = out / "hostile" / "latest"
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    rows = {}
    crawl_log = run_dir / "legacy" / "crawl.jsonl"
    if crawl_log.is_file():
        rows = {json.loads(line)["url"]: json.loads(line) for line in crawl_log.read_text().splitlines() if line}
    hostile = {legacy.base_url + DRIP_PATH, legacy.base_url + CUT_PATH}
    expected = {legacy.base_url + path for path, res in legacy.site.resources.items() if res.status < 400}
    missing = sorted(url for url in expected if rows.get(url, {}).get("state") != "done")
    not_done = sorted(url for url, row in rows.items() if row["state"] != "done" and url not in hostile
                      and row["state"] != "skipped")
    result = {
        "label": label, "wall_s": round(child.wall_s, 1), "cpu_s": round(child.cpu_s, 1), "rc": child.returncode,
        "timed_out": child.timed_out, "load_before": load, "seconds_by_task": summary.get("seconds_by_task"),
        "drip": _outcome(rows.get(legacy.base_url + DRIP_PATH)), "cut": _outcome(rows.get(legacy.base_url + CUT_PATH)),
        "requests": {"drip": legacy.requests.get(DRIP_PATH, 0), "cut": legacy.requests.get(CUT_PATH, 0)},
        "legacy_urls_expected": len(expected), "legacy_urls_missing": missing, "other_urls_not_done": not_done,
    }
    print(f"  {label}: {child.wall_s:.1f} s wall (rc {child.returncode}{', TIMED OUT' if child.timed_out else ''}, "
          f"load {load}), seconds by task {summary.get('seconds_by_task')}", flush=True)
    for name in ("drip", "cut"):
        print(f"    {name}: {result['requests'][name]} requests, {result[name]}", flush=True)
    print(f"    legacy URLs not captured: {len(missing)} of {len(expected)}; other URLs not done: {len(not_done)}",
          flush=True)
    if child.returncode not in (0, 3):
        print("    stderr tail:\n      " + child.tail().replace("\n", "\n      "), flush=True)
    return result


def _outcome(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: row[k] for k in ("state", "status", "attempts", "error")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare-with", metavar="DIR", help="also run the job on the archiver package in DIR")
    parser.add_argument("--timeout", type=float, default=1200, help="per job, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    legacy, new = HostileSite(hostile=True), HostileSite(hostile=False)
    pair = generate_pair(legacy.base_url, new.base_url, n_articles=12)
    home = pair.legacy.resources["/"]
    links = f'<p><a href="{DRIP_PATH}">Letno poročilo</a> <a href="{CUT_PATH}">Letno poročilo (PDF)</a></p></body>'
    pair.legacy.add("/", home.body.replace(b"</body>", links.encode()),
                    content_type=home.headers.get("Content-Type", "text/html; charset=utf-8"))
    legacy.site, new.site = pair.legacy, pair.new
    pages = sum(1 for r in pair.legacy.resources.values() if "html" in r.headers.get("Content-Type", ""))
    print(f"hostile_job_bench: legacy site of {len(pair.legacy.resources)} URLs ({pages} pages) + 2 hostile, "
          f"new site of {len(pair.new.resources)} URLs", flush=True)
    common.compile_package()
    if args.compare_with:
        common.compile_package(args.compare_with)
    work = Path(tempfile.mkdtemp(prefix="hostile_job_bench-"))
    runs = []
    try:
        runs.append(run_job("ours", work, legacy, new, args.timeout))
        if args.compare_with:
            runs.append(run_job("compared", work, legacy, new, args.timeout, pythonpath=args.compare_with))
    finally:
        legacy.close()
        new.close()
        if args.keep:
            print(f"  work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    ours = runs[0]
    ok_run = ours["rc"] in (0, 3) and not ours["timed_out"]
    summary = [
        common.row("archiver run, whole hostile job (s)", ours["wall_s"], f"< {GOAL_S:.0f}", ok_run and ours["wall_s"] < GOAL_S),
        common.row("hostile URLs: requests (drip / cut)", f"{ours['requests']['drip']} / {ours['requests']['cut']}"),
        common.row("other legacy URLs not captured", len(ours["legacy_urls_missing"]) + len(ours["other_urls_not_done"]),
                   "0", not ours["legacy_urls_missing"] and not ours["other_urls_not_done"]),
    ]
    for run in runs[1:]:
        summary.append(common.row(f"{run['label']} ({args.compare_with}): whole job (s)", run["wall_s"]))
    print()
    print(common.format_table(summary, "hostile_job_bench"))
    path = common.write_results("hostile_job", summary, {"runs": runs, "compare_with": args.compare_with})
    print(f"\nresults: {path}")
    return 0 if summary[0]["ok"] and summary[2]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
