"""OpenAI preference fine-tuning (DPO) lines:

    {"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", "content": ...}],
     "non_preferred_output": [{"role": "assistant", "content": ...}]}

Where it sits: the last stage for Preference pairs (retry collapse makes them: the answer the
author accepted is preferred, the first draft is not). `input.messages` ends with the user turn
both outputs answer; each output array holds exactly one assistant message.
"""
from __future__ import annotations

from typing import Any

from miner.models import Message, Preference
from miner.writers import FormatError

NAME = "openai-dpo"
KIND = "preference"


def render(pref: Preference) -> dict[str, Any]:
    check(pref)
    return {
        "input": {"messages": [m.to_dict() for m in pref.prompt]},
        "preferred_output": [{"role": "assistant", "content": pref.chosen.content}],
        "non_preferred_output": [{"role": "assistant", "content": pref.rejected.content}],
    }


def check(pref: Preference) -> None:
    """The rules OpenAI and Azure state for a preference example, as plain-language errors."""
    if not pref.prompt:
        raise FormatError("a preference pair needs the conversation it answers (the prompt is empty)")
    if pref.prompt[-1].role != "user":
        raise FormatError(f"the prompt must end with the user turn both answers reply to, not a {pref.prompt[-1].role} turn")
    for side, m in (("preferred", pref.chosen), ("non-preferred", pref.rejected)):
        if m.role != "assistant":
            raise FormatError(f"the {side} output must be an assistant message, not {m.role}")
        if not (m.content or "").strip():
            raise FormatError(f"the {side} output is empty")


def matches(obj: dict) -> bool:
    inp = obj.get("input")
    return (isinstance(inp, dict) and isinstance(inp.get("messages"), list)
            and isinstance(obj.get("preferred_output"), list) and isinstance(obj.get("non_preferred_output"), list))


def read(obj: dict) -> Preference:
    inp = obj["input"]
    prompt = [_message(m) for m in inp["messages"] if isinstance(m, dict)]
    extra = {k: v for k, v in obj.items() if k not in ("input", "preferred_output", "non_preferred_output")}
    input_extra = {k: v for k, v in inp.items() if k != "messages"}
    meta: dict[str, Any] = {}
    if extra:
        meta["extra"] = extra
    if input_extra:
        meta["input_extra"] = input_extra  # tools, parallel_tool_calls
    return Preference(prompt=prompt, chosen=_output(obj["preferred_output"]),
                      rejected=_output(obj["non_preferred_output"]), meta=meta)


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _message(m: dict) -> Message:
    w = m.get("weight")
    return Message(role=str(m.get("role", "")), content=_text(m.get("content")),
                   weight=w if w in (0, 1) and not isinstance(w, bool) else None)


def _output(items: list) -> Message:
    for m in items:
        if isinstance(m, dict) and m.get("role", "assistant") == "assistant":
            return Message("assistant", _text(m.get("content")))
    return Message("assistant", "")
