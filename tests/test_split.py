"""`miner split`: names derived from the input, deterministic by seed, near-duplicates never
straddle train and validation, stratified by source, lines copied unchanged."""
from __future__ import annotations

import random

import orjson
from click.testing import CliRunner

from miner.cli import cli
from miner.hygiene.split import split_file

WORDS = ("lantern harbor meadow violin letter garden kettle window ladder compass bakery station mirror valley bridge "
         "candle market pocket blanket engine notebook chapel tunnel balcony ferry cellar attic quarry").split()


def answer(r: random.Random) -> str:
    return " ".join(r.choice(WORDS) for _ in range(30)) + "."


def write(path, n=100, dup_of=None, source=None, seed=1):
    r = random.Random(seed)
    answers = [answer(r) for _ in range(n)]
    for i, j in (dup_of or {}).items():  # i is a near-duplicate of j
        answers[i] = answers[j] + " Indeed."
    rows = []
    for i, a in enumerate(answers):
        row = {"messages": [{"role": "user", "content": f"prompt {i}"}, {"role": "assistant", "content": a}]}
        if source:
            row["source"] = source(i)
        rows.append(orjson.dumps(row))
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


def lines(path):
    return path.read_bytes().splitlines()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_split_cli_names_counts_and_lossless_copy(tmp_path):
    src = write(tmp_path / "wlm.clean.jsonl")
    r = run("split", src, "--val", "0.1", "--seed", "7")
    assert r.exit_code == 0, r.output
    train, val = tmp_path / "wlm.clean.train.jsonl", tmp_path / "wlm.clean.val.jsonl"
    assert len(lines(val)) == 10 and len(lines(train)) == 90
    assert sorted(lines(train) + lines(val)) == sorted(lines(src))  # byte-for-byte, nothing lost
    assert "train" in r.output and "90" in r.output and "validation" in r.output


def test_refuses_to_overwrite_without_force(tmp_path):
    src = write(tmp_path / "d.jsonl")
    assert run("split", src).exit_code == 0
    r = CliRunner().invoke(cli, ["split", str(src)])
    assert r.exit_code == 1 and "--force" in r.output
    assert run("split", src, "--force", "--seed", "3").exit_code == 0


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    src = write(tmp_path / "d.jsonl")
    split_file(str(src), 0.2, seed=7)
    first = lines(tmp_path / "d.val.jsonl")
    split_file(str(src), 0.2, seed=7, force=True)
    assert lines(tmp_path / "d.val.jsonl") == first
    split_file(str(src), 0.2, seed=8, force=True)
    assert lines(tmp_path / "d.val.jsonl") != first


def test_near_duplicates_never_straddle(tmp_path):
    dups = {i: i - 1 for i in range(1, 60, 2)}  # 30 pairs
    src = write(tmp_path / "d.jsonl", n=60, dup_of=dups)
    for seed in range(8):
        split_file(str(src), 0.3, seed=seed, force=True)
        val = {orjson.loads(x)["messages"][0]["content"] for x in lines(tmp_path / "d.val.jsonl")}
        for i, j in dups.items():
            assert (f"prompt {i}" in val) == (f"prompt {j}" in val), f"seed {seed}: pair {j},{i} was split"
        assert len(val) == 18  # 30% of 60, made of whole pairs


def test_exact_duplicates_of_short_answers_stay_together(tmp_path):
    rows = [orjson.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]})] * 4
    r = random.Random(2)
    rows += [orjson.dumps({"messages": [{"role": "user", "content": f"p{i}"}, {"role": "assistant", "content": answer(r)}]})
             for i in range(16)]
    src = tmp_path / "d.jsonl"
    src.write_bytes(b"\n".join(rows) + b"\n")
    for seed in range(6):
        split_file(str(src), 0.25, seed=seed, force=True)
        n_val = sum(b'"Hello!"' in x for x in lines(tmp_path / "d.val.jsonl"))
        assert n_val in (0, 4)


def test_stratified_by_source(tmp_path):
    src = write(tmp_path / "d.jsonl", n=100, source=lambda i: "novel.docx" if i < 80 else "essays.pdf")
    s = split_file(str(src), 0.1, seed=1)
    val = [orjson.loads(x)["source"] for x in lines(tmp_path / "d.val.jsonl")]
    assert val.count("novel.docx") == 8 and val.count("essays.pdf") == 2
    assert s.info["sources split evenly"] == 2


def test_val_as_a_count_and_bad_values(tmp_path):
    src = write(tmp_path / "d.jsonl", n=50)
    assert run("split", src, "--val", "7").exit_code == 0
    assert len(lines(tmp_path / "d.val.jsonl")) == 7
    r = CliRunner().invoke(cli, ["split", str(src), "--val", "50", "--force"])
    assert r.exit_code == 1 and "nothing to train" in r.output
    r = CliRunner().invoke(cli, ["split", str(src), "--val", "1.5", "--force"])
    assert r.exit_code == 1 and "fraction" in r.output


def test_bad_lines_are_left_out_and_counted(tmp_path):
    src = write(tmp_path / "d.jsonl", n=20)
    with open(src, "ab") as f:
        f.write(b"{oops\n")
    s = split_file(str(src), 0.1, seed=0)
    assert s.skips["invalid JSON"] == 1 and s.counts["examples"] == 20
    assert len(lines(tmp_path / "d.train.jsonl")) + len(lines(tmp_path / "d.val.jsonl")) == 20
