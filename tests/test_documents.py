"""Documents: recognised by label and magic bytes, read by real libraries, bombs bounded."""
from __future__ import annotations

import tracemalloc

import pytest

from archiver.documents import Budget, Limits, declared_kind, document_kind, extract, file_name

import documents_gen as gen

TEXT = ["Letno porocilo o delu policije za leto 2018 obsega pregled kriminalitete in prometne varnosti.",
        "V letu 2018 je policija obravnavala 71.000 kaznivih dejanj, kar je manj kot leto prej.",
        "Posebna pozornost je bila namenjena nadzoru drzavne meje in boju proti trgovini z ljudmi."]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def samples():
    return {
        "pdf": gen.pdf(TEXT, title="Poročilo 2018", pages=2),
        "docx": gen.docx(TEXT, title="Poročilo o delu"),
        "xlsx": gen.xlsx([["Upravna enota", "Vloge"], ["Ljubljana", 1200], ["Maribor", 800]], title="Statistika"),
        "pptx": gen.pptx(["Migracije 2018", "Schengen"], title="Predstavitev"),
        "odt": gen.odt(TEXT, title="Odprti dokument"),
        "rtf": gen.rtf("Poročilo o delu upravnih enot", title="Poročilo"),
        "txt": "Obvestilo o spremembi delovnega časa upravne enote Šentjur.".encode("utf-8"),
    }


@pytest.mark.parametrize("kind", ["pdf", "docx", "xlsx", "pptx", "odt", "rtf", "txt"])
def test_magic_bytes_decide_whatever_the_label(samples, kind):
    body = samples[kind]
    assert document_kind(body, "", f"file.{kind}") == kind
    if kind != "txt":  # plain text has no magic: only its label or name can say so
        assert document_kind(body, "application/octet-stream", "download") == kind
        assert document_kind(body, "application/force-download", "file.bin") == kind


