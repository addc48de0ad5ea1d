"""PDF: running headers, footers and page numbers gone; hyphenated line ends joined; lines
reflowed into paragraphs (also across pages); locked and scanned PDFs refused clearly."""
from __future__ import annotations

import re

import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.documents import iter_documents
from miner.errors import InputError
from miner.parsers import ParseOptions, detect
from miner.parsers.pdf import join_hyphen, reflow_lines, remove_running_lines
from miner.sources import iter_entries
from miner.summary import Summary


class Essay(FPDF):
    def header(self):
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, "On Harbours - A. Writer", align="C")
        self.ln(14)

    def footer(self):
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, f"Page {self.page_no()}", align="C")


# Each inner list is one paragraph, already broken into lines as a typesetter would.
PARAGRAPHS = [
    ["Chapter 1"],
    ["The harbour was quiet that morning, and the boats rocked in a slow, beauti-",
     "ful rhythm while the gulls argued over scraps on the stone wall. It was a",
     "well-known place for people who wanted to be left alone, a self-",
     "contained little world."],
    ["Nobody came."],
] + [
    [f"Paragraph {i} is about the tide, which came in over the grey stones as it had",
     f"always done, and went out again the same way, whatever anyone said about it {i}."]
    for i in range(2, 9)
] + [
    ["This last paragraph is long enough to run over the bottom of the first page and",
     "onto the top of the next one, where it carries on for a little while before it",
     "finally comes to a full stop."],
]
LINES_PER_PAGE = 14


def make_essay(path) -> None:
    lines: list[str] = []
    for para in PARAGRAPHS:
        lines.extend(para)
        lines.append("")
    pdf = Essay()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)
    for i, line in enumerate(lines):
        if i % LINES_PER_PAGE == 0:
            pdf.add_page()
        pdf.cell(0, 6, line)
        pdf.ln(6)
    pdf.output(str(path))


def parse(path):
    entry = next(iter_entries([str(path)]))
    mod = detect(entry, kind="document")
    assert mod.NAME == "pdf"
    return list(mod.parse(entry, ParseOptions()))


def test_headers_footers_page_numbers_removed_and_hyphens_joined(tmp_path):
    make_essay(tmp_path / "essay.pdf")
    [doc] = parse(tmp_path / "essay.pdf")
    texts = [b.text for b in doc.blocks]
    joined = "\n".join(texts)
    assert "On Harbours" not in joined and not re.search(r"^Page \d+$", joined, re.M)
    assert doc.blocks[0].kind == "heading" and doc.blocks[0].text == "Chapter 1"
    assert texts[1] == ("The harbour was quiet that morning, and the boats rocked in a slow, beautiful rhythm while "
                        "the gulls argued over scraps on the stone wall. It was a well-known place for people who "
                        "wanted to be left alone, a self-contained little world.")
    assert texts[2] == "Nobody came."
    assert texts[3].startswith("Paragraph 2 is about the tide") and texts[3].endswith("about it 2.")
    assert texts[-1] == ("This last paragraph is long enough to run over the bottom of the first page and onto the "
                         "top of the next one, where it carries on for a little while before it finally comes to "
                         "a full stop.")
    assert len(texts) == 3 + 7 + 1
    # paragraphs 3|4 meet at a page break; paragraph 8 runs over one
    assert texts[4].startswith("Paragraph 3") and texts[4].endswith("it 3.")
    assert texts[9].startswith("Paragraph 8") and texts[9].endswith("it 8.")
    assert doc.meta["pages"] == 3


def test_running_lines_detection_normalises_digits():
    pages = [["My Book", "Body line one of page %d." % i, "text", "- %d -" % i] for i in range(1, 6)]
    pages[2].insert(1, "A line that happens to be on one page only")
    pages[3].insert(1, "II")  # a chapter number at the top of a page is not a page number
    pages[4].insert(1, "xii")  # a front-matter page number is
    out = remove_running_lines(pages)
    assert "II" in out[3] and "xii" not in out[4]
    assert all("My Book" not in p and not any(ln.startswith("- ") for ln in p) for p in out)
    assert "A line that happens to be on one page only" in out[2]
    assert all(any(ln.startswith("Body line") for ln in p) for p in out)


@pytest.mark.parametrize("prev,nxt,want", [
    ("a slow, beauti-", "ful rhythm", "a slow, beautiful rhythm"),
    ("a well-", "known place", "a well-known place"),
    ("Jean-", "Paul said", "Jean-Paul said"),
    ("before 19-", "99 it was", "before 19-99 it was"),
])
def test_hyphen_rule(prev, nxt, want):
    assert join_hyphen(prev, nxt, set(), set()) == want


def test_hyphen_kept_when_the_document_uses_the_hyphenated_word():
    assert join_hyphen("a sea-", "wall", {"sea-wall"}, set()) == "a sea-wall"
    assert join_hyphen("a sea-", "wall", set(), set()) == "a seawall"


def test_locked_scanned_and_damaged_pdfs_are_clear_errors(tmp_path):
    locked = FPDF()
    locked.add_page()
    locked.set_font("Helvetica", size=12)
    locked.cell(0, 10, "secret")
    locked.set_encryption(owner_password="owner", user_password="user")
    locked.output(str(tmp_path / "locked.pdf"))
    scan = FPDF()
    scan.add_page()
    scan.rect(10, 10, 100, 150, style="F")  # a page with a picture and no text
    scan.output(str(tmp_path / "scan.pdf"))
    make_essay(tmp_path / "good.pdf")
    data = (tmp_path / "good.pdf").read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="is password-protected"):
        parse(tmp_path / "locked.pdf")
    with pytest.raises(InputError, match=r"has no text layer \(scanned\?\) - run OCR first"):
        parse(tmp_path / "scan.pdf")
    s = Summary()
    docs = list(iter_documents([str(tmp_path)], None, s))
    assert len(docs) == 1 and docs[0].source.endswith("good.pdf")
    assert s.skips["password-protected file"] == 1 and s.skips["no text layer (scanned PDF)"] == 1
    assert s.skips["corrupt file"] == 1


def test_owner_only_encryption_still_reads(tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "Printing is restricted but reading is not.")
    pdf.set_encryption(owner_password="owner")  # empty user password, as many exports do
    pdf.output(str(tmp_path / "restricted.pdf"))
    [doc] = parse(tmp_path / "restricted.pdf")
    assert doc.blocks[0].text == "Printing is restricted but reading is not."


words = st.sampled_from("the tide came in slowly over grey stones and she watched it".split())
line_st = st.lists(words, min_size=1, max_size=14).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(line_st, st.just("")), max_size=40))
def test_property_reflow_keeps_every_word_in_order(lines):
    paras = reflow_lines(lines)
    assert " ".join(paras).split() == " ".join(lines).split()
    assert all(p and "\n\n" not in p for p in paras)
