"""Google Keep notes from Google Takeout (Takeout/Keep/*.json, one note per file).

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: title, textContent (paragraphs by blank lines, line breaks kept) or listContent
(checklist items as lines "[ ] item" / "[x] item"); meta: labels, created and edited time
(ISO 8601, from Keep's microseconds), pinned, archived, colour.
Skipped: trashed notes ("trashed note"). Takeout's .html copy of each note and Labels.txt
are recognised and skipped ("Keep .html copy", the .json twin is read), so a whole Takeout
folder can be given without reading notes twice.
Only JSON objects with Keep's own keys are claimed; other JSON is left alone.
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator

from miner.documents import clean_text, is_scene_break, read_bytes, title_from_name
from miner.errors import InputError
from miner.models import Block, Document, Skip

NAME = "keep"
KIND = "document"
LABEL = "Google Keep note"

_KEEP_KEYS = {"userEditedTimestampUsec", "createdTimestampUsec", "isTrashed", "isPinned", "isArchived", "color"}


def _in_keep_folder(name: str) -> bool:
    return bool(re.search(r"(^|[/!\\])Keep[/\\]", name))


def is_keep_note(obj) -> bool:
    return (isinstance(obj, dict) and ("textContent" in obj or "listContent" in obj)
            and len(_KEEP_KEYS & obj.keys()) >= 2)


def _is_keep_html(s) -> bool:
    h = s.head[:8192]
    return b'<div class="note' in h and (b'class="heading"' in h or b'class="content"' in h) and (
        _in_keep_folder(s.entry.name) or b"<title>" in h)


def sniff(s) -> bool:
    if s.stripped[:1] == b"{":
        return is_keep_note(s.first_json)
    if s.entry.basename == "Labels.txt" and _in_keep_folder(s.entry.name):
        return True
    return s.suffix in (".html", ".htm") and _is_keep_html(s)


def usec_to_iso(v) -> str | None:
    try:
        us = int(v)
    except (TypeError, ValueError):
        return None
    if us <= 0:
        return None
    try:
        return _dt.datetime.fromtimestamp(us / 1e6, tz=_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _text_blocks(text: str) -> list[Block]:
    blocks = []
    for para in re.split(r"\n[^\S\n]*\n", text.replace("\r\n", "\n")):
        p = clean_text(para)
        if p:
            blocks.append(Block("break", p) if is_scene_break(p) else Block("paragraph", p))
    return blocks


def parse(entry, opts) -> Iterator[Document | Skip]:
    import orjson

    if entry.basename == "Labels.txt":
        yield Skip("Keep labels list (not a note)", entry.name)
        return
    if entry.suffix in (".html", ".htm"):
        yield Skip("Keep .html copy (its .json twin is read)", entry.name)
        return
    data = read_bytes(entry, "Keep note")
    try:
        note = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InputError(entry.name, f"is not valid JSON ({e})", "export Keep from Google Takeout again") from None
    if not is_keep_note(note):
        raise InputError(entry.name, "is not a Google Keep note")
    if note.get("isTrashed") is True:
        yield Skip("trashed note", entry.name)
        return
    title = clean_text(str(note.get("title") or "")).replace("\n", " ")
    blocks: list[Block] = []
    if isinstance(note.get("listContent"), list):
        lines = []
        for item in note["listContent"]:
            if not isinstance(item, dict):
                continue
            text = " ".join(clean_text(str(item.get("text") or "")).split())
            if text:
                lines.append(f"{'[x]' if item.get('isChecked') else '[ ]'} {text}")
        if lines:
            blocks.append(Block("paragraph", "\n".join(lines)))
    elif isinstance(note.get("textContent"), str):
        blocks = _text_blocks(note["textContent"])
    meta: dict = {}
    raw_labels = note.get("labels") if isinstance(note.get("labels"), list) else []
    labels = [str(lb.get("name")) for lb in raw_labels if isinstance(lb, dict) and lb.get("name")]
    if labels:
        meta["labels"] = labels
    for key, field in (("created", "createdTimestampUsec"), ("edited", "userEditedTimestampUsec")):
        iso = usec_to_iso(note.get(field))
        if iso:
            meta[key] = iso
    for key, field in (("pinned", "isPinned"), ("archived", "isArchived")):
        if note.get(field) is True:
            meta[key] = True
    if note.get("color") and note.get("color") != "DEFAULT":
        meta["color"] = note["color"]
    if not title:
        first = next((b.text for b in blocks if b.kind == "paragraph"), "")
        first_line = re.sub(r"^\[[ x]\] ", "", first.split("\n", 1)[0])
        title = first_line[:60] if first_line else title_from_name(entry.name)
    yield Document(title=title, source=entry.name, blocks=blocks, meta=meta)
