"""`--retry-detector llm`: the real openai (and google-genai) clients talking to the loopback
server in tests/llm_server.py, the real SQLite cache, real files through `miner convert` and
`miner retries`.

What a user relies on: the model's yes/no decides which follow-ups fold; the folded request is
the model's and the accepted answer stays word for word; a bad answer falls back to the offline
decision and is counted; a re-run costs nothing; offline stays offline; the key goes nowhere."""
from __future__ import annotations

import json
import os

import orjson
import pytest
from click.testing import CliRunner

from llm_server import LLMServer, Recorded, Reply
from miner import retries, retries_llm
from miner.cli import cli
from miner.errors import ProviderError
from miner.models import Conversation, Message
from miner.pipeline import ConvertOptions, convert

KEY = "sk-test-SECRET-retry-987654"

SEA = "Write a short poem about the sea."
SEA_DRAFT = ("The sea is grey and wide,\nit keeps its secrets deep,\nthe tide comes in, the tide goes out,\n"
             "while all the sailors sleep.")
SEA_GULLS = ("The sea is grey and wide,\nthe gulls cry overhead,\nthey wheel above the tide that turns\n"
             "while sailors lie in bed.\nThe gulls, the gulls, they know the deep.")
GULLS = "the gulls deserve a bigger part"  # offline: not a retry (no retry wording)
SEA_FOLDED = "Write a short poem about the sea in which the gulls have a big part."

FOG = "Write an opening line for a mystery novel."
FOG_DRAFT = "The fog came in at noon, and with it the stranger."
FOG_LONGER = ("The fog came in at noon, thick as wet wool, and with it came the stranger in the grey coat, "
              "who asked for a room by the water and paid in old coins.")
LONGER = "make it longer"  # offline: a retry

JUDGE = {GULLS: (True, "asks to rework the poem with more gulls"),
         LONGER: (False, "the model thinks this is a new request"),
         "perfect, thanks!": (False, "thanks")}
FOLDS = {SEA: SEA_FOLDED, FOG: "Write a long opening line for a mystery novel."}


def chats() -> list[list[dict]]:
    return [
        [{"role": "user", "content": SEA}, {"role": "assistant", "content": SEA_DRAFT},
         {"role": "user", "content": GULLS}, {"role": "assistant", "content": SEA_GULLS},
         {"role": "user", "content": "perfect, thanks!"}, {"role": "assistant", "content": "Glad you like it!"}],
        [{"role": "user", "content": FOG}, {"role": "assistant", "content": FOG_DRAFT},
         {"role": "user", "content": LONGER}, {"role": "assistant", "content": FOG_LONGER}],
    ]


def write_jsonl(path, convs) -> str:
    path.write_bytes(b"".join(orjson.dumps({"messages": c}) + b"\n" for c in convs))
    return str(path)


def read(path) -> list[dict]:
    with open(path, "rb") as f:
        return [orjson.loads(x) for x in f if x.strip()]


def section(prompt: str, title: str) -> str:
    """The text between `title:\\n<<<\\n` and the next `\\n>>>` in a prompt we sent."""
    head = f"{title}:\n<<<\n"
    a = prompt.index(head) + len(head)
    return prompt[a:prompt.index("\n>>>", a)]


def kind(r: Recorded) -> str:
    props = (r.schema or {}).get("properties", {})
    return "judge" if "is_retry" in props else "fold" if "request" in props else "?"


def scripted(judge=JUDGE, folds=FOLDS):
    """A responder answering the judge from `judge` (by follow-up) and folds from `folds` (by
    original request), in the wire format of whichever API was called."""
    def respond(r: Recorded) -> Reply:
        if kind(r) == "judge":
            ok, why = judge[section(r.prompt, "The user's follow-up")]
            text = json.dumps({"is_retry": ok, "reason": why})
        else:
            text = json.dumps({"request": folds[section(r.prompt, "The original request")]})
        return Reply.for_api(r.api, text, prompt_tokens=300, completion_tokens=20)
    return respond


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        srv.responder = scripted()
        yield srv


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def run(*args):
    # wide enough that no summary label wraps
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def llm_args(srv: LLMServer, *extra: str) -> list[str]:
    return ["--retry-detector", "llm", "--provider", "openai", "--base-url", srv.openai_url,
            "--model", "gpt-4o-mini", *extra]


