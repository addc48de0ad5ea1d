"""ChatGPT data export (conversations.json) -> Conversation records.

Where it sits: sources -> **parsers/chatgpt.py** -> transforms -> writers. Detection looks at
the content only (a conversation object with a `mapping` tree); parsing streams the top-level
array one conversation at a time, so memory follows the largest conversation, not the file.

Each conversation is a tree of nodes (`mapping`). Regenerated answers and edited prompts live
on side branches; we keep only the branch the user last looked at (walk `current_node` up to
the root), exactly as ChatGPT's own viewer does. Along that branch only what a person saw on
screen survives: user and assistant text. Tool calls and results, hidden system prompts,
custom instructions, model "thoughts", images and unknown content types are dropped and
counted in `meta["dropped"]` so the summary can say what was removed.

The generic pieces at the bottom (reading an export file's conversations, merging turns,
timestamps) are also used by parsers/claude.py.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Callable

import orjson

from miner.errors import InputError
from miner.jsonstream import BadElement, Malformed, Truncated, iter_array
from miner.models import Conversation, Message, Skip

NAME = "chatgpt"
KIND = "chat"
LABEL = "ChatGPT export"

# content types that are tool traffic, reasoning, or context rather than conversation
_TOOL_TYPES = {"code", "execution_output", "system_error", "computer_output", "sonic_webpage",
               "tether_browsing_code", "super_widget", "app_pairing_content"}
_REASONING_TYPES = {"thoughts", "reasoning_recap"}
_CONTEXT_TYPES = {"user_editable_context", "model_editable_context"}
_AUDIO_PARTS = {"audio_asset_pointer", "real_time_user_audio_video_asset_pointer"}


# ---- detection ------------------------------------------------------------------------

def sniff(s) -> bool:
    first = s.first_json
    if isinstance(first, dict):
        convs = first.get("conversations")
        if "mapping" not in first and isinstance(convs, list) and convs:
            first = convs[0]  # {"conversations": [...]} wrapper (convoviz and others)
        return is_conversation(first)
    if first is None and s.stripped[:1] in (b"[", b"{"):
        # The first conversation is broken, or the file is a wrapper too big to sniff whole:
        # fall back to the tell-tale keys in the first 64 KB.
        h = s.head
        return (b'"mapping"' in h and (b'"current_node"' in h or b'"author"' in h)
                and not any(k in h for k in (b'"inserted_at"', b'"fragments"', b'"chat_messages"')))
    return False


def is_conversation(obj: Any) -> bool:
    """A ChatGPT conversation object: a `mapping` tree whose messages have an `author`.

    DeepSeek exports also carry `mapping` but with `inserted_at` and message `fragments`."""
    if not isinstance(obj, dict) or not isinstance(obj.get("mapping"), dict):
        return False
    if "inserted_at" in obj:
        return False
    saw_author = False
    for i, node in enumerate(obj["mapping"].values()):
        if i >= 50:
            break
        msg = node.get("message") if isinstance(node, dict) else None
        if isinstance(msg, dict):
            if "fragments" in msg or "inserted_at" in msg:
                return False
            saw_author = saw_author or "author" in msg
    return saw_author or "current_node" in obj


# ---- parsing ---------------------------------------------------------------------------

def parse(entry, opts) -> Iterator[Conversation | Skip]:
    for i, item in iter_records(entry, is_conversation):
        yield item if isinstance(item, Skip) else guarded(convert, item, entry.name, i, opts)


def guarded(fn: Callable[..., Conversation | Skip], conv: Any, source: str, index: int, opts) -> Conversation | Skip:
    """fn(conv, ...), but a shape nobody foresaw skips that one conversation instead of ending
    the run. (The tests fuzz `convert` without this net.)"""
    try:
        return fn(conv, source, index, opts)
    except Exception as e:  # noqa: BLE001 - one odd conversation must not sink a whole export
        cid = _conv_id(conv, "id", "conversation_id", "uuid")
        return Skip("broken conversation", f"{source} conversation {cid or f'#{index + 1}'}",
                    f"unexpected structure ({type(e).__name__}: {e})")


def convert(conv: Any, source: str, index: int, opts=None) -> Conversation | Skip:
    """One conversation object -> Conversation, or Skip naming what is wrong with it."""
    cid = _conv_id(conv, "id", "conversation_id")
    where = f"{source} conversation {cid or f'#{index + 1}'}"
    if not isinstance(conv, dict):
        return Skip("broken conversation", where, f"expected an object, found {_kind(conv)}")
    mapping = conv.get("mapping")
    if not isinstance(mapping, dict):
        return Skip("broken conversation", where, f"'mapping' is {_kind(mapping)}, expected an object of messages")
    try:
        path, fallback = active_path(mapping, conv.get("current_node"))
    except BrokenTree as e:
        return Skip("broken conversation", where, str(e))
    dropped: Counter = Counter()
    unknown: Counter = Counter()
    turns = []
    for node_id in path:
        msg = visible_message(mapping[node_id].get("message"), dropped, unknown, canvas=_wants_artifacts(opts))
        if msg is not None:
            turns.append(msg)
    meta: dict[str, Any] = {}
    if fallback:
        meta["fallback_leaf"] = True
    if dropped:
        meta["dropped"] = dict(dropped)
    if unknown:
        meta["unknown_types"] = dict(unknown)
    title = conv.get("title")
    return Conversation(
        messages=merge_turns(turns),
        id=cid,
        title=title.strip() if isinstance(title, str) else "",
        source=source,
        created=to_epoch(conv.get("create_time")),
        meta=meta,
    )


class BrokenTree(Exception):
    """No usable root-to-leaf branch in a conversation's mapping."""


