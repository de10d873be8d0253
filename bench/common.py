"""Shared helpers for the bench scripts: child processes measured one by one,
free ports, medians, and the results files that ``bench/run.py`` summarises.

Each bench script writes ``bench/results/<name>.json`` with a ``summary`` list
of rows ``{"metric", "value", "goal", "ok"}``; ``run.py`` prints those rows.
"""
from __future__ import annotations

import collections
import compileall
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# run.py points each run at its own directory (other people may be running
# benches on the same checkout at the same time)
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR") or BENCH_DIR / "results")


def venv_bin(name: str) -> str:
    """Path of a console script installed beside the running interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def compile_package(directory: str | Path = REPO_DIR) -> None:
    """Byte-compile the ``archiver`` package under ``directory`` as pip does when it
    installs one: an editable checkout run with PYTHONDONTWRITEBYTECODE would compile
    every module from source at each start, which no installed crawler pays."""
    compileall.compile_dir(str(Path(directory) / "archiver"), quiet=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ChildRun:
    """What one child process cost: wall clock, CPU and peak memory.

    The figures come from ``os.wait4`` on that child alone (the per-process
    form of ``getrusage(RUSAGE_CHILDREN)``), so CPU and peak RSS include the
    processes it waited for but nothing else the bench runs.
    """

    cmd: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    timed_out: bool = False
    stdout_path: str | None = None
    stderr_path: str | None = None

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def tail(self, which: str = "stderr", lines: int = 15) -> str:
        path = self.stderr_path if which == "stderr" else self.stdout_path
        if not path or not Path(path).exists():
            return ""
        text = Path(path).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def run_child(
    cmd: list[str],
    *,
    cwd: str | Path | None = None,
    log_prefix: str | Path | None = None,
    timeout: float | None = None,
    env: dict | None = None,
    on_start=None,
) -> ChildRun:
    """Run ``cmd`` to completion and measure it.

    stdout/stderr go to ``<log_prefix>.out`` / ``.err`` (or /dev/null). On
    ``timeout`` the child's whole process group is killed. ``on_start(pid)``
    is called once the child runs (e.g. to attach a profiler).
    """
    out = err = subprocess.DEVNULL
    out_path = err_path = None
    if log_prefix is not None:
        out_path, err_path = f"{log_prefix}.out", f"{log_prefix}.err"
        out, err = open(out_path, "wb"), open(err_path, "wb")
    timed_out = threading.Event()
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
    finally:
        if log_prefix is not None:
            out.close()
            err.close()

    def kill() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    if on_start:
        on_start(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if timer:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        cmd=[str(c) for c in cmd],
        returncode=proc.returncode,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024.0,  # Linux reports KiB
        timed_out=timed_out.is_set(),
        stdout_path=out_path,
        stderr_path=err_path,
    )


class RssSampler:
    """Polls a process's resident memory from /proc while it runs, so a
    report can say *when* the peak came (wait4 gives only its size)."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._poll, args=(pid,), daemon=True)
        self._thread.start()

    def _poll(self, pid: int) -> None:
        started = time.perf_counter()
        status = Path(f"/proc/{pid}/status")
        while not self._stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        mb = int(line.split()[1]) / 1024.0
                        self.samples.append((round(time.perf_counter() - started, 2), round(mb, 1)))
                        break
            except (OSError, ValueError):
                return  # the process is gone
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def peak(self) -> tuple[float, float] | None:
        """(seconds since start, MB) of the highest sample."""
        return max(self.samples, key=lambda s: s[1]) if self.samples else None


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def machine() -> dict:
    """Where a figure was measured; the load average says how noisy it was."""
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def row(metric: str, value, goal: str = "", ok: bool | None = None) -> dict:
    """One line of the summary table run.py prints."""
    return {"metric": metric, "value": value, "goal": goal, "ok": ok}


