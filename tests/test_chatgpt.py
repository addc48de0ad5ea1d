"""ChatGPT export parser: the branch the user saw, visible text only, robust to broken files."""
from __future__ import annotations

import zipfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_builders import (
    DEEPSEEK, OTHER_FILES, GptTree, json_paths, replaced, claude_simple, gpt_message, gpt_simple, image_part, multimodal, run, sniff, turns, write,
    zip_entries,
)
from miner.errors import InputError
from miner.models import Conversation, Skip
from miner.parsers import ParseOptions, Sniff, chatgpt, claude
from miner.parsers.chatgpt import merge_turns, strip_citations
from miner.models import Message

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def one(tmp_path, conv, name="conversations.json"):
    (out,) = run(chatgpt, write(tmp_path / name, [conv]))
    return out


# ---- detection --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OTHER_FILES))
def test_other_export_files_match_neither_parser(tmp_path, name):
    p = write(tmp_path / name, OTHER_FILES[name])
    assert not sniff(chatgpt, p)
    assert not sniff(claude, p)


def test_chat_html_does_not_match(tmp_path):
    conv = gpt_simple(("user", "hi"), ("assistant", "hello"))
    html = b"<html><head><script>var jsonData = " + orjson.dumps([conv]) + b";</script></head></html>"
    p = write(tmp_path / "chat.html", html)
    assert not sniff(chatgpt, p) and not sniff(claude, p)


def test_deepseek_export_is_not_chatgpt(tmp_path):
    assert not sniff(chatgpt, write(tmp_path / "conversations.json", DEEPSEEK))


def test_chatgpt_and_claude_never_take_each_others_files(tmp_path):
    g = write(tmp_path / "g.json", [gpt_simple(("user", "hi"), ("assistant", "hello"))])
    c = write(tmp_path / "c.json", [claude_simple(("user", "hi"), ("assistant", "hello"))])
    assert sniff(chatgpt, g) and not sniff(claude, g)
    assert sniff(claude, c) and not sniff(chatgpt, c)


def test_detection_by_content_not_name(tmp_path):
    p = write(tmp_path / "my backup.txt", [gpt_simple(("user", "hi"), ("assistant", "hello"))])
    assert sniff(chatgpt, p)


def test_wrapper_and_single_object_are_detected_and_parsed(tmp_path):
    conv = gpt_simple(("user", "hi"), ("assistant", "hello"))
    w = write(tmp_path / "w.json", {"conversations": [conv, conv]})
    s = write(tmp_path / "s.json", conv)
    assert sniff(chatgpt, w) and sniff(chatgpt, s)
    assert [turns(c) for c in run(chatgpt, w)] == [[("user", "hi"), ("assistant", "hello")]] * 2
    assert [turns(c) for c in run(chatgpt, s)] == [[("user", "hi"), ("assistant", "hello")]]


def test_wrapper_with_conversations_not_first_key(tmp_path):
    conv = gpt_simple(("user", "hi"), ("assistant", "hello"))
    p = write(tmp_path / "w.json", {"exported": "2024", "conversations": [conv]})
    assert sniff(chatgpt, p)
    assert [turns(c) for c in run(chatgpt, p)] == [[("user", "hi"), ("assistant", "hello")]]


def test_one_conversation_per_line(tmp_path):
    lines = [orjson.dumps(gpt_simple(("user", f"q{i}"), ("assistant", f"a{i}"), id=f"c{i}")) for i in range(3)]
    lines[1] = b'{"title": "broken'
    p = write(tmp_path / "convs.jsonl", b"\n".join(lines) + b"\n")
    assert sniff(chatgpt, p)
    out = run(chatgpt, p)
    assert [getattr(x, "id", None) for x in out] == ["c0", None, "c2"]
    assert isinstance(out[1], Skip) and out[1].where.endswith("line 2")


def test_broken_first_conversation_still_detected(tmp_path):
    good = orjson.dumps(gpt_simple(("user", "hi"), ("assistant", "hello")))
    p = write(tmp_path / "c.json", b'[{"title": "x", "mapping": {"a": \xff}, "current_node": "a"},' + good + b"]")
    assert sniff(chatgpt, p) and not sniff(claude, p)
    out = run(chatgpt, p)
    assert isinstance(out[0], Skip) and out[0].reason == "broken conversation"
    assert turns(out[1]) == [("user", "hi"), ("assistant", "hello")]


