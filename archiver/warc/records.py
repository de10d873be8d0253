"""One record read: the same code whichever parser supplied its header fields and block.

The block is streamed once through the block digest, the HTTP head parser
(bare-LF heads too), the de-chunker, the payload digest and a capped
content decoder (``archiver/http_message.py``, shared with capture). Every
problem found becomes a (kind, detail) pair on the record:

=====================  ========  ======================================================
kind                   severity  meaning
=====================  ========  ======================================================
block_digest           error     WARC-Block-Digest does not match the block
payload_digest         error     WARC-Payload-Digest does not match the payload
cut_record             error     the record ends before its Content-Length
cut_gzip               error     the file ends inside a gzip member
record_length          error     Content-Length (ARC length) does not end the record
unreadable             error     bytes that cannot be read as a record
http_status_line       warning   an HTTP response whose status line is not HTTP
body_undecodable       warning   Content-Encoding that does not decode: body kept as stored
truncated              warning   WARC-Truncated (the writer cut the payload on purpose)
gzip_member            warning   records share a gzip member (a file gzip'd as a whole)
http_chunking          note      Transfer-Encoding chunked that is not: read as it is
payload_digest_chunked note      payload digest computed over the chunked bytes (older tools)
target_uri             note      WARC-Target-URI with spaces, read with %20
=====================  ========  ======================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from archiver.http_message import (
    MAX_HEAD,
    BodyDecoder,
    Dechunker,
    content_codings,
    digest_matches,
    hasher_for,
    head_end,
    is_chunked,
    parse_head,
    warc_digest,
)
from archiver.types import Capture
from archiver.urls import clean_target_uri
from archiver.warc.framing import Frame

MAX_BODY = 20 * 1024 * 1024
FAST_READ = 128 * 1024  # most blocks arrive in one read
CAPTURE_TYPES = ("response", "revisit", "resource")
HTTP_TYPES = ("response", "revisit", "request")

SEVERITY = {
    "block_digest": "error", "payload_digest": "error", "cut_record": "error", "cut_gzip": "error",
    "record_length": "error", "unreadable": "error", "revisit_original_missing": "error",
    "http_status_line": "warning", "body_undecodable": "warning", "truncated": "warning", "gzip_member": "warning",
    "http_chunking": "note", "payload_digest_chunked": "note", "target_uri": "note",
}


@dataclass(slots=True)
class RecordInfo:
    """What one record holds, and what is wrong with it.

    ``rec_type`` is the WARC-Type (ARC records read as ``response`` and
    ``warcinfo``), or ``"problem"`` for a stretch of a file that could not be
    read as a record. ``problems`` are (kind, detail) pairs (see the table
    above). ``offset`` is where a reader starts: the record, or in a
    ``.warc.gz`` its gzip member; ``index`` counts the records before it in
    that member.
    """

    file: str
    offset: int
    length: int | None = None
    rec_type: str = ""
    url: str = ""
    date: str = ""
    record_id: str = ""
    status: int | None = None
    mime: str = ""
    content_length: int | None = None
    block_digest: str | None = None
    payload_digest: str | None = None  # as recorded
    computed_payload_digest: str | None = None  # over the de-chunked body (the recorded text when equal)
    truncated: str | None = None  # WARC-Truncated
    profile: str | None = None
    refers_to: str | None = None  # WARC-Refers-To record id
    refers_to_uri: str | None = None
    refers_to_date: str | None = None
    location: str | None = None  # HTTP Location header
    payload_length: int = 0  # de-chunked, still content-encoded
    index: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_capture(self) -> bool:
        return self.rec_type in CAPTURE_TYPES and self.url.lower().startswith(("http:", "https:"))


@dataclass(slots=True)
class Entry:
    """One record as read: its info, and its Capture when it is an HTTP capture."""

    info: RecordInfo
    capture: Capture | None = None


class _Block:
    """A record's block read piece by piece, counted and fed to the block digest on the way."""

    def __init__(self, block: BinaryIO, hasher):
        self.block, self.hasher, self.size = block, hasher, 0

    def read(self) -> bytes:
        data = self.block.read(FAST_READ)
        self.size += len(data)
        if self.hasher is not None and data:
            self.hasher.update(data)
        return data


def _value(fields: dict[str, str], name: str) -> str | None:
    """A header value with runs of white space (folded lines) made one space, as both parsers agree."""
    value = fields.get(name)
    if value is None or ("  " not in value and "\t" not in value and "\n" not in value):
        return value
    return " ".join(value.split())


