"""nginx: ``map`` blocks for the ``http {}`` context, plus two small snippets.

Files written:

- ``redirects.nginx.conf``: three maps, include inside ``http {}``:
  ``$redirect_target`` (301 rows), ``$redirect_target_308`` (308 rows) and
  ``$redirect_gone`` (410 rows, value ``1``). Three maps because nginx's
  ``return`` takes a literal status: each row answers with its own status.
- ``redirects.nginx.server.conf``: the ``if (...) { return ...; }`` lines for
  the old site's ``server {}`` block (also shown in the map file's header).
- ``redirects.nginx.http.conf``: ``map_hash_max_size`` and
  ``map_hash_bucket_size`` computed from this map (nginx refuses to start
  when one key does not fit a hash bucket, and the default bucket holds keys
  of ~50 bytes only). Include it once per ``http {}``; when several maps
  share an nginx, keep the largest values.

nginx reads its configuration in 4 KB buffers and refuses a longer quoted
string, so old URLs longer than 1,000 bytes (up to the 32 KB validation
limit) are matched slice by slice through a chain of small maps (see
``_long_maps``), and ``redirects.nginx.http.conf`` then also raises
``large_client_header_buffers`` when a request line would exceed nginx's 8 KB
default. A target longer than 4 KB cannot be written and is skipped, reported.

Keys are ``$request_uri``: the path and query exactly as the client sends
them, not decoded or normalised (``$uri`` is decoded, merges slashes and
drops the query, so two distinct old URLs could meet). When the old URLs span
several host names the key is ``$host$request_uri`` (``$host`` is the
lower-case host name without port). nginx compares string keys without
regard to case, so an old URL also answers in other letter cases, except
where two old URLs differ only in case: those are written as case-sensitive
exact regexes (``~^...$``) so each keeps its own target.

Rows flagged for review end in a ``# review`` comment.

Escaping: every key and value is double-quoted with ``\\`` and ``"``
escaped; ``$`` in a value (nginx variable interpolation) is written ``%24``;
a key starting with ``~`` or ``\\``, or equal to ``default``, ``hostnames``,
``include`` or ``volatile``, gets a ``\\`` prefix (nginx strips it).
"""
from __future__ import annotations

from pathlib import Path

from .validate import REVIEW_COMMENT, Redirect

MAP_FILE = "redirects.nginx.conf"
SERVER_FILE = "redirects.nginx.server.conf"
HTTP_FILE = "redirects.nginx.http.conf"
_KEYWORDS = {"default", "hostnames", "include", "volatile"}
_POINTER = 8  # sizeof(void *) on the 64-bit builds nginx ships as
MAX_TOKEN = 4000  # nginx reads its configuration in 4 KB buffers: no quoted string may be longer
CHUNK = 1000  # old URLs longer than this are matched slice by slice (see _long_maps)
_DEFAULT_REQUEST_LINE = 8192  # large_client_header_buffers 4 8k
VARIABLES = {301: "$redirect_target", 308: "$redirect_target_308", 410: "$redirect_gone"}

SERVER_SNIPPET = """\
if ($redirect_gone) { return 410; }
if ($redirect_target_308) { return 308 $redirect_target_308; }
if ($redirect_target) { return 301 $redirect_target; }
"""


