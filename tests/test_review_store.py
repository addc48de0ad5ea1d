"""The review edit store (miner.review.store): import, list queries, edits, undo, find/replace,
persistence and Save, on real JSONL files and real SQLite stores in tmp_path."""
from __future__ import annotations

import hashlib
import os
import re

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miner import tokens
from miner.errors import ConfigError, InputError, OutputError
from miner.review import stats as review_stats
from miner.review.store import PAGE_SIZE, ListQuery, Replace, StaleError, Store, default_out, store_path_for


def chat(user: str, answer: str, system: str | None = None, **extra) -> dict:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": msgs, **extra}


def write_jsonl(path, items) -> str:
    """items: dicts (dumped) or raw bytes/str lines (written as they are)."""
    with open(path, "wb") as f:
        for it in items:
            if isinstance(it, dict):
                f.write(orjson.dumps(it) + b"\n")
            else:
                f.write((it.encode() if isinstance(it, str) else it) + b"\n")
    return str(path)


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def saved_lines(store: Store) -> list[dict]:
    with open(store.out, "rb") as f:
        return [orjson.loads(line) for line in f]


@pytest.fixture
def small(tmp_path):
    items = [chat(f"Question {i}?", "word " * (i % 7 + 1), system="Be me.", source=f"chats.zip#{i}") for i in range(1, 121)]
    return write_jsonl(tmp_path / "wlm.jsonl", items)


# ---- import and listing ----------------------------------------------------------------------

def test_every_example_is_listed_with_its_line_number_previews_tokens_and_source(tmp_path):
    src = write_jsonl(tmp_path / "d.jsonl", [
        chat("How do I start a novel?", "Begin with the weather, then ignore it.", source="claude.zip#1"),
        "",
        chat("Second question", "Second answer", system="sys"),
    ])
    store = Store.open(src)
    page = store.page(ListQuery())
    assert [r.id for r in page.rows] == [1, 3]  # blank line 2 is not an example; numbering follows the file
    first = page.rows[0]
    assert first.first_user == "How do I start a novel?"
    assert first.answer == "Begin with the weather, then ignore it."
    assert first.source == "claude.zip#1"
    assert first.tokens == tokens.count_messages(chat("How do I start a novel?", "Begin with the weather, then ignore it.")["messages"])
    assert store.get(3).messages[0] == {"role": "system", "content": "sys"}
    assert default_out(src).endswith("d.reviewed.jsonl")
    assert os.path.exists(store_path_for(default_out(src)))


def test_long_turns_are_shortened_in_the_list_but_whole_on_the_example(tmp_path):
    long = "A sentence that goes on. " * 100
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("Q", long)]))
    row = store.page(ListQuery()).rows[0]
    assert len(row.answer) <= 200 and row.answer.endswith("…")
    assert store.get(1).messages[1]["content"] == long


def test_unreadable_lines_are_listed_with_the_reason_and_kept_on_save_unless_deleted(tmp_path):
    src = write_jsonl(tmp_path / "d.jsonl", [chat("a", "b"), "{oops", '"just a string"', '{"prompt": "x"}', chat("c", "d")])
    store = Store.open(src)
    bad = store.page(ListQuery(status="unreadable")).rows
    assert [(r.id, r.problem.split(" (")[0]) for r in bad] == [
        (2, "not valid JSON"), (3, "not a JSON object"), (4, "not a chat example in a format miner knows")]
    with pytest.raises(ConfigError, match="line 2 is not valid JSON"):
        store.edit_turn(2, 0, "x")
    store.set_deleted(3, True)
    store.save()
    assert open(store.out, "rb").read().splitlines() == [
        orjson.dumps(chat("a", "b")), b"{oops", b'{"prompt": "x"}', orjson.dumps(chat("c", "d"))]


