"""Fuzzing the document parsers (DOCX, EPUB, PDF, RTF, ENEX, HTML, Markdown, text, Google Keep)
through detection and parsing, as `miner chunk`, `miner synth` and `miner inspect` reach them:
real samples mutated byte by byte (truncation, flips, format tokens, BOMs, NULs, invalid
UTF-8, repeats) and, for ZIP containers, member by member; plus hostile shapes once each
(entity and alias bombs, external entities, zip bombs inside a DOCX, 100,000-deep nesting).

Each input ends as records or one clear error naming the file; never a crash, hang or blow-up.
"""
from __future__ import annotations

import functools
import io
import zipfile

import orjson
import pytest
from fuzzkit import budgets, bytes_entry, exercise, export_like, file_entry, from_seeds, fuzz_parser, named, seeds
from hypothesis import strategies as st

from miner.errors import InputError

pytestmark = pytest.mark.usefixtures("bounded_memory")


@pytest.mark.parametrize("n", budgets(0.5))
def test_docx_members_mutated(n, tmp_path):
    fuzz_parser("docx", from_seeds("docx", "xml", ["chapter.docx", "old.doc"], zipped=True), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets(0.5))
def test_docx_bytes_mutated(n, tmp_path):
    fuzz_parser("docx", from_seeds("docx", "xml", ["chapter.docx", "word.doc"]), n, tmp_path, 0.3)


@pytest.mark.parametrize("n", budgets(0.7))
def test_epub_members_mutated(n, tmp_path):
    fuzz_parser("epub", from_seeds("epub", "xml", ["novel.epub"], zipped=True), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets(0.3))
def test_epub_bytes_mutated(n, tmp_path):
    fuzz_parser("epub", from_seeds("epub", "xml", ["novel.epub"]), n, tmp_path, 0.3)


@pytest.mark.parametrize("n", budgets())
def test_pdf_mutated(n, tmp_path):
    fuzz_parser("pdf", from_seeds("pdf", "pdf", ["scan.pdf"]), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets())
def test_rtf_mutated(n, tmp_path):
    fuzz_parser("rtf", from_seeds("rtf", "rtf", ["notes.rtf", "content.rtf"]), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets())
def test_enex_mutated(n, tmp_path):
    fuzz_parser("enex", from_seeds("enex", "xml", ["Notebook.enex"]), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets())
def test_html_mutated(n, tmp_path):
    fuzz_parser("html", from_seeds("html", "xml", ["page.htm", "note"]), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets())
def test_markdown_mutated(n, tmp_path):
    fuzz_parser("markdown", from_seeds("markdown", "text", ["Vault/Note.md", "page.markdown"]), n, tmp_path, 0.5)


@pytest.mark.parametrize("n", budgets())
def test_text_mutated(n, tmp_path):
    fuzz_parser("text", from_seeds("text", "text", ["draft.txt", "README"]), n, tmp_path, 0.3)


KEEP_NAMES = ["Takeout/Keep/Walk.json", "Keep/2024-01-01T10_00_00.json"]


@pytest.mark.parametrize("n", budgets(0.5))
def test_keep_note_shaped_json_with_random_types(n, tmp_path):
    note = orjson.loads(seeds("keep")[0][1])
    data = export_like([note]).map(lambda x: orjson.dumps(x, option=orjson.OPT_NON_STR_KEYS))
    fuzz_parser("keep", named(KEEP_NAMES, data), n, tmp_path, 0.3)


@pytest.mark.parametrize("n", budgets(0.5))
def test_keep_mutated(n, tmp_path):
    inputs = st.one_of(from_seeds("keep", "json", KEEP_NAMES), from_seeds("keep", "xml", ["Takeout/Keep/Walk.html"]))
    fuzz_parser("keep", inputs, n, tmp_path, 0.2)


# ---- hostile shapes, once each -----------------------------------------------------------------

def check(name: str, blob: bytes, tmp_path):
    """Both entry kinds (file on disk, archive member); returns the outcomes."""
    return [exercise(e) for e in (bytes_entry(f"Takeout.zip!{name}", blob), file_entry(tmp_path, name, blob))]


def _yaml_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines)


@pytest.mark.parametrize("front", [
    "a: &a [*a]",  # a list that contains itself
    "a: &a {b: *a}",
    _yaml_bomb(),  # 9^9 strings if expanded
    "a: " + "[" * 5000 + "]" * 5000,
    "title: " + "x" * 1_000_000,
], ids=["self-list", "self-map", "alias-bomb", "deep", "huge"])
def test_hostile_front_matter_keeps_the_note(front, tmp_path):
    blob = f"---\n{front}\n---\n# The Salt Road\n\nThe road ran white to the sea.\n".encode()
    for o in check("note.md", blob, tmp_path):
        assert o.items["document"] == 1, o