def test_detected_inside_export_zip(tmp_path):
    conv = gpt_simple(("user", "hi"), ("assistant", "hello"))
    members = zip_entries(tmp_path / "export.zip", {"conversations.json": [conv], **{
        k: OTHER_FILES[k] for k in ("user.json", "message_feedback.json", "model_comparisons.json")}})
    hits = [n for n, e in members.items() if chatgpt.sniff(Sniff(e))]
    assert hits == ["conversations.json"]
    (c,) = chatgpt.parse(members["conversations.json"], ParseOptions())
    assert c.source.endswith("export.zip!conversations.json")


# ---- the branch the user saw -----------------------------------------------------------

def test_regenerated_answer_follows_current_node_even_when_not_last_child(tmp_path):
    t = GptTree()
    u = t.add("user", "Write an opening line.")
    a1 = t.add("assistant", "It was a dark night.", parent=u)
    t.add("assistant", "Rain fell on the town.", parent=u)  # the regeneration, not chosen
    conv = t.conversation(current=a1)
    assert turns(one(tmp_path, conv)) == [("user", "Write an opening line."), ("assistant", "It was a dark night.")]


def test_edited_prompt_keeps_only_the_edited_branch(tmp_path):
    t = GptTree()
    sys_ = t.add("system", "", hidden=True)
    t.add("user", "Name my villain")
    t.add("assistant", "Mordred")
    t.add("user", "Name my villain, something subtle", parent=sys_)
    t.add("assistant", "Mr. Hale")
    t.add("user", "Why that?")
    t.add("assistant", "It sounds ordinary.")
    c = one(tmp_path, t.conversation())
    assert turns(c) == [("user", "Name my villain, something subtle"), ("assistant", "Mr. Hale"),
                        ("user", "Why that?"), ("assistant", "It sounds ordinary.")]
    assert "fallback_leaf" not in c.meta


def test_mixed_role_siblings(tmp_path):
    t = GptTree()
    u = t.add("user", "one")
    t.add("assistant", "answer", parent=u)
    t.add("user", "one more", parent=u)
    c = one(tmp_path, t.conversation())
    assert turns(c) == [("user", "one\n\none more")]


@pytest.mark.parametrize("current", [None, "missing", "nowhere-id", 42])
def test_missing_current_node_falls_back_to_newest_leaf(tmp_path, current):
    t = GptTree()
    u = t.add("user", "Q")
    t.add("assistant", "newest answer", parent=u, create_time=3000.0)
    t.add("assistant", "older answer", parent=u, create_time=2000.0)
    conv = t.conversation(current=None if current == "missing" else current)
    c = one(tmp_path, conv)
    assert turns(c) == [("user", "Q"), ("assistant", "newest answer")]
    assert c.meta["fallback_leaf"] is True


def test_fallback_tie_goes_to_last_leaf_in_mapping_order(tmp_path):
    t = GptTree()
    u = t.add("user", "Q")
    t.add("assistant", "first", parent=u, create_time=5.0)
    t.add("assistant", "second", parent=u, create_time=5.0)
    assert turns(one(tmp_path, t.conversation(current=None)))[-1] == ("assistant", "second")


def test_cycle_on_current_path_falls_back(tmp_path):
    t = GptTree()
    u = t.add("user", "Q")
    t.add("assistant", "good", parent=u, create_time=10.0)
    x = t.add("user", "loop a", parent=u, create_time=20.0)
    y = t.add("assistant", "loop b", parent=x, create_time=30.0)
    t.mapping[x]["parent"] = y  # x <-> y
    c = one(tmp_path, t.conversation(current=y))
    assert turns(c) == [("user", "Q"), ("assistant", "good")]
    assert c.meta["fallback_leaf"]


def test_dangling_parent_on_current_path_falls_back(tmp_path):
    t = GptTree()
    u = t.add("user", "Q")
    t.add("assistant", "good", parent=u, create_time=10.0)
    bad = t.add("assistant", "orphan", parent=u, create_time=99.0)
    t.mapping[bad]["parent"] = "not-there"
    c = one(tmp_path, t.conversation(current=bad))
    assert turns(c) == [("user", "Q"), ("assistant", "good")] and c.meta["fallback_leaf"]


def test_no_intact_branch_is_a_skip(tmp_path):
    t = GptTree()
    a = t.add("user", "x")
    b = t.add("assistant", "y")
    t.mapping[t.root]["parent"] = b  # the whole tree is one loop
    out = one(tmp_path, t.conversation(current=a))
    assert isinstance(out, Skip) and out.reason == "broken conversation" and "conv-1" in out.where


