"""Settings declared once, checked the same way wherever they come from.

A settings dataclass (``CrawlConfig``, the job manifest's tables) declares
each setting with :func:`setting`: its default and its *kind*, the rule a
value must follow ("an integer > 0", "a list of http(s) URLs"). From that one
declaration a TOML table is read with unknown keys and wrong values named
(``[crawl] concurrency: expected an integer > 0, got 'four'``), and a config
built in code or from a command line is checked with the same rules, so the
manifest, the CLI and the library cannot drift apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any, Iterable
from urllib.parse import urlsplit

from archiver.errors import UsageError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]*\*?)")

EXPECTED = {
    "int": "an integer",
    "positive_int": "an integer > 0",
    "count": "an integer >= 0",
    "seconds": "a number >= 0",
    "positive_seconds": "a number > 0",
    "fraction": "a number from 0 to 1",
    "bool": "true or false",
    "line": "a string",
    "name": "a string",
    "path": "a string",
    "strings": "a list of strings",
    "urls": "a list of http(s) URLs",
    "origin": "an http(s) URL of the form scheme://host[:port]",
    "regexes": "a list of regular expressions",
    "hosts": "a list of host names",
    "media_types": "a list of media types such as \"image/*\" or \"application/zip\"",
    "headers": "a table of header = \"value\" strings",
    "rules": "a list of {pattern = \"regex\", target = \"URL\"} tables",
    "redirect_status": "301 or 308",
}


def setting(default: Any = dataclasses.MISSING, *, kind: str, key: str | None = None,
            default_factory: Any = dataclasses.MISSING, choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field that is a user setting of ``kind`` (a key of ``EXPECTED``,
    or "choice" with ``choices``). ``key`` is its name in a TOML table when that
    differs from the field's name."""
    if kind not in EXPECTED and kind != "choice":
        raise ValueError(f"unknown setting kind {kind!r}")
    metadata = {"kind": kind, "key": key, "choices": choices}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def settings_of(cls) -> dict[str, dataclasses.Field]:
    """TOML key -> field, for the fields of ``cls`` declared with :func:`setting`."""
    return {(f.metadata.get("key") or f.name): f for f in dataclasses.fields(cls) if "kind" in f.metadata}


def read_table(cls, table: Any, section: str, source: str, *, tables: Iterable[str] = ()) -> dict[str, Any]:
    """Field name -> value for a TOML table of ``cls``'s settings; unknown keys and
    bad values raise one-line ``UsageError`` naming ``[section] key``. ``tables``:
    the sub-tables the caller reads itself (named in the unknown-key message)."""
    where = f"[{section}] " if section else ""
    if not isinstance(table, dict):
        raise UsageError(f"{source}: [{section}]: expected a table, got {table!r}")
    known = settings_of(cls)
    values = {}
    for key, value in table.items():
        field = known.get(key)
        if field is None:
            names = ", ".join(sorted([*known, *tables]))
            if isinstance(value, dict):
                raise UsageError(f"{source}: [{section + '.' if section else ''}{key}]: unknown table (expected one of: {names})")
            raise UsageError(f"{source}: {where}{key}: unknown key (expected one of: {names})")
        problem = check(field.metadata["kind"], value, field.metadata["choices"])
        if problem is not None:
            raise UsageError(f"{source}: {where}{key}: {problem}")
        values[field.name] = value
    return values


def check_settings(obj: Any) -> None:
    """Raise ``UsageError`` ("name: problem") for the first setting of ``obj`` that
    breaks its rule; ``None`` passes (an optional setting left unset)."""
    for key, field in settings_of(type(obj)).items():
        value = getattr(obj, field.name)
        if value is None:
            continue
        if isinstance(value, tuple) and field.metadata["kind"] in ("strings", "urls", "regexes", "hosts", "media_types"):
            value = list(value)
        problem = check(field.metadata["kind"], value, field.metadata["choices"])
        if problem is not None:
            raise UsageError(f"{key}: {problem}")


def url_problem(url: Any) -> str | None:
    """None for an absolute http(s) URL without white space, else what is wrong."""
    if not isinstance(url, str):
        return f"expected a URL string, got {url!r}"
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError:
        return f"not a valid URL: {url!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {url!r}"
    if any(c.isspace() for c in url):
        return f"URL contains white space: {url!r}"
    return None


