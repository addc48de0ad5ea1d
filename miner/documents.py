"""The prose side's front door: files in, Documents out, plus the prose helpers every document
parser shares.

Flow:  sources.iter_entries -> parsers.detect(kind="document") -> parsers/<format>.parse
       -> iter_documents (counts, skips) -> chunking.chunk_document -> chunk_files (JSONL)

`iter_documents` never raises for one bad file: an unsupported, empty, corrupt or locked file
is counted in the Summary under a short reason (with the file named) and the run goes on.

The helpers here are pure functions on strings, used by several parsers:
  clean_text          whitespace normalisation that defines what "body text" looks like
  heading_level       is a short line a chapter/part heading ("Chapter 7", "PART TWO", "IV.")?
  is_scene_break      is a paragraph a scene-break marker (***, * * *, #, ~, a centred ornament)?
  blocks_from_text    plain text (optionally hard-wrapped) -> Blocks
  strip_notion_id     "Trip notes 3f2a...e9" -> "Trip notes"
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

from miner.errors import InputError, UnknownFormat
from miner.models import Block, Document, Skip
from miner.sources import iter_entries
from miner.summary import Summary

# ---- whitespace ---------------------------------------------------------------------------

# Invisible characters that only get in the way of training text: zero-width space/joiners
# used as layout hacks, the BOM, soft hyphens (a hyphenation hint, not a character).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"), None)
_HSPACE = re.compile(r"[^\S\n]+")  # any whitespace except the line break
_NEWLINES = re.compile(r"\n+")


def clean_text(text: str) -> str:
    """Normalise a paragraph's whitespace: line endings to \\n, tabs and odd spaces (NBSP, thin
    spaces) to one plain space, each line stripped, runs of line breaks to one \\n, the whole
    stripped. The result never contains "\\n\\n", which is what lets paragraphs be joined by
    a blank line and split again unambiguously. Idempotent."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = text.translate(_INVISIBLE)
    text = _HSPACE.sub(" ", text)
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    return _NEWLINES.sub("\n", text).strip()


def reflow(text: str) -> str:
    """Join hard-wrapped lines into one line (for text that was wrapped by a program, not the
    author): line breaks become spaces."""
    return " ".join(part for part in clean_text(text).split("\n") if part)


# ---- headings -----------------------------------------------------------------------------

_NUM_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "last": 999, "final": 999,
}
_WORD_NUM = r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|" \
            r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|" \
            r"sixteen|seventeen|eighteen|nineteen|first|second|third|fourth|fifth|sixth|seventh|eighth|" \
            r"ninth|tenth|eleventh|twelfth|last|final)"
_ROMAN = r"(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_NUMBER = rf"(?:\d{{1,4}}|{_ROMAN}|{_WORD_NUM}|the\s+{_WORD_NUM})"
# "Chapter 7", "CHAPTER SEVEN.", "Chapter IV: The Storm", "Chapter the First", "Letter 2", "Part Two"
_KEYWORD_HEADING = re.compile(
    rf"^(?P<kw>chapter|chap\.|part|book|volume|vol\.|letter|act|canto|section)\s+(?P<num>{_NUMBER})\b\.?"
    rf"(?:\s*(?P<sep>[.:\-\u2013\u2014]|\s)\s*(?P<title>\S.{{0,70}}))?$",
    re.IGNORECASE,
)
_NAMED_HEADING = re.compile(
    r"^(?P<kw>prologue|epilogue|preface|foreword|introduction|afterword|interlude|postscript|"
    r"author'?s note|acknowledge?ments|dedication|coda)\.?(?:\s*(?:[.:\-\u2013\u2014])\s*(?P<title>\S.{0,70}))?$",
    re.IGNORECASE,
)
# A bare numeral on its own line: "IV", "IV.", "12", "12." (upper-case Roman only: "i." is a list)
_BARE_NUMBER = re.compile(rf"^(?P<num>\d{{1,3}}|{_ROMAN.upper()})\.?$")
_CONTENTS = re.compile(r"^(?:table of )?contents\.?$", re.IGNORECASE)


def _roman_to_int(s: str) -> int:
    vals = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    total, prev = 0, 0
    for ch in reversed(s.lower()):
        v = vals[ch]
        total += -v if v < prev else v
        prev = max(prev, v)
    return total