def active_path(mapping: dict, current: Any) -> tuple[list[str], bool]:
    """Node ids from the root down to the node the user last saw, and whether we had to guess:
    `current` was missing or its chain to the root broken, so we took the newest leaf. With
    `current` simply absent and one leaf only there was nothing to guess, so no fallback.

    Never follows `children`: parent links are what ChatGPT's own viewer walks, and children
    lists are the part most often stale. Iterative and cycle-safe."""
    if not mapping:
        return [], False
    if isinstance(current, str) and current in mapping:
        path = _walk_up(mapping, current)
        if path is not None:
            return path, False
    leaf, candidates = newest_intact_leaf(mapping)
    if leaf is None:
        raise BrokenTree("no message has an unbroken chain of parents back to the start of the "
                         "conversation (missing parents or a loop)")
    path = _walk_up(mapping, leaf)
    assert path is not None
    return path, current is not None or candidates > 1


def _parent(node: Any) -> tuple[bool, Any]:
    """(node is well formed, its parent id or None at the root)."""
    if not isinstance(node, dict):
        return False, None
    p = node.get("parent")
    if p is None:
        return True, None
    return isinstance(p, str), p


def _walk_up(mapping: dict, start: str) -> list[str] | None:
    """[root, ..., start] following parents, or None on a loop, a dangling parent or a node
    that is not an object. At most len(mapping) steps."""
    path = []
    seen = set()
    node_id: Any = start
    while node_id is not None:
        if node_id in seen or not isinstance(node_id, str) or node_id not in mapping:
            return None
        seen.add(node_id)
        path.append(node_id)
        ok, node_id = _parent(mapping[node_id])
        if not ok:
            return None
    path.reverse()
    return path


def newest_intact_leaf(mapping: dict) -> tuple[str | None, int]:
    """The leaf (a node nobody names as parent) with the latest message create_time whose
    chain of parents reaches a root (ties go to the last in mapping order), and how many such
    leaves there were. Linear time: each node's verdict is remembered, so shared ancestors
    are walked once."""
    has_child = set()
    for node in mapping.values():
        ok, p = _parent(node)
        if ok and p is not None:
            has_child.add(p)
    intact: dict[str, bool] = {}
    best = None
    best_time = float("-inf")
    candidates = 0
    for node_id in mapping:
        if node_id in has_child or not _reaches_root(mapping, node_id, intact):
            continue
        candidates += 1
        t = _create_time(mapping[node_id])
        if best is None or t >= best_time:
            best, best_time = node_id, t
    return best, candidates


def _reaches_root(mapping: dict, start: str, intact: dict[str, bool]) -> bool:
    chain = []
    on_chain = set()
    node_id: Any = start
    verdict = False
    while True:
        if node_id is None:
            verdict = True
            break
        if not isinstance(node_id, str) or node_id not in mapping or node_id in on_chain:
            break
        if node_id in intact:
            verdict = intact[node_id]
            break
        chain.append(node_id)
        on_chain.add(node_id)
        ok, node_id = _parent(mapping[node_id])
        if not ok:
            break
    for n in chain:
        intact[n] = verdict
    return verdict


def _create_time(node: dict) -> float:
    msg = node.get("message")
    t = to_epoch(msg.get("create_time")) if isinstance(msg, dict) else None
    return float("-inf") if t is None else t


