"""ShareGPT lines, as LLaMA-Factory and older axolotl configs read them:

    {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}],
     "system": "optional system prompt"}

Render puts a single leading system message in the top-level "system" key and writes human/gpt
turns, which LLaMA-Factory requires to alternate (human first, gpt last: it drops examples with
an odd number of turns). Anything it would drop or misread - a system message mid-conversation,
two turns in a row from the same side, a trailing human turn, tool turns, or an assistant turn
marked weight 0 (ShareGPT trains on every gpt turn) - is refused with FormatError.

Reading is tolerant of the variants in the wild ("user"/"assistant"/"chatgpt" speakers,
"system" turns inside the list, "observation"/"function_call" tool turns).
"""
from __future__ import annotations

from typing import Any

from miner.models import Conversation, Message
from miner.writers import FormatError

NAME = "sharegpt"
KIND = "sft"

_TO = {"user": "human", "assistant": "gpt"}
_FROM = {
    "system": "system",
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant", "function_call": "assistant",
    "observation": "tool", "tool": "tool",
}


def render(conv: Conversation) -> dict[str, Any]:
    msgs = list(conv.messages)
    system = None
    if msgs and msgs[0].role == "system":
        system = msgs.pop(0).content
    turns = []
    for m in msgs:
        if m.role == "system":
            raise FormatError("more than one system message, or one mid-conversation; ShareGPT has a single "
                              "system prompt")
        if m.role not in _TO:
            raise FormatError(f"a {m.role!r} turn; only user and assistant turns can be written as ShareGPT "
                              "human/gpt turns")
        if m.weight == 0:
            raise FormatError("an assistant turn marked weight 0 (not to be trained); ShareGPT trains on every "
                              "gpt turn - remove that turn or write openai/mistral format")
        who = _TO[m.role]
        if not turns and who != "human":
            raise FormatError("the conversation starts with the assistant; ShareGPT needs a human turn first")
        if turns and turns[-1]["from"] == who:
            raise FormatError(f"two {m.role} turns in a row; ShareGPT needs human and gpt turns to alternate")
        turns.append({"from": who, "value": m.content})
    if not turns:
        raise FormatError("no user or assistant turns")
    if turns[-1]["from"] != "gpt":
        raise FormatError("the conversation ends with a user turn; LLaMA-Factory drops such examples")
    out: dict[str, Any] = {"conversations": turns}
    if system is not None:
        out["system"] = system
    return out


def matches(obj: dict) -> bool:
    conv = obj.get("conversations")
    return (isinstance(conv, list) and bool(conv)
            and all(isinstance(t, dict) and ("from" in t or "value" in t) for t in conv))


def read(obj: dict) -> Conversation:
    msgs: list[Message] = []
    if isinstance(obj.get("system"), str) and obj["system"]:
        msgs.append(Message("system", obj["system"]))
    for t in obj["conversations"]:
        if not isinstance(t, dict):
            continue
        who = str(t.get("from", ""))
        value = t.get("value")
        msgs.append(Message(_FROM.get(who, who), value if isinstance(value, str) else ""))
    extra = {k: v for k, v in obj.items() if k not in ("conversations", "system")}
    return Conversation(messages=msgs, meta={"extra": extra} if extra else {})
