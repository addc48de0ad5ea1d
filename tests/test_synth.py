"""`miner synth` end to end: real openai and google-genai clients talking to a loopback server
(tests/llm_server.py), real SQLite cache, real output files.

What a user relies on: the author's passages come out verbatim as the answers; a re-run makes
no calls; a stopped run resumes without paying twice or duplicating lines; costs and limits
are honoured; the API key never lands anywhere."""
from __future__ import annotations

import json
import os

import orjson
import pytest
from click.testing import CliRunner

from llm_server import LLMServer, Recorded, Reply
from miner import synth as synth_mod
from miner.cli import cli
from miner.errors import ConfigError, NeedsKeyError, OutputError, ProviderError
from miner.models import Block, Document
from miner.synth import SynthOptions, SynthStopped

KEY = "sk-test-SECRET-abc123"


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv
PLACES = ["harbour", "lighthouse", "station", "market", "chapel", "orchard", "quarry", "ferry", "mill"]


def make_docs(n_docs: int = 1, chapters: int = 2, scenes: int = 2, paras: int = 2) -> list[Document]:
    """Fiction with chapters and scene breaks; every paragraph distinct (so every request is)."""
    docs = []
    for d in range(n_docs):
        blocks = []
        for c in range(chapters):
            blocks.append(Block("heading", f"Chapter {c + 1}", 1))
            for s in range(scenes):
                if s:
                    blocks.append(Block("break", "* * *"))
                for p in range(paras):
                    place = PLACES[(d + c + s + p) % len(PLACES)]
                    blocks.append(Block("paragraph",
                                        f"Anna walked to the {place} in book {d}, chapter {c}, scene {s}, paragraph {p}. "
                                        f"“Tom,” she said, “wait for me by the {place}.” The rain kept on; Tom did not "
                                        f"answer, and she counted the steps to the {place} door."))
        docs.append(Document(title=f"Book {d}", source=f"book{d}.docx", blocks=blocks))
    return docs


def passages(docs, **kw) -> list[str]:
    from miner.chunking import chunk_document

    return [c.text for d in docs for c in chunk_document(d, min_tokens=kw.get("min_tokens", 20),
                                                           max_tokens=kw.get("max_tokens", 90))]


def run(docs, out, **kw):
    kw.setdefault("min_tokens", 20)
    kw.setdefault("max_tokens", 90)
    kw.setdefault("backoff", 0.001)
    return synth_mod.run(lambda: iter(docs), str(out), SynthOptions(**kw))


def openai_opts(srv: LLMServer, **kw) -> dict:
    return {"provider": "openai", "base_url": srv.openai_url, "model": "gpt-4o-mini", **kw}


def lines(path) -> list[dict]:
    with open(path, "rb") as f:
        return [orjson.loads(x) for x in f if x.strip()]


def answers(path) -> list[str]:
    return [m["content"] for obj in lines(path) for m in obj["messages"] if m["role"] == "assistant"]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


# ---- offline default ---------------------------------------------------------------------------

def test_offline_default_end_to_end_from_a_manuscript_file(tmp_path):
    md = tmp_path / "novel.md"
    md.write_text("# Chapter 1\n\n" + "\n\n".join(
        f"Mara opened the door number {i}. “Who is it?” she asked. Nobody answered the door {i}." for i in range(30))
        + "\n\n# Chapter 2\n\nA short second chapter with one paragraph in it, told by Mara.\n")
    out = tmp_path / "wlm.jsonl"
    res = CliRunner().invoke(cli, ["synth", str(md), "-o", str(out), "--system", "You are Inkwell.",
                                   "--min-tokens", "50", "--max-tokens", "200"])
    assert res.exit_code == 0, res.output
    assert "offline (template-built prompts, no LLM)" in res.output
    rows = lines(out)
    assert len(rows) >= 3
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert row["messages"][0]["content"] == "You are Inkwell."
        assert "$" not in row["messages"][1]["content"]
    body = md.read_text()
    for a in answers(out):  # the author's words, untouched
        for para in a.split("\n\n"):
            assert para in body
    assert not os.path.exists(os.path.join(os.environ["MINER_CACHE_DIR"], "llm-cache.sqlite3"))


