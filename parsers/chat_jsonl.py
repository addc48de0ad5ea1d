"""Existing chat datasets read back in: JSONL (or a JSON array) whose lines are in any format
miner writes (OpenAI `messages`, ShareGPT `conversations`, DPO pairs, Vertex, Alpaca, ...), so a
dataset can be re-cleaned or converted to another trainer's format."""
from __future__ import annotations

from collections.abc import Iterator

import orjson

from miner import writers
from miner.jsonstream import BadElement, Malformed, Truncated, iter_array
from miner.models import Conversation, Preference, Skip

NAME = "chat-jsonl"
KIND = "chat"
LABEL = "chat dataset (JSONL)"


def sniff(s) -> bool:
    first = s.first_json
    if isinstance(first, dict):
        return writers.detect_line(first) is not None
    return False


def parse(entry, opts) -> Iterator[Conversation | Preference | Skip]:
    with entry.open() as f:
        head = f.read(4096)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        yield from _parse_array(entry)
    else:
        yield from _parse_lines(entry)


def _parse_lines(entry) -> Iterator[Conversation | Preference | Skip]:
    with entry.open() as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            where = f"{entry.name} line {n}"
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                yield Skip("invalid JSON line", where, getattr(e, "msg", str(e)))
                continue
            yield _item(obj, where, entry.name, n)


def _parse_array(entry) -> Iterator[Conversation | Preference | Skip]:
    with entry.open() as f:
        try:
            for i, obj in enumerate(iter_array(f)):
                where = f"{entry.name} item {i + 1}"
                if isinstance(obj, BadElement):
                    yield Skip("invalid JSON line", where, obj.reason)
                    continue
                yield _item(obj, where, entry.name, i + 1)
        except Truncated as e:  # the items before the cut were yielded already
            yield Skip("truncated file", entry.name, f"{e}; the {e.index} items before it were read")
        except Malformed as e:
            yield Skip("broken file", entry.name,
                       f"{e.reason}; the {e.index} items before it were read, the rest of the file was not")


def _item(obj, where: str, source: str, n: int):
    fmt = writers.detect_line(obj)
    if fmt is None:
        keys = ", ".join(sorted(obj)[:6]) if isinstance(obj, dict) else type(obj).__name__
        return Skip("line in no known format", where, f"keys: {keys}")
    try:
        item = fmt.read(obj)
    except Exception as e:  # a malformed line in an otherwise good file
        return Skip("malformed line", where, f"{type(e).__name__}: {e}")
    item.source = source
    item.id = item.id or f"line {n}"
    return item
