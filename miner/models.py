"""The data model shared by every stage. Data only: no I/O, no imports from the rest of miner.

Chat side:  parsers yield Conversation (or Skip);  transforms map Conversation -> Conversation;
            retry collapse may also produce Preference pairs.
Prose side: parsers yield Document (or Skip);  the chunker turns a Document into Chunks;
            synthesis turns Chunks into Conversations (the author's text is the assistant turn).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Message:
    role: str  # one of ROLES
    content: str
    weight: int | None = None  # OpenAI per-assistant training weight (0/1); None = trained on

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.weight is not None:
            d["weight"] = self.weight
        return d

    def __reduce__(self):
        # Messages cross to worker processes by the hundred thousand (miner.parallel): as a
        # constructor call they pickle in half the time of the default (a __dict__ per message).
        return (Message, (self.role, self.content, self.weight))


@dataclass
class Conversation:
    """A linear thread of messages: one training example in the making."""

    messages: list[Message]
    id: str = ""
    title: str = ""
    source: str = ""  # where it came from: "export.zip!conversations.json"
    created: float | None = None  # epoch seconds
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Preference:
    """A preference (DPO) pair. `prompt` ends with the user turn both answers reply to."""

    prompt: list[Message]
    chosen: Message
    rejected: Message
    id: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skip:
    """Something that could not be used. Stages yield it instead of raising, so one broken
    conversation or file never sinks a run; the summary counts skips by `reason`."""

    reason: str  # short class shown in the summary, e.g. "no assistant turn"
    where: str  # file, and conversation id / line / note where known
    detail: str = ""  # the specifics, for --verbose and the skip log


# ---- prose side -------------------------------------------------------------------------

@dataclass
class Block:
    """A structural unit of a document's body.

    kind: "heading" (level 1 = chapter/part, 2+ = section), "paragraph", "break" (a scene
    break such as *** or a centred ornament; its text is not body text) or "page" (a page
    break; no text).
    """

    kind: str
    text: str = ""
    level: int = 0


@dataclass
class Document:
    title: str
    source: str
    blocks: list[Block]
    meta: dict[str, Any] = field(default_factory=dict)  # front matter, tags, dates, ...


@dataclass
class Chunk:
    """A passage of an author's own prose, verbatim. `section` is the heading path."""

    text: str
    source: str
    document: str
    section: list[str]
    index: int
    tokens: int
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "text": self.text,
            "source": self.source,
            "document": self.document,
            "section": self.section,
            "index": self.index,
            "tokens": self.tokens,
        }
        if self.meta:
            d["meta"] = self.meta
        return d
