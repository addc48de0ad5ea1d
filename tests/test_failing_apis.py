"""APIs that fail the way real ones do, through the real openai and google-genai SDKs against
the loopback server: about one request in three answered with 429 or 500, a connection reset,
a timeout, a garbled body, or an empty answer (no choices / no candidates).

What an author relies on: the run completes with every passage in order (or, when failures
outlast the retry budget, stops with a clear message saying what is left and how to finish,
exit code 1, nothing under the output name); and the money is counted right: tokens and cost
are the sum of the usage of the answers that actually came back, no more (compared with the
server's own ledger and with the cache's record).
"""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

import orjson
import pytest
from click.testing import CliRunner

from llm_server import LLMServer, Recorded, Reply, schema_responder
from miner import synth as synth_mod
from miner.cli import cli
from miner.llm.base import Usage
from miner.llm.pricing import Price
from miner.synth import SynthOptions, SynthStopped

KEY = "sk-test-failing-apis-0123456789"
PRICE = Price(input=1000.0, output=2000.0)  # USD per 1M tokens: big enough that a wrong count shows
FAILURES = ("429", "empty", "500", "reset", "garbled", "timeout")
TIMEOUT = 2.0  # seconds; far above a loopback answer even on a busy machine


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


@dataclass
class Ledger:
    """What the server gave out: usage of every answer the client could read, by kind."""

    billed: Usage = field(default_factory=Usage)
    kinds: dict[str, int] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)  # requests that got a usable answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, usage: Usage | None = None, digest: str = "") -> None:
        with self.lock:
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if usage is not None:
                self.billed = self.billed + usage
            if digest:
                self.answered.add(digest)


