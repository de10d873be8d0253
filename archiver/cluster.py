"""Where tasks run: in this process, on a local Dask cluster, or on a remote one.

Every stage that fans out (the job's per-site crawls and mappings, the
audit's and detection's per-file or per-byte-range scans) takes a
``concurrent.futures.Executor`` and nothing else, so one code path serves
all three cases; only :func:`open_executor` knows which it is:

- no flag: ``InlineExecutor`` runs each task when it is submitted, in this
  process (the default for a single site on one machine: no scheduler, no
  pickling);
- ``workers=N``: an embedded Dask ``LocalCluster`` of N worker processes;
- ``scheduler="tcp://host:8786"``: an existing cluster started with
  ``dask scheduler`` / ``dask worker`` (or dask-kubernetes, dask-jobqueue).

Tasks take paths and settings and return small summaries; WARC files,
SQLite state and indexes stay on the filesystem every worker shares.
"""
from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Executor, Future
from typing import Callable, Iterator

from archiver.errors import UsageError

log = logging.getLogger(__name__)


class InlineExecutor(Executor):
    """An Executor that runs each task at once, in the caller's process and thread."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as any Executor does
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def open_executor(*, workers: int | None = None, scheduler: str | None = None) -> Iterator[tuple[Executor, str]]:
    """Yield ``(executor, description)``; the description names the cluster for summaries."""
    if workers is not None and scheduler is not None:
        raise UsageError("give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both")
    if workers is None and scheduler is None:
        yield InlineExecutor(), "in-process"
        return
    if workers is not None and workers < 1:
        raise UsageError(f"--workers: expected a number > 0, got {workers}")
    from distributed import Client, LocalCluster  # only when a cluster is asked for: it costs a second to import

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
            description = f"dask scheduler {scheduler}"
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
            description = f"local dask cluster, {workers} worker{'s' if workers != 1 else ''}"
        log.info("running on %s", description)
        yield client.get_executor(pure=False), description