def test_pages_hold_fifty_examples_and_sort_by_size_biggest_first(small):
    store = Store.open(small)
    p1 = store.page(ListQuery())
    assert (p1.total, p1.pages, len(p1.rows)) == (120, 3, PAGE_SIZE)
    assert [r.id for r in p1.rows][:3] == [1, 2, 3]
    last = store.page(ListQuery(page=3))
    assert [r.id for r in last.rows] == list(range(101, 121))
    assert store.page(ListQuery(page=99)).page == 3  # past the end: the last page
    by_size = store.page(ListQuery(sort="tokens")).rows
    assert [r.tokens for r in by_size] == sorted((r.tokens for r in by_size), reverse=True)
    biggest = max(range(1, 121), key=lambda i: (i % 7, -i))
    assert by_size[0].id == biggest  # ties keep file order
    smallest_first = store.page(ListQuery(sort="tokens", order="asc")).rows
    assert smallest_first[0].tokens == min(r.tokens for r in store.page(ListQuery(sort="tokens", order="asc", page=3)).rows + smallest_first)


def test_search_is_case_insensitive_across_every_turn_including_non_ascii(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [
        chat("Tell me about ÉTÉ in Provence", "ok"), chat("x", "The Lighthouse stood."), chat("y", "nothing")]))
    assert [r.id for r in store.page(ListQuery(q="été")).rows] == [1]
    assert [r.id for r in store.page(ListQuery(q="LIGHTHOUSE")).rows] == [2]
    assert store.page(ListQuery(q="absent")).total == 0


def test_status_filters(small):
    store = Store.open(small)
    store.set_deleted(5, True)
    store.edit_turn(6, 2, "changed")
    store.set_reviewed(7, True)
    assert [r.id for r in store.page(ListQuery(status="deleted")).rows] == [5]
    assert [r.id for r in store.page(ListQuery(status="edited")).rows] == [6]
    assert [r.id for r in store.page(ListQuery(status="reviewed")).rows] == [7]
    assert store.page(ListQuery()).total == 119  # deleted ones are hidden by default
    assert store.page(ListQuery(status="all")).total == 120


def test_previous_and_next_follow_the_list_order_and_filter(small):
    store = Store.open(small)
    q = ListQuery(sort="tokens")
    order = [r.id for p in (1, 2, 3) for r in store.page(q.with_(page=p)).rows]
    for i in (0, 1, 57, 119):
        prv, nxt = store.neighbours(order[i], q)
        assert prv == (order[i - 1] if i > 0 else None)
        assert nxt == (order[i + 1] if i < 119 else None)
    by_pos = ListQuery(order="desc")
    assert store.neighbours(50, by_pos) == (51, 49)
    store.set_deleted(order[3], True)  # just deleted: still knows where it was
    assert store.neighbours(order[3], q) == (order[2], order[4])


# ---- edits, delete, undo ---------------------------------------------------------------------

def test_editing_a_turn_changes_only_that_turn_and_keeps_every_other_key(tmp_path):
    line = {"messages": [{"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "As an AI, hello.", "weight": 1}],
            "metadata": {"source": "x.zip", "id": 7}, "tools": []}
    src = write_jsonl(tmp_path / "d.jsonl", [line, chat("keep", "me")])
    store = Store.open(src)
    assert store.edit_turn(1, 1, "Hello.") is True
    assert store.edit_turn(1, 1, "Hello.") is False  # no change, no undo step
    ex = store.get(1)
    assert ex.edited and ex.original[1]["content"] == "As an AI, hello."
    assert ex.tokens == tokens.count_messages(ex.messages)
    store.save()
    out = saved_lines(store)
    assert out[0] == {**line, "messages": [line["messages"][0], {"role": "assistant", "content": "Hello.", "weight": 1}]}
    assert open(store.out, "rb").read().splitlines()[1] == orjson.dumps(chat("keep", "me"))


def test_browser_line_endings_do_not_count_as_an_edit(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("q", "one\ntwo")]))
    assert store.edit_turn(1, 1, "one\r\ntwo") is False
    assert store.edit_turn(1, 1, "one\r\nthree") is True
    assert store.get(1).messages[1]["content"] == "one\nthree"


