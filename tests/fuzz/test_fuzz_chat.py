"""Fuzzing the chat export parsers (ChatGPT, Claude) through detection and parsing, as
`miner convert` and `miner inspect` reach them: export-shaped JSON with random types in every
field, trees with cycles, self-loops and dangling parents, mutated real exports (truncated,
flipped, BOMs, NULs, invalid UTF-8), and hostile shapes (100,000-deep nesting, huge strings,
lone surrogates).

Each input ends as records or one clear error naming the file; never a crash, hang or blow-up.
"""
from __future__ import annotations

import random
import zipfile

import orjson
import pytest
from fuzzkit import ROOT, budgets, bytes_entry, exercise, export_like, file_entry, from_seeds, fuzz_parser, named, seeds
from hypothesis import strategies as st

pytestmark = pytest.mark.usefixtures("bounded_memory")
NAMES = ["conversations.json", "chats.json", "conversations"]


def _sample(name: str) -> list:
    with zipfile.ZipFile(ROOT / "samples" / name) as z:
        return orjson.loads(z.read("conversations.json"))


GPT = _sample("chatgpt-export.zip")
CLAUDE = _sample("claude-export.zip")


def _rewire_gpt(conv, rng: random.Random):
    """Point parents/children/current_node anywhere: cycles, self-loops, ghosts, two roots."""
    mapping = conv.get("mapping") if isinstance(conv, dict) else None
    if not isinstance(mapping, dict) or not mapping:
        return conv
    ids = list(mapping) + ["ghost", None, 7, ""]
    for node in mapping.values():
        if not isinstance(node, dict) or rng.random() > 0.3:
            continue
        r = rng.random()
        if r < 0.4:
            node["parent"] = rng.choice(ids)
        elif r < 0.7:
            node["children"] = rng.sample(ids, k=min(len(ids), rng.randint(0, 3)))
        else:
            node["parent"] = node.get("id")  # a self-loop
    if rng.random() < 0.5:
        conv["current_node"] = rng.choice(ids)
    return conv


def _rewire_claude(conv, rng: random.Random):
    """Claude's message tree (parent_message_uuid) with loops, ghosts and a random leaf."""
    msgs = conv.get("chat_messages") if isinstance(conv, dict) else None
    if not isinstance(msgs, list):
        return conv
    ids = [m.get("uuid") for m in msgs if isinstance(m, dict)] + ["ghost", None, "00000000-0000-4000-8000-000000000000"]
    for m in msgs:
        if isinstance(m, dict) and rng.random() < 0.3:
            m["parent_message_uuid"] = rng.choice(ids) if rng.random() < 0.8 else m.get("uuid")
    if rng.random() < 0.5:
        conv["current_leaf_message_uuid"] = rng.choice(ids)
    return conv


def exports(convs: list, rewire) -> st.SearchStrategy[bytes]:
    """A whole conversations.json: 1-3 export-shaped conversations with random types and
    rewired trees, as an array, a {"conversations": [...]} wrapper, or one per line."""
    return st.builds(lambda items, seed, wrap: _export_bytes(items, random.Random(seed), rewire, wrap),
                     st.lists(export_like(convs), min_size=1, max_size=3), st.integers(0, 2**32 - 1),
                     st.integers(0, 3))


def _export_bytes(items: list, rng: random.Random, rewire, wrap: int) -> bytes:
    items = [rewire(x, rng) for x in items]
    if wrap == 1:
        return b"".join(orjson.dumps(x, option=orjson.OPT_NON_STR_KEYS) + b"\n" for x in items)
    data = {"conversations": items} if wrap == 0 else items
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


@pytest.mark.parametrize("n", budgets(0.6))
def test_chatgpt_export_shaped_json_with_random_types_and_cycles(n, tmp_path):
    fuzz_parser("chatgpt", named(NAMES, exports(GPT, _rewire_gpt)), n, tmp_path, min_share=0.3)


@pytest.mark.parametrize("n", budgets(0.4))
def test_chatgpt_mutated_real_export(n, tmp_path):
    fuzz_parser("chatgpt", from_seeds("chatgpt", "json", NAMES), n, tmp_path, min_share=0.15)


@pytest.mark.parametrize("n", budgets(0.6))
def test_claude_export_shaped_json_with_random_types_and_cycles(n, tmp_path):
    fuzz_parser("claude", named(NAMES, exports(CLAUDE, _rewire_claude)), n, tmp_path, min_share=0.3)


@pytest.mark.parametrize("n", budgets(0.4))
def test_claude_mutated_real_export(n, tmp_path):
    fuzz_parser("claude", from_seeds("claude", "json", NAMES), n, tmp_path, min_share=0.15)


# ---- hostile shapes, once each -------------------------------------------------------------------

def _check(blob: bytes, tmp_path, name="conversations.json"):
    for e in (bytes_entry(f"x.zip!{name}", blob), file_entry(tmp_path, name, blob)):
        exercise(e)


@pytest.mark.parametrize("shape", ["arrays", "objects", "inside-a-conversation"])
def test_100k_nested_arrays_are_an_error_or_a_skip(shape, tmp_path):
    depth = 100_000
    if shape == "arrays":
        blob = b"[" * depth + b"]" * depth
    elif shape == "objects":
        blob = b'{"a":' * depth + b"1" + b"}" * depth
    else:
        conv = orjson.dumps(GPT[0])
        blob = b"[" + conv[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}]"
    _check(blob, tmp_path)


def test_huge_strings_in_every_field_are_fine(tmp_path):
    big = "w" * 2_000_000
    conv = _sample("chatgpt-export.zip")[0]
    for node in conv["mapping"].values():
        if node.get("message"):
            node["message"]["content"] = {"content_type": "text", "parts": [big]}
    conv["title"] = big
    _check(orjson.dumps([conv]), tmp_path)
    c = _sample("claude-export.zip")[0]
    c["name"] = big
    for m in c["chat_messages"]:
        m["text"] = big
        m["content"] = [{"type": "text", "text": big}]
    _check(orjson.dumps([c]), tmp_path)


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\xff\xfe", b"\x00\x00\x00", b"\xed\xa0\x80"])
def test_boms_nuls_and_invalid_utf8_before_the_export(prefix, tmp_path):
    for sample in ("chatgpt", "claude"):
        (_, seed), = seeds(sample)
        _check(prefix + seed, tmp_path)
        _check(seed.decode().encode("utf-16"), tmp_path)


def test_lone_surrogate_escapes_inside_messages(tmp_path):
    """JSON may spell half of an emoji ("\\ud83d") on its own; the writers cannot write it out."""
    blob = seeds("chatgpt")[0][1].replace(b'"parts":["', b'"parts":["\\ud83d \\udfff x', 3)
    assert b"\\ud83d" in blob
    _check(blob, tmp_path)
    cblob = seeds("claude")[0][1].replace(b'"text":"', b'"text":"\\ud800', 5)
    assert b"\\ud800" in cblob
    _check(cblob, tmp_path)
