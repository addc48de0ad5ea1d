"""The call path under synthesis (llm.executor) and the providers, through the real SDKs and the
loopback server: retries honour Retry-After, the cache key separates models and templates,
the budget is checked before spending, failures are classified the way a user needs."""
from __future__ import annotations

import asyncio
import json

import pytest

from llm_server import LLMServer, Reply
from miner.errors import NeedsKeyError, ProviderError
from miner.llm import get_provider
from miner.llm.base import Request, RequestRejected, Transient
from miner.llm.cache import Store
from miner.llm.executor import BudgetStop, CallSettings, Executor, Unavailable
from miner.llm.pricing import Price
from miner.llm.ratelimit import Backoff, RateLimiter

KEY = "sk-test-SECRET-abc123"


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv
SCHEMA = {"type": "object", "properties": {"brief": {"type": "string"}}, "required": ["brief"]}


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self):
        return self.t

    async def sleep(self, s):
        self.slept.append(s)
        self.t += s


def openai(srv, model="gpt-4o-mini"):
    return get_provider("openai", model=model, base_url=srv.openai_url, api_key=KEY)


def executor(provider, store=None, price=None, **kw) -> tuple[Executor, FakeClock]:
    clock = FakeClock()
    ex = Executor(provider, store, price, CallSettings(backoff=Backoff(base=0.5), **kw))
    ex.sleep = clock.sleep
    ex.limiter = RateLimiter(kw.get("rpm"), kw.get("tpm"), clock=clock, sleep=clock.sleep)
    return ex, clock


def go(coro):
    return asyncio.run(coro)


def test_retry_after_is_the_wait_and_exponential_backoff_otherwise(llm_server):
    llm_server.queue(Reply.error(429, retry_after=7), Reply.error(500), Reply.error(502))
    ex, clock = executor(openai(llm_server))
    res = go(ex.call(Request.simple("s", "p"), "t@1"))
    assert res.completion.text.startswith("Plain answer")
    assert clock.slept[0] == 7.0  # the server's Retry-After
    assert 0.75 <= clock.slept[1] <= 1.0 and 1.5 <= clock.slept[2] <= 2.0  # then doubling (base 0.5 s)
    assert ex.stats.requests == 4 and ex.stats.retries == 3
    # every attempt is one HTTP request: the SDK's own retries are off
    assert llm_server.count() == 4


def test_gives_up_after_the_per_call_retries(llm_server):
    llm_server.responder = lambda r: Reply.error(503)
    ex, _ = executor(openai(llm_server), retries=2)
    with pytest.raises(Unavailable, match="3 tries failed"):
        go(ex.call(Request.simple("s", "p"), "t@1"))
    assert llm_server.count() == 3


def test_dropped_connection_is_transient(llm_server):
    llm_server.queue(Reply(drop=True))
    ex, _ = executor(openai(llm_server))
    go(ex.call(Request.simple("s", "p"), "t@1"))
    assert ex.stats.retries == 1 and llm_server.count() == 2


def test_cache_key_separates_model_template_and_request(llm_server, tmp_path):
    store = Store(str(tmp_path / "c.sqlite3"))
    req = Request.simple("s", "p", schema=SCHEMA)
    for model, tid in [("a", "t@1"), ("b", "t@1"), ("a", "t@2"), ("a", "t@1")]:
        ex, _ = executor(openai(llm_server, model), store)
        go(ex.call(req, tid))
    assert llm_server.count() == 3  # the 4th is the 1st again: cached
    ex, _ = executor(openai(llm_server, "a"), store)
    go(ex.call(Request.simple("s", "p2", schema=SCHEMA), "t@1"))
    assert llm_server.count() == 4
    store.close()


