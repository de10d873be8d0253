"""Where tasks run: in this process, in local processes, on a local Dask cluster, or on a remote one.

Every stage that fans out (the job's per-site crawls and mappings, the
audit's and detection's per-file or per-byte-range scans) takes a
``concurrent.futures.Executor`` and nothing else, so one code path serves
every case; only :func:`open_executor` knows which it is:

- no flag: ``InlineExecutor`` runs each task when it is submitted, in this
  process (no scheduler, no pickling), or with ``local_processes`` a pool of
  one process per CPU (the audit's and detection's default);
- ``workers=N``: an embedded Dask ``LocalCluster`` of N worker processes;
- ``scheduler="tcp://host:8786"``: an existing cluster started with
  ``dask scheduler`` / ``dask worker`` (or dask-kubernetes, dask-jobqueue).

Tasks take paths and settings and return small summaries; WARC files,
SQLite state and indexes stay on the filesystem every worker shares, which
:func:`open_executor` checks on every worker before anything runs.
:func:`map_in_order` submits tasks through any of these executors, a bounded
window at a time, hands results back in task order, logs progress, and turns
a lost worker or scheduler into one line.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections import deque
from concurrent.futures import BrokenExecutor, CancelledError, Executor, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import archiver
from archiver.errors import ArchiverError, UsageError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler's port
WORKERS_TIMEOUT = 300.0  # seconds to wait for a first worker (batch systems start them late)
WINDOW = 1000  # tasks submitted ahead of the one whose result is wanted next
PROGRESS_INTERVAL = 5.0
TEST_GATE = "ARCHIVER_TEST_TASK_GATE"  # tests only: a directory; tasks wait while DIR/closed exists


class InlineExecutor(Executor):
    """An Executor that runs each task at once, in the caller's process and thread."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as any Executor does
            future.set_exception(exc)
        return future


