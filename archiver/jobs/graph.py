"""A task graph run through any ``concurrent.futures.Executor``: in this process or on a Dask cluster.

Each node names the nodes it needs and builds its call from their results
when they are done (``make(results) -> (function, *args)``), so the same
graph runs inline (each task runs when it is submitted), on a local Dask
cluster or on a remote one (``archiver.cluster``), and dependencies never
travel as Dask futures: a task receives paths and settings only.

A node whose ``needs`` failed is skipped; a node may also wait for nodes
without needing them to succeed (``after``: the new site's crawl waits for
every site's detection, and goes on without a site that failed). The other
nodes run on, so one unreachable legacy site does not stop the rest of a
programme. Ready nodes are submitted in the order they were added.

Progress is one log line per finished task: its group (a site, the new
site, the job), what it did, and the tasks done of its group and of all.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

Make = Callable[[dict[str, Any]], tuple]


@dataclass
class Node:
    key: str
    group: str  # the site it works for; "new" for the new site, "job" for the whole run
    label: str  # what it does: "crawl", "detect", ...
    make: Make
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


class Skipped(Exception):
    """A node not run because a node it needs failed."""


class TaskGraph:
    def __init__(self, name: str = "job") -> None:
        self.name = name
        self.nodes: dict[str, Node] = {}

    def add(self, key: str, group: str, label: str, make: Make, *, needs=(), after=()) -> str:
        missing = [k for k in (*needs, *after) if k not in self.nodes]
        if missing:
            raise ValueError(f"{key}: needs {missing[0]}, which is not in the graph (add nodes in order)")
        self.nodes[key] = Node(key, group, label, make, tuple(needs), tuple(after))
        return key

    def run(self, executor: Executor) -> tuple[dict[str, Any], dict[str, BaseException]]:
        """Run every node; returns (results, failures) by key (a skipped node fails with ``Skipped``).
        Ctrl-C and SystemExit in a task stop the run at once."""
        results: dict[str, Any] = {}
        failures: dict[str, BaseException] = {}
        waiting = dict(self.nodes)
        running: dict[Future, tuple[str, float]] = {}
        done_in: dict[str, int] = {}
        total_in: dict[str, int] = {}
        for node in self.nodes.values():
            total_in[node.group] = total_in.get(node.group, 0) + 1
        while waiting or running:
            for key, node in list(waiting.items()):
                failed = next((k for k in node.needs if k in failures), None)
                if failed is not None:
                    del waiting[key]
                    failures[key] = Skipped(f"not run: {self.nodes[failed].group} {self.nodes[failed].label} failed")
                    continue
                if all(k in results for k in node.needs) and all(k in results or k in failures for k in node.after):
                    del waiting[key]
                    try:
                        function, *args = node.make(results)
                        future = executor.submit(function, *args)
                    except Exception as exc:  # making the call failed: the node failed
                        failures[key] = exc
                        continue
                    running[future] = (key, time.monotonic())
            if not running:
                if waiting:  # every remaining node waits on something that will never come
                    raise RuntimeError(f"task graph stuck at {', '.join(waiting)}")
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: list(self.nodes).index(running[f][0])):
                key, started = running.pop(future)
                node = self.nodes[key]
                try:
                    results[key] = future.result()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # a task's own error, or its worker's or scheduler's loss
                    failures[key] = exc
                done_in[node.group] = done_in.get(node.group, 0) + 1
                outcome = "failed" if key in failures else "done"
                log.info("%s: %s %s %s in %.1f s (%d of %d tasks of %s; %d of %d in all)", self.name, node.group,
                         node.label, outcome, time.monotonic() - started, done_in[node.group], total_in[node.group],
                         node.group, sum(done_in.values()), len(self.nodes))
        return results, failures