def test_offline_output_is_deterministic(tmp_path):
    docs = make_docs()
    run(docs, tmp_path / "a.jsonl")
    run(docs, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert answers(tmp_path / "a.jsonl") == passages(docs)


# ---- OpenAI: structured output, cache, cost -----------------------------------------------------

def test_openai_structured_output_cache_and_cost(tmp_path, llm_server, key):
    docs = make_docs()
    n = len(passages(docs))
    llm_server.responder = lambda r: Reply.openai(json.dumps({"brief": "Write: " + r.prompt[-40:]}),
                                                  prompt_tokens=1000, completion_tokens=100)
    out = tmp_path / "wlm.jsonl"
    s = run(docs, out, **openai_opts(llm_server))
    assert llm_server.count() == n
    for r in llm_server.requests:
        rf = r.body["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
        assert rf["json_schema"]["schema"]["additionalProperties"] is False
        assert r.headers["authorization"] == f"Bearer {KEY}"
    rows = lines(out)
    assert answers(out) == passages(docs)
    assert all(row["messages"][0]["content"].startswith("Write: ") for row in rows)
    # gpt-4o-mini: $0.15 in / $0.60 out per 1M tokens, from the usage the server reported
    assert s.info["cost"] == f"${n * (1000 * 0.15 + 100 * 0.60) / 1e6:.4f}"
    assert s.counts["input tokens"] == 1000 * n and s.counts["output tokens"] == 100 * n

    s2 = run(docs, out, force=True, **openai_opts(llm_server))
    assert llm_server.count() == n  # a re-run makes zero calls
    assert s2.counts["answers from the cache"] == n and s2.info["cost"] == "$0.0000"
    assert lines(out) == rows


def test_concurrency_limit_is_respected(tmp_path, llm_server, key):
    docs = make_docs(chapters=3)
    llm_server.responder = lambda r: Reply(**{**vars(Reply.openai('{"brief": "b"}')), "delay": 0.02})
    run(docs, tmp_path / "o.jsonl", concurrency=2, **openai_opts(llm_server))
    assert llm_server.max_inflight <= 2
    assert llm_server.count() == len(passages(docs))


def test_missing_key_for_openai_says_how_to_fix_it(tmp_path):
    with pytest.raises(NeedsKeyError, match="OPENAI_API_KEY"):
        run(make_docs(), tmp_path / "o.jsonl", provider="openai")
    assert not (tmp_path / "o.jsonl").exists()


def test_local_server_works_without_a_key(tmp_path, llm_server):
    run(make_docs(), tmp_path / "o.jsonl", provider="openai", base_url=llm_server.openai_url, model="llama3.1")
    assert llm_server.requests[0].headers["authorization"] == "Bearer not-needed"
    assert llm_server.requests[0].body["model"] == "llama3.1"


# ---- Gemini ----------------------------------------------------------------------------------------

def test_gemini_structured_output_and_cost(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    docs = make_docs()
    n = len(passages(docs))
    llm_server.responder = lambda r: Reply.gemini(json.dumps({"brief": "Gemini brief"}), 2000, 300)
    s = run(docs, tmp_path / "g.jsonl", provider="gemini", base_url=llm_server.url, model="gemini-2.5-flash")
    assert llm_server.count() == n
    r = llm_server.requests[0]
    assert r.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert r.headers["x-goog-api-key"] == KEY
    gc = r.body["generationConfig"]
    assert gc["responseMimeType"] == "application/json" and gc["responseJsonSchema"]["required"] == ["brief"]
    assert "development editor" in r.system
    assert answers(tmp_path / "g.jsonl") == passages(docs)
    assert s.info["cost"] == f"${n * (2000 * 0.30 + 300 * 2.50) / 1e6:.4f}"


def test_gemini_missing_key(tmp_path):
    with pytest.raises(NeedsKeyError, match="GEMINI_API_KEY"):
        run(make_docs(), tmp_path / "o.jsonl", provider="gemini")


# ---- broken answers -----------------------------------------------------------------------------------

def test_malformed_json_is_retried_once_then_used(tmp_path, llm_server, key):
    seen: dict[str, int] = {}

    def responder(r: Recorded) -> Reply:
        seen[r.digest] = seen.get(r.digest, 0) + 1
        return Reply.openai('{"brief": "half' if seen[r.digest] == 1 else '{"brief": "fixed"}')

    llm_server.responder = responder
    docs = make_docs()
    n = len(passages(docs))
    s = run(docs, tmp_path / "o.jsonl", **openai_opts(llm_server))
    assert llm_server.count() == 2 * n
    assert all(row["messages"][0]["content"] == "fixed" for row in lines(tmp_path / "o.jsonl"))
    assert "answers that never parsed as JSON" not in s.counts
    # the re-run reuses both the broken and the good answer from the cache: no calls
    run(docs, tmp_path / "o.jsonl", force=True, **openai_opts(llm_server))
    assert llm_server.count() == 2 * n


def test_answers_that_never_parse_degrade_gracefully_and_are_counted(tmp_path, llm_server, key):
    docs = make_docs()
    n = len(passages(docs))
    plain = {0}

    def responder(r: Recorded) -> Reply:
        # small local models: plain text for some passages, broken JSON for the others
        if "scene 0" in r.prompt:
            return Reply.openai("Brief: Write the rain scene at the harbour.")
        return Reply.openai('{"brief": ')

    llm_server.responder = responder
    s = run(docs, tmp_path / "o.jsonl", **openai_opts(llm_server))
    rows = lines(tmp_path / "o.jsonl")
    assert len(rows) == n  # never an empty dataset
    assert answers(tmp_path / "o.jsonl") == passages(docs)
    recovered = s.counts["  recovered from plain text"]
    fallback = s.counts["  offline prompt used instead"]
    assert recovered >= 1 and fallback >= 1 and recovered + fallback == n == s.counts["answers that never parsed as JSON"]
    assert sum(row["messages"][0]["content"] == "Write the rain scene at the harbour." for row in rows) == recovered
    assert plain


def test_server_without_json_schema_support_is_asked_more_simply(tmp_path, llm_server, key):
    def responder(r: Recorded) -> Reply:
        if r.body.get("response_format", {}).get("type") == "json_schema":
            return Reply.error(400, "response_format json_schema is not supported by this server")
        return Reply.openai('{"brief": "ok"}')

    llm_server.responder = responder
    s = run(make_docs(), tmp_path / "o.jsonl", **openai_opts(llm_server))
    assert llm_server.requests[-1].body["response_format"] == {"type": "json_object"}
    assert any("refused structured output" in n for n in s.notes)
    assert all(row["messages"][0]["content"] == "ok" for row in lines(tmp_path / "o.jsonl"))


def test_a_refused_request_falls_back_for_that_passage_only(tmp_path, llm_server, key):
    def responder(r: Recorded) -> Reply:
        if "scene 1, paragraph" in r.prompt and "chapter 0" in r.prompt:
            return Reply.error(400, "This model's maximum context length is exceeded")
        return Reply.openai('{"brief": "ok"}')

    llm_server.responder = responder
    docs = make_docs()
    s = run(docs, tmp_path / "o.jsonl", **openai_opts(llm_server))
    assert len(lines(tmp_path / "o.jsonl")) == len(passages(docs))
    assert s.skips["provider refused the request (offline prompt used)"] >= 1


# ---- rate limits and outages -----------------------------------------------------------------------------

def test_429_and_500_storms_are_retried_and_counted(tmp_path, llm_server, key):
    llm_server.queue(*[Reply.error(429, "slow down", retry_after=0)] * 3, *[Reply.error(500)] * 2, Reply.error(503))
    docs = make_docs()
    n = len(passages(docs))
    s = run(docs, tmp_path / "o.jsonl", concurrency=1, retries=6, **openai_opts(llm_server))
    assert llm_server.count() == n + 6
    assert s.counts["retries"] == 6 and s.counts["LLM requests sent"] == n + 6
    assert answers(tmp_path / "o.jsonl") == passages(docs)


def test_gemini_429_is_retried(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    llm_server.queue(Reply.error(429, "quota", retry_after=0, api="gemini"), Reply.error(500, api="gemini"))
    llm_server.responder = lambda r: Reply.gemini('{"brief": "g"}')
    docs = make_docs(chapters=1)
    s = run(docs, tmp_path / "g.jsonl", provider="gemini", base_url=llm_server.url, concurrency=1)
    assert s.counts["retries"] == 2 and llm_server.count() == len(passages(docs)) + 2


def test_server_dies_mid_run_then_resume_never_repeats_answered_calls(tmp_path, llm_server, key):
    docs = make_docs(chapters=3)
    n = len(passages(docs))
    out = tmp_path / "o.jsonl"
    llm_server.die_after(4)
    with pytest.raises(SynthStopped) as e:
        run(docs, out, concurrency=1, retries=1, **openai_opts(llm_server))
    assert "run the same command again" in str(e.value)
    assert not out.exists()  # no partial file under the final name
    first = llm_server.answered()
    assert len(first) == 4
    before = llm_server.count()

    llm_server.revive()
    s = run(docs, out, concurrency=1, retries=1, **openai_opts(llm_server))
    second = llm_server.requests[before:]
    assert not {r.digest for r in second} & first  # nothing that had returned was asked again
    assert len(second) == n - 4 and s.counts["answers from the cache"] == 4
    assert answers(out) == passages(docs)  # every passage once, in order


def test_retry_budget_stops_the_run_cleanly(tmp_path, llm_server, key):
    llm_server.responder = lambda r: Reply.error(503, "overloaded")
    with pytest.raises(SynthStopped, match="retry budget"):
        run(make_docs(), tmp_path / "o.jsonl", retries=50, retry_budget=3, concurrency=1, **openai_opts(llm_server))
    assert llm_server.count() == 4
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_key_stops_at_once_with_the_key_scrubbed(tmp_path, llm_server, key, capsys, caplog):
    caplog.set_level("DEBUG")
    llm_server.responder = lambda r: Reply.error(401, f"Incorrect API key provided: {KEY}. Check it.")
    with pytest.raises(ProviderError) as e:
        run(make_docs(), tmp_path / "o.jsonl", **openai_opts(llm_server))
    assert "refused the API key" in str(e.value) and "SECRET" not in str(e.value)
    assert llm_server.count() <= 2  # concurrency 2: no retries of an auth failure
    captured = capsys.readouterr()
    assert "SECRET" not in captured.out + captured.err + caplog.text


# ---- the API key never lands anywhere -------------------------------------------------------------------

def test_api_key_never_in_output_cache_or_logs(tmp_path, llm_server, key, monkeypatch, caplog):
    caplog.set_level("DEBUG")  # every library's debug logging (openai, httpx2, genai) captured
    cache = tmp_path / "cache.sqlite3"
    llm_server.queue(Reply.error(500, f"upstream said: bad key {KEY}"))
    src = tmp_path / "chunks.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"text": t, "source": "n.md", "document": "N", "section": ["C"],
                                           "index": i, "tokens": 40}) + b"\n"
                             for i, t in enumerate(passages(make_docs()))))
    out = tmp_path / "o.jsonl"
    monkeypatch.setenv("OPENAI_LOG", "debug")
    res = CliRunner().invoke(cli, ["synth", str(src), "-o", str(out), "--provider", "openai", "--base-url",
                                   llm_server.openai_url, "--cache", str(cache), "--retries", "2"])
    assert res.exit_code == 0, res.output
    assert KEY not in res.output  # stdout and stderr
    assert caplog.records and "SECRET" not in caplog.text
    assert KEY.encode() not in out.read_bytes()
    for f in tmp_path.iterdir():
        if f.name.startswith("cache.sqlite3"):
            assert b"SECRET" not in f.read_bytes(), f.name


