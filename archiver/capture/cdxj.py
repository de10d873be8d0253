"""Write the crawl's ``index.cdxj``, the sorted index pywb replays from.

The index is built with ``cdxj-indexer`` over the closed WARC files under
``DIR/warc`` (``*.open`` files are never indexed), written to a temporary
file and renamed, so a reader never sees half an index. Filenames in the index
are relative to the crawl directory (``warc/NAME.warc.gz``): point pywb's
``archive_paths`` at the crawl directory and ``index_paths`` at the file.

Server-not-modified revisits (our 304 answers to conditional re-crawls) stay
in the WARC but are left out of the index: pywb replays any 3xx revisit's own
headers, so an indexed 304 would replay as an empty "304 Not Modified"
(ukwa/ukwa-pywb#40) instead of falling back to the earlier capture holding the
payload. Readers of the WARC itself (``archiver/warc/``) resolve them.

Public API::

    build_index(crawl_dir, warc_dir=None, output=None) -> Path
    index_files(paths, output) -> Path   # names are the files' own names (a WACZ's archive/)
"""
from __future__ import annotations

import os
from pathlib import Path

from archiver.urls import surt_key

INDEX_NAME = "index.cdxj"
SERVER_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"


def _indexer_class():
    # imported here: cdxj-indexer loads in a third of a second, and a crawl needs it only after a
    # resume (one uninterrupted run writes its index from crawl state) or for a WACZ
    from cdxj_indexer.main import CDXJIndexer

    class Indexer(CDXJIndexer):
        def get_url_key(self, url):
            return surt_key(url)  # the key the index written from crawl state uses

        def filter_record(self, record):
            if record.rec_type == "revisit" and \
                    record.rec_headers.get_header("WARC-Profile") == SERVER_NOT_MODIFIED:
                return False
            return super().filter_record(record)

    return Indexer


def build_index(crawl_dir: str | os.PathLike, warc_dir: str | os.PathLike | None = None,
                output: str | os.PathLike | None = None) -> Path:
    """(Re)build ``crawl_dir/index.cdxj`` from every closed WARC file; return its path."""
    crawl_dir = Path(crawl_dir)
    warc_dir = Path(warc_dir) if warc_dir is not None else crawl_dir / "warc"
    output = Path(output) if output is not None else crawl_dir / INDEX_NAME
    inputs = sorted(str(p) for p in warc_dir.rglob("*") if p.name.endswith((".warc.gz", ".warc")))
    tmp = output.with_name(output.name + ".tmp")
    if inputs:
        _indexer_class()(str(tmp), inputs, sort=True, dir_root=str(crawl_dir), post_append=True).process_all()
    else:
        tmp.write_text("")
    os.replace(tmp, output)
    return output


def index_files(paths, output: str | os.PathLike) -> Path:
    """Write the sorted CDXJ of the WARC files ``paths`` to ``output``; return its path.

    Each line's ``filename`` is the file's own name, as a WACZ's index names
    the files in its ``archive/`` folder.
    """
    output = Path(output)
    _indexer_class()(str(output), [str(p) for p in paths], sort=True, post_append=True).process_all()
    return output
