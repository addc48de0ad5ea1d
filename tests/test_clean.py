"""`miner clean`: replacements, refusals, duplicates, length limits, PII, format conversion,
and that every dropped line is counted (and saved with --rejects)."""
from __future__ import annotations

import random

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.cli import cli
from miner.hygiene.clean import RefusalMatcher, parse_replacement, redact_pii

WORDS = ("lantern harbor meadow violin letter garden kettle window ladder compass bakery station mirror valley bridge "
         "candle market pocket blanket engine notebook chapel tunnel balcony ferry cellar attic quarry").split()


def answer(r: random.Random, n: int = 40) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n)) + "."


def line(user, assistant, system="You are Quill."):
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": assistant}]}


def write(path, rows):
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows))
    return path


def read(path):
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def dataset(tmp_path):
    r = random.Random(9)
    rows = [line(f"Write scene {i} at the {r.choice(WORDS)}", "The opening of your story is bold. " + answer(r)) for i in range(20)]
    rows[3] = line("Write a scene", "As an AI language model, I can't write violent scenes.")
    rows[5] = line("Write a scene", "I'm sorry, but I can't help with that.")
    rows[7] = rows[2]  # exact duplicate
    rows[9] = line("Another prompt", rows[2]["messages"][2]["content"] + " Again.")  # near-duplicate answer
    rows[11] = line("Short", "Ok.")
    rows.append(b"{not json")
    return write(tmp_path / "wlm.jsonl", rows)


def test_clean_end_to_end_counts_every_drop(tmp_path):
    src = dataset(tmp_path)
    out, rej = tmp_path / "wlm.clean.jsonl", tmp_path / "rejects.jsonl"
    r = run("clean", src, "-o", out, "--dedupe", "--drop-refusals", "--replace", "The opening of your story is bold. =>",
            "--min-tokens", "30", "--max-tokens", "4000", "--rejects", rej)
    assert r.exit_code == 0, r.output
    kept = read(out)
    assert len(kept) == 21 - 6
    assert all("The opening of your story" not in k["messages"][2]["content"] for k in kept)
    assert all(k["messages"][0]["content"] == "You are Quill." for k in kept)  # only assistant turns edited
    rejects = read(rej)
    reasons = sorted(x["reason"] for x in rejects)
    assert reasons == ["duplicate", "invalid JSON", "near-duplicate", "refusal", "refusal", "too short"]
    assert {x["line"] for x in rejects} == {4, 6, 8, 10, 12, 21}
    assert rejects[0]["example"]["messages"][2]["content"].startswith("As an AI")  # the original line
    assert "raw" in [x for x in rejects if x["reason"] == "invalid JSON"][0]
    for word in ("refusal", "duplicate", "near-duplicate", "too short", "invalid JSON", "kept"):
        assert word in r.output


def test_refuses_to_overwrite_and_to_clobber_the_input(tmp_path):
    src = dataset(tmp_path)
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    r = CliRunner().invoke(cli, ["clean", str(src), "-o", str(out)])
    assert r.exit_code == 1 and "--force" in r.output and out.read_text() == "precious\n"
    r = CliRunner().invoke(cli, ["clean", str(src), "-o", str(src), "--force"])
    assert r.exit_code == 1 and "input" in r.output
    assert run("clean", src, "-o", out, "--force").exit_code == 0 and len(read(out)) == 20


def test_default_output_name_and_nothing_lost_without_options(tmp_path):
    src = dataset(tmp_path)
    assert run("clean", src).exit_code == 0
    out = tmp_path / "wlm.clean.jsonl"
    assert read(out) == read_valid(src)


def read_valid(path):
    out = []
    for x in path.read_bytes().splitlines():
        try:
            out.append(orjson.loads(x))
        except orjson.JSONDecodeError:
            pass
    return out


def test_replace_scope_and_regex(tmp_path):
    src = write(tmp_path / "d.jsonl", [line("Tell me about Willow Creek", "Willow Creek slept. Willow Creek dreamt.")])
    out = tmp_path / "o.jsonl"
    run("clean", src, "-o", out, "--replace", "Willow Creek=>Ashford")
    m = read(out)[0]["messages"]
    assert m[1]["content"] == "Tell me about Willow Creek" and m[2]["content"] == "Ashford slept. Ashford dreamt."
    run("clean", src, "-o", out, "--force", "--replace-re", r"Willow (\w+)=>Oak \1", "--in", "all")
    m = read(out)[0]["messages"]
    assert m[1]["content"] == "Tell me about Oak Creek" and m[2]["content"].startswith("Oak Creek slept")


