"""The archive reader: the only way later stages read WARC, ARC and WACZ.

Modules, one concept each: ``inputs`` (files, directories, WACZ, multi-WACZ),
``framing`` (where records start and end, reading on after damage),
``parsers`` (FastWARC and warcio, fed the same clean records), ``records``
(one record read: HTTP message, digests, problems), ``reader`` (one source
read), ``revisits`` (revisits resolved in one pass). The HTTP message rules
and the gzip member scanner are shared with capture:
``archiver/http_message.py`` and ``archiver/gzip_members.py``.

* ``iter_records(paths)`` yields one ``RecordInfo`` per record (file, offset,
  length, type, URL, digests checked, problems) and one ``problem`` record per
  damaged stretch; the audit and indexes use it.
* ``iter_captures(paths)`` yields ``Capture`` objects for HTTP responses and
  HTTP-like ``resource`` records, bodies de-chunked and decoded with a cap,
  revisits resolved where the original is in the collection.
"""
from archiver.http_message import digests_equal
from archiver.warc.inputs import Source, expand_inputs, is_archive_name
from archiver.warc.reader import iter_records, read_source, split_points
from archiver.warc.records import MAX_BODY, SEVERITY, Entry, RecordInfo
from archiver.warc.revisits import Original, RevisitIndex, iter_captures, read_capture_at, read_originals, resolve

__all__ = [
    "MAX_BODY", "SEVERITY", "Entry", "Original", "RecordInfo", "RevisitIndex", "Source", "digests_equal",
    "expand_inputs", "is_archive_name", "iter_captures", "iter_records", "read_capture_at", "read_originals",
    "read_source", "resolve", "split_points",
]
