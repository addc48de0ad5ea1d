"""Evernote and Google Keep: one document per note, checkboxes readable, attachments and
encrypted text left out, trashed notes skipped, dates and tags kept as metadata."""
from __future__ import annotations

import base64
import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.chunking import body_text
from miner.documents import clean_text, iter_documents
from miner.errors import InputError
from miner.models import Document, Skip
from miner.parsers import ParseOptions, detect
from miner.sources import iter_entries
from miner.summary import Summary


def enex(*notes: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE en-export SYSTEM "http://xml.evernote.com/pub/evernote-export3.dtd">\n'
            '<en-export export-date="20240101T000000Z" application="Evernote" version="10.0">\n'
            + "\n".join(notes) + "\n</en-export>\n")


def note(title: str, body: str, extra: str = "") -> str:
    return (f"<note><title>{title}</title><content><![CDATA[<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            f"<!DOCTYPE en-note SYSTEM \"http://xml.evernote.com/pub/enml2.dtd\"><en-note>{body}</en-note>]]>"
            f"</content>{extra}</note>")


PNG = base64.b64encode(b"\x89PNG" + b"\x00" * 3000).decode()
NOTEBOOK = enex(
    note("Garden", '<div><en-todo checked="true"/>water the beans</div><div><en-todo/>fix&nbsp;the gate</div>'
         '<en-media type="image/png" hash="0123"/><div>The plums are <b>nearly</b> ripe.</div>'
         '<en-crypt cipher="AES" length="128">U0VDUkVU</en-crypt>',
         "<created>20230405T101112Z</created><updated>2023-04-06T08:00:00Z</updated><tag>home</tag>"
         "<tag>\n  garden\n</tag><note-attributes><author>me</author></note-attributes>"
         f'<resource><data encoding="base64">{PNG}</data><mime>image/png</mime></resource>'),
    "<note><title>No content</title></note>",
    note("Storm", "<h2>Evening</h2><p>The rain came at six.</p><p>***</p><p>By nine it was over.</p>"),
)


def parse(path):
    entry = next(iter_entries([str(path)]))
    mod = detect(entry, kind="document")
    return mod.NAME, list(mod.parse(entry, ParseOptions()))


def test_enex_notes(tmp_path):
    (tmp_path / "Home.enex").write_text(NOTEBOOK)
    name, items = parse(tmp_path / "Home.enex")
    assert name == "enex"
    garden, skipped, storm = items
    assert isinstance(garden, Document) and isinstance(skipped, Skip) and isinstance(storm, Document)
    assert garden.title == "Garden" and garden.source.endswith("Home.enex")
    assert body_text(garden) == "[x] water the beans\n\n[ ] fix the gate\n\nThe plums are nearly ripe."
    assert garden.meta["created"] == "2023-04-05T10:11:12Z" and garden.meta["updated"] == "2023-04-06T08:00:00Z"
    assert garden.meta["tags"] == ["home", "garden"] and garden.meta["notebook"] == "Home"
    assert garden.meta["dropped"] == {"encrypted Evernote sections": 1}
    assert "No content" in skipped.where and skipped.reason == "note without content"
    assert [b.kind for b in storm.blocks] == ["heading", "paragraph", "break", "paragraph"]


def test_enex_counts_in_summary_and_damaged_file_keeps_earlier_notes(tmp_path):
    (tmp_path / "Home.enex").write_text(NOTEBOOK)
    cut = NOTEBOOK[: NOTEBOOK.index("<title>Storm")]
    (tmp_path / "Cut.enex").write_text(cut)
    s = Summary()
    docs = list(iter_documents([str(tmp_path)], None, s))
    assert [d.title for d in docs] == ["Garden", "Garden", "Storm"]  # Cut.enex first, sorted
    assert s.counts["left out: encrypted Evernote sections"] == 2
    assert s.skips["corrupt file"] == 1 and "Cut.enex" in s.skip_examples["corrupt file"][0]
    assert "cut off after note" in s.skip_examples["corrupt file"][0]


def test_enex_not_xml_at_all(tmp_path):
    (tmp_path / "x.enex").write_bytes(b"<en-export><note><title>a</ti")
    with pytest.raises(InputError):
        parse(tmp_path / "x.enex")


def test_enex_big_attachments_are_not_kept(tmp_path):
    big = base64.b64encode(b"\x00" * 3_000_000).decode()
    notes = [note(f"N{i}", f"<div>Note {i}.</div>", f'<resource><data encoding="base64">{big}</data></resource>')
             for i in range(3)]
    (tmp_path / "big.enex").write_text(enex(*notes))
    _, items = parse(tmp_path / "big.enex")
    assert [body_text(d) for d in items] == ["Note 0.", "Note 1.", "Note 2."]
    assert all(len(repr(d.meta)) < 500 for d in items)


