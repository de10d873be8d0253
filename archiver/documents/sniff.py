"""Which captured answers are documents, and of what kind: by Content-Type *and* magic bytes.

Servers label documents badly: ``application/octet-stream``, ``application/
force-download``, a PDF sent as ``text/html``, a DOCX as ``application/zip``.
So the label only proposes; the first bytes decide where they can:

=========  ==============================================================
``%PDF-``  pdf (anywhere in the first 1,024 bytes, as readers accept)
``{\\rtf``  rtf
OLE2       doc, xls or ppt by the container's stream names (olefile)
zip        docx, xlsx, pptx by their part names; odt, ods, odp by the
           ``mimetype`` member; any other zip is not a document
=========  ==============================================================

A container that cannot be read (a zip cut before its central directory)
keeps the label's kind when the label names one of its family: a truncated
file is still the document its URL served. Other bytes the table does not
know are not what the label says (an error message sent as
``application/pdf``), except an empty body, which keeps its label, and
``txt``, which needs a body that reads as text. Images and HTML are never
documents. The magic table is a few fixed signatures; a generic
file-type library would not read a zip's member list, which is what tells a
DOCX from any zip.
"""
from __future__ import annotations

import io
import zipfile
from email.message import Message
from urllib.parse import unquote, urlsplit

import olefile

KINDS = ("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "txt")
MEDIA_TYPES = {
    "application/pdf": "pdf", "application/x-pdf": "pdf", "application/acrobat": "pdf",
    "application/msword": "doc", "application/vnd.ms-word": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls", "application/excel": "xls", "application/x-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt", "application/mspowerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow": "pptx",
    "application/vnd.oasis.opendocument.text": "odt", "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/rtf": "rtf", "text/rtf": "rtf", "application/x-rtf": "rtf", "text/plain": "txt",
}
EXTENSIONS = {
    ".pdf": "pdf", ".doc": "doc", ".dot": "doc", ".docx": "docx", ".docm": "docx", ".xls": "xls", ".xlsx": "xlsx",
    ".xlsm": "xlsx", ".ppt": "ppt", ".pps": "ppt", ".pptx": "pptx", ".ppsx": "pptx", ".odt": "odt", ".ods": "ods",
    ".odp": "odp", ".rtf": "rtf", ".txt": "txt",
}
# labels that say nothing about the content: the file name decides
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/force-download",
                           "application/x-download", "application/download", "application/unknown",
                           "application/binary", "application/zip", "application/x-zip-compressed"})
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_ODF = {"application/vnd.oasis.opendocument.text": "odt", "application/vnd.oasis.opendocument.spreadsheet": "ods",
        "application/vnd.oasis.opendocument.presentation": "odp"}
_OOXML = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
_OLE_STREAMS = (("WordDocument", "doc"), ("Workbook", "xls"), ("Book", "xls"), ("PowerPoint Document", "ppt"))
_NOT_DOCUMENTS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF", b"\x00\x00\x01\x00",
                  b"BM", b"II*\x00", b"MM\x00*")
_MAX_ZIP_MEMBERS = 10_000  # a part list longer than this is not an office file


def file_name(url: str, disposition: str | None = None) -> str:
    """The document's file name: Content-Disposition's (RFC 6266, ``filename*`` too), else the URL's
    last path segment, percent-decoded."""
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        try:
            name = message.get_filename()
        except (ValueError, LookupError):
            name = None
        if name:
            return name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    return unquote(path.rsplit("/", 1)[-1], errors="replace")


def declared_kind(media_type: str, name: str) -> str | None:
    """The kind the label says: the Content-Type, or the file name's extension when the type is generic."""
    media_type = (media_type or "").lower()
    if media_type in MEDIA_TYPES:
        return MEDIA_TYPES[media_type]
    if media_type not in GENERIC_TYPES:
        return None
    dot = name.rfind(".")
    return EXTENSIONS.get(name[dot:].lower()) if dot >= 0 else None


def document_kind(body: bytes, media_type: str, name: str) -> str | None:
    """The document kind of a 2xx body (one of ``KINDS``), or None when it is no document."""
    declared = declared_kind(media_type, name)
    magic = _magic(body)
    if magic in KINDS:
        return magic
    if magic in ("zip-unreadable", "ole-unreadable"):  # cut or damaged: the label may say what it was
        return declared if declared in _FAMILY[magic] else None
    if magic is not None:  # an image, HTML, or a container whose parts name no office kind
        return None
    if declared == "txt":
        return "txt" if _looks_like_text(body) else None
    return declared if not body else None  # unknown bytes are not what the label says; nothing is


_FAMILY = {"zip-unreadable": ("docx", "xlsx", "pptx", "odt", "ods", "odp"), "ole-unreadable": ("doc", "xls", "ppt")}


def _magic(body: bytes) -> str | None:
    head = body[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(OLE_MAGIC):
        return _ole_kind(body)
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(body)
    if head.startswith(_NOT_DOCUMENTS) or head[8:12] == b"WEBP":
        return "not_document"
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "not_document"
    return None


def _zip_kind(body: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = archive.infolist()
            if len(members) > _MAX_ZIP_MEMBERS:
                return "zip"
            names = {m.filename for m in members}
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size <= 100:
                    kind = _ODF.get(archive.read(info).decode("ascii", "replace").strip())
                    if kind:
                        return kind
            if "[Content_Types].xml" in names:
                for prefix, kind in _OOXML:
                    if any(n.startswith(prefix) for n in names):
                        return kind
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, ValueError,
            NotImplementedError, RuntimeError):
        return "zip-unreadable"
    return "zip"


def _ole_kind(body: bytes) -> str:
    try:
        with olefile.OleFileIO(body) as ole:
            for stream, kind in _OLE_STREAMS:
                if ole.exists(stream):
                    return kind
    except (OSError, ValueError, IndexError, KeyError, TypeError, RecursionError, AssertionError):
        return "ole-unreadable"
    return "ole"


def _looks_like_text(body: bytes) -> bool:
    sample = body[:8192]
    return b"\x00" not in sample or sample.startswith((b"\xff\xfe", b"\xfe\xff"))
