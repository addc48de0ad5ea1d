"""PDF files with a text layer (exported from Word, Scrivener, Google Docs, LaTeX).

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: each page's text (pypdf), then:
  * running headers and footers removed: a line among the top or bottom three of a page
    that recurs on at least 40% of pages (and 2+) once digits are normalised ("Page 3",
    "Page 4" are the same line), and bare page numbers ("12", "- 12 -", "Page 3 of 9", "xii");
  * hyphenated line ends joined: "beauti-" + "ful" -> "beautiful"; the hyphen stays when the
    hyphenated word is used elsewhere in the document ("well-known"), when the first part is a
    word that usually forms compounds (self-, well-, half-, non-, ...), or when the next line
    starts with a capital or a digit ("Jean-" + "Paul");
  * lines reflowed into paragraphs: a blank line, an indented line or a short last line
    (under 75% of the usual line length, after sentence-ending punctuation) ends a
    paragraph; paragraphs continue across page breaks;
  * chapter headings by pattern ("Chapter 7", "Part Two", "Prologue") and scene breaks.
Dropped: headers, footers, page numbers, images, annotations.
Refused with a clear message: password-protected PDFs, PDFs with no text layer (scans).
Known limits: a paragraph that ends on a full-width line exactly at the bottom of a page
runs into the next one (nothing on the page tells them apart); multi-column layouts are read
in pypdf's order, which may interleave the columns.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator

from miner.documents import blocks_from_paragraphs, clean_text, seekable, title_from_name
from miner.errors import InputError
from miner.models import Block, Document

NAME = "pdf"
KIND = "document"
LABEL = "PDF"

EDGE_LINES = 3  # how many lines at the top and bottom of a page may be a header/footer
# Page numbers: "12", "- 12 -", "Page 3", "page 3 of 9", "3/9", and lower-case Roman numerals
# of front matter ("xii"). Upper-case Roman numerals are left alone: "II" at the top of a page
# is a chapter heading far more often than a page number.
_PAGE_NUMBER = re.compile(
    r"^(?:(?:[Pp]age|PAGE)\s+)?[-\u2013\u2014\s]*(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/)\s*\d{1,4})?"
    r"[-\u2013\u2014\s]*$")
_COMPOUND_FIRST = {
    "self", "well", "half", "non", "ex", "all", "cross", "long", "short", "high", "low", "full", "old", "new",
    "far", "near", "mid", "anti", "pre", "post", "semi", "quasi", "pseudo", "great", "step", "so", "ill",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "one", "two", "three",
    "four", "five", "six", "seven", "eight", "nine", "ten", "first", "second", "third", "co", "re",
    "father", "mother", "brother", "sister", "son", "daughter", "in", "left", "right", "open", "close",
    "free", "hand", "home", "world", "life", "time", "state", "never", "ever", "much", "good", "bad",
}
_HYPHENS = ("-", "\u2010", "\u00ad")


def sniff(s) -> bool:
    return b"%PDF-" in s.head[:1024]


def _edge_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def running_line_mask(pages: list[list[str]]) -> list[list[bool]]:
    """For each page's lines, True where the line is body text (not a running header/footer
    or page number)."""
    n = len(pages)
    counts: Counter = Counter()
    for lines in pages:
        keys = {_edge_key(ln) for ln in _edges(lines)}
        counts.update(k for k in keys if k)
    threshold = max(2, int(0.4 * n + 0.999))
    repeated = {k for k, c in counts.items() if c >= threshold} if n >= 2 else set()
    lengths = sorted(len(ln.strip()) for lines in pages for ln in lines if len(ln.strip()) > 20)
    full = lengths[int(len(lengths) * 0.75)] if lengths else 10**6
    masks = []
    for lines in pages:
        idx = [i for i, ln in enumerate(lines) if ln.strip()]
        edge = set(idx[:EDGE_LINES] + idx[-EDGE_LINES:])
        mask = []
        for i, ln in enumerate(lines):
            t = ln.strip()
            running = i in edge and (
                _PAGE_NUMBER.match(t) is not None
                # a full-width line is body text that happens to repeat, not a running head
                or (_edge_key(ln) in repeated and len(t) < 0.9 * full))
            mask.append(not running)
        masks.append(mask)
    return masks


def remove_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop running headers/footers and page numbers from each page's lines."""
    return [[ln for ln, keep in zip(lines, mask) if keep] for lines, mask in zip(pages, running_line_mask(pages))]


