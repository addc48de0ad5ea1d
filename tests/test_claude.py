"""Claude export parser: text blocks only, attachments opt-in, browser-exporter branches."""
from __future__ import annotations

import zipfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_builders import (
    CLAUDE_ROOT, DEEPSEEK, OTHER_FILES, claude_conv, claude_msg, claude_simple, claude_text, claude_thinking,
    gpt_simple, json_paths, replaced, run, sniff, turns, write,
)
from miner.errors import InputError
from miner.models import Conversation, Message, Skip
from miner.parsers import ParseOptions, Sniff, chatgpt, claude
from miner.parsers.chatgpt import iso_to_epoch, merge_turns
from miner.sources import iter_entries

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def one(tmp_path, conv, **opts):
    (out,) = run(claude, write(tmp_path / "conversations.json", [conv]), **opts)
    return out


# ---- detection --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OTHER_FILES))
def test_other_export_files_do_not_match(tmp_path, name):
    assert not sniff(claude, write(tmp_path / name, OTHER_FILES[name]))


def test_claude_and_chatgpt_files_are_told_apart(tmp_path):
    c = write(tmp_path / "conversations.json", [claude_simple(("user", "hi"), ("assistant", "hello"))])
    g = write(tmp_path / "g.json", [gpt_simple(("user", "hi"), ("assistant", "hello"))])
    d = write(tmp_path / "d.json", DEEPSEEK)
    assert sniff(claude, c) and not sniff(chatgpt, c)
    assert not sniff(claude, g) and not sniff(claude, d)


def test_empty_first_conversation_still_detected(tmp_path):
    p = write(tmp_path / "conversations.json", [claude_conv([], uuid="empty"), claude_simple(("user", "a"))])
    assert sniff(claude, p)


def test_wrapper_and_broken_first_conversation(tmp_path):
    conv = claude_simple(("user", "hi"), ("assistant", "hello"), uuid="w")
    w = write(tmp_path / "w.json", {"conversations": [conv]})
    assert sniff(claude, w) and not sniff(chatgpt, w)
    assert [c.id for c in run(claude, w)] == ["w"]
    b = write(tmp_path / "b.json", b'[{"uuid": "x", "chat_messages": [\xff]},' + orjson.dumps(conv) + b"]")
    assert sniff(claude, b) and not sniff(chatgpt, b)
    out = run(claude, b)
    assert isinstance(out[0], Skip) and out[1].id == "w"


def test_single_conversation_object_from_a_browser_exporter(tmp_path):
    conv = claude_simple(("user", "hi"), ("assistant", "hello"), uuid="solo")
    p = write(tmp_path / "solo.json", conv)
    assert sniff(claude, p)
    (c,) = run(claude, p)
    assert c.id == "solo" and turns(c) == [("user", "hi"), ("assistant", "hello")]


# ---- text -------------------------------------------------------------------------------

def test_text_comes_from_text_blocks_not_the_leaky_top_level_text(tmp_path):
    m = claude_msg("assistant", blocks=[claude_thinking("They want it moodier."), claude_text("The fog rolled in."),
                                        {"type": "tool_use", "name": "web_search", "input": {"query": "fog"}},
                                        {"type": "tool_result", "name": "web_search", "content": []},
                                        claude_text("It swallowed the pier.")])
    assert m["text"].startswith("They want it moodier.")  # what the export really looks like
    c = one(tmp_path, claude_conv([claude_msg("human", "Make it moodier."), m]))
    assert turns(c) == [("user", "Make it moodier."), ("assistant", "The fog rolled in.\n\nIt swallowed the pier.")]
    assert c.meta["dropped"] == {"reasoning": 1, "tool": 2}


def test_top_level_text_is_the_fallback_without_blocks(tmp_path):
    old = claude_msg("human", top_text="An old-style message")
    del old["content"]
    empty_blocks = claude_msg("assistant", blocks=[], top_text="Answer from text")
    c = one(tmp_path, claude_conv([old, empty_blocks]))
    assert turns(c) == [("user", "An old-style message"), ("assistant", "Answer from text")]


def test_only_thinking_gives_no_turn_and_never_the_thinking(tmp_path):
    m = claude_msg("assistant", blocks=[claude_thinking("secret plan")])
    c = one(tmp_path, claude_conv([claude_msg("human", "hi"), m]))
    assert turns(c) == [("user", "hi")]
    assert "secret" not in str(turns(c))