def count_line(output: str, label: str) -> int:
    """The number on the summary line that starts with `label`."""
    for line in output.splitlines():
        if line.strip().startswith(label):
            return int(line.split()[-1].replace(",", ""))
    raise AssertionError(f"no summary line {label!r} in:\n{output}")


# ---- the judge and the folder decide ---------------------------------------------------------

def test_the_llm_decision_changes_the_chains_and_its_request_is_folded_in(tmp_path, llm_server, key):
    rules = retries.load_rules()
    # The test only means something where the offline detector says the opposite.
    assert not retries.classify(SEA, SEA_DRAFT, GULLS, SEA_GULLS, rules).is_retry
    assert retries.classify(FOG, FOG_DRAFT, LONGER, FOG_LONGER, rules).is_retry

    src = write_jsonl(tmp_path / "in.jsonl", chats())
    out = tmp_path / "out.jsonl"
    r = run("convert", src, "-o", str(out), *llm_args(llm_server))
    assert r.exit_code == 0, r.output
    sea, fog = read(out)
    # The model said GULLS asks for a redo: the chain folds into the model's request and the
    # accepted poem stays word for word; what came after the chain is kept as it was.
    assert sea["messages"] == [
        {"role": "user", "content": SEA_FOLDED}, {"role": "assistant", "content": SEA_GULLS},
        {"role": "user", "content": "perfect, thanks!"}, {"role": "assistant", "content": "Glad you like it!"}]
    # The model said "make it longer" is not a redo here: the conversation is left alone.
    assert [m["content"] for m in fog["messages"]] == [FOG, FOG_DRAFT, LONGER, FOG_LONGER]
    assert count_line(r.output, "retry follow-ups asked to the LLM") == 3
    assert count_line(r.output, "LLM answers unusable") == 0
    assert count_line(r.output, "retry requests folded by the LLM") == 1
    assert count_line(r.output, "retry chains collapsed") == 1
    # 5 calls: the offline guess first weighed "perfect, thanks!" against GULLS as its request;
    # once the model said GULLS is a redo, it was asked again against SEA. Then one fold.
    assert count_line(r.output, "LLM calls made") == len(llm_server.requests) == 5
    assert "LLM cost" in r.output and "$0.0" in r.output  # gpt-4o-mini is in the price table
    # What the judge was shown: the request, the draft, the follow-up, the next answer.
    judged = [q for q in llm_server.requests if kind(q) == "judge"]
    gull = next(q for q in judged if section(q.prompt, "The user's follow-up") == GULLS)
    assert section(gull.prompt, "The user's original request") == SEA
    assert section(gull.prompt, "The assistant's answer (the draft)") == SEA_DRAFT
    assert section(gull.prompt, "The assistant's next answer") == SEA_GULLS
    assert gull.body["response_format"]["type"] == "json_schema"  # structured output on the wire


def test_preference_pairs_use_the_folded_request_and_the_exact_answers(tmp_path, llm_server, key):
    src = write_jsonl(tmp_path / "in.jsonl", chats()[:1])
    out = tmp_path / "dpo.jsonl"
    r = run("convert", src, "-o", str(out), "--format", "trl-preference", *llm_args(llm_server))
    assert r.exit_code == 0, r.output
    (pair,) = read(out)
    assert pair["prompt"] == [{"role": "user", "content": SEA_FOLDED}]
    assert pair["chosen"] == [{"role": "assistant", "content": SEA_GULLS}]
    assert pair["rejected"] == [{"role": "assistant", "content": SEA_DRAFT}]