def _edges(lines: list[str]) -> list[str]:
    nonblank = [ln for ln in lines if ln.strip()]
    if len(nonblank) <= 2 * EDGE_LINES:
        return nonblank
    return nonblank[:EDGE_LINES] + nonblank[-EDGE_LINES:]


_WORD_AT_END = re.compile(r"(\w+)[" + "".join(_HYPHENS) + r"]$")
_WORD_AT_START = re.compile(r"^(\w+)")


def _vocabulary(lines: list[str]) -> tuple[set[str], set[str]]:
    text = " ".join(lines).lower()
    hyphenated = set(re.findall(r"\b\w+-\w+\b", text))
    plain = set(re.findall(r"\b\w+\b", text))
    return hyphenated, plain


def join_hyphen(prev: str, nxt: str, hyphenated: set[str], plain: set[str]) -> str | None:
    """If `prev` ends with a word split by a hyphen and `nxt` continues it, the joined text
    of the two lines; None if they are not a hyphenated split."""
    m = _WORD_AT_END.search(prev)
    n = _WORD_AT_START.match(nxt.lstrip())
    if not m or not n:
        return None
    if prev.endswith("\u00ad"):
        return prev[:-1] + nxt.lstrip()
    first, second = m.group(1), n.group(1)
    keep = (
        second[:1].isupper() or second[:1].isdigit()
        or f"{first}-{second}".lower() in hyphenated
        or (first.lower() in _COMPOUND_FIRST and (first + second).lower() not in plain)
    )
    if keep:
        return prev[:-1] + "-" + nxt.lstrip()
    return prev[:-1] + nxt.lstrip()


def reflow_lines(lines: list[str]) -> list[str]:
    """Lines of running text (pages already joined) -> paragraphs."""
    texts = [ln.rstrip() for ln in lines]
    lengths = sorted(len(t.strip()) for t in texts if len(t.strip()) > 20)
    usual = lengths[int(len(lengths) * 0.75)] if lengths else 60
    hyphenated, plain = _vocabulary(texts)
    paras: list[str] = []
    cur = ""
    prev_short = False
    for raw in texts:
        line = raw.strip()
        if not line:
            if cur:
                paras.append(cur)
            cur, prev_short = "", False
            continue
        indented = raw[:1].isspace() and len(raw) - len(raw.lstrip()) >= 2
        if cur and (prev_short or indented):
            paras.append(cur)
            cur = ""
        if not cur:
            cur = line
        else:
            joined = join_hyphen(cur, line, hyphenated, plain)
            cur = joined if joined is not None else cur + " " + line
        ends_sentence = bool(re.search(r"[.!?:\u2026\"\u201d')\]]$", line))
        prev_short = len(line) < 0.75 * usual and (ends_sentence or len(line) < 0.4 * usual)
    if cur:
        paras.append(cur)
    return [clean_text(p) for p in paras if clean_text(p)]


def _page_lines(page) -> tuple[list[str], list[tuple[float, float, float]] | None]:
    """A page's text lines, and where pypdf drew each one: (x, y, font size) per line, or
    None when the positions cannot be matched to the lines one to one."""
    marks: list[tuple[float, float, float]] = []

    def visit(text, cm, tm, font, size):
        if not text or not text.strip():
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        fs = abs(size * (tm[3] or 1) * (cm[3] or 1)) or 10.0
        if marks and abs(marks[-1][1] - y) <= 0.4 * max(fs, marks[-1][2]):
            marks[-1] = (min(marks[-1][0], x), marks[-1][1], max(marks[-1][2], fs))
        else:
            marks.append((x, y, fs))

    text = page.extract_text(visitor_text=visit) or ""
    lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if ln.strip()]
    return lines, (marks if len(marks) == len(lines) else None)


