"""OpenAI chat fine-tuning lines: {"messages": [{"role", "content", "weight"?}, ...]}.

Also the format Together, Fireworks, Azure, axolotl (chat_template), LLaMA-Factory and TRL read.
"""
from __future__ import annotations

from typing import Any

from miner.models import Conversation, Message

NAME = "openai"
KIND = "sft"


def render(conv: Conversation) -> dict[str, Any]:
    return {"messages": [m.to_dict() for m in conv.messages]}


def matches(obj: dict) -> bool:
    msgs = obj.get("messages")
    return isinstance(msgs, list) and bool(msgs) and all(isinstance(m, dict) and "role" in m for m in msgs)


def read(obj: dict) -> Conversation:
    msgs = []
    for m in obj["messages"]:
        content = m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        w = m.get("weight")
        msgs.append(Message(role=str(m.get("role", "")), content=content if isinstance(content, str) else "",
                            weight=w if w in (0, 1) and not isinstance(w, bool) else None))
    extra = {k: v for k, v in obj.items() if k != "messages"}
    return Conversation(messages=msgs, meta={"extra": extra} if extra else {})
