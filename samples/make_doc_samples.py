"""Write the prose-side samples, deterministically (same bytes on every run):

    samples/manuscript.docx   a short story: title, 3 chapters (Heading 1), scene breaks, a
                              running header and footer, an editor's comment, a tracked
                              deletion and insertion, a page break
    samples/essay.pdf         a 3-page essay with a running header, page numbers and
                              hyphenated line ends
    samples/notes/            Obsidian-style Markdown notes with front matter and [[wikilinks]],
                              one with a Notion-style " <32-hex-id>" file name
    samples/notes.enex        an Evernote notebook with 3 notes

All text is original, written for miner. Run from the repository root:

    python samples/make_doc_samples.py
"""
from __future__ import annotations

import datetime as dt
import io
import os
import textwrap
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED_TIME = (2024, 1, 1, 0, 0, 0)

STORY_TITLE = "The Salt Road"
CHAPTERS = [
    ("Chapter One", [
        "The salt road ran along the top of the dunes, and nobody in Hessel used it after dark. Wren used it "
        "every night. She carried her father's lamp in one hand and a tin of biscuits in the other, and she "
        "counted the posts as she passed them, because counting kept the wind out of her head.",
        "At the fortieth post the road bent inland and the sea went quiet behind the grass. That was where she "
        "usually stopped to eat a biscuit. Tonight there was already someone sitting on the post.",
        "\u201cYou\u2019re late,\u201d said the stranger, as if they had agreed to meet.",
        "\u201cI\u2019m never late,\u201d said Wren. \u201cI\u2019m the only one who comes.\u201d",
        None,  # scene break
        "In the morning her mother asked why the tin was empty, and Wren said the gulls had got it, which was "
        "not exactly a lie. A gull had been sitting on the stranger's shoulder the whole time.",
    ]),
    ("Chapter Two", [
        "The stranger was called Amos, or said he was, and he had walked from the far end of the road, where "
        "the maps stopped bothering with names. He had a coat with too many pockets and a voice like a door "
        "that needed oil.",
        "\u201cWhat do you do out here?\u201d he asked on the second night.",
        "\u201cI check the posts,\u201d said Wren. \u201cIf one falls, the road forgets where it goes.\u201d",
        "He laughed at that, and then he stopped laughing and looked along the line of posts, white in the "
        "lamplight, leaning a little towards the sea like tired old men.",
        None,
        "By the end of the week he was helping. He carried the mallet; she carried the lamp. They found two "
        "posts loose and one missing altogether, and they drove a new one in where the gap had been.",
    ]),
    ("Chapter Three", [
        "The storm came on the ninth night, the way storms do in Hessel, all at once and from the wrong "
        "direction. Wren heard it in the chimney before she saw it on the water.",
        "She went out anyway. The lamp guttered and the biscuits were soaked through before the tenth post, "
        "but the posts were all standing, every one, and at the fortieth Amos was waiting with his collar up.",
        "\u201cYou came,\u201d he said.",
        "\u201cI always come,\u201d said Wren, and this time it was not a boast but a promise, and they both "
        "knew it.",
        None,
        "In spring the council put up a sign at the start of the salt road. It said the road was closed after "
        "dark. Wren walked past it every night, counting, and nobody ever asked her to stop.",
    ]),
]

ESSAY_TITLE = "Why I Keep a Notebook by the Kettle"
ESSAY = [
    "For years I kept my notebook in a drawer, which is the same as not keeping one. A drawer is where good "
    "intentions go to be tidy. I would open it perhaps once a month, find three half-sentences in my own "
    "handwriting, and feel the particular embarrassment of meeting an old friend whose name you have forgotten.",
    "The kettle changed that. Every morning I stand beside it for about four minutes, waiting, and four minutes "
    "is exactly long enough to write down one thought before it escapes. The notebook lives there now, propped "
    "against the tea caddy, with a pencil tied to it by a length of kitchen string.",
    "What I write is mostly unremarkable. A line overheard on the bus. The colour of the sky over the allotments. "
    "A complaint about the neighbour's extraordinarily persistent dog. But the unremarkable things turn out to be "
    "the raw material for everything else, and I had been throwing them away for decades.",
    "There is a well-known piece of advice that writers should write every day. I have never managed it. What I "
    "can manage is to notice every day, and to make the noticing permanent, and that has turned out to be "
    "enough to keep the larger work moving when I finally sit down to it.",
    "Some mornings the kettle boils before I have written anything at all, and I have learned not to mind. An "
    "empty page by the kettle is still an invitation, and tomorrow the water will take just as long to boil.",
    "If you want to try it, choose the place first and the notebook second. The place should be somewhere you "
    "already wait: a kettle, a bus stop, the school gate. The notebook can be anything. Mine cost less than a "
    "loaf of bread and has outlasted three expensive ones that I was too nervous to write in.",
    "I have filled eleven of them now. Reading back through them is like listening to a long conversation with "
    "someone who knows me very well and is not in the least impressed by me, which is, I suspect, the most "
    "useful kind of company a writer can keep.",
    "People sometimes ask what I do with the full ones. The honest answer is that I keep them in a shoebox "
    "under the stairs, and once a year, usually in the dead week after Christmas, I take them all out and read "
    "them in order with a pot of tea going cold beside me. It is the closest thing I have to a diary, except "
    "that a diary records what happened and the notebooks record what I happened to notice, which is stranger "
    "and more honest.",
    "The shoebox has taught me something I did not expect: my handwriting changes with the seasons. In winter "
    "it is small and cramped and leans to the left, as if it were trying to keep warm. By June it sprawls "
    "across the page like someone lying on a lawn. I have no idea what this means, and I have decided that I "
    "do not need to know.",
]

