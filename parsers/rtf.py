"""Rich Text Format (.rtf): TextEdit, WordPad and Scrivener (Files/Data/<id>/content.rtf).

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: the text (striprtf), one paragraph per RTF paragraph; chapter headings by pattern;
scene breaks. Dropped: formatting, pictures, fields' codes, a table of contents that repeats
the headings.
"""
from __future__ import annotations

from collections.abc import Iterator

from miner.documents import blocks_from_paragraphs, clean_text, read_bytes, title_from_name
from miner.errors import InputError
from miner.models import Document

NAME = "rtf"
KIND = "document"
LABEL = "RTF"


def sniff(s) -> bool:
    return s.stripped.startswith(b"{\\rtf")


def parse(entry, opts) -> Iterator[Document]:
    from striprtf.striprtf import rtf_to_text

    data = read_bytes(entry, "RTF file")
    # RTF is 7-bit ASCII with escapes; anything else is decoded as the cp1252 RTF assumes.
    raw = data.decode("latin-1")
    if raw.count("{") < raw.count("}") - 2 or "\\rtf" not in raw[:64]:
        raise InputError(entry.name, "is not a readable RTF file (unbalanced braces)", "open and re-save it")
    try:
        text = rtf_to_text(_tame_font_table(raw), errors="replace")
    except Exception as e:
        raise InputError(entry.name, f"is not a readable RTF file ({e})", "open and re-save it") from None
    paras = [clean_text(p) for p in text.replace("\r\n", "\n").split("\n")]
    paras = [p for p in paras if p]
    if not paras:
        raise InputError(entry.name, "has no text", "the RTF file contains no words")
    blocks, meta = blocks_from_paragraphs(paras)
    yield Document(title=title_from_name(entry.name), source=entry.name, blocks=blocks, meta=meta)


# striprtf reads the font table with a backtracking regex, r"\\f(\d+).*?\\fcharset(\d+).*?([^;]+);",
# which takes cubic time when a \fcharset has no ';' after it, and quadratic time on a huge
# table: a damaged file could hang the run (found by the slow fuzz suite). Real font tables are
# a few KB with a ';' after every entry; any other is made an ignorable group, so the text is
# still read (only the font charsets, which matter for non-Western \'xx escapes, are lost).
FONT_TABLE_MAX = 20_000


def _tame_font_table(raw: str) -> str:
    from striprtf.striprtf import font_table_group

    group = font_table_group(raw)
    if not group:
        return raw
    if len(group) <= FONT_TABLE_MAX and group.rfind(";") > group.rfind("\\fcharset"):
        return raw
    at = raw.index(group)
    return raw[:at] + group.replace("\\fonttbl", "\\*\\minerfonttbl", 1) + raw[at + len(group):]