def add_cluster_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """``--workers N`` and ``--scheduler ADDRESS``; ``default`` says where tasks run without either."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, metavar="N",
                       help=f"run on a local Dask cluster of N worker processes (default: {default})")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster (tcp://HOST:8786); every worker must see the input "
                            "and output paths")


@contextlib.contextmanager
def open_executor(*, workers: int | None = None, scheduler: str | None = None, local_processes: bool = False,
                  shared_paths: Iterable[str | os.PathLike] = ()) -> Iterator[tuple[Executor, str]]:
    """Yield ``(executor, description)``; the description names the cluster for summaries.

    ``shared_paths`` must be readable on every worker of an existing cluster
    (the WARC files, the output directory): a worker that cannot see one, or
    runs another archiver or Python version, is a UsageError before any task
    runs.
    """
    if workers is not None and scheduler is not None:
        raise UsageError("give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers: expected a number > 0, got {workers}")
    if workers is None and scheduler is None:
        cpus = os.cpu_count() or 1
        if not local_processes or cpus < 2:
            yield InlineExecutor(), "in-process"
            return
        pool = ProcessPoolExecutor(max_workers=cpus)
        try:
            yield pool, f"{cpus} local processes"
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    import dask  # only when a cluster is asked for: it costs a second to import
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.DEBUG):  # Dask's own INFO lines (every connection) only with --verbose
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            address = _reachable(scheduler)
            try:
                client = stack.enter_context(Client(address, timeout=f"{CONNECT_TIMEOUT}s"))
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
            _check_workers(client, address, [str(p) for p in shared_paths])
            info = client.nthreads()
            description = (f"dask scheduler {address} ({len(info)} worker{'s' if len(info) != 1 else ''}, "
                           f"{sum(info.values())} threads)")
        else:
            # the scheduler's HTTP server always starts: on a free loopback port, not 8787 (another run's); no
            # dashboard shows the workers' statistical profiler here, which would sample every task's stack
            # every 10 ms (the nanny hands this setting to each worker process)
            stack.enter_context(dask.config.set({"distributed.worker.profile.enabled": False}))
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       host="127.0.0.1", dashboard_address="127.0.0.1:0"))
            client = stack.enter_context(Client(cluster))
            description = f"local dask cluster, {workers} worker{'s' if workers != 1 else ''}"
        log.info("running on %s", description)
        yield client.get_executor(pure=False), description


def _reachable(scheduler: str) -> str:
    """The scheduler's address with its scheme; a TCP address where nothing listens is a UsageError at once
    (the Dask client would retry until its time-out)."""
    address = scheduler.strip()
    if "://" not in address:
        address = f"tcp://{address}"
    scheme, _, rest = address.partition("://")
    if scheme not in ("tcp", "tls"):
        return address
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise UsageError(f"--scheduler {scheduler}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise UsageError(f"--scheduler {scheduler}: cannot connect ({reason}); is `dask scheduler` running "
                         "there?") from None
    return address


def worker_environment(paths: list[str]) -> dict:
    """What a worker runs and which of ``paths`` it cannot see (run on each worker)."""
    return {"archiver": archiver.__version__, "python": sys.version.split()[0],
            "missing": [p for p in paths if not os.path.exists(p)]}


def _check_workers(client, address: str, paths: list[str]) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError:
        raise UsageError(f"--scheduler {address}: no worker joined within {WORKERS_TIMEOUT:.0f} s") from None
    here = worker_environment([])
    for worker, seen in sorted(client.run(worker_environment, paths).items()):
        for key in ("archiver", "python"):
            if seen[key] != here[key]:
                raise UsageError(f"worker {worker} runs {key} {seen[key]}, this client {here[key]}: install the "
                                 "same version on every node")
        if seen["missing"]:
            raise UsageError(f"worker {worker} cannot see {seen['missing'][0]}: inputs and outputs must be on a "
                             "path every worker shares (NFS or a cluster filesystem)")


def map_in_order(executor: Executor, fn: Callable, tasks: Sequence[tuple], *, what: str = "tasks",
                 window: int = WINDOW, interval: float = PROGRESS_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> Iterator:
    """``fn(*task)`` for every task, results yielded in task order.

    At most ``window`` tasks are submitted ahead of the result wanted next,
    so neither the scheduler nor this process holds the whole collection's
    results at once. Every ``interval`` seconds (by ``clock``) a log line
    says how many tasks are done. A task whose worker died every time it ran
    it, a broken process pool or a lost scheduler is an ArchiverError.
    """
    total = len(tasks)
    done = _DoneCounter()
    pending: deque[Future] = deque()
    submitted = 0
    last = clock()
    try:
        for _ in range(total):
            while submitted < total and len(pending) < window:
                future = executor.submit(_run_task, fn, tasks[submitted])
                future.add_done_callback(done.add)
                pending.append(future)
                submitted += 1
            future = pending.popleft()
            while True:
                finished = wait([future], timeout=interval).done
                if clock() - last >= interval:
                    last = clock()
                    log.info("%s: %d of %d tasks done", what, done.count, total)
                if finished:
                    break
            yield future.result()
    except BaseException as exc:
        failure = _failure(exc, what)
        if failure is None:
            raise
        raise failure from None
    finally:
        for future in pending:
            future.cancel()


class _DoneCounter:
    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self, _future: Future) -> None:
        with self._lock:
            self.count += 1


def _failure(exc: BaseException, what: str) -> ArchiverError | None:
    """The one line for a task that could not run to its end because its worker, pool or scheduler went."""
    if type(exc).__name__ == "KilledWorker":
        return ArchiverError(f"{what}: a task was running on every worker that died while running it ({exc}); "
                             "out of memory? see the workers' logs")
    if isinstance(exc, BrokenExecutor):
        return ArchiverError(f"{what}: a worker process died (killed, or out of memory): {exc}")
    if isinstance(exc, CancelledError):
        return ArchiverError(f"{what}: the cluster cancelled a task (lost connection to the scheduler?)")
    return None


def _run_task(fn: Callable, task: tuple):
    """One task, where it runs; ``ARCHIVER_TEST_TASK_GATE`` lets a test hold tasks there (to kill their worker)."""
    gate = os.environ.get(TEST_GATE)
    if gate:
        _wait_at_gate(Path(gate))
    return fn(*task)


def _wait_at_gate(gate: Path) -> None:
    if not (gate / "closed").exists():
        return
    (gate / "started").mkdir(exist_ok=True)
    (gate / "started" / f"{os.getpid()}-{uuid.uuid4().hex}").touch()
    while (gate / "closed").exists():
        time.sleep(0.02)
