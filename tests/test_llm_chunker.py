"""--chunker llm: the model only moves boundaries. Whatever positions it returns (sensible,
out of range, garbage), the chunks still cover the author's text exactly once, in order."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_server import LLMServer, Recorded, Reply
from miner import synth as synth_mod
from miner.chunking import body_text, chunk_document, chunk_spans
from miner.llm_chunker import request_for, to_block_indexes, windows
from miner.models import Block, Document
from miner.synth import SynthOptions

KEY = "sk-test-SECRET-abc123"


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv


def essay(n: int = 12, words: int = 30) -> Document:
    """A note with no headings or breaks: two topics, gardens then trains."""
    paras = []
    for i in range(n):
        topic = "gardens" if i < n // 3 else "trains"
        paras.append(Block("paragraph", f"Paragraph {i + 1} about {topic}. " + " ".join([topic] * words)))
    return Document(title="Thoughts", source="thoughts.md", blocks=paras)


garbage = st.one_of(st.integers(-5, 40), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(), st.none())


@given(n=st.integers(2, 30), words=st.integers(1, 60), answer=st.lists(garbage, max_size=12),
       limits=st.sampled_from([(0, 60), (20, 120), (50, 400)]))
@settings(max_examples=120, deadline=None)
def test_any_model_answer_keeps_the_coverage_invariant(n, words, answer, limits):
    doc = essay(n, words)
    breaks: set[int] = set()
    start = 1
    for w in windows(doc, budget=200):
        good, _ = to_block_indexes(answer, w, start)
        breaks |= good
        start += len(w)
    assert breaks <= {i for i, b in enumerate(doc.blocks) if b.kind == "paragraph"}
    chunks = chunk_document(doc, min_tokens=limits[0], max_tokens=limits[1], extra_breaks=breaks)
    chunk_spans(body_text(doc), chunks)  # raises if any character is lost, repeated or reordered


def test_request_numbers_paragraphs_and_never_asks_for_text():
    doc = essay(5)
    req = request_for(doc, [0, 1, 2, 3, 4], 1)
    assert "[1] Paragraph 1" in req.prompt and "[5] Paragraph 5" in req.prompt
    assert req.schema["properties"]["breaks"]["items"]["type"] == "integer"


def test_llm_breaks_move_chunk_boundaries_end_to_end(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def responder(r: Recorded) -> Reply:
        if r.body["response_format"]["json_schema"]["name"] == "breaks":
            return Reply.openai(json.dumps({"breaks": [5, 999, -2]}))  # the topic turns at [5]
        return Reply.openai(json.dumps({"brief": "b"}))

    llm_server.responder = responder
    doc = essay(12)
    opts = dict(provider="openai", base_url=llm_server.openai_url, model="gpt-4o-mini", chunker="llm",
                min_tokens=40, max_tokens=300, template="write-like-me", backoff=0.001)
    out = tmp_path / "o.jsonl"
    s = synth_mod.run(lambda: iter([doc]), str(out), SynthOptions(**opts))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    texts = [r["messages"][-1]["content"] for r in rows]
    assert any(t.startswith("Paragraph 5 about") for t in texts)  # a chunk starts where the model said
    assert "\n\n".join(texts) == body_text(doc)  # the whole note, once, in order
    assert s.counts["topic breaks proposed by the LLM"] == 1
    assert s.counts["  invalid break positions ignored"] == 2
    plain = chunk_document(doc, min_tokens=40, max_tokens=300)
    assert not any(c.text.startswith("Paragraph 5 about") for c in plain)  # the model's doing, not chance

    n = llm_server.count()
    synth_mod.run(lambda: iter([doc]), str(out), SynthOptions(force=True, **opts))
    assert llm_server.count() == n  # the boundary call is cached too


def test_short_documents_are_not_sent_to_the_chunker(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    doc = essay(3, words=5)
    synth_mod.run(lambda: iter([doc]), str(tmp_path / "o.jsonl"),
                  SynthOptions(provider="openai", base_url=llm_server.openai_url, chunker="llm", max_tokens=300))
    assert llm_server.count() >= 1
    assert all(r.body["response_format"]["json_schema"]["name"] != "breaks" for r in llm_server.requests)