def test_editing_back_to_the_original_clears_the_edited_mark(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("q", "a")]))
    store.edit_turn(1, 1, "b")
    store.edit_turn(1, 1, "a")
    assert not store.get(1).edited
    store.edit_turn(1, 1, "c")
    assert store.revert(1) is True
    assert store.get(1).messages[1]["content"] == "a" and not store.get(1).edited


def test_delete_is_soft_undoable_and_leaves_the_example_out_of_the_saved_file(small):
    store = Store.open(small)
    assert store.set_deleted(2, True)
    assert store.get(2).deleted and store.counts()["deleted"] == 1
    assert store.last_op() == "deletion of line 2"
    assert store.undo() == "deletion of line 2"
    assert not store.get(2).deleted
    store.set_deleted(2, True)
    store.set_deleted(3, True)
    store.set_deleted(3, False)  # restore
    res = store.save()
    assert res.written == 119 and res.deleted == 1
    assert [m["content"] for m in saved_lines(store)[1]["messages"]][1] == "Question 3?"


def test_undo_goes_back_one_change_at_a_time(small):
    store = Store.open(small)
    before = store.get(4).messages
    store.edit_turn(4, 1, "first")
    store.edit_turn(4, 1, "second")
    store.replace(Replace("second", "third"))
    assert store.get(4).messages[1]["content"] == "third"
    store.undo()
    assert store.get(4).messages[1]["content"] == "second"
    store.undo()
    store.undo()
    assert store.get(4).messages == before and not store.get(4).edited
    assert store.undo() is None


def test_reviewed_marks_do_not_change_the_saved_file_or_need_saving(small):
    store = Store.open(small)
    store.set_reviewed(1, True)
    assert not store.unsaved and store.last_op() is None
    assert store.get(1).reviewed


# ---- find / replace ------------------------------------------------------------------------

def test_preview_shows_each_match_in_context_and_agrees_with_the_replace(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [
        chat("As an AI?", "As an AI language model, I think so. As an AI I do."),
        chat("plain", "nothing to see"),
        chat("x", "One more: As an AI."),
    ]))
    pv = store.preview(Replace("As an AI", "I"))
    assert (pv.matches, pv.examples) == (4, 2)
    assert [i.id for i in pv.items] == [1, 3]
    h = pv.items[0].hits[1]
    assert (h.role, h.old, h.new, h.after[:20]) == ("assistant", "As an AI", "I", " language model, I t")
    assert store.replace(Replace("As an AI", "I"), expected_examples=2) == (4, 2)
    assert store.get(1).messages[1]["content"] == "I language model, I think so. I I do."
    assert store.preview(Replace("As an AI", "I")).matches == 0


def test_replace_can_be_limited_to_one_role_and_skips_deleted_examples(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("Sure! go", "Sure! done"), chat("q", "Sure! deleted")]))
    store.set_deleted(2, True)
    assert store.replace(Replace("Sure! ", "", role="assistant")) == (1, 1)
    assert [m["content"] for m in store.get(1).messages] == ["Sure! go", "done"]
    assert store.get(2).messages[1]["content"] == "Sure! deleted"


def test_regex_replace_uses_groups_and_ignore_case(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("q", "Chapter 1: Rain. CHAPTER 2: Sun.")]))
    spec = Replace(r"chapter (\d+):", r"Part \1 -", regex=True, case=False)
    assert store.preview(spec).items[0].hits[0].new == "Part 1 -"
    store.replace(spec)
    assert store.get(1).messages[1]["content"] == "Part 1 - Rain. Part 2 - Sun."


@pytest.mark.parametrize("spec, message", [
    (Replace(""), "type the text to find"),
    (Replace("(unclosed", regex=True), "not a valid regular expression"),
    (Replace("x*", regex=True), "matches empty text"),
    (Replace("(a)", r"\2", regex=True), "does not fit the pattern"),
])
def test_bad_patterns_are_refused_in_plain_words_and_change_nothing(tmp_path, spec, message):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("q", "a b c")]))
    with pytest.raises(ConfigError, match=re.escape(message)):
        store.preview(spec)
    with pytest.raises(ConfigError, match=re.escape(message)):
        store.replace(spec)
    assert store.get(1).messages[1]["content"] == "a b c" and not store.unsaved


