"""The two parsers behind the reader, fed the same clean stream of records by the framer.

FastWARC (fast, WARC only) is the default; warcio is the reference and the
only one that reads ARC (``ARCHIVER_WARC_READER=warcio`` makes it read
everything). Each yields, per record, the header fields and a reader of the
block; everything after that is the reader's own code, the same for both.
Header values are decoded alike (UTF-8, else Latin-1, as warcio does), so
both parsers give the same text.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from warcio.archiveiterator import ArchiveIterator as WarcioArchiveIterator


@dataclass(slots=True)
class ParsedRecord:
    """One record as a parser read it: header fields by lower-case name (first value wins), and its block."""

    fields: dict[str, str]
    block: BinaryIO


class _AlreadyReported(logging.Filter):
    """warcio logs a WARC-Target-URI with spaces as it mends it; the reader reports that itself, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Replacing spaces in invalid WARC-Target-URI")


logging.getLogger("warcio.recordloader").addFilter(_AlreadyReported())


def parser_name(fmt: str) -> str:
    """Which parser reads records of ``fmt`` (warc | arc)."""
    if fmt == "arc" or os.environ.get("ARCHIVER_WARC_READER", "").lower() == "warcio":
        return "warcio"
    return "fastwarc"


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def fastwarc_records(stream: BinaryIO) -> Iterator[ParsedRecord]:
    for record in FastArchiveIterator(stream, parse_http=False, auto_decode="none", stream_detect=False,
                                      fsspec_args=False):
        headers = record.headers
        fields: dict[str, str] = {}
        for name, value in headers.items():
            key = name.lower()
            if key not in fields:
                # FastWARC decodes as UTF-8 with replacement; warcio falls back to Latin-1, so do the same
                fields[key] = _text(headers.get_bytes(name)) if "\ufffd" in value else value
        yield ParsedRecord(fields, record.reader)


def warcio_records(stream: BinaryIO) -> Iterator[ParsedRecord]:
    for record in WarcioArchiveIterator(stream, no_record_parse=True, arc2warc=True):
        fields: dict[str, str] = {}
        for name, value in record.rec_headers.headers:
            key = name.lower()
            if key not in fields:
                fields[key] = value
        yield ParsedRecord(fields, record.raw_stream)


def records(stream: BinaryIO, fmt: str) -> Iterator[ParsedRecord]:
    return warcio_records(stream) if parser_name(fmt) == "warcio" else fastwarc_records(stream)
