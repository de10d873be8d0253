"""Apache httpd: a ``RewriteMap`` text file and the mod_rewrite rules using it.

- ``redirects.apache.map.txt``: ``key value`` per line; the key is the raw
  request target (path and query as sent; with several old host names,
  ``host`` + request target), the value ``301:URL``, ``308:URL`` or ``410``
  so one lookup gives each row its own status. Keys and values hold no
  whitespace (URLs are percent-encoded) and never start with ``#``. For large
  maps, ``httxt2dbm -i redirects.apache.map.txt -o redirects.map`` and
  ``dbm:`` in the ``RewriteMap`` line are faster.
- ``redirects.apache.conf``: ``RewriteEngine``/``RewriteMap``/``RewriteCond``/
  ``RewriteRule`` for the **server config or a <VirtualHost>** of the old site.
  ``RewriteMap`` is not allowed in ``.htaccess`` (and ``Redirect``/
  ``.htaccess`` prefix matching would be wrong for an exact map).

The key is taken from ``%{THE_REQUEST}``, not ``%{REQUEST_URI}``: REQUEST_URI
is decoded (``%20`` becomes a space, which a map key cannot hold) and has no
query string, whereas THE_REQUEST carries the target exactly as the client
sent it, as nginx's ``$request_uri`` does. Matching is case-sensitive and
exact. ``[NE]`` keeps the target's percent-escapes as written, ``[QSD]``
keeps the request's query from being appended to the target.
``UnsafeAllow3F`` (Apache 2.4.60+, and every distribution build carrying the
CVE-2024-38474 fix) lets a target hold a ``?``: it is safe here because the
target comes from the validated map, never from the client's request.

The ``RewriteMap`` line names the map by its absolute path in ``map_dir``:
the directory the server reads the files from. A scheduled job passes
``OUT/<name>/latest``, which retention never deletes, rather than the run
directory, which it eventually does (mod_rewrite re-reads a text map when it
changes; reload Apache after a run so the rules in the conf match too).

Rows flagged for review get a ``# review`` comment line just above them
(mod_rewrite skips lines starting with ``#``).

mod_rewrite reads text maps in lines of at most 1024 bytes, so a longer
row would be cut into a wrong key/value pair: such rows are written as their
own rule in the conf instead (``RewriteCond %1 =key``, literal comparison).
"""
from __future__ import annotations

from pathlib import Path

from .validate import REVIEW_COMMENT, Redirect

MAP_FILE = "redirects.apache.map.txt"
CONF_FILE = "redirects.apache.conf"
MAP_NAME = "archiver_redirects"
MAX_MAP_LINE = 1000  # mod_rewrite's REWRITE_MAX_TXT_MAP_LINE is 1024, keep a margin
_TARGET = r"(?:[A-Za-z][A-Za-z0-9+.-]*://[^/\s]*)?(/\S*)"  # origin-form, or absolute-form minus scheme and host
_REQUEST = rf'RewriteCond %{{THE_REQUEST}} "^[A-Za-z]+\s+{_TARGET}"'
_HOST_REQUEST = [
    r'RewriteCond %{HTTP_HOST} "^(\[[^\]]+\]|[^:]+)"',
    rf'RewriteCond "${{archiver_lc:%1}}%{{THE_REQUEST}}" "^([^A-Z]+)[A-Z]+\s+{_TARGET}"',
]


def substitution(url: str) -> str:
    """A RewriteRule substitution that expands to exactly ``url``."""
    return "".join("\\" + ch if ch in "\\$%" else ch for ch in url)


def _map_value(item: Redirect) -> str:
    return "410" if item.is_gone else f"{item.row.status}:{item.new}"


def write(redirects: list[Redirect], out_dir: Path, map_dir: Path | None = None) -> tuple[dict[str, Path], list[dict], list[str]]:
    out_dir = Path(out_dir).resolve()
    map_path = (Path(map_dir).absolute() if map_dir is not None else out_dir) / MAP_FILE
    actions = [r for r in redirects if r.is_redirect or r.is_gone]
    multi_host = len({r.old.host for r in actions}) > 1
    skipped: list[dict] = []
    by_key: dict[str, Redirect] = {}
    for item in actions:
        key = (item.old.host if multi_host else "") + item.old.request_target
        if key in by_key:
            skipped.append({"old_url": item.row.old_url, "reason": f"same Apache key as {by_key[key].row.old_url} (the port is not part of the key)"})
            continue
        by_key[key] = item

    request = _HOST_REQUEST if multi_host else [_REQUEST]
    lookup_key = "%1%2" if multi_host else "%1"
    map_lines, long_rules, long_count = [], [], 0
    for key in sorted(by_key):
        item = by_key[key]
        marker = [REVIEW_COMMENT] if item.row.review else []
        line = f"{key} {_map_value(item)}\n"
        if len(line.encode()) <= MAX_MAP_LINE:
            map_lines += [m + "\n" for m in marker] + [line]
            continue
        action = "- [G,L]" if item.is_gone else f"{substitution(str(item.new))} [R={item.row.status},NE,QSD,L,UnsafeAllow3F]"
        long_count += 1
        long_rules += [*marker, *request, f"RewriteCond {lookup_key} ={key}", f"RewriteRule ^ {action}", ""]
    review = sum(1 for item in by_key.values() if item.row.review)

    encoded_slash = any("%2F" in key for key in by_key)
    conf = [
        f"# archiver redirects: {len(by_key)} old URLs ({len(by_key) - long_count} in {MAP_FILE}, {long_count} as own rules); "
        f"{review} flagged for review, marked '{REVIEW_COMMENT}'.",
        "# Server config or <VirtualHost> context only: RewriteMap is not allowed in .htaccess.",
        "# Keys are the request target from THE_REQUEST, exactly as sent (REQUEST_URI is decoded).",
        "RewriteEngine On",
        f'RewriteMap {MAP_NAME} "txt:{map_path}"',
    ]
    if multi_host:
        conf.append("RewriteMap archiver_lc int:tolower")
    if encoded_slash:
        conf += ["# some old URLs hold %2F; without this Apache answers 404 before mod_rewrite runs",
                 "AllowEncodedSlashes NoDecode"]
    conf += [
        "",
        "# one map lookup per request: the raw request target (and host) is the key;",
        "# UnsafeAllow3F lets a target hold '?': it comes from the map, never from the client",
        *request,
        f"RewriteRule ^ - [E=ARCHIVER_KEY:{lookup_key}]",
        f'RewriteCond ${{{MAP_NAME}:%{{ENV:ARCHIVER_KEY}}}} "^(301|308):(.+)$"',
        "RewriteRule ^ - [E=ARCHIVER_STATUS:%1,E=ARCHIVER_TARGET:%2]",
    ]
    for status in (301, 308):
        conf += [f"RewriteCond %{{ENV:ARCHIVER_STATUS}} ={status}", f"RewriteRule ^ %{{ENV:ARCHIVER_TARGET}} [R={status},NE,QSD,L,UnsafeAllow3F]"]
    conf += [f"RewriteCond ${{{MAP_NAME}:%{{ENV:ARCHIVER_KEY}}}} =410", "RewriteRule ^ - [G,L]", ""]
    conf += long_rules

    paths = {"apache": out_dir / CONF_FILE, "apache.map": out_dir / MAP_FILE}
    paths["apache.map"].write_text("# archiver redirect map: key (raw request target) and status:target\n" + "".join(map_lines), encoding="ascii")
    paths["apache"].write_text("\n".join(conf) + "\n", encoding="ascii")
    return paths, skipped, []
