"""Text, title and page count of a document, read with well-kept libraries, bounded and never raising.

A document comes from strangers: a zip bomb can pose as a DOCX and a PDF can
nest objects a hundred thousand deep or hold a stream that inflates to
gigabytes. Every reader here is bounded before it is clever:

* PDF (pypdf): its stream, array, page-tree and decoding limits lowered to
  ours for the call (``pypdf.apply_configuration``), no external decoder,
  text from the first ``max_pages`` pages only (the page count comes from the
  page tree), and the time budget checked between pages and between content
  stream operators.
* DOCX, XLSX, PPTX, ODT, ODS, ODP: the zip's member list is read first and a
  member that declares more than ``max_member`` bytes, or compresses better
  than ``max_ratio`` to one while large, is refused before anything is
  inflated; what is inflated goes through a counting reader that stops at
  the cap whatever the header said, and its XML is read as a stream by lxml
  with entities unresolved, no DTD and no network, elements freed as read.
* XLS (xlrd), RTF (striprtf), plain text (charset-normalizer). Legacy binary
  DOC and PPT have no maintained text reader on PyPI or in Debian: their title
  and page count come from the OLE summary (olefile) and they are matched by
  identical bytes and by the page that linked them only.

Whatever goes wrong (a library error, a recursion limit, a cap, the budget)
ends that document's reading with the text read so far and a ``problem``
that the redirect row's evidence carries; the run goes on.
"""
from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import olefile
import pypdf
import xlrd
from charset_normalizer import from_bytes
from lxml import etree
from striprtf.striprtf import rtf_to_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What reading one document may cost."""

    max_pages: int = 10  # pages (slides, sheets) whose text is read; the page count is always read
    max_chars: int = 100_000  # text kept
    max_member: int = 16 * 1024 * 1024  # bytes one zip member or PDF stream may inflate to
    max_inflated: int = 48 * 1024 * 1024  # bytes inflated from one document in all
    max_ratio: int = 100  # a member over 1 MB compressed better than this is a bomb
    max_members: int = 10_000  # zip members
    max_rtf_bytes: int = 4 * 1024 * 1024  # RTF read for text (embedded pictures make RTF big)
    seconds: float = 5.0  # time budget per document


class BudgetSpent(Exception):
    """The document's time budget ran out."""


class TooBig(Exception):
    """A cap was reached before inflating or reading further."""