def _usage(api: str, body: dict) -> Usage:
    if api == "gemini":
        u = body["usageMetadata"]
        return Usage(u["promptTokenCount"], u["candidatesTokenCount"])
    return Usage(body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"])


def chaotic(api: str, ledger: Ledger, every: int = 3):
    """One request in `every` fails (every=2: half of them), the failure kinds in turn."""
    lock = threading.Lock()
    counter = [0]

    def responder(r: Recorded) -> Reply:
        with lock:
            n = counter[0]
            counter[0] += 1
        fails = n % every == every - 1
        kind = FAILURES[(n // every) % len(FAILURES)]
        if not fails:
            reply = schema_responder(r)
            ledger.note("ok", _usage(api, reply.body), r.digest)
            return reply
        if kind != "empty":
            ledger.note(kind)
        if kind == "429":
            return Reply.error(429, "rate limited", retry_after=0, api=api)
        if kind == "500":
            return Reply.error(500, "internal error", api=api)
        if kind == "reset":
            return Reply(drop=True)
        if kind == "timeout":  # an answer that comes after the client gave up: never received, never billed
            late = schema_responder(r)
            late.delay = TIMEOUT * 3
            return late
        if kind == "garbled":
            return Reply(status=200, body='{"choices": [{"message": {"content": "trunc')
        # "empty": a 200 with usage but no answer (OpenAI: no choices; Gemini: no candidates)
        if api == "gemini":
            body = {"usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 0, "totalTokenCount": 7}}
        else:
            body = {"id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini", "choices": [],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7}}
        ledger.note("empty", _usage(api, body))  # the provider bills it: so must we
        return Reply(status=200, body=body)

    return responder


def chunks(path, n: int) -> list[str]:
    texts = [f"Passage {i}: the ferry's horn sounded {i} times across the water, and the lamps came on."
             for i in range(n)]
    path.write_bytes(b"".join(orjson.dumps({"text": t, "source": "b.md", "document": "B", "section": ["One"],
                                            "index": i, "tokens": 25}) + b"\n" for i, t in enumerate(texts)))
    return texts


def opts(api: str, srv: LLMServer, tmp_path, **kw) -> SynthOptions:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  gpt-4o-mini: {input: 1000, output: 2000}\n  gemini-2.5-flash: {input: 1000, output: 2000}\n")
    base = srv.openai_url if api == "openai" else srv.url
    return SynthOptions(provider=api, base_url=base, model="gpt-4o-mini" if api == "openai" else "gemini-2.5-flash",
                        prices=str(prices), cache=str(tmp_path / "cache.sqlite3"), timeout=TIMEOUT, backoff=0.001,
                        concurrency=2, **kw)


@pytest.mark.parametrize("api", ["openai", "gemini"])
def test_one_in_three_requests_failing_the_run_completes_and_costs_add_up(api, tmp_path, llm_server, keys):
    ledger = Ledger()
    llm_server.responder = chaotic(api, ledger)
    src = tmp_path / "chunks.jsonl"
    texts = chunks(src, 14)
    out = tmp_path / "out.jsonl"
    s = synth_mod.synth([str(src)], str(out), opts(api, llm_server, tmp_path, retries=8))

    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == texts  # complete, in order
    assert {"ok", *FAILURES} <= set(ledger.kinds), ledger.kinds
    assert sum(ledger.kinds.values()) == llm_server.count() == s.counts["LLM requests sent"]
    # tokens and cost: exactly the usage of the answers that came back
    assert s.counts["input tokens"] == ledger.billed.input_tokens
    assert s.counts["output tokens"] == ledger.billed.output_tokens
    assert s.info["cost"] == f"${PRICE.cost(ledger.billed):.4f}"
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        cached_cost, tin, tout = db.execute("SELECT SUM(cost), SUM(input_tokens), SUM(output_tokens) FROM calls").fetchone()
    assert (tin, tout) == (ledger.billed.input_tokens, ledger.billed.output_tokens)
    assert cached_cost == pytest.approx(PRICE.cost(ledger.billed))

    # the same command again: everything from the cache, nothing asked, nothing paid
    before = llm_server.count()
    s2 = synth_mod.synth([str(src)], str(tmp_path / "again.jsonl"), opts(api, llm_server, tmp_path))
    assert llm_server.count() == before and s2.info["cost"] == "$0.0000"
    assert (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()


@pytest.mark.parametrize("api", ["openai", "gemini"])
def test_failures_beyond_the_retry_budget_stop_cleanly_and_say_what_is_left(api, tmp_path, llm_server, keys):
    """Half of all requests fail: the run-wide retry budget runs out. The CLI says so in one
    message (what is done, what is left, how to finish), exits 1, writes nothing under the
    output name; what was paid for is counted and cached, and the same command with a bigger
    budget finishes without asking for it again."""
    ledger = Ledger()
    llm_server.responder = chaotic(api, ledger, every=2)
    src = tmp_path / "chunks.jsonl"
    texts = chunks(src, 20)
    out = tmp_path / "out.jsonl"
    o = opts(api, llm_server, tmp_path, retries=2, retry_budget=4)
    o.concurrency = 1  # so that no answer is on its way when the run stops
    with pytest.raises(SynthStopped) as e:
        synth_mod.synth([str(src)], str(out), o)
    msg = str(e.value)
    assert "run the same command again" in msg and "passages read so far" in msg, msg
    assert not out.exists()
    s = e.value.summary
    assert s.counts["input tokens"] == ledger.billed.input_tokens
    assert s.info["cost"] == f"${PRICE.cost(ledger.billed):.4f}"
    answered = set(ledger.answered)
    assert answered  # some were paid for before the stop

    llm_server.responder = schema_responder  # the outage is over
    before = llm_server.count()
    synth_mod.synth([str(src)], str(out), opts(api, llm_server, tmp_path))
    # a request is asked again only if no usable answer to it ever arrived
    assert not {r.digest for r in llm_server.requests[before:]} & answered
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == texts


def test_cli_stop_at_the_retry_budget_exits_non_zero(tmp_path, llm_server, keys):
    llm_server.responder = lambda r: Reply.error(503, "overloaded")
    src = tmp_path / "chunks.jsonl"
    chunks(src, 5)
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(cli, ["synth", str(src), "-o", str(out), "--provider", "openai", "--base-url",
                                   llm_server.openai_url, "--retries", "2", "--cache", str(tmp_path / "c.sqlite3")])
    text = " ".join((res.output + (res.stderr or "")).split())
    assert res.exit_code == 1, text
    assert "kept failing" in text and "run the same command again" in text and "Traceback" not in text
    assert not out.exists()
    assert KEY not in text