def test_replace_refuses_when_the_dataset_changed_since_the_preview(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("q", "foo"), chat("q", "foo")]))
    pv = store.preview(Replace("foo", "bar"))
    store.set_deleted(2, True)
    with pytest.raises(StaleError, match="preview showed 2 examples but 1 match now"):
        store.replace(Replace("foo", "bar"), expected_examples=pv.examples)
    assert store.get(1).messages[1]["content"] == "foo"


# Few distinct pieces, so finds hit often; accents, ß and an emoji for casefolding and widths.
texts = st.lists(st.sampled_from(list("ab \nÉé.ß") + ["ab", "\U0001f600"]), max_size=12).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(st.tuples(texts, texts), min_size=1, max_size=5),
       find=st.text(alphabet="ab É.", min_size=1, max_size=3), repl=st.text(alphabet="xy\\1", max_size=3))
def test_literal_replace_is_exactly_str_replace_on_every_turn(tmp_path_factory, contents, find, repl):
    d = tmp_path_factory.mktemp("p")
    store = Store.open(write_jsonl(d / "d.jsonl", [chat(u, a) for u, a in contents]))
    pv = store.preview(Replace(find, repl))
    matches, examples = store.replace(Replace(find, repl))
    assert (pv.matches, pv.examples) == (matches, examples)
    assert matches == sum(u.count(find) + a.count(find) for u, a in contents)
    for i, (u, a) in enumerate(contents, 1):
        assert [m["content"] for m in store.get(i).messages] == [u.replace(find, repl), a.replace(find, repl)]
    if matches:
        store.undo()
    for i, (u, a) in enumerate(contents, 1):
        assert [m["content"] for m in store.get(i).messages] == [u, a]
    store.close()


# ---- saving, persistence, safety ---------------------------------------------------------------

json_text = st.text(max_size=40)
line_objs = st.builds(lambda u, a, extra: {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}], **extra},
                      json_text, json_text, st.dictionaries(st.sampled_from(["id", "meta", "score"]),
                                                      st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | json_text,
                                                      max_size=2))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objs=st.lists(line_objs, min_size=1, max_size=6), pretty=st.booleans())
def test_saving_without_edits_writes_every_line_byte_for_byte(tmp_path_factory, objs, pretty):
    d = tmp_path_factory.mktemp("s")
    # Key order and spacing as another tool might have written them must survive untouched.
    lines = [(orjson.dumps(o, option=orjson.OPT_SORT_KEYS).replace(b'":', b'": ') if pretty else orjson.dumps(o)) for o in objs]
    src = write_jsonl(d / "d.jsonl", lines)
    store = Store.open(src)
    store.save()
    assert open(store.out, "rb").read() == b"".join(line + b"\n" for line in lines)
    store.close()


any_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=60)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objs=st.lists(line_objs, min_size=1, max_size=4), data=st.data())
def test_an_edited_turn_is_saved_exactly_and_nothing_else_changes(tmp_path_factory, objs, data):
    d = tmp_path_factory.mktemp("e")
    store = Store.open(write_jsonl(d / "d.jsonl", objs))
    line = data.draw(st.integers(1, len(objs)))
    turn = data.draw(st.integers(0, 1))
    text = data.draw(any_text)
    store.edit_turn(line, turn, text)
    store.save()
    out = saved_lines(store)
    expected = [dict(o) for o in objs]
    expected[line - 1] = {**objs[line - 1], "messages": [dict(m) for m in objs[line - 1]["messages"]]}
    expected[line - 1]["messages"][turn]["content"] = text
    assert out == expected
    store.close()


def test_the_original_file_is_never_modified(small):
    before = sha(small)
    store = Store.open(small)
    store.edit_turn(1, 2, "new")
    store.set_deleted(2, True)
    store.replace(Replace("word", "term"))
    store.save()
    assert sha(small) == before
    assert saved_lines(store)[0]["messages"][2]["content"] == "new"