def visible_message(msg: Any, dropped: Counter, unknown: Counter, canvas: bool = False) -> Message | None:
    """The user/assistant text a person saw for one node's message, or None (counting why).
    With `canvas`, documents the assistant wrote in a canvas count as its words too."""
    if msg is None:
        return None  # the structural root node
    if not isinstance(msg, dict):
        dropped["malformed"] += 1
        return None
    author = msg.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    meta = msg.get("metadata") if isinstance(msg.get("metadata"), dict) else {}
    content = msg.get("content")
    ctype = _str(content.get("content_type")) if isinstance(content, dict) else None
    if meta.get("is_user_system_message") or ctype in _CONTEXT_TYPES:
        dropped["custom_instructions"] += 1
        return None
    if _blank(content, ctype):
        return None  # e.g. the empty hidden system message every conversation starts with
    if meta.get("is_visually_hidden_from_conversation"):
        dropped["hidden"] += 1
        return None
    if role == "system":
        dropped["system"] += 1
        return None
    if role == "tool":
        dropped["tool"] += 1
        return None
    if role not in ("user", "assistant"):
        dropped["malformed"] += 1
        return None
    recipient = msg.get("recipient")
    if role == "assistant" and isinstance(recipient, str) and recipient.startswith("canmore."):
        doc = canvas_text(content) if canvas else None
        if doc is None:
            dropped["artifact"] += 1
            return None
        return Message("assistant", doc)
    if role == "assistant" and recipient not in (None, "all"):
        dropped["tool"] += 1  # a tool call: its content is the call's arguments
        return None
    channel = msg.get("channel")
    if channel == "analysis":
        dropped["reasoning"] += 1
        return None
    if channel == "commentary":
        dropped["tool"] += 1  # preambles and tool chatter of the agentic models
        return None
    if not isinstance(content, dict):
        dropped["malformed"] += 1
        return None
    if ctype in _REASONING_TYPES:
        dropped["reasoning"] += 1
        return None
    if ctype in _TOOL_TYPES or (isinstance(ctype, str) and ctype.startswith("tether_")):
        dropped["tool"] += 1
        return None
    if ctype not in ("text", "multimodal_text"):
        dropped["unknown"] += 1
        unknown[ctype or "(no content type)"] += 1
        return None
    text = _parts_text(content.get("parts"), dropped)
    if role == "assistant":
        text = strip_citations(text)
    text = tidy(text)
    return Message(role, text) if text else None


def _blank(content: Any, ctype: str | None) -> bool:
    """A text message with nothing but empty strings: dropping it removes nothing."""
    if ctype != "text":
        return False
    parts = content.get("parts")
    return isinstance(parts, list) and all(isinstance(p, str) and not p.strip() for p in parts)


def _parts_text(parts: Any, dropped: Counter) -> str:
    """Join the string parts; drop media parts, counting them. Voice-mode transcripts
    (audio_transcription) are kept: ChatGPT shows them as the turn's text, and without them
    a voice conversation would lose every turn."""
    if isinstance(parts, str):
        parts = [parts]
    if not isinstance(parts, list):
        return ""
    texts = []
    for p in parts:
        if isinstance(p, str):
            texts.append(p)
        elif isinstance(p, dict):
            pt = _str(p.get("content_type"))
            if pt == "audio_transcription" and isinstance(p.get("text"), str):
                texts.append(p["text"])
            elif pt == "image_asset_pointer":
                dropped["image"] += 1
            elif pt in _AUDIO_PARTS:
                dropped["audio"] += 1
            else:
                dropped["attachment"] += 1
    return "\n\n".join(t for t in texts if t.strip())


def canvas_text(content: Any) -> str | None:
    """The full text of a canvas document the assistant created or rewrote whole
    (canmore.create_textdoc / update_textdoc with the ".*" pattern); None for partial edits,
    which cannot be shown without replaying the document's history."""
    raw = content.get("text") if isinstance(content, dict) else None
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(args, dict):
        return None
    text = args.get("content")
    if text is None:
        ups = args.get("updates")
        if isinstance(ups, list) and len(ups) == 1 and isinstance(ups[0], dict) and ups[0].get("pattern") == ".*":
            text = ups[0].get("replacement")
    return tidy(text) if isinstance(text, str) and text.strip() else None


def _wants_artifacts(opts) -> bool:
    extra = getattr(opts, "extra", None)
    return bool(extra.get("artifacts")) if isinstance(extra, dict) else False


# ---- citation markers --------------------------------------------------------------------

