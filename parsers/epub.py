"""EPUB e-books (.epub): the XHTML chapters in reading (spine) order, through the HTML logic.

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: META-INF/container.xml -> the OPF package -> spine items, each parsed like HTML;
a new spine file counts as a page break (a strong boundary) when it has no heading of its
own. Title from dc:title.
Dropped: the navigation document (table of contents), non-linear items (linear="no"),
images, styles. DRM-encrypted books are refused with a clear message.
"""
from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote

from miner.documents import MAX_DOCUMENT_BYTES, seekable, title_from_name
from miner.errors import InputError
from miner.models import Block, Document
from miner.sources import DAMAGED, check_container

NAME = "epub"
KIND = "document"
LABEL = "EPUB"

_OPF_NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/",
           "c": "urn:oasis:names:tc:opendocument:xmlns:container"}


def sniff(s) -> bool:
    # The EPUB container's first member must be an uncompressed "mimetype" file.
    if s.head[:4] != b"PK\x03\x04":
        return False
    return b"mimetypeapplication/epub+zip" in s.head[:200] or s.suffix == ".epub"


def _xml(data: bytes):
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:  # even recover=True gives up on some bytes (a bad encoding)
        raise ValueError(str(e)) from None
    if root is None:
        raise ValueError("empty XML")
    return root


def _read(zf: zipfile.ZipFile, entry, name: str) -> bytes:
    """One part of the book. KeyError when it is missing; InputError when it cannot be
    unpacked (a damaged download, or a ZIP-level password)."""
    try:
        return zf.read(name)
    except RuntimeError:  # zipfile: "File ... is encrypted, password required for extraction"
        raise InputError(entry.name, "is password-protected", "only unprotected books can be read") from None
    except DAMAGED as e:
        raise InputError(entry.name, f"is damaged ({e})", "re-download or re-export the book") from None


def parse(entry, opts) -> Iterator[Document]:
    try:
        doc = _book(entry)
    except (ValueError, TypeError, AttributeError, KeyError, OSError) as e:
        # lxml's recovery turns damaged XML into trees that can still fail when read (text
        # that is not UTF-8, ...), and a damaged ZIP can fail on any read: a bad file either way.
        raise InputError(entry.name, f"is not a readable EPUB ({type(e).__name__})",
                         "re-download or re-export the book") from None
    yield doc


def _book(entry) -> Document:
    from miner.parsers.html import blocks_from_element, soup_of

    bad = InputError(entry.name, "is not a readable EPUB (damaged ZIP or missing package file)",
                     "re-download or re-export the book")
    with seekable(entry, "EPUB") as fh:
        check_container(fh, entry.name, MAX_DOCUMENT_BYTES)
        try:
            zf = zipfile.ZipFile(fh)
        except (*DAMAGED, ValueError):
            raise bad from None
        with zf:
            names = set(zf.namelist())
            if "META-INF/encryption.xml" in names:
                enc = _read(zf, entry, "META-INF/encryption.xml")
                if b"EncryptedData" in enc and b"font" not in enc.lower():
                    raise InputError(entry.name, "is DRM-protected (encrypted EPUB)",
                                     "only DRM-free books can be read; export your own manuscript instead")
            try:
                container = _xml(_read(zf, entry, "META-INF/container.xml"))
                opf_path = container.find(".//c:rootfile", _OPF_NS).get("full-path")
                opf = _xml(_read(zf, entry, opf_path))
            except (KeyError, AttributeError, ValueError, TypeError):
                raise bad from None
            base = posixpath.dirname(opf_path)
            title_el = opf.find(".//dc:title", _OPF_NS)
            title = " ".join((title_el.text or "").split()) if title_el is not None else ""
            manifest = {}
            for item in opf.iterfind(".//opf:manifest/opf:item", _OPF_NS):
                manifest[item.get("id")] = item
            blocks: list[Block] = []
            for ref in opf.iterfind(".//opf:spine/opf:itemref", _OPF_NS):
                if ref.get("linear", "yes").lower() == "no":
                    continue
                item = manifest.get(ref.get("idref"))
                if item is None or "nav" in (item.get("properties") or "").split():
                    continue
                if "html" not in (item.get("media-type") or "") and "xml" not in (item.get("media-type") or ""):
                    continue
                href = posixpath.normpath(posixpath.join(base, unquote(item.get("href") or "")))
                try:
                    data = _read(zf, entry, href)
                except KeyError:
                    continue  # a broken reference: the rest of the book is still worth reading
                soup = soup_of(data)
                part = blocks_from_element(soup.body or soup)
                if not part:
                    continue
                if blocks and part[0].kind != "heading":
                    blocks.append(Block("page"))
                blocks.extend(part)
    return Document(title=title or title_from_name(entry.name), source=entry.name, blocks=blocks)

