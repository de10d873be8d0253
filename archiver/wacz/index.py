"""The WACZ's compressed index: ``indexes/index.cdx.gz`` and its ``indexes/index.idx``.

ReplayWeb.page (wabac.js) reads a large plain CDXJ whole before it can replay
anything; the compressed form lets it read the small ``index.idx`` and then
fetch only the one block it needs (an HTTP range of the WACZ). The CDXJ lines
are cut into blocks of ``BLOCK_LINES`` lines, each its own gzip member, and
``index.idx`` holds one line per block: the block's first key, then its
offset, length and sha256 in ``index.cdx.gz``, after a ``!meta`` line naming
the format (``cdxj-gzip-1.0``). cdxj-indexer's ``CompressedWriter`` writes
exactly that shape (it is what py-wacz uses), so the format is not ours.

Every index is written this way, small or large: one shape to read and test.
"""
from __future__ import annotations

from pathlib import Path

from cdxj_indexer.main import CompressedWriter

BLOCK_LINES = 1024  # lines per gzip block, as ArchiveWeb.page and py-wacz write them
DATA_NAME = "index.cdx.gz"


def write_compressed_index(cdxj: Path, data_path: Path, idx_path: Path) -> int:
    """Cut the sorted CDXJ file ``cdxj`` into ``data_path`` (blocks) and ``idx_path``; return its line count."""
    count = 0
    with open(cdxj, encoding="utf-8") as lines, open(idx_path, "w", encoding="utf-8") as idx, \
            open(data_path, "wb") as data:
        writer = CompressedWriter(idx, data_out=data, num_lines=BLOCK_LINES, data_out_name=DATA_NAME,
                                  digest_records=True)
        for line in lines:
            if line.strip():
                writer.write(line if line.endswith("\n") else line + "\n")
                count += 1
        if writer.block:  # the last, partial block (flushing an empty one would index an empty member)
            writer.flush()
    return count
