"""Netlify ``_redirects`` (also read by Cloudflare Pages).

One ``from [query params] to status`` rule per line, ``#`` comments. Choices:

- ``from`` is the old path (percent-encoded, case-sensitive as Netlify
  matches it); ``*`` and a segment starting with ``:`` are Netlify syntax
  (splat, placeholder), so they are written ``%2A`` / ``%3A``. When the old
  URLs span several host names, ``from`` is the absolute URL (Netlify's
  domain-level rules).
- An old query string becomes Netlify's ``key=value`` parameters. Netlify
  matches a rule when those parameters are present (others may be too), and
  a rule without parameters matches any query, so rules with parameters come
  first. Queries Netlify cannot express (a repeated key, a key without
  ``=``, a value starting with ``:``) are skipped and reported.
- Netlify ignores trailing slashes when matching, so ``/a`` and ``/a/`` are
  one rule: the second is skipped and reported.
- Status is forced (``301!``, ``308!``) so a file still deployed at the old
  path does not shadow its redirect.
- Netlify has no 410 status. Gone rows are written as Netlify's documented
  custom-404 rewrite, ``/old /404.html 404!``: the page answers 404 rather
  than 410 (the legacy page is hidden either way).
- A rule flagged for review has a ``# review`` comment line above it.
- Cloudflare Pages reads the same file but allows 2,000 static rules of at
  most 1,000 characters, 301-308 only (no 404 rewrites): exceeding that is a
  warning in the export report.
"""
from __future__ import annotations

import re
from pathlib import Path

from .validate import REVIEW_COMMENT, Redirect

FILE = "_redirects"
PAGES_MAX_RULES = 2000
PAGES_MAX_RULE_LENGTH = 1000
GONE_PAGE = "/404.html"


def from_path(path: str) -> str:
    path = path.replace("*", "%2A")
    return re.sub(r"/:", "/%3A", path)


def query_params(query: str | None) -> list[str] | None:
    """Netlify ``key=value`` tokens for a query, or None if it cannot be said."""
    if not query:
        return []
    params, keys = [], set()
    for part in query.split("&"):
        key, sep, val = part.partition("=")
        if not sep or not key or key in keys or val.startswith(":") or key.startswith("#"):
            return None
        keys.add(key)
        params.append(part)
    return params


def write(redirects: list[Redirect], out_dir: Path) -> tuple[dict[str, Path], list[dict], list[str]]:
    actions = [r for r in redirects if r.is_redirect or r.is_gone]
    multi_host = len({r.old.host for r in actions}) > 1
    skipped: list[dict] = []
    rules: dict[tuple, tuple[tuple, str, Redirect]] = {}
    for item in actions:
        params = query_params(item.old.query)
        if params is None:
            skipped.append({"old_url": item.row.old_url, "reason": "query string not expressible as Netlify key=value parameters"})
            continue
        path = from_path(item.old.path)
        source = f"{item.old.scheme}://{item.old.netloc}{path}" if multi_host else path
        identity = (item.old.netloc if multi_host else "", path.rstrip("/") or "/", frozenset(params))
        if identity in rules:
            skipped.append({"old_url": item.row.old_url, "reason": f"Netlify ignores trailing slashes: same rule as {rules[identity][2].row.old_url}"})
            continue
        target = f"{GONE_PAGE} 404!" if item.is_gone else f"{item.new} {item.row.status}!"
        line = " ".join([source, *params, target])
        rules[identity] = ((identity[0], identity[1], -len(params), line), line, item)

    ordered = sorted(rules.values(), key=lambda r: r[0])
    lines = [line for _, line, _ in ordered]
    warnings = []
    if len(lines) > PAGES_MAX_RULES:
        warnings.append(f"_redirects: {len(lines)} rules; Cloudflare Pages reads only {PAGES_MAX_RULES} (Netlify has no such limit)")
    too_long = sum(len(line) > PAGES_MAX_RULE_LENGTH for line in lines)
    if too_long:
        warnings.append(f"_redirects: {too_long} rules longer than {PAGES_MAX_RULE_LENGTH} characters, which Cloudflare Pages refuses")
    gone = sum(r[2].is_gone for r in rules.values())
    unsupported = sum(1 for (_, _, negative_params, _), _, item in rules.values() if item.is_gone or negative_params or multi_host)
    if unsupported:
        warnings.append(f"_redirects: {unsupported} rules use what Cloudflare Pages lacks (query parameters, "
                        "domain-level sources, 404 rewrites); for Cloudflare use redirects.cloudflare.csv")
    review = sum(1 for _, _, item in ordered if item.row.review)
    header = [
        f"# archiver redirects for Netlify: {len(lines) - gone} redirects, {gone} gone pages (404 rewrites: Netlify has no 410); "
        f"{review} flagged for review (marked '{REVIEW_COMMENT}').",
        "# Netlify ignores trailing slashes when matching; rules with query parameters come first.",
    ]
    body = []
    for _, line, item in ordered:
        if item.row.review:
            body.append(REVIEW_COMMENT)
        body.append(line)
    path = Path(out_dir) / FILE
    with path.open("w", encoding="ascii") as fh:
        fh.writelines(line + "\n" for line in header + body)
    return {"netlify": path}, skipped, warnings
