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
from urllib.parse import quote

import docx as python_docx
import openpyxl
from fpdf import FPDF
from odf import dc
from odf.opendocument import OpenDocumentText
from odf.text import P
from pptx import Presentation
from pypdf import PdfReader, PdfWriter

from archiver.demo.site import Site
from archiver.urls import lookup_key


def pdf(paragraphs: list[str], *, title: str = "", pages: int = 1, creator: str = "archiver tests",
        creation_date=None) -> bytes:
    """A text PDF: ``paragraphs`` spread over ``pages`` pages."""
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
    reader = PdfReader(io.BytesIO(body))
    writer = PdfWriter(clone_from=reader)
    writer.add_metadata({"/Producer": producer, "/Creator": producer, "/ModDate": "D:20190701120000Z"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _saved(document) -> bytes:
    """What a python-docx, openpyxl or python-pptx object writes."""
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx(paragraphs: list[str], *, title: str = "", author: str = "") -> bytes:
    doc = python_docx.Document()
    doc.core_properties.title = title
    doc.core_properties.author = author
    for text in paragraphs:
        doc.add_paragraph(text)
    return _saved(doc)


def resave_docx(body: bytes, *, author: str) -> bytes:
    """The same Word file opened and saved again (new author, new zip): other bytes, same text."""
    doc = python_docx.Document(io.BytesIO(body))
    doc.core_properties.author = author
    doc.core_properties.revision = 7
    return _saved(doc)


def xlsx(rows: list[list], *, title: str = "", creator: str = "archiver tests") -> bytes:
    book = openpyxl.Workbook()
    book.properties.title = title
    book.properties.creator = creator
    sheet = book.active
    for row in rows:
        sheet.append(row)
    return _saved(book)


def pptx(slides: list[str], *, title: str = "") -> bytes:
    deck = Presentation()
    deck.core_properties.title = title
    for text in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = text
        slide.placeholders[1].text = text + " (details)"
    return _saved(deck)


def odt(paragraphs: list[str], *, title: str = "") -> bytes:
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


# --- a legacy site and its portal, with documents and the truth of where each went --------------

PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LONG_QUERY = "/download.php?file=Poro%C4%8Dilo%20o%20delu%202016.pdf&lang=sl&ref=" + "arhiv-" * 60 + "end"


def _paragraphs(topic: str, year: int, n: int = 6) -> list[str]:
    words = ("policija upravne enote migracije meja varnost promet kriminaliteta zascita dovoljenja tujci azil "
             "schengen gasilci poplave statistika vloge").split()
    seed = sum(map(ord, topic)) * 31 + year * 7
    out = []
    for k in range(n):
        chosen = " ".join(words[(seed + k * 3 + i * (k + 2) + (i * i * seed) % 7) % len(words)] for i in range(14))
        out.append(f"{topic} {year}, poglavje {k + 1}: {chosen}. V letu {year} je bilo obravnavanih "
                   f"{(year * 37 + k * 101) % 9000 + 100} primerov na podrocju {topic.lower()}.")
    return out


def _page(title: str, body: str, head: str = "") -> str:
    return (f"<!DOCTYPE html><html lang='sl'><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
            f"<body><h1>{title}</h1>{body}</body></html>")


def document_pair(legacy_base: str, new_base: str):
    """(legacy Site, new Site, truth, legacy Site after a page's removal) with documents.

    ``truth`` maps each legacy document URL (as the crawler writes it) to its new URL, or None
    where it has no equivalent. Cases: identical files renamed (also a non-ASCII name and one
    behind a long query string), PDFs re-generated with new metadata, a Word file and a
    spreadsheet re-saved, two different documents with one file name, a scanned PDF found only
    through its moved page's link text, removed documents, a PDF bomb and a zip bomb as .docx,
    a document whose page is removed in the later capture, an image (no row by default).
    """
    legacy, new, truth = Site(), Site(), {}
    doc = {}
    doc["annual"] = pdf(_paragraphs("Letno porocilo", 2018), title="Letno poročilo 2018", pages=3)
    doc["slovene"] = pdf(_paragraphs("Porocilo o delu", 2017), title="Poročilo o delu 2017", pages=2)
    doc["stats_old"] = pdf(_paragraphs("Statistika prometne varnosti", 2017), title="Statistika 2017", pages=2,
                           creator="Word 2010")
    doc["stats_new"] = resave_pdf(doc["stats_old"], producer="GOV.SI portal 2019")
    doc["form_old"] = docx(_paragraphs("Vloga za dovoljenje", 2019), title="Vloga za dovoljenje", author="MNZ")
    doc["form_new"] = resave_docx(doc["form_old"], author="Portal GOV.SI")
    doc["same_name_a"] = pdf(_paragraphs("Obrazec za prijavo prebivalisca", 2016), title="Prijava prebivališča")
    doc["same_name_b_old"] = pdf(_paragraphs("Obrazec za orozni list", 2015), title="Orožni list")
    doc["same_name_b_new"] = pdf(_paragraphs("Obrazec za orozni list", 2015), title="Orožni list",
                                 creator="Portal", creation_date=None)
    doc["sheet_old"] = xlsx([["Upravna enota", "Vloge 2018"], ["Ljubljana", 1200], ["Maribor", 800],
                             ["Celje", 430], ["Koper", 310]] + [[f"Enota {i}", i * 17] for i in range(40)],
                            title="Vloge po upravnih enotah")
    doc["sheet_new"] = xlsx([["Upravna enota", "Vloge 2018"], ["Ljubljana", 1200], ["Maribor", 800],
                             ["Celje", 430], ["Koper", 310]] + [[f"Enota {i}", i * 17] for i in range(40)],
                            title="Vloge po upravnih enotah", creator="Portal GOV.SI")
    doc["scan_old"] = pdf([], pages=2, creator="Scanner A")  # pages without a text layer
    doc["scan_new"] = pdf([], pages=2, creator="Scanner B")
    doc["gone"] = pdf(_paragraphs("Razpis za sofinanciranje", 2014), title="Razpis 2014")
    doc["gone_docx"] = docx(_paragraphs("Navodila za prijavo na razpis", 2014), title="Navodila 2014")
    doc["lookalike_old"] = pdf(_paragraphs("Porocilo o poplavah", 2012), title="Poplave 2012", pages=2)
    # the next year's report on the same template: nearly the same text, another year in its title
    floods = _paragraphs("Porocilo o poplavah", 2012)
    doc["lookalike_new"] = pdf([floods[0].replace("2012", "2013")] + floods[1:], title="Poplave 2013", pages=2)
    doc["with_page"] = pdf(_paragraphs("Javno narocilo", 2016), title="Javno naročilo 2016")
    doc["long_query"] = pdf(_paragraphs("Porocilo o delu", 2016), title="Poročilo o delu 2016")
    doc["octet"] = pdf(_paragraphs("Varnostna ocena", 2018), title="Varnostna ocena 2018")
    doc["pdf_bomb"] = pdf_bomb(depth=50_000, inflated=64 * 1024 * 1024)
    doc["zip_bomb"] = zip_bomb_docx(64 * 1024 * 1024)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))

    # (key, legacy path, new path or None, legacy body, new body, link text, content type)
    table = [
        ("annual", "/files/letno_porocilo_2018.pdf", "/assets/dokumenti/Letno-porocilo-MNZ-2018.pdf",
         doc["annual"], doc["annual"], "Letno poročilo 2018", PDF_TYPE),
        ("slovene", "/files/Poročilo_2018.pdf", "/assets/dokumenti/Poročilo o delu 2017.pdf",
         doc["slovene"], doc["slovene"], "Poročilo o delu", PDF_TYPE),
        ("stats", "/files/statistika 2017.pdf", "/assets/statistika-prometne-varnosti-2017.pdf",
         doc["stats_old"], doc["stats_new"], "Statistika 2017", PDF_TYPE),
        ("form", "/files/vloga.docx", "/assets/obrazci/vloga-za-dovoljenje.docx",
         doc["form_old"], doc["form_new"], "Vloga (DOCX, 20 kB)", DOCX_TYPE),
        ("same_name_a", "/obrazci/prebivalisce/obrazec.pdf", "/assets/obrazci/a/obrazec.pdf",
         doc["same_name_a"], doc["same_name_a"], "Obrazec", PDF_TYPE),
        ("same_name_b", "/obrazci/orozje/obrazec.pdf", "/assets/obrazci/b/obrazec.pdf",
         doc["same_name_b_old"], doc["same_name_b_new"], "Obrazec", PDF_TYPE),
        ("sheet", "/files/vloge.xlsx", "/assets/vloge-po-upravnih-enotah.xlsx",
         doc["sheet_old"], doc["sheet_new"], "Vloge po upravnih enotah", XLSX_TYPE),
        ("scan", "/files/scan0001.pdf", "/assets/skenirano-porocilo.pdf",
         doc["scan_old"], doc["scan_new"], "Skenirano poročilo o nadzoru meje", PDF_TYPE),
        ("gone", "/files/razpis_2014.pdf", None, doc["gone"], None, "Razpis 2014", PDF_TYPE),
        ("gone_docx", "/files/navodila.docx", None, doc["gone_docx"], None, "Navodila", DOCX_TYPE),
        ("lookalike", "/files/poplave_2012.pdf", None, doc["lookalike_old"], None, "Poplave 2012", PDF_TYPE),
        ("long_query", LONG_QUERY, "/assets/porocilo-o-delu-2016.pdf", doc["long_query"], doc["long_query"],
         "Poročilo o delu 2016", PDF_TYPE),
        ("octet", "/prenos?id=77", "/assets/varnostna-ocena.pdf", doc["octet"], doc["octet"], "Varnostna ocena",
         "application/octet-stream"),
        ("pdf_bomb", "/files/bomba.pdf", None, doc["pdf_bomb"], None, "Bomba PDF", PDF_TYPE),
        ("zip_bomb", "/files/bomba.docx", None, doc["zip_bomb"], None, "Bomba DOCX", DOCX_TYPE),
    ]
    links_old, links_new = [], []
    for key, old_path, new_path, old_body, new_body, text, media_type in table:
        headers = {"Content_Disposition": 'attachment; filename="varnostna_ocena_2018.pdf"'} if key == "octet" else {}
        legacy.add(_served(old_path), old_body, content_type=media_type, **headers)
        links_old.append(f'<li><a href="{old_path}">{text}</a></li>')
        truth[lookup_key(legacy_base + old_path)] = lookup_key(new_base + new_path) if new_path else None
        if new_path:
            new.add(_served(new_path), new_body, content_type=media_type if media_type != "application/octet-stream"
                    else PDF_TYPE)
            links_new.append(f'<li><a href="{new_path}">{text}</a></li>')
    # a lookalike that must not take the removed 2012 report: same template, other year and numbers
    new.add("/assets/poplave-2013.pdf", doc["lookalike_new"], content_type=PDF_TYPE)
    links_new.append('<li><a href="/assets/poplave-2013.pdf">Poplave 2013</a></li>')
    # an image: no row unless the manifest opts images in
    legacy.add("/files/graf.png", png, content_type="image/png")
    new.add("/assets/graf.png", png, content_type="image/png")
    links_old.append('<li><a href="/files/graf.png">Graf</a></li>')
    links_new.append('<li><a href="/assets/graf.png">Graf</a></li>')

    moved = f"{new_base}/dokumenti/porocila-in-obrazci/"
    legacy.add("/dokumenti/", _page("Poročila in obrazci", "<ul>" + "".join(links_old) + "</ul>",
                                    f'<link rel="canonical" href="{moved}">'))
    new.add("/dokumenti/porocila-in-obrazci/", _page("Poročila in obrazci", "<ul>" + "".join(links_new) + "</ul>"))
    # a page and its document, removed on the portal and, in a later capture, on the legacy site too
    legacy.add("/javna-narocila/2016/", _page("Javno naročilo 2016", '<p>Razpisna dokumentacija:</p>'
                                              '<a href="/files/narocilo_2016.pdf">Javno naročilo 2016</a>'))
    legacy.add("/files/narocilo_2016.pdf", doc["with_page"], content_type=PDF_TYPE)
    truth[lookup_key(legacy_base + "/files/narocilo_2016.pdf")] = None
    legacy.add("/", _page("Ministrstvo", '<a href="/dokumenti/">Dokumenti</a> '
                                         '<a href="/javna-narocila/2016/">Javna naročila</a>'))
    new.add("/", _page("GOV.SI", '<a href="/dokumenti/porocila-in-obrazci/">Dokumenti</a>'))
    later = Site(dict(legacy.resources))
    later.add("/javna-narocila/2016/", "<!DOCTYPE html><title>410</title><h1>Odstranjeno</h1>", status=410)
    return legacy, new, truth, later


def _served(path: str) -> str:
    """The path a client requests for a link written as ``path`` (the demo server's resource key)."""
    return quote(path, safe="/%:@!$&'()*+,;=-._~?")
