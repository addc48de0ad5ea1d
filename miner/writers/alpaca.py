"""Alpaca lines: {"instruction", "input"?, "output", "system"?, "history"?}.

LLaMA-Factory and axolotl (type: alpaca) build the prompt as instruction + "\\n" + input and
train on output. Render is single-turn only: an optional system message, one user turn, one
assistant turn. A multi-turn conversation is refused with FormatError rather than cut down to
its last exchange (write sharegpt or openai for those). Reading also accepts LLaMA-Factory's
"history" ([[question, answer], ...], earlier turns), so such files convert losslessly to the
multi-turn formats.
"""
from __future__ import annotations

from typing import Any

from miner.models import Conversation, Message
from miner.writers import FormatError

NAME = "alpaca"
KIND = "sft"


def render(conv: Conversation) -> dict[str, Any]:
    msgs = list(conv.messages)
    system = None
    if msgs and msgs[0].role == "system":
        system = msgs.pop(0).content
    roles = [m.role for m in msgs]
    if roles != ["user", "assistant"]:
        if roles.count("user") > 1 or roles.count("assistant") > 1:
            raise FormatError(f"a multi-turn conversation ({len(msgs)} turns); Alpaca holds one instruction "
                              "and one answer - write sharegpt or openai instead")
        raise FormatError("Alpaca needs exactly one user turn followed by one assistant turn "
                          f"(got: {', '.join(roles) or 'none'})")
    user, answer = msgs
    if answer.weight == 0:
        raise FormatError("the only assistant turn is marked weight 0 (not to be trained)")
    instruction, inp = user.content, ""
    # keep the original instruction/input split when the text is unchanged since reading
    orig = conv.meta.get("alpaca") if isinstance(conv.meta, dict) else None
    if isinstance(orig, dict) and _join(orig.get("instruction", ""), orig.get("input", "")) == user.content:
        instruction, inp = orig.get("instruction", ""), orig.get("input", "")
    out: dict[str, Any] = {"instruction": instruction, "input": inp, "output": answer.content}
    if system is not None:
        out["system"] = system
    return out


def _join(instruction: str, inp: str) -> str:
    return f"{instruction}\n{inp}" if inp else instruction


def matches(obj: dict) -> bool:
    return (isinstance(obj.get("instruction"), str) and isinstance(obj.get("output"), str)
            and "chosen" not in obj and "rejected" not in obj)


def read(obj: dict) -> Conversation:
    msgs: list[Message] = []
    if isinstance(obj.get("system"), str) and obj["system"]:
        msgs.append(Message("system", obj["system"]))
    for pair in obj.get("history") or []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            msgs.append(Message("user", str(pair[0])))
            msgs.append(Message("assistant", str(pair[1])))
    instruction = obj.get("instruction") or ""
    inp = obj.get("input") if isinstance(obj.get("input"), str) else ""
    msgs.append(Message("user", _join(instruction, inp)))
    msgs.append(Message("assistant", obj.get("output") or ""))
    meta: dict[str, Any] = {"alpaca": {"instruction": instruction, "input": inp}}
    extra = {k: v for k, v in obj.items() if k not in ("instruction", "input", "output", "system", "history")}
    if extra:
        meta["extra"] = extra
    return Conversation(messages=msgs, meta=meta)