def test_edits_survive_a_restart_and_can_still_be_undone(small):
    store = Store.open(small)
    store.edit_turn(1, 2, "edited before the restart")
    store.set_deleted(9, True)
    store.close()
    again = Store.open(small)
    assert again.get(1).messages[2]["content"] == "edited before the restart"
    assert again.get(9).deleted and again.unsaved
    assert again.undo() == "deletion of line 9"
    assert not again.get(9).deleted


def test_start_over_discards_kept_edits(small):
    store = Store.open(small)
    store.edit_turn(1, 2, "x")
    store.close()
    fresh = Store.open(small, start_over=True)
    assert not fresh.get(1).edited and not fresh.unsaved


def test_a_changed_original_is_refused_while_edits_are_kept_and_reimported_when_there_are_none(tmp_path):
    src = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a")])
    store = Store.open(src)
    store.close()
    write_jsonl(src, [chat("q", "a"), chat("new", "line")])
    assert Store.open(src).counts()["active"] == 2  # nothing was edited: just read it again
    store = Store.open(src)
    store.edit_turn(2, 1, "undone")
    store.undo()
    store.close()
    write_jsonl(src, [chat("q", "a"), chat("new", "line"), chat("third", "one")])
    assert Store.open(src).counts()["active"] == 3  # an undone edit is nothing to lose either
    store = Store.open(src)
    store.edit_turn(2, 1, "edited")
    write_jsonl(src, [chat("other", "file")])
    with pytest.raises(InputError, match="cannot be combined with the edits"):
        store.save()
    assert not os.path.exists(store.out)
    store.close()
    with pytest.raises(InputError, match="has changed since you started reviewing it"):
        Store.open(src)


def test_an_existing_output_needs_force_but_our_own_last_save_does_not(small, tmp_path):
    out = str(tmp_path / "final.jsonl")
    open(out, "w").write("someone else's file\n")
    with pytest.raises(OutputError, match="already exists; use --force"):
        Store.open(small, out)
    store = Store.open(small, out, force=True)
    store.save()
    store.close()
    again = Store.open(small, out)  # the file there is the one this review wrote
    again.edit_turn(1, 2, "second round")
    again.save()
    assert saved_lines(again)[0]["messages"][2]["content"] == "second round"


def test_the_output_cannot_be_the_file_under_review(small):
    with pytest.raises(OutputError, match="is the file being reviewed"):
        Store.open(small, small)


def test_a_missing_file_is_one_plain_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        Store.open(str(tmp_path / "nope.jsonl"))


def test_the_store_is_private_to_the_user(small):
    store = Store.open(small)
    assert os.stat(store.path).st_mode & 0o077 == 0


def test_other_chat_formats_are_edited_in_their_own_format(tmp_path):
    line = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Certainly! Hello."}],
            "system": "Be me.", "id": "c1"}
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [line]))
    assert [m["role"] for m in store.get(1).messages] == ["system", "user", "assistant"]
    store.replace(Replace("Certainly! ", ""))
    store.save()
    assert saved_lines(store) == [{**line, "conversations": [line["conversations"][0], {"from": "gpt", "value": "Hello."}]}]


def test_a_byte_order_mark_does_not_make_the_first_line_unreadable(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(chat("q", "a")) + b"\n")
    store = Store.open(str(src))
    assert store.counts()["unreadable"] == 0
    store.save()
    assert open(store.out, "rb").read() == orjson.dumps(chat("q", "a")) + b"\n"


# ---- statistics flags ----------------------------------------------------------------------

def _refusal_lines(path: str):
    """A small statistics function over the real temp file: flags lines with "I can't"."""
    flags, examples = {}, 0
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            examples += bool(line.strip())
            if "I can't" in line.decode():
                flags[n] = {"refusal"}
    return flags, {"examples": examples}