@pytest.mark.parametrize("btype, key", [("redacted_thinking", "reasoning"), ("image", "image"),
                                        ("token_budget", "unknown"), ("brand_new_block", "unknown")])
def test_other_blocks_are_dropped_and_counted(tmp_path, btype, key):
    m = claude_msg("assistant", blocks=[{"type": btype, "data": "x"}, claude_text("ok")])
    c = one(tmp_path, claude_conv([claude_msg("human", "hi"), m]))
    assert turns(c)[-1] == ("assistant", "ok") and c.meta["dropped"] == {key: 1}


def test_roles_and_consecutive_merge(tmp_path):
    msgs = [claude_msg("human", "one"), claude_msg("human", "two"), claude_msg("assistant", "three"),
            claude_msg("robot", "???"), claude_msg("assistant", "four")]
    c = one(tmp_path, claude_conv(msgs))
    assert turns(c) == [("user", "one\n\ntwo"), ("assistant", "three\n\nfour")]
    assert c.meta["dropped"] == {"malformed": 1}


def test_metadata_fields(tmp_path):
    c = one(tmp_path, claude_simple(("user", "a"), ("assistant", "b"), uuid="u-1", name="  Chapter 3 help "))
    assert (c.id, c.title) == ("u-1", "Chapter 3 help")
    assert c.created == iso_to_epoch("2024-05-01T10:00:00Z") == 1714557600.0
    assert c.source.endswith("conversations.json")


def test_empty_conversation_is_a_conversation_without_messages(tmp_path):
    c = one(tmp_path, claude_conv([], name=""))
    assert isinstance(c, Conversation) and c.messages == [] and c.title == ""


@pytest.mark.parametrize("s, expected", [
    ("2024-05-01T10:00:00Z", 1714557600.0),
    ("2024-05-01T10:00:00.123456789Z", 1714557600.123456),
    ("2024-05-01T10:00:00.5+00:00", 1714557600.5),
    ("2024-05-01T12:00:00+0200", 1714557600.0),
    ("2024-05-01 10:00:00", 1714557600.0),
    ("2024-05-01T10:00Z", 1714557600.0),
    ("yesterday", None),
])
def test_iso_timestamps(s, expected):
    got = iso_to_epoch(s)
    assert got == pytest.approx(expected) if expected is not None else got is None


# ---- attachments and artifacts ----------------------------------------------------------------

def _with_attachments():
    return claude_conv([
        claude_msg("human", "Can you tighten this scene?", attachments=[
            {"file_name": "chapter3.txt", "file_size": 30, "file_type": "txt",
             "extracted_content": "The door creaked. She waited."},
            {"file_name": "", "file_size": 20, "file_type": "txt", "extracted_content": "Pasted: more notes\n"}],
            files=[{"file_name": "cover.png"}]),
        claude_msg("assistant", "Tightened."),
    ])


def test_attachments_are_left_out_by_default_and_counted(tmp_path):
    c = one(tmp_path, _with_attachments())
    assert turns(c)[0] == ("user", "Can you tighten this scene?")
    assert c.meta["dropped"] == {"attachment": 2, "file": 1}


def test_attachments_included_when_asked(tmp_path):
    c = one(tmp_path, _with_attachments(), attachments=True)
    assert turns(c)[0] == ("user", "Can you tighten this scene?\n\n[Attachment: chapter3.txt]\nThe door creaked. "
                                   "She waited.\n\n[Attachment: pasted text]\nPasted: more notes")


def test_a_paste_only_message_appears_only_with_attachments(tmp_path):
    conv = claude_conv([claude_msg("human", blocks=[], top_text="", attachments=[
        {"file_name": "", "extracted_content": "Long pasted draft"}]), claude_msg("assistant", "Nice draft.")])
    assert turns(one(tmp_path, conv)) == [("assistant", "Nice draft.")]
    assert turns(one(tmp_path, conv, attachments=True))[0] == ("user", "[Attachment: pasted text]\nLong pasted draft")


def _artifact_conv(command="create"):
    art = {"type": "tool_use", "name": "artifacts", "input": {
        "id": "scene", "type": "text/markdown", "title": "Scene", "command": command,
        "content": "# The Pier\n\nFog everywhere.", "old_str": "a", "new_str": "b"}}
    return claude_conv([claude_msg("human", "Write the pier scene."),
                        claude_msg("assistant", blocks=[claude_text("Here it is:"), art, claude_text("Want more?")])])


