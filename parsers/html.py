"""HTML pages (.html/.htm/.xhtml): saved web pages, Notion/Apple Notes HTML exports, and the
engine the EPUB and ENEX parsers reuse for their XHTML.

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: h1-h6 as headings (h1 = chapter), p/div/li/blockquote/td... as paragraphs, <br> as a
line break inside a paragraph, <hr> and ***-style paragraphs as scene breaks, a short
"Chapter 7" paragraph as a chapter heading, checklist items (Apple Notes) as "[ ]"/"[x]".
Dropped: scripts, styles, navigation, forms, images, <head> (its <title> becomes the
document title), comments; a Project Gutenberg header/footer.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from miner.documents import (clean_text, heading_level, is_scene_break, read_bytes, strip_notion_id,
                             title_from_name)
from miner.errors import InputError
from miner.models import Block, Document
from miner.parsers import looks_binary, text_of

NAME = "html"
KIND = "document"
LABEL = "HTML"
SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")

DROP_TAGS = {"script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "object", "embed",
             "button", "form", "input", "select", "textarea", "canvas", "audio", "video", "map", "img",
             "picture", "title", "meta", "link"}
BLOCK_TAGS = {"p", "div", "section", "article", "main", "aside", "blockquote", "pre", "li", "ul", "ol", "dl",
              "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "figure", "figcaption",
              "address", "center", "body", "html", "header", "footer", "details", "summary", "caption",
              "fieldset", "hgroup", "en-note"}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_WS = re.compile(r"\s+")
MAX_DEPTH = 200  # element nesting the walk follows; real pages nest a few dozen deep


def sniff(s) -> bool:
    if looks_binary(s.head):
        return False
    head = s.stripped[:4096].lower()
    if b"<en-export" in head:
        return False
    if b"<!doctype html" in head or b"<html" in head:
        return True
    return s.suffix in SUFFIXES and head.startswith(b"<")


class _Walker:
    """Depth-first walk turning an element tree (BeautifulSoup) into Blocks."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.buf: list[str] = []

    def flush(self) -> None:
        text = clean_text("".join(self.buf))
        self.buf = []
        if not text:
            return
        if is_scene_break(text):
            self.blocks.append(Block("break", text))
        elif "\n" not in text and heading_level(text, bare_numbers=False):
            self.blocks.append(Block("heading", text, 1))
        else:
            self.blocks.append(Block("paragraph", text))

    def walk(self, node, pre: bool = False, depth: int = 0) -> None:
        from bs4 import CData, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

        if depth > MAX_DEPTH:
            # Only a broken or hostile page nests this deep; recursing further would overflow
            # Python's stack, so what is inside is kept as plain text (get_text is iterative).
            self.buf.append(node.get_text(" ") if pre else _WS.sub(" ", node.get_text(" ")))
            return
        for child in node.children:
            if isinstance(child, NavigableString):
                if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction, CData)):
                    continue
                s = str(child)
                self.buf.append(s if pre else _WS.sub(" ", s))
                continue
            name = (child.name or "").lower()
            if name in DROP_TAGS:
                continue
            if name in HEADINGS:
                self.flush()
                text = " ".join(clean_text(child.get_text(" ")).split())
                if text:
                    self.blocks.append(Block("heading", strip_notion_id(text), HEADINGS[name]))
                continue
            if name == "hr":
                self.flush()
                self.blocks.append(Block("break", ""))
                continue
            if name == "br":
                self.buf.append("\n")
                continue
            if name in BLOCK_TAGS:
                self.flush()
                if name == "li":
                    self.buf.append(_checkbox(child))
                self.walk(child, pre or name == "pre", depth + 1)
                self.flush()
                continue
            self.walk(child, pre, depth + 1)


def _checkbox(li) -> str:
    """Checklist items (Apple Notes exports: <ul class="checklist"><li class="checked">) read
    as "[x] item" / "[ ] item", the way the note shows them."""
    parent = li.parent
    if parent is None or "checklist" not in (parent.get("class") or []):
        return ""
    return "[x] " if "checked" in (li.get("class") or []) else "[ ] "


def blocks_from_element(root) -> list[Block]:
    w = _Walker()
    w.walk(root)
    w.flush()
    return strip_gutenberg_blocks(w.blocks)


_PG_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_PG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)


def strip_gutenberg_blocks(blocks: list[Block]) -> list[Block]:
    """Project Gutenberg HTML books carry the same header/footer markers as their text files."""
    start = next((i for i, b in enumerate(blocks) if b.kind == "paragraph" and _PG_START.match(b.text)), None)
    if start is None:
        return blocks
    end = next((i for i, b in enumerate(blocks) if i > start and b.kind == "paragraph" and _PG_END.match(b.text)),
               len(blocks))
    return blocks[start + 1:end]


def soup_of(data: bytes | str):
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    # EPUB chapters and ENML are XHTML: the HTML parser reads them as intended, so bs4's
    # advice to switch parsers would only be noise on the user's terminal.
    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)

    if isinstance(data, bytes) and _declares_charset(data):
        try:
            return BeautifulSoup(data, "lxml")
        except (ValueError, LookupError):  # a garbled charset name ("\x02utf-8"): decode it ourselves
            pass
    if isinstance(data, bytes):
        data = text_of(data)
    return BeautifulSoup(data, "lxml")


def _declares_charset(data: bytes) -> bool:
    # Let the HTML parser honour <meta charset=...> when the page declares one.
    return bool(re.search(rb"<meta[^>]+charset", data[:4096], re.IGNORECASE))


def document_from_html(data: bytes | str, source: str, fallback_title: str) -> Document:
    soup = soup_of(data)
    title = ""
    if soup.title and soup.title.get_text(strip=True):
        title = strip_notion_id(" ".join(soup.title.get_text().split()))
    root = soup.body or soup
    blocks = blocks_from_element(root)
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "") or fallback_title
    return Document(title=title, source=source, blocks=blocks)


def parse(entry, opts) -> Iterator[Document]:
    data = read_bytes(entry, "HTML file")
    if looks_binary(data):
        raise InputError(entry.name, "is binary, not an HTML file", "is it an image with the wrong extension?")
    doc = document_from_html(data, entry.name, title_from_name(entry.name))
    yield doc