def write_results(name: str, summary: list[dict], details: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "bench": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "summary": summary,
        "details": details,
    }
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(obj):
    if isinstance(obj, ChildRun):
        return asdict(obj) | {"cpu_s": obj.cpu_s}
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def format_table(rows: list[dict], title: str | None = None) -> str:
    """Plain fixed-width table (readable in CI logs and when piped)."""
    header = ("metric", "value", "goal", "")
    body = [
        (r["metric"], _fmt(r["value"]), r.get("goal") or "",
         {True: "ok", False: "MISSED", None: ""}[r.get("ok")])
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(4)]
    lines = [title] if title else []
    for line in [header, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
        if line is header:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "n/a" if value is None else str(value)


@dataclass(frozen=True)
class Resource:
    """One answer of a bench site (always 200)."""

    content_type: str
    body: bytes


class SlowSite:
    """A local site that behaves like a distant one: a threaded HTTP/1.1
    server on 127.0.0.1 that answers each request after ``latency`` seconds
    (requests overlap), counting requests and the most in flight at once."""

    def __init__(self, site: dict[str, Resource], latency: float):
        self.site = site
        self.latency = latency
        self.lock = threading.Lock()
        self.reset()
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are separate writes: without this, Nagle plus
            # the client's delayed ACK add ~40 ms to every answer
            disable_nagle_algorithm = True

            def do_GET(self):
                started = bench._enter()
                previous_end = getattr(self, "last_end", None)
                if previous_end is not None:  # same keep-alive connection
                    bench._gap(started - previous_end)
                try:
                    time.sleep(bench.latency)
                    path = self.path.split("#", 1)[0]
                    res = bench.site.get(path)
                    if res is None:
                        body, ctype, status = b"not found\n", "text/plain", 404
                    else:
                        body, ctype, status = res.body, res.content_type, 200
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    bench._leave(started, path, len(body))
                    self.last_end = time.perf_counter()
                except Exception:
                    bench._leave(started, None, 0)
                    raise

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.requests: collections.Counter = collections.Counter()
            self.inflight = 0
            self.max_inflight = 0
            self.bytes_sent = 0
            self.busy_s = 0.0  # summed time requests spent being answered
            self.first_start: float | None = None
            self.last_end: float | None = None
            self.gaps: list[float] = []  # answer sent -> next request, per connection

    def _enter(self) -> float:
        now = time.perf_counter()
        with self.lock:
            if self.first_start is None:
                self.first_start = now
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        return now

    def _gap(self, seconds: float) -> None:
        with self.lock:
            self.gaps.append(seconds)

    def _leave(self, started: float, path, size) -> None:
        now = time.perf_counter()
        with self.lock:
            self.inflight -= 1
            self.busy_s += now - started
            self.last_end = now
            if path is not None:
                self.requests[path] += 1
                self.bytes_sent += size

    def stats(self) -> dict:
        """Requests answered since ``reset``; ``active_s`` runs from the first
        request's arrival to the last answer's end, and ``mean_inflight`` is
        how many requests were being answered on average in that window (a
        crawler that keeps 8 connections busy scores close to 8);
        ``connection_gap_ms_median`` is the time on one keep-alive
        connection from this server's last write of an answer to its handler
        starting on the next request: the client's turnaround plus the time
        both processes take to wake up, read and parse (bench/README.md has
        the parts, measured on both sides)."""
        with self.lock:
            active = (self.last_end - self.first_start) if self.last_end else 0.0
            return {
                "active_s": round(active, 3),
                "mean_inflight": round(self.busy_s / active, 2) if active else 0.0,
                "connection_gap_ms_median": round(1000 * median(self.gaps), 2) if self.gaps else None,
                "requests": sum(self.requests.values()),
                "distinct_paths": len(self.requests),
                "refetched_paths": sum(1 for n in self.requests.values() if n > 1),
                "max_inflight": self.max_inflight,
                "bytes_sent": self.bytes_sent,
            }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