def _number_value(num: str) -> int | None:
    n = num.strip().lower()
    if n.startswith("the "):
        n = n[4:].strip()
    if n.isdigit():
        return int(n)
    if n in _NUM_WORDS:
        return _NUM_WORDS[n]
    parts = re.split(r"[- ]", n)
    if len(parts) == 2 and parts[0] in _NUM_WORDS and parts[1] in _NUM_WORDS:
        return _NUM_WORDS[parts[0]] + _NUM_WORDS[parts[1]]
    if re.fullmatch(_ROMAN, n):
        return _roman_to_int(n)
    return None


def _plausible_keyword_heading(m: re.Match) -> bool:
    """Rule out sentences that merely start like a heading ("Part two of the plan failed.")."""
    if not m.group("kw")[0].isupper():
        return False
    title = m.group("title")
    if not title:
        return True
    if title.endswith(("!", "?", ",", ";")) or len(title.split()) > 10:
        return False
    if m.group("sep").isspace():  # "Chapter 3 The Storm": the title must look like one
        return title[:1].isupper() and not title.endswith(".")
    return True


def heading_key(text: str) -> str | None:
    """A comparable key for a chapter-like heading ("CHAPTER IV." and "Chapter 4" -> "chapter 4"),
    or None if `text` does not look like one. Used to tell a table of contents from the real
    headings it repeats."""
    t = clean_text(text)
    if "\n" in t or len(t) > 90:
        return None
    m = _KEYWORD_HEADING.match(t)
    if m and _plausible_keyword_heading(m):
        kw = m.group("kw").lower().rstrip(".")
        kw = {"chap": "chapter", "vol": "volume"}.get(kw, kw)
        return f"{kw} {_number_value(m.group('num'))}"
    m = _NAMED_HEADING.match(t)
    if m:
        return m.group("kw").lower()
    m = _BARE_NUMBER.match(t)
    if m:
        return f"# {_number_value(m.group('num'))}"
    return None


def heading_level(text: str, *, bare_numbers: bool = True) -> int:
    """1 if a short paragraph is a chapter/part heading by its words ("Chapter 7", "CHAPTER
    SEVEN", "Part Two", "Prologue", "Letter 2", and with `bare_numbers` a lone "IV." or "12"),
    else 0. Parts and chapters are both level 1: the chunker never crosses either."""
    key = heading_key(text)
    if key is None:
        return 0
    if key.startswith("# ") and not bare_numbers:
        return 0
    return 1


def is_contents_heading(text: str) -> bool:
    return bool(_CONTENTS.match(clean_text(text)))


# ---- scene breaks -------------------------------------------------------------------------

# Characters a scene-break line may consist of: asterisks, hashes, tildes, bullets, dashes,
# and dingbats/ornaments (fleurons, asterisms, stars). Letters or digits make it text.
_BREAK_CHARS = set("*#~•·◆◇◊❖✦✧★☆⁂∗⋆✱✲✳✴✵✶✷✸✹✺❋❊❉❈❇❦❧☙§+=_-–—―°×")
_BREAK_EXTRA_OK = set(" \u00a0\t")


def is_scene_break(text: str) -> bool:
    """True for a paragraph that is only a scene-break marker: ***, * * *, #, ~, ❦, ⁂, — — —.
    Such a paragraph separates scenes; its marker is not body text."""
    t = text.strip()
    if not t or len(t) > 24:
        return False
    marks = [c for c in t if c not in _BREAK_EXTRA_OK]
    if not marks:
        return False
    for c in marks:
        if c in _BREAK_CHARS:
            continue
        cat = unicodedata.category(c)
        # Other dingbats and ornaments (So = symbol, other) also mark breaks: ❦ ☙ ✤ ...
        if cat == "So":
            continue
        return False
    return True


# ---- Notion ids ---------------------------------------------------------------------------

_NOTION_ID = re.compile(r"\s+[0-9a-f]{32}$", re.IGNORECASE)


def strip_notion_id(name: str) -> str:
    """Notion appends " <32 hex digits>" to every page's file name (and sometimes its title)."""
    return _NOTION_ID.sub("", name).strip()


def title_from_name(entry_name: str) -> str:
    """A readable title from an entry's file name: no folders, no extension, no Notion id."""
    base = entry_name.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
    if "." in base:
        base = base.rsplit(".", 1)[0]
    return strip_notion_id(base) or base


# ---- plain text -> blocks -----------------------------------------------------------------