def test_labels_propose_and_bytes_refuse(samples):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    assert document_kind(png, "application/pdf", "scan.pdf") is None  # an image is never a document
    assert document_kind(b"<!DOCTYPE html><title>Error</title>", "application/pdf", "x.pdf") is None
    assert document_kind(b"File not found on this server", "application/pdf", "x.pdf") is None
    assert document_kind(b"", "application/pdf", "x.pdf") == "pdf"  # an empty body keeps its label
    assert document_kind(samples["docx"], "application/zip", "x.zip") == "docx"  # by its parts, not its label
    # a zip is only an office file by its members
    plain_zip = gen.odt(["x"]).replace(b"mimetype", b"mimetypx")
    assert document_kind(plain_zip, DOCX_TYPE, "x.docx") is None
    # a DOCX cut before its central directory keeps the label's kind; a cut zip labelled PDF does not
    cut = samples["docx"][: len(samples["docx"]) // 2]
    assert document_kind(cut, DOCX_TYPE, "x.docx") == "docx"
    assert document_kind(cut, "application/octet-stream", "x.pdf") is None
    assert document_kind(b"\x00\x01binary", "text/plain", "x.txt") is None
    assert document_kind(samples["txt"], "text/plain; charset=utf-8".split(";")[0], "") == "txt"
    assert declared_kind("application/octet-stream", "Poročilo_2018.PDF") == "pdf"
    assert declared_kind("image/png", "x.pdf") is None  # a specific non-document label is not overruled by a name


def test_file_names_from_disposition_and_url():
    assert file_name("http://x/d/Poro%C4%8Dilo_2018.pdf") == "Poročilo_2018.pdf"
    assert file_name("http://x/download?id=5", "attachment; filename*=UTF-8''Poro%C4%8Dilo%202018.pdf") == \
        "Poročilo 2018.pdf"
    assert file_name("http://x/download?id=5", 'attachment; filename="C:\\temp\\letno.docx"') == "letno.docx"
    assert file_name("http://x/files/a%20b.pdf", "inline") == "a b.pdf"


def test_text_title_and_pages_of_every_kind(samples):
    read = {kind: extract(kind, body) for kind, body in samples.items()}
    assert all(not r.problem for r in read.values()), {k: r.problem for k, r in read.items()}
    assert "71.000 kaznivih dejanj" in read["pdf"].text and read["pdf"].pages == 2
    assert read["pdf"].title == "Poročilo 2018"
    assert "prometne varnosti" in read["docx"].text and read["docx"].title == "Poročilo o delu"
    assert "Ljubljana" in read["xlsx"].text and read["xlsx"].pages == 1 and read["xlsx"].title == "Statistika"
    assert "Schengen (details)" in read["pptx"].text and read["pptx"].pages == 2
    assert "trgovini z ljudmi" in read["odt"].text and read["odt"].title == "Odprti dokument"
    assert read["rtf"].text == "Poročilo o delu upravnih enot" and read["rtf"].title == "Poročilo"
    assert "Šentjur" in read["txt"].text


def test_re_saved_files_read_the_same(samples):
    resaved_pdf = gen.resave_pdf(samples["pdf"], producer="GOV.SI portal")
    resaved_docx = gen.resave_docx(samples["docx"], author="Portal")
    assert resaved_pdf != samples["pdf"] and resaved_docx != samples["docx"]
    for kind, before, after in (("pdf", samples["pdf"], resaved_pdf), ("docx", samples["docx"], resaved_docx)):
        a, b = extract(kind, before), extract(kind, after)
        assert (a.text, a.title, a.pages) == (b.text, b.title, b.pages)


def test_caps_on_pages_and_characters():
    long_pdf = gen.pdf([f"Stran {n}: " + "besedilo " * 40 for n in range(30)], pages=30)
    read = extract("pdf", long_pdf, limits=Limits(max_pages=3))
    assert read.pages == 30 and "Stran 2:" in read.text and "Stran 3:" not in read.text
    assert "first 3 of 30 pages" in read.problem
    short = extract("docx", gen.docx(["x" * 5000, "y" * 5000]), limits=Limits(max_chars=6000))
    assert len(short.text) <= 6000 and "cut at 6,000 characters" in short.problem


def test_zip_bomb_disguised_as_docx_is_refused_before_inflating():
    bomb = gen.zip_bomb_docx(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024 and document_kind(bomb, DOCX_TYPE, "Porocilo.docx") == "docx"
    tracemalloc.start()
    try:
        read = extract("docx", bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read.text == "" and "word/document.xml declares 209,715,200 bytes" in read.problem
    assert peak < 20 * 1024 * 1024  # the member list was read; nothing was inflated
    # the ratio alone refuses a member under the size cap
    assert "zip bomb" in extract("docx", gen.zip_bomb_docx(8 * 1024 * 1024)).problem


def test_zip_bomb_with_lying_headers_stops_at_the_cap():
    bomb = gen.lying_zip_bomb_docx(inflated=64 * 1024 * 1024, declared=2000)
    tracemalloc.start()
    try:
        read = extract("docx", bomb, limits=Limits(max_member=1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read.text == "" and read.problem  # cut at the declared size (zipfile) or at our cap, never inflated
    assert peak < 20 * 1024 * 1024


def test_xml_entities_are_never_expanded():
    read = extract("docx", gen.entity_bomb_docx())
    assert "laugh" not in read.text and len(read.text) < 1000


def test_pdf_bomb_costs_bounded_memory_and_the_rest_is_read():
    bomb = gen.pdf_bomb(depth=100_000, inflated=300 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024 and document_kind(bomb, "application/pdf", "bomb.pdf") == "pdf"
    tracemalloc.start()
    try:
        read = extract("pdf", bomb, limits=Limits(max_member=8 * 1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read.pages == 3 and read.title == "Bomb report"
    assert "The last page is read" in read.text
    assert "page 1 unreadable" in read.problem and "Limit reached" in read.problem
    assert peak < 120 * 1024 * 1024  # never the 300 MB the stream would inflate to


def test_time_budget_through_the_clock_seam(samples):
    now = [0.0]

    def clock():
        now[0] += 1.0  # every look at the clock costs a second
        return now[0]

    long_pdf = gen.pdf([f"Odstavek {n} " + "besedilo " * 30 for n in range(12)], pages=6)
    read = extract("pdf", long_pdf, budget=Budget(3.0, clock=clock))
    assert "time budget of 3 s spent" in read.problem
    assert read.pages == 6 and "Odstavek 11" not in read.text  # stopped early, what was read is kept
    assert not extract("pdf", long_pdf, budget=Budget(1e9, clock=clock)).problem


def test_legacy_binary_files_are_recognised_and_said_unreadable():
    import olefile  # noqa: F401  (the container reader the sniffing uses)

    ole = _minimal_ole_with_stream("WordDocument")
    assert document_kind(ole, "application/octet-stream", "old.doc") == "doc"
    read = extract("doc", ole)
    assert read.text == "" and "no maintained text reader for .doc" in read.problem
    assert document_kind(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "application/msword", "cut.doc") == "doc"
    broken = extract("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert broken.problem.startswith("no OLE summary") or "unreadable xls" in broken.problem


def _minimal_ole_with_stream(name: str) -> bytes:
    """A valid OLE2 compound file holding one small stream (written by hand, as olefile cannot write)."""
    import struct

    sector = 512
    header = bytearray(sector)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 44, 1)  # one FAT sector
    struct.pack_into("<I", header, 48, 1)  # directory starts at sector 1
    struct.pack_into("<I", header, 56, 4096)  # mini stream cutoff
    struct.pack_into("<I", header, 60, 0xFFFFFFFE)  # no mini FAT
    struct.pack_into("<I", header, 68, 0xFFFFFFFE)  # no DIFAT sectors
    struct.pack_into("<I", header, 76, 0)  # the FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, 0xFFFFFFFF)
    directory = bytearray(sector)

    def entry(index: int, entry_name: str, kind: int, child: int, start: int, size: int) -> None:
        at = index * 128
        encoded = (entry_name + "\0").encode("utf-16-le")
        directory[at:at + len(encoded)] = encoded
        struct.pack_into("<HBB", directory, at + 64, len(encoded), kind, 1)
        struct.pack_into("<III", directory, at + 68, 0xFFFFFFFF, 0xFFFFFFFF, child)
        struct.pack_into("<II", directory, at + 116, start, size)

    entry(0, "Root Entry", 5, 1, 0xFFFFFFFE, 0)
    entry(1, name, 2, 0xFFFFFFFF, 2, 4096)
    for unused in (2, 3):
        struct.pack_into("<III", directory, unused * 128 + 68, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    data = bytes(4096)
    fat = bytearray(b"\xff" * sector)
    chain = [0xFFFFFFFD, 0xFFFFFFFE] + [3 + i for i in range(7)] + [0xFFFFFFFE]
    for i, value in enumerate(chain):
        struct.pack_into("<I", fat, 4 * i, value)
    return bytes(header + fat + directory + data)
