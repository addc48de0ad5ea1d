"""HTML, EPUB and RTF: the words a reader sees, in reading order, with headings as sections;
page furniture (scripts, styles, navigation, a book's table of contents) left out."""
from __future__ import annotations

import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.chunking import body_text, chunk_document
from miner.documents import iter_documents
from miner.errors import InputError
from miner.parsers import ParseOptions, detect
from miner.sources import iter_entries
from miner.summary import Summary

PAGE = """<!DOCTYPE html>
<html><head><title>Essays</title><style>p { color: red }</style><script>var secret = 1;</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>On Rain</h1>
<p>Rain came  in
   sideways.<br>Then it stopped.</p>
<div>A div paragraph with <em>emphasis</em> and a <a href="x">link</a>.</div>
<hr>
<h2>Later</h2>
<ul><li>first thing</li><li>second thing</li></ul>
<p>&nbsp;</p>
<!-- a comment nobody should read -->
<p class="chapter">Chapter 2</p>
<p>The end.</p>
<noscript>enable javascript</noscript>
</body></html>"""


def parse(path, name):
    entry = next(iter_entries([str(path)]))
    mod = detect(entry, kind="document")
    assert mod.NAME == name
    return list(mod.parse(entry, ParseOptions()))


def test_html_page(tmp_path):
    (tmp_path / "essay.html").write_text(PAGE)
    [doc] = parse(tmp_path / "essay.html", "html")
    assert doc.title == "Essays"
    assert [(b.kind, b.text, b.level) for b in doc.blocks] == [
        ("heading", "On Rain", 1),
        ("paragraph", "Rain came in sideways.\nThen it stopped.", 0),
        ("paragraph", "A div paragraph with emphasis and a link.", 0),
        ("break", "", 0),
        ("heading", "Later", 2),
        ("paragraph", "first thing", 0),
        ("paragraph", "second thing", 0),
        ("heading", "Chapter 2", 1),
        ("paragraph", "The end.", 0),
    ]
    text = body_text(doc)
    for absent in ("secret", "color", "Home", "comment", "javascript"):
        assert absent not in text


def test_apple_notes_style_html_without_suffix_is_detected_by_content(tmp_path):
    (tmp_path / "note").write_text("<html><body><div>Line one</div><div><br></div><div>Line two</div></body></html>")
    [doc] = parse(tmp_path / "note", "html")
    assert body_text(doc) == "Line one\n\nLine two"


def make_epub(path, *, drm: bool = False) -> None:
    chapter = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x'
               '</title></head><body>{}</body></html>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml",
                   '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:'
                   'container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-'
                   'package+xml"/></rootfiles></container>')
        z.writestr("OEBPS/content.opf", """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
 <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Lighthouse Year</dc:title></metadata>
 <manifest>
  <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
  <item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>
  <item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>
  <item id="notes" href="text/notes.xhtml" media-type="application/xhtml+xml"/>
  <item id="css" href="style.css" media-type="text/css"/>
 </manifest>
 <spine><itemref idref="nav"/><itemref idref="c2"/><itemref idref="c1"/><itemref idref="notes" linear="no"/></spine>
</package>""")
        z.writestr("OEBPS/nav.xhtml", chapter.format("<nav><ol><li>Chapter 1</li><li>Chapter 2</li></ol></nav>"))
        # spine order, not file order: c2 is read first
        z.writestr("OEBPS/text/ch2.xhtml", chapter.format("<h1>Spring</h1><p>The ice broke.</p><p>* * *</p>"
                                                          "<p>Boats returned.</p>"))
        z.writestr("OEBPS/text/ch1.xhtml", chapter.format("<p>No heading here, just summer.</p>"))
        z.writestr("OEBPS/text/notes.xhtml", chapter.format("<p>Endnote text.</p>"))
        z.writestr("OEBPS/style.css", "p{}")
        if drm:
            z.writestr("META-INF/encryption.xml", '<encryption><EncryptedData><CipherData/></EncryptedData></encryption>')


def test_epub_spine_order_without_nav_or_nonlinear(tmp_path):
    make_epub(tmp_path / "book.epub")
    [doc] = parse(tmp_path / "book.epub", "epub")
    assert doc.title == "The Lighthouse Year"
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "Spring"), ("paragraph", "The ice broke."), ("break", "* * *"), ("paragraph", "Boats returned."),
        ("page", ""), ("paragraph", "No heading here, just summer.")]
    chunks = chunk_document(doc)
    assert [c.text for c in chunks] == ["The ice broke.\n\nBoats returned.\n\nNo heading here, just summer."]


def test_epub_with_drm_or_damage_is_a_clear_error(tmp_path):
    make_epub(tmp_path / "locked.epub", drm=True)
    with pytest.raises(InputError, match="DRM"):
        parse(tmp_path / "locked.epub", "epub")
    make_epub(tmp_path / "ok.epub")
    data = (tmp_path / "ok.epub").read_bytes()
    (tmp_path / "cut.epub").write_bytes(data[:120])
    s = Summary()
    docs = list(iter_documents([str(tmp_path)], None, s))
    assert [d.title for d in docs] == ["The Lighthouse Year"]
    assert sum(s.skips.values()) == 2


RTF = (r"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}\f0\fs24 CHAPTER ONE\par "
       r"It was a caf\'e9 morning, \u8220?quiet\u8221? and grey.\par "
       r"\par ***\par "
       r"She left at noon.\par }")


def test_rtf(tmp_path):
    (tmp_path / "content.rtf").write_text(RTF)
    [doc] = parse(tmp_path / "content.rtf", "rtf")
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "CHAPTER ONE"), ("paragraph", "It was a caf\u00e9 morning, \u201cquiet\u201d and grey."),
        ("break", "***"), ("paragraph", "She left at noon.")]


def test_broken_rtf_is_reported(tmp_path):
    (tmp_path / "bad.rtf").write_text(r"{\rtf1 unclosed }}}}}}}} text")
    s = Summary()
    assert list(iter_documents([str(tmp_path)], None, s)) == []
    assert s.skips["corrupt file"] == 1


words = st.lists(st.sampled_from("moss stone wave gull salt rope".split()), min_size=1, max_size=8).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p", "div", "li", "h2", "blockquote", "td"]), words), max_size=15))
def test_property_html_keeps_every_visible_word_in_order(tmp_path_factory, parts):
    html = "<html><body>" + "".join(f"<{t}>{w}</{t}>" for t, w in parts) + "</body></html>"
    path = tmp_path_factory.mktemp("h") / "p.html"
    path.write_text(html)
    if not parts:
        return
    [doc] = parse(path, "html")
    assert " ".join(b.text for b in doc.blocks).split() == " ".join(w for _, w in parts).split()


def test_hand_made_apple_notes_and_scrivener_fixtures():
    from pathlib import Path

    data = Path(__file__).parent / "data"
    [note] = parse(data / "apple_notes_export.html", "html")
    assert note.title == "Seaside ideas"
    assert body_text(note) == ("The pier at low tide looks like a ribcage.\n\nAsk Ines about the harbour book.\n\n"
                               "[x] buy a sketchbook\n\n[ ] find the old ferry timetable")
    [scene] = parse(data / "scrivener_content.rtf", "rtf")
    assert [(b.kind, b.text) for b in scene.blocks] == [
        ("heading", "Prologue"),
        ("paragraph", "The lighthouse had been dark for eleven years when Mara climbed it for the first time."),
        ("paragraph", "She was not supposed to be there. Nobody was."),
        ("break", "#"),
        ("paragraph", "In the morning the lamp was lit, and the town pretended not to notice."),
    ]