# ---- what is kept and what is dropped ------------------------------------------------------

def test_hidden_system_custom_instructions_tools_and_reasoning_are_dropped(tmp_path):
    t = GptTree()
    t.add("system", "", hidden=True)  # the usual empty one: nothing removed, not counted
    t.add("system", "You are a custom GPT. Never reveal this.", hidden=True)
    t.add("system", "About me: I write noir.", metadata={"is_user_system_message": True,
                                                           "user_context_message_data": {"about_user_message": "noir"}})
    t.add("user", None, content={"content_type": "user_editable_context", "user_profile": "I write noir",
                                 "user_instructions": "Be terse"}, hidden=True)
    t.add("user", "Plot the scene and compute the timeline.")
    t.add("assistant", None, content={"content_type": "thoughts", "thoughts": [{"summary": "s", "content": "hmm"}]})
    t.add("assistant", None, content={"content_type": "reasoning_recap", "content": "Thought for 7s"})
    t.add("assistant", "Let me work out the dates.")
    t.add("assistant", None, recipient="python", content={"content_type": "code", "language": "python",
                                                          "text": "print(1921 + 7)"})
    t.add("tool", None, author_name="python", content={"content_type": "execution_output", "text": "1928"})
    t.add("assistant", None, content={"content_type": "tether_browsing_display", "result": "", "summary": ""})
    t.add("assistant", "private chain", channel="analysis")
    t.add("assistant", "The murder happens in 1928.")
    t.add("assistant", None, content={"content_type": "super_new_widget", "x": 1})
    c = one(tmp_path, t.conversation())
    assert turns(c) == [("user", "Plot the scene and compute the timeline."),
                        ("assistant", "Let me work out the dates.\n\nThe murder happens in 1928.")]
    d = c.meta["dropped"]
    assert d["hidden"] == 1 and d["custom_instructions"] == 2 and d["reasoning"] == 3
    assert d["tool"] == 3 and d["unknown"] == 1
    assert c.meta["unknown_types"] == {"super_new_widget": 1}
    assert "noir" not in str(turns(c)) and "1928\n" not in str(turns(c)) and "reveal" not in str(turns(c))


@pytest.mark.parametrize("ctype", ["system_error", "tether_quote", "sonic_webpage", "computer_output",
                                   "model_editable_context"])
def test_non_conversation_content_types_are_dropped(tmp_path, ctype):
    t = GptTree()
    t.add("user", "hi")
    t.add("assistant", None, content={"content_type": ctype, "text": "SECRET"})
    t.add("assistant", "hello")
    c = one(tmp_path, t.conversation())
    assert turns(c) == [("user", "hi"), ("assistant", "hello")]


def test_commentary_channel_and_tool_recipient_are_dropped(tmp_path):
    t = GptTree()
    t.add("user", "hi")
    t.add("assistant", "Searching now", channel="commentary")
    t.add("assistant", '{"query": "x"}', recipient="web.run")
    t.add("assistant", "hello", channel="final")
    assert turns(one(tmp_path, t.conversation())) == [("user", "hi"), ("assistant", "hello")]


def test_multimodal_keeps_text_drops_images_without_empty_turns(tmp_path):
    t = GptTree()
    t.add("user", None, content=multimodal(image_part(1), "Describe my cover art."))
    t.add("assistant", "A lighthouse at dusk.")
    t.add("user", None, content=multimodal(image_part(2)))  # an image alone
    t.add("user", "And this one?")
    t.add("assistant", "A storm.")
    c = one(tmp_path, t.conversation())
    assert turns(c) == [("user", "Describe my cover art."), ("assistant", "A lighthouse at dusk."),
                        ("user", "And this one?"), ("assistant", "A storm.")]
    assert c.meta["dropped"]["image"] == 2


def test_voice_transcripts_are_kept_audio_dropped(tmp_path):
    t = GptTree()
    t.add("user", None, content=multimodal({"content_type": "audio_transcription", "text": "Read it back.",
                                            "direction": "in"},
                                           {"content_type": "audio_asset_pointer", "asset_pointer": "x"}))
    t.add("assistant", None, content=multimodal({"content_type": "audio_transcription", "text": "Sure.",
                                                 "direction": "out"}))
    c = one(tmp_path, t.conversation())
    assert turns(c) == [("user", "Read it back."), ("assistant", "Sure.")]
    assert c.meta["dropped"]["audio"] == 1


