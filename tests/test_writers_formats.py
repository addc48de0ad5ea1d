"""The SFT output formats: exact shapes trainers read, refusals with plain reasons, lossless
round trips between every pair of formats, and unambiguous detection when reading back."""
from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner import writers
from miner.models import Conversation, Message
from miner.writers import FormatError

SFT = ["openai", "vertex", "mistral", "trl", "sharegpt", "alpaca"]
MULTI = ["openai", "vertex", "mistral", "trl", "sharegpt"]


def conv(*pairs, system=None):
    msgs = [Message("system", system)] if system is not None else []
    for role, text in pairs:
        msgs.append(Message(role, text))
    return Conversation(messages=msgs)


def roles_texts(c: Conversation):
    return [(m.role, m.content, m.weight) for m in c.messages]


# ---- exact shapes -------------------------------------------------------------------------

def test_vertex_shape_matches_gemini_tuning_docs():
    line = writers.get("vertex").render(conv(("user", "Hi"), ("assistant", "Argh!"), system="Pirate dog"))
    assert line == {
        "systemInstruction": {"role": "system", "parts": [{"text": "Pirate dog"}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Argh!"}]}],
    }


def test_sharegpt_shape_puts_system_on_top_and_uses_human_gpt():
    line = writers.get("sharegpt").render(conv(("user", "Q"), ("assistant", "A"), system="S"))
    assert line == {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], "system": "S"}


def test_alpaca_shape():
    line = writers.get("alpaca").render(conv(("user", "Write a scene"), ("assistant", "It rained."), system="S"))
    assert line == {"instruction": "Write a scene", "input": "", "output": "It rained.", "system": "S"}


def test_alpaca_reads_history_and_input_and_keeps_the_split():
    mod = writers.get("alpaca")
    obj = {"instruction": "Continue", "input": "Chapter 1", "output": "A2", "history": [["Q1", "A1"]]}
    c = mod.read(obj)
    assert roles_texts(c) == [("user", "Q1", None), ("assistant", "A1", None),
                              ("user", "Continue\nChapter 1", None), ("assistant", "A2", None)]
    single = {"instruction": "Continue", "input": "Chapter 1", "output": "A2"}
    assert mod.render(mod.read(single)) == single


def test_mistral_and_trl_write_messages_and_keep_or_refuse_weights():
    c = conv(("user", "Q"), ("assistant", "first try"), ("user", "longer"), ("assistant", "A"))
    c.messages[1].weight = 0
    assert writers.get("mistral").render(c)["messages"][1] == {"role": "assistant", "content": "first try", "weight": 0}
    with pytest.raises(FormatError, match="weight 0"):
        writers.get("trl").render(c)


def test_trl_reads_prompt_completion_shapes():
    mod = writers.get("trl")
    conv_obj = {"prompt": [{"role": "user", "content": "What color?"}], "completion": [{"role": "assistant", "content": "Blue."}]}
    assert mod.matches(conv_obj)
    assert roles_texts(mod.read(conv_obj)) == [("user", "What color?", None), ("assistant", "Blue.", None)]
    std = {"prompt": "The sky is", "completion": " blue."}
    assert writers.detect_line(std) is mod
    assert roles_texts(mod.read(std)) == [("user", "The sky is", None), ("assistant", " blue.", None)]
    assert not mod.matches({"prompt": "x", "chosen": "a", "rejected": "b"})


# ---- refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,c,reason", [
    ("alpaca", conv(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")), "multi-turn"),
    ("alpaca", conv(("user", "a")), "exactly one user turn"),
    ("mistral", conv(("user", "a"), ("assistant", "b"), ("user", "c")), "last message"),
    ("mistral", conv(("user", "a"), ("tool", "{}"), ("assistant", "b")), "tool"),
    ("vertex", conv(("assistant", "hello"), ("user", "a"), ("assistant", "b")), "starts with the assistant"),
    ("vertex", conv(("user", "a"), ("user", "b"), ("assistant", "c")), "in a row"),
    ("vertex", conv(("user", "a"), ("assistant", "b"), ("user", "c")), "ends with a user turn"),
    ("vertex", conv(("user", "a"), ("assistant", "b"), ("system", "s"), ("user", "c"), ("assistant", "d")), "middle"),
    ("sharegpt", conv(("user", "a"), ("assistant", "b"), ("assistant", "c")), "in a row"),
    ("sharegpt", conv(("user", "a"), ("assistant", "b"), ("user", "c")), "drops"),
])
def test_render_refuses_what_the_trainer_would_reject(fmt, c, reason):
    with pytest.raises(FormatError, match=reason):
        writers.get(fmt).render(c)


def test_alpaca_refusal_is_not_a_silent_truncation():
    c = conv(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))
    with pytest.raises(FormatError) as e:
        writers.get("alpaca").render(c)
    assert "sharegpt or openai" in str(e.value)


