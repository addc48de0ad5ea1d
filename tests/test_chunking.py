"""The chunker keeps every word exactly once, never crosses a chapter, prefers strong
boundaries, and `miner chunk` writes what a user can feed to synthesis or inspect."""
from __future__ import annotations

import json
import os
import zipfile

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miner import tokens
from miner.chunking import body_text, chunk_document, chunk_files, chunk_spans
from miner.cli import cli
from miner.errors import ConfigError, OutputError
from miner.models import Block, Document

WORDS = ("the harbour was quiet that morning and boats rocked while gulls argued over scraps "
         "she said nothing he waited rain came later").split()


def sentence(i: int, n: int = 12) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(n)).capitalize() + "."


def para(i: int, sentences: int = 4) -> str:
    return " ".join(sentence(i + k) for k in range(sentences))


def doc(*blocks: Block, title: str = "Book") -> Document:
    return Document(title=title, source="book.docx", blocks=list(blocks))


def P(text: str) -> Block:
    return Block("paragraph", text)


def H(text: str, level: int = 1) -> Block:
    return Block("heading", text, level)


# ---- body text and coverage --------------------------------------------------------------

def test_body_text_is_paragraphs_only_normalised_and_joined_by_blank_lines():
    d = doc(H("Chapter 1"), P("  One\tline  \r\n\r\n two  "), Block("break", "***"), P("   "), Block("page"), P("Three"))
    assert body_text(d) == "One line\ntwo\n\nThree"


def test_short_document_is_one_chunk_without_headings_in_text():
    d = doc(H("Chapter 1"), P("It rained."), H("A walk", 2), P("Then it stopped."))
    [c] = chunk_document(d)
    assert c.text == "It rained.\n\nThen it stopped."
    assert c.section == ["Chapter 1"]
    assert (c.source, c.document, c.index) == ("book.docx", "Book", 0)
    assert c.tokens == tokens.count(c.text)


def test_never_crosses_a_chapter_even_when_both_are_tiny():
    d = doc(H("Chapter 1"), P("Short one."), H("Chapter 2"), P("Short two."))
    cs = chunk_document(d, min_tokens=200, max_tokens=1200)
    assert [c.text for c in cs] == ["Short one.", "Short two."]
    assert [c.section for c in cs] == [["Chapter 1"], ["Chapter 2"]]
    assert [c.index for c in cs] == [0, 1]


def test_section_is_heading_path_at_chunk_start():
    blocks = [H("Part One"), H("The storm", 2)] + [P(para(i)) for i in range(12)] + [H("After", 3)] + \
             [P(para(i)) for i in range(12, 24)]
    cs = chunk_document(doc(*blocks), min_tokens=50, max_tokens=300)
    assert cs[0].section == ["Part One", "The storm"]
    assert cs[-1].section == ["Part One", "The storm", "After"]
    chunk_spans(body_text(doc(*blocks)), cs)


def test_long_chapter_is_cut_at_the_scene_break_not_mid_scene():
    scene_a = [P(para(i)) for i in range(5)]
    scene_b = [P(para(i)) for i in range(5, 10)]
    d = doc(H("Chapter 1"), *scene_a, Block("break", "* * *"), *scene_b)
    size_a = tokens.count("\n\n".join(b.text for b in scene_a))
    size_b = tokens.count("\n\n".join(b.text for b in scene_b))
    cs = chunk_document(d, min_tokens=50, max_tokens=max(size_a, size_b) + 20)
    assert [c.text for c in cs] == ["\n\n".join(b.text for b in scene_a), "\n\n".join(b.text for b in scene_b)]


def test_cuts_are_balanced_not_full_plus_scrap():
    paras = [P(para(i, 2)) for i in range(30)]
    d = doc(*paras)
    total = tokens.count(body_text(d))
    cs = chunk_document(d, min_tokens=10, max_tokens=int(total * 0.6))
    assert len(cs) == 2
    small, big = sorted(c.tokens for c in cs)
    assert small > 0.35 * total  # an even split, not 60% + 40% scraps... or worse
    assert all(c.tokens <= int(total * 0.6) for c in cs)


def test_sentence_is_only_split_when_alone_over_limit():
    long_para = " ".join(sentence(i, 20) for i in range(40))
    d = doc(P(long_para))
    cs = chunk_document(d, min_tokens=20, max_tokens=150)
    assert len(cs) > 2
    for c in cs:
        assert c.tokens <= 150
        assert c.text.endswith(".")  # every cut is at a sentence end
    assert " ".join(c.text for c in cs) == long_para