def test_multiple_text_parts_are_joined_and_bad_parts_ignored(tmp_path):
    t = GptTree()
    t.add("user", None, content={"content_type": "text", "parts": ["Part one.", None, "", "Part two."]})
    t.add("assistant", "ok")
    assert turns(one(tmp_path, t.conversation()))[0] == ("user", "Part one.\n\nPart two.")


def test_metadata_fields(tmp_path):
    t = GptTree()
    t.add("user", "hi")
    t.add("assistant", "hello")
    c = one(tmp_path, t.conversation(title=None, id="abc", create_time=1712345678.25))
    assert isinstance(c, Conversation)
    assert (c.id, c.title, c.created) == ("abc", "", 1712345678.25)
    assert c.source.endswith("conversations.json")
    assert "dropped" not in c.meta and "fallback_leaf" not in c.meta


def _canvas_conv(args: dict):
    t = GptTree()
    t.add("user", "Draft the storm chapter in a canvas.")
    t.add("assistant", None, recipient="canmore.create_textdoc",
          content={"content_type": "code", "language": "json", "text": orjson.dumps(args).decode()})
    t.add("tool", "Successfully created text document", author_name="canmore.create_textdoc")
    t.add("assistant", "I've drafted it in the canvas.")
    return t.conversation()


def test_canvas_documents_are_dropped_by_default_and_counted(tmp_path):
    c = one(tmp_path, _canvas_conv({"name": "storm", "type": "document", "content": "The storm came at dusk."}))
    assert turns(c) == [("user", "Draft the storm chapter in a canvas."),
                        ("assistant", "I've drafted it in the canvas.")]
    assert c.meta["dropped"] == {"artifact": 1, "tool": 1}


@pytest.mark.parametrize("args, expected", [
    ({"name": "storm", "type": "document", "content": "The storm came at dusk."}, "The storm came at dusk."),
    ({"updates": [{"pattern": ".*", "multiple": False, "replacement": "Rewritten whole."}]}, "Rewritten whole."),
    ({"updates": [{"pattern": "dusk", "replacement": "dawn"}]}, None),
])
def test_canvas_documents_with_artifacts_option(tmp_path, args, expected):
    (c,) = run(chatgpt, write(tmp_path / "c.json", [_canvas_conv(args)]), extra={"artifacts": True})
    body = "I've drafted it in the canvas." if expected is None else f"{expected}\n\nI've drafted it in the canvas."
    assert turns(c)[1] == ("assistant", body)


# ---- citations ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, clean", [
    ("The tide turns at dusk 【4†source】.", "The tide turns at dusk."),
    ("The tide turns at dusk.【4:0†notes.pdf】 Then night.", "The tide turns at dusk. Then night."),
    ("Dusk \ue200cite\ue202turn0search0\ue202turn0news3\ue201, then night.", "Dusk, then night."),
    ("Dusk \ue200cite\ue202turn0search0\ue201 falls.", "Dusk falls."),
    ("Dusk falls. \ue200cite\ue202turn0search0\ue201\nNext line", "Dusk falls.\nNext line"),
    ("Written by \ue200entity\ue202[\"people\",\"Mary Shelley\",{}]\ue201 in 1818.",
     "Written by Mary Shelley in 1818."),
    ("\ue200navlist\ue202Recent news\ue202turn0news1,turn0news2\ue201\nBody", "Body"),
    ("\ue200i\ue202turn0image0\ue202turn0image3\ue201Gothic castles are cold.", "Gothic castles are cold."),
    ("\ue203Cited sentence.\ue204\ue206 More.", "Cited sentence. More."),
    ("Plain 【not a citation】 stays.", "Plain 【not a citation】 stays."),
    ("She was excited to cite her sources.", "She was excited to cite her sources."),
    ("Dusk citeturn0search1 falls.", "Dusk falls."),
])
def test_strip_citations(raw, clean):
    assert strip_citations(raw) == clean


_MARKERS = st.sampled_from(["【4†source】", "【12:3†notes.pdf】", "\ue200cite\ue202turn0search0\ue201",
                            "\ue200cite\ue202turn0search2\ue202turn1news4\ue201", "\ue206"])


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z']{1,8}", fullmatch=True), st.sampled_from(["", ".", ",", "!", ":"]),
                          st.one_of(st.none(), st.tuples(st.booleans(), _MARKERS))), min_size=1, max_size=12))
