"""DOCX: what a writer sees on the page is read, and only that: headings by style and by
pattern, scene and page breaks, tracked changes as accepted, no headers/footers/comments."""
from __future__ import annotations

import zipfile

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.chunking import body_text, chunk_document
from miner.documents import clean_text, iter_documents
from miner.errors import InputError
from miner.parsers import ParseOptions, detect
from miner.sources import iter_entries
from miner.summary import Summary

W_NS = nsdecls("w")


def tracked(p, deleted: str, inserted: str) -> None:
    p._p.append(parse_xml(f'<w:del {W_NS} w:id="91" w:author="Ed" w:date="2024-01-01T00:00:00Z">'
                          f'<w:r><w:delText xml:space="preserve">{deleted}</w:delText></w:r></w:del>'))
    p._p.append(parse_xml(f'<w:ins {W_NS} w:id="92" w:author="Ed" w:date="2024-01-01T00:00:00Z">'
                          f'<w:r><w:t xml:space="preserve">{inserted}</w:t></w:r></w:ins>'))


def add_footnote(path, text: str) -> None:
    """python-docx cannot write footnotes: add the part by hand, as Word would."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["word/footnotes.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes {W_NS}>'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        f'<w:footnote w:id="1"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:footnote></w:footnotes>').encode()
    rels = parts["word/_rels/document.xml.rels"].decode()
    parts["word/_rels/document.xml.rels"] = rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdFn1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"'
        ' Target="footnotes.xml"/></Relationships>').encode()
    ct = parts["[Content_Types].xml"].decode()
    parts["[Content_Types].xml"] = ct.replace(
        "</Types>", '<Override PartName="/word/footnotes.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>').encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def make_manuscript(path) -> None:
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "RUNNING HEADER Surname / Title"
    d.sections[0].footer.paragraphs[0].text = "FOOTER page"
    d.add_paragraph("The Lantern Keeper", style="Title")
    d.add_heading("Chapter One", 1)
    p = d.add_paragraph("Mara climbed the tower at dusk.")
    d.add_comment(p.runs, text="COMMENT: cut this?", author="Editor")
    p = d.add_paragraph("She lit the lamp")
    tracked(p, " and wept", " and waited.")
    p._p.append(parse_xml(f'<w:r {W_NS}><w:footnoteReference w:id="1"/></w:r>'))
    d.add_paragraph("* * *")
    d.add_paragraph("The ships came anyway.")
    centred = d.add_paragraph("\u2766")
    centred.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p = d.add_paragraph("Morning found her asleep.")
    p.add_run().add_break(WD_BREAK.PAGE)
    p.add_run("A new page began.")
    d.add_heading("A Quiet Section", 2)
    d.add_paragraph("Gulls, mostly.")
    d.add_paragraph("CHAPTER SEVEN")  # no heading style: found by pattern
    d.add_paragraph("Years passed.\nShe kept the light.")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "Ship", "Date"
    t.cell(1, 0).text, t.cell(1, 1).text = "Ardent", "May"
    d.save(path)
    add_footnote(path, "FOOTNOTE about lamps.")


@pytest.fixture
def manuscript(tmp_path):
    path = tmp_path / "novel.docx"
    make_manuscript(path)
    return path


def parse(path, **opts):
    entry = next(iter_entries([str(path)]))
    mod = detect(entry, kind="document")
    assert mod.NAME == "docx"
    return list(mod.parse(entry, ParseOptions(**opts)))


def test_headings_breaks_and_body(manuscript):
    [doc] = parse(manuscript)
    assert doc.title == "The Lantern Keeper"
    assert [(b.kind, b.text, b.level) for b in doc.blocks] == [
        ("heading", "Chapter One", 1),
        ("paragraph", "Mara climbed the tower at dusk.", 0),
        ("paragraph", "She lit the lamp and waited.", 0),
        ("break", "* * *", 0),
        ("paragraph", "The ships came anyway.", 0),
        ("break", "\u2766", 0),
        ("paragraph", "Morning found her asleep.", 0),
        ("page", "", 0),
        ("paragraph", "A new page began.", 0),
        ("heading", "A Quiet Section", 2),
        ("paragraph", "Gulls, mostly.", 0),
        ("heading", "CHAPTER SEVEN", 1),
        ("paragraph", "Years passed.\nShe kept the light.", 0),
        ("paragraph", "Ship | Date", 0),
        ("paragraph", "Ardent | May", 0),
    ]


def test_headers_footers_comments_deletions_and_footnotes_are_not_text(manuscript):
    [doc] = parse(manuscript)
    text = body_text(doc)
    for absent in ("RUNNING HEADER", "FOOTER", "COMMENT", "wept", "FOOTNOTE"):
        assert absent not in text
    [with_notes] = parse(manuscript, footnotes=True)
    assert with_notes.blocks[-2:][0].text == "Notes"
    assert with_notes.blocks[-1].text == "FOOTNOTE about lamps."


def test_chunks_follow_chapters(manuscript):
    [doc] = parse(manuscript)
    chunks = chunk_document(doc)
    assert [c.section for c in chunks] == [["Chapter One"], ["CHAPTER SEVEN"]]
    assert chunks[0].text.startswith("Mara climbed") and "* * *" not in chunks[0].text
    assert chunks[1].text == "Years passed.\nShe kept the light.\n\nShip | Date\n\nArdent | May"


def test_custom_style_based_on_heading_counts_as_heading(tmp_path):
    from docx.enum.style import WD_STYLE_TYPE

    d = docx.Document()
    style = d.styles.add_style("Chapter Title", WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = d.styles["Heading 1"]
    d.add_paragraph("The Long Night", style="Chapter Title")
    d.add_paragraph("It was dark.")
    d.save(tmp_path / "c.docx")
    [doc] = parse(tmp_path / "c.docx")
    assert doc.blocks[0].kind == "heading" and doc.blocks[0].level == 1


def test_corrupt_old_and_locked_word_files_are_clear_errors(tmp_path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04" + b"garbage" * 50)
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    (tmp_path / "old.doc").write_bytes(ole + "WordDocument".encode("utf-16-le"))
    (tmp_path / "locked.docx").write_bytes(ole + "EncryptedPackage".encode("utf-16-le"))
    with pytest.raises(InputError, match="not a readable Word document"):
        parse(tmp_path / "broken.docx")
    with pytest.raises(InputError, match="old Word 97-2003"):
        parse(tmp_path / "old.doc")
    with pytest.raises(InputError, match="password-protected"):
        parse(tmp_path / "locked.docx")
    good = tmp_path / "good.docx"
    make_manuscript(good)
    s = Summary()
    docs = list(iter_documents([str(tmp_path)], None, s))
    assert [d.title for d in docs] == ["The Lantern Keeper"]
    assert s.skips == {"corrupt file": 2, "password-protected file": 1}


def test_docx_inside_a_zip(tmp_path, manuscript):
    with zipfile.ZipFile(tmp_path / "drafts.zip", "w") as z:
        z.write(manuscript, "drafts/novel.docx")
    docs = list(iter_documents([str(tmp_path / "drafts.zip")]))
    assert docs[0].title == "The Lantern Keeper" and docs[0].source.endswith("drafts.zip!drafts/novel.docx")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40),
                min_size=1, max_size=8))
def test_property_every_body_word_survives(tmp_path_factory, paras):
    path = tmp_path_factory.mktemp("d") / "p.docx"
    d = docx.Document()
    for t in paras:
        d.add_paragraph(t)
    d.save(path)
    [doc] = parse(path)
    got = " ".join(b.text for b in doc.blocks).split()
    assert got == " ".join(clean_text(p) for p in paras).split()  # clean_text: soft hyphens etc.


def test_shipped_samples_are_reproducible_and_read_as_written(tmp_path):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "samples"
    spec = importlib.util.spec_from_file_location("make_doc_samples", root / "make_doc_samples.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    mk.write_manuscript(str(tmp_path / "m.docx"))
    mk.write_essay(str(tmp_path / "e.pdf"))
    assert (tmp_path / "m.docx").read_bytes() == (root / "manuscript.docx").read_bytes()
    assert (tmp_path / "e.pdf").read_bytes() == (root / "essay.pdf").read_bytes()
    [doc] = parse(root / "manuscript.docx")
    chunks = chunk_document(doc)
    assert [c.section for c in chunks] == [["Chapter One"], ["Chapter Two"], ["Chapter Three"]]
    text = body_text(doc)
    assert "He smelled of rain." in text and "of tar" not in text  # tracked change accepted
    assert "Draft 3" not in text and "too cute" not in text and "* * *" not in text
