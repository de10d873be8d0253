"""One run per job at a time: ``flock`` on ``OUT/<name>/.lock``.

The kernel drops an flock when its holder dies, however it dies, so a lock
left by a killed run is simply free and the next run takes it over. The file
also records who holds it (pid, host, start), which makes the "already
running" message useful and covers the case where the flock is still held by
a leftover child of a dead run on this host: then the recorded pid is gone
and the lock file is replaced.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

from archiver.errors import LockHeldError

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096) or b"{}")
    except (OSError, ValueError):
        return {}


class JobLock:
    """Exclusive, non-blocking lock of a job directory (or of one file another part
    writes, such as a decisions file); a context manager."""

    def __init__(self, path: Path | str, *, busy: str = "another run of this job is in progress"):
        self.path = Path(path)
        self.busy = busy  # what the lock being held means, for the message
        self.stale_holder: dict | None = None  # what a taken-over stale lock said
        self._fd: int | None = None

    def acquire(self) -> "JobLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(2):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                if attempt == 0 and self._orphaned(holder):
                    log.warning("lock %s is held for pid %s, which is gone; replacing it", self.path, holder.get("pid"))
                    self.path.unlink(missing_ok=True)
                    continue
                raise LockHeldError(self._held_message(holder)) from None
            holder = _read_holder(fd)
            if holder.get("pid"):
                self.stale_holder = holder
                log.warning("taking over a stale lock left by pid %s (started %s)", holder.get("pid"), holder.get("started"))
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            os.write(fd, json.dumps(info).encode())
            os.fsync(fd)
            self._fd = fd
            return self
        raise LockHeldError(f"cannot take the lock {self.path}")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file says: released cleanly
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JobLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    @staticmethod
    def _orphaned(holder: dict) -> bool:
        """Held, but by a dead process on this host (e.g. the lock fd leaked to a child)."""
        pid = holder.get("pid")
        return isinstance(pid, int) and holder.get("host") == socket.gethostname() and not _pid_alive(pid)

    def _held_message(self, holder: dict) -> str:
        who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
        return f"{self.busy} ({who}); lock file {self.path}"
