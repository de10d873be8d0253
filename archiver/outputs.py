"""Where a command writes its results, checked before it does any work.

A crawl, a mapping or an audit can take hours; finding out at the end that
the output directory is read-only, under ``/sys`` or a file rather than a
directory wastes them. Each command checks
its output locations first and stops with one line (``UsageError``, exit 2).
Writability is tested by creating a file, not with ``os.access``, which
says yes to root on a read-only mount and no to a user an ACL lets in.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from archiver.errors import UsageError


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def writable_dir(path, what: str = "output directory") -> Path:
    """``path`` as a directory this process can write into, created if missing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {what} {path}: {_why(exc)}") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".archiver-write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to {what} {path}: {_why(exc)}") from None
    return path


def writable_file(path, what: str = "output file") -> Path:
    """``path`` as a file this process can (re)write: not a directory, in a writable directory."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} {path} is a directory, not a file")
    writable_dir(path.absolute().parent, f"directory of {what}")
    if path.exists():
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot write {what} {path}: {_why(exc)}") from None
    return path