def test_bad_replace_spec_is_one_clear_line(tmp_path):
    src = write(tmp_path / "d.jsonl", [line("a", "b")])
    r = CliRunner().invoke(cli, ["clean", str(src), "--replace", "no arrow here"])
    assert r.exit_code == 1 and "OLD=>NEW" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["clean", str(src), "--replace-re", "([unclosed=>x"])
    assert r.exit_code == 1 and "regular expression" in r.output


def test_edits_keep_other_keys_and_work_in_every_format(tmp_path):
    rows = [
        {**line("q", "Call me at +1 415 555 0199."), "tools": [{"type": "function"}]},
        {"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "mail me@x.org"}]}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "mail me@x.org"}], "system": "S"},
        {"instruction": "q", "input": "", "output": "mail me@x.org"},
    ]
    src = write(tmp_path / "d.jsonl", rows)
    out = tmp_path / "o.jsonl"
    assert run("clean", src, "-o", out, "--redact-pii").exit_code == 0
    got = read(out)
    assert got[0]["tools"] == [{"type": "function"}] and got[0]["messages"][2]["content"] == "Call me at [PHONE]."
    assert got[1]["contents"][1]["parts"][0]["text"] == "mail [EMAIL]"
    assert got[2]["conversations"][1]["value"] == "mail [EMAIL]" and got[2]["system"] == "S"
    assert got[3]["output"] == "mail [EMAIL]"


def test_format_conversion_reports_what_cannot_be_expressed(tmp_path):
    multi = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                          {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
    src = write(tmp_path / "d.jsonl", [line("q", "answer"), multi])
    out, rej = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    r = run("clean", src, "-o", out, "--format", "alpaca", "--rejects", rej)
    assert read(out) == [{"instruction": "q", "input": "", "output": "answer", "system": "You are Quill."}]
    assert read(rej)[0]["reason"] == "not expressible as alpaca" and "multi-turn" in read(rej)[0]["detail"]
    assert "not expressible as alpaca" in r.output


# ---- pieces -------------------------------------------------------------------------------

def test_refusal_phrases_at_start_only_do_not_catch_fiction_dialogue():
    m = RefusalMatcher.load()
    assert m.match("I’m sorry, but I can’t help with that request.")
    assert m.match("  \"I can't help with that,\" ... ") is not None
    assert m.match("Sure! Here it is. As an AI language model I tried my best.")
    assert m.match('Mara turned. "I\'m sorry, but I can\'t stay," she said.') is None
    assert m.match("The rain fell on the harbor.") is None


def test_extra_refusal_file_extends_the_list(tmp_path):
    f = tmp_path / "more.txt"
    f.write_text("# mine\n^as your writing coach\n")
    m = RefusalMatcher.load([str(f)])
    assert m.match("As your writing coach, I suggest ...") and not RefusalMatcher.load().match("As your writing coach, I")


@pytest.mark.parametrize("text,expected", [
    ("write to jane.doe+books@example.co.uk today", "write to [EMAIL] today"),
    ("call (415) 555-0199 or +44 20 7946 0958", "call [PHONE] or [PHONE]"),
    ("see https://x.com/a?token=abc123&x=1 and https://example.com/page", "see [URL] and https://example.com/page"),
    ("https://api.site.io/v1?api_key=SECRET", "[URL]"),
    ("from 1999-2004, in 1850, 3,000,000 people; version 1.2.3", "from 1999-2004, in 1850, 3,000,000 people; version 1.2.3"),
    ("Chapter 12, page 340", "Chapter 12, page 340"),
])
def test_redact_pii(text, expected):
    assert redact_pii(text)[0] == expected


emails = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,5})?@[a-z]{2,8}\.(com|org|de|co\.uk)", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60), emails, st.text(max_size=60))
def test_redaction_removes_every_email_and_is_idempotent(before, email, after):
    text = f"{before} {email} {after}"
    once, n = redact_pii(text)
    assert email not in once and n >= 1
    assert redact_pii(once)[0] == once


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=200))
def test_redaction_leaves_text_without_contacts_alone(text):
    if "@" not in text and "http" not in text.lower():
        assert redact_pii(text) == (text, 0)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=80), st.text(min_size=1, max_size=10).filter(lambda s: "=>" not in s and "=" != s[-1]),
       st.text(max_size=10))
def test_literal_replacement_matches_str_replace(text, old, new):
    assert parse_replacement(f"{old}=>{new}").apply(text) == (text.replace(old, new), text.count(old))