NOTES = {
    "Harbour walk.md": """---
title: Harbour walk
tags: [walks, sea]
created: 2024-03-02
---
# Harbour walk

Walked down to the harbour with [[People/Ines|Ines]] before breakfast. The tide was so far out that the
boats were sitting on the mud like ducks that had forgotten how to float.

She said the harbour smells different in March, and I think she is right: less fish, more rope.
%%check whether the chandlery is still open on Sundays%%

Idea for [[The Salt Road]]: Wren should find something buried at one of the posts.
""",
    "The Salt Road.md": """---
title: The Salt Road
status: drafting
tags: story
---
# The Salt Road

A girl who walks the dune road every night and counts the posts. See [[Harbour walk]] for the
smell of the place.

## Characters

- Wren, eleven, stubborn, counts things when she is frightened
- Amos, a stranger with too many pockets
- [ ] decide whether Amos is a ghost

## Ending

The council closes the road. She walks it anyway. ![[dune-sketch.png]]
""",
    "Reading list 5f2b9c1e8a7d4e3f9b0c1d2e3f4a5b6c.md": """# Reading list 5f2b9c1e8a7d4e3f9b0c1d2e3f4a5b6c

Exported from Notion. Books about the sea that are not really about the sea:

1. the one with the lighthouse and the dog
2. the one where the island sinks a little every chapter
3. anything with tides in the title
""",
    "Morning pages/2024-03-05.md": """---
mood: tired
weather: rain
---
Woke at six to rain on the skylight. Wrote three lines by the kettle and crossed out two of them.
The one that survived: *the sea goes quiet behind the grass.* I think it belongs to [[The Salt Road]].
""",
    "Morning pages/2024-03-06.md": """---
mood: better
---
No rain. Walked to the fortieth lamp post on the promenade, counting, to see whether counting really does
keep the wind out of your head. It does, a little.

***

Later: phoned Ines about the harbour book. She is not impressed by my title.
""",
}

ENEX_NOTES = [
    ("Overheard on the bus", "20240210T083000Z", ["overheard"],
     "<div>\u201cHe said he would fix it by Tuesday, but he never said which Tuesday.\u201d</div>"
     "<div><br/></div><div>Two women, both in yellow raincoats, both absolutely certain.</div>"),
    ("Allotment jobs", "20240214T171500Z", ["garden", "lists"],
     "<div><en-todo checked=\"true\"/>turn the compost</div><div><en-todo/>mend the water butt</div>"
     "<div><en-todo/>ask about the plum tree</div><en-media type=\"image/jpeg\" hash=\"9f8e7d\"/>"),
    ("A colour I keep noticing", "20240301T064500Z", ["colour", "notebook"],
     "<h2>Dawn over the allotments</h2><p>Not pink, not grey: the colour of the inside of a shell, and only "
     "for about four minutes, which is exactly as long as the kettle takes.</p><p>***</p>"
     "<p>Tried to paint it once. Failed. Wrote it down instead.</p>"
     "<en-crypt hint=\"old password\">c2VjcmV0IG5vdGU=</en-crypt>"),
]


# ---- helpers -----------------------------------------------------------------------------

def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a ZIP with fixed member times, so the file is byte-for-byte reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


