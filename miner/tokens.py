"""Exact o200k_base token counts (the encoding of gpt-4o / gpt-4.1), fully offline.

tiktoken would download its BPE file on first use; we ship the file (miner/data/, the same
bytes tiktoken expects, checked by sha256) and build the Encoding from it, so nothing is ever
fetched at run time.
"""
from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import threading
from importlib import resources

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

# Copied from tiktoken_ext.openai_public.o200k_base (tiktoken 0.14).
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


_lock = threading.Lock()


def encoding():
    """The o200k_base tiktoken Encoding, built once from the bundled file (thread-safe: threads
    of a library caller, or the review server's, may ask first at the same time)."""
    with _lock:
        return _build()


@functools.lru_cache(maxsize=1)
def _build():
    import tiktoken

    raw = gzip.decompress(resources.files("miner.data").joinpath("o200k_base.tiktoken.gz").read_bytes())
    if hashlib.sha256(raw).hexdigest() != O200K_SHA256:  # pragma: no cover - packaging error
        raise RuntimeError("bundled o200k_base.tiktoken is corrupt; reinstall miner")
    ranks = {}
    for line in raw.splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    return tiktoken.Encoding(
        name="o200k_base",
        pat_str=_O200K_PAT,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    )


def count(text: str) -> int:
    """Tokens in `text`; special-token strings in user text are counted as plain text."""
    if not text:
        return 0
    return len(encoding().encode_ordinary(text))


@functools.lru_cache(maxsize=256)
def _count_short(text: str) -> int:
    # roles, names and system prompts repeat on every message: one encode each, not one per message
    return count(text)


def count_messages(messages) -> int:
    """Tokens of a chat example the way OpenAI bills it (cookbook method): 3 per message,
    the content and name, plus 3 for the assistant priming. Accepts Message objects or dicts."""
    total = 3
    for m in messages:
        if isinstance(m, dict):
            role, content, name = m.get("role", ""), m.get("content"), m.get("name")
        else:
            role, content, name = m.role, m.content, None
        total += 3 + _count_short(role or "")
        if isinstance(content, str):
            # a --system prompt is the same on every example: count it once
            total += _count_short(content) if role == "system" else count(content)
        elif content is not None:
            import orjson

            total += count(orjson.dumps(content).decode())
        if name:
            total += 1 + _count_short(str(name))
    return total