def test_one_giant_sentence_is_split_at_word_boundaries():
    giant = " ".join(WORDS[i % len(WORDS)] for i in range(3000))
    d = doc(P(giant))
    cs = chunk_document(d, min_tokens=10, max_tokens=100)
    assert all(c.tokens <= 100 for c in cs)
    assert " ".join(c.text for c in cs) == giant
    assert all(not c.text.startswith(" ") and not c.text.endswith(" ") for c in cs)


def test_a_word_longer_than_the_limit_is_split_without_losing_characters():
    blob = "x9Q" * 2000
    d = doc(P("Before it. " + blob + " after it."))
    cs = chunk_document(d, min_tokens=0, max_tokens=50)
    assert all(c.tokens <= 50 for c in cs)
    chunk_spans(body_text(d), cs)
    assert "".join(c.text for c in cs).replace(" ", "") == body_text(d).replace(" ", "")


def test_small_trailing_piece_merges_with_its_neighbour():
    d = doc(H("Chapter 1"), P(para(1, 6)), Block("break", "***"), P("The end."))
    cs = chunk_document(d, min_tokens=200, max_tokens=1200)
    assert len(cs) == 1 and cs[0].text.endswith("The end.")


def test_extra_breaks_move_boundaries_but_never_change_text():
    blocks = [P(para(i, 3)) for i in range(12)]
    d = doc(*blocks)
    total = tokens.count(body_text(d))
    plain = chunk_document(d, min_tokens=10, max_tokens=total // 2 + 40)
    hinted = chunk_document(d, min_tokens=10, max_tokens=total // 2 + 40, extra_breaks={3})
    assert "\n\n".join(c.text for c in plain) == "\n\n".join(c.text for c in hinted) == body_text(d)
    assert hinted[1].text.startswith(blocks[3].text)
    assert [c.text for c in plain] != [c.text for c in hinted]


@pytest.mark.parametrize("lo,hi", [(10, 5), (-1, 100), (0, 3)])
def test_bad_limits_are_a_clear_config_error(lo, hi):
    with pytest.raises(ConfigError):
        chunk_document(doc(P("x")), min_tokens=lo, max_tokens=hi)


def test_chunk_spans_rejects_lost_or_repeated_text():
    body = "One.\n\nTwo.\n\nThree."
    assert chunk_spans(body, ["One.", "Two.\n\nThree."]) == [(0, 4), (6, 18)]
    with pytest.raises(ValueError):
        chunk_spans(body, ["One.", "Three."])
    with pytest.raises(ValueError):
        chunk_spans(body, ["One.", "One.", "Two.\n\nThree."])


# ---- property tests ----------------------------------------------------------------------

word = st.one_of(st.sampled_from(WORDS), st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                                                  min_size=1, max_size=12))
text_st = st.lists(st.tuples(word, st.sampled_from([" ", " ", " ", ". ", "! ", "\n", "  ", "\t", ". \n"])),
                   max_size=60).map(lambda ps: "".join(w + s for w, s in ps))
block_st = st.one_of(
    text_st.map(P),
    st.just(P("")),
    st.builds(lambda w, n: P(" ".join([w] * n) + "."), st.sampled_from(WORDS), st.integers(100, 600)),  # huge sentence
    st.builds(H, st.sampled_from(["Chapter 1", "Chapter 2", "Part Two", ""]), st.integers(1, 4)),
    st.just(Block("break", "***")),
    st.just(Block("page")),
)


def _chapter_starts(d: Document) -> list[int]:
    """Offsets in body_text where a new chapter's body begins."""
    starts, pos, first, seen_h1 = [], 0, True, False
    for b in d.blocks:
        if b.kind == "heading" and (b.level or 1) == 1:
            seen_h1 = True
        elif b.kind == "paragraph":
            from miner.documents import clean_text

            t = clean_text(b.text)
            if not t:
                continue
            if not first:
                pos += 2
            if seen_h1 and not first:
                starts.append(pos)
            seen_h1, first = False, False
            pos += len(t)
    return starts


def _check(d: Document, lo: int, hi: int, breaks: set[int]) -> None:
    cs = chunk_document(d, min_tokens=lo, max_tokens=hi, extra_breaks=breaks)
    body = body_text(d)
    if not body:
        assert cs == []
        return
    spans = chunk_spans(body, cs)  # every character exactly once, in order
    for c in cs:
        assert c.text and c.tokens == tokens.count(c.text) and c.tokens <= hi
        assert c.text == c.text.strip()
    assert [c.index for c in cs] == list(range(len(cs)))
    starts = set(_chapter_starts(d))
    for a, b in spans:
        assert not any(a < s < b for s in starts), "a chunk crosses a chapter"
    cut_starts = {a for a, _ in spans}
    assert starts <= cut_starts
    if all(tokens.count(x) <= hi for x in body.split("\n\n")):
        assert "\n\n".join(c.text for c in cs) == body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(block_st, max_size=25), st.integers(0, 60), st.integers(16, 300), st.sets(st.integers(0, 30)))
