"""Shared fixtures. Helpers that are not fixtures live in plain modules beside
this file (``servers.py``: misbehaving HTTP servers; ``warcs.py``: WARC files
built byte by byte and the warcio checks; ``webservers.py``: real nginx and
Apache; ``daskcluster.py``: a real Dask scheduler and workers), so test
modules never import one another."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from daskcluster import DaskCluster
from servers import TestServer


@pytest.fixture
def apache_dir():
    """A directory Apache's unprivileged worker can read (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="archiver-apache-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def test_server():
    """A started :class:`TestServer` with the default routes."""
    with TestServer() as srv:
        yield srv


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs (needs root and mount; skipped elsewhere). Yields (path, resize)."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mountpoint)], check=True)

    try:
        yield mountpoint, resize
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@pytest.fixture(autouse=True)
def fresh_memo_caches():
    """Each test starts with the project's memo caches (functools.lru_cache) empty, so what a test
    exercises does not depend on which tests ran before it in the same process. Mutation testing
    (bench/mutation.py) relies on this: it learns which tests reach a function by running them."""
    for name, module in list(sys.modules.items()):
        if name == "archiver" or name.startswith("archiver."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                    value.cache_clear()
    yield


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A running :class:`DaskCluster` (a scheduler and two one-thread workers on 127.0.0.1), shared by the
    tests of one module (starting one costs seconds); stopped, children included, however the tests end."""
    with DaskCluster(tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster
