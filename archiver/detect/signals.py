"""Page-level signals read from one capture: Location, Refresh, JS, canonical.

Each function returns ``Signal`` objects whose targets are absolute URLs
resolved against the URL (or ``<base href>``) that sent them. Whether a target
is off-site, and where a chain of them ends, is decided later by ``detect``,
which sees the whole archive.
"""
from __future__ import annotations

import re

from archiver.types import Capture, Signal
from archiver.urls import parse_refresh, resolve_link

MAX_SCRIPT_CHARS = 200_000  # inline script text scanned per page

_JS_ASSIGN = re.compile(
    r"""(?:\b(?:window|document|top|self|parent|this)\s*\.\s*)?\blocation(?:\s*\.\s*href)?"""
    r"""\s*=(?!=)\s*(["'`])([^"'`\n]{1,2000})\1\s*(?=[;})\n,]|$)"""
)
_JS_CALL = re.compile(
    r"""(?:\b(?:window|document|top|self|parent|this)\s*\.\s*)?\blocation\s*\.\s*(?:replace|assign)"""
    r"""\s*\(\s*(["'`])([^"'`\n]{1,2000})\1\s*\)"""
)
_HANDLER = re.compile(r"\bfunction\b|=>|addEventListener|\bon[a-z]+\s*=|\.on\(|\.click\(")
_CONDITION = re.compile(r"\b(?:if|else|switch|case)\b|\?[^:]{0,200}$")


def snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def location_target(capture: Capture) -> str | None:
    """Where a 3xx answer points, resolved against the URL that sent it."""
    location = capture.header("location")
    return resolve_link(capture.url, location) if location else None


def _refresh_signal(content: str, base: str, source: str) -> Signal | None:
    refresh = parse_refresh(content)
    target = refresh and resolve_link(base, refresh[1])
    if not target:
        return None
    delay = refresh[0]
    strength = 1.0 if delay <= 5 else 0.8 if delay <= 30 else 0.5
    return Signal("meta_refresh", target, snippet(f"{source}: {content}"), strength)


def refresh_signals(capture: Capture, tree, base: str) -> list[Signal]:
    """<meta http-equiv=refresh> and the Refresh header (url= optional, quoted, relative)."""
    found = []
    header = capture.header("refresh")
    if header:
        signal = _refresh_signal(header, capture.url, "Refresh header")
        if signal:
            found.append(signal)
    if tree is not None:
        for content in tree.xpath(
            "//meta[translate(@http-equiv,'REFSH','refsh')='refresh']/@content"
        )[:3]:
            signal = _refresh_signal(content, base, '<meta http-equiv="refresh">')
            if signal:
                found.append(signal)
    return found


def _script_strength(script: str, start: int) -> float:
    """How unconditionally a location change runs: top level 1.0, handler 0.5."""
    before = script[max(0, start - 300): start]
    if "setTimeout" in before or "setInterval" in before:
        return 0.9
    if _HANDLER.search(before):
        return 0.5
    if _CONDITION.search(before[-120:]):
        return 0.5
    return 1.0


def js_signals(tree, base: str) -> list[Signal]:
    """location = / .href = / .replace() / .assign() with string literals in inline scripts."""
    if tree is None:
        return []
    scripts = [s for s in tree.xpath("//script[not(@src)]/text()") if "location" in s]
    scripts += [f"location={v}" if "location" not in v else v
                for v in tree.xpath("//body/@onload") if "location" in v]
    found: list[Signal] = []
    budget = MAX_SCRIPT_CHARS
    for script in scripts:
        script = script[:budget]
        budget -= len(script)
        for pattern in (_JS_ASSIGN, _JS_CALL):
            for match in pattern.finditer(script):
                target = resolve_link(base, match.group(2))
                if target:
                    found.append(Signal("js_redirect", target, snippet(match.group(0)),
                                        _script_strength(script, match.start())))
        if budget <= 0:
            break
    found.sort(key=lambda s: -s.strength)
    return found


_LINK_HEADER = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def canonical_signals(capture: Capture, tree, base: str) -> list[Signal]:
    """<link rel=canonical> and ``Link: <...>; rel="canonical"`` (any host; filtered later)."""
    found = []
    if tree is not None:
        for href in tree.xpath(
            "//link[contains(concat(' ', translate(@rel,'CANONICAL','canonical'), ' '),"
            " ' canonical ')]/@href"
        )[:2]:
            target = resolve_link(base, href)
            if target:
                found.append(Signal("canonical", target, snippet(f'<link rel="canonical" href="{href}">'), 0.9))
    for key, value in capture.headers:
        if key.lower() != "link":
            continue
        for match in _LINK_HEADER.finditer(value):
            if re.search(r"""rel\s*=\s*"?[^";,]*\bcanonical\b""", match.group(2), re.IGNORECASE):
                target = resolve_link(capture.url, match.group(1))
                if target:
                    found.append(Signal("canonical", target, snippet(f"Link: {match.group(0)}"), 0.9))
    return found
