"""Pure functions from Conversation to Conversation: the clean-up every chat source gets
between parsing and writing. No I/O; each function returns new objects."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from . import tokens
from .models import Conversation, Message


def normalize(messages: Iterable[Message]) -> list[Message]:
    """Trim each message, drop empty ones, and merge consecutive messages of one role (tool
    loops and multi-part answers arrive as several assistant messages in a row)."""
    out: list[Message] = []
    for m in messages:
        text = (m.content or "").strip()
        if not text:
            continue
        if out and out[-1].role == m.role:
            prev = out[-1]
            out[-1] = Message(prev.role, prev.content + "\n\n" + text, prev.weight if prev.weight == m.weight else None)
        else:
            out.append(Message(m.role, text, m.weight))
    return out


def with_system(conv: Conversation, system: str | None) -> Conversation:
    """Put `system` first, replacing any system messages the source had (the user's persona
    prompt should be the same across the whole set)."""
    if not system:
        return conv
    rest = [m for m in conv.messages if m.role != "system"]
    return replace(conv, messages=[Message("system", system)] + rest)


def has_assistant(conv: Conversation) -> bool:
    return any(m.role == "assistant" for m in conv.messages)


def turns(conv: Conversation) -> int:
    """Assistant answers in the conversation (one per exchange)."""
    return sum(1 for m in conv.messages if m.role == "assistant")


def trim_to_trainable(conv: Conversation) -> Conversation:
    """Drop trailing user turns: a training example should end with the answer to learn."""
    msgs = list(conv.messages)
    while msgs and msgs[-1].role != "assistant":
        msgs.pop()
    return replace(conv, messages=msgs)


def passes_filters(conv: Conversation, *, since: float | None = None, until: float | None = None,
                   title_re: re.Pattern | None = None, min_turns: int = 1) -> str | None:
    """None if the conversation is kept, else the reason it is filtered out."""
    if since is not None and (conv.created is None or conv.created < since):
        return "before --since"
    if until is not None and (conv.created is None or conv.created >= until):
        return "after --until"
    if title_re is not None and not title_re.search(conv.title or ""):
        return "title does not match --title-match"
    if turns(conv) < min_turns:
        return "fewer turns than --min-turns"
    return None


def split_long(conv: Conversation, max_tokens: int) -> tuple[list[Conversation], int]:
    """Split an over-long conversation at turn boundaries into windows of at most
    `max_tokens`, each starting with the system prompt (if any) and a user turn.

    Returns (windows, exchanges dropped because a single exchange is over the limit)."""
    system = [m for m in conv.messages if m.role == "system"][:1]
    body = [m for m in conv.messages if m.role != "system"]
    # Exchanges: a user turn (or leading assistant text) plus everything up to the next user.
    exchanges: list[list[Message]] = []
    for m in body:
        if m.role == "user" or not exchanges:
            exchanges.append([m])
        else:
            exchanges[-1].append(m)
    windows: list[list[Message]] = []
    current: list[Message] = []
    dropped = 0
    base = tokens.count_messages(system)
    size = base
    for ex in exchanges:
        if ex[0].role != "user":
            dropped += 1  # an answer with no request cannot open a window
            continue
        cost = tokens.count_messages(ex) - 3  # the priming 3 is already in `base`
        if base + cost > max_tokens:
            dropped += 1
            continue
        if current and size + cost > max_tokens:
            windows.append(current)
            current, size = [], base
        current.extend(ex)
        size += cost
    if current:
        windows.append(current)
    out = []
    for i, w in enumerate(windows):
        c = replace(conv, messages=system + w, id=f"{conv.id}#{i + 1}" if len(windows) > 1 else conv.id)
        c = trim_to_trainable(c)
        if has_assistant(c):
            out.append(c)
    return out, dropped
