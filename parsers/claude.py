"""Claude.ai export (conversations.json) -> Conversation records.

Where it sits: sources -> **parsers/claude.py** -> transforms -> writers. Detection looks at
the content only (a conversation object with `chat_messages`); parsing streams the top-level
array one conversation at a time.

Two shapes occur. The official export (Settings > Privacy > Export data) lists each
conversation's current thread flat, in order. Browser exporters that call the claude.ai web
API dump every branch, with `parent_message_uuid` on each message and the branch on screen
named by `current_leaf_message_uuid`; for those we walk from that leaf back to the root, like
ChatGPT's tree.

A message's words come from its `content` blocks of type "text". The top-level `text` field
is only a fallback for old exports without blocks, because it glues the hidden thinking onto
the answer. Thinking, tool calls and results, images and other blocks are dropped and counted
in `meta["dropped"]`. Attachments' extracted text joins the user turn only when asked
(ParseOptions.attachments); artifacts (documents Claude wrote in the side panel) only when
`opts.extra["artifacts"]` is true.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from miner.models import Conversation, Message, Skip
from miner.parsers.chatgpt import (
    _conv_id, _kind, _str, _wants_artifacts, guarded, iter_records, merge_turns, tidy, to_epoch,
)

NAME = "claude"
KIND = "chat"
LABEL = "Claude export"

ROOT = "00000000-0000-4000-8000-000000000000"  # parent of a thread's first message
_ROLES = {"human": "user", "user": "user", "assistant": "assistant"}
_DROPPED_BLOCKS = {"thinking": "reasoning", "redacted_thinking": "reasoning", "tool_use": "tool",
                   "tool_result": "tool", "server_tool_use": "tool", "web_search_tool_result": "tool",
                   "image": "image", "document": "attachment", "file": "attachment"}


# ---- detection ------------------------------------------------------------------------

def sniff(s) -> bool:
    first = s.first_json
    if isinstance(first, dict):
        convs = first.get("conversations")
        if "chat_messages" not in first and isinstance(convs, list) and convs:
            first = convs[0]
        return is_conversation(first)
    if first is None and s.stripped[:1] in (b"[", b"{"):
        # The first conversation is broken, or the file is too big to sniff whole.
        h = s.head
        return b'"chat_messages"' in h and b'"mapping"' not in h
    return False


def is_conversation(obj: Any) -> bool:
    """A Claude conversation: `chat_messages` (a list) next to the conversation's uuid/name.
    users.json, projects.json and memories.json have neither."""
    return (isinstance(obj, dict) and isinstance(obj.get("chat_messages"), list)
            and ("uuid" in obj or "name" in obj) and "mapping" not in obj)


# ---- parsing ---------------------------------------------------------------------------

def parse(entry, opts) -> Iterator[Conversation | Skip]:
    for i, item in iter_records(entry, is_conversation):
        yield item if isinstance(item, Skip) else guarded(convert, item, entry.name, i, opts)


def convert(conv: Any, source: str, index: int, opts) -> Conversation | Skip:
    """One conversation object -> Conversation, or Skip naming what is wrong with it."""
    cid = _conv_id(conv, "uuid", "id")
    where = f"{source} conversation {cid or f'#{index + 1}'}"
    if not isinstance(conv, dict):
        return Skip("broken conversation", where, f"expected an object, found {_kind(conv)}")
    msgs = conv.get("chat_messages")
    if msgs is None:
        msgs = []
    if not isinstance(msgs, list):
        return Skip("broken conversation", where, f"'chat_messages' is {_kind(msgs)}, expected a list")
    fallback = False
    if any(isinstance(m, dict) and "parent_message_uuid" in m for m in msgs):
        thread = current_thread(msgs, conv.get("current_leaf_message_uuid"))
        if thread is None:
            return Skip("broken conversation", where, "no message has an unbroken chain of "
                        "parent_message_uuid links back to the start (missing messages or a loop)")
        msgs, fallback = thread
    dropped: Counter = Counter()
    turns = []
    for m in msgs:
        msg = visible_message(m, opts, dropped)
        if msg is not None:
            turns.append(msg)
    meta: dict[str, Any] = {}
    if fallback:
        meta["fallback_leaf"] = True
    if dropped:
        meta["dropped"] = dict(dropped)
    name = conv.get("name")
    return Conversation(
        messages=merge_turns(turns),
        id=cid,
        title=name.strip() if isinstance(name, str) else "",
        source=source,
        created=to_epoch(conv.get("created_at")),
        meta=meta,
    )


def current_thread(msgs: list, leaf: Any) -> tuple[list[dict], bool] | None:
    """The messages from the root to `leaf` following parent_message_uuid, and whether we had
    to guess: `leaf` unknown or its chain broken, or missing with several leaves to choose
    from, so we took the newest. None when no leaf has an intact chain. Iterative,
    cycle-safe, linear."""
    by_id: dict[str, dict] = {}
    order: list[str] = []
    for m in msgs:
        if isinstance(m, dict) and isinstance(m.get("uuid"), str):
            if m["uuid"] not in by_id:
                order.append(m["uuid"])
            by_id[m["uuid"]] = m
    intact: dict[str, bool] = {}
    if isinstance(leaf, str) and leaf in by_id and _reaches_root(by_id, leaf, intact):
        return _chain(by_id, leaf), False
    parents = {p for p in (by_id[u].get("parent_message_uuid") for u in order) if isinstance(p, str)}
    best, best_time, candidates = None, float("-inf"), 0
    for u in order:
        if u in parents or not _reaches_root(by_id, u, intact):
            continue
        candidates += 1
        t = to_epoch(by_id[u].get("created_at"))
        t = float("-inf") if t is None else t
        if best is None or t >= best_time:
            best, best_time = u, t
    if best is None:
        return None
    return _chain(by_id, best), leaf is not None or candidates > 1


def _is_root(parent: Any) -> bool:
    return parent is None or parent == ROOT or parent == ""


def _reaches_root(by_id: dict, start: str, intact: dict[str, bool]) -> bool:
    chain: list[str] = []
    on_chain: set[str] = set()
    u: Any = start
    verdict = False
    while True:
        if not isinstance(u, str):
            break
        if u in intact:
            verdict = intact[u]
            break
        if u not in by_id or u in on_chain:
            break
        chain.append(u)
        on_chain.add(u)
        p = by_id[u].get("parent_message_uuid")
        if _is_root(p):
            verdict = True
            break
        u = p
    for n in chain:
        intact[n] = verdict
    return verdict


def _chain(by_id: dict, leaf: str) -> list[dict]:
    """Root-first messages of a chain already known to reach the root."""
    out = []
    u: Any = leaf
    for _ in range(len(by_id) + 1):
        out.append(by_id[u])
        u = by_id[u].get("parent_message_uuid")
        if _is_root(u):
            break
    out.reverse()
    return out


def visible_message(m: Any, opts, dropped: Counter) -> Message | None:
    if not isinstance(m, dict):
        dropped["malformed"] += 1
        return None
    role = _ROLES.get(_str(m.get("sender")))
    if role is None:
        dropped["malformed"] += 1
        return None
    parts = _content_text(m, opts, dropped)
    if role == "user":
        parts += _attachments(m, opts, dropped)
    files = m.get("files") or m.get("files_v2")
    if isinstance(files, list) and files:
        dropped["file"] += len(files)  # uploads (mostly images) whose content is not in the export
    text = tidy("\n\n".join(p for p in parts if p.strip()))
    return Message(role, text) if text else None


def _content_text(m: dict, opts, dropped: Counter) -> list[str]:
    artifacts = _wants_artifacts(opts)
    blocks = m.get("content")
    if not isinstance(blocks, list) or not blocks:
        text = m.get("text")
        return [inline_tags(text, artifacts, dropped)] if isinstance(text, str) else []
    out = []
    for b in blocks:
        btype = _str(b.get("type")) if isinstance(b, dict) else None
        if btype == "text":
            if isinstance(b.get("text"), str):
                out.append(inline_tags(b["text"], artifacts, dropped))
        elif btype == "tool_use" and b.get("name") == "artifacts":
            body = _artifact(b) if artifacts else None
            if body is None:
                dropped["artifact"] += 1
            else:
                out.append(body)
        elif btype in _DROPPED_BLOCKS:
            dropped[_DROPPED_BLOCKS[btype]] += 1
        else:
            dropped["unknown"] += 1
    return out


# In 2024 Claude wrote its hidden planning and its artifacts inline, as tags in the reply text.
_ANT_THINKING = re.compile(r"(\s*)<antThinking>.*?(?:</antThinking>|\Z)(\s*)", re.S)
_ANT_ARTIFACT = re.compile(r"(\s*)<antArtifact\b[^>]*>(.*?)(?:</antArtifact>|\Z)(\s*)", re.S)


def inline_tags(text: str, artifacts: bool, dropped: Counter) -> str:
    """Remove <antThinking> (hidden planning) and <antArtifact> (a side-panel document; kept
    as its content only with `artifacts`) from reply text, leaving one gap where they were."""
    if "<ant" not in text:
        return text

    def gap(m: re.Match, s: str) -> str:
        lead, trail = m.group(1), m.group(m.lastindex)
        if m.start() == 0 or m.end() == len(s):
            return ""
        return max(lead, trail, key=len) or " "

    def thinking(m: re.Match) -> str:
        dropped["reasoning"] += 1
        return gap(m, m.string)

    def artifact(m: re.Match) -> str:
        body = m.group(2).strip("\n")
        if artifacts and body.strip():
            return m.group(1) + body + m.group(3)
        dropped["artifact"] += 1
        return gap(m, m.string)

    return _ANT_ARTIFACT.sub(artifact, _ANT_THINKING.sub(thinking, text))


def _artifact(block: dict) -> str | None:
    """The full text of an artifact Claude created or rewrote; None for partial updates
    (old_str/new_str edits cannot be shown without replaying the history)."""
    inp = block.get("input")
    if not isinstance(inp, dict) or inp.get("command", "create") not in ("create", "rewrite"):
        return None
    content = inp.get("content")
    return content if isinstance(content, str) and content.strip() else None


def _attachments(m: dict, opts, dropped: Counter) -> list[str]:
    atts = m.get("attachments")
    if not isinstance(atts, list):
        return []
    out = []
    for a in atts:
        body = a.get("extracted_content") if isinstance(a, dict) else None
        if not isinstance(body, str) or not body.strip() or not opts.attachments:
            dropped["attachment"] += 1
            continue
        name = a.get("file_name") if isinstance(a.get("file_name"), str) else ""
        out.append(f"[Attachment: {name.strip() or 'pasted text'}]\n{body.strip()}")
    return out
