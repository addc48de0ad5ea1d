"""--chunker llm: a model proposes where the topic or scene changes in writing that has no
headings or scene breaks (notes, essays, journal entries). It returns paragraph numbers only,
never text; they are validated and handed to the offline chunker as `extra_breaks`, so the
chunker's coverage invariant (every character of the author's text in exactly one chunk, in
order, unchanged) holds whatever the model says.

    Document -> numbered paragraphs (windows of ~3k tokens) -> Executor -> {"breaks": [n, ...]}
             -> block indexes -> chunking.chunk_document(doc, extra_breaks=...)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from miner import tokens
from miner.llm.base import Request, RequestRejected
from miner.models import Document
from miner.prompts import parse_json

TEMPLATE_ID = "llm-chunker@1"  # part of the cache key; bump when the prompt below changes
WINDOW_TOKENS = 3000  # paragraphs shown per call
PARA_WORDS = 80  # long paragraphs are shown shortened (the model needs the gist, not every word)

SYSTEM = ("You are an editor who divides writing into self-contained passages. You only point at "
          "where a new topic or scene begins; you never rewrite, summarise or quote the text.")
INSTRUCTION = """Below are numbered paragraphs from "{title}" (long paragraphs are shortened with "...").

{paragraphs}

Which paragraphs begin a new topic, argument or scene, such that the text before and after
could stand alone? Give their numbers (between {first} and {last}). Only real shifts; an
empty list is fine.

Answer with JSON only: {{"breaks": [numbers]}}"""
SCHEMA = {"type": "object", "properties": {"breaks": {"type": "array", "items": {"type": "integer"}}},
          "required": ["breaks"]}


@dataclass
class Breaks:
    breaks: set[int] = field(default_factory=set)  # indexes into doc.blocks
    invalid: int = 0  # positions the model gave that were out of range or not numbers
    failed: int = 0  # windows with no usable answer (structure chunking used there)
    calls: int = 0


def paragraph_indexes(doc: Document) -> list[int]:
    return [i for i, b in enumerate(doc.blocks) if b.kind == "paragraph" and b.text.strip()]


def windows(doc: Document, budget: int = WINDOW_TOKENS) -> list[list[int]]:
    """Consecutive runs of paragraph block indexes, each shown in one call."""
    out: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i in paragraph_indexes(doc):
        n = tokens.count(_shorten(doc.blocks[i].text)) + 4
        if cur and used + n > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += n
    if cur:
        out.append(cur)
    return out


def _shorten(text: str) -> str:
    words = text.split()
    if len(words) <= PARA_WORDS:
        return " ".join(words)
    half = PARA_WORDS // 2
    return " ".join(words[:half]) + " ... " + " ".join(words[-half:])


def request_for(doc: Document, window: list[int], number_from: int) -> Request:
    lines = [f"[{number_from + k}] {_shorten(doc.blocks[i].text)}" for k, i in enumerate(window)]
    prompt = INSTRUCTION.format(title=doc.title or "untitled", paragraphs="\n\n".join(lines),
                                first=number_from + 1, last=number_from + len(window) - 1)
    return Request.simple(SYSTEM, prompt, schema=SCHEMA, schema_name="breaks", temperature=0.0,
                          max_output_tokens=400)


def to_block_indexes(numbers, window: list[int], number_from: int) -> tuple[set[int], int]:
    """Validate the model's paragraph numbers: whole numbers inside this window, not its first
    paragraph (a break before the window's start is meaningless here). Returns the block
    indexes and how many entries were unusable."""
    good: set[int] = set()
    bad = 0
    if not isinstance(numbers, list):
        return good, 1
    for n in numbers:
        if isinstance(n, bool) or not isinstance(n, (int, float)) or (
                isinstance(n, float) and not (math.isfinite(n) and n.is_integer())):
            bad += 1
            continue
        k = int(n) - number_from
        if 1 <= k < len(window):
            good.add(window[k])
        elif k != 0:
            bad += 1
    return good, bad


async def propose_breaks(doc: Document, executor, *, max_tokens: int = 1200, json_retries: int = 1) -> Breaks:
    """Topic breaks for `doc`. Documents that fit in one chunk are not sent (no call, no cost)."""
    result = Breaks()
    paras = paragraph_indexes(doc)
    if len(paras) < 2 or sum(tokens.count(doc.blocks[i].text) for i in paras) <= max_tokens:
        return result
    number_from = 1
    for window in windows(doc):
        if len(window) >= 2:
            req = request_for(doc, window, number_from)
            numbers = None
            try:
                for attempt in range(json_retries + 1):
                    res = await executor.call(req, TEMPLATE_ID, attempt, expect_output=40)
                    result.calls += 1
                    data = parse_json(res.completion.text)
                    if isinstance(data, dict) and isinstance(data.get("breaks"), list):
                        numbers = data["breaks"]
                        break
            except RequestRejected:
                numbers = None
            if numbers is None:
                result.failed += 1
            else:
                good, bad = to_block_indexes(numbers, window, number_from)
                result.breaks |= good
                result.invalid += bad
        number_from += len(window)
    return result