class Budget:
    """A time allowance for one document. ``clock`` is the seam tests turn; the default counts this
    thread's CPU time, so a machine busy with other work does not spend a document's budget."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.thread_time) -> None:
        self.seconds = seconds
        self.clock = clock
        self.deadline = clock() + seconds
        self._ticks = 0

    def check(self) -> None:
        if self.clock() > self.deadline:
            raise BudgetSpent(f"time budget of {self.seconds:g} s spent")

    def tick(self, *_args) -> None:
        """Called per parsed unit (a PDF operator, an XML element): checks the clock every 64 calls."""
        self._ticks += 1
        if not self._ticks & 63:
            self.check()


@dataclass(frozen=True)
class DocumentText:
    """What a document says, as far as it could be read."""

    text: str = ""
    title: str = ""
    pages: int | None = None  # pages, slides or sheets, as the file declares them
    problem: str = ""  # why the text is missing or partial ("" when read whole)


class _Out:
    """Text collected so far, capped; title, page count and notes."""

    def __init__(self, max_chars: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.max_chars = max_chars
        self.title = ""
        self.pages: int | None = None
        self.notes: list[str] = []

    @property
    def full(self) -> bool:
        return self.size >= self.max_chars

    def add(self, text: str | None) -> None:
        if text and not self.full:
            text = text[: self.max_chars - self.size]
            self.parts.append(text)
            self.size += len(text)
            if self.full:
                self.notes.append(f"text cut at {self.max_chars:,} characters")

    def result(self, problem: str = "") -> DocumentText:
        notes = [*self.notes, problem] if problem else self.notes
        return DocumentText(" ".join(" ".join(self.parts).split()), " ".join(self.title.split())[:500], self.pages,
                            "; ".join(dict.fromkeys(n for n in notes if n)))


def extract(kind: str, body: bytes, *, limits: Limits | None = None, budget: Budget | None = None) -> DocumentText:
    """The text, title and page count of a ``kind`` document (see ``sniff.KINDS``); never raises."""
    limits = limits or Limits()
    budget = budget or Budget(limits.seconds)
    out = _Out(limits.max_chars)
    reader = _READERS.get(kind)
    if reader is None:
        return DocumentText(problem=f"no reader for {kind}")
    try:
        reader(body, out, limits, budget)
    except (BudgetSpent, TooBig) as exc:
        return out.result(str(exc))
    except RecursionError:
        return out.result("nested too deeply to read")
    except MemoryError:
        return out.result("out of memory while reading")
    except Exception as exc:  # a hostile file must never stop a 100,000-document run
        log.debug("%s reader failed", kind, exc_info=True)
        return out.result(f"unreadable {kind}: {type(exc).__name__}: {str(exc)[:200]}")
    return out.result()


# --- PDF ---------------------------------------------------------------------------------

@contextmanager
def _library_warnings(logger_name: str, out: _Out) -> Iterator[None]:
    """A library's logged warnings become the document's notes (the first three), not console noise."""
    logger = logging.getLogger(logger_name)

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if len(out.notes) < 3:
                out.notes.append(f"{logger_name}: {record.getMessage()[:200]}")

    handler = Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _pdf(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
    member = limits.max_member
    caps = dict(
        maximum_declared_stream_length=member, array_based_stream_maximum_output_length=member,
        jbig2_maximum_output_length=member, lzw_maximum_output_length=member,
        run_length_maximum_output_length=member, zlib_maximum_output_length=member,
        brotli_maximum_output_length=member, image_maximum_buffer_size=member,
        stream_decoding_work_maximum_length=limits.max_inflated, stream_parsing_work_maximum_count=500_000,
        array_maximum_element_count=50_000, dictionary_maximum_element_count=50_000,
        page_tree_maximum_entries=50_000, page_tree_maximum_depth=50, page_tree_maximum_page_entries=200_000,
        xform_maximum_invocations_per_extraction=500, outline_maximum_entries=10_000, jbig2dec_binary=None,
    )
    with pypdf.apply_configuration(**caps), _library_warnings("pypdf", out):
        reader = pypdf.PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # "encrypted" with an empty password: permissions only, readable
            except Exception:
                out.notes.append("encrypted")
                return
        budget.check()
        try:
            info = reader.metadata
            out.title = str(info.title or "") if info is not None else ""
        except Exception as exc:  # a broken Info dictionary costs the title, not the text
            out.notes.append(f"no title: {type(exc).__name__}")
        pages = reader.pages
        out.pages = len(pages)
        for number in range(min(out.pages, limits.max_pages)):
            budget.check()
            try:
                out.add(pages[number].extract_text(visitor_operand_before=budget.tick))
            except (BudgetSpent, MemoryError):
                raise
            except Exception as exc:  # one hostile page (a bomb stream, deep nesting) costs that page only
                out.notes.append(f"page {number + 1} unreadable: {type(exc).__name__}: {str(exc)[:200]}")
            if out.full:
                return
        if out.pages > limits.max_pages:
            out.notes.append(f"text of the first {limits.max_pages} of {out.pages} pages")


# --- zipped XML: OOXML and OpenDocument --------------------------------------------------

_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "dc": "http://purl.org/dc/elements/1.1/",
    "ep": "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
}
_SLIDE = re.compile(r"^ppt/slides/slide(\d+)\.xml$")
_SHEET = re.compile(r"^xl/worksheets/sheet(\d+)\.xml$")


class _Capped(io.RawIOBase):
    """A read-only stream that raises ``TooBig`` past ``cap`` bytes, whatever the zip header declared."""

    def __init__(self, raw, cap: int, name: str) -> None:
        self.raw, self.cap, self.name, self.count = raw, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(min(len(buffer), 65536))
        self.count += len(data)
        if self.count > self.cap:
            raise TooBig(f"{self.name} inflates past {self.cap:,} bytes")
        buffer[: len(data)] = data
        return len(data)


class _Zip:
    """An office zip opened for bounded reading: members checked before any is inflated."""

    def __init__(self, body: bytes, limits: Limits, budget: Budget) -> None:
        self.archive = zipfile.ZipFile(io.BytesIO(body))
        self.limits, self.budget = limits, budget
        members = self.archive.infolist()
        if len(members) > limits.max_members:
            raise TooBig(f"{len(members):,} zip members (cap {limits.max_members:,})")
        self.names = {m.filename: m for m in members}
        self.inflated = 0

    def events(self, name: str, tags: tuple[str, ...]) -> Iterator:
        """(event, element) of ``name``'s XML for the ``tags`` ("end" events), elements freed by the caller."""
        info = self.names.get(name)
        if info is None:
            return
        limits = self.limits
        if info.file_size > limits.max_member:
            raise TooBig(f"{name} declares {info.file_size:,} bytes (cap {limits.max_member:,})")
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(1, info.compress_size):
            raise TooBig(f"{name} is compressed {info.file_size // max(1, info.compress_size):,} to 1 "
                         f"(a zip bomb; cap {limits.max_ratio} to 1)")
        room = limits.max_inflated - self.inflated
        if info.file_size > room:
            raise TooBig(f"{name} would inflate the document past {limits.max_inflated:,} bytes")
        with self.archive.open(info) as raw:
            stream = _Capped(raw, min(limits.max_member, room), name)
            try:
                parser = etree.iterparse(io.BufferedReader(stream), events=("end",), tag=tags, resolve_entities=False,
                                         no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)
                for event, element in parser:
                    self.budget.tick()
                    yield event, element
            finally:
                self.inflated += stream.count

    def read_text(self, name: str, text_tag: str, block_tag: str, out: _Out) -> None:
        """Text of ``text_tag`` elements, a space at each ``block_tag`` end (paragraphs)."""
        for _, element in self.events(name, (text_tag, block_tag)):
            if element.tag == text_tag:
                out.add(element.text)
            else:
                out.add(" ")
                _free(element)
            if out.full:
                return

    def read_blocks(self, name: str, block_tags: tuple[str, ...], out: _Out) -> None:
        """All text inside ``block_tags`` elements (OpenDocument paragraphs and headings)."""
        for _, element in self.events(name, block_tags):
            if element.getparent() is not None and element.getparent().tag in block_tags:
                continue  # a heading inside a paragraph: its text comes with the outer one
            out.add(" ".join(element.itertext()))
            _free(element)
            if out.full:
                return

    def first_text(self, name: str, tag: str) -> str:
        for _, element in self.events(name, (tag,)):
            return element.text or ""
        return ""

    def count(self, name: str, tag: str) -> int:
        found = 0
        for _, element in self.events(name, (tag,)):
            found += 1
            _free(element)
        return found


