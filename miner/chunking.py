"""The offline chunker: one Document -> passages (Chunks) of the author's prose, verbatim.

Where it sits: parsers -> Document -> chunk_document -> Chunks -> `miner chunk` (JSONL) or
synthesis (each chunk becomes the assistant turn of a training example).

Body text (what chunks are made of), precisely:
    the texts of the document's "paragraph" blocks, each normalised with
    miner.documents.clean_text (line endings to \\n, other whitespace runs to one space, lines
    stripped, no blank lines inside), empty ones left out, joined by "\\n\\n".
Headings are not body text (they become a chunk's `section`); scene-break markers (***) and
page breaks are not body text either (they only place boundaries). `body_text(doc)` returns it.

Coverage invariant: the chunks' texts are consecutive slices of the body text that together
cover every character exactly once, except the one separator at each cut: "\\n\\n" between
paragraphs, or the single space or line break inside a paragraph where a paragraph longer
than max_tokens had to be cut between sentences (or, for a sentence longer than max_tokens,
between words; for a "word" longer than max_tokens, anywhere). So when no paragraph is over
the limit, exactly  "\\n\\n".join(c.text for c in chunks) == body_text(doc);  always,
`chunk_spans(body_text(doc), chunks)` finds each chunk's place and raises if any character is
lost, repeated or reordered.

How cuts are chosen (strongest first): a chunk never crosses a chapter (a level-1 heading).
Inside a chapter, text that fits in max_tokens stays in one chunk. Longer text is cut at the
strongest boundaries that give chunks of at least min_tokens: a section heading (level 2
over level 3 ...) > a scene break, a page break or an `extra_breaks` boundary > a paragraph >
a sentence > a word. Among equally strong cuts the one closest to an even split wins, so a
long scene becomes evenly sized chunks instead of full ones and a scrap. A piece left
under min_tokens merges with its neighbour in the same chapter when the two fit under
max_tokens. A sentence is only ever cut when it alone is over max_tokens.

`section` is the heading path at the chunk's first character (["Chapter 3", "The storm"]).
`index` is the chunk's 0-based position in this document's list; callers that write several
documents renumber it to the position in their output (chunk_files does: index = line number
in the JSONL file, from 0).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from miner import tokens as _tokens
from miner.documents import clean_text
from miner.errors import ConfigError
from miner.models import Chunk, Document
from miner.summary import Summary

# Strength of the boundary before a unit. Higher is a better place to cut.
CHAR, WORD, SENTENCE, PARAGRAPH, SCENE = 0, 1, 2, 3, 4
_SECTION_BASE = 10  # a level-L heading (L >= 2) gives strength _SECTION_BASE - L + 2, always > SCENE


@dataclass
class _Unit:
    text: str
    sep: str  # the separator before this unit in the body text ("" for the first one)
    strength: int  # how good a cut before this unit is
    section: tuple[str, ...]
    tokens: int


def body_text(doc: Document) -> str:
    """The document's body text as defined in the module docstring."""
    return "\n\n".join(t for t in (clean_text(b.text) for b in doc.blocks if b.kind == "paragraph") if t)


# ---- sentences and words ------------------------------------------------------------------