# ---- dry run and budget ---------------------------------------------------------------------------------

def test_dry_run_makes_no_requests_and_prices_the_run(tmp_path, llm_server, key):
    docs = make_docs()
    n = len(passages(docs))
    s = run(docs, tmp_path / "o.jsonl", dry_run=True, **openai_opts(llm_server))
    assert llm_server.count() == 0 and not (tmp_path / "o.jsonl").exists()
    assert s.counts["LLM calls needed"] == n and s.counts["input tokens (estimate)"] > 0
    assert s.info["estimated cost"].startswith("$") and float(s.info["estimated cost"][1:]) > 0

    run(docs, tmp_path / "o.jsonl", **openai_opts(llm_server))
    s2 = run(docs, tmp_path / "o.jsonl", dry_run=True, **openai_opts(llm_server))
    assert s2.counts["answers already cached (or repeated)"] == n and s2.counts["LLM calls needed"] == 0
    assert s2.info["estimated cost"] == "$0.0000"


def test_dry_run_works_before_a_key_is_set(tmp_path):
    s = run(make_docs(), tmp_path / "o.jsonl", dry_run=True, provider="openai", model="gpt-4o")
    assert any("will need one" in n for n in s.notes)


def test_max_cost_stops_before_the_budget_and_resumes_with_a_higher_one(tmp_path, llm_server, key):
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  pricey: {input: 10000, output: 10000}\n")  # $0.01 per 1k tokens
    llm_server.responder = lambda r: Reply.openai('{"brief": "b"}', prompt_tokens=300, completion_tokens=100)
    docs = make_docs()
    n = len(passages(docs))
    out = tmp_path / "o.jsonl"
    opts = openai_opts(llm_server, model="pricey", prices=str(prices), concurrency=1)
    with pytest.raises(SynthStopped) as e:
        run(docs, out, max_cost=12.5, **opts)  # each call is $4 as reported, estimated a bit more
    msg = str(e.value)
    assert "--max-cost" in msg and "spent $" in msg and "raise --max-cost" in msg
    assert not out.exists()
    done = llm_server.count()
    assert 1 <= done < n
    assert done * 4.0 <= 12.5  # never past the budget
    run(docs, out, max_cost=1000, **opts)
    assert llm_server.count() == n  # the paid answers were not bought twice
    assert answers(out) == passages(docs)