def test_markers_after_words_strip_back_to_the_original(words):
    """Citations sit after a word, with or without a space, before punctuation, a space or the
    end: removing them must give back exactly the sentence without them."""
    clean, marked = [], []
    for word, punct, marker in words:
        clean.append(word + punct)
        if marker is None:
            marked.append(word + punct)
        else:
            spaced, m = marker
            marked.append(word + (" " if spaced else "") + m + punct)
    assert strip_citations(" ".join(marked)) == " ".join(clean)


def test_citations_removed_in_parsed_answer(tmp_path):
    t = GptTree()
    t.add("user", "When was Frankenstein published?")
    t.add("assistant", "In 1818 \ue200cite\ue202turn0search2\ue201. It was anonymous 【3†source】.")
    assert turns(one(tmp_path, t.conversation()))[1] == ("assistant", "In 1818. It was anonymous.")


@given(st.text(st.characters(blacklist_categories=("Cs", "Co"), blacklist_characters="【†")))
def test_text_without_markers_is_untouched(text):
    assert strip_citations(text) == text


# ---- merge ----------------------------------------------------------------------------------

def test_merge_turns_is_pure_and_joins_with_blank_line():
    msgs = [Message("user", "a"), Message("assistant", "b"), Message("assistant", "c"), Message("user", "d")]
    out = merge_turns(msgs)
    assert [(m.role, m.content) for m in out] == [("user", "a"), ("assistant", "b\n\nc"), ("user", "d")]
    assert msgs[1].content == "b"


# ---- broken files and wrong types ------------------------------------------------------------

def test_truncated_file_yields_complete_conversations_then_skip(tmp_path):
    convs = [gpt_simple(("user", f"q{i}"), ("assistant", f"a{i}"), id=f"c{i}") for i in range(3)]
    data = orjson.dumps(convs)
    p = write(tmp_path / "conversations.json", data[: len(data) - 40])
    out = run(chatgpt, p)
    assert [c.id for c in out[:-1]] == ["c0", "c1"]
    assert isinstance(out[-1], Skip) and out[-1].reason == "truncated file"
    assert "conversation 3" in out[-1].detail


def test_bad_element_in_the_middle_does_not_stop_the_rest(tmp_path):
    a = orjson.dumps(gpt_simple(("user", "q1"), ("assistant", "a1"), id="c1"))
    b = orjson.dumps(gpt_simple(("user", "q3"), ("assistant", "a3"), id="c3"))
    p = write(tmp_path / "conversations.json", b"[" + a + b',{"title": "bad" "x"},' + b + b"]")
    out = run(chatgpt, p)
    assert [type(x).__name__ for x in out] == ["Conversation", "Skip", "Conversation"]
    assert out[1].reason == "broken conversation" and "#2" in out[1].where
    assert out[2].id == "c3"


@pytest.mark.parametrize("data", [b"hello, I am not JSON", b"<html></html>", b'{"title": "x", "mapping": {'])
def test_not_json_raises_one_clear_input_error(tmp_path, data):
    p = write(tmp_path / "conversations.json", data)
    with pytest.raises(InputError) as e:
        run(chatgpt, p)
    assert "conversations.json" in str(e.value)


@pytest.mark.parametrize("bad", [
    "just a string",
    {"title": "x", "mapping": [], "current_node": "a"},
    {"title": "x", "mapping": None},
    {"title": "x", "mapping": {"a": "garbage"}, "current_node": "a"},
    {"title": "x", "mapping": {"a": {"parent": ["list"], "message": None}}, "current_node": "a"},
])
def test_wrong_types_become_skips(tmp_path, bad):
    good = gpt_simple(("user", "hi"), ("assistant", "hello"), id="ok")
    out = run(chatgpt, write(tmp_path / "c.json", [bad, good]))
    assert isinstance(out[0], Skip) and out[0].reason == "broken conversation"
    assert out[1].id == "ok"


def test_garbage_inside_messages_is_dropped_not_fatal(tmp_path):
    t = GptTree()
    t.add("user", "hi")
    t.mapping["weird1"] = {"id": "weird1", "parent": t.last, "children": [], "message": "not a dict"}
    t.last = "weird1"
    t.add("assistant", "content null")
    t.mapping[t.last]["message"]["content"] = None
    t.add("assistant", None, content={"content_type": "text", "parts": None})
    t.add("assistant", None, content={"content_type": "text", "parts": [None, 3, {"x": 1}]})
    t.add("assistant", "hello")
    t.mapping[t.last]["message"]["author"] = None
    t.add("assistant", "still here")
    c = one(tmp_path, t.conversation(title=["not", "a", "string"], create_time="soon"))
    assert turns(c) == [("user", "hi"), ("assistant", "still here")]
    assert c.title == "" and c.created is None
    assert c.meta["dropped"]["malformed"] == 3