_BLANK = re.compile(r"\n[^\S\n]*\n")


def _wrap_width(lines: list[str]) -> int:
    """The width a hard-wrapped text was wrapped at (0 if it does not look hard-wrapped)."""
    lengths = sorted(len(ln.rstrip()) for ln in lines if ln.strip())
    if len(lengths) < 3:
        return 0
    w = lengths[int(len(lengths) * 0.9)]
    return w if 40 <= w <= 120 else 0


def _split_paragraph_lines(lines: list[str], width: int) -> list[str]:
    """One blank-line-separated block -> paragraph texts. Hard-wrapped prose is reflowed; a
    block whose lines are short on purpose (verse, addresses, lists) keeps its line breaks;
    an indented first line starts a new paragraph when the rest of the block is not indented."""
    stripped = [ln.rstrip() for ln in lines if ln.strip()]
    if not stripped:
        return []
    indented = [bool(re.match(r"^(\t| {2,})", ln)) for ln in stripped]
    groups: list[list[str]] = []
    if 1 < len(stripped) and not all(indented) and any(indented[1:]):
        for ln, ind in zip(stripped, indented):
            if ind or not groups:
                groups.append([ln])
            else:
                groups[-1].append(ln)
    else:
        groups = [stripped]
    out = []
    for g in groups:
        if width and len(g) > 1 and all(len(ln.strip()) >= 0.6 * width for ln in g[:-1]):
            out.append(reflow("\n".join(g)))
        elif not width and len(g) > 1 and sum(len(ln) for ln in g) / len(g) > 60:
            out.append(reflow("\n".join(g)))  # unknown wrapping, long lines: prose
        else:
            out.append(clean_text("\n".join(g)))
    return out


def _is_title_line(text: str) -> bool:
    """A chapter's own title on the line after "CHAPTER I." ("Down the Rabbit-Hole")."""
    return (len(text) <= 70 and "\n" not in text and not text.endswith((".", ",", ";", "!", "?", ":", '"', "\u201d"))
            and not is_scene_break(text) and text[:1].isalpha() and text[:1].isupper())


