"""The row source: the redirect manifest's rows and what each says the live
server must answer.

``redirects.csv`` (``old_url,new_url,status,kind,...``, as ``archiver map``
writes it) is read with its URLs normalised the way the export normalised
them (``archiver.export.urls.parse_url``), so the request target sent for an
old URL is the key the deployed map matches. A row that says nothing
(unmatched: no status) or cannot be checked (a broken URL, an unknown status)
is kept with its reason: it is reported as not checked, never dropped and
never counted as right.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import UsageError
from archiver.export.urls import URL, InvalidURL, parse_url

REDIRECT_STATUSES = (301, 308)
GONE = 410
REQUIRED_COLUMNS = ("old_url", "new_url", "status")


@dataclass(frozen=True)
class ExpectedRow:
    """One manifest row. ``old``/``new`` are the normalised URLs; ``problem``
    says why the row cannot be checked ("" when it can)."""

    old_url: str
    status: int | None
    new_url: str | None
    kind: str = ""
    old: URL | None = None
    new: URL | None = None
    problem: str = ""

    @property
    def checkable(self) -> bool:
        return not self.problem

    @property
    def is_gone(self) -> bool:
        return self.status == GONE


def expected_row(old_url: str, new_url: str | None, status: str | int | None, kind: str = "") -> ExpectedRow:
    """An ``ExpectedRow`` from the manifest's cells, with the reason when it cannot be checked."""
    old_url, new_url = (old_url or "").strip(), (new_url or "").strip() or None
    text = "" if status is None else str(status).strip()
    try:
        old = parse_url(old_url, keep_fragment=False)
    except InvalidURL as exc:
        return ExpectedRow(old_url, None, new_url, kind, problem=f"old URL is not usable: {exc}")
    if not text:
        return ExpectedRow(old_url, None, new_url, kind, old, problem="no status: the manifest expects nothing (unmatched)")
    if text not in ("301", "308", "410"):
        return ExpectedRow(old_url, None, new_url, kind, old, problem=f"status {text[:20]!r} is not 301, 308 or 410")
    code = int(text)
    if code == GONE:
        return ExpectedRow(old_url, code, None, kind, old)
    if new_url is None:
        return ExpectedRow(old_url, code, None, kind, old, problem=f"status {code} without a new URL")
    try:
        new = parse_url(new_url)
    except InvalidURL as exc:
        return ExpectedRow(old_url, code, new_url, kind, old, problem=f"new URL is not usable: {exc}")
    return ExpectedRow(old_url, code, new_url, kind, old, new)


def read_rows(path: Path | str) -> list[ExpectedRow]:
    """Every row of a ``redirects.csv``; a file that is not one raises ``UsageError``."""
    path = Path(path)
    rows: list[ExpectedRow] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UsageError(f"{path}: not a redirect manifest: no {', '.join(missing)} column "
                                 f"(expected old_url,new_url,status,kind,...)")
            for record in reader:
                rows.append(expected_row(record.get("old_url") or "", record.get("new_url"), record.get("status"),
                                         (record.get("kind") or "").strip()))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise UsageError(f"{path}: not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if not rows:
        raise UsageError(f"{path}: the redirect manifest has no rows")
    return rows