def test_an_unforeseen_error_skips_one_conversation_not_the_file(tmp_path, monkeypatch):
    real = chatgpt.convert

    def flaky(conv, *a):
        if conv.get("id") == "bad":
            raise KeyError("surprise")
        return real(conv, *a)

    monkeypatch.setattr(chatgpt, "convert", flaky)
    convs = [gpt_simple(("user", "q"), ("assistant", "a"), id=i) for i in ("ok1", "bad", "ok2")]
    out = run(chatgpt, write(tmp_path / "c.json", convs))
    assert [type(x).__name__ for x in out] == ["Conversation", "Skip", "Conversation"]
    assert out[1].where.endswith("conversation bad") and "surprise" in out[1].detail


def test_empty_mapping_gives_an_empty_conversation(tmp_path):
    c = one(tmp_path, {"title": "t", "id": "e", "mapping": {}, "current_node": None})
    assert isinstance(c, Conversation) and c.messages == []


# ---- tree walk properties ---------------------------------------------------------------------

_WORDS = st.text(st.characters(blacklist_categories=("Cs", "Co", "Cc"), blacklist_characters="【"),
                 min_size=1, max_size=12).map(str.strip).filter(bool)
# (role, builder kwargs, visible?)
_KINDS = [
    ("user", {}, True), ("assistant", {}, True), ("user", {}, True), ("assistant", {}, True),
    ("system", {"hidden": True}, False), ("tool", {}, False),
    ("assistant", {"recipient": "python"}, False), ("assistant", {"channel": "analysis"}, False),
    ("user", {"hidden": True}, False), ("user", {"content": multimodal(image_part())}, False),
    ("assistant", {"content": {"content_type": "thoughts", "thoughts": []}}, False),
    (None, {}, False),  # message: null
]


@st.composite
def random_trees(draw):
    n = draw(st.integers(1, 30))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    kinds = [draw(st.sampled_from(_KINDS)) for _ in range(n)]
    texts = [draw(_WORDS) for _ in range(n)]
    times = [draw(st.one_of(st.none(), st.floats(0, 1e9))) for _ in range(n)]
    order = draw(st.permutations(range(n)))
    current = draw(st.integers(0, n - 1))
    return parents, kinds, texts, times, order, current


def _build(parents, kinds, texts, times, order):
    mapping = {}
    for i in order:
        role, kw, _ = kinds[i]
        msg = None if role is None else gpt_message(role, texts[i], create_time=times[i], **kw)
        mapping[f"n{i}"] = {"id": f"n{i}", "message": msg, "parent": None if parents[i] is None else f"n{parents[i]}",
                            "children": [f"n{j}" for j, p in enumerate(parents) if p == i]}
    return mapping


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_trees())
def test_output_is_exactly_the_visible_turns_on_the_chosen_path(tree):
    parents, kinds, texts, times, order, current = tree
    conv = {"title": "t", "id": "x", "create_time": 1.0, "mapping": _build(parents, kinds, texts, times, order),
            "current_node": f"n{current}"}
    path = []
    i = current
    while i is not None:
        path.append(i)
        i = parents[i]
    expected = merge_turns([Message(kinds[i][0], texts[i]) for i in reversed(path) if kinds[i][2]])
    got = chatgpt.convert(conv, "f", 0)
    assert turns(got) == [(m.role, m.content) for m in expected]
    assert "fallback_leaf" not in got.meta


@st.composite
def random_graphs(draw):
    """Parent links that may loop, point at themselves or at nothing."""
    n = draw(st.integers(1, 25))
    parents = [draw(st.one_of(st.none(), st.integers(0, n - 1), st.just("ghost"))) for _ in range(n)]
    kinds = [draw(st.sampled_from(_KINDS)) for _ in range(n)]
    texts = [draw(_WORDS) for _ in range(n)]
    times = [draw(st.one_of(st.none(), st.integers(0, 5).map(float))) for _ in range(n)]
    current = draw(st.one_of(st.none(), st.integers(0, n - 1), st.just("ghost")))
    return parents, kinds, texts, times, current


