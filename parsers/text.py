"""Plain text (.txt): manuscripts saved as text, Project Gutenberg books, scratch files.

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: the text in its detected encoding (UTF-8, UTF-16 with BOM, cp1252, ...); paragraphs
by blank lines (or one per line when the file is not hard-wrapped), hard-wrapped prose
reflowed, verse and lists keep their line breaks; chapter headings by pattern ("CHAPTER IV.",
"Chapter Four", "IV", "Letter 2", "BOOK ONE", "PART I", "Prologue") when prose follows them;
scene breaks (***, * * *, #).
Dropped: a Project Gutenberg header, footer and licence; a table of contents that repeats
the headings (counted).
"""
from __future__ import annotations

from collections.abc import Iterator

from miner.documents import blocks_from_text, read_text, strip_gutenberg, title_from_name
from miner.models import Document
from miner.parsers import looks_binary

NAME = "text"
KIND = "document"
LABEL = "plain text"
SUFFIXES = (".txt", ".text", "")


def sniff(s) -> bool:
    # Plain text has no signature: the suffix decides, and a binary file named .txt is still
    # claimed so the user hears "is binary" instead of "unsupported".
    if s.suffix not in SUFFIXES:
        return False
    if s.suffix == "":
        return bool(s.head.strip()) and not looks_binary(s.head) and not s.head.lstrip().startswith((b"{", b"["))
    return True


def parse(entry, opts) -> Iterator[Document]:
    text = read_text(entry, "text file")
    body, pg_title = strip_gutenberg(text)
    blocks, meta = blocks_from_text(body)
    if pg_title:
        meta["gutenberg"] = True
    yield Document(title=pg_title or title_from_name(entry.name), source=entry.name, blocks=blocks, meta=meta)
