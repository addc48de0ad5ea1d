"""OpenAI, and every server that speaks its chat-completions API (Ollama, vLLM, llama.cpp,
LM Studio, ...), through the official `openai` SDK.

Retries are ours (llm.executor), so the SDK's are off (max_retries=0) and every HTTP request
is counted. Structured output uses response_format json_schema (strict); a server that
rejects it is asked again with json_object, then with no response_format at all, and the
answer is always validated by the caller.
"""
from __future__ import annotations

import json
import os
import re
from urllib.parse import urlparse

from miner.errors import NeedsKeyError, ProviderError

from .base import Completion, Provider, Request, RequestRejected, Transient, Usage, strip_userinfo
from .ratelimit import parse_retry_after

OPENAI_HOST = "api.openai.com"
PLACEHOLDER_KEY = "not-needed"  # OpenAI-compatible local servers ignore the key but the SDK wants one
SCHEMA_MODES = ("json_schema", "json_object", "none")
_REASONING = re.compile(r"^(o\d|gpt-5)")  # models that reject a temperature other than the default


def is_local_url(url: str | None) -> bool:
    host = (urlparse(url).hostname or "") if url else ""
    if host in ("localhost", "0.0.0.0", "::1", "host.docker.internal") or host.endswith(".local"):
        return True
    if re.match(r"^127\.|^10\.|^192\.168\.|^172\.(1[6-9]|2\d|3[01])\.", host):
        return True
    return False


class OpenAIProvider(Provider):
    name = "openai"
    supports_schema = True

    def __init__(self, model: str = "", base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, **_):
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        super().__init__(model or "gpt-4o-mini", base_url)
        host = (urlparse(base_url).hostname or "") if base_url else OPENAI_HOST
        self.where = strip_userinfo(base_url) if base_url else OPENAI_HOST  # for messages
        self.official = host == OPENAI_HOST
        self.is_local = is_local_url(base_url)
        self.default_concurrency = 8 if self.official else 2
        self.label = f"openai ({self.model})" if self.official else f"openai-compatible server {host} ({self.model})"
        key = api_key or os.environ.get("OPENAI_API_KEY") or ""
        if not key:
            if self.official:
                raise NeedsKeyError(
                    "no OpenAI API key found: set it with `export OPENAI_API_KEY=sk-...` (create one at "
                    "https://platform.openai.com/api-keys), or use --base-url for a local OpenAI-compatible "
                    "server such as Ollama (http://localhost:11434/v1), or leave out --provider to run offline")
            key = PLACEHOLDER_KEY
        self._secrets = [key] if key != PLACEHOLDER_KEY else []
        self.schema_mode = "json_schema"
        self.downgrades: list[str] = []  # notes for the summary
        import openai

        self._openai = openai
        self._client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: Request) -> Completion:
        while True:
            mode = self.schema_mode
            try:
                return await self._call(request, mode)
            except self._openai.BadRequestError as e:
                if request.schema is not None and self._downgrade(e, mode):
                    continue
                raise RequestRejected(self._describe(e)) from None

    def _downgrade(self, e, used: str) -> bool:
        """A 400 that blames response_format: ask in a simpler way (for servers without
        json_schema support). Returns False when there is nothing simpler left to try."""
        msg = str(getattr(e, "message", "") or e).lower()
        if not any(w in msg for w in ("response_format", "json_schema", "schema", "json_object", "structured")):
            return False
        if used != self.schema_mode:  # a concurrent call already stepped down
            return True
        i = SCHEMA_MODES.index(self.schema_mode)
        if i + 1 >= len(SCHEMA_MODES):
            return False
        self.schema_mode = SCHEMA_MODES[i + 1]
        self.downgrades.append(f"the server at {self.where} refused structured output; "
                               f"asked with response_format={self.schema_mode} instead (answers are still checked)")
        return True

    def _body(self, request: Request, mode: str) -> dict:
        msgs = ([{"role": "system", "content": request.system}] if request.system else [])
        msgs += [{"role": r, "content": c} for r, c in request.messages]
        kw: dict = {"model": self.model, "messages": msgs}
        if not (self.official and _REASONING.match(self.model)):
            kw["temperature"] = request.temperature
        # OpenAI wants max_completion_tokens (reasoning models refuse max_tokens); most
        # compatible servers only know max_tokens.
        kw["max_completion_tokens" if self.official else "max_tokens"] = request.max_output_tokens
        if request.schema is not None:
            from miner.prompts import strict_schema

            if mode == "json_schema":
                kw["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": request.schema_name, "schema": strict_schema(request.schema), "strict": True}}
            elif mode == "json_object":
                kw["response_format"] = {"type": "json_object"}
        return kw

    async def _call(self, request: Request, mode: str) -> Completion:
        oa = self._openai
        try:
            resp = await self._client.chat.completions.create(**self._body(request, mode))
        except (oa.RateLimitError, oa.InternalServerError, oa.ConflictError) as e:
            raise Transient(self._describe(e), e.status_code, parse_retry_after(e.response.headers)) from None
        except oa.APITimeoutError:
            raise Transient("the request timed out") from None
        except oa.APIConnectionError as e:
            raise Transient(f"cannot reach {self.where} ({self.scrub(_cause(e))})") from None
        except (oa.AuthenticationError, oa.PermissionDeniedError) as e:
            raise ProviderError(f"{self.label} refused the API key ({e.status_code}): {self._describe(e)}; "
                                "check OPENAI_API_KEY") from None
        except oa.NotFoundError as e:
            raise ProviderError(f"model {self.model!r} not found at {self.where} "
                                f"({self._describe(e)}); check --model") from None
        except oa.APIStatusError as e:
            if e.status_code in (408, 425) or e.status_code >= 500:
                raise Transient(self._describe(e), e.status_code, parse_retry_after(e.response.headers)) from None
            if e.status_code == 400:
                raise
            raise RequestRejected(self._describe(e)) from None
        except (json.JSONDecodeError, ValueError) as e:
            raise Transient(f"the server sent a response that is not valid JSON ({self.scrub(str(e))[:120]})") from None
        choices = getattr(resp, "choices", None) or []
        msg = choices[0].message if choices else None
        text = (getattr(msg, "content", None) or "") if msg is not None else ""
        finish = (getattr(choices[0], "finish_reason", None) or "") if choices else ""
        if finish == "content_filter":
            raise RequestRejected("the provider's content filter blocked the answer")
        u = getattr(resp, "usage", None)
        usage = Usage(int(getattr(u, "prompt_tokens", 0) or 0), int(getattr(u, "completion_tokens", 0) or 0))
        if u is None:
            usage = _estimate(request, text)
        return Completion(text=text, usage=usage, finish_reason=finish, model=getattr(resp, "model", "") or self.model)

    def _describe(self, e) -> str:
        status = getattr(e, "status_code", None)
        body = getattr(e, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        message = message or getattr(e, "message", None) or str(e)
        return self.scrub(f"HTTP {status}: {message}" if status else str(message))[:300]


def _cause(e: BaseException) -> str:
    c = e.__cause__ or e.__context__
    return str(c) if c else str(e)


def _estimate(request: Request, text: str) -> Usage:
    """Servers that omit `usage` (some local ones) get an o200k estimate."""
    from miner import tokens

    msgs = ([{"role": "system", "content": request.system}] if request.system else [])
    msgs += [{"role": r, "content": c} for r, c in request.messages]
    return Usage(tokens.count_messages(msgs), tokens.count(text))