# ---- Google Keep --------------------------------------------------------------------------

def keep_note(**kw) -> dict:
    base = {"color": "DEFAULT", "isTrashed": False, "isPinned": False, "isArchived": False,
            "title": "", "userEditedTimestampUsec": 1700000000000000, "createdTimestampUsec": 1690000000000000}
    base.update(kw)
    return base


def takeout(tmp_path) -> str:
    path = tmp_path / "takeout.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Takeout/Keep/Sea poem.json", json.dumps(keep_note(
            title="Sea poem", textContent="Salt on the wind,\nsalt on the sill.\n\nThe tide keeps time.",
            labels=[{"name": "poems"}, {"name": "drafts"}], isPinned=True)))
        z.writestr("Takeout/Keep/Sea poem.html", '<html><head><title>Sea poem</title></head><body>'
                   '<div class="note DEFAULT"><div class="heading">Nov 1</div><div class="title">Sea poem</div>'
                   '<div class="content">Salt on the wind</div></div></body></html>')
        z.writestr("Takeout/Keep/2021-08-26T12_50_12.122+05_00.json", json.dumps(keep_note(
            listContent=[{"text": "rope", "isChecked": True}, {"text": "sail  cloth", "isChecked": False}])))
        z.writestr("Takeout/Keep/Old.json", json.dumps(keep_note(title="Old", textContent="gone", isTrashed=True)))
        z.writestr("Takeout/Keep/Labels.txt", "poems\ndrafts\n")
    return str(path)


def test_keep_takeout(tmp_path):
    s = Summary()
    docs = list(iter_documents([takeout(tmp_path)], None, s))
    assert [d.title for d in docs] == ["rope", "Sea poem"]
    checklist, poem = docs
    assert body_text(checklist) == "[x] rope\n[ ] sail cloth"
    assert body_text(poem) == "Salt on the wind,\nsalt on the sill.\n\nThe tide keeps time."
    assert poem.meta["labels"] == ["poems", "drafts"] and poem.meta["pinned"] is True
    assert poem.meta["edited"] == "2023-11-14T22:13:20Z" and poem.meta["created"].startswith("2023-07-22")
    assert s.skips["trashed note"] == 1
    assert s.skips["Keep .html copy (its .json twin is read)"] == 1
    assert s.skips["Keep labels list (not a note)"] == 1
    assert "unsupported file" not in s.skips


@pytest.mark.parametrize("obj", [
    {"title": "x", "text": "y"},
    {"textContent": "only one keep key"},
    [{"mapping": {}, "current_node": "a"}],
])
def test_keep_does_not_claim_other_json(tmp_path, obj):
    (tmp_path / "other.json").write_text(json.dumps(obj))
    entry = next(iter_entries([str(tmp_path / "other.json")]))
    with pytest.raises(InputError):
        detect(entry, kind="document")


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300),
       st.lists(st.tuples(st.text(min_size=1, max_size=30), st.booleans()), max_size=6))
def test_property_keep_text_and_lists_keep_their_words(tmp_path_factory, text, items):
    folder = tmp_path_factory.mktemp("k")
    (folder / "a.json").write_text(json.dumps(keep_note(textContent=text)))
    (folder / "b.json").write_text(json.dumps(keep_note(listContent=[{"text": t, "isChecked": c} for t, c in items])))
    docs = {d.source.rsplit("/", 1)[-1]: d for d in iter_documents([str(folder)])}
    if "a.json" in docs:  # (a note with no words at all is counted as "no text" instead)
        assert " ".join(b.text for b in docs["a.json"].blocks).split() == clean_text(text).split()
    expected = [f"{'[x]' if c else '[ ]'} {' '.join(clean_text(t).split())}" for t, c in items if clean_text(t)]
    if expected:
        assert body_text(docs["b.json"]).split("\n") == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from("ink paper lamp shore wind".split()), min_size=1, max_size=6).map(" ".join),
                min_size=1, max_size=5), st.lists(st.booleans(), max_size=3))
def test_property_enex_note_words_survive(tmp_path_factory, lines, todos):
    body = "".join(f"<div>{ln}</div>" for ln in lines)
    body += "".join(f'<div><en-todo checked="{str(c).lower()}"/>task</div>' for c in todos)
    path = tmp_path_factory.mktemp("e") / "n.enex"
    path.write_text(enex(note("T", body)))
    _, [doc] = parse(path)
    assert body_text(doc).split("\n\n") == lines + [f"[{'x' if c else ' '}] task" for c in todos]