def test_budget_is_checked_before_the_call(llm_server):
    ex, _ = executor(openai(llm_server), price=Price(1000.0, 1000.0), max_cost=0.05)
    req = Request.simple("s", "a prompt of a few tokens", max_output_tokens=100)
    _, est = ex.estimate(req, 10)
    assert est > 0
    llm_server.responder = lambda r: Reply.openai("ok", prompt_tokens=20, completion_tokens=10)
    go(ex.call(req, "t@1", expect_output=10))  # $0.03
    with pytest.raises(BudgetStop):
        go(ex.call(Request.simple("s", "another prompt"), "t@1", expect_output=10))
    assert llm_server.count() == 1 and ex.stats.cost == pytest.approx(0.03)


def test_structured_output_request_shapes(llm_server, monkeypatch):
    llm_server.responder = lambda r: Reply.for_api(r.api, json.dumps({"brief": "b"}))
    p = openai(llm_server)
    go(p.complete(Request.simple("sys", "hi", schema=SCHEMA, max_output_tokens=50)))
    body = llm_server.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["max_tokens"] == 50  # compatible servers know max_tokens
    assert body["response_format"]["json_schema"]["schema"]["additionalProperties"] is False
    g = get_provider("gemini", model="gemini-2.5-flash", base_url=llm_server.url, api_key=KEY)
    c = go(g.complete(Request.simple("sys", "hi", schema=SCHEMA, max_output_tokens=50)))
    gbody = llm_server.requests[-1].body
    assert gbody["generationConfig"]["maxOutputTokens"] == 50
    assert gbody["systemInstruction"]["parts"][0]["text"] == "sys"
    assert json.loads(c.text) == {"brief": "b"}


def test_gemini_thinking_tokens_are_billed_as_output(llm_server):
    body = Reply.gemini("x", 10, 5).body
    body["usageMetadata"]["thoughtsTokenCount"] = 40
    llm_server.queue(Reply(body=body))
    g = get_provider("gemini", base_url=llm_server.url, api_key=KEY)
    c = go(g.complete(Request.simple("", "hi")))
    assert (c.usage.input_tokens, c.usage.output_tokens) == (10, 45)


@pytest.mark.parametrize("status,exc,match", [
    (401, ProviderError, "refused the API key"),
    (404, ProviderError, "not found"),
    (400, RequestRejected, "too long"),
    (429, Transient, "429"),
    (500, Transient, "500"),
])
def test_errors_are_classified_for_both_providers(llm_server, status, exc, match):
    for api in ("openai", "gemini"):
        llm_server.queue(Reply.error(status, f"too long {KEY}", api=api))
        p = openai(llm_server) if api == "openai" else get_provider("gemini", base_url=llm_server.url, api_key=KEY)
        with pytest.raises(exc, match=match) as e:
            go(p.complete(Request.simple("", "hi")))
        assert "SECRET" not in str(e.value)


def test_key_lookup(monkeypatch, llm_server):
    with pytest.raises(NeedsKeyError, match="OPENAI_API_KEY"):
        get_provider("openai")
    with pytest.raises(NeedsKeyError, match="GEMINI_API_KEY"):
        get_provider("gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key")
    assert get_provider("gemini").name == "gemini"
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_url)
    p = get_provider("openai", model="local")  # a non-OpenAI endpoint needs no key
    assert p.is_local and p.default_concurrency == 2
    go(p.complete(Request.simple("", "hi")))
    assert llm_server.requests[-1].headers["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize("api", ["openai", "gemini"])
def test_garbled_response_body_is_retried(llm_server, api):
    llm_server.queue(Reply(body="<html>502 Bad Gateway</html>"))
    llm_server.responder = lambda r: Reply.for_api(r.api, "fine")
    p = openai(llm_server) if api == "openai" else get_provider("gemini", base_url=llm_server.url, api_key=KEY)
    ex, _ = executor(p)
    res = go(ex.call(Request.simple("", "hi"), "t@1"))
    assert res.completion.text == "fine" and ex.stats.retries == 1 and llm_server.count() == 2
