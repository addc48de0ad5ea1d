"""Google Gemini through the official `google-genai` SDK (the Gemini Developer API key from
AI Studio: GEMINI_API_KEY or GOOGLE_API_KEY).

The SDK's own retries are switched off (HttpRetryOptions(attempts=1)); llm.executor retries,
so every HTTP request is counted. Structured output: response_mime_type application/json plus
response_json_schema; answers are validated by the caller anyway.
"""
from __future__ import annotations

import os
from urllib.parse import urlparse

from miner.errors import NeedsKeyError, ProviderError

from .base import Completion, Provider, Request, RequestRejected, Transient, Usage, strip_userinfo
from .openai_provider import is_local_url
from .ratelimit import parse_retry_after

GOOGLE_HOST = "generativelanguage.googleapis.com"


def _transport_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = []
    for mod in ("httpx", "httpx2", "aiohttp"):
        try:
            m = __import__(mod)
        except ImportError:
            continue
        for name in ("TransportError", "ClientError"):
            cls = getattr(m, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                errs.append(cls)
    import asyncio

    errs.append(asyncio.TimeoutError)
    errs.append(ConnectionError)
    return tuple(errs)


class GeminiProvider(Provider):
    name = "gemini"
    supports_schema = True
    default_concurrency = 4

    def __init__(self, model: str = "", base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, **_):
        super().__init__(model or "gemini-2.5-flash", base_url)
        host = (urlparse(base_url).hostname or "") if base_url else GOOGLE_HOST
        self.is_local = is_local_url(base_url)
        if self.is_local:
            self.default_concurrency = 2
        self.label = f"gemini ({self.model})" + (f" at {host}" if base_url else "")
        # GOOGLE_API_KEY wins over GEMINI_API_KEY, as in the SDK itself.
        key = api_key or os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY") or ""
        if not key:
            if not base_url or host == GOOGLE_HOST:
                raise NeedsKeyError(
                    "no Gemini API key found: set it with `export GEMINI_API_KEY=...` (create one at "
                    "https://aistudio.google.com/apikey), or leave out --provider to run offline")
            key = "not-needed"
        self._secrets = [key] if key != "not-needed" else []
        from google import genai
        from google.genai import errors, types

        self._types = types
        self._errors = errors
        self._transport = _transport_errors()
        opts = types.HttpOptions(timeout=int(timeout * 1000), retry_options=types.HttpRetryOptions(attempts=1))
        if base_url:
            opts.base_url = base_url
        self._client = genai.Client(api_key=key, http_options=opts)
        self.use_schema = True
        self.downgrades: list[str] = []

    async def aclose(self) -> None:
        try:
            await self._client.aio.aclose()
        except Exception:
            pass

    async def complete(self, request: Request) -> Completion:
        while True:
            used = self.use_schema
            try:
                return await self._call(request, used)
            except self._errors.ClientError as e:
                if e.code == 400 and request.schema is not None and used and "schema" in str(e.message).lower():
                    if self.use_schema:
                        self.use_schema = False
                        self.downgrades.append("Gemini refused the answer schema; asked for plain JSON instead "
                                               "(answers are still checked)")
                    continue
                raise self._client_error(e) from None

    def _config(self, request: Request, use_schema: bool):
        t = self._types
        kw: dict = {"temperature": request.temperature, "max_output_tokens": request.max_output_tokens}
        if request.system:
            kw["system_instruction"] = request.system
        if request.schema is not None:
            kw["response_mime_type"] = "application/json"
            if use_schema:
                kw["response_json_schema"] = request.schema
        return t.GenerateContentConfig(**kw)

    async def _call(self, request: Request, use_schema: bool) -> Completion:
        t = self._types
        contents = [t.Content(role="model" if r == "assistant" else "user", parts=[t.Part(text=c)])
                    for r, c in request.messages]
        try:
            resp = await self._client.aio.models.generate_content(model=self.model, contents=contents,
                                                                  config=self._config(request, use_schema))
        except self._errors.ServerError as e:
            raise Transient(self._describe(e), e.code, _retry_after(e)) from None
        except self._errors.ClientError as e:
            if e.code in (408, 429):
                raise Transient(self._describe(e), e.code, _retry_after(e)) from None
            raise
        except self._errors.APIError as e:
            raise Transient(self._describe(e), e.code, _retry_after(e)) from None
        except self._transport as e:
            where = strip_userinfo(self.base_url or GOOGLE_HOST)
            raise Transient(f"cannot reach {where} ({self.scrub(str(e))[:200]})") from None
        except ValueError as e:  # a garbled body
            raise Transient(f"the server sent a response miner cannot read ({self.scrub(str(e))[:120]})") from None
        text = resp.text or ""
        finish = ""
        if resp.candidates:
            fr = resp.candidates[0].finish_reason
            finish = str(getattr(fr, "value", fr) or "")
        elif resp.prompt_feedback is not None and resp.prompt_feedback.block_reason:
            raise RequestRejected(f"Gemini blocked the prompt ({resp.prompt_feedback.block_reason})")
        if finish in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "RECITATION") and not text:
            raise RequestRejected(f"Gemini blocked the answer ({finish.lower()})")
        u = resp.usage_metadata
        usage = Usage(0, 0)
        if u is not None:
            # Thinking tokens are billed as output.
            usage = Usage(int(u.prompt_token_count or 0),
                          int(u.candidates_token_count or 0) + int(u.thoughts_token_count or 0))
        return Completion(text=text, usage=usage, finish_reason=finish, model=self.model)

    def _client_error(self, e) -> ProviderError:
        if e.code in (401, 403):
            return ProviderError(f"Gemini refused the API key ({e.code} {e.status}): {self._describe(e)}; "
                                 "check GEMINI_API_KEY")
        if e.code == 404:
            return ProviderError(f"Gemini model {self.model!r} not found ({self._describe(e)}); check --model")
        return RequestRejected(self._describe(e))

    def _describe(self, e) -> str:
        return self.scrub(f"{e.code} {e.status or ''} {e.message or ''}".strip())[:300]


def _retry_after(e) -> float | None:
    resp = getattr(e, "response", None)
    return parse_retry_after(getattr(resp, "headers", None)) if resp is not None else None
