"""Documents: which captures are PDFs, office files, RTF or plain text, and what they say.

``sniff.document_kind(body, media_type, name)`` recognises a document by its
Content-Type *and* its magic bytes; ``text.extract(kind, body)`` reads its
text, title and page count with well-kept libraries, capped so that a bomb
costs a bounded amount of memory and time and never raises.
"""
from archiver.documents.sniff import KINDS, declared_kind, document_kind, file_name
from archiver.documents.text import Budget, DocumentText, Limits, extract

__all__ = ["KINDS", "declared_kind", "document_kind", "file_name", "Budget", "DocumentText", "Limits", "extract"]