def origin_problem(url: Any) -> str | None:
    """None for ``scheme://host[:port]`` (a trailing ``/`` allowed), else what is wrong:
    a server is addressed by its origin, and a path would silently be ignored."""
    problem = url_problem(url)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url:
        return f"expected scheme://host[:port] without a path or query, got {url!r}"
    if parts.username is not None or parts.password is not None:
        return f"credentials in the URL: {url!r}"
    return None


def ratio_argument(value: str) -> float:
    """An argparse ``type`` for ``--fail-under``: ``0.95`` or ``95%``."""
    text = value.strip()
    try:
        ratio = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a ratio: {value!r} (use e.g. 0.95 or 95%)") from None
    if not 0 <= ratio <= 1:
        raise argparse.ArgumentTypeError(f"ratio out of range 0..1: {value!r}")
    return ratio


SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def size_argument(value: str) -> int:
    """An argparse ``type`` for a size in bytes: ``65536``, ``64k``, ``64M``, ``1G`` (binary units)."""
    text = value.strip().lower().removesuffix("b").removesuffix("i")
    unit = text[-1:] if text[-1:] in SIZE_UNITS else ""
    try:
        size = int(float(text[:len(text) - len(unit)]) * SIZE_UNITS[unit])
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a size: {value!r} (use e.g. 64M or 1G)") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"expected a size > 0, got {value!r}")
    return size

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value != float("inf")


def _regex_problem(pattern: Any, bad: str) -> str | None:
    if not isinstance(pattern, str):
        return bad
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"bad regular expression {pattern!r}: {exc}"
    return None


_SCALARS = {
    "int": _is_int,
    "positive_int": lambda v: _is_int(v) and v > 0,
    "count": lambda v: _is_int(v) and v >= 0,
    "seconds": lambda v: _is_number(v) and v >= 0,
    "positive_seconds": lambda v: _is_number(v) and v > 0,
    "fraction": lambda v: _is_number(v) and 0 <= v <= 1,
    "bool": lambda v: isinstance(v, bool),
    "line": lambda v: isinstance(v, str) and bool(v) and "\n" not in v and "\r" not in v,
    "path": lambda v: isinstance(v, str) and bool(v) and "\n" not in v and "\r" not in v,
    "redirect_status": lambda v: _is_int(v) and v in (301, 308),
}


def check(kind: str, value: Any, choices: tuple[str, ...] = ()) -> str | None:
    """None when ``value`` follows the rule of ``kind``, else what is wrong with it."""
    if kind == "choice":
        return None if value in choices else f"expected one of {', '.join(choices)}, got {value!r}"
    bad = f"expected {EXPECTED[kind]}, got {value!r}"
    if kind in _SCALARS:
        return None if _SCALARS[kind](value) else bad
    if kind == "origin":
        return origin_problem(value)
    if kind == "name":
        if not isinstance(value, str) or not NAME.fullmatch(value):
            return f"expected a name of letters, digits, '.', '_' or '-' (at most 64, usable as a directory name), got {value!r}"
        return None
    if kind == "headers":
        if not isinstance(value, dict):
            return bad
        for name, text in value.items():
            if not isinstance(text, str) or not HEADER_NAME.fullmatch(name):
                return f"{name}: expected a header name and a string value, got {text!r}"
            if "\r" in text or "\n" in text:
                return f"{name}: header value contains a line break"
        return None
    if not isinstance(value, list):
        return bad
    if kind == "strings":
        return None if all(isinstance(v, str) and v for v in value) else bad
    if kind == "urls":
        return next(filter(None, map(url_problem, value)), None)
    if kind == "regexes":
        return next(filter(None, (_regex_problem(p, bad) for p in value)), None)
    if kind == "hosts":
        return None if all(isinstance(h, str) and HOST.fullmatch(h) for h in value) else bad
    if kind == "media_types":
        return None if all(isinstance(t, str) and MEDIA_TYPE.fullmatch(t.lower()) for t in value) else bad
    if kind == "rules":
        for index, rule in enumerate(value, 1):
            if not isinstance(rule, dict) or set(rule) != {"pattern", "target"}:
                return f"rule {index}: {bad}"
            if not isinstance(rule["pattern"], str):
                return f"rule {index}: pattern: expected a regular expression string, got {rule['pattern']!r}"
            problem = _regex_problem(rule["pattern"], bad)
            if problem:
                return f"rule {index}: {problem}"
            problem = url_problem(rule["target"])
            if problem:
                return f"rule {index}: target: {problem}"
        return None
    raise AssertionError(f"unknown kind {kind}")