def _body_lines(pages: list[list[str]], positions: list) -> list[str]:
    """Body lines of all pages in order, with layout turned into the cues reflow_lines reads:
    an empty line where the vertical gap shows a paragraph break, two leading spaces where a
    line starts right of the left margin (a first-line indent). Page boundaries add neither,
    so a paragraph runs on across pages."""
    masks = running_line_mask(pages)
    gaps, lefts, tops = [], [], []
    for lines, mask, pos in zip(pages, masks, positions):
        if pos is None:
            continue
        kept = [pos[i] for i in range(len(lines)) if mask[i]]
        lefts.extend(p[0] for p in kept)
        if kept:
            tops.append(kept[0][1])
        gaps.extend(a[1] - b[1] for a, b in zip(kept, kept[1:]) if a[1] > b[1])
    usual_gap = sorted(gaps)[len(gaps) // 2] if gaps else None
    margin = min(lefts) if lefts else None
    top = max(tops) if tops else None  # where body text starts on a full page
    out: list[str] = []
    for lines, mask, pos in zip(pages, masks, positions):
        prev = None
        for i, line in enumerate(lines):
            if not mask[i]:
                continue
            if pos is not None and usual_gap:
                x, y, fs = pos[i]
                if prev is not None and prev[1] - y > 1.45 * usual_gap:
                    out.append("")
                elif prev is None and top is not None and top - y > 0.7 * usual_gap:
                    out.append("")  # the page opens with space above: a new paragraph
                if margin is not None and x - margin > max(6.0, 0.8 * fs):
                    line = "  " + line.lstrip()
                prev = pos[i]
            out.append(line)
    return out


def parse(entry, opts) -> Iterator[Document]:
    # pypdf logs its repairs of slightly broken files ("EOF marker not found") to stderr;
    # library code must not print, and a file it cannot read is reported by us instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    yield from _parse(entry)


def _parse(entry) -> Iterator[Document]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    with seekable(entry, "PDF") as fh:
        try:
            reader = PdfReader(fh, strict=False)
            if reader.is_encrypted:
                try:
                    ok = reader.decrypt("")  # many PDFs are "encrypted" with an empty password
                except Exception:
                    ok = 0
                if not ok:
                    raise InputError(entry.name, "is password-protected",
                                     "open it, save a copy without a password, and use that")
            pages, positions = [], []
            for page in reader.pages:
                try:
                    lines, pos = _page_lines(page)
                except (FileNotDecryptedError, PdfReadError):
                    raise
                except Exception:
                    lines, pos = [], None  # one unreadable page should not lose the book
                pages.append(lines)
                positions.append(pos)
            info = reader.metadata
            meta_title = info.title if info and isinstance(info.title, str) else ""  # damaged: /Title 42
        except InputError:
            raise
        except FileNotDecryptedError:
            raise InputError(entry.name, "is password-protected",
                             "open it, save a copy without a password, and use that") from None
        except Exception as e:
            raise InputError(entry.name, f"is damaged or incomplete and cannot be read as a PDF ({type(e).__name__})",
                             "re-export it from the program that made it") from None
    if not any(ln.strip() for lines in pages for ln in lines):
        raise InputError(entry.name, "has no text layer (scanned?) - run OCR first",
                         "e.g. `ocrmypdf in.pdf out.pdf`, then give miner the new file")
    paras = reflow_lines(_body_lines(pages, positions))
    title = re.sub(r"^Microsoft Word - |\.docx?$", "", meta_title.strip()).strip()
    if title.lower() in ("untitled", "untitled document"):
        title = ""
    title_line = bool(title and paras and " ".join(paras[0].split()).lower() == " ".join(title.split()).lower())
    blocks, meta = blocks_from_paragraphs(paras[1:] if title_line else paras)
    if title_line:  # the title printed on the first page is the document's title, not prose
        blocks.insert(0, Block("heading", " ".join(paras[0].split()), 1))
    meta["pages"] = len(pages)
    yield Document(title=title or title_from_name(entry.name), source=entry.name, blocks=blocks, meta=meta)