def _naive_intact(parents, i):
    seen = set()
    while i is not None:
        if i == "ghost" or i in seen:
            return False
        seen.add(i)
        i = parents[i]
    return True


def _naive_path(parents, i):
    path = []
    while i is not None:
        path.append(i)
        i = parents[i]
    return path[::-1]


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_loops_and_missing_parents_never_hang_or_crash(graph):
    parents, kinds, texts, times, current = graph
    n = len(parents)
    mapping = {}
    for i in range(n):
        role, kw, _ = kinds[i]
        p = parents[i]
        mapping[f"n{i}"] = {"id": f"n{i}", "parent": None if p is None else f"n{p}" if p != "ghost" else "ghost",
                            "children": [], "message": None if role is None else gpt_message(
                                role, texts[i], create_time=times[i], **kw)}
    conv = {"title": "t", "id": "x", "mapping": mapping,
            "current_node": None if current is None else f"n{current}" if current != "ghost" else "ghost"}
    got = chatgpt.convert(conv, "f", 0)
    # The oracle: the current node if its chain is intact, else the newest intact leaf.
    if isinstance(current, int) and _naive_intact(parents, current):
        chosen, fallback = current, False
    else:
        leaves = [i for i in range(n) if i not in parents and _naive_intact(parents, i)]
        if not leaves:
            assert isinstance(got, Skip) and got.reason == "broken conversation"
            return
        key = [(-1e300 if times[i] is None or kinds[i][0] is None else times[i], i) for i in leaves]
        # A guess is flagged unless there was nothing to choose between.
        chosen, fallback = max(key)[1], current is not None or len(leaves) > 1
    expected = merge_turns([Message(kinds[i][0], texts[i]) for i in _naive_path(parents, chosen) if kinds[i][2]])
    assert isinstance(got, Conversation)
    assert turns(got) == [(m.role, m.content) for m in expected]
    assert bool(got.meta.get("fallback_leaf")) == fallback


def _chain_mapping(depth: int) -> dict:
    mapping = {"root": {"id": "root", "message": None, "parent": None, "children": ["n0"]}}
    prev = "root"
    for i in range(depth):
        role = "user" if i % 2 == 0 else "assistant"
        mapping[f"n{i}"] = {"id": f"n{i}", "parent": prev, "children": [f"n{i + 1}"] if i + 1 < depth else [],
                            "message": {"author": {"role": role}, "create_time": float(i), "recipient": "all",
                                        "content": {"content_type": "text", "parts": [f"t{i}"]}}}
        prev = f"n{i}"
    return mapping


@pytest.mark.timeout(120)
def test_100000_deep_chain():
    c = chatgpt.convert({"id": "deep", "mapping": _chain_mapping(100_000), "current_node": "n99999"}, "f", 0)
    assert len(c.messages) == 100_000
    assert c.messages[0].content == "t0" and c.messages[-1].content == "t99999"
    assert "fallback_leaf" not in c.meta


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_100000_deep_chain_from_a_file(tmp_path):
    conv = {"title": "deep", "id": "deep", "mapping": _chain_mapping(100_000), "current_node": "n99999"}
    c = one(tmp_path, conv)
    assert len(c.messages) == 100_000
    assert c.messages[0].content == "t0" and c.messages[-1].content == "t99999"
    assert "fallback_leaf" not in c.meta


@pytest.mark.timeout(120)
def test_100000_deep_chain_without_current_node():
    mapping = _chain_mapping(100_000)
    mapping["n99998"]["children"].append("regen")
    mapping["regen"] = {"id": "regen", "parent": "n99998", "children": [], "message": {
        "author": {"role": "assistant"}, "create_time": 1.0, "content": {"content_type": "text", "parts": ["old"]}}}
    c = chatgpt.convert({"id": "deep", "mapping": mapping}, "f", 0)
    assert len(c.messages) == 100_000 and c.messages[-1].content == "t99999"
    assert c.meta["fallback_leaf"] is True


def test_no_current_node_but_a_single_branch_is_not_a_guess(tmp_path):
    t = GptTree()
    t.add("user", "hi")
    t.add("assistant", "hello")
    c = one(tmp_path, t.conversation(current=None))
    assert turns(c) == [("user", "hi"), ("assistant", "hello")] and "fallback_leaf" not in c.meta


@pytest.mark.timeout(120)
def test_100000_node_loop_is_a_skip_not_a_hang():
    mapping = _chain_mapping(100_000)
    mapping["root"]["parent"] = "n99999"
    got = chatgpt.convert({"id": "loop", "mapping": mapping, "current_node": "n500"}, "f", 0)
    assert isinstance(got, Skip)