@pytest.mark.parametrize("date", ["2024-02-30", "2023-13-01", "2024-01-01 25:61:00"])
def test_impossible_date_in_front_matter(date, tmp_path):
    """Found by the slow fuzz run: PyYAML raises ValueError for a date that cannot exist."""
    blob = f"---\ntitle: Salt Road\ncreated: {date}\ntags: [walks]\n---\nThe road ran white to the sea.\n".encode()
    from miner import parsers

    e = bytes_entry("v.zip!note.md", blob)
    [doc] = list(parsers.detect(e).parse(e, parsers.ParseOptions()))
    assert doc.title == "Salt Road" and doc.meta["created"] == date and doc.meta["tags"] == ["walks"]
    assert [b.text for b in doc.blocks] == ["The road ran white to the sea."]  # no YAML in the prose
    for o in check("note.md", blob, tmp_path):
        assert o.items["document"] == 1


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
                  + "]>")
XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'


def _enex(doctype: str, body: str) -> bytes:
    return (f'{doctype}<en-export><note><title>T</title><content><![CDATA[<en-note>{body}</en-note>]]></content>'
            f"</note><note><title>{body}</title><content>x</content></note></en-export>").encode()


@pytest.mark.parametrize("doctype,body", [(BILLION_LAUGHS, "&lol9;"), (XXE, "&xxe;")])
def test_entity_bombs_and_external_entities_in_xml(doctype, body, tmp_path):
    hostname = open("/etc/hostname").read().strip() if doctype == XXE else "\0"
    outs = check("n.enex", _enex(doctype, body), tmp_path)
    outs += check("n.html", f"{doctype}<html><body><p>{body}</p></body></html>".encode(), tmp_path)
    docx = _docx_with(document=f'{doctype}<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
                               f'2006/main"><w:body><w:p><w:r><w:t>{body}</w:t></w:r></w:p></w:body></w:document>')
    outs += check("d.docx", docx, tmp_path)
    for o in outs:
        assert hostname not in repr(o)
    # a file's content never comes back from an external entity
    for blob, name in ((_enex(doctype, body), "n.enex"), (docx, "d.docx")):
        from miner import parsers

        e = bytes_entry(f"x.zip!{name}", blob)
        try:
            items = list(parsers.detect(e).parse(e, parsers.ParseOptions()))
        except InputError:
            continue
        text = repr(items)
        assert hostname not in text and "lollollol" * 1000 not in text


