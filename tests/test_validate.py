"""`miner validate`: every rule of every target, failing and passing, with line numbers and a
fix; token limits per model; minimum counts; OpenAI's default-epochs rule and the cost."""
from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from miner.cli import cli
from miner.hygiene.validate import check_line, default_epochs, resolve_model, target_settings, validate_file

U = {"role": "user", "content": "Write the storm scene."}
A = {"role": "assistant", "content": "Rain hammered the tin roof."}
S = {"role": "system", "content": "You are Quill."}


def codes(obj, target):
    return {f.code for f in check_line(obj, target) if f.severity == "error"}, \
           {f.code for f in check_line(obj, target) if f.severity == "warning"}


def write(tmp_path, lines, name="d.jsonl"):
    p = tmp_path / name
    p.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return p


GOOD = {
    "openai": {"messages": [S, U, A]},
    "mistral": {"messages": [S, U, A]},
    "trl": {"messages": [S, U, A]},
    "vertex": {"systemInstruction": {"role": "system", "parts": [{"text": "You are Quill."}]},
               "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Rain."}]}]},
    "sharegpt": {"system": "You are Quill.", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Rain."}]},
    "alpaca": {"instruction": "Write the storm.", "input": "", "output": "Rain.", "system": "You are Quill."},
    "openai-dpo": {"input": {"messages": [U]}, "preferred_output": [A],
                   "non_preferred_output": [{"role": "assistant", "content": "It rained."}]},
    "trl-preference": {"prompt": [U], "chosen": [A], "rejected": [{"role": "assistant", "content": "It rained."}]},
}


@pytest.mark.parametrize("target", sorted(GOOD))
def test_a_correct_line_passes_for_every_target(target):
    assert check_line(GOOD[target], target) == []


def _msgs(*m):
    return {"messages": list(m)}


