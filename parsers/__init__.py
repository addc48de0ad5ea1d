"""Input formats, one module each. Every module exposes:

    NAME   short id ("chatgpt"), shown by `miner inspect`
    KIND   "chat" (yields Conversation) or "document" (yields Document)
    LABEL  what a person calls it ("ChatGPT export")
    sniff(s: Sniff) -> bool
           True if the content (not the file name alone) is this format
    parse(entry: Entry, opts: ParseOptions) -> Iterator[Conversation | Document | Skip]
           lazy; yields Skip for a broken conversation/note and goes on; raises
           InputError only when the whole file is unusable

Detection asks the modules in ORDER; the first that says yes wins, so more specific formats
come first (a DOCX is also a ZIP, a ChatGPT export is also JSON).
"""
from __future__ import annotations

import importlib
import io
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any

from miner.errors import InputError, UnknownFormat
from miner.sources import Entry

ORDER = [
    "chatgpt",
    "claude",
    "chat_jsonl",
    "keep",
    "docx",
    "epub",
    "pdf",
    "rtf",
    "enex",
    "html",
    "markdown",
    "text",
]


@dataclass
class ParseOptions:
    attachments: bool = False  # Claude: include attachments' extracted text in the user turn
    footnotes: bool = False  # DOCX: include footnotes
    extra: dict[str, Any] = field(default_factory=dict)


class Sniff:
    """What detection may look at: the first bytes, the suffix, and (lazily) the first JSON
    value of the file: the first element of a top-level array, the object itself, or the
    first line of a JSONL file."""

    HEAD = 65536

    def __init__(self, entry: Entry):
        self.entry = entry
        self.suffix = entry.suffix
        with entry.open() as f:
            self.head = f.read(self.HEAD)
        h = self.head[3:] if self.head.startswith(b"\xef\xbb\xbf") else self.head
        self.stripped = h.lstrip()

    @cached_property
    def first_json(self) -> Any:
        """The first JSON value, or None. Bounded work: reads at most one array element."""
        from miner.jsonstream import BadElement, NotAnArray, iter_array

        c = self.stripped[:1]
        if c == b"[":
            try:
                with self.entry.open() as f:
                    for item in iter_array(f):
                        return None if isinstance(item, BadElement) else item
            except Exception:
                return None
            return None
        if c == b"{":
            line = self.stripped.split(b"\n", 1)[0]
            try:
                import orjson

                return orjson.loads(line)  # one JSON object per line (JSONL), or a one-line file
            except Exception:
                pass
            if self.entry.size <= 64 * 1024 * 1024:
                try:
                    import orjson

                    with self.entry.open() as f:
                        return orjson.loads(f.read())
                except Exception:
                    return None
        return None

    @cached_property
    def is_jsonl(self) -> bool:
        lines = [ln for ln in self.stripped.split(b"\n")[:3] if ln.strip()]
        if len(lines) < 1 or not lines[0].lstrip().startswith(b"{"):
            return False
        import orjson

        try:
            orjson.loads(lines[0])
            return True
        except Exception:
            return False


def module(name: str) -> ModuleType:
    return importlib.import_module(f"miner.parsers.{name}")


def available() -> list[ModuleType]:
    mods = []
    for name in ORDER:
        try:
            mods.append(module(name))
        except ModuleNotFoundError as e:
            if e.name != f"miner.parsers.{name}":
                raise
    return mods


def detect(entry: Entry, kind: str | None = None) -> ModuleType:
    """The parser module for `entry`, judged by content. Raises UnknownFormat."""
    if entry.size == 0:
        raise UnknownFormat(entry.name, "the file is empty")
    try:
        s = Sniff(entry)
    except OSError as e:
        raise InputError(entry.name, f"cannot read: {e}") from None
    for mod in available():
        if kind and mod.KIND != kind:
            continue
        try:
            if mod.sniff(s):
                return mod
        except Exception:  # a sniffer must never sink detection
            continue
    raise UnknownFormat(entry.name, _describe_unknown(s, kind), _hint(kind))


def _hint(kind: str | None) -> str:
    if kind == "chat":
        return "expected a ChatGPT or Claude export (ZIP or conversations.json) or chat JSONL"
    if kind == "document":
        return "supported: DOCX, PDF, Markdown, text, HTML, EPUB, RTF, ENEX, Google Keep"
    return "run `miner inspect` on it to see what miner recognises"


def _describe_unknown(s: Sniff, kind: str | None) -> str:
    h = s.stripped
    if b"\x00" in s.head[:4096]:
        return "binary content miner cannot read"
    if h[:1] in (b"[", b"{"):
        first = s.first_json
        if isinstance(first, dict):
            if "mapping" in first and "inserted_at" in first:
                return "looks like a DeepSeek export, which miner does not read yet"
            # Keys are the file's own text: one line, and not a whole paragraph each.
            keys = ", ".join(" ".join(k.split())[:40] for k in sorted(first)[:8])
            return f"JSON with keys {keys}: not a format miner knows"
        return "JSON, but not a format miner knows"
    return "not a format miner recognises"


def text_of(data: bytes) -> str:
    """Decode text the way people's files are actually encoded: UTF-8 (with or without BOM),
    UTF-16 with a BOM, else the best guess among legacy code pages.

    Charset detection on a few lines of Windows "Western" text often ranks a neighbouring code
    page first (cp1250, hp_roman8, ...), turning "naïve" into "naďve". When cp1252 is among the
    candidates and reads the bytes about as cleanly as the first guess, cp1252 wins; a file
    that only fits another code page (Polish cp1250, say) keeps its guess."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(data[:1_000_000]))
    except Exception:
        matches = []
    if not matches:
        return data.decode("cp1252", errors="replace")
    best = matches[0]
    for m in matches:
        if m.encoding == "cp1252" and m.chaos <= best.chaos + 0.1:
            return data.decode("cp1252", errors="replace")
    return data.decode(best.encoding, errors="replace")


def looks_binary(data: bytes) -> bool:
    """NUL bytes outside UTF-16 text mean a binary file (an image renamed .txt, say)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    sample = data[:8192]
    return b"\x00" in sample


__all__ = ["ParseOptions", "Sniff", "detect", "available", "module", "text_of", "looks_binary", "io"]
