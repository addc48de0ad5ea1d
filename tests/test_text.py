"""Plain text: chapters found the way books number them, Gutenberg boilerplate gone, a table
of contents never turned into empty chapters, encodings decoded, bad files refused clearly."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.chunking import chunk_document
from miner.documents import blocks_from_text, heading_key, is_scene_break, iter_documents
from miner.errors import InputError
from miner.parsers import ParseOptions, detect
from miner.sources import iter_entries
from miner.summary import Summary

DATA = Path(__file__).parent / "data"


def parse_file(path) -> list:
    entry = next(iter_entries([str(path)]))
    mod = detect(entry, kind="document")
    return list(mod.parse(entry, ParseOptions()))


def headings(doc) -> list[str]:
    return [b.text for b in doc.blocks if b.kind == "heading"]


def test_frankenstein_letters_and_gutenberg_boilerplate():
    [doc] = parse_file(DATA / "frankenstein_letters.txt")
    assert doc.title == "Frankenstein; or, the Modern Prometheus"
    assert headings(doc) == ["Letter 1", "Letter 2", "Chapter 1"]
    text = "\n".join(b.text for b in doc.blocks)
    assert "Gutenberg" not in text and "LICENSE" not in text and "Produced by" not in text
    assert "You will rejoice to hear that no disaster has accompanied the commencement" in text
    # hard-wrapped lines are reflowed into one paragraph
    para = next(b.text for b in doc.blocks if b.text.startswith("You will rejoice"))
    assert "\n" not in para and para.endswith("my undertaking.")


def test_table_of_contents_does_not_make_empty_chapters():
    for name in ("frankenstein_letters.txt", "alice_chapters.txt"):
        [doc] = parse_file(DATA / name)
        kinds = [b.kind for b in doc.blocks]
        for i, k in enumerate(kinds):
            if k == "heading":
                assert kinds[i + 1] == "paragraph", f"{name}: heading {doc.blocks[i].text!r} has no prose"
        assert doc.meta["dropped"]["table-of-contents lines"] >= 2


def test_chapter_with_title_line_becomes_one_heading():
    [doc] = parse_file(DATA / "alice_chapters.txt")
    assert headings(doc) == ["CHAPTER I. Down the Rabbit-Hole", "CHAPTER II. The Pool of Tears"]
    chunks = chunk_document(doc)
    alice = [c for c in chunks if c.section == ["CHAPTER I. Down the Rabbit-Hole"]]
    assert alice[0].text.startswith("Alice was beginning to get very tired")
    assert "daisy-chain" in alice[0].text  # a real hyphen survives reflow


def test_roman_numeral_only_chapters():
    [doc] = parse_file(DATA / "heart_of_darkness_roman.txt")
    assert headings(doc) == ["I", "II", "III"]
    chunks = chunk_document(doc)
    assert [c.section for c in chunks][-3:] == [["I"], ["II"], ["III"]]


@pytest.mark.parametrize("line,key", [
    ("CHAPTER IV.", "chapter 4"), ("Chapter Four", "chapter 4"), ("IV", "# 4"), ("IV.", "# 4"),
    ("Letter 2", "letter 2"), ("BOOK ONE", "book 1"), ("PART I", "part 1"), ("Chapter the First", "chapter 1"),
    ("Prologue", "prologue"), ("Epilogue", "epilogue"), ("Chapter 12: The Storm", "chapter 12"),
    ("Part two of the plan failed.", None), ("Book one was better", None), ("chapter and verse", None),
    ("It was late.", None),
])
def test_heading_patterns(line, key):
    assert heading_key(line) == key


@pytest.mark.parametrize("text,yes", [("***", True), ("* * *", True), ("#", True), ("~", True), ("❦", True),
                                      ("⁂", True), ("— — —", True), ("...", False), ("A", False),
                                      ("* not a break", False), ("", False)])
def test_scene_break_markers(text, yes):
    assert is_scene_break(text) is yes


def test_scene_breaks_verse_and_unwrapped_paragraphs():
    text = ("She left at dawn.\n\n* * *\n\nRoses are red,\nviolets are blue,\nsugar is sweet.\n\n"
            "He came back at night.\n")
    blocks, _ = blocks_from_text(text)
    assert [b.kind for b in blocks] == ["paragraph", "break", "paragraph", "paragraph"]
    assert blocks[2].text == "Roses are red,\nviolets are blue,\nsugar is sweet."  # verse keeps its lines
    long = ["This paragraph is written on one long line the way modern editors save text " * 2 + str(i)
            for i in range(5)]
    blocks, _ = blocks_from_text("\n".join(long))
    assert [b.text for b in blocks] == [p.strip() for p in long]


@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                          ("cp1252", b"")])
def test_encodings(tmp_path, encoding, bom):
    text = "Caf\u00e9 \u201cquoted\u201d na\u00efve \u2014 done.\n\nSecond paragraph here.\n"
    p = tmp_path / "enc.txt"
    p.write_bytes(bom + text.encode(encoding))
    [doc] = parse_file(p)
    assert doc.blocks[0].text == "Caf\u00e9 \u201cquoted\u201d na\u00efve \u2014 done."


def test_binary_named_txt_and_empty_file_are_clear_errors(tmp_path):
    (tmp_path / "img.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InputError, match="binary"):
        parse_file(tmp_path / "img.txt")
    (tmp_path / "blank.txt").write_text("   \n\n  ")
    with pytest.raises(InputError, match="empty"):
        parse_file(tmp_path / "blank.txt")
    (tmp_path / "zero.txt").write_bytes(b"")
    s = Summary()
    assert list(iter_documents([str(tmp_path)], None, s)) == []
    assert s.skips == {"binary file": 1, "empty file": 2}
    assert any("img.txt" in e for e in s.skip_examples["binary file"])


def test_text_sniffer_does_not_claim_other_files(tmp_path):
    (tmp_path / "pic.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (tmp_path / "data.json").write_text('{"a": 1}')
    for name in ("pic.jpg", "data.json"):
        entry = next(iter_entries([str(tmp_path / name)]))
        with pytest.raises(InputError):
            detect(entry, kind="document")


lowercase_words = st.lists(st.sampled_from("alpha beta gamma delta river stone light ash".split()), min_size=1, max_size=12)
line_st = lowercase_words.map(" ".join)
text_st = st.lists(st.tuples(line_st, st.sampled_from(["\n", "\n\n", "\n   \n", "\r\n", "\n\n\n"])), max_size=40)


@settings(max_examples=80, deadline=None)
@given(text_st)
def test_property_no_word_lost_or_reordered(parts):
    text = "".join(a + b for a, b in parts)
    blocks, _ = blocks_from_text(text)
    got = re.findall(r"\w+", " ".join(b.text for b in blocks))
    assert got == re.findall(r"\w+", text)


@pytest.mark.parametrize("text,encoding", [
    ("Il était une fois une très belle fête à côté du château.\n", "cp1252"),
    ("Zażółć gęślą jaźń. Pójdźże, kiń tę chmurność w głąb flaszy.\n", "cp1250"),
])
def test_legacy_code_pages_are_not_misread(tmp_path, text, encoding):
    p = tmp_path / "old.txt"
    p.write_bytes(text.encode(encoding))
    [doc] = parse_file(p)
    assert doc.blocks[0].text == text.strip()