def test_artifacts_dropped_by_default_and_counted(tmp_path):
    c = one(tmp_path, _artifact_conv())
    assert turns(c)[1] == ("assistant", "Here it is:\n\nWant more?") and c.meta["dropped"] == {"artifact": 1}


def test_artifacts_included_when_asked(tmp_path):
    c = one(tmp_path, _artifact_conv(), extra={"artifacts": True})
    assert turns(c)[1] == ("assistant", "Here it is:\n\n# The Pier\n\nFog everywhere.\n\nWant more?")
    upd = one(tmp_path, _artifact_conv("update"), extra={"artifacts": True})
    assert "b" not in turns(upd)[1][1].split() and upd.meta["dropped"] == {"artifact": 1}


def test_2024_inline_tags_thinking_removed_artifact_opt_in(tmp_path):
    reply = ("<antThinking>The user wants a poem; a good artifact candidate.</antThinking>\n\nHere is the poem:\n\n"
             '<antArtifact identifier="poem" type="text/markdown" title="Gull Rock">The lamp is cold,\n'
             "the sea is not.</antArtifact>\n\nShall I go on?")
    conv = claude_conv([claude_msg("human", "A poem about the rock?"), claude_msg("assistant", reply)])
    c = one(tmp_path, conv)
    assert turns(c)[1] == ("assistant", "Here is the poem:\n\nShall I go on?")
    assert "antThinking" not in turns(c)[1][1] and "artifact candidate" not in turns(c)[1][1]
    assert c.meta["dropped"] == {"reasoning": 1, "artifact": 1}
    mid = claude_conv([claude_msg("assistant", "Yes <antThinking>plan</antThinking> indeed.")])
    assert turns(one(tmp_path, mid)) == [("assistant", "Yes indeed.")]
    c = one(tmp_path, conv, extra={"artifacts": True})
    assert turns(c)[1] == ("assistant", "Here is the poem:\n\nThe lamp is cold,\nthe sea is not.\n\nShall I go on?")


# ---- browser-exporter trees --------------------------------------------------------------

def _tree_conv(leaf="a2b", **kw):
    M = claude_msg
    msgs = [
        M("human", "Give me a title.", uuid="u1", parent_message_uuid=CLAUDE_ROOT, created_at="2024-05-01T10:00:00Z"),
        M("assistant", "The Salt Road", uuid="a1", parent_message_uuid="u1", created_at="2024-05-01T10:00:05Z"),
        M("assistant", "Harbour Lights", uuid="a1b", parent_message_uuid="u1", created_at="2024-05-01T10:01:00Z"),
        M("human", "Darker?", uuid="u2", parent_message_uuid="a1b", created_at="2024-05-01T10:02:00Z"),
        M("assistant", "Drowned Lanterns", uuid="a2", parent_message_uuid="u2", created_at="2024-05-01T10:02:05Z"),
        M("assistant", "Black Water", uuid="a2b", parent_message_uuid="u2", created_at="2024-05-01T10:03:00Z"),
        M("human", "Darker? (edited)", uuid="u2b", parent_message_uuid="a1b", created_at="2024-05-01T10:01:30Z"),
    ]
    conv = claude_conv(msgs, **kw)
    if leaf is not None:
        conv["current_leaf_message_uuid"] = leaf
    return conv


def test_browser_export_follows_the_current_leaf(tmp_path):
    c = one(tmp_path, _tree_conv(leaf="a2"))
    assert turns(c) == [("user", "Give me a title."), ("assistant", "Harbour Lights"), ("user", "Darker?"),
                        ("assistant", "Drowned Lanterns")]
    assert "fallback_leaf" not in c.meta


@pytest.mark.parametrize("leaf", [None, "unknown-uuid"])
def test_browser_export_without_current_leaf_uses_newest_leaf(tmp_path, leaf):
    c = one(tmp_path, _tree_conv(leaf=leaf))
    assert turns(c)[-1] == ("assistant", "Black Water") and c.meta["fallback_leaf"] is True


def test_browser_export_with_a_loop(tmp_path):
    conv = _tree_conv(leaf="a2")
    conv["chat_messages"][0]["parent_message_uuid"] = "a2"  # u1 -> a2 -> u2 -> a1b -> u1
    out = one(tmp_path, conv)
    assert isinstance(out, Skip) and out.reason == "broken conversation" and "c-1" in out.where