def blocks_from_text(text: str, *, detect_headings: bool = True) -> tuple[list[Block], dict]:
    """Plain text -> Blocks: paragraphs by blank lines (or one per line for unwrapped text),
    chapter headings by pattern, scene breaks. A table of contents whose entries repeat later
    headings is dropped (it would otherwise make empty chapters); the count is returned in the
    meta dict (meta["dropped"]["table-of-contents lines"])."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    nonblank = [ln for ln in lines if ln.strip()]
    blank_ratio = 1 - len(nonblank) / max(len(lines), 1)
    avg = sum(len(ln) for ln in nonblank) / max(len(nonblank), 1)
    width = _wrap_width(lines)
    if blank_ratio < 0.05 and avg > 100 and len(nonblank) > 1:
        raw_blocks = [[ln] for ln in nonblank]  # one paragraph per line, no blank lines
    else:
        raw_blocks = [b.split("\n") for b in _BLANK.split(text)]

    paras: list[str] = []
    for blk in raw_blocks:
        blk = [ln for ln in blk if ln.strip()]
        if not blk:
            continue
        # "CHAPTER I" glued to its first paragraph: split the heading off.
        if detect_headings and len(blk) > 1 and _KEYWORD_HEADING.match(clean_text(blk[0])) \
                and not all(heading_key(ln) for ln in blk):
            paras.append(clean_text(blk[0]))
            blk = blk[1:]
        if detect_headings and len(blk) > 1 and all(heading_key(ln) or is_contents_heading(ln) for ln in blk):
            paras.extend(clean_text(ln) for ln in blk)  # a list of headings: a TOC, judged below
            continue
        paras.extend(p for p in _split_paragraph_lines(blk, width) if p)

    if not detect_headings:
        return [Block("break") if is_scene_break(p) else Block("paragraph", p) for p in paras], {}
    return blocks_from_paragraphs(paras)


def blocks_from_paragraphs(paras: list[str]) -> tuple[list[Block], dict]:
    """Paragraph texts -> Blocks, with chapter headings by pattern (only when prose follows,
    and not the entries of a table of contents that repeats them) and scene breaks."""
    keys = [heading_key(p) for p in paras]
    # A candidate heading is real if prose follows it; a run of candidates followed by more
    # candidates is a table of contents when the same headings appear again later.
    later: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k:
            later[k] = i  # last position of each key
    blocks: list[Block] = []
    dropped = 0
    i = 0
    while i < len(paras):
        p, k = paras[i], keys[i]
        nxt = keys[i + 1] if i + 1 < len(paras) else None
        if is_contents_heading(p) and i + 1 < len(paras) and nxt and later.get(nxt, -1) > i + 1:
            dropped += 1
            i += 1
            continue
        if k:
            if nxt is not None and later.get(k, -1) > i:
                dropped += 1  # a TOC entry: the real heading comes later
                i += 1
                continue
            if k.startswith("# ") and i + 1 < len(paras) and nxt is not None:
                blocks.append(Block("paragraph", p))  # a bare "IV" followed by a heading: not a heading
                i += 1
                continue
            title = p
            if i + 2 < len(paras) and not keys[i + 1] and _is_title_line(paras[i + 1]) and not keys[i + 2] \
                    and not _is_title_line(paras[i + 2]):
                title = f"{p} {paras[i + 1]}" if p.endswith((".", ":")) else f"{p}: {paras[i + 1]}"
                i += 1
            blocks.append(Block("heading", title, 1))
            i += 1
            continue
        blocks.append(Block("break", p) if is_scene_break(p) else Block("paragraph", p))
        i += 1
    meta: dict = {}
    add_dropped(meta, "table-of-contents lines", dropped)
    return blocks, meta


# ---- Project Gutenberg --------------------------------------------------------------------

_PG_START = re.compile(r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$", re.IGNORECASE | re.MULTILINE)
_PG_END = re.compile(r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$", re.IGNORECASE | re.MULTILINE)
_PG_OLD_END = re.compile(r"^\s*End of (?:the )?Project Gutenberg'?s?.*$", re.IGNORECASE | re.MULTILINE)
_PG_TITLE = re.compile(r"^Title:\s*(.+)$", re.MULTILINE)
_PG_PRODUCED = re.compile(r"^\s*(?:Produced by|E-?text prepared by|Transcribed by|Transcriber's note)", re.IGNORECASE)


def strip_gutenberg(text: str) -> tuple[str, str]:
    """Remove a Project Gutenberg header (up to "*** START OF ... ***"), footer ("*** END OF
    ..." and the licence after it) and the "Produced by" credit. Returns (text, title from the
    header or "")."""
    start = _PG_START.search(text)
    if not start:
        return text, ""
    title_m = _PG_TITLE.search(text, 0, start.start())
    title = title_m.group(1).strip() if title_m else ""
    body = text[start.end():]
    end = _PG_END.search(body)
    if end:
        body = body[: end.start()]
    old_end = _PG_OLD_END.search(body)
    if old_end:
        body = body[: old_end.start()]
    # The first block after the marker is often a production credit, not the book.
    parts = _BLANK.split(body.lstrip("\n"), maxsplit=1)
    if parts and _PG_PRODUCED.match(parts[0]):
        body = parts[1] if len(parts) > 1 else ""
    return body, title


# ---- reading entries ---------------------------------------------------------------------

MAX_DOCUMENT_BYTES = 512 * 1024**2  # one document is held in memory while parsed


def read_bytes(entry, what: str = "file") -> bytes:
    """The whole entry (documents are parsed one at a time, each held in memory). Refuses
    empty files and files too large to be one document."""
    if entry.size > MAX_DOCUMENT_BYTES:
        raise InputError(entry.name, f"is {entry.size // 1024**2} MB, too large for one {what}",
                         "split it into smaller files")
    with entry.open() as f:
        data = f.read(MAX_DOCUMENT_BYTES + 1)
    if not data:
        raise InputError(entry.name, "is empty", "nothing to read")
    return data


def read_text(entry, what: str = "text file") -> str:
    """Decoded text of an entry (UTF-8, UTF-16 with BOM, else a detected legacy encoding such
    as cp1252). A binary file (an image renamed .txt) or an empty one raises InputError."""
    from miner.parsers import looks_binary

    data = read_bytes(entry, what)
    if looks_binary(data):
        raise InputError(entry.name, f"is binary, not a {what}",
                         "is it an image or program with the wrong extension?")
    text = decode(data)
    if not text.strip():
        raise InputError(entry.name, "is empty (only whitespace)", "nothing to read")
    return text


def decode(data: bytes) -> str:
    """Text of a file's bytes, with the encoding detected (see parsers.text_of)."""
    from miner.parsers import text_of

    return text_of(data)


