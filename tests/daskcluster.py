"""A real Dask cluster for tests: one ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1.

Started from the venv's own ``dask`` command, on a free port (``--port 0``;
the address is read from ``--scheduler-file``), without dashboards, each
worker with one thread, no nanny (the process a test kills is the worker
itself) and its own directory. Every process runs in its own session, so
stopping kills its whole process group, children included.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT = 120.0  # seconds for a process to come up on a loaded machine
STOP_TIMEOUT = 10.0


class DaskCluster:
    """``with DaskCluster(directory) as cluster``: ``cluster.address`` is the scheduler's tcp:// address."""

    def __init__(self, directory: Path, workers: int = 2):
        self.directory = Path(directory)
        self.wanted = workers
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""
        self._started = 0

    def __enter__(self) -> "DaskCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.directory / f"{name}.log", "wb") as log:
            return subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                                    start_new_session=True)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.directory / "scheduler.json"
        self.scheduler = self._spawn("scheduler", [
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)])
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            self._check_alive(self.scheduler, "scheduler")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.05)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(self.wanted):
            self.add_worker()
        self.wait_for_workers()

    def add_worker(self) -> subprocess.Popen:
        self._started += 1
        name = f"worker-{self._started}"
        worker = self._spawn(name, [
            "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
            "--dashboard-address", "127.0.0.1:0", "--local-directory", str(self.directory / name)])
        self.workers.append(worker)
        return worker

    def alive(self) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def wait_for_workers(self) -> None:
        """Until the scheduler lists exactly the worker processes that are alive (as seen by a Client)."""
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                names = {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
                wanted = {self._name(w) for w in self.alive()}
                if names == wanted:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers {sorted(wanted)} not registered (scheduler lists {sorted(names)})")
                time.sleep(0.1)

    @staticmethod
    def _name(worker: subprocess.Popen) -> str:
        return worker.args[worker.args.index("--name") + 1]

    def ensure_workers(self) -> None:
        """Back to the wanted number of live workers (after a test killed some)."""
        for _ in range(self.wanted - len(self.alive())):
            self.add_worker()
        self.wait_for_workers()

    def kill(self, pid: int) -> None:
        """SIGKILL one of this cluster's workers."""
        if pid not in {w.pid for w in self.alive()}:
            raise ValueError(f"{pid} is not a live worker of this cluster")
        os.kill(pid, signal.SIGKILL)
        next(w for w in self.workers if w.pid == pid).wait(STOP_TIMEOUT)

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _check_alive(self, process: subprocess.Popen, name: str) -> None:
        if process.poll() is not None:
            raise RuntimeError(f"dask {name} exited ({process.returncode}): {self.log(name)}")

    def stop(self) -> None:
        """Stop every process this cluster started, workers first, and their children."""
        for process in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group (it runs in its own session: it and its children), SIGKILL to what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(STOP_TIMEOUT)
