"""Clean-up transforms between parsing and writing."""
from hypothesis import given, settings
from hypothesis import strategies as st

from miner import tokens
from miner.models import Conversation, Message
from miner.transforms import normalize, split_long, with_system

roles = st.sampled_from(["user", "assistant"])
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
messages = st.lists(st.builds(Message, roles, texts), max_size=20)


@given(messages)
def test_normalize_leaves_no_empty_turns_and_no_repeated_roles(msgs):
    out = normalize(msgs)
    assert all(m.content.strip() for m in out)
    assert all(a.role != b.role for a, b in zip(out, out[1:]))


@given(messages)
def test_normalize_keeps_every_word_in_order(msgs):
    words = [w for m in msgs for w in m.content.split()]
    assert [w for m in normalize(msgs) for w in m.content.split()] == words


def test_with_system_replaces_source_system_prompts():
    c = Conversation([Message("system", "old"), Message("user", "hi"), Message("assistant", "yo")])
    out = with_system(c, "You are Inkwell.")
    assert [m.role for m in out.messages] == ["system", "user", "assistant"]
    assert out.messages[0].content == "You are Inkwell."


exchanges = st.lists(st.tuples(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=600)), min_size=1,
                     max_size=12)


@settings(max_examples=60, deadline=None)
@given(exchanges, st.integers(40, 400))
def test_split_long_windows_fit_and_start_with_system_then_user(pairs, limit):
    msgs = [Message("system", "You are X.")]
    for u, a in pairs:
        msgs += [Message("user", "q " + u), Message("assistant", "a " + a)]
    conv = Conversation(msgs, id="c1")
    parts, dropped = split_long(conv, limit)
    kept = 0
    for p in parts:
        assert tokens.count_messages(p.messages) <= limit
        assert p.messages[0].role == "system" and p.messages[1].role == "user"
        assert p.messages[-1].role == "assistant"
        kept += sum(1 for m in p.messages if m.role == "user")
    assert kept + dropped == len(pairs)
    # Nothing is reordered: the kept exchanges appear in their original order.
    flat = [m.content for p in parts for m in p.messages if m.role != "system"]
    original = [m.content for m in msgs if m.role != "system"]
    it = iter(original)
    assert all(any(x == y for y in it) for x in flat)