def test_a_two_step_chain_the_offline_guess_got_wrong_is_settled_in_a_second_round(tmp_path, llm_server, key):
    # Offline, "the gulls deserve a bigger part" is no retry, so the first round weighs the
    # second follow-up against the wrong request; once the model says yes, it is asked again
    # against the original request, and both follow-ups fold into one request.
    even = "even longer please, and add a storm"
    stormy = SEA_GULLS + "\nThe storm came in across the bay, the gulls went quiet, and the deep rose up."
    conv = chats()[0][:4] + [{"role": "user", "content": even}, {"role": "assistant", "content": stormy}]
    judge = {GULLS: (True, "more gulls"), even: (True, "longer, with a storm")}
    llm_server.responder = scripted(judge, {SEA: "Write a long poem about the sea: gulls, and a storm."})
    src = write_jsonl(tmp_path / "in.jsonl", [conv])
    out = tmp_path / "out.jsonl"
    r = run("convert", src, "-o", str(out), *llm_args(llm_server))
    assert r.exit_code == 0, r.output
    (line,) = read(out)
    assert line["messages"] == [{"role": "user", "content": "Write a long poem about the sea: gulls, and a storm."},
                                {"role": "assistant", "content": stormy}]
    (fold,) = [q for q in llm_server.requests if kind(q) == "fold"]
    assert section(fold.prompt, "Follow-up 1") == GULLS and section(fold.prompt, "Follow-up 2") == even
    final = [q for q in llm_server.requests if kind(q) == "judge" and section(q.prompt, "The user's follow-up") == even]
    assert section(final[-1].prompt, "The user's original request") == SEA
    assert count_line(r.output, "retry follow-ups asked to the LLM") == 2  # as decided in the end


def test_miner_retries_shows_the_models_reasons(tmp_path, llm_server, key):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    r = run("retries", src, "--all", *llm_args(llm_server))
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "asks to rework the poem with more gulls" in flat
    assert "the model thinks this is a new request" in flat  # --all: the not-a-retry side too
    assert "rule: llm" in flat
    assert f"Folded: {SEA_FOLDED}" in flat
    assert count_line(r.output, "retry chains") == 1


# ---- fallbacks, limits, cost ----------------------------------------------------------------------

def test_unusable_answers_fall_back_to_the_offline_decisions_and_are_counted(tmp_path, llm_server, key):
    llm_server.responder = lambda r: Reply.openai("Sure! I think it is a retry." if kind(r) == "judge"
                                                  else '{"request": ""}')
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    out_llm, out_off = tmp_path / "llm.jsonl", tmp_path / "off.jsonl"
    r = run("convert", src, "-o", str(out_llm), *llm_args(llm_server))
    assert r.exit_code == 0, r.output
    assert run("convert", src, "-o", str(out_off)).exit_code == 0
    assert out_llm.read_bytes() == out_off.read_bytes()  # every decision and fold as offline
    assert count_line(r.output, "LLM answers unusable (offline decision used)") == 3
    assert count_line(r.output, "LLM folds unusable (offline fold used)") == 1
    with _detector(llm_server, cache=str(tmp_path / "c.sqlite3")) as det:
        res = det.collapse(_conv(chats()[1]))
    assert res.chains[0].decisions[0].rule.endswith("(offline: the LLM's answer was unusable)")


def test_a_refused_request_falls_back_too(tmp_path, llm_server, key):
    llm_server.responder = lambda r: Reply.error(400, "content policy")
    with _detector(llm_server, cache=str(tmp_path / "c.sqlite3")) as det:
        res = det.collapse(_conv(chats()[1]))
    assert len(res.chains) == 1  # the offline decision: "make it longer" is a retry
    assert det.counts.unusable == 1 and det.counts.refused == 2  # judge and fold


def test_long_follow_ups_are_decided_offline_without_a_call(tmp_path, llm_server, key):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    out = tmp_path / "out.jsonl"
    r = run("convert", src, "-o", str(out), *llm_args(llm_server, "--retry-max-words", "3"))
    assert r.exit_code == 0, r.output
    asked = {section(q.prompt, "The user's follow-up") for q in llm_server.requests if kind(q) == "judge"}
    assert asked == {LONGER, "perfect, thanks!"}  # GULLS has 6 words: never sent
    assert count_line(r.output, "retry follow-ups over 3 words (decided offline)") == 1
    assert [m["content"] for m in read(out)[0]["messages"]][:3] == [SEA, SEA_DRAFT, GULLS]  # offline: no retry