def test_statistics_flags_map_back_to_examples_and_follow_edits_and_deletions(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [
        chat("a", "fine"), chat("b", "I can't help"), chat("c", "fine"), chat("d", "I can't either")]))
    worker = review_stats.StatsWorker(store, compute_fn=_refusal_lines)
    worker.refresh_now()
    assert [r.id for r in store.page(ListQuery(flag="refusal")).rows] == [2, 4]
    assert store.stats() == ({"examples": 4}, store.version)
    store.set_deleted(1, True)  # line numbers in the temp file shift; flags must not
    store.edit_turn(2, 1, "Happy to help")
    assert not worker.status()["up_to_date"]
    worker.refresh_now()
    assert [r.id for r in store.page(ListQuery(flag="refusal")).rows] == [4]
    assert worker.status()["up_to_date"] and store.counts()["refusal"] == 1


def test_statistics_failures_are_reported_not_raised(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", [chat("a", "b")]))

    def broken(path):
        raise ValueError("no good")

    worker = review_stats.StatsWorker(store, compute_fn=broken)
    worker.refresh_now()
    assert worker.status()["error"] == "no good"


# ---- big inputs (CI runs these with -m slow) ---------------------------------------------------

@pytest.mark.slow
def test_fifty_thousand_examples_in_flat_memory(tmp_path):
    import tracemalloc

    src = tmp_path / "big.jsonl"
    with open(src, "wb") as f:
        for i in range(50_000):
            f.write(orjson.dumps(chat(f"Scene {i} at the harbour", ("Certainly! " if i % 5 == 0 else "") + "tide " * (i % 300 + 1))) + b"\n")
    tokens.encoding()  # load the tokenizer before measuring
    tracemalloc.start()
    try:
        store = Store.open(str(src))
        import_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        page = store.page(ListQuery(sort="tokens", page=700))
        pv = store.preview(Replace("Certainly! ", ""))
        assert store.replace(Replace("Certainly! ", ""), expected_examples=pv.examples) == (10_000, 10_000)
        store.save()
        work_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(page.rows) == PAGE_SIZE and page.total == 50_000 and page.pages == 1000
    assert import_peak < 32e6 and work_peak < 32e6  # the 50,000 examples themselves are ~40 MB of JSON
    with open(store.out, "rb") as f:
        n = sum(1 for line in f if b"Certainly" not in line)
    assert n == 50_000


def test_miner_stats_warnings_point_at_the_authors_own_line_numbers(tmp_path):
    """With the real `miner stats`: flags and the report's line numbers stay those of the
    original file after deletions (the temporary copy keeps an empty line in their place)."""
    import random

    rng = random.Random(3)
    words = "river stone lantern orchard winter kettle violin harbour meadow copper thistle".split()
    answers = {}
    for i in range(1, 41):
        a = " ".join(rng.choice(words) for _ in range(40))
        if i % 4 == 0:
            a += " She bit her lip and looked away."
        answers[i] = a
    answers[7] = "I'm sorry, but as an AI language model I cannot write that."
    answers[12] = answers[10]
    items = [chat(f"Write scene {i} about {rng.choice(words)}", answers[i]) for i in range(1, 41)]
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", items[:20] + [""] + items[20:]))  # a blank line 21
    worker = review_stats.StatsWorker(store)
    worker.refresh_now()
    if worker.status()["unavailable"]:
        pytest.fail("miner.hygiene.stats is missing")
    assert [r.id for r in store.page(ListQuery(flag="refusal")).rows] == [7]
    assert [r.id for r in store.page(ListQuery(flag="near-duplicate")).rows] == [10, 12]
    report, _ = store.stats()
    lip = next(p for p in report["phrases"] if "bit her lip" in p["phrase"])
    assert lip["lines"][:3] == [4, 8, 16]
    store.set_deleted(4, True)
    store.set_deleted(7, True)
    worker.refresh_now()
    report, _ = store.stats()
    lip = next(p for p in report["phrases"] if "bit her lip" in p["phrase"])
    assert lip["lines"][:3] == [8, 16, 20]
    assert 25 in lip["lines"]  # item 24 sits on line 25, after the blank line
    assert store.counts()["refusal"] == 0 and report["refusals"] == 0
    assert "path" not in report and "flags" not in report
