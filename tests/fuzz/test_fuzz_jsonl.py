"""Fuzzing chat JSONL (datasets in the OpenAI, ShareGPT, Alpaca, Vertex, DPO and TRL shapes
that `miner convert` re-formats): lines shaped like each format with random types in every
field, broken lines among good ones, one-array files, mutated bytes (truncation, BOMs, NULs,
invalid UTF-8, lone surrogate escapes) and hostile shapes (deep nesting, huge lines).

Each input ends as records or one clear error naming the file; a bad line is a Skip naming
the line; never a crash, hang or blow-up.
"""
from __future__ import annotations

import random

import orjson
import pytest
from fuzzkit import budgets, bytes_entry, exercise, export_like, file_entry, from_seeds, fuzz_parser, named
from hypothesis import strategies as st

pytestmark = pytest.mark.usefixtures("bounded_memory")

LINES = [
    {"messages": [{"role": "system", "content": "You are Greg."}, {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello there.", "weight": 1}]},
    {"conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "Tell me a story"},
                       {"from": "gpt", "value": "Once..."}]},
    {"instruction": "Summarise", "input": "The tide.", "output": "Water moved.", "system": "Be brief."},
    {"systemInstruction": {"parts": [{"text": "sys"}]},
     "contents": [{"role": "user", "parts": [{"text": "hey"}]}, {"role": "model", "parts": [{"text": "yo"}]}]},
    {"input": {"messages": [{"role": "user", "content": "Write a line"}]},
     "preferred_output": [{"role": "assistant", "content": "The sea was grey."}],
     "non_preferred_output": [{"role": "assistant", "content": "Certainly! The sea."}]},
    {"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "A"}],
     "rejected": [{"role": "assistant", "content": "B"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "parts"}]},
                  {"role": "assistant", "content": "ok", "tool_calls": [{"id": "t", "type": "function"}]}]},
]
NAMES = ["train.jsonl", "chats.ndjson", "data.json", "dataset"]


def files() -> st.SearchStrategy[bytes]:
    """1-8 lines, each shaped like one of the formats (random types anywhere), sometimes a
    garbage line between them, sometimes all of them in one JSON array."""
    line = export_like(LINES).map(lambda x: orjson.dumps(x, option=orjson.OPT_NON_STR_KEYS))
    junk = st.sampled_from([b"", b"{", b"[1,2", b"null", b"\"text\"", b"{\"messages\": [}", b"\xff\xfe{}",
                            b"{\"messages\": \"\\ud800\"}", b"\x00", b"   "])
    return st.builds(_join, st.lists(st.one_of(line, line, line, junk), min_size=1, max_size=8),
                     st.integers(0, 2**32 - 1))


def _join(lines: list[bytes], seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.15:  # a JSON array of the records instead of lines
        return b"[" + b",".join(x for x in lines if x.strip()) + b"]"
    sep = rng.choice([b"\n", b"\r\n", b"\n\n"])
    return sep.join(lines) + (sep if rng.random() < 0.7 else b"")


@pytest.mark.parametrize("n", budgets(0.6))
def test_jsonl_shaped_lines_with_random_types(n, tmp_path):
    fuzz_parser("chat-jsonl", named(NAMES, files()), n, tmp_path, min_share=0.2)


@pytest.mark.parametrize("n", budgets(0.4))
def test_jsonl_mutated(n, tmp_path):
    fuzz_parser("chat-jsonl", from_seeds("chat_jsonl", "json", NAMES), n, tmp_path, min_share=0.3)


def _check(blob: bytes, tmp_path, name="train.jsonl"):
    return [exercise(e) for e in (bytes_entry(f"x.zip!{name}", blob), file_entry(tmp_path, name, blob))]


@pytest.mark.parametrize("shape", ["deep-line", "deep-array", "huge-line", "many-lines", "surrogates"])
def test_hostile_jsonl(shape, tmp_path):
    good = orjson.dumps(LINES[0]) + b"\n"
    if shape == "deep-line":
        blob = good + b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + good
    elif shape == "deep-array":
        blob = b"[" + good.strip() + b"," + b"[" * 100_000 + b"]" * 100_000 + b"]"
    elif shape == "huge-line":
        blob = orjson.dumps({"messages": [{"role": "user", "content": "x" * 20_000_000},
                                          {"role": "assistant", "content": "y"}]}) + b"\n"
    elif shape == "many-lines":
        blob = good * 20_000
    else:
        blob = good + b'{"messages": [{"role": "user", "content": "\\ud83d"}, {"role": "assistant", "content": "\\udfff"}]}\n'
    for o in _check(blob, tmp_path):
        if shape in ("deep-line", "surrogates"):
            assert o.items["conversation"] >= 1 and o.items["skip"] >= 1, o  # the good lines survive