def test_the_judge_sees_long_answers_cut_and_is_told_so(tmp_path, llm_server, key):
    long_draft = " ".join(f"word{i}" for i in range(2000))
    conv = [{"role": "user", "content": FOG}, {"role": "assistant", "content": long_draft},
            {"role": "user", "content": LONGER}, {"role": "assistant", "content": long_draft + " more"}]
    with _detector(llm_server, cache=str(tmp_path / "c.sqlite3")) as det:
        det.collapse(_conv(conv))
    (q,) = [q for q in llm_server.requests if kind(q) == "judge"]
    draft = section(q.prompt, "The assistant's answer (the draft)")
    assert draft.startswith("word0 word1") and draft.endswith("word1999")
    assert "[... 1,650 words left out ...]" in draft
    assert "(its first 200 words; 1,801 more left out)" in q.prompt
    assert len(q.prompt.split()) < 800


# ---- cache: re-runs and interruptions ----------------------------------------------------------------

def test_a_rerun_makes_no_requests_and_writes_the_same(tmp_path, llm_server, key):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    r1 = run("convert", src, "-o", str(tmp_path / "a.jsonl"), *llm_args(llm_server))
    sent = len(llm_server.requests)
    assert r1.exit_code == 0 and sent == 5
    r2 = run("convert", src, "-o", str(tmp_path / "b.jsonl"), *llm_args(llm_server))
    assert r2.exit_code == 0, r2.output
    assert len(llm_server.requests) == sent
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert count_line(r2.output, "LLM calls made") == 0
    assert count_line(r2.output, "LLM answers from the cache") == 5
    # --no-cache asks again (and keeps nothing)
    r3 = run("convert", src, "-o", str(tmp_path / "c.jsonl"), *llm_args(llm_server, "--no-cache"))
    assert r3.exit_code == 0 and len(llm_server.requests) == 2 * sent


def test_an_interrupted_run_does_not_ask_again_what_was_answered(tmp_path, llm_server, key):
    cache = str(tmp_path / "c.sqlite3")
    convs = [_conv(c) for c in chats()]
    llm_server.die_after(2)  # the SEA judgements are answered, then the server goes away
    with _detector(llm_server, cache=cache) as det:
        with pytest.raises(ProviderError, match="kept failing while detecting retries.*the same command again"):
            for c in convs:
                det.collapse(c)
    llm_server.revive()
    answered = llm_server.answered()
    with _detector(llm_server, cache=cache) as det:
        for c in convs:
            det.collapse(c)
    again = [q for q in llm_server.requests[-3:] if q.digest in answered]
    assert len(answered) == 2 and not again
    assert max(llm_server.per_digest()[d] for d in answered) == 1


# ---- offline stays offline; keys go nowhere ---------------------------------------------------------

def test_the_default_detector_makes_no_requests(tmp_path, llm_server, key, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_url)
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    assert run("convert", src, "-o", str(tmp_path / "a.jsonl"), "--format", "openai-dpo").exit_code == 0
    assert run("retries", src, "--all").exit_code == 0
    assert llm_server.requests == []
    assert not os.path.exists(os.path.join(os.environ["MINER_CACHE_DIR"], "llm-cache.sqlite3"))
    # an LLM named without --retry-detector llm would silently do nothing: say so instead
    r = run("convert", src, "-o", str(tmp_path / "b.jsonl"), "--provider", "openai", "--model", "x")
    assert r.exit_code == 1 and "--retry-detector llm" in r.output and not (tmp_path / "b.jsonl").exists()


def test_no_llm_is_needed_when_nothing_is_collapsed(tmp_path, llm_server, key):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    r = run("convert", src, "-o", str(tmp_path / "a.jsonl"), "--no-collapse", *llm_args(llm_server))
    assert r.exit_code == 0 and llm_server.requests == []