def test_max_cost_needs_a_known_price(tmp_path, llm_server, key):
    with pytest.raises(ConfigError, match="--max-cost needs a price"):
        run(make_docs(), tmp_path / "o.jsonl", max_cost=1, provider="openai", model="mystery-model")


# ---- outputs and resume ---------------------------------------------------------------------------------

def test_existing_output_refused_but_a_forced_run_may_resume_into_it(tmp_path, llm_server, key):
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    docs = make_docs()
    with pytest.raises(OutputError, match="--force"):
        run(docs, out, **openai_opts(llm_server))
    llm_server.die_after(2)
    with pytest.raises(SynthStopped):
        run(docs, out, force=True, retries=0, concurrency=1, **openai_opts(llm_server))
    assert out.read_text() == "precious\n"  # untouched until the new one is complete
    llm_server.revive()
    s = run(docs, out, retries=0, **openai_opts(llm_server))  # same command resuming: allowed
    assert answers(out) == passages(docs)
    assert any("resumed an unfinished run" in n for n in s.notes)
    with pytest.raises(OutputError):  # finished: a new run must ask for --force again
        run(docs, out, **openai_opts(llm_server))


def test_no_cache_makes_fresh_calls_every_time(tmp_path, llm_server, key):
    docs = make_docs(chapters=1)
    n = len(passages(docs))
    run(docs, tmp_path / "o.jsonl", no_cache=True, **openai_opts(llm_server))
    run(docs, tmp_path / "o.jsonl", no_cache=True, force=True, **openai_opts(llm_server))
    assert llm_server.count() == 2 * n