# (target, bad line, error code that must be reported)
FAILING = [
    ("openai", {"prompt": "x"}, "missing_messages_list"),
    ("openai", _msgs(U, {"role": "assistant"}), "message_missing_key"),
    ("openai", _msgs({"role": "developer", "content": "x"}, U, A), "unrecognized_role"),
    ("openai", _msgs(U, {**A, "mood": "calm"}), "message_unrecognized_key"),
    ("openai", _msgs(U, {"role": "assistant", "content": "   "}), "missing_content"),
    ("openai", _msgs(S, U), "example_missing_assistant_message"),
    ("openai", _msgs({**U, "weight": 1}, A), "weight_not_allowed"),
    ("openai", _msgs(U, {**A, "weight": 0.5}), "bad_weight"),
    ("openai", _msgs(U, {**A, "weight": True}), "bad_weight"),
    ("openai", _msgs(U, {**A, "weight": 0}), "all_weights_zero"),
    ("openai", _msgs(U, {"role": "tool", "content": "{}"}, A), "tool_call_id"),
    ("mistral", _msgs(U, A, U), "last_turn_not_assistant"),
    ("mistral", _msgs(U, {"role": "assistant", "tool_calls": [{"id": "abc", "type": "function"}]},
                      {"role": "tool", "content": "{}", "tool_call_id": "abc"}, A), "tool_call_id"),
    ("trl", {"prompt": [U], "completion": "Rain."}, "mixed_shapes"),
    ("trl", {"prompt": [U], "completion": [{"role": "assistant", "content": ""}]}, "missing_content"),
    ("vertex", {"contents": []}, "missing_contents"),
    ("vertex", {"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "assistant", "parts": [{"text": "b"}]}]}, "unrecognized_role"),
    ("vertex", {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}, "example_missing_assistant_message"),
    ("vertex", {"contents": [{"role": "model", "parts": [{"text": "a"}]}, {"role": "user", "parts": [{"text": "b"}]},
                             {"role": "model", "parts": [{"text": "c"}]}]}, "first_turn_not_user"),
    ("vertex", {"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "user", "parts": [{"text": "b"}]},
                             {"role": "model", "parts": [{"text": "c"}]}]}, "not_alternating"),
    ("vertex", {"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]},
                             {"role": "user", "parts": [{"text": "c"}]}]}, "last_turn_not_assistant"),
    ("vertex", {"contents": [{"role": "user", "parts": [{"text": ""}]}, {"role": "model", "parts": [{"text": "b"}]}]}, "missing_content"),
    ("vertex", {"contents": [{"role": "user", "parts": []}, {"role": "model", "parts": [{"text": "b"}]}]}, "missing_content"),
    ("vertex", {"systemInstruction": {"text": "x"}, "contents": GOOD["vertex"]["contents"]}, "bad_system_instruction"),
    ("sharegpt", {"conversations": []}, "missing_conversations"),
    ("sharegpt", {"conversations": [{"from": "user", "value": "a"}, {"from": "gpt", "value": "b"}]}, "unrecognized_role"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": ""}]}, "missing_content"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}, {"from": "gpt", "value": "c"}]}, "not_alternating"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}, {"from": "human", "value": "c"}]}, "last_turn_not_assistant"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}]}, "example_missing_assistant_message"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "system", "value": "s"}, {"from": "gpt", "value": "b"}]}, "system_not_first"),
    ("alpaca", {"instruction": "a", "output": ""}, "missing_content"),
    ("alpaca", {"instruction": "", "input": "", "output": "b"}, "missing_content"),
    ("alpaca", {"instruction": "a", "output": "b", "history": ["q", "a"]}, "bad_history"),
    ("alpaca", {"instruction": 3, "output": "b"}, "data_type"),
    ("openai-dpo", {"preferred_output": [A], "non_preferred_output": [A]}, "dpo_input"),
    ("openai-dpo", {**GOOD["openai-dpo"], "input": {"messages": [U, A]}}, "dpo_input_last_not_user"),
    ("openai-dpo", {**GOOD["openai-dpo"], "preferred_output": [A, A]}, "dpo_output"),
    ("openai-dpo", {**GOOD["openai-dpo"], "preferred_output": [U]}, "dpo_output"),
    ("openai-dpo", {**GOOD["openai-dpo"], "non_preferred_output": A}, "dpo_output"),
    ("trl-preference", {"prompt": [U], "chosen": [A]}, "missing_key"),
    ("trl-preference", {"prompt": [U, A], "chosen": [A], "rejected": [A]}, "dpo_input_last_not_user"),
    ("trl-preference", {"prompt": [U], "chosen": [U], "rejected": [A]}, "dpo_output"),
    ("trl-preference", {"prompt": "x", "chosen": [A], "rejected": "y"}, "mixed_shapes"),
    ("trl-preference", {"prompt": "x", "chosen": "", "rejected": "y"}, "missing_content"),
]


@pytest.mark.parametrize("target,obj,code", FAILING, ids=[f"{t}-{c}-{i}" for i, (t, _, c) in enumerate(FAILING)])
def test_each_rule_reports_its_error_with_a_fix(target, obj, code):
    findings = [f for f in check_line(obj, target) if f.code == code]
    assert findings, check_line(obj, target)
    assert findings[0].severity == "error"
    assert findings[0].message and findings[0].fix


WARNING = [
    ("openai", _msgs(U, A, U), "last_turn_not_assistant"),
    ("openai", {**_msgs(U, A), "meta": {"source": "x"}}, "unknown_key"),
    ("openai", _msgs(S, A), "no_user_message"),
    ("trl", _msgs(U, {**A, "weight": 0}, U, A), "weight_ignored"),
    ("trl", _msgs(U, U, A), "not_alternating"),
    ("mistral", _msgs(U, U, A), "not_alternating"),
    ("openai-dpo", {**GOOD["openai-dpo"], "non_preferred_output": [A]}, "same_answers"),
    ("trl-preference", {"prompt": [U], "chosen": [A], "rejected": [A]}, "same_answers"),
]


@pytest.mark.parametrize("target,obj,code", WARNING)
def test_warnings_do_not_count_as_errors(target, obj, code):
    errors, warnings = codes(obj, target)
    assert code in warnings and not errors


def test_weight_on_assistant_and_tool_calls_are_accepted_by_openai():
    obj = _msgs(U, {"role": "assistant", "content": "draft", "weight": 0}, U, {**A, "weight": 1},
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                                      "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "content": "{\"t\": 3}", "tool_call_id": "call_1"}, A)
    assert codes(obj, "openai") == (set(), set())


def test_mistral_accepts_nine_character_tool_ids():
    obj = _msgs(U, {"role": "assistant", "tool_calls": [{"id": "TX92Jm8Zi", "type": "function"}]},
                {"role": "tool", "content": "{}", "tool_call_id": "TX92Jm8Zi"}, A)
    assert codes(obj, "mistral")[0] == set()


# ---- whole files --------------------------------------------------------------------------

def test_findings_carry_line_numbers_and_bad_json_is_an_error(tmp_path):
    lines = [{"messages": [S, U, A]}] * 12
    lines[4] = b'{"messages": [ {"role": "user"'
    lines[7] = {"messages": [S, U]}
    p = write(tmp_path, lines)
    r = validate_file(str(p), "openai")
    assert not r.ok
    by_line = {(f.line, f.code) for f in r.findings}
    assert (5, "invalid_json") in by_line
    assert (8, "example_missing_assistant_message") in by_line
    assert r.examples == 11


def test_wrong_format_line_gets_a_convert_hint(tmp_path):
    p = write(tmp_path, [GOOD["sharegpt"]] * 10)
    r = validate_file(str(p), "vertex")
    f = [f for f in r.findings if f.code == "wrong_format"]
    assert len(f) == 10 and "--format vertex" in f[0].fix and f[0].line == 1


def test_target_defaults_to_the_files_format(tmp_path):
    p = write(tmp_path, [GOOD["vertex"]] * 10)
    assert validate_file(str(p)).target == "vertex"


def test_minimum_and_recommended_example_counts(tmp_path):
    few = validate_file(str(write(tmp_path, [GOOD["openai"]] * 9, "few.jsonl")), "openai")
    assert "too_few_examples" in few.counts and not few.ok
    some = validate_file(str(write(tmp_path, [GOOD["openai"]] * 20, "some.jsonl")), "openai")
    assert some.ok and "few_examples" in some.counts and "too_few_examples" not in some.counts
    many = validate_file(str(write(tmp_path, [GOOD["openai"]] * 50, "many.jsonl")), "openai")
    assert "few_examples" not in many.counts


def test_token_limit_depends_on_the_model(tmp_path):
    long = {"messages": [U, {"role": "assistant", "content": "word " * 5000}]}
    p = write(tmp_path, [long] * 10)
    assert validate_file(str(p), "openai").too_long == 0  # 65,536 by default
    r = validate_file(str(p), "openai", "gpt-3.5-turbo-0613")  # 4,096
    assert r.too_long == 10 and r.token_limit == 4096
    assert r.ok  # over-long examples are truncated in training, not rejected
    assert validate_file(str(p), "trl", max_tokens=1000).too_long == 10


def test_model_names_without_date_resolve():
    table = {"gpt-4o-2024-08-06": 1, "gpt-4o-mini-2024-07-18": 2}
    assert resolve_model("gpt-4o-mini", table) == "gpt-4o-mini-2024-07-18"
    assert resolve_model("gpt-4o", table) == "gpt-4o-2024-08-06"
    assert resolve_model("gpt-5", table) is None
    assert target_settings("vertex")["max_tokens"] == 131072
    assert target_settings("openai")["max_tokens"] == 65536


def test_openai_default_epochs_rule():
    assert default_epochs(5) == 20  # the cookbook's example
    assert default_epochs(10) == 10
    assert default_epochs(3) == 25  # clamped
    assert default_epochs(100) == 3
    assert default_epochs(10000) == 2
    assert default_epochs(30000) == 1


def test_cost_is_billing_tokens_times_epochs_times_price(tmp_path):
    p = write(tmp_path, [GOOD["openai"]] * 20)
    r = validate_file(str(p), "openai", "gpt-4o-mini-2024-07-18")
    assert r.epochs == 5 and r.price_per_million == 3.0
    assert r.estimated_cost == pytest.approx(r.billing_tokens * 5 * 3.0 / 1e6, abs=1e-4)
    prices = tmp_path / "p.yaml"
    prices.write_text("openai:\n  gpt-4o-mini-2024-07-18: 6.0\n")
    r2 = validate_file(str(p), "openai", "gpt-4o-mini", epochs=2, prices=str(prices))
    assert r2.epochs == 2 and r2.estimated_cost == pytest.approx(r.billing_tokens * 2 * 6.0 / 1e6, abs=1e-4)


def test_cli_exit_codes_and_output(tmp_path):
    ok = write(tmp_path, [GOOD["openai"]] * 60, "ok.jsonl")
    r = CliRunner().invoke(cli, ["validate", str(ok), "--target", "openai"])
    assert r.exit_code == 0, r.output
    assert "OK" in r.output and "training cost" in r.output
    bad = write(tmp_path, [GOOD["openai"]] * 11 + [{"messages": [U]}], "bad.jsonl")
    r = CliRunner().invoke(cli, ["validate", str(bad), "--target", "openai"])
    assert r.exit_code == 1
    assert f"{bad}:12: error [example_missing_assistant_message]" in r.output and "fix:" in r.output
    r = CliRunner().invoke(cli, ["validate", str(bad), "--json"])
    data = orjson.loads(r.output)
    assert r.exit_code == 1 and data["errors"] == 1 and not data["ok"]
    assert [(f["line"], f["code"]) for f in data["findings"] if f["severity"] == "error"] == \
        [(12, "example_missing_assistant_message")]


def test_missing_file_is_one_clear_line(tmp_path):
    r = CliRunner().invoke(cli, ["validate", str(tmp_path / "nope.jsonl")])
    assert r.exit_code == 1 and "no such file" in r.output and "Traceback" not in r.output
