"""Documents made in the tests with real writers (fpdf2, python-docx, openpyxl, python-pptx, odfpy),
and bombs built byte by byte: what document sniffing, extraction and mapping are tested on.

The core PDF fonts are Latin-1, so PDF page text is ASCII; titles and file
names carry the non-ASCII (the PDF Info dictionary holds UTF-16).
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib


def pdf(paragraphs: list[str], *, title: str = "", pages: int = 1, creator: str = "archiver tests",
        creation_date=None) -> bytes:
    """A text PDF: ``paragraphs`` spread over ``pages`` pages."""
    from fpdf import FPDF

    doc = FPDF()
    doc.set_compression(True)
    if title:
        doc.set_title(title)
    doc.set_creator(creator)
    doc.set_producer(creator)
    if creation_date is not None:
        doc.set_creation_date(creation_date)
    doc.set_font("helvetica", size=10)
    per_page = max(1, -(-len(paragraphs) // pages))
    for number in range(pages):
        doc.add_page()
        for text in paragraphs[number * per_page:(number + 1) * per_page]:
            doc.write(5, text + "\n")
    return bytes(doc.output())


def resave_pdf(body: bytes, *, producer: str) -> bytes:
    """The same PDF written again by pypdf with new metadata: other bytes, same text, pages and title."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(body))
    writer = PdfWriter(clone_from=reader)
    writer.add_metadata({"/Producer": producer, "/Creator": producer, "/ModDate": "D:20190701120000Z"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(paragraphs: list[str], *, title: str = "", author: str = "") -> bytes:
    import docx as python_docx

    doc = python_docx.Document()
    doc.core_properties.title = title
    doc.core_properties.author = author
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def resave_docx(body: bytes, *, author: str) -> bytes:
    """The same Word file opened and saved again (new author, new zip): other bytes, same text."""
    import docx as python_docx

    doc = python_docx.Document(io.BytesIO(body))
    doc.core_properties.author = author
    doc.core_properties.revision = 7
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def xlsx(rows: list[list], *, title: str = "") -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.properties.title = title
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx(slides: list[str], *, title: str = "") -> bytes:
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = title
    for text in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = text
        slide.placeholders[1].text = text + " (details)"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def odt(paragraphs: list[str], *, title: str = "") -> bytes:
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    doc = OpenDocumentText()
    if title:
        doc.meta.addElement(dc.Title(text=title))
    for text in paragraphs:
        doc.text.addElement(P(text=text))
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def rtf(text: str, *, title: str = "") -> bytes:
    """RTF in code page 1250 (Slovenian), written by hand: no maintained RTF writer is worth a dependency."""
    def escape(value: str) -> str:
        out = []
        for ch in value:
            if ord(ch) < 128:
                out.append(ch)
            else:
                out.extend("\\'%02x" % byte for byte in ch.encode("cp1250", "replace"))
        return "".join(out)
    return ("{\\rtf1\\ansi\\ansicpg1250{\\info{\\title " + escape(title) + "}{\\nofpages1}}"
            + escape(text) + "\\par}").encode("ascii")


# --- bombs --------------------------------------------------------------------------------

def zip_bomb_docx(inflated: int = 200 * 1024 * 1024) -> bytes:
    """A DOCX-shaped zip whose word/document.xml honestly declares ``inflated`` bytes of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxml'
                                                'formats.org/package/2006/content-types"/>')
        archive.writestr("docProps/core.xml", "<cp:coreProperties xmlns:cp='x' xmlns:dc="
                                              "'http://purl.org/dc/elements/1.1/'><dc:title>Bomb</dc:title>"
                                              "</cp:coreProperties>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(inflated >> 20):
                member.write(chunk)
    return out.getvalue()


def lying_zip_bomb_docx(inflated: int = 64 * 1024 * 1024, declared: int = 2000) -> bytes:
    """A DOCX-shaped zip whose word/document.xml inflates to ``inflated`` bytes but declares ``declared``
    (both headers patched): the declared size and ratio look harmless."""
    body = bytearray(zip_bomb_docx(inflated))
    name = b"word/document.xml"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = body.find(signature)
        while at >= 0:
            name_length = struct.unpack_from("<H", body, at + (26 if signature == b"PK\x03\x04" else 28))[0]
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if bytes(body[name_at:name_at + name_length]) == name:
                struct.pack_into("<I", body, at + size_at, declared)
                compressed = struct.unpack_from("<I", body, at + size_at - 4)[0]
                if compressed == 0xFFFFFFFF:  # zip64: sizes in the extra field
                    extra_at = name_at + name_length
                    struct.pack_into("<Q", body, extra_at + 4, declared)
            at = body.find(signature, at + 4)
    return bytes(body)


def entity_bomb_docx() -> bytes:
    """A DOCX whose document.xml defines the "billion laughs" entities."""
    entities = '<!ENTITY a0 "laugh">' + "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">'
                                                for i in range(1, 10))
    document = (f'<?xml version="1.0"?><!DOCTYPE d [{entities}]><w:document xmlns:w="http://schemas.openxml'
                f'formats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&a9; safe text</w:t></w:r></w:p>'
                f'</w:body></w:document>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return out.getvalue()


def raw_pdf(objects: list[bytes], *, info: int | None = None) -> bytes:
    """A PDF from object bodies (object 1 is the catalog), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer_info = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_info, xref)
    return bytes(out)


def _stream(data: bytes) -> bytes:
    data = zlib.compress(data)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"


def pdf_bomb(*, depth: int = 100_000, inflated: int = 300 * 1024 * 1024) -> bytes:
    """Three pages: the first's content stream inflates to ``inflated`` bytes, the second nests arrays
    ``depth`` deep in its resources and its content stream, the third is an ordinary page of text."""
    squeeze = zlib.compressobj(9)
    chunk = b"0 0 m " * (1 << 17)
    data = b"".join(squeeze.compress(chunk) for _ in range(inflated // len(chunk))) + squeeze.flush()
    huge = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    nested = b"[" * depth + b"]" * depth
    font = b"/Resources << /Font << /F1 5 0 R >> >>"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R %s >>"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 6 0 R 8 0 R] /Count 3 >>",
        page % (4, font),
        huge,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R /Resources << /Font << /F1 5 0 R >> "
        b"/Deep " + nested + b" >> >>",
        _stream(b"BT /F1 12 Tf 72 700 Td " + b"[" * depth + b"(deep) " + b"]" * depth + b" TJ ET"),
        page % (9, font),
        _stream(b"BT /F1 12 Tf 72 700 Td (The last page is read) Tj ET"),
        b"<< /Title (Bomb report) >>",
    ], info=10)
