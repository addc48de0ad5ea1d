"""Build ChatGPT and Claude export JSON for tests, in the shapes the real exports have
(field names and nesting as in /work/shared/reference/chat-and-note-exports.md §1-2)."""
from __future__ import annotations

import io
import itertools
import zipfile
from pathlib import Path
from typing import Any

import orjson

from miner.parsers import ParseOptions, Sniff
from miner.sources import Entry, iter_entries

T0 = 1_700_000_000.0
CLAUDE_ROOT = "00000000-0000-4000-8000-000000000000"


# The other files of a ChatGPT export (and of a Claude one), shaped as in real exports.
OTHER_FILES = {
    "user.json": {"id": "user-abc", "email": "a@example.com", "chatgpt_plus_user": True, "phone_number": None},
    "message_feedback.json": [{"id": "f1", "conversation_id": "c1", "user_id": "user-abc", "rating": "thumbsUp",
                               "create_time": "2024-01-01T00:00:00Z", "workspace_id": None,
                               "content": "{\"tags\": []}", "storage_protocol": "zstd::1.5.5"}],
    "model_comparisons.json": [{"id": "mc1", "user_id": "user-abc", "input": {"prompt_convo": {
        "id": "c1", "messages": [{"id": "m1", "author": {"role": "system"}, "content": {
            "content_type": "text", "parts": ["You are ChatGPT"]}}]}}, "output": {}, "metadata": {},
        "create_time": 1700000000.0}],
    "shared_conversations.json": [{"id": "s1", "conversation_id": "c1", "title": "Shared", "is_anonymous": True}],
    "group_chats.json": {"chats": []},
    "users.json": [{"uuid": "u1", "full_name": "Ann Author", "email_address": "ann@example.com",
                    "verified_phone_number": None}],
    "projects.json": [{"uuid": "p1", "name": "Novel", "description": "", "is_private": True,
                       "is_starter_project": False, "prompt_template": "", "created_at": "2024-01-01T00:00:00Z",
                       "updated_at": "2024-01-01T00:00:00Z", "creator": {"uuid": "u1", "full_name": "Ann"},
                       "docs": [{"uuid": "d1", "filename": "outline.md", "content": "Chapter one...",
                                 "created_at": "2024-01-01T00:00:00Z"}]}],
    "memories.json": [{"conversations_memory": "Ann writes a novel.", "account_uuid": "acct-1"}],
}
DEEPSEEK = [{"id": "d1", "title": "Hi", "inserted_at": "2025-01-01T00:00:00+08:00",
             "updated_at": "2025-01-01T00:00:00+08:00", "mapping": {
                 "root": {"id": "root", "parent": None, "children": ["1"], "message": None},
                 "1": {"id": "1", "parent": "root", "children": [], "message": {
                     "model": "deepseek-chat", "inserted_at": "2025-01-01T00:00:00+08:00", "files": [],
                     "fragments": [{"type": "REQUEST", "content": "hi"}]}}}}]


# ---- ChatGPT --------------------------------------------------------------------------

def gpt_message(role: str, text: str | None = None, *, id: str = "", content: dict | None = None,
                hidden: bool = False, recipient: str = "all", channel: str | None = None,
                metadata: dict | None = None, author_name: str | None = None,
                create_time: float | None = None) -> dict:
    """A message object as in conversations.json; `text` gives a plain text content."""
    if content is None:
        content = {"content_type": "text", "parts": [text if text is not None else ""]}
    md = dict(metadata or {})
    if hidden:
        md["is_visually_hidden_from_conversation"] = True
    return {
        "id": id,
        "author": {"role": role, "name": author_name, "metadata": {}},
        "create_time": create_time,
        "update_time": None,
        "content": content,
        "status": "finished_successfully",
        "end_turn": True if role == "assistant" else None,
        "weight": 0.0 if hidden else 1.0,
        "metadata": md,
        "recipient": recipient,
        "channel": channel,
    }


class GptTree:
    """A conversation's mapping built node by node; each add() hangs under `parent` (default:
    the previously added node) and returns the new node's id."""

    def __init__(self, root_id: str = "client-created-root"):
        self.root = root_id
        self.mapping: dict[str, dict] = {root_id: {"id": root_id, "message": None, "parent": None, "children": []}}
        self.last = root_id
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)

    def add(self, role: str, text: str | None = None, *, parent: str | None = None, id: str | None = None,
            create_time: float | None = None, **kw: Any) -> str:
        nid = id or f"node-{next(self._ids)}"
        parent = parent or self.last
        ct = T0 + next(self._clock) if create_time is None else create_time
        self.mapping[nid] = {"id": nid, "message": gpt_message(role, text, id=nid, create_time=ct, **kw),
                             "parent": parent, "children": []}
        if parent in self.mapping:
            self.mapping[parent]["children"].append(nid)
        self.last = nid
        return nid

    def conversation(self, current: str | None = "last", *, title: str | None = "A chat",
                     id: str = "conv-1", create_time: float | None = T0, **extra: Any) -> dict:
        conv = {"title": title, "create_time": create_time, "update_time": T0 + 999, "mapping": self.mapping,
                "moderation_results": [], "current_node": self.last if current == "last" else current,
                "plugin_ids": None, "conversation_id": id, "id": id, "default_model_slug": "gpt-4o",
                "is_archived": False, "safe_urls": []}
        if current is None:
            del conv["current_node"]
        conv.update(extra)
        return conv


