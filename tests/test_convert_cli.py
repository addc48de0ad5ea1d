"""End-to-end behaviour of `miner convert` that does not depend on a particular export
format: output shape, filters, limits, errors, atomic output and exit codes."""
import json

import orjson
from click.testing import CliRunner

from miner import tokens
from miner.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_jsonl(path, convs):
    path.write_bytes(b"".join(orjson.dumps({"messages": c}) + b"\n" for c in convs))
    return path


def msgs(*pairs):
    out = []
    for u, a in pairs:
        out += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return out


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_system_prompt_is_put_first_in_every_example(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [msgs(("hi", "hello")), msgs(("a", "b"), ("c", "d"))])
    r = run("convert", str(src), "-o", str(tmp_path / "out.jsonl"), "--system", "You are FabulousGreg.")
    assert r.exit_code == 0, r.output
    lines = read(tmp_path / "out.jsonl")
    assert len(lines) == 2
    for line in lines:
        assert line["messages"][0] == {"role": "system", "content": "You are FabulousGreg."}
        assert [m["role"] for m in line["messages"][1:3]] == ["user", "assistant"]


def test_summary_names_skip_reasons_and_counts(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n'
                   '{"messages":[{"role":"user","content":"no answer"}]}\nnot json\n')
    r = run("convert", str(src), "-o", str(tmp_path / "out.jsonl"))
    assert r.exit_code == 0
    assert "no assistant turn after cleaning" in r.output
    assert "invalid JSON line" in r.output and "line 3" in r.output
    assert "examples written" in r.output


def test_existing_output_is_not_overwritten_without_force(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [msgs(("hi", "hello"))])
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    r = run("convert", str(src), "-o", str(out))
    assert r.exit_code == 1 and "--force" in r.output
    assert out.read_text() == "precious\n"
    assert run("convert", str(src), "-o", str(out), "--force").exit_code == 0
    assert read(out)[0]["messages"][1]["content"] == "hello"


def test_missing_input_is_one_clear_line_without_traceback(tmp_path):
    r = run("convert", str(tmp_path / "nope.zip"), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 1
    assert "nope.zip: no such file or folder" in r.output
    assert "Traceback" not in r.output


def test_nothing_usable_exits_nonzero_and_leaves_no_file(tmp_path):
    src = tmp_path / "notes.txt"
    src.write_text("just some text, not a chat export\n")
    out = tmp_path / "o.jsonl"
    r = run("convert", str(src), "-o", str(out))
    assert r.exit_code == 1
    assert "not a chat export" in r.output
    assert not out.exists()
    assert not list(tmp_path.glob(".o.jsonl*"))  # no temporary file left behind


def test_one_good_file_among_bad_ones_is_still_written(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [msgs(("hi", "hello"))])
    bad = tmp_path / "bad.json"
    bad.write_text("{ truncated")
    r = run("convert", str(bad), str(good), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 0
    assert len(read(tmp_path / "o.jsonl")) == 1


def test_max_tokens_split_keeps_windows_under_limit(tmp_path):
    long_pairs = [(f"question {i} " + "word " * 40, f"answer {i} " + "text " * 80) for i in range(6)]
    src = write_jsonl(tmp_path / "in.jsonl", [msgs(*long_pairs)])
    out = tmp_path / "o.jsonl"
    r = run("convert", str(src), "-o", str(out), "--max-tokens", "300", "--system", "S", "--no-collapse")
    assert r.exit_code == 0, r.output
    lines = read(out)
    assert len(lines) > 1
    for line in lines:
        m = line["messages"]
        assert tokens.count_messages(m) <= 300
        assert m[0]["role"] == "system" and m[1]["role"] == "user"
    assert "long conversations split" in r.output


def test_max_tokens_drop(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [msgs(("q", "a " * 500)), msgs(("short", "answer"))])
    out = tmp_path / "o.jsonl"
    r = run("convert", str(src), "-o", str(out), "--max-tokens", "100", "--long", "drop")
    assert r.exit_code == 0
    assert len(read(out)) == 1
    assert "over --max-tokens" in r.output


def test_min_turns_filter(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [msgs(("a", "b")), msgs(("a", "b"), ("c", "d"))])
    out = tmp_path / "o.jsonl"
    assert run("convert", str(src), "-o", str(out), "--min-turns", "2").exit_code == 0
    assert len(read(out)) == 1


def test_bad_date_and_bad_regex_are_user_errors(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [msgs(("a", "b"))])
    r = run("convert", str(src), "-o", str(tmp_path / "o.jsonl"), "--since", "last tuesday")
    assert r.exit_code == 1 and "YYYY-MM-DD" in r.output
    r = run("convert", str(src), "-o", str(tmp_path / "o.jsonl"), "--title-match", "(")
    assert r.exit_code == 1 and "regular expression" in r.output


def test_sharegpt_input_is_read_back(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}) + "\n")
    r = run("convert", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 0, r.output
    assert read(tmp_path / "o.jsonl")[0]["messages"] == [{"role": "user", "content": "hi"},
                                                          {"role": "assistant", "content": "yo"}]


def test_help_has_examples():
    r = run("convert", "--help")
    assert "Examples:" in r.output and "--system" in r.output


def test_unknown_roles_are_skipped_not_written(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"messages":[{"role":"banana","content":"x"},{"role":"user","content":"hi"},'
                   '{"role":"assistant","content":"yo"}]}\n'
                   '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n')
    r = run("convert", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 0
    assert "unknown message role" in r.output
    assert len(read(tmp_path / "o.jsonl")) == 1