def _docx_with(**members: str | bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(seeds("docx")[1][1]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            key = info.filename.rsplit("/", 1)[-1].removesuffix(".xml")
            data = members.get(key, src.read(info.filename))
            z.writestr(info.filename, data)
    return out.getvalue()


@pytest.mark.parametrize("container", ["docx", "epub"])
def test_zip_bomb_inside_a_document_container(container, tmp_path):
    """A DOCX/EPUB is a ZIP read as a document: a member that inflates to gigabytes must be
    refused, not read into memory."""
    if container == "docx":
        blob = _bomb_into(seeds("docx")[1][1], "word/document.xml")
    else:
        blob = _bomb_into(seeds("epub")[0][1], "OEBPS/text/ch1.xhtml")
    for o in check(f"bomb.{container}", blob, tmp_path):
        assert any("zip bomb" in e for e in o.errors), o  # refused before anything was unpacked


@functools.lru_cache(maxsize=None)
def _bomb_into(container: bytes, member: str, size: int = 640 * 1024**2) -> bytes:
    """`container` with `member` replaced by `size` bytes of spaces (deflated: ~1 MB per GB),
    more than one document may hold in memory (documents.MAX_DOCUMENT_BYTES)."""
    src = zipfile.ZipFile(io.BytesIO(container))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            if info.filename != member:
                z.writestr(info, src.read(info.filename))
                continue
            info = zipfile.ZipInfo(member)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as w:
                block = b" " * (1 << 24)
                for _ in range(size // len(block)):
                    w.write(block)
    return out.getvalue()


@pytest.mark.parametrize("name,blob", [
    ("deep.html", b"<div>" * 100_000 + b"text" + b"</div>" * 100_000),
    ("deep.md", b"> " * 100_000 + b"quote\n"),
    ("list.md", b"".join(b"  " * i + b"- item\n" for i in range(3000))),
    ("deep.rtf", b"{\\rtf1 " + b"{" * 100_000 + b"x" + b"}" * 100_000 + b"}"),
    ("deep.enex", b"<en-export>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</en-export>"),
    ("huge-line.txt", b"word " * 2_000_000),
    ("nul.txt", b"\x00" * 10_000),
    ("utf16.txt", "Chapter 1\n\nThe tide came in.\n".encode("utf-16")),
    ("mixed.md", b"\xef\xbb\xbf# Title\n\n\xff\xfe broken \xc3 bytes\r\n\r\nmore\x00"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_deep_nesting_huge_lines_and_odd_encodings(name, blob, tmp_path):
    check(name, blob, tmp_path)


@pytest.mark.parametrize("charset", [b"\x02utf-8", b"utf-\x1f8", b"no-such-charset", b"\"\"", b"utf-8\n"])
def test_garbled_charset_declaration_in_html(charset, tmp_path):
    """Found by bench/fuzz_atheris.py: a control character in <meta charset> crashed lxml."""
    blob = b'<html><head><meta charset="' + charset + b'"><title>Sea</title></head><body><p>The tide.</p></body></html>'
    for o in check("page.html", blob, tmp_path):
        assert o.items["document"] == 1, o


# Inputs the fuzzers once crashed a parser with (rebuilt from their seeds: mutate() and
# mutate_zip() are deterministic), kept so the fixes stay fixed.
KNOWN = [
    ("epub", "members", 11985276, 0, "Book.epub"),  # title text not UTF-8 after lxml's recovery
    ("epub", "bytes", 72, 3, "Book.epub"),  # a seek before the start of the file (OSError)
    ("epub", "members", 44127, 0, "Book.epub"),  # XMLSyntaxError from the package file
    ("epub", "members", 313, 0, "Book.epub"),  # zlib.error inside a chapter
    ("docx", "members", 490, 0, "chapter.docx"),  # no <w:body>
]


@pytest.mark.parametrize("parser,how,seed,rounds,name", KNOWN)
def test_inputs_that_once_crashed_a_parser(parser, how, seed, rounds, name, tmp_path):
    import random

    from fuzzkit import TOKENS, mutate, mutate_zip

    data = seeds(parser)[-1 if parser == "docx" else 0][1]
    blob = mutate_zip(data, random.Random(seed), "xml") if how == "members" else \
        mutate(data, random.Random(seed), TOKENS["xml"], rounds)
    check(name, blob, tmp_path)


@pytest.mark.parametrize("title", [b"42", b"[1 2]", b"<< /A 1 >>", b"null", b"/Name"])
def test_pdf_title_that_is_not_text(title, tmp_path):
    """Found by the slow fuzz run: a /Title that is a number crashed reading the metadata."""
    pdf = seeds("pdf")[0][1]
    blob = pdf.replace(b"/Title (Why I Keep a Notebook by the Kettle)", b"/Title " + title)
    assert blob != pdf
    for o in check("essay.pdf", blob, tmp_path):
        assert o.items["document"] == 1, o


def test_pdf_with_an_xref_loop_and_absurd_lengths(tmp_path):
    pdf = seeds("pdf")[0][1]
    for bad in (pdf.replace(b"/Length", b"/Length 999999999 /X", 1),
                pdf.replace(b"/Root", b"/Root 1 0 R /Prev 0 /X", 1),
                pdf.replace(b"startxref", b"startxref\n0\n%%EOF\nstartxref", 1),
                b"%PDF-1.4\n" + b"[" * 100_000 + b"\n%%EOF"):
        check("essay.pdf", bad, tmp_path)


@pytest.mark.parametrize("table", [
    rb"{\f1\fcharset0 Times}" * 300,  # no ';' after any \fcharset: cubic backtracking in striprtf
    rb"{\f1\fcharset0 Times;}" + rb"\f2 " * 8000,  # a huge table of font numbers without charsets
], ids=["no-semicolons", "huge"])
def test_rtf_font_table_that_once_hung_the_parser(table, tmp_path):
    """Found by the slow fuzz run: a damaged font table made striprtf's regex run for minutes.
    The text is still read (check() fails on a hang after 30 s)."""
    blob = rb"{\rtf1\ansi{\fonttbl" + table + rb"}\f0 The tide came in over the grey stones.\par}"
    for o in check("notes.rtf", blob, tmp_path):
        assert o.items["document"] == 1, o