def quote(text: str) -> str:
    """A double-quoted nginx configuration string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_key(key: str) -> str:
    if key.startswith(("~", "\\")) or key in _KEYWORDS:
        key = "\\" + key
    return quote(key)


def regex_key(key: str) -> str:
    """A case-sensitive regex that matches exactly ``key``."""
    escaped = "".join(ch if ch.isascii() and ch.isalnum() else "\\" + ch for ch in key)
    return quote(f"~^{escaped}$")


def value(url: str) -> str:
    return quote(url.replace("$", "%24"))


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def hash_sizes(keys: list[str]) -> tuple[int, int]:
    """(map_hash_max_size, map_hash_bucket_size) that fit these string keys.

    nginx stores a key in ``pointer + align(len + 2, pointer)`` bytes and needs
    one more pointer per bucket; a bucket is sized to hold the longest key and
    about ten average ones, so a hash of about ``len(keys)`` buckets builds.
    """
    if not keys:
        return 2048, 64
    elts = [_POINTER + _align(len(k) + 2, _POINTER) for k in keys]
    average = sum(elts) / len(elts)
    bucket = _pow2(max(128, max(elts) + _POINTER, int(10 * average) + _POINTER))
    return max(2048, _pow2(len(keys))), bucket


def _long_maps(long_items: list[tuple[str, Redirect]], source: str) -> tuple[list[str], list[str], dict[int, str]]:
    """Maps matching keys longer than CHUNK, one slice of the request at a time.

    ``$archiver_slice_N`` is the N-th CHUNK-byte slice of the request (a regex
    capture); ``$archiver_state_N`` walks a trie of the keys' slices (each map
    key is ``previous state|slice``) and ends in ``=ID`` when the request ended
    exactly where a key does; ``$archiver_long_<status>`` maps that to the
    target. No configuration string gets longer than about CHUNK bytes.
    Slices are lower-cased, as nginx compares string keys in any case.
    """
    steps = max(-(-len(key) // CHUNK) for key, _ in long_items) + 1
    lines, hashed = [], []
    for i in range(steps):
        pattern = f"~^.{{{i * CHUNK}}}(.{{0,{CHUNK}}})" if i else f"~^(.{{0,{CHUNK}}})"
        lines.append(f"\nmap {source} $archiver_slice_{i} {{\n    default \"\";\n    {quote(pattern)} $1;\n}}\n")
    nodes: dict[tuple[str, ...], str] = {(): "0"}
    transitions: list[dict[str, str]] = [{} for _ in range(steps)]
    finals: dict[int, list[str]] = {status: [] for status in VARIABLES}
    for number, (key, item) in enumerate(long_items, 1):
        chunks = [key[j:j + CHUNK].lower() for j in range(0, len(key), CHUNK)]
        parent = "0"
        for i in range(len(chunks)):
            node = nodes.setdefault(tuple(chunks[: i + 1]), str(len(nodes)))
            transitions[i][f"{parent}|{chunks[i]}"] = node
            parent = node
        transitions[len(chunks)][f"{parent}|"] = f"={number}"
        hashed.append(f"={number}")
        marker = f"  {REVIEW_COMMENT}" if item.row.review else ""
        finals[item.row.status].append(f"    {quote(f'={number}')} {value(str(item.new)) if item.new else quote('1')};{marker}\n")
    for i in range(steps):
        previous = "0" if i == 0 else f"$archiver_state_{i - 1}"
        lines.append(f"\nmap \"{previous}|$archiver_slice_{i}\" $archiver_state_{i} {{\n    default \"\";\n")
        if i:
            lines.append(f"    {quote('~^(=[0-9]+)[|]$')} $1;\n")  # a key that already ended
        for map_key in sorted(transitions[i]):
            lines.append(f"    {string_key(map_key)} {quote(transitions[i][map_key])};\n")
            hashed.append(map_key)
        lines.append("}\n")
    for status, variable in VARIABLES.items():
        lines.append(f"\nmap $archiver_state_{steps - 1} $archiver_long_{status} {{\n    default \"\";\n")
        lines.extend(finals[status])
        lines.append("}\n")
    return lines, hashed, {status: f"$archiver_long_{status}" for status in VARIABLES}


def write(redirects: list[Redirect], out_dir: Path) -> tuple[dict[str, Path], list[dict], list[str]]:
    actions = [r for r in redirects if r.is_redirect or r.is_gone]
    multi_host = len({r.old.host for r in actions}) > 1
    source = "$host$request_uri" if multi_host else "$request_uri"
    skipped: list[dict] = []
    warnings: list[str] = []

    by_key: dict[str, Redirect] = {}
    for item in actions:
        key = (item.old.host if multi_host else "") + item.old.request_target
        if item.new and len(value(str(item.new))) > MAX_TOKEN:
            skipped.append({"old_url": item.row.old_url, "reason": f"target longer than nginx's configuration string limit ({MAX_TOKEN} bytes)"})
            continue
        if key in by_key:
            skipped.append({"old_url": item.row.old_url, "reason": f"same nginx key as {by_key[key].row.old_url} ({source} does not carry the port)"})
            continue
        by_key[key] = item
    folded: dict[str, int] = {}
    for key in by_key:
        folded[key.lower()] = folded.get(key.lower(), 0) + 1
    case_collisions = sorted(k for k in by_key if folded[k.lower()] > 1)
    if case_collisions:
        warnings.append(f"nginx: {len(case_collisions)} old URLs differ from another only in letter case; written as case-sensitive regex keys")

    blocks = {status: [] for status in VARIABLES}
    string_keys, long_items = [], []
    for key in sorted(by_key):
        item = by_key[key]
        if len(key) > CHUNK:
            if folded[key.lower()] > 1:
                skipped.append({"old_url": item.row.old_url, "reason": "a long old URL that differs from another only in letter case"})
            else:
                long_items.append((key, item))
            continue
        if folded[key.lower()] > 1:
            written_key = regex_key(key)
        else:
            written_key = string_key(key)
            string_keys.append(key)
        marker = f"  {REVIEW_COMMENT}" if item.row.review else ""
        blocks[item.row.status].append(f"    {written_key} {value(str(item.new)) if item.new else quote('1')};{marker}\n")

    long_lines, defaults = [], {status: '""' for status in VARIABLES}
    if long_items:
        long_lines, hashed, defaults = _long_maps(long_items, source)
        string_keys += hashed
    max_size, bucket_size = hash_sizes(string_keys)
    http_lines = [
        "# archiver: hash sizes for redirects.nginx.conf (include once inside http {}).\n",
        f"map_hash_max_size {max_size};\n",
        f"map_hash_bucket_size {bucket_size};\n",
    ]
    request_line = max((len(k) for k in by_key), default=0) + len("GET  HTTP/1.1\r\n")
    if request_line > _DEFAULT_REQUEST_LINE:
        http_lines.append(f"# the longest old URL needs a {request_line}-byte request line (nginx's default buffer: 8k)\n")
        http_lines.append(f"large_client_header_buffers 4 {_pow2(-(-request_line // 1024))}k;\n")

    counts = {s: len(b) for s, b in blocks.items()}
    header = [
        f"# archiver redirect map: {counts[301]} x 301, {counts[308]} x 308, {counts[410]} x 410"
        f"{f', {len(long_items)} long URLs matched slice by slice' if long_items else ''}; "
        f"{sum(1 for item in by_key.values() if item.row.review)} flagged for review (marked '{REVIEW_COMMENT}').\n",
        "# Inside http {}:\n",
        f"#     include {HTTP_FILE};   # map_hash_max_size {max_size}; map_hash_bucket_size {bucket_size};\n",
        f"#     include {MAP_FILE};\n",
        f"# In the old site's server {{}} (or include {SERVER_FILE}):\n",
        *[f"#     {line}\n" for line in SERVER_SNIPPET.splitlines()],
        f"# Keys: {source}, raw as the client sends it (not decoded); string keys match\n",
        "# in any letter case; old URLs that differ only in case are case-sensitive regexes.\n",
    ]
    body = []
    for status, variable in VARIABLES.items():
        body.append(f"\nmap {source} {variable} {{\n    default {defaults[status]};\n")
        body.extend(blocks[status])
        body.append("}\n")

    out_dir = Path(out_dir)
    paths = {"nginx": out_dir / MAP_FILE, "nginx.server": out_dir / SERVER_FILE, "nginx.http": out_dir / HTTP_FILE}
    with paths["nginx"].open("w", encoding="ascii") as fh:
        fh.writelines(header + body + long_lines)
    paths["nginx.server"].write_text("# archiver: answer old URLs from redirects.nginx.conf (server {} context).\n" + SERVER_SNIPPET, encoding="ascii")
    paths["nginx.http"].write_text("".join(http_lines), encoding="ascii")
    return paths, skipped, warnings