def test_editing_the_template_version_invalidates_cached_answers(tmp_path, llm_server, key):
    from miner import prompts

    mine = tmp_path / "mine.yaml"
    mine.write_text(prompts.load_template("scene-brief").raw)
    docs = make_docs(chapters=1)
    n = len(passages(docs))
    run(docs, tmp_path / "o.jsonl", template=str(mine), **openai_opts(llm_server))
    run(docs, tmp_path / "o.jsonl", template=str(mine), force=True, **openai_opts(llm_server))
    assert llm_server.count() == n
    import re

    bumped, n_subs = re.subn(r"(?m)^version: (\d+)$", lambda m: f"version: {int(m.group(1)) + 1}", mine.read_text())
    assert n_subs == 1
    mine.write_text(bumped)
    run(docs, tmp_path / "o.jsonl", template=str(mine), force=True, **openai_opts(llm_server))
    assert llm_server.count() == 2 * n


# ---- shapes of examples -----------------------------------------------------------------------------------

def test_multi_turn_conversations_follow_the_story_within_a_chapter(tmp_path):
    docs = make_docs(chapters=2, scenes=4)
    out = tmp_path / "o.jsonl"
    run(docs, out, template="continue", turns=3, system="You are Inkwell.")
    rows = lines(out)
    all_answers = []
    for row in rows:
        msgs = row["messages"]
        assert msgs[0]["role"] == "system"
        roles = [m["role"] for m in msgs[1:]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and 2 <= len(roles) <= 6
        assert all(m["content"].startswith("Next scene: ") for m in msgs[3::2])
        texts = [m["content"] for m in msgs if m["role"] == "assistant"]
        assert len({t.split("chapter ")[1][0] for t in texts}) == 1  # one chapter per conversation
        all_answers += texts
    assert all_answers == passages(docs)
    assert any(len(row["messages"]) == 7 for row in rows)


def test_multi_turn_respects_the_token_budget(tmp_path):
    docs = make_docs(chapters=1, scenes=6)
    run(docs, tmp_path / "o.jsonl", template="continue", turns=6, example_tokens=400)
    from miner import tokens

    for row in lines(tmp_path / "o.jsonl"):
        assistant = [m for m in row["messages"] if m["role"] == "assistant"]
        if len(assistant) > 1:
            assert sum(tokens.count(m["content"]) + 150 for m in assistant) <= 400


def test_outline_template_uses_whole_chapters(tmp_path):
    docs = make_docs(chapters=2, scenes=3)
    run(docs, tmp_path / "o.jsonl", template="outline")
    rows = lines(tmp_path / "o.jsonl")
    assert len(rows) == 2
    assert rows[0]["messages"][0]["content"].startswith("Write the chapter from this outline:")
    assert "\n\n".join(answers(tmp_path / "o.jsonl")) == "\n\n".join(passages(docs))


def test_qa_answers_are_verbatim_spans_of_the_note(tmp_path, llm_server, key):
    def responder(r: Recorded) -> Reply:
        sentence = r.prompt.split("<note>")[1].split("</note>")[0].strip().split(". ")[0] + "."
        return Reply.openai(json.dumps({"pairs": [
            {"question": "Where did Anna go?", "answer": "  " + sentence.replace(" ", "  ")},  # spacing differs
            {"question": "Invented?", "answer": "Anna flew to the moon on a Tuesday."},  # not in the note
        ]}))

    llm_server.responder = responder
    docs = make_docs(chapters=1)
    s = run(docs, tmp_path / "qa.jsonl", template="qa", **openai_opts(llm_server))
    rows = lines(tmp_path / "qa.jsonl")
    assert len(rows) == len(passages(docs))
    for row, passage in zip(rows, passages(docs)):
        assert row["messages"][0]["content"] == "Where did Anna go?"
        ans = row["messages"][1]["content"]
        assert ans in passage and ans.startswith("Anna walked to the")
    assert s.counts["qa pairs dropped (answer not verbatim in the passage)"] == len(rows)


def test_preference_pairs_author_preferred_model_draft_rejected(tmp_path, llm_server, key):
    pytest.importorskip("miner.writers.openai_dpo")

    def responder(r: Recorded) -> Reply:
        if r.model == "drafter":
            return Reply.openai("A bland draft of the scene.")
        return Reply.openai('{"brief": "Write the harbour scene."}')

    llm_server.responder = responder
    docs = make_docs(chapters=1)
    out = tmp_path / "dpo.jsonl"
    run(docs, out, format="openai-dpo", rejected_model="drafter", system="You are Inkwell.", **openai_opts(llm_server))
    rows = lines(out)
    assert [r["preferred_output"][0]["content"] for r in rows] == passages(docs)
    assert all(r["non_preferred_output"][0]["content"] == "A bland draft of the scene." for r in rows)
    assert rows[0]["input"]["messages"][-1] == {"role": "user", "content": "Write the harbour scene."}
    drafts = [r for r in llm_server.requests if r.model == "drafter"]
    assert drafts[0].system == "You are Inkwell." and drafts[0].prompt == "Write the harbour scene."
    before = llm_server.count()
    run(docs, out, force=True, format="openai-dpo", rejected_model="drafter", **openai_opts(llm_server),
        system="You are Inkwell.")
    assert llm_server.count() == before  # drafts are cached too
    run(docs, tmp_path / "trl.jsonl", format="trl-preference", rejected_model="drafter", **openai_opts(llm_server))
    trl = lines(tmp_path / "trl.jsonl")
    assert [r["chosen"][0]["content"] for r in trl] == passages(docs)
    assert trl[0]["rejected"] == [{"role": "assistant", "content": "A bland draft of the scene."}]


def test_repeated_passages_are_asked_once(tmp_path, llm_server, key):
    from miner.models import Chunk

    same = "The same refrain, word for word, that the author used at the end of every chapter of the book."
    chunks = [Chunk(text=same, source="a", document="A", section=[f"C{i}"], index=i, tokens=20) for i in range(6)]
    llm_server.responder = lambda r: Reply(**{**vars(Reply.openai('{"brief": "b"}')), "delay": 0.05})
    synth_mod.run(lambda: iter(chunks), str(tmp_path / "o.jsonl"),
                  SynthOptions(concurrency=4, **openai_opts(llm_server)))
    assert llm_server.count() == 1
    assert answers(tmp_path / "o.jsonl") == [same] * 6


@pytest.mark.parametrize("kw,match", [
    ({"format": "openai-dpo"}, "--rejected-model"),
    ({"rejected_model": "m", "format": "openai"}, "openai-dpo"),
    ({"chunker": "llm"}, "--chunker llm"),
    ({"template": "continue", "turns": 0}, "--turns"),
])
def test_option_mistakes_are_explained(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        run(make_docs(), tmp_path / "o.jsonl", **kw)


# ---- inputs -------------------------------------------------------------------------------------------------

def test_chunks_jsonl_input_and_bad_lines(tmp_path):
    src = tmp_path / "chunks.jsonl"
    good = [{"text": f"Passage {i}: the ferry left at dawn and Mara watched it go.", "source": "n.md",
             "document": "Notes", "section": ["Ferries"], "index": i, "tokens": 15} for i in range(3)]
    src.write_bytes(orjson.dumps(good[0]) + b"\n{not json\n" + b"".join(orjson.dumps(g) + b"\n" for g in good[1:]))
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(cli, ["synth", str(src), "-o", str(out), "--template", "write-like-me"])
    assert res.exit_code == 0, res.output
    assert answers(out) == [g["text"] for g in good]
    assert "bad chunk line" in res.output


def test_inputs_without_prose_write_nothing_and_say_why(tmp_path):
    src = tmp_path / "chunks.jsonl"
    src.write_bytes(b'{"text": "", "document": "A", "index": 0}\n')
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(cli, ["synth", str(src), "-o", str(out)])
    assert res.exit_code == 1
    assert "no passages of prose found" in res.output and "bad chunk line" in res.output
    assert not out.exists()


def test_cli_dry_run_and_help(tmp_path, llm_server, key):
    res = CliRunner().invoke(cli, ["synth", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output and "--dry-run" in res.output
    src = tmp_path / "chunks.jsonl"
    src.write_bytes(orjson.dumps({"text": "One passage of prose, long enough.", "source": "a", "document": "A",
                                  "section": [], "index": 0, "tokens": 9}) + b"\n")
    res = CliRunner().invoke(cli, ["synth", str(src), "-o", str(tmp_path / "o.jsonl"), "--provider", "openai",
                                   "--base-url", llm_server.openai_url, "--model", "gpt-4o-mini", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "estimated cost" in res.output and "no calls were made" in res.output
    assert llm_server.count() == 0


def test_cli_stop_prints_summary_and_how_to_resume(tmp_path, llm_server, key):
    src = tmp_path / "chunks.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"text": t, "source": "a", "document": "A", "section": [], "index": i,
                                           "tokens": 40}) + b"\n" for i, t in enumerate(passages(make_docs()))))
    llm_server.responder = lambda r: Reply.error(503)
    res = CliRunner().invoke(cli, ["synth", str(src), "-o", str(tmp_path / "o.jsonl"), "--provider", "openai",
                                   "--base-url", llm_server.openai_url, "--retries", "0"])
    assert res.exit_code == 1
    assert "LLM requests sent" in res.output and "run the same command again" in res.output
    assert "Traceback" not in res.output
