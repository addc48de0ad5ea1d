"""Reading a dataset for the hygiene commands: one JSONL line at a time, with line numbers.

    path -> iter_lines (raw lines, JSON parsed)  -> iter_examples (Example | BadLine)

Lines are parsed with orjson and recognised with miner.writers.detect_line, so every format
miner writes can be validated, measured, cleaned and split. Nothing is held beyond the current
line. `edit_texts` walks the text fields of a raw line in any format, so `clean` can change
text in place without converting (and so without losing keys a format has but a Conversation
does not, such as tools or metadata).
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import orjson

from miner import tokens, writers
from miner.errors import InputError
from miner.models import Conversation, Preference

BOM = b"\xef\xbb\xbf"


@dataclass
class Line:
    number: int  # 1-based, as editors show it
    raw: bytes  # without the line ending
    obj: Any = None
    error: str = ""  # why the line is not usable JSON ("" when it is)
    blank: bool = False
    bom: bool = False  # the file starts with a UTF-8 byte-order mark (line 1 only)


def open_dataset(path: str):
    if not os.path.exists(path):
        raise InputError(path, "no such file", "check the name, or run `miner convert` first to make it")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, not a JSONL file")
    try:
        return open(path, "rb")
    except OSError as e:
        raise InputError(path, f"cannot be read ({e.strerror or e})") from None


def parse_line(number: int, raw: bytes) -> Line:
    bom = number == 1 and raw.startswith(BOM)
    if bom:
        raw = raw[len(BOM):]
    if not raw.strip():
        return Line(number, raw, blank=True, bom=bom)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return Line(number, raw, error="is not UTF-8 text (save the file as UTF-8)", bom=bom)
        reason = str(e).split(":", 1)[0] or "invalid JSON"
        if raw.lstrip()[:1] in (b"{", b"[") and reason.startswith(("unexpected end", "EOF")):
            reason = "the line ends before the JSON object closes (was one example split over several lines?)"
        return Line(number, raw, error=f"is not valid JSON: {reason}", bom=bom)
    return Line(number, raw, obj=obj, bom=bom)


def iter_lines(path: str) -> Iterator[Line]:
    """Every line of `path`, parsed. A trailing newline at the end of the file is not a line."""
    with open_dataset(path) as f:
        for i, raw in enumerate(f, 1):
            yield parse_line(i, raw.rstrip(b"\r\n"))


def count_lines(path: str) -> int:
    n = 0
    with open_dataset(path) as f:
        for _ in f:
            n += 1
    return n


# ---- examples -----------------------------------------------------------------------------

@dataclass
class BadLine:
    """A line that is not a training example: not JSON, or in no format miner knows."""

    line: int
    reason: str  # short class: "invalid JSON", "unknown format", ...
    detail: str
    raw: bytes


@dataclass
class Example:
    line: int
    obj: dict
    fmt: ModuleType
    item: Conversation | Preference
    raw: bytes = b""
    _tokens: int | None = field(default=None, repr=False)

    @property
    def is_preference(self) -> bool:
        return isinstance(self.item, Preference)

    def messages(self):
        it = self.item
        if isinstance(it, Preference):
            return [*it.prompt, it.chosen]
        return it.messages

    def assistant_text(self) -> str:
        """The text the model is trained to write: assistant turns not marked weight 0
        (the chosen answer for a preference pair)."""
        it = self.item
        if isinstance(it, Preference):
            return it.chosen.content
        return "\n\n".join(m.content for m in it.messages if m.role == "assistant" and m.weight != 0)

    def user_texts(self) -> list[str]:
        return [m.content for m in self.messages() if m.role == "user"]

    def system(self) -> str | None:
        sys_msgs = [m.content for m in self.messages() if m.role == "system"]
        return "\n\n".join(sys_msgs) if sys_msgs else None

    def turns(self) -> int:
        return sum(1 for m in self.messages() if m.role in ("user", "assistant"))

    def tokens(self) -> int:
        """Tokens of the whole example as trainers bill it (a preference pair counts its
        prompt and both answers)."""
        if self._tokens is None:
            it = self.item
            if isinstance(it, Preference):
                self._tokens = tokens.count_messages([*it.prompt, it.chosen, it.rejected])
            else:
                self._tokens = tokens.count_messages(it.messages)
        return self._tokens

    def source(self) -> str:
        return source_of(self.obj, self.item)


def source_of(obj: dict, item=None) -> str:
    """Where an example came from, if the line says: a top-level "source", a "meta" object's
    "source", or the source the reader recorded."""
    for v in (obj.get("source"), (obj.get("meta") or {}).get("source") if isinstance(obj.get("meta"), dict) else None):
        if isinstance(v, str) and v:
            return v
    if item is not None and getattr(item, "source", ""):
        return item.source
    meta = getattr(item, "meta", None) or {}
    extra = meta.get("extra") if isinstance(meta, dict) else None
    if isinstance(extra, dict):
        inner = extra.get("meta")
        if isinstance(inner, dict) and isinstance(inner.get("source"), str):
            return inner["source"]
    return ""


def to_example(line: Line, fmt: ModuleType | None = None) -> Example | BadLine | None:
    """The example on a parsed line (None for a blank line)."""
    if line.blank:
        return None
    if line.error:
        return BadLine(line.number, "invalid JSON", line.error, line.raw)
    obj = line.obj
    if not isinstance(obj, dict):
        return BadLine(line.number, "not an object", "the line is JSON but not an object {...}", line.raw)
    mod = fmt if fmt is not None and _matches(fmt, obj) else writers.detect_line(obj)
    if mod is None:
        keys = ", ".join(list(obj)[:6]) or "none"
        return BadLine(line.number, "unknown format",
                       f"no dataset format has these keys ({keys})", line.raw)
    try:
        item = mod.read(obj)
    except Exception as e:  # a reader choking on a malformed line is that line's problem
        return BadLine(line.number, "unreadable", f"looks like {mod.NAME} but cannot be read ({e})", line.raw)
    return Example(line.number, obj, mod, item, raw=line.raw)


def _matches(mod: ModuleType, obj: dict) -> bool:
    try:
        return bool(mod.matches(obj)) or mod.NAME in ("mistral", "trl") and "messages" in obj
    except Exception:
        return False


def iter_examples(path: str, fmt: ModuleType | None = None) -> Iterator[Example | BadLine]:
    for line in iter_lines(path):
        ex = to_example(line, fmt)
        if ex is not None:
            yield ex


# ---- walking the text of a raw line -------------------------------------------------------

TextFn = Callable[[str, str], str]  # (role, text) -> new text; roles: system/user/assistant/tool

_VERTEX_ROLE = {"model": "assistant"}
_SHAREGPT_ROLE = {"human": "user", "gpt": "assistant", "observation": "tool", "function_call": "assistant",
                  "chatgpt": "assistant", "model": "assistant"}


def edit_texts(obj: dict, fmt: str, fn: TextFn) -> dict:
    """A copy of `obj` (a line in format `fmt`) with every text field passed through `fn`.
    Keys that hold no text are kept as they were."""
    obj = copy.deepcopy(obj)
    if fmt in ("openai", "mistral", "trl") and "messages" in obj:
        _edit_messages(obj.get("messages"), fn)
    elif fmt == "trl":
        _edit_str_or_messages(obj, "prompt", "user", fn)
        _edit_str_or_messages(obj, "completion", "assistant", fn)
    elif fmt == "vertex":
        si = obj.get("systemInstruction")
        if isinstance(si, dict):
            _edit_parts(si.get("parts"), "system", fn)
        for c in obj.get("contents") or []:
            if isinstance(c, dict):
                role = str(c.get("role", ""))
                _edit_parts(c.get("parts"), _VERTEX_ROLE.get(role, role), fn)
    elif fmt == "sharegpt":
        if isinstance(obj.get("system"), str):
            obj["system"] = fn("system", obj["system"])
        for t in obj.get("conversations") or []:
            if isinstance(t, dict) and isinstance(t.get("value"), str):
                who = str(t.get("from", ""))
                t["value"] = fn(_SHAREGPT_ROLE.get(who, who), t["value"])
    elif fmt == "alpaca":
        for key, role in (("system", "system"), ("instruction", "user"), ("input", "user"), ("output", "assistant")):
            if isinstance(obj.get(key), str) and obj[key]:
                obj[key] = fn(role, obj[key])
        hist = obj.get("history")
        if isinstance(hist, list):
            obj["history"] = [[fn("user", p[0]) if isinstance(p[0], str) else p[0],
                               fn("assistant", p[1]) if isinstance(p[1], str) else p[1]]
                              if isinstance(p, list) and len(p) == 2 else p for p in hist]
    elif fmt == "openai-dpo":
        inp = obj.get("input")
        if isinstance(inp, dict):
            _edit_messages(inp.get("messages"), fn)
        for key in ("preferred_output", "non_preferred_output"):
            _edit_messages(obj.get(key), fn)
    elif fmt == "trl-preference":
        _edit_str_or_messages(obj, "prompt", "user", fn)
        _edit_str_or_messages(obj, "chosen", "assistant", fn)
        _edit_str_or_messages(obj, "rejected", "assistant", fn)
    return obj


def texts(obj: dict, fmt: str) -> list[tuple[str, str]]:
    """Every (role, text) in a raw line, in order."""
    out: list[tuple[str, str]] = []

    def keep(role: str, text: str) -> str:
        out.append((role, text))
        return text

    edit_texts(obj, fmt, keep)
    return out


def _edit_messages(msgs, fn: TextFn) -> None:
    if not isinstance(msgs, list):
        return
    for m in msgs:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role", ""))
        c = m.get("content")
        if isinstance(c, str):
            m["content"] = fn(role, c)
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    part["text"] = fn(role, part["text"])


def _edit_parts(parts, role: str, fn: TextFn) -> None:
    for p in parts or []:
        if isinstance(p, dict) and isinstance(p.get("text"), str):
            p["text"] = fn(role, p["text"])


def _edit_str_or_messages(obj: dict, key: str, role: str, fn: TextFn) -> None:
    v = obj.get(key)
    if isinstance(v, str):
        obj[key] = fn(role, v)
    else:
        _edit_messages(v, fn)


# ---- output names -------------------------------------------------------------------------

def derive_path(path: str, tag: str) -> str:
    """wlm.clean.jsonl + "train" -> wlm.clean.train.jsonl (same folder, .jsonl kept)."""
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    if ext.lower() not in (".jsonl", ".json", ".ndjson"):
        stem, ext = base, ".jsonl"
    return os.path.join(folder, f"{stem}.{tag}{ext}")