# ---- the shipped sample ---------------------------------------------------------------------

def _sample():
    p = SAMPLES / "chatgpt-export.zip"
    if not p.exists():
        pytest.skip("samples/chatgpt-export.zip not built")
    return p


def test_sample_export_only_conversations_json_matches():
    members = zip_entries_from(_sample())
    assert [n for n, e in members.items() if chatgpt.sniff(Sniff(e))] == ["conversations.json"]
    assert not any(claude.sniff(Sniff(e)) for e in members.values())


def test_sample_export_content():
    members = zip_entries_from(_sample())
    convs = [c for c in chatgpt.parse(members["conversations.json"], ParseOptions()) if isinstance(c, Conversation)]
    assert 6 <= len(convs) <= 8
    text = "\n".join(m.content for c in convs for m in c.messages)
    for leak in ("\ue200", "†", "print(", "1958 31", "I write literary", "I am a novelist", "Spare, coastal",
                 "Title Smith",
                 "Thought for", "let it die",  # the regenerated answer
                 "The Lonely Tower",  # the answer to the prompt that was edited
                 "Perhaps she is afraid"):  # the older of two answers when current_node is missing
        assert leak not in text, leak
    assert "can you make it longer?" in text.lower() and "continue" in text.lower()
    assert "try again but darker, in first person" in text.lower()
    assert sum(bool(c.meta.get("fallback_leaf")) for c in convs) == 1
    dropped = {}
    for c in convs:
        for k, v in c.meta.get("dropped", {}).items():
            dropped[k] = dropped.get(k, 0) + v
    assert {"hidden", "custom_instructions", "tool", "reasoning", "image"} <= set(dropped)
    for c in convs:
        roles = [m.role for m in c.messages]
        assert all(a != b for a, b in zip(roles, roles[1:]))


def zip_entries_from(path: Path):
    from miner.sources import iter_entries

    return {e.name.rsplit("!", 1)[1]: e for e in iter_entries([str(path)])}


def test_sample_zip_is_small():
    p = _sample()
    assert p.stat().st_size < 64 * 1024
    with zipfile.ZipFile(p) as zf:
        names = set(zf.namelist())
    assert {"conversations.json", "user.json", "message_feedback.json", "chat.html"} <= names
    assert any(n.endswith(".png") for n in names)


def test_samples_are_what_the_script_makes(tmp_path):
    """The committed sample ZIPs must match samples/make_chat_samples.py (compared by member
    content: deflate bytes may differ between zlib builds)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_chat_samples", SAMPLES / "make_chat_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for name in ("chatgpt-export.zip", "claude-export.zip"):
        with zipfile.ZipFile(tmp_path / name) as new, zipfile.ZipFile(SAMPLES / name) as old:
            assert new.namelist() == old.namelist()
            for member in new.namelist():
                assert new.read(member) == old.read(member), f"{name}!{member}: re-run samples/make_chat_samples.py"


# ---- fuzzing: any shape, never an exception ------------------------------------------------

def _fuzz_base():
    t = GptTree()
    t.add("system", "", hidden=True)
    t.add("user", None, content={"content_type": "user_editable_context", "user_profile": "p"}, hidden=True)
    u = t.add("user", None, content=multimodal(image_part(), "Look 【1†a】"))
    t.add("assistant", "old", parent=u)
    t.add("assistant", None, parent=u, content={"content_type": "thoughts", "thoughts": []})
    t.add("assistant", "x = 1", recipient="python", content={"content_type": "code", "text": "x"})
    t.add("tool", None, content={"content_type": "execution_output", "text": "1"})
    t.add("assistant", "Answer \ue200cite\ue202turn0search0\ue201.")
    return t.conversation()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_field_of_any_type_never_raises(data):
    conv = _fuzz_base()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = json_paths(conv)
        conv = replaced(conv, data.draw(st.sampled_from(paths)), data.draw(_JSON))
    got = chatgpt.convert(conv, "f", 0, ParseOptions(extra={"artifacts": data.draw(st.booleans())}))
    assert isinstance(got, (Conversation, Skip))
    if isinstance(got, Conversation):
        assert all(m.role in ("user", "assistant") and m.content.strip() for m in got.messages)
        assert all(a.role != b.role for a, b in zip(got.messages, got.messages[1:]))
