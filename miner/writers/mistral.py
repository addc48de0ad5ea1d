"""Mistral fine-tuning lines: {"messages": [{"role", "content", "weight"?}, ...]}.

The same shape as OpenAI's chat format, so a Mistral line is read back as `openai` (this
module's matches() is always False and detection never has to guess between two identical
shapes). What differs is the rules Mistral's trainer enforces, which render applies up front:

- the last message must be an assistant turn ("Expected last role to be one of: [assistant]
  but got user"). A conversation ending on a user turn is refused with FormatError, not
  trimmed: dropping the turn would change the example behind the user's back. `miner clean`
  or `miner convert` report the refused lines; fix the source or cut the turn yourself.
- tool turns need call ids Mistral checks (exactly 9 characters) that a Conversation does not
  carry, so conversations with tool turns are refused rather than written broken.
- per-assistant "weight" 0/1 is supported, as in OpenAI's format, and kept.
"""
from __future__ import annotations

from typing import Any

from miner.models import Conversation
from miner.writers import FormatError
from miner.writers import openai as _openai

NAME = "mistral"
KIND = "sft"


def render(conv: Conversation) -> dict[str, Any]:
    msgs = conv.messages
    if not msgs:
        raise FormatError("no messages")
    for m in msgs:
        if m.role not in ("system", "user", "assistant"):
            raise FormatError(f"a {m.role!r} turn; Mistral needs tool call ids this conversation does not "
                              "carry, so only system, user and assistant turns can be written")
    if msgs[-1].role != "assistant":
        raise FormatError(f"the last message is {msgs[-1].role!r}; Mistral requires the last message to be "
                          "an assistant turn (remove the trailing turn in the source)")
    return {"messages": [m.to_dict() for m in msgs]}


def matches(obj: dict) -> bool:
    return False  # identical shape to openai: such lines are read by miner.writers.openai


def read(obj: dict) -> Conversation:
    return _openai.read(obj)