def test_browser_export_garbage_parents(tmp_path):
    conv = _tree_conv(leaf="a2")
    conv["chat_messages"][3]["parent_message_uuid"] = ["not", "a", "string"]
    c = one(tmp_path, conv)
    assert c.meta["fallback_leaf"] and turns(c)[-1] == ("user", "Darker? (edited)")


@st.composite
def claude_trees(draw):
    n = draw(st.integers(1, 25))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    senders = [draw(st.sampled_from(["human", "assistant", "human", "assistant", "system"])) for _ in range(n)]
    texts = [draw(st.text("abcdef XYZ.!?", min_size=1, max_size=10).map(str.strip).filter(bool)) for _ in range(n)]
    order = draw(st.permutations(range(n)))
    return parents, senders, texts, order, draw(st.integers(0, n - 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claude_trees())
def test_tree_output_is_exactly_the_path_to_the_current_leaf(tree):
    parents, senders, texts, order, leaf = tree
    msgs = [claude_msg(senders[i], texts[i], uuid=f"m{i}",
                       parent_message_uuid=CLAUDE_ROOT if parents[i] is None else f"m{parents[i]}") for i in order]
    got = claude.convert(claude_conv(msgs, current_leaf_message_uuid=f"m{leaf}"), "f", 0, ParseOptions())
    path, i = [], leaf
    while i is not None:
        path.append(i)
        i = parents[i]
    roles = {"human": "user", "assistant": "assistant"}
    expected = merge_turns([Message(roles[senders[i]], texts[i]) for i in reversed(path) if senders[i] in roles])
    assert turns(got) == [(m.role, m.content) for m in expected]


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 15), st.just("ghost"), st.just(CLAUDE_ROOT)), min_size=1,
                max_size=16), st.one_of(st.none(), st.integers(0, 15)))
def test_loops_and_missing_parents_never_hang_or_crash(parents, leaf):
    msgs = [claude_msg("human" if i % 2 else "assistant", f"t{i}", uuid=f"m{i}",
                       parent_message_uuid=p if not isinstance(p, int) else f"m{p}") for i, p in enumerate(parents)]
    got = claude.convert(claude_conv(msgs, current_leaf_message_uuid=None if leaf is None else f"m{leaf}"),
                         "f", 0, ParseOptions())
    assert isinstance(got, (Conversation, Skip))


@pytest.mark.timeout(120)
def test_100000_message_thread_in_tree_shape():
    n = 100_000
    msgs = [{"uuid": f"m{i}", "sender": "human" if i % 2 == 0 else "assistant", "content": [claude_text(f"t{i}")],
             "parent_message_uuid": CLAUDE_ROOT if i == 0 else f"m{i - 1}"} for i in range(n)]
    c = claude.convert(claude_conv(msgs, current_leaf_message_uuid=f"m{n - 1}"), "f", 0, ParseOptions())
    assert len(c.messages) == n and c.messages[-1].content == f"t{n - 1}"


# ---- broken files and wrong types ----------------------------------------------------------

def test_truncated_file(tmp_path):
    data = orjson.dumps([claude_simple(("user", f"q{i}"), ("assistant", f"a{i}"), uuid=f"c{i}") for i in range(3)])
    out = run(claude, write(tmp_path / "conversations.json", data[:-30]))
    assert [c.id for c in out[:-1]] == ["c0", "c1"]
    assert isinstance(out[-1], Skip) and out[-1].reason == "truncated file"


def test_bad_element_in_the_middle(tmp_path):
    a = orjson.dumps(claude_simple(("user", "q"), ("assistant", "a"), uuid="c1"))
    b = orjson.dumps(claude_simple(("user", "q"), ("assistant", "a"), uuid="c3"))
    out = run(claude, write(tmp_path / "conversations.json", b"[" + a + b', {"uuid": "c2", "name": tru}, ' + b + b"]"))
    assert [type(x).__name__ for x in out] == ["Conversation", "Skip", "Conversation"] and out[2].id == "c3"


@pytest.mark.parametrize("data", [b"", b"   ", b"not json at all", b'{"uuid": "x", "chat_messages": ['])
def test_unreadable_file_raises_input_error_naming_it(tmp_path, data):
    with pytest.raises(InputError) as e:
        run(claude, write(tmp_path / "conversations.json", data))
    assert "conversations.json" in str(e.value)


