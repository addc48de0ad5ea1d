"""Gemini supervised tuning lines for Vertex AI (the Gemini API / AI Studio no longer tunes):

    {"systemInstruction": {"role": "system", "parts": [{"text": ...}]},
     "contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [...]}]}

Sits at the end of the flow (Conversation -> JSONL line) and, for `miner convert`/`clean`/`stats`,
at the start (JSON line -> Conversation). Gemini insists on strict user/model alternation that
starts with the user and ends on the model turn it trains on, so render refuses anything else
rather than writing a line the tuning job would reject. Vertex has no per-turn weight: a
conversation that marks an assistant turn "do not train" (weight 0) is refused too, because
writing it would silently train on that turn.
"""
from __future__ import annotations

from typing import Any

from miner.models import Conversation, Message
from miner.writers import FormatError

NAME = "vertex"
KIND = "sft"

_TO_VERTEX = {"user": "user", "assistant": "model"}
_FROM_VERTEX = {"user": "user", "model": "assistant", "assistant": "assistant", "system": "system"}


def render(conv: Conversation) -> dict[str, Any]:
    msgs = list(conv.messages)
    system: list[str] = []
    while msgs and msgs[0].role == "system":
        system.append(msgs.pop(0).content)
    contents = []
    for i, m in enumerate(msgs):
        if m.role == "system":
            raise FormatError("a system message in the middle of the conversation; Vertex only has a "
                              "system instruction at the start")
        if m.role not in _TO_VERTEX:
            raise FormatError(f"a {m.role!r} turn; Vertex tuning lines hold only user and model turns")
        if m.weight == 0:
            raise FormatError("an assistant turn marked weight 0 (not to be trained); Vertex trains on "
                              "every model turn - remove that turn or write openai/mistral format")
        role = _TO_VERTEX[m.role]
        if i == 0 and role != "user":
            raise FormatError("the conversation starts with the assistant; Vertex needs a user turn first")
        if contents and contents[-1]["role"] == role:
            raise FormatError(f"two {m.role} turns in a row; Vertex needs user and model turns to alternate")
        contents.append({"role": role, "parts": [{"text": m.content}]})
    if not contents:
        raise FormatError("no user or assistant turns")
    if contents[-1]["role"] != "model":
        raise FormatError("the conversation ends with a user turn; Vertex trains on the final model turn")
    out: dict[str, Any] = {}
    if system:
        out["systemInstruction"] = {"role": "system", "parts": [{"text": t} for t in system]}
    out["contents"] = contents
    return out


def matches(obj: dict) -> bool:
    contents = obj.get("contents")
    return (isinstance(contents, list) and bool(contents)
            and all(isinstance(c, dict) and ("parts" in c or "role" in c) for c in contents))


def _texts(parts) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def read(obj: dict) -> Conversation:
    msgs: list[Message] = []
    si = obj.get("systemInstruction")
    if isinstance(si, dict):
        # one system message per part, so what render wrote comes back unchanged
        msgs.extend(Message("system", t) for t in _texts(si.get("parts")))
    for c in obj["contents"]:
        if not isinstance(c, dict):
            continue
        role = str(c.get("role", ""))
        # several text parts of one turn are one turn to every trainer; non-text parts
        # (fileData, inlineData) cannot be carried in a text dataset
        msgs.append(Message(_FROM_VERTEX.get(role, role), "\n".join(_texts(c.get("parts")))))
    extra = {k: v for k, v in obj.items() if k not in ("systemInstruction", "contents")}
    return Conversation(messages=msgs, meta={"extra": extra} if extra else {})