def test_property_coverage_limits_and_chapters(blocks, lo, hi, breaks):
    _check(doc(*blocks), min(lo, hi), hi, breaks)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(block_st, max_size=60), st.integers(0, 400), st.integers(16, 1500), st.sets(st.integers(0, 60)))
def test_property_coverage_many_examples(blocks, lo, hi, breaks):
    _check(doc(*blocks), min(lo, hi), hi, breaks)


# ---- chunk_files and the CLI -------------------------------------------------------------

def _write_inputs(tmp_path):
    folder = tmp_path / "writing"
    folder.mkdir()
    (folder / "story.md").write_text("---\ntitle: The Lamp\ntags: [draft]\n---\n# Chapter 1\n\n" +
                                     "\n\n".join(para(i) for i in range(6)) + "\n\n# Chapter 2\n\n" + para(9) + "\n")
    (folder / "note.txt").write_text("A small thought about the sea.\n")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (folder / "broken.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (folder / "empty.md").write_text("")
    (folder / "bad.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    with zipfile.ZipFile(folder / "bad.zip", "w") as z:
        z.writestr("x.md", "fine")
    with open(folder / "bad.zip", "r+b") as f:  # corrupt the central directory
        f.seek(-10, os.SEEK_END)
        f.write(b"\xff" * 10)
    return folder


def test_chunk_files_writes_jsonl_with_global_index_and_counts(tmp_path):
    folder = _write_inputs(tmp_path)
    out = tmp_path / "chunks.jsonl"
    warnings: list[str] = []
    s = chunk_files([str(folder)], str(out), min_tokens=20, max_tokens=200, warn=warnings.append)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["index"] for x in lines] == list(range(len(lines)))
    assert set(lines[0]) == {"text", "source", "document", "section", "index", "tokens"}
    lamp = [x for x in lines if x["document"] == "The Lamp"]
    assert lamp and lamp[0]["section"] == ["Chapter 1"] and lamp[-1]["section"] == ["Chapter 2"]
    assert not any("title:" in x["text"] or "Chapter 1" in x["text"] for x in lines)
    assert s.counts["chunks"] == len(lines) and s.counts["tokens"] == sum(x["tokens"] for x in lines)
    assert s.counts["documents"] == 2
    assert s.skips["unsupported file"] == 1 and s.skips["binary file"] == 1
    assert s.skips["empty file"] == 1 and s.skips["corrupt file"] == 1
    assert sum(s.skips.values()) >= 5  # + the unreadable ZIP
    named = "\n".join(warnings)
    for name in ("photo.png", "broken.txt", "empty.md", "bad.docx", "bad.zip"):
        assert name in named
    assert all("\n" not in w for w in warnings)


def test_chunk_files_refuses_to_overwrite_without_force(tmp_path):
    folder = _write_inputs(tmp_path)
    out = tmp_path / "chunks.jsonl"
    out.write_text("precious\n")
    with pytest.raises(OutputError):
        chunk_files([str(folder)], str(out))
    assert out.read_text() == "precious\n"
    chunk_files([str(folder)], str(out), force=True)
    assert out.read_text() != "precious\n"


def test_cli_chunk_reports_bad_files_one_line_each_and_goes_on(tmp_path):
    folder = _write_inputs(tmp_path)
    out = tmp_path / "c.jsonl"
    r = CliRunner().invoke(cli, ["chunk", str(folder), "-o", str(out), "--max-tokens", "300", "--min-tokens", "50"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert out.exists() and out.read_text().count("\n") >= 2
    for name in ("photo.png", "broken.txt", "bad.docx"):
        assert sum(name in line for line in r.output.splitlines() if line.startswith("Skipped")) == 1


def test_cli_chunk_bad_option_and_missing_input_are_one_line_errors(tmp_path):
    r = CliRunner().invoke(cli, ["chunk", str(tmp_path / "nope.docx"), "-o", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 1 and "nope.docx" in r.output and "Traceback" not in r.output
    (tmp_path / "a.txt").write_text("Hello there.\n")
    r = CliRunner().invoke(cli, ["chunk", str(tmp_path / "a.txt"), "-o", str(tmp_path / "o.jsonl"),
                                 "--min-tokens", "500", "--max-tokens", "100"])
    assert r.exit_code == 1 and "--min-tokens" in r.output
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_chunk_help_has_examples():
    r = CliRunner().invoke(cli, ["chunk", "--help"])
    assert r.exit_code == 0 and "Examples" in r.output and "miner chunk novel.docx" in r.output
