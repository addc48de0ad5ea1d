"""Evernote exports (.enex): one notebook per file, one Document per note.

Where it sits: sources -> parsers.detect -> here -> Documents -> chunking.

The file is stream-parsed (lxml iterparse), one <note> at a time, and attachment data is
freed as soon as it is read past, so a multi-gigabyte notebook never sits in memory.
Read: the note's title, its ENML content through the HTML logic (headings, paragraphs,
<br>, lists), checkboxes as "[ ]"/"[x]"; meta: created, updated (ISO 8601), tags,
notebook (the file name).
Dropped: attachments (<en-media>, <resource>), encrypted sections (<en-crypt>, counted),
note attributes (author, location, source URL: personal data, not writing).
A note whose content cannot be read is skipped with its title named; a file cut off
mid-way keeps the notes before the damage and is reported.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from miner.documents import add_dropped, title_from_name
from miner.errors import InputError
from miner.models import Document, Skip

NAME = "enex"
KIND = "document"
LABEL = "Evernote ENEX"


def sniff(s) -> bool:
    return b"<en-export" in s.head[:4096]


def enex_date(value: str | None) -> str | None:
    """20090101T101010Z -> 2009-01-01T10:10:10Z; ISO dates (hand-made files) pass through."""
    if not value:
        return None
    v = value.strip()
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z?", v)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}Z"
    return v or None


def enml_to_blocks(enml: str) -> tuple[list, int]:
    """ENML (Evernote's XHTML) -> (Blocks, number of encrypted sections dropped)."""
    from bs4 import BeautifulSoup

    from miner.parsers.html import blocks_from_element

    enml = re.sub(r"^\s*<\?xml[^>]*\?>", "", enml)
    enml = re.sub(r"<!DOCTYPE[^>]*>", "", enml, count=1)
    soup = BeautifulSoup(enml, "lxml")
    crypt = 0
    for el in soup.find_all("en-crypt"):
        el.decompose()
        crypt += 1
    for el in soup.find_all("en-media"):
        el.decompose()
    for el in soup.find_all("en-todo"):
        checked = (el.get("checked") or "").strip().lower() == "true"
        el.replace_with("[x] " if checked else "[ ] ")
    root = soup.find("en-note") or soup.body or soup
    return blocks_from_element(root), crypt


def _text(el, tag: str) -> str:
    child = el.find(tag)
    return " ".join((child.text or "").split()) if child is not None and child.text else ""


def parse(entry, opts) -> Iterator[Document | Skip]:
    from lxml import etree

    notebook = title_from_name(entry.name)
    n = 0
    with entry.open() as f:
        events = etree.iterparse(f, events=("end",), tag=("note", "data", "recognition"),
                                 resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
        try:
            for _, el in events:
                if el.tag != "note":
                    el.clear()  # attachment bytes and OCR data: not needed, free them now
                    continue
                n += 1
                yield _note(el, entry.name, notebook, n)
                el.clear()
                while el.getprevious() is not None:  # drop finished siblings too
                    del el.getparent()[0]
        except etree.XMLSyntaxError as e:
            msg = " ".join(str(e.msg).split())  # libxml2 quotes the offending line, newlines and all
            if n == 0:
                raise InputError(entry.name, f"is not a readable ENEX file ({msg})",
                                 "export the notebook from Evernote again") from None
            raise InputError(entry.name, f"is damaged or cut off after note {n} ({msg})",
                             f"the first {n} notes were read; export the notebook again for the rest") from None
    if n == 0:
        raise InputError(entry.name, "has no notes", "the ENEX export is empty")


def _note(el, source: str, notebook: str, n: int) -> Document | Skip:
    title = _text(el, "title")
    where = f"{source}!note {n}" + (f" ({title})" if title else "")
    content_el = el.find("content")
    content = content_el.text if content_el is not None else None
    if not content or not content.strip():
        return Skip("note without content", where)
    try:
        blocks, crypt = enml_to_blocks(content)
    except Exception as e:  # one broken note must not sink the notebook
        return Skip("unreadable note", where, f"{type(e).__name__}: {e}")
    meta: dict = {"notebook": notebook}
    created, updated = enex_date(_text(el, "created")), enex_date(_text(el, "updated"))
    if created:
        meta["created"] = created
    if updated:
        meta["updated"] = updated
    tags = [" ".join((t.text or "").split()) for t in el.findall("tag") if (t.text or "").strip()]
    if tags:
        meta["tags"] = tags
    # note-attributes (author, location, source URL) are personal data, not writing: not kept.
    add_dropped(meta, "encrypted Evernote sections", crypt)
    meta["note"] = n
    return Document(title=title or f"{notebook} note {n}", source=source, blocks=blocks, meta=meta)