def write_manuscript(path: str) -> None:
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn

    d = docx.Document()
    d.core_properties.author = "A. Sample Writer"
    d.core_properties.title = STORY_TITLE
    fixed = dt.datetime(2024, 1, 1)
    d.core_properties.created = fixed
    d.core_properties.modified = fixed
    d.core_properties.last_modified_by = "miner samples"
    d.sections[0].header.paragraphs[0].text = "Writer / THE SALT ROAD"
    d.sections[0].footer.paragraphs[0].text = "Draft 3 - do not circulate"
    d.add_paragraph(STORY_TITLE, style="Title")
    for ci, (heading, paras) in enumerate(CHAPTERS):
        h = d.add_heading(heading, 1)
        if ci:
            h.paragraph_format.page_break_before = True
        for pi, text in enumerate(paras):
            if text is None:
                b = d.add_paragraph("* * *")
                b.alignment = WD_ALIGN_PARAGRAPH.CENTER
                continue
            p = d.add_paragraph(text)
            if ci == 0 and pi == 0:
                c = d.add_comment(p.runs, text="Is 'wind out of her head' too cute?", author="Editor", initials="ED")
                c._comment_elm.set(qn("w:date"), "2024-01-01T00:00:00Z")  # reproducible bytes
            if ci == 1 and pi == 0:
                w = nsdecls("w")
                p._p.append(parse_xml(f'<w:del {w} w:id="101" w:author="Editor" w:date="2024-01-01T00:00:00Z">'
                                      '<w:r><w:delText xml:space="preserve"> He smelled of tar.</w:delText></w:r>'
                                      '</w:del>'))
                p._p.append(parse_xml(f'<w:ins {w} w:id="102" w:author="Editor" w:date="2024-01-01T00:00:00Z">'
                                      '<w:r><w:t xml:space="preserve"> He smelled of rain.</w:t></w:r></w:ins>'))
    end = d.add_paragraph()
    end.add_run().add_break(WD_BREAK.PAGE)
    end.add_run("THE END")
    end.alignment = WD_ALIGN_PARAGRAPH.CENTER
    buf = io.BytesIO()
    d.save(buf)
    with open(path, "wb") as f:
        f.write(_fixed_zip(buf.getvalue()))


def _hyphen_point(word: str) -> int:
    """A plausible break inside a long word: after a vowel followed by a consonant, nearest
    the middle (good enough for a sample; real typesetters use dictionaries)."""
    vowels = "aeiouy"
    best = 0
    for i in range(3, len(word) - 3):
        if word[i - 1].lower() in vowels and word[i].lower() not in vowels and word[i].isalpha():
            if abs(i - len(word) / 2) < abs(best - len(word) / 2):
                best = i
    return best


def _typeset(pdf, text: str, width: float) -> list[str]:
    """Break a paragraph into lines that fit `width`, hyphenating long words at line ends."""
    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}" if cur else word
        if pdf.get_string_width(trial) <= width:
            cur = trial
            continue
        cut = _hyphen_point(word) if len(word) >= 8 and word.isalpha() else 0
        if cut and pdf.get_string_width(f"{cur} {word[:cut]}-") <= width:
            lines.append(f"{cur} {word[:cut]}-")
            cur = word[cut:]
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    return lines


def write_essay(path: str) -> None:
    from fpdf import FPDF

    class Essay(FPDF):
        def header(self):
            self.set_font("Helvetica", "I", 9)
            self.cell(0, 8, f"{ESSAY_TITLE} - A. Sample Writer", align="C")
            self.ln(14)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, f"- {self.page_no()} -", align="C")

    pdf = Essay(format=(148, 210))  # A5, in mm
    pdf.set_creation_date(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    pdf.set_title(ESSAY_TITLE)
    pdf.set_author("A. Sample Writer")
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, ESSAY_TITLE)
    pdf.ln(4)
    pdf.set_font("Helvetica", size=10.5)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for para in ESSAY:
        for line in _typeset(pdf, para, width):
            pdf.cell(0, 5.5, line)
            pdf.ln(5.5)
        pdf.ln(3)
    pdf.output(path)


def write_notes(folder: str) -> None:
    for name, text in NOTES.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def write_enex(path: str) -> None:
    notes = []
    for title, created, tags, body in ENEX_NOTES:
        tag_xml = "".join(f"<tag>{t}</tag>" for t in tags)
        notes.append(
            f"<note><title>{title}</title><content><![CDATA[<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            f"<!DOCTYPE en-note SYSTEM \"http://xml.evernote.com/pub/enml2.dtd\"><en-note>{body}</en-note>]]>"
            f"</content><created>{created}</created><updated>{created}</updated>{tag_xml}"
            "<note-attributes><source>desktop.mac</source></note-attributes></note>")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<!DOCTYPE en-export SYSTEM "http://xml.evernote.com/pub/evernote-export4.dtd">\n'
           '<en-export export-date="20240302T000000Z" application="Evernote" version="10.0">\n'
           + "\n".join(notes) + "\n</en-export>\n")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(xml)


def main() -> None:
    write_manuscript(os.path.join(HERE, "manuscript.docx"))
    write_essay(os.path.join(HERE, "essay.pdf"))
    write_notes(os.path.join(HERE, "notes"))
    write_enex(os.path.join(HERE, "notes.enex"))
    print(textwrap.dedent(f"""\
        wrote {os.path.join(HERE, 'manuscript.docx')}
        wrote {os.path.join(HERE, 'essay.pdf')}
        wrote {os.path.join(HERE, 'notes')}/ ({len(NOTES)} notes)
        wrote {os.path.join(HERE, 'notes.enex')} ({len(ENEX_NOTES)} notes)"""))


if __name__ == "__main__":
    main()
