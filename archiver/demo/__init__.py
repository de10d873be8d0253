"""The embedded demo: a generated legacy site and its new portal on loopback.

``manifests/demo.toml`` names the placeholder origins below and says
``[demo] embedded = true``; ``embedded_sites`` then serves the generated pair
(``archiver.demo.sitegen``, no network) and swaps the placeholders for the
live loopback URLs, so ``archiver run manifests/demo.toml`` works out of the
box. The ports are remembered in ``OUT/<name>/.demo-ports.json`` and reused
when free, so a second run sees the same URLs and is incremental.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

LEGACY_PLACEHOLDER = "http://legacy.demo.invalid"
NEW_PLACEHOLDER = "http://new.demo.invalid"


def _start(port: int):
    from archiver.demo.server import SiteServer

    if port:
        try:
            return SiteServer(port=port).start()
        except OSError:
            pass
    return SiteServer().start()


@contextlib.contextmanager
def embedded_sites(manifest, out_root: Path | str):
    """Yield ``(manifest with live URLs, SitePair)``; ``(manifest, None)`` when not a demo."""
    if not manifest.demo_embedded:
        yield manifest, None
        return
    from archiver.demo.sitegen import generate_pair

    ports_file = Path(out_root) / manifest.name / ".demo-ports.json"
    try:
        remembered = json.loads(ports_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        remembered = {}
    with contextlib.ExitStack() as stack:
        legacy = stack.enter_context(_start(int(remembered.get("legacy", 0) or 0)))
        new = stack.enter_context(_start(int(remembered.get("new", 0) or 0)))
        pair = generate_pair(legacy.base_url, new.base_url, n_articles=manifest.demo_articles, seed=manifest.demo_seed)
        legacy.site, new.site = pair.legacy, pair.new
        ports_file.parent.mkdir(parents=True, exist_ok=True)
        ports_file.write_text(json.dumps({"legacy": legacy.port, "new": new.port}), encoding="utf-8")
        live = manifest.with_origins({LEGACY_PLACEHOLDER: legacy.base_url, NEW_PLACEHOLDER: new.base_url})
        yield live, pair