@pytest.mark.parametrize("bad", [
    42,
    {"uuid": "x", "name": "n", "chat_messages": {"not": "a list"}},
    {"uuid": "x", "name": "n", "chat_messages": "text"},
])
def test_wrong_conversation_types_become_skips(tmp_path, bad):
    out = run(claude, write(tmp_path / "c.json", [bad, claude_simple(("user", "a"), ("assistant", "b"), uuid="ok")]))
    assert isinstance(out[0], Skip) and out[0].reason == "broken conversation" and out[1].id == "ok"


def test_wrong_message_types_are_dropped(tmp_path):
    msgs = [None, "text", claude_msg("human", "hi"),
            {"sender": "assistant", "content": None, "text": None},
            {"sender": "assistant", "content": [None, 5, {"type": "text", "text": None}, claude_text("yes")],
             "attachments": "nope", "files": None},
            ]
    c = one(tmp_path, claude_conv(msgs, created_at=12, name=None))
    assert turns(c) == [("user", "hi"), ("assistant", "yes")] and c.title == ""
    assert c.meta["dropped"] == {"malformed": 2, "unknown": 2}


# ---- the shipped sample ---------------------------------------------------------------------

def _sample_members():
    p = SAMPLES / "claude-export.zip"
    if not p.exists():
        pytest.skip("samples/claude-export.zip not built")
    return p, {e.name.rsplit("!", 1)[1]: e for e in iter_entries([str(p)])}


def test_sample_detection():
    _, members = _sample_members()
    assert [n for n, e in members.items() if claude.sniff(Sniff(e))] == ["conversations.json"]
    assert not any(chatgpt.sniff(Sniff(e)) for e in members.values())


def test_sample_content():
    p, members = _sample_members()
    assert p.stat().st_size < 64 * 1024
    with zipfile.ZipFile(p) as zf:
        assert {"conversations.json", "users.json", "projects.json"} <= set(zf.namelist())
    out = list(claude.parse(members["conversations.json"], ParseOptions()))
    convs = [c for c in out if isinstance(c, Conversation)]
    assert len(out) == len(convs) and 6 <= len(convs) <= 8
    assert any(not c.messages for c in convs)  # the empty one
    text = "\n".join(m.content for c in convs for m in c.messages)
    assert "can you make it longer?" in text.lower() and "continue" in text.lower()
    for leak in ("Keep it restrained", "First person, Mara's voice", "[Attachment:", "ledger scene should",
                 "Diaphones replaced", "Do not go gentle"):  # the last: an answer on an abandoned branch
        assert leak not in text, leak
    dropped = {k for c in convs for k in c.meta.get("dropped", {})}
    assert {"reasoning", "tool", "attachment"} <= dropped
    with_att = "\n".join(m.content for c in claude.parse(members["conversations.json"], ParseOptions(attachments=True))
                         for m in c.messages)
    assert "[Attachment:" in with_att


# ---- fuzzing: any shape, never an exception ------------------------------------------------

def _fuzz_base():
    M = claude_msg
    return claude_conv([
        M("human", "hi", uuid="u1", parent_message_uuid=CLAUDE_ROOT, attachments=[
            {"file_name": "a.txt", "extracted_content": "A"}], files=[{"file_name": "i.png"}]),
        M("assistant", blocks=[claude_thinking("t"), claude_text("x <antThinking>p</antThinking> y"),
                               {"type": "tool_use", "name": "artifacts", "input": {"command": "create", "content": "c"}},
                               {"type": "tool_result", "content": []}], uuid="a1", parent_message_uuid="u1"),
        M("assistant", "other", uuid="a2", parent_message_uuid="u1"),
    ], current_leaf_message_uuid="a1")


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_field_of_any_type_never_raises(data):
    conv = _fuzz_base()
    for _ in range(data.draw(st.integers(1, 3))):
        conv = replaced(conv, data.draw(st.sampled_from(json_paths(conv))), data.draw(_JSON))
    opts = ParseOptions(attachments=data.draw(st.booleans()), extra={"artifacts": data.draw(st.booleans())})
    got = claude.convert(conv, "f", 0, opts)
    assert isinstance(got, (Conversation, Skip))
    if isinstance(got, Conversation):
        assert all(m.role in ("user", "assistant") and m.content.strip() for m in got.messages)
        assert all(a.role != b.role for a, b in zip(got.messages, got.messages[1:]))