def gpt_simple(*turns: tuple[str, str], id: str = "conv-1", title: str = "A chat") -> dict:
    """A linear ChatGPT conversation: hidden system root message, then the given turns."""
    t = GptTree()
    t.add("system", "", hidden=True)
    for role, text in turns:
        t.add(role, text)
    return t.conversation(id=id, title=title)


def multimodal(*parts: Any) -> dict:
    return {"content_type": "multimodal_text", "parts": list(parts)}


def image_part(n: int = 1) -> dict:
    return {"content_type": "image_asset_pointer", "asset_pointer": f"sediment://file_{n:024x}",
            "size_bytes": 123456, "width": 1024, "height": 768, "fovea": None, "metadata": None}


# ---- Claude --------------------------------------------------------------------------

def claude_text(text: str) -> dict:
    return {"type": "text", "text": text, "start_timestamp": None, "stop_timestamp": None,
            "flags": None, "citations": []}


def claude_thinking(text: str) -> dict:
    return {"type": "thinking", "thinking": text, "summaries": [{"summary": "Thinking"}], "cut_off": False,
            "start_timestamp": None, "stop_timestamp": None, "flags": None}


def claude_msg(sender: str, text: str | None = None, *, blocks: list | None = None, uuid: str = "",
               top_text: str | None = None, attachments: list | None = None, files: list | None = None,
               created_at: str = "2024-05-01T10:00:00.000000Z", **extra: Any) -> dict:
    """A chat_messages item. `text` makes one text block; `blocks` gives the content as is;
    `top_text` overrides the (lossy) top-level text, which otherwise concatenates the blocks
    with no separator, as the real export does."""
    if blocks is None:
        blocks = [claude_text(text)] if text is not None else []
    if top_text is None:
        top_text = "".join(b.get("text") or b.get("thinking") or "" for b in blocks if isinstance(b, dict))
    m = {"uuid": uuid, "text": top_text, "content": blocks, "sender": sender, "created_at": created_at,
         "updated_at": created_at, "attachments": attachments or [], "files": files or []}
    m.update(extra)
    return m


def claude_conv(messages: list, *, uuid: str = "c-1", name: str = "A chat",
                created_at: str = "2024-05-01T10:00:00.000000Z", **extra: Any) -> dict:
    conv = {"uuid": uuid, "name": name, "summary": "", "created_at": created_at,
            "updated_at": created_at, "account": {"uuid": "acct-1"}, "chat_messages": messages}
    conv.update(extra)
    return conv


def claude_simple(*turns: tuple[str, str], uuid: str = "c-1", name: str = "A chat") -> dict:
    msgs = [claude_msg("human" if r == "user" else "assistant", t, uuid=f"{uuid}-m{i}") for i, (r, t) in enumerate(turns)]
    return claude_conv(msgs, uuid=uuid, name=name)


# ---- files and entries ------------------------------------------------------------------

def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def write(path: Path, data: Any) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else dumps(data))
    return path


def entry(path: Path) -> Entry:
    """The Entry miner would make for a plain file."""
    (e,) = list(iter_entries([str(path)]))
    return e


def zip_entries(path: Path, members: dict[str, Any]) -> dict[str, Entry]:
    """Write a ZIP of `members` (bytes or JSON-able) and return its entries by member name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data if isinstance(data, bytes) else dumps(data))
    return {e.name.rsplit("!", 1)[1]: e for e in iter_entries([str(path)])}


def run(parser, path: Path, **opts: Any) -> list:
    """Everything `parser` yields for the file at `path`."""
    extra = opts.pop("extra", {})
    return list(parser.parse(entry(path), ParseOptions(extra=extra, **opts)))


def sniff(parser, path: Path) -> bool:
    return parser.sniff(Sniff(entry(path)))


def turns(conv) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conv.messages]


def bytes_entry(name: str, data: bytes) -> Entry:
    return Entry(name=name, size=len(data), opener=lambda: io.BytesIO(data))


# ---- fuzzing helpers ----------------------------------------------------------------------

def json_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in a JSON value, as key/index paths (the root is ())."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += json_paths(v, prefix + (i,))
    return out


def replaced(obj: Any, path: tuple, value: Any) -> Any:
    """A copy of `obj` with the value at `path` replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {k: (replaced(v, rest, value) if k == head else v) for k, v in obj.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(obj)]
