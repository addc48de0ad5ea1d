"""Word documents (.docx, also Google Docs and Pages exported as .docx).

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: body paragraphs in order, with tracked insertions (w:ins) kept as the text now reads;
headings by style ("Title", "Heading 1".."Heading 9", custom styles based on them, or an
outline level) and by pattern (a short "Chapter 7", "CHAPTER SEVEN", "Part Two",
"Prologue"); scene breaks (a paragraph that is only ***, * * *, #, ~ or an ornament such as
❦); page breaks (manual breaks and "page break before"); soft line breaks as line breaks;
tables row by row, cells joined by " | "; footnotes only with ParseOptions.footnotes (then
gathered at the end under a "Notes" heading).
Dropped: headers and footers, comments, tracked deletions (w:del), moved-from text, text
boxes and drawings, field codes, footnote reference marks.
Old binary .doc files and password-protected .docx files (both OLE containers) are refused
with a message saying what to do.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from miner.documents import (MAX_DOCUMENT_BYTES, clean_text, heading_level, is_scene_break, seekable,
                             title_from_name)
from miner.errors import InputError
from miner.models import Block, Document
from miner.sources import check_container

NAME = "docx"
KIND = "document"
LABEL = "Word document"

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W = "{%s}" % W
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Elements whose text is not the document's current text, or not prose at all.
_SKIP = {_W + "del", _W + "moveFrom", _W + "instrText", _W + "delInstrText", _W + "txbxContent",
         _W + "footnoteReference", _W + "endnoteReference", _W + "commentReference", _W + "pPr",
         _W + "rPr", _MC + "Fallback", _W + "drawing", _W + "pict", _W + "object"}


def sniff(s) -> bool:
    if s.head.startswith(OLE_MAGIC):
        return s.suffix in (".doc", ".docx", ".docm", ".dot", ".dotx")
    if s.head[:2] != b"PK":
        return False
    return b"word/" in s.head or s.suffix in (".docx", ".docm", ".dotx")


def _ole_error(entry) -> InputError:
    with entry.open() as f:
        blob = f.read(4 * 1024 * 1024)
    if "EncryptedPackage".encode("utf-16-le") in blob:
        return InputError(entry.name, "is password-protected",
                          "open it in Word, remove the password (File > Info > Protect Document), and save")
    return InputError(entry.name, "is an old Word 97-2003 .doc file",
                      "open it in Word or LibreOffice and save it as .docx")


def _style_level(style, cache: dict) -> int:
    """Heading level of a paragraph style (following "based on" links), 0 if not a heading."""
    if style is None:
        return 0
    key = style.style_id
    if key in cache:
        return cache[key]
    level = 0
    seen = set()
    s = style
    while s is not None and s.style_id not in seen:
        seen.add(s.style_id)
        name = (s.name or "").strip().lower()
        m = re.fullmatch(r"heading\s*([1-9])", name)
        if m:
            level = int(m.group(1))
            break
        if name == "title":
            level = 1
            break
        outline = s.element.find(f"{_W}pPr/{_W}outlineLvl")
        if outline is not None and (outline.get(_W + "val") or "").isdigit() and int(outline.get(_W + "val")) < 9:
            level = int(outline.get(_W + "val")) + 1
            break
        s = s.base_style
    cache[key] = level
    return level


def _runs_text(el, out: list[str], breaks: list[int]) -> None:
    """Text of a paragraph-level element in document order. Page breaks are recorded as
    offsets in `breaks` so the caller can split the paragraph there."""
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue
        if tag == _W + "t":
            out.append(child.text or "")
        elif tag == _W + "tab" or tag == _W + "ptab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            if child.get(_W + "type") == "page":
                breaks.append(sum(len(x) for x in out))
            else:
                out.append("\n")
        elif tag == _W + "noBreakHyphen":
            out.append("-")
        elif tag == _W + "sym":
            continue  # a symbol-font glyph: no reliable Unicode
        else:
            _runs_text(child, out, breaks)


def _paragraph(p) -> tuple[str, list[int]]:
    out: list[str] = []
    breaks: list[int] = []
    _runs_text(p, out, breaks)
    return "".join(out), breaks


def _is_centred(p) -> bool:
    jc = p.find(f"{_W}pPr/{_W}jc")
    return jc is not None and jc.get(_W + "val") in ("center", "centre")


def _iter_body(body):
    """Paragraphs and tables of the body in order, looking inside content controls (w:sdt)."""
    for child in body:
        tag = child.tag
        if tag in (_W + "p", _W + "tbl"):
            yield child
        elif tag == _W + "sdt":
            content = child.find(_W + "sdtContent")
            if content is not None:
                yield from _iter_body(content)
        elif tag in (_W + "customXml", _W + "ins", _W + "moveTo"):
            yield from _iter_body(child)


def _table_rows(tbl) -> list[str]:
    rows = []
    for tr in tbl.iter(_W + "tr"):
        cells = []
        for tc in tr.findall(_W + "tc"):
            parts = []
            for p in tc.iter(_W + "p"):
                text, _ = _paragraph(p)
                text = clean_text(text)
                if text:
                    parts.append(text.replace("\n", " "))
            cells.append(" ".join(parts))
        # Merged cells repeat their text in python-docx's view; in the XML they do not.
        if any(cells):
            rows.append(" | ".join(c for c in cells if c))
    return rows


def _footnotes(document) -> list[str]:
    from lxml import etree

    for rel in document.part.rels.values():
        if rel.reltype.endswith("/footnotes") and not rel.is_external:
            root = etree.fromstring(rel.target_part.blob, etree.XMLParser(resolve_entities=False, no_network=True))
            notes = []
            for fn in root.iter(_W + "footnote"):
                if fn.get(_W + "type") in ("separator", "continuationSeparator", "continuationNotice"):
                    continue
                text = " ".join(clean_text(_paragraph(p)[0]) for p in fn.iter(_W + "p"))
                if text.strip():
                    notes.append(text.strip())
            return notes
    return []


def parse(entry, opts) -> Iterator[Document]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with entry.open() as f:
        head = f.read(8)
    if head.startswith(OLE_MAGIC):
        raise _ole_error(entry)
    with seekable(entry, "Word document") as fh:
        check_container(fh, entry.name, MAX_DOCUMENT_BYTES)
        try:
            document = docx.Document(fh)
        except (PackageNotFoundError, KeyError, ValueError, OSError) as e:
            raise InputError(entry.name, "is not a readable Word document (damaged, or not really .docx)",
                             "open it in Word and save it again") from e
        except Exception as e:  # zipfile.BadZipFile, lxml errors: a damaged file either way
            raise InputError(entry.name, f"is not a readable Word document ({type(e).__name__})",
                             "open it in Word and save it again") from e
    try:
        doc = _document(document, entry, opts)
    except Exception as e:  # python-docx follows damaged XML anywhere: a missing body, a bad style
        raise InputError(entry.name, f"is not a readable Word document ({type(e).__name__})",
                         "open it in Word and save it again") from e
    yield doc


def _document(document, entry, opts) -> Document:
    from docx.text.paragraph import Paragraph

    styles: dict = {}
    blocks: list[Block] = []
    title = ""
    core_title = (document.core_properties.title or "").strip()
    for el in _iter_body(document.element.body):
        if el.tag == _W + "tbl":
            blocks.extend(Block("paragraph", row) for row in _table_rows(el))
            continue
        ppr = el.find(_W + "pPr")
        if ppr is not None and ppr.find(_W + "pageBreakBefore") is not None:
            blocks.append(Block("page"))
        text, breaks = _paragraph(el)
        level = _style_level(Paragraph(el, document).style, styles)
        pieces = _split_at(text, breaks)
        for j, piece in enumerate(pieces):
            if j:
                blocks.append(Block("page"))
            clean = clean_text(piece)
            if not clean:
                continue
            if level and len(clean) <= 200:
                style_name = (Paragraph(el, document).style.name or "").lower()
                if style_name == "title" and not title and not any(b.kind == "paragraph" for b in blocks):
                    title = " ".join(clean.split())
                    continue  # the document's title, not a chapter
                blocks.append(Block("heading", " ".join(clean.split()), level))
            elif is_scene_break(clean):
                blocks.append(Block("break", clean))
            elif "\n" not in clean and heading_level(clean, bare_numbers=_is_centred(el)):
                blocks.append(Block("heading", clean, 1))
            else:
                blocks.append(Block("paragraph", clean))
    if opts is not None and getattr(opts, "footnotes", False):
        notes = _footnotes(document)
        if notes:
            blocks.append(Block("heading", "Notes", 1))
            blocks.extend(Block("paragraph", n) for n in notes)
    return Document(title=title or core_title or title_from_name(entry.name), source=entry.name, blocks=blocks)


def _split_at(text: str, offsets: list[int]) -> list[str]:
    if not offsets:
        return [text]
    out, prev = [], 0
    for o in offsets:
        out.append(text[prev:o])
        prev = o
    out.append(text[prev:])
    return out