# Old browsing: 【11†source】, 【4:0†notes.pdf】. Only with the dagger: plain 【】 is ordinary
# CJK punctuation.
_BRACKET_CITE = r"【[^】\n]{0,80}†[^】\n]{0,200}】"
# New search: \ue200cite\ue202turn0search0\ue202turn0news3\ue201, navlist, image groups, ...
# and the stray single markers (\ue203 \ue204 \ue206) that wrap or anchor cited spans.
_PUA_SEQ = "\ue200[^\ue200\ue201\n]{0,2000}\ue201"
_PUA_CHAR = "[\ue200-\ue2ff]"
# The same tokens after something already stripped the private-use characters.
_BARE_CITE = r"\bcite(?:turn\d+[a-z_]+\d+)+"
_MARKER = f"(?:{_BRACKET_CITE}|{_PUA_SEQ}|{_PUA_CHAR}|{_BARE_CITE})"
_MARKER_RUN = re.compile(f"([ \t]*)(?:{_MARKER})(?:[ \t]*{_MARKER})*([ \t]*)((?:\r?\n[ \t]*)*)")
_ENTITY = re.compile("\ue200entity\ue202([^\ue200\ue201\n]{0,2000})\ue201")
_CLOSING = set(".,;:!?)]}»”’…")
_MAYBE_MARKER = re.compile("[\u3010\ue200-\ue2ff]|citeturn")


def strip_citations(text: str) -> str:
    """Remove citation markers without leaving "word ." or double spaces behind; a marker
    alone on its line goes with its line.

    Entity markers (\\ue200entity\\ue202["people","Ada Lovelace",...]\\ue201) are shown in
    ChatGPT as the entity's name inside the sentence, so they become that name instead."""
    if text.isascii():  # most text: a C-speed check instead of a regex scan
        if "citeturn" not in text:
            return text
    elif not _MAYBE_MARKER.search(text):
        return text
    text = _ENTITY.sub(_entity_name, text)

    def replace(m: re.Match) -> str:
        before, after, newlines = m.groups()
        line_start = m.start() == 0 or text[m.start() - 1] == "\n"
        if line_start and (newlines or m.end() == len(text)):
            # The marker was the whole line: drop the line, and keep at most the one blank
            # line that separated the paragraphs around it.
            if m.start() == 0 or text.endswith(("\n\n", "\n\r\n"), 0, m.start()):
                return newlines[newlines.rfind("\n") + 1:]  # the next line's indent
            return newlines[newlines.index("\n") + 1:]
        if newlines:
            return newlines
        nxt = text[m.end():m.end() + 1]
        if line_start or nxt == "" or nxt in _CLOSING:
            return ""
        return " " if (before or after) else ""

    return _MARKER_RUN.sub(replace, text)


def _entity_name(m: re.Match) -> str:
    try:
        data = orjson.loads(m.group(1))
    except orjson.JSONDecodeError:
        return "\ue200\ue201"  # unreadable: let the marker pass remove it
    if isinstance(data, list) and len(data) > 1 and isinstance(data[1], str):
        return data[1]
    return "\ue200\ue201"


# ---- shared by the chat parsers ------------------------------------------------------------

_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")


def tidy(text: str) -> str:
    """Trim trailing whitespace and leading blank lines, keeping a first line's indent (poems,
    code)."""
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


def merge_turns(messages: list[Message]) -> list[Message]:
    """Join consecutive messages of one role (blank line between): what is left of a tool loop
    or of dropped turns is one turn to the reader, and fine-tuning formats want alternation."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1].role == m.role:
            out[-1] = Message(m.role, out[-1].content + "\n\n" + m.content)
        else:
            out.append(Message(m.role, m.content))
    return out


def to_epoch(value: Any) -> float | None:
    """Epoch seconds from a float/int epoch (ms and µs tolerated) or an ISO-8601 string."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            return None
        while abs(v) > 1e11:  # milliseconds or microseconds since the epoch
            v /= 1000.0
        return v
    if isinstance(value, str):
        s = value.strip()
        try:
            return to_epoch(float(s))
        except ValueError:
            return iso_to_epoch(s)
    return None


_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$", re.I)


def iso_to_epoch(s: str) -> float | None:
    """ISO-8601 as the exports write it ("2024-05-01T10:00:00.123456Z", any fraction length,
    "Z" or an offset; no zone means UTC). Python 3.10's fromisoformat takes none of the
    variants, so normalise first."""
    m = _ISO.match(s.strip())
    if not m:
        return None
    date, clock, frac, zone = m.groups()
    if clock.count(":") == 1:
        clock += ":00"
    frac = ((frac or "") + "000000")[:6]
    zone = "+00:00" if not zone or zone.upper() == "Z" else (zone if ":" in zone else zone[:3] + ":" + zone[3:])
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{frac}{zone}").astimezone(timezone.utc).timestamp()
    except ValueError:
        return None