def test_a_missing_key_says_how_to_stay_offline(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    r = run("convert", src, "-o", str(tmp_path / "a.jsonl"), "--retry-detector", "llm")
    assert r.exit_code == 1
    assert "OPENAI_API_KEY" in r.output and "leave out --retry-detector llm" in r.output
    assert not (tmp_path / "a.jsonl").exists()


def test_the_key_never_appears_in_output_cache_or_messages(tmp_path, llm_server, key):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    cache = tmp_path / "cache" / "llm.sqlite3"
    r = run("convert", src, "-o", str(tmp_path / "a.jsonl"), *llm_args(llm_server, "--cache", str(cache)))
    assert r.exit_code == 0, r.output
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was used...
    files = [tmp_path / "a.jsonl"] + [p for p in cache.parent.iterdir()]
    assert cache.exists()
    for f in files:  # ...and kept nowhere
        assert KEY.encode() not in f.read_bytes(), f
    assert KEY not in r.output
    # a server that echoes the key in an error: the message shown is scrubbed
    llm_server.responder = lambda q: Reply.error(401, f"invalid api key {KEY}")
    r = run("convert", src, "-o", str(tmp_path / "b.jsonl"), *llm_args(llm_server, "--no-cache"))
    assert r.exit_code == 1 and "refused the API key" in r.output
    assert KEY not in r.output and KEY[:12] not in r.output


def test_library_callers_pass_the_settings_in_convert_options(tmp_path, llm_server):
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    out = tmp_path / "out.jsonl"
    summary = convert([src], str(out), ConvertOptions(retry_detector="llm", base_url=llm_server.openai_url,
                                                       api_key=KEY, cache=str(tmp_path / "c.sqlite3")))
    assert read(out)[0]["messages"][0]["content"] == SEA_FOLDED
    assert summary.counts["retry follow-ups asked to the LLM"] == 3
    assert summary.counts["LLM calls made"] == 5
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_gemini_works_the_same_way(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza" + "x" * 35)
    src = write_jsonl(tmp_path / "in.jsonl", chats())
    out = tmp_path / "out.jsonl"
    r = run("convert", src, "-o", str(out), "--retry-detector", "llm", "--provider", "gemini",
            "--base-url", llm_server.url, "--model", "gemini-2.5-flash")
    assert r.exit_code == 0, r.output
    assert read(out)[0]["messages"][0]["content"] == SEA_FOLDED
    assert all(q.api == "gemini" for q in llm_server.requests)


# ---- pure pieces ------------------------------------------------------------------------------------

def test_clip_keeps_short_texts_and_marks_what_it_leaves_out():
    assert retries_llm.clip("  a short answer \n", 5, 2) == ("a short answer", 0)
    text = "\n".join(f"line {i}" for i in range(100))  # 200 words
    cut, left = retries_llm.clip(text, 10, 4)
    assert left == 186 and cut.startswith("line 0\nline 1") and cut.endswith("line 98\nline 99")
    assert "[... 186 words left out ...]" in cut


@pytest.mark.parametrize("text", [
    "no json here", '{"is_retry": "yes", "reason": "x"}', '{"is_retry": true}', '{"is_retry": true, "reason": " "}',
    '["is_retry", true]'])
def test_malformed_judgements_are_refused(text):
    assert retries_llm.parse_judgement(text) is None


def test_judgements_are_read_through_fences_and_reasons_kept_short():
    got = retries_llm.parse_judgement('```json\n{"is_retry": false, "reason": "a new\\nrequest ' + "x" * 400 + '"}\n```')
    assert got is not None and got[0] is False
    assert got[1].startswith("a new request") and len(got[1]) == retries_llm.REASON_CHARS


def test_a_fold_that_loses_the_pasted_material_is_refused():
    pasted = "Edit this paragraph: " + " ".join(f"w{i}" for i in range(200))
    assert retries_llm.parse_fold('{"request": "Edit the paragraph and make it shorter."}', pasted, ["shorter"]) is None
    assert retries_llm.parse_fold(json.dumps({"request": pasted + " Make it shorter."}), pasted, ["shorter"])


# ---- helpers ------------------------------------------------------------------------------------------

def _conv(messages: list[dict]) -> Conversation:
    return Conversation(messages=[Message(m["role"], m["content"]) for m in messages], id="c", source="test")


def _detector(srv: LLMServer, **kw) -> retries_llm.LLMDetector:
    settings = retries_llm.LLMSettings(provider="openai", base_url=srv.openai_url, model="gpt-4o-mini",
                                       retries=1, backoff=0.001, **kw)
    return retries_llm.LLMDetector(retries.load_rules(), settings)