_ABBREV = {
    "mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "mt", "vs", "etc", "e.g", "i.e", "no",
    "fig", "vol", "ch", "pp", "cf", "gen", "col", "capt", "lt", "sgt", "rev", "hon", "ave",
}
_SENT_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f]['\"\u2019\u201d\u00bb)\]]*$")


def _sentence_cuts(text: str) -> list[int]:
    """Offsets of whitespace characters in `text` where a new sentence (or line) starts."""
    cuts = []
    for m in re.finditer(r"[ \n]", text):
        i = m.start()
        if i == 0 or i + 1 >= len(text):
            continue
        if text[i] == "\n":
            cuts.append(i)
            continue
        before = text[max(0, i - 40):i]  # a window: the whole prefix would make this quadratic
        if not _SENT_END.search(before):
            continue
        word = before.rsplit(None, 1)[-1].rstrip(".").lower() if before.split() else ""
        if word in _ABBREV or (len(word) == 1 and word.isalpha()):
            continue  # "Mr. Darcy", "J. Smith"
        nxt = text[i + 1]
        if nxt.isupper() or nxt.isdigit() or nxt in "\"'\u201c\u2018\u00ab([\u2014-" or not nxt.isascii():
            cuts.append(i)
    return cuts


def _pieces(text: str, cuts: list[int]) -> list[tuple[str, str]]:
    """Split `text` at single whitespace characters -> [(separator_before, piece)]. Cuts are
    never at the ends and normalised text has no doubled whitespace, so no piece is empty."""
    out, start, sep = [], 0, ""
    for c in cuts:
        out.append((sep, text[start:c]))
        sep, start = text[c], c + 1
    out.append((sep, text[start:]))
    return out


def _split_long(text: str, max_tokens: int) -> list[tuple[str, str, int]]:
    """A paragraph over the limit -> [(sep, piece, strength)], each piece <= max_tokens:
    sentences first, then words inside an over-long sentence, then characters inside an
    over-long word."""
    out: list[tuple[str, str, int]] = []
    for sep, sent in _pieces(text, _sentence_cuts(text)):
        strength = SENTENCE
        if _tokens.count(sent) <= max_tokens:
            out.append((sep, sent, strength))
            continue
        words = _pieces(sent, [m.start() for m in re.finditer(r"[ \n]", sent)])
        first = True
        for wsep, word in _group_words(words, max_tokens):
            s = sep if first else wsep
            st = strength if first else WORD
            first = False
            if _tokens.count(word) <= max_tokens:
                out.append((s, word, st))
            else:
                for j, part in enumerate(_split_chars(word, max_tokens)):
                    out.append((s if j == 0 else "", part, st if j == 0 else CHAR))
    return out


def _group_words(words: list[tuple[str, str]], max_tokens: int) -> list[tuple[str, str]]:
    """Pack words into runs that are each (by a cheap per-word estimate) under max_tokens; a
    run is checked exactly when the chunk is assembled. Runs keep their inner separators."""
    runs: list[tuple[str, str]] = []
    cur_sep, cur, cur_tok = "", "", 0
    budget = max(1, max_tokens - 2)
    for sep, w in words:
        t = _tokens.count(w) + 1
        if cur and cur_tok + t > budget:
            runs.append((cur_sep, cur))
            cur_sep, cur, cur_tok = sep, w, t
        elif cur:
            cur, cur_tok = cur + sep + w, cur_tok + t
        else:
            cur_sep, cur, cur_tok = sep, w, t
    if cur:
        runs.append((cur_sep, cur))
    # The estimate can undercount; split any run that is still too long by halves of words.
    fixed: list[tuple[str, str]] = []
    for sep, run in runs:
        fixed.extend(_halve_until_fits(sep, run, max_tokens))
    return fixed


def _halve_until_fits(sep: str, run: str, max_tokens: int) -> list[tuple[str, str]]:
    if _tokens.count(run) <= max_tokens:
        return [(sep, run)]
    spaces = [m.start() for m in re.finditer(r"[ \n]", run)]
    if not spaces:
        return [(sep, run)]  # one long word: split by characters later
    mid = spaces[len(spaces) // 2]
    return _halve_until_fits(sep, run[:mid], max_tokens) + _halve_until_fits(run[mid], run[mid + 1:], max_tokens)


def _split_chars(word: str, max_tokens: int) -> list[str]:
    """A single "word" over the limit (a pasted URL list, a base64 blob): cut it into the
    longest character runs that fit, by binary search."""
    parts = []
    rest = word
    while rest:
        if len(rest) <= max_tokens * 64 and _tokens.count(rest) <= max_tokens:
            parts.append(rest)
            break
        # A token is rarely more than a few dozen characters, so the cut lies within this window.
        lo, hi = 1, min(len(rest), max_tokens * 64)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _tokens.count(rest[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        parts.append(rest[:lo])
        rest = rest[lo:]
    return parts


# ---- blocks -> chapters of units ----------------------------------------------------------


def _chapters(doc: Document, max_tokens: int, extra_breaks: set[int]) -> list[list[_Unit]]:
    """Walk the blocks once: track the heading path, turn paragraphs into units (splitting the
    ones over the limit), and start a new chapter at every level-1 heading."""
    chapters: list[list[_Unit]] = [[]]
    path: list[tuple[int, str]] = []
    pending = PARAGRAPH  # strength of the cut before the next unit
    for i, b in enumerate(doc.blocks):
        if b.kind == "heading":
            level = max(1, int(b.level or 1))
            while path and path[-1][0] >= level:
                path.pop()
            title = " ".join(clean_text(b.text).split())
            if title:
                path.append((level, title))
            if level == 1:
                if chapters[-1]:
                    chapters.append([])
                pending = PARAGRAPH
            else:
                pending = max(pending, max(SCENE + 1, _SECTION_BASE - level + 2))
            continue
        if b.kind in ("break", "page"):
            pending = max(pending, SCENE)
            continue
        if b.kind != "paragraph":
            continue
        if i in extra_breaks:
            pending = max(pending, SCENE)
        text = clean_text(b.text)
        if not text:
            continue
        section = tuple(t for _, t in path)
        n = _tokens.count(text)
        if n <= max_tokens:
            chapters[-1].append(_Unit(text, "\n\n", pending, section, n))
        else:
            for j, (sep, piece, strength) in enumerate(_split_long(text, max_tokens)):
                chapters[-1].append(_Unit(piece, "\n\n" if j == 0 else sep, pending if j == 0 else strength,
                                          section, _tokens.count(piece)))
        pending = PARAGRAPH
    return [c for c in chapters if c]


def _join(units: list[_Unit]) -> str:
    return units[0].text + "".join(u.sep + u.text for u in units[1:])


def _estimate(units: list[_Unit], a: int, b: int, prefix: list[int]) -> int:
    # Sum of unit counts plus one token per separator: close to the exact count (BPE rarely
    # merges across whitespace); every emitted chunk is checked exactly anyway.
    return prefix[b] - prefix[a] + (b - a - 1)


def _pack_chapter(units: list[_Unit], min_tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    prefix = [0]
    for u in units:
        prefix.append(prefix[-1] + u.tokens)
    spans: list[tuple[int, int]] = []
    start, n = 0, len(units)
    while start < n:
        if _estimate(units, start, n, prefix) <= max_tokens and _exact(units, start, n) <= max_tokens:
            spans.append((start, n))
            break
        end = _best_cut(units, start, n, prefix, min_tokens, max_tokens)
        # Exact check: step the cut back until the text really fits (one unit always does).
        while end - start > 1 and _exact(units, start, end) > max_tokens:
            end -= 1
        spans.append((start, end))
        start = end
    return _merge_small(units, spans, min_tokens, max_tokens)


def _best_cut(units, start, n, prefix, min_tokens, max_tokens) -> int:
    remaining = _estimate(units, start, n, prefix)
    k = max(2, -(-remaining // max_tokens))
    target = remaining / k
    best, best_score = start + 1, None
    for end in range(start + 1, n):
        size = _estimate(units, start, end, prefix)
        if size > max_tokens and end > start + 1:
            break
        rest = _estimate(units, end, n, prefix)
        sizes_ok = size >= min_tokens and rest >= min_tokens
        score = (sizes_ok, units[end].strength, -abs(size - target))
        if best_score is None or score > best_score:
            best, best_score = end, score
    return best


def _exact(units: list[_Unit], a: int, b: int) -> int:
    return _tokens.count(_join(units[a:b]))


def _merge_small(units, spans, min_tokens, max_tokens) -> list[tuple[int, int]]:
    """A piece under min_tokens joins a neighbour (the smaller result wins) when the two fit."""
    spans = list(spans)
    sizes = [_exact(units, a, b) for a, b in spans]
    i = 0
    while i < len(spans) and len(spans) > 1:
        if sizes[i] >= min_tokens:
            i += 1
            continue
        options = []
        if i > 0:
            options.append((_exact(units, spans[i - 1][0], spans[i][1]), i - 1))
        if i + 1 < len(spans):
            options.append((_exact(units, spans[i][0], spans[i + 1][1]), i))
        options = [o for o in options if o[0] <= max_tokens]
        if not options:
            i += 1
            continue
        size, j = min(options)
        spans[j:j + 2] = [(spans[j][0], spans[j + 1][1])]
        sizes[j:j + 2] = [size]
        i = j  # the merged piece may still be small
    return spans


def chunk_document(doc: Document, *, min_tokens: int = 200, max_tokens: int = 1200,
                   extra_breaks: set[int] | None = None) -> list[Chunk]:
    """Cut `doc` into Chunks as described in the module docstring. `extra_breaks` holds
    indexes into doc.blocks of paragraphs before which a topic or scene boundary should count
    like a scene break (the LLM chunker supplies them); they move boundaries, never text."""
    check_limits(min_tokens, max_tokens)
    chunks: list[Chunk] = []
    for units in _chapters(doc, max_tokens, set(extra_breaks or ())):
        for a, b in _pack_chapter(units, min_tokens, max_tokens):
            text = _join(units[a:b])
            chunks.append(Chunk(text=text, source=doc.source, document=doc.title,
                                section=list(units[a].section), index=len(chunks),
                                tokens=_tokens.count(text)))
    return chunks


def check_limits(min_tokens: int, max_tokens: int) -> None:
    if max_tokens < 16:
        raise ConfigError(f"--max-tokens {max_tokens} is too small; use at least 16 (1200 is a good default)")
    if min_tokens < 0 or min_tokens > max_tokens:
        raise ConfigError(f"--min-tokens {min_tokens} must be between 0 and --max-tokens ({max_tokens})")


def chunk_spans(body: str, chunks: Iterable[Chunk | str]) -> list[tuple[int, int]]:
    """Where each chunk sits in `body`: [(start, end)], such that body[start:end] == text, the
    first starts at 0, the last ends at len(body), and between neighbours there is exactly one
    separator ("\\n\\n", "\\n", " " or nothing). Raises ValueError when that does not hold,
    i.e. when text was lost, duplicated, reordered or changed."""
    spans = []
    pos = 0
    texts = [c.text if isinstance(c, Chunk) else c for c in chunks]
    for i, t in enumerate(texts):
        if i:
            for sep in ("\n\n", "\n", " ", ""):
                if body.startswith(sep, pos) and body.startswith(t, pos + len(sep)):
                    pos += len(sep)
                    break
            else:
                raise ValueError(f"chunk {i} does not follow chunk {i - 1} in the body text (at offset {pos})")
        elif not body.startswith(t, 0):
            raise ValueError("the first chunk is not the start of the body text")
        if not t:
            raise ValueError(f"chunk {i} is empty")
        spans.append((pos, pos + len(t)))
        pos += len(t)
    if pos != len(body):
        raise ValueError(f"the chunks end at offset {pos} but the body text is {len(body)} characters")
    return spans


def chunk_files(paths: list[str], out: str, *, min_tokens: int = 200, max_tokens: int = 1200, opts=None,
                force: bool = False, progress=None, warn=None) -> Summary:
    """Read every document under `paths`, chunk it, and write one chunk per line to `out`
    (JSONL, written atomically: nothing appears under `out` until the run is complete).

    Each line is Chunk.to_dict(): text, source, document, section, index, tokens; here
    `index` is the line's position in `out`, from 0. `progress(n, **fields)` is called once per
    document; `warn(line)` once per file that could not be read. Returns the Summary."""
    from miner.documents import iter_documents
    from miner.output import JsonlWriter, check_writable

    check_limits(min_tokens, max_tokens)
    check_writable(out, force)
    summary = Summary(title="miner chunk")
    n = 0
    small = 0
    with JsonlWriter(out, force=force) as w:
        for doc in iter_documents(paths, opts, summary, warn=warn):
            for c in chunk_document(doc, min_tokens=min_tokens, max_tokens=max_tokens):
                c.index = n
                w.write(c.to_dict())
                n += 1
                summary.add("chunks")
                summary.add("tokens", c.tokens)
                if c.tokens < min_tokens:
                    small += 1
            if progress is not None:
                progress(1, chunks=n)
    summary.info["output"] = out
    if small:
        summary.note(f"{small} chunk(s) are under --min-tokens {min_tokens}: a chapter or note that short on its "
                     "own is kept whole rather than merged across a chapter boundary.")
    if n == 0:
        summary.note("No text was found in the inputs, so the output file is empty; see the skipped reasons above.")
    return summary
