"""Hugging Face TRL SFT lines (SFTTrainer's conversational formats).

Written as the "conversational language modeling" shape {"messages": [{"role", "content"}]},
which TRL, axolotl (chat_template) and LLaMA-Factory all read. That shape is identical to
OpenAI's, so such lines are read back by miner.writers.openai; this module's matches() only
claims TRL's other SFT shape, prompt-completion:

    {"prompt": [{"role": "user", ...}], "completion": [{"role": "assistant", ...}]}
    {"prompt": "The sky is", "completion": " blue."}          (standard, plain strings)

TRL has no per-turn training weight, so a conversation with an assistant turn marked weight 0
is refused (writing it would train on a turn the user excluded).
"""
from __future__ import annotations

from typing import Any

from miner.models import Conversation, Message
from miner.writers import FormatError

NAME = "trl"
KIND = "sft"
ROLES = ("system", "user", "assistant", "tool")


def render(conv: Conversation) -> dict[str, Any]:
    if not conv.messages:
        raise FormatError("no messages")
    out = []
    for m in conv.messages:
        if m.role not in ROLES:
            raise FormatError(f"unknown role {m.role!r}")
        if m.weight == 0:
            raise FormatError("an assistant turn marked weight 0 (not to be trained); TRL has no per-turn "
                              "weight - remove that turn or write openai/mistral format")
        out.append({"role": m.role, "content": m.content})
    return {"messages": out}


def _is_msg_list(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) and "role" in m for m in v)


def matches(obj: dict) -> bool:
    if any(k in obj for k in ("chosen", "rejected", "label", "messages")):
        return False  # preference / KTO data, or the openai-shaped messages line
    p, c = obj.get("prompt"), obj.get("completion")
    return (_is_msg_list(p) and _is_msg_list(c)) or (isinstance(p, str) and isinstance(c, str))


def _messages(v, default_role: str) -> list[Message]:
    if isinstance(v, str):
        return [Message(default_role, v)]
    return [Message(str(m.get("role", "")), m["content"] if isinstance(m.get("content"), str) else "")
            for m in v if isinstance(m, dict)]


def read(obj: dict) -> Conversation:
    if "messages" in obj:
        from miner.writers import openai as _openai

        return _openai.read(obj)
    msgs = _messages(obj["prompt"], "user") + _messages(obj["completion"], "assistant")
    extra = {k: v for k, v in obj.items() if k not in ("prompt", "completion")}
    return Conversation(messages=msgs, meta={"extra": extra} if extra else {})
