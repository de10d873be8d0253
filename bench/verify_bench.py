"""Verify speed (issue 11): ``archiver verify`` of 10,000 rows against a local
nginx, beside ``curl`` requesting the same URLs in a shell loop, in one run.

One nginx serves both sides: the old site on one port, loaded with the
project's own export of a 10,000-row manifest (9,500 redirects, 300 gone, 200
unmatched; old URLs with queries and escapes), and the new site on another
port (every target a small distinct HTML page, ``return 200`` from the
config). Measured as child processes (wall clock, CPU, peak RSS):

* ``archiver verify`` with no delay, 4 rows at once and 4 requests per
  server (the fastest a site owner would run it on their own servers), and
  with 1 row at a time (as the shell loop does);
* ``curl -s -L --max-redirs 10 -o /dev/null -w '%{http_code} ...'`` once per
  checked old URL in a ``while read`` loop: the same requests (old URL, then
  its target), one process per URL, nothing parsed.

Both must agree (every redirect row ok with 200 after one redirect, every
gone row 410) or the figures are not reported as valid. ``--quick``: 1,000 rows.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' nginx helpers
from common import format_table, free_port, row, run_child, venv_bin, write_results  # noqa: E402

from archiver.export import export_all  # noqa: E402
from archiver.types import RedirectRow  # noqa: E402

from webservers import NGINX, nginx_main  # noqa: E402

CURL_LOOP = ('while IFS= read -r url; do curl -s -L --max-redirs 10 -o /dev/null '
             '-w "%{http_code} %{num_redirects}\\n" "$url"; done < "$1" > "$2"')


def manifest(n: int, old: str, new: str) -> list[RedirectRow]:
    rows = []
    for i in range(n):
        url = f"{old}/section-{i % 50}/article.php?id={i}&lang={'sl' if i % 3 else 'en'}"
        if i % 50 == 7:
            url = f"{old}/arhiv/caf%C3%A9-{i}/%2Fold"
        if i % 100 < 95:
            rows.append(RedirectRow(url, f"{new}/n/{i}", 301, "page", "content", 0.9))
        elif i % 100 < 98:
            rows.append(RedirectRow(url, None, 410, "gone", "gone", 1.0))
        else:
            rows.append(RedirectRow(url, None, None, "unmatched", "none", 0.0))
    return rows


def nginx_conf(tmp: Path, out: Path, old_port: int, new_port: int) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_main(tmp, workers=2, connections=512) + f"""    keepalive_requests 100000;
    include {out}/redirects.nginx.http.conf;
    include {out}/redirects.nginx.conf;
    server {{
        listen 127.0.0.1:{old_port};
        include {out}/redirects.nginx.server.conf;
        location / {{ return 404; }}
    }}
    server {{
        listen 127.0.0.1:{new_port};
        default_type text/html;
        location = / {{ return 200 "<!DOCTYPE html><html><head><title>Portal</title></head><body><h1>Portal</h1><p>Welcome.</p></body></html>"; }}
        location /n/ {{ return 200 "<!DOCTYPE html><html><head><title>Article $uri</title></head><body><h1>Article $uri</h1><p>The text of article $uri, as migrated to the portal.</p></body></html>"; }}
    }}
}}
""")
    return conf


def wait_for(port: int, proc: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"nginx exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nginx did not start listening")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 rows")
    args = parser.parse_args()
    n = 1000 if args.quick else args.rows
    tmp = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    old_port, new_port = free_port(), free_port()
    old, new = f"http://127.0.0.1:{old_port}", f"http://127.0.0.1:{new_port}"
    rows = manifest(n, old, new)
    out = tmp / "export"
    export_all(rows, out, allowed_hosts=[f"127.0.0.1:{new_port}"], formats=["nginx", "csv"])
    urls = tmp / "urls.txt"
    checked = [r for r in rows if r.status is not None]
    urls.write_text("".join(r.old_url + "\n" for r in checked))
    conf = nginx_conf(tmp, out, old_port, new_port)
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs, agree, loads = {}, {}, {}
    try:
        wait_for(old_port, proc)
        wait_for(new_port, proc)
        archiver = venv_bin("archiver")
        for name, concurrency in (("verify, 4 at once", "4"), ("verify, 1 at a time", "1")):
            report_dir = tmp / name.replace(", ", "-").replace(" ", "_")
            cmd = [archiver, "verify", str(out / "redirects.csv"), "--against", old, "--allowed-host",
                   f"127.0.0.1:{new_port}", "--delay", "0", "--concurrency", concurrency,
                   "--per-host-concurrency", concurrency, "--out", str(report_dir)]
            loads[name] = round(os.getloadavg()[0], 1)
            runs[name] = run_child(cmd, log_prefix=tmp / report_dir.name)
            report = json.loads((report_dir / "verify.json").read_text())
            agree[name] = (runs[name].returncode == 0 and report["checked"] == len(checked)
                           and report["right"] == len(checked))
            print(f"{name}: {runs[name].wall_s:.1f} s, {report['requests']} requests, {report['verdicts']}", flush=True)
        results = tmp / "curl.txt"
        loads["curl loop"] = round(os.getloadavg()[0], 1)
        runs["curl loop"] = run_child(["bash", "-c", CURL_LOOP, "curl-loop", str(urls), str(results)],
                                      log_prefix=tmp / "curl")
        lines = results.read_text().splitlines()
        expected = ["200 1" if r.status in (301, 308) else "410 0" for r in checked]
        agree["curl loop"] = runs["curl loop"].returncode == 0 and lines == expected
        print(f"curl loop: {runs['curl loop'].wall_s:.1f} s, {len(lines)} URLs", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    curl = runs["curl loop"]
    summary = [row("rows (checked)", f"{n} ({len(checked)})")]
    for name, run in runs.items():
        summary.append(row(f"{name}: wall s (load {loads[name]})", round(run.wall_s, 2), ok=agree[name]))
        summary.append(row(f"{name}: CPU s / peak RSS MB", f"{run.cpu_s:.1f} / {run.peak_rss_mb:.0f}"))
    for name in ("verify, 4 at once", "verify, 1 at a time"):
        summary.append(row(f"{name} / curl loop: wall", round(runs[name].wall_s / curl.wall_s, 2),
                           goal="<= 1 at 4 at once", ok=runs[name].wall_s <= curl.wall_s if "4" in name else None))
        summary.append(row(f"{name} / curl loop: CPU", round(runs[name].cpu_s / curl.cpu_s, 2)))
    print(format_table(summary, f"verify of {n} rows against a local nginx"))
    write_results("verify", summary, {"rows": n, "checked": len(checked), "runs": runs, "agree": agree,
                                      "load_before": loads, "tmp": tmp})
    return 0 if all(agree.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
