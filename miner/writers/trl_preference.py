"""Hugging Face TRL conversational preference lines (DPOTrainer, ORPO, ...):

    {"prompt": [...messages], "chosen": [{"role": "assistant", "content": ...}],
     "rejected": [{"role": "assistant", "content": ...}]}

Where it sits: the last stage for Preference pairs, like openai_dpo. TRL's is_conversational()
looks for lists of {"role", "content"} dicts; `chosen`/`rejected` hold only the assistant turn,
the prompt is separate. Reading also accepts TRL's standard (plain string) preference rows.
"""
from __future__ import annotations

from typing import Any

from miner.models import Message, Preference
from miner.writers import FormatError

NAME = "trl-preference"
KIND = "preference"


def render(pref: Preference) -> dict[str, Any]:
    if not pref.prompt:
        raise FormatError("a preference pair needs the conversation it answers (the prompt is empty)")
    if pref.prompt[-1].role != "user":
        raise FormatError(f"the prompt must end with the user turn both answers reply to, not a {pref.prompt[-1].role} turn")
    for side, m in (("chosen", pref.chosen), ("rejected", pref.rejected)):
        if not (m.content or "").strip():
            raise FormatError(f"the {side} answer is empty")
    # TRL has no per-message weight: role and content only.
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in pref.prompt],
        "chosen": [{"role": "assistant", "content": pref.chosen.content}],
        "rejected": [{"role": "assistant", "content": pref.rejected.content}],
    }


def matches(obj: dict) -> bool:
    if not all(k in obj for k in ("prompt", "chosen", "rejected")):
        return False
    p, c, r = obj["prompt"], obj["chosen"], obj["rejected"]
    if all(isinstance(x, str) for x in (p, c, r)):
        return True
    return all(isinstance(x, list) and x and all(isinstance(m, dict) and "role" in m for m in x) for x in (p, c, r))


def read(obj: dict) -> Preference:
    p = obj["prompt"]
    prompt = [Message("user", p)] if isinstance(p, str) else [
        Message(str(m.get("role", "")), _text(m.get("content"))) for m in p if isinstance(m, dict)]
    extra = {k: v for k, v in obj.items() if k not in ("prompt", "chosen", "rejected")}
    return Preference(prompt=prompt, chosen=_answer(obj["chosen"]), rejected=_answer(obj["rejected"]),
                      meta={"extra": extra} if extra else {})


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _answer(value: Any) -> Message:
    if isinstance(value, str):
        return Message("assistant", value)
    texts = [_text(m.get("content")) for m in value if isinstance(m, dict) and m.get("role") == "assistant"]
    return Message("assistant", "\n\n".join(t for t in texts if t))
