"""Markdown notes (Obsidian, Notion, Apple Notes exports): front matter is metadata, not
prose; wiki syntax reads as the words a person sees; Notion ids never reach a title."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.chunking import body_text, chunk_document
from miner.documents import iter_documents, strip_notion_id
from miner.parsers import ParseOptions, detect
from miner.parsers.markdown import obsidian_to_markdown, split_front_matter
from miner.sources import iter_entries
from miner.summary import Summary

NOTE = """---
title: Harbour Walk
tags: [walks, sea]
created: 2024-03-01
---
# Draft heading

I walked to the [[Harbour]] with [[People/Ana|my sister]] and we talked about [[Boats#Sails]].
![[photo.jpg]]
%%remember to cut this%%
The wind was up. ==Really== up.

> [!quote] Overheard
> "Nobody swims in March."

## Later

- [ ] buy bread
- [x] call Ana

***

We went home.
"""


def parse(path):
    entry = next(iter_entries([str(path)]))
    mod = detect(entry, kind="document")
    assert mod.NAME == "markdown"
    return list(mod.parse(entry, ParseOptions()))


def test_obsidian_note(tmp_path):
    (tmp_path / "walk.md").write_text(NOTE)
    [doc] = parse(tmp_path / "walk.md")
    assert doc.title == "Harbour Walk"
    assert doc.meta == {"title": "Harbour Walk", "tags": ["walks", "sea"], "created": "2024-03-01"}
    body = body_text(doc)
    assert "I walked to the Harbour with my sister and we talked about Boats > Sails." in body
    for absent in ("title:", "tags", "[[", "photo.jpg", "remember to cut", "==", "[!quote]"):
        assert absent not in body
    assert "The wind was up. Really up." in body
    assert '"Nobody swims in March."' in body
    assert "- [ ] buy bread\n- [x] call Ana" in body
    kinds = [(b.kind, b.text) for b in doc.blocks if b.kind != "paragraph"]
    assert kinds == [("heading", "Draft heading"), ("heading", "Later"), ("break", "***")]
    [chunk] = chunk_document(doc)
    assert chunk.section == ["Draft heading"] and chunk.text.endswith("We went home.")


def test_title_falls_back_to_first_h1_then_file_name(tmp_path):
    (tmp_path / "a.md").write_text("Intro line.\n\n# The Real Title\n\nText.\n")
    (tmp_path / "Ideas for spring 0123456789abcdef0123456789abcdef.md").write_text("Just text.\n")
    assert parse(tmp_path / "a.md")[0].title == "The Real Title"
    assert parse(tmp_path / "Ideas for spring 0123456789abcdef0123456789abcdef.md")[0].title == "Ideas for spring"


def test_notion_export_zip_inside_zip(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("Journal 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d.md",
                   "# Journal 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d\n\nStatus: Draft\n\nToday I wrote.\n")
        z.writestr("Journal 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d/Trip ffffffffffffffffffffffffffffffff.md",
                   "# Trip\n\nWe drove north.\n")
        z.writestr("Journal 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d/map.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    with zipfile.ZipFile(tmp_path / "notion.zip", "w") as z:
        z.writestr("Export-1234-Part-1.zip", inner.getvalue())
    s = Summary()
    docs = list(iter_documents([str(tmp_path / "notion.zip")], None, s))
    assert [d.title for d in docs] == ["Journal", "Trip"]
    assert docs[0].blocks[0].text == "Journal"  # the id is gone from the heading too
    assert s.counts["documents"] == 2 and s.skips["unsupported file"] == 1


def test_vault_folder_ignores_obsidian_config_and_reads_front_matter_only_as_meta(tmp_path):
    vault = tmp_path / "Vault"
    (vault / ".obsidian").mkdir(parents=True)
    (vault / ".obsidian" / "app.json").write_text('{"x": 1}')
    (vault / "Daily").mkdir()
    (vault / "Daily" / "2024-01-02.md").write_text("---\nmood: fine\n---\nSlept late.\n")
    (vault / "Index.md").write_text("See [[Daily/2024-01-02]].\n")
    docs = list(iter_documents([str(vault)]))
    assert sorted(d.title for d in docs) == ["2024-01-02", "Index"]
    daily = next(d for d in docs if d.title == "2024-01-02")
    assert daily.meta == {"mood": "fine"} and body_text(daily) == "Slept late."


def test_opening_rule_that_is_not_yaml_is_not_front_matter():
    meta, rest = split_front_matter("---\nShe ran. He didn't: not then, not ever: never.\n---\nText")
    assert meta == {} and rest.startswith("---")


def test_hard_wrapped_markdown_is_reflowed_but_verse_keeps_lines(tmp_path):
    wrapped = ("This paragraph was wrapped by an editor at seventy-two columns so every\n"
               "line is long and the break means nothing at all to the writer, who only\n"
               "wanted one paragraph.\n\nRoses are red,\nviolets are blue.\n")
    (tmp_path / "w.md").write_text(wrapped)
    [doc] = parse(tmp_path / "w.md")
    assert "\n" not in doc.blocks[0].text
    assert doc.blocks[1].text == "Roses are red,\nviolets are blue."


@pytest.mark.parametrize("name,want", [("Notes 0123456789abcdef0123456789abcdef", "Notes"), ("Plain", "Plain"),
                                       ("Short id abc123", "Short id abc123")])
def test_strip_notion_id(name, want):
    assert strip_notion_id(name) == want


safe_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="[]%=!>"),
                    max_size=200)


@settings(max_examples=100, deadline=None)
@given(safe_text)
def test_property_obsidian_rewrite_leaves_plain_text_alone(text):
    assert obsidian_to_markdown(text) == re.sub(r"<!--.*?-->", "", text, flags=re.S)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Ana", "Harbour", "Boats"]), min_size=1, max_size=5),
       st.lists(st.sampled_from(["walked", "to", "the", "sea"]), min_size=1, max_size=5))
def test_property_wikilinks_become_their_display_words(targets, words):
    src = " ".join(f"{w} [[{t}]]" for w, t in zip(words, targets))
    out = obsidian_to_markdown(src)
    assert out == " ".join(f"{w} {t}" for w, t in zip(words, targets))