# ---- detection ----------------------------------------------------------------------------

def test_openai_mistral_and_trl_lines_are_read_as_openai():
    c = conv(("user", "Q"), ("assistant", "A"))
    for fmt in ("openai", "mistral", "trl"):
        line = writers.get(fmt).render(c)
        assert writers.detect_line(line).NAME == "openai"


@pytest.mark.parametrize("fmt", ["vertex", "sharegpt", "alpaca"])
def test_each_distinct_shape_is_claimed_by_exactly_one_format(fmt):
    line = writers.get(fmt).render(conv(("user", "Q"), ("assistant", "A"), system="S"))
    claimed = [m.NAME for m in writers.available() if m.matches(line)]
    assert claimed == [fmt]


def test_unknown_shape_is_not_claimed():
    assert writers.detect_line({"text": "plain pretraining text"}) is None
    assert writers.detect_line(["not", "an", "object"]) is None


# ---- round trips (hypothesis) -------------------------------------------------------------

text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())


@st.composite
def conversations(draw, max_exchanges=4):
    n = draw(st.integers(1, max_exchanges))
    pairs = []
    for _ in range(n):
        pairs += [("user", draw(text)), ("assistant", draw(text))]
    system = draw(st.none() | text)
    return conv(*pairs, system=system)


def through(fmt: str, c: Conversation) -> Conversation:
    """Write as `fmt`, serialize to a JSONL line, parse it and read it back the way miner
    reads any file (detect_line)."""
    line = orjson.loads(orjson.dumps(writers.get(fmt).render(c)))
    mod = writers.detect_line(line)
    assert mod is not None, f"{fmt} output is not recognised on reading"
    return mod.read(line)


@settings(max_examples=40, deadline=None)
@given(conversations(), st.sampled_from(list(itertools.permutations(MULTI, 2))))
def test_multi_turn_round_trip_between_every_pair(c, pair):
    a, b = pair
    assert roles_texts(through(b, through(a, c))) == roles_texts(c)


@settings(max_examples=40, deadline=None)
@given(conversations(max_exchanges=1), st.sampled_from(SFT))
def test_single_turn_round_trip_through_alpaca(c, other):
    assert roles_texts(through(other, through("alpaca", c))) == roles_texts(c)
    assert roles_texts(through("alpaca", through(other, c))) == roles_texts(c)


@settings(max_examples=30, deadline=None)
@given(conversations(), st.sampled_from(["openai", "mistral"]))
def test_weights_survive_formats_that_have_them(c, fmt):
    for m in c.messages:
        if m.role == "assistant":
            m.weight = 1
    c.messages[-1].weight = 0 if len(c.messages) > 3 else 1
    assert roles_texts(through(fmt, c)) == roles_texts(c)


@settings(max_examples=30, deadline=None)
@given(conversations(), st.sampled_from(SFT))
def test_render_either_writes_valid_json_or_refuses_plainly(c, fmt):
    try:
        line = writers.get(fmt).render(c)
    except FormatError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(orjson.loads(orjson.dumps(line)), dict)
