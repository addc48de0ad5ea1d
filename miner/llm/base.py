"""The provider interface of the LLM layer: what synthesis asks (Request), what comes back
(Completion, Usage), and the two ways a call can fail (Transient: try again later; anything
else raised as a ProviderError: stop or fall back).

    synth / llm_chunker  ->  Executor (cache, retries, limits)  ->  Provider.complete(Request)

A provider implements one method, `complete`, and states its capabilities as attributes.
Keys live only inside the provider object; `scrub` removes them from any text that leaves it.
"""
from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from miner.errors import ProviderError


@dataclass(frozen=True)
class Request:
    """One call: a system prompt, the conversation so far, and optionally the JSON schema the
    answer must follow. `offline` is the deterministic answer the offline provider returns
    (and what synthesis falls back to when a model never produces usable output)."""

    system: str
    messages: tuple[tuple[str, str], ...]  # (role, content), ending with the user turn
    schema: dict | None = None
    schema_name: str = "answer"
    temperature: float = 0.7
    max_output_tokens: int = 1024
    offline: Any = None  # not part of the request identity (see `fingerprint`)

    @staticmethod
    def simple(system: str, prompt: str, **kw) -> "Request":
        return Request(system=system, messages=(("user", prompt),), **kw)

    @property
    def prompt(self) -> str:
        return self.messages[-1][1] if self.messages else ""

    def fingerprint(self) -> str:
        """sha256 of exactly what is sent to the model (never the key or the endpoint)."""
        payload = {
            "system": self.system,
            "messages": [list(m) for m in self.messages],
            "schema": self.schema,
            "schema_name": self.schema_name,
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
        }
        return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass
class Completion:
    text: str  # the raw answer text ("" when the model returned nothing)
    usage: Usage = field(default_factory=Usage)
    data: Any = None  # parsed JSON, when the provider could parse it (validated by the caller)
    finish_reason: str = ""
    model: str = ""


class Transient(Exception):
    """A failure worth retrying: rate limit (429), server error (5xx), dropped connection,
    timeout, a garbled response body. `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RequestRejected(ProviderError):
    """The provider refused this one request (400: too long, content filter, ...). Other
    requests may still work, so synthesis falls back for this passage and goes on."""


class Provider(abc.ABC):
    """An LLM behind one awaitable call. Subclasses set the capability attributes."""

    name: str = ""  # "openai", "gemini", "offline"
    label: str = ""  # shown in the summary
    supports_schema: bool = False  # structured output (JSON schema) on the wire
    is_offline: bool = False  # no network, no cost
    is_local: bool = False  # a server on this machine / LAN (no price, low concurrency)
    default_concurrency: int = 1

    def __init__(self, model: str = "", base_url: str | None = None):
        self.model = model
        self.base_url = base_url
        self._secrets: list[str] = []

    @abc.abstractmethod
    async def complete(self, request: Request) -> Completion:
        """Send one request. Raise Transient for retryable failures, RequestRejected when this
        request cannot succeed, ProviderError (e.g. NeedsKeyError) when no request can."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""

    def identity(self) -> str:
        """What makes answers from this provider distinct, for the cache key: name, model and
        endpoint (without any credentials in it)."""
        return f"{self.name}|{self.model}|{strip_userinfo(self.base_url or '')}"

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)


_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),  # OpenAI-style keys
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[A-Za-z0-9._\-]{8,}"),
]


def scrub(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` with known secrets and anything shaped like an API key replaced by `***`."""
    if not text:
        return text
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    for pat in _KEY_PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def strip_userinfo(url: str) -> str:
    """http://user:pass@host/v1 -> http://host/v1 (credentials never reach keys or logs)."""
    return re.sub(r"(?<=://)[^/@]*@", "", url)