def _free(element) -> None:
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _int(text: str) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def _ooxml(kind: str) -> Callable[[bytes, _Out, Limits, Budget], None]:
    def read(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
        office = _Zip(body, limits, budget)
        out.title = office.first_text("docProps/core.xml", _q("dc", "title"))
        if kind == "docx":
            out.pages = _int(office.first_text("docProps/app.xml", _q("ep", "Pages")))
            office.read_text("word/document.xml", _q("w", "t"), _q("w", "p"), out)
        elif kind == "pptx":
            slides = sorted((int(m.group(1)), name) for name in office.names if (m := _SLIDE.match(name)))
            out.pages = len(slides)
            for _, name in slides[: limits.max_pages]:
                office.read_text(name, _q("a", "t"), _q("a", "p"), out)
            if len(slides) > limits.max_pages:
                out.notes.append(f"text of the first {limits.max_pages} of {len(slides)} slides")
        else:  # xlsx: strings in one shared table, or inline in the sheets
            out.pages = office.count("xl/workbook.xml", _q("x", "sheet")) or None
            office.read_text("xl/sharedStrings.xml", _q("x", "t"), _q("x", "si"), out)
            sheets = sorted((int(m.group(1)), name) for name in office.names if (m := _SHEET.match(name)))
            for _, name in sheets[: limits.max_pages]:
                office.read_text(name, _q("x", "t"), _q("x", "row"), out)
    return read


def _opendocument(kind: str) -> Callable[[bytes, _Out, Limits, Budget], None]:
    def read(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
        office = _Zip(body, limits, budget)
        out.title = office.first_text("meta.xml", _q("dc", "title"))
        if kind == "odt":
            for _, element in office.events("meta.xml", (_q("meta", "document-statistic"),)):
                out.pages = _int(element.get(_q("meta", "page-count")) or "")
        elif kind == "odp":
            out.pages = office.count("content.xml", _q("draw", "page")) or None
        else:
            out.pages = office.count("content.xml", _q("table", "table")) or None
        office.read_blocks("content.xml", (_q("text", "p"), _q("text", "h")), out)
    return read


# --- legacy binary office files -------------------------------------------------------------

def _ole_summary(body: bytes, out: _Out) -> None:
    """Title and page count from the OLE SummaryInformation stream, when present."""
    try:
        with olefile.OleFileIO(body) as ole:
            meta = ole.get_metadata()
    except Exception as exc:  # olefile raises many kinds on damaged containers
        out.notes.append(f"no OLE summary: {type(exc).__name__}")
        return
    title = meta.title
    if isinstance(title, bytes):
        title = title.decode("cp1252", "replace")
    out.title = (title or "").strip("\x00 ")
    if isinstance(meta.num_pages, int) and meta.num_pages > 0:
        out.pages = meta.num_pages


def _no_text(kind: str) -> Callable[[bytes, _Out, Limits, Budget], None]:
    def read(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
        out.notes.append(f"no maintained text reader for .{kind}: matched by identical bytes and linking page only")
        _ole_summary(body, out)
    return read


def _xls(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
    _ole_summary(body, out)
    messages = io.StringIO()
    book = xlrd.open_workbook(file_contents=body, on_demand=True, logfile=messages, formatting_info=False)
    try:
        out.pages = book.nsheets
        for index in range(min(book.nsheets, limits.max_pages)):
            sheet = book.sheet_by_index(index)
            for row in range(sheet.nrows):
                budget.check()
                out.add(" ".join(str(c.value) for c in sheet.row(row) if c.ctype == xlrd.XL_CELL_TEXT))
                if out.full:
                    return
            book.unload_sheet(index)
    finally:
        book.release_resources()
    if messages.getvalue().strip():
        out.notes.append("xlrd: " + messages.getvalue().strip().splitlines()[0][:200])


# --- RTF and plain text ---------------------------------------------------------------------

_RTF_CODEPAGE = re.compile(rb"\\ansicpg(\d{3,5})")
_RTF_TITLE = re.compile(rb"\{\\title\s?([^{}]*)\}")
_RTF_PAGES = re.compile(rb"\\nofpages(\d+)")


def _rtf(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
    head = body[: limits.max_rtf_bytes]
    if len(body) > limits.max_rtf_bytes:
        out.notes.append(f"text of the first {limits.max_rtf_bytes:,} bytes")
    found = _RTF_CODEPAGE.search(head[:4096])
    encoding = f"cp{int(found.group(1))}" if found else "cp1252"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "cp1252"
    title = _RTF_TITLE.search(head)
    if title:
        out.title = rtf_to_text(title.group(1).decode("latin-1"), encoding=encoding, errors="replace")
    pages = _RTF_PAGES.search(head)
    if pages:
        out.pages = int(pages.group(1))
    budget.check()
    out.add(rtf_to_text(head.decode("latin-1"), encoding=encoding, errors="replace"))


def _txt(body: bytes, out: _Out, limits: Limits, budget: Budget) -> None:
    sample = body[: limits.max_chars * 4]
    best = from_bytes(sample).best()
    out.add(str(best) if best is not None else sample.decode("utf-8", "replace"))


_READERS: dict[str, Callable[[bytes, _Out, Limits, Budget], None]] = {
    "pdf": _pdf, "docx": _ooxml("docx"), "xlsx": _ooxml("xlsx"), "pptx": _ooxml("pptx"),
    "odt": _opendocument("odt"), "ods": _opendocument("ods"), "odp": _opendocument("odp"),
    "doc": _no_text("doc"), "ppt": _no_text("ppt"), "xls": _xls, "rtf": _rtf, "txt": _txt,
}