def iter_records(entry, accepts: Callable[[Any], bool]) -> Iterator[tuple[int, Any | Skip]]:
    """(index, conversation object | Skip) for every conversation in an export file.

    Accepts a top-level array (streamed), a {"conversations": [...]} wrapper (streamed when
    "conversations" is the first key, else loaded), one conversation per line (streamed), or
    a single conversation object. A
    broken element becomes a Skip and the rest go on; a file cut short yields the complete
    conversations and then a "truncated file" Skip. Raises InputError when nothing in the
    file can be read as JSON. `accepts` recognises a conversation object (for a lone object).
    """
    with entry.open() as f:
        head = f.read(4096)
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    first = body.lstrip()[:1]
    if first == b"[":
        with entry.open() as f:
            yield from _iter_array(entry, f)
        return
    if first != b"{":
        what = "is empty" if not first else "is not valid JSON"
        raise InputError(entry.name, f"{what}, so it cannot be a chat export",
                         "point miner at the export ZIP or at conversations.json from it")
    m = _WRAPPER.match(body)
    if m:
        with entry.open() as f:
            f.read(m.end() - 1 + (len(head) - len(body)))  # up to the array's '['
            yield from _iter_array(entry, f)
        return
    yield from _iter_object(entry, accepts)


_WRAPPER = re.compile(rb'\s*\{\s*"conversations"\s*:\s*\[')


def _iter_array(entry, f) -> Iterator[tuple[int, Any | Skip]]:
    index = 0
    try:
        for index, item in enumerate(iter_array(f)):
            if isinstance(item, BadElement):
                yield index, Skip("broken conversation", f"{entry.name} conversation #{index + 1}", item.reason)
            else:
                yield index, item
    except Truncated as e:
        yield e.index, Skip("truncated file", entry.name,
                            f"the file ends in the middle of conversation {e.index + 1}; the {e.index} "
                            "before it were read (re-download the export, or wait until it has finished)")
    except Malformed as e:
        yield e.index, Skip("broken file", entry.name,
                            f"{e.reason}; the {e.index} conversations before it were read, the rest of "
                            "the file was not (re-download the export)")


def _iter_object(entry, accepts: Callable[[Any], bool]) -> Iterator[tuple[int, Any | Skip]]:
    # One conversation per line (JSONL, as some tools re-save exports) is streamed; a lone
    # conversation from a browser exporter, or a wrapper whose "conversations" key is not
    # first, is small enough in practice to load whole.
    obj = _first_line_object(entry)
    if obj is _JSONL:
        yield from _iter_lines(entry)
        return
    if obj is _NOT_ONE_LINE:
        with entry.open() as f:
            data = f.read()
        try:
            obj = orjson.loads(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
        except orjson.JSONDecodeError as e:
            msg = getattr(e, "msg", str(e))
            if "end of data" in msg:
                raise InputError(entry.name, "ends in the middle of the JSON (truncated or still downloading?)",
                                 "download the export again") from None
            raise InputError(entry.name, f"is not valid JSON ({msg} at byte {e.pos})",
                             "use the conversations.json from the export unchanged") from None
    convs = obj.get("conversations") if isinstance(obj, dict) else None
    if isinstance(convs, list) and not accepts(obj):
        for i, item in enumerate(convs):
            yield i, item
    else:
        yield 0, obj


_JSONL = object()
_NOT_ONE_LINE = object()


def _first_line_object(entry) -> Any:
    """The file's object if it is all on the first line; _JSONL if more lines with content
    follow a complete first line; else _NOT_ONE_LINE."""
    with entry.open() as f:
        first = f.readline()
        try:
            obj = orjson.loads(first[3:] if first.startswith(b"\xef\xbb\xbf") else first)
        except orjson.JSONDecodeError:
            return _NOT_ONE_LINE
        for line in f:
            if line.strip():
                return _JSONL
    return obj


def _iter_lines(entry) -> Iterator[tuple[int, Any | Skip]]:
    index = 0
    with entry.open() as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            try:
                yield index, orjson.loads(line)
            except orjson.JSONDecodeError as e:
                yield index, Skip("broken conversation", f"{entry.name} line {lineno}",
                                  f"invalid JSON ({getattr(e, 'msg', e)})")
            index += 1


def _conv_id(conv: Any, *keys: str) -> str:
    if not isinstance(conv, dict):
        return ""
    for k in keys:
        v = conv.get(k)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
            return str(v)
    return ""


def _str(v: Any) -> str | None:
    """A field that should be a string; anything else (lists, numbers) counts as absent."""
    return v if isinstance(v, str) else None


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "true/false"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)