def read_record(fields: dict[str, str], block: BinaryIO, frame: Frame, name: str, *, max_body: int = MAX_BODY,
                want_body: Callable[[RecordInfo], bool] | None = None) -> Entry:
    """Read one record's block to its end and say what it holds.

    ``fields``: the WARC header fields by lower-case name; ``block``: a reader
    of the block; ``frame``: where the framer found it. ``want_body(info)``
    may say no to decoding a body nobody needs (digests are checked anyway).
    """
    get = fields.get
    rec_type = (get("warc-type") or "").strip().lower()
    raw_uri = clean_target_uri(get("warc-target-uri"))
    problems = []
    if " " in raw_uri:
        problems.append(("target_uri", "WARC-Target-URI holds spaces; read with %20"))
        raw_uri = raw_uri.replace(" ", "%20")
    refers_to_uri = _value(fields, "warc-refers-to-target-uri")
    info = RecordInfo(
        file=name,
        offset=frame.offset,
        length=frame.length,
        rec_type=rec_type,
        url=raw_uri,
        date=_value(fields, "warc-date") or "",
        record_id=(_value(fields, "warc-record-id") or "") if frame.fmt == "warc" else "",
        content_length=frame.content_length,
        block_digest=_value(fields, "warc-block-digest"),
        payload_digest=_value(fields, "warc-payload-digest"),
        truncated=_value(fields, "warc-truncated"),
        profile=_value(fields, "warc-profile"),
        refers_to=_value(fields, "warc-refers-to"),
        refers_to_uri=clean_target_uri(refers_to_uri) or None if refers_to_uri else None,
        refers_to_date=_value(fields, "warc-refers-to-date"),
        index=frame.index,
    )
    if info.truncated and rec_type != "revisit":  # a revisit's block is headers only by design
        problems.append(("truncated", f"WARC-Truncated: {info.truncated}"))

    reader = _Block(block, hasher_for(info.block_digest) if info.block_digest else None)
    first = reader.read()
    http = rec_type in HTTP_TYPES and info.url.lower().startswith(("http:", "https:")) and bool(first)
    rest = first
    head = None
    if http:
        end = head_end(first)
        while end is None and len(first) <= MAX_HEAD:
            more = reader.read()
            if not more:
                break
            searched = max(0, len(first) - 3)
            first += more
            end = head_end(first, searched)
        if end is not None:
            head = parse_head(first[:end])
            rest = first[end:]
        else:
            http = False
            if rec_type in ("response", "revisit"):
                problems.append(("http_status_line", "no end of the HTTP head in the block"))
    headers: tuple[tuple[str, str], ...] = ()
    lookup: dict[str, str] = {}
    if head is not None:
        headers = head.headers
        lookup = {k.lower(): v for k, v in reversed(headers)}
        if rec_type in ("response", "revisit"):
            if head.status is None:
                problems.append(("http_status_line", f"not an HTTP status line: {head.start_line[:80]!r}"))
            info.status = head.status
            info.mime = (lookup.get("content-type") or "").split(";", 1)[0].strip().lower()
            info.location = lookup.get("location")
    elif rec_type == "resource":
        info.mime = (_value(fields, "content-type") or "").split(";", 1)[0].strip().lower()
        if info.is_capture:
            info.status = 200
            headers = (("Content-Type", get("content-type") or ""),)

    is_capture = info.is_capture and (rec_type != "response" or info.status is not None)
    keep_body = is_capture and rec_type != "revisit" and (want_body is None or want_body(info))
    chunked = head is not None and is_chunked(headers)
    codings = content_codings(headers) if head is not None and rec_type == "response" else []
    # a body nobody wants is still decoded up to its first byte: enough to know whether it decodes at all
    decoder = BodyDecoder(codings, max_body if keep_body else 1) if keep_body or codings else None
    dechunker = Dechunker() if chunked else None
    has_payload = rec_type != "revisit" and (http or rec_type == "resource" or info.payload_digest is not None)
    payload_hash = (hasher_for(info.payload_digest) or hasher_for(None)) if has_payload else None
    raw_payload_hash = None  # over the chunked bytes, as older tools digested: only when the first try fails
    raw_pieces_seen = False
    size = 0
    data = rest
    while True:
        if data:
            if chunked and data is not rest:
                raw_pieces_seen = True
                if raw_payload_hash is None and has_payload:
                    raw_payload_hash = hasher_for(info.payload_digest) or hasher_for(None)
                    raw_payload_hash.update(rest)
                if raw_payload_hash is not None:
                    raw_payload_hash.update(data)
            body = dechunker.feed(data) if dechunker is not None else data
            size += len(body)
            if payload_hash is not None:
                payload_hash.update(body)
            if decoder is not None:
                decoder.feed(body)
        data = reader.read()
        if not data:
            break
    info.payload_length = size
    missing = frame.content_length - reader.size
    block_hash = reader.hasher
    if dechunker is not None and dechunker.malformed:
        problems.append(("http_chunking", "Transfer-Encoding: chunked, but the body is not chunked from some point "
                                          "on: read as it is"))
    if missing <= 0 and block_hash is not None and not digest_matches(info.block_digest, block_hash):
        problems.append(("block_digest", f"block digest does not match {info.block_digest}"))
    if payload_hash is not None:
        checkable = info.payload_digest and not info.truncated and missing <= 0
        if checkable and digest_matches(info.payload_digest, payload_hash):
            info.computed_payload_digest = info.payload_digest  # equal: spare the base32 text
        else:
            info.computed_payload_digest = warc_digest(payload_hash)
            if checkable and chunked and not raw_pieces_seen:
                raw_payload_hash = hasher_for(info.payload_digest) or hasher_for(None)
                raw_payload_hash.update(rest)
            if checkable and chunked and digest_matches(info.payload_digest, raw_payload_hash):
                problems.append(("payload_digest_chunked",
                                 "payload digest computed over the chunked bytes, not the de-chunked body"))
            elif checkable:
                problems.append(("payload_digest", f"payload digest {info.payload_digest} != computed "
                                                   f"{info.computed_payload_digest}"))
    body = decoder.finish() if keep_body else b""
    if decoder is not None and decoder.failed:
        problems.append(("body_undecodable", decoder.failed))
    info.problems = list(frame.problems) + problems
    if not is_capture:
        return Entry(info)
    cut = any(kind in ("cut_record", "cut_gzip", "unreadable", "record_length") for kind, _ in frame.problems)
    capture = Capture(
        url=info.url,
        status=info.status,
        headers=headers,
        body=body,
        date=info.date,
        file=info.file,
        offset=info.offset,
        index=info.index,
        record_type=rec_type,
        payload_digest=info.payload_digest or info.computed_payload_digest,
        truncated=info.truncated or ("cut" if cut else None),
        ip_address=_value(fields, "warc-ip-address"),
        body_capped=bool(keep_body and decoder.capped),
    )
    return Entry(info, capture)