def seekable(entry, what: str = "file"):
    """A seekable binary stream for readers that need one (ZIP-based and PDF files): the file
    itself on disk, or the member's bytes in memory when it sits inside an archive."""
    import io

    if entry.path:
        if entry.size == 0:
            raise InputError(entry.name, "is empty", "nothing to read")
        return open(entry.path, "rb")
    return io.BytesIO(read_bytes(entry, what))


def add_dropped(doc_meta: dict, what: str, n: int = 1) -> None:
    """Record that `n` pieces of `what` were left out of a document on purpose (encrypted
    sections, a table of contents, ...); iter_documents adds these to the summary."""
    if n:
        d = doc_meta.setdefault("dropped", {})
        d[what] = d.get(what, 0) + n


# ---- files in, documents out --------------------------------------------------------------


def _skip_reason(e: InputError) -> str:
    r = e.reason.lower()
    if isinstance(e, UnknownFormat):
        return "empty file" if "empty" in r else "unsupported file"
    if "password" in r or "encrypted" in r:
        return "password-protected file"
    if "no text layer" in r:
        return "no text layer (scanned PDF)"
    if "empty" in r or "no text" in r:
        return "empty file"
    if "binary" in r:
        return "binary file"
    if "zip bomb" in r or "archive" in r:
        return "unreadable archive"
    return "corrupt file"


def has_body(doc: Document) -> bool:
    return any(b.kind == "paragraph" and clean_text(b.text) for b in doc.blocks)


def iter_documents(paths: list[str], opts=None, summary: Summary | None = None, *,
                   warn: Callable[[str], None] | None = None) -> Iterator[Document]:
    """Every readable document under `paths` (files, folders, ZIPs), lazily.

    Counts into `summary`: "files read", "documents", and skips by reason ("unsupported file",
    "empty file", "corrupt file", "password-protected file", ... plus per-note reasons such as
    "trashed note"), each with the file named. `warn(line)` is called once per file-level
    problem with a one-line message naming the file, for the CLI to show. Never raises for
    one bad file; a path that does not exist raises InputError before anything is read."""
    from miner import parsers

    opts = opts if opts is not None else parsers.ParseOptions()
    summary = summary if summary is not None else Summary()

    def problem(reason: str, where: str, detail: str) -> None:
        summary.skip(reason, where, detail)
        if warn is not None:
            warn(f"{where}: {detail}")

    def on_source_skip(where: str, reason: str) -> None:
        cls = "unreadable archive" if ("zip" in reason.lower() or "archive" in reason.lower()) else "unreadable file"
        if "symbolic link" in reason:
            cls = "symbolic link"
        problem(cls, where, reason)

    for entry in iter_entries(paths, on_source_skip):
        summary.add("files read")
        try:
            mod = parsers.detect(entry, kind="document")
        except InputError as e:
            problem(_skip_reason(e), entry.name, _msg(e))
            continue
        produced = 0
        try:
            for item in mod.parse(entry, opts):
                if isinstance(item, Skip):
                    summary.skip(item.reason, item.where, item.detail)
                    continue
                if not has_body(item):
                    summary.skip("no text", item.source or entry.name, item.title)
                    continue
                produced += 1
                summary.add("documents")
                for what, n in (item.meta.get("dropped") or {}).items():
                    summary.add(f"left out: {what}", n)
                yield item
        except InputError as e:
            problem(_skip_reason(e), entry.name if e.where == entry.name or not e.where else e.where, _msg(e))
        except (RecursionError, MemoryError):
            problem("corrupt file", entry.name, "too deeply nested or too large to read")
        except Exception as e:  # third-party readers raise anything on damaged files
            what = f"{mod.LABEL} file could not be read ({type(e).__name__}: {str(e)[:120]})"
            problem("corrupt file", entry.name, what + "; open and re-save it, or export it again")
        else:
            if produced:
                summary.add(f"{mod.LABEL} files")


def _msg(e: InputError) -> str:
    return e.reason + (f" ({e.hint})" if e.hint else "")


__all__ = [
    "clean_text", "reflow", "heading_level", "heading_key", "is_scene_break", "is_contents_heading",
    "strip_notion_id", "title_from_name", "blocks_from_text", "strip_gutenberg", "iter_documents",
    "has_body",
]
