"""`miner stats`: planted tics are found and ordinary English is not; near-duplicates are
grouped; per-line flags for the review page; warnings tied to fine-tuning advice."""
from __future__ import annotations

import random

import orjson
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.cli import cli
from miner.hygiene.phrases import COMMON, STOPWORDS, ngrams
from miner.hygiene.stats import compute_stats

NOUNS = ("river orchard lantern harbor meadow violin letter garden kettle window ladder compass bakery station "
         "mirror valley bridge candle market pocket blanket engine notebook chapel tunnel balcony ferry cellar "
         "attic quarry rooftop workshop pantry stairwell greenhouse").split()
VERBS = "carried painted folded opened mended counted watched followed crossed lifted dropped traced washed sorted".split()
ADJ = "quiet bright narrow dusty crooked silver gentle hollow heavy early brittle salty patient rusty".split()
NAMES = "Mara Tobias Ines Felix Odile Rowan Priya Anselm Greta Lio Hedda Casimir".split()


def sentence(r: random.Random) -> str:
    n, v, a, o, p = r.choice(NAMES), r.choice(VERBS), r.choice(ADJ), r.choice(NOUNS), r.choice(NOUNS)
    return r.choice([
        f"{n} {v} the {a} {o} in the {p}.", f"In the {a} {p}, {n} {v} a {o} of the family.",
        f"{n} {v} the {o} and then the {p}.", f"It was {a} in the {p} when {n} {v} the {o}.",
        f"The {o} was {a}; {n} {v} it for the rest of the day.", f"{n} had {v} the {o} of the {p} in the morning.",
    ])


def story(r: random.Random, planted: bool) -> str:
    s = [sentence(r) for _ in range(r.randint(6, 12))]
    if planted:
        s.insert(r.randrange(len(s) + 1), "She bit her lip.")
    return " ".join(s)


def write(path, answers, prompts=None, system="You are Quill, who writes like me.", extra=None):
    r = random.Random(1)
    rows = []
    for i, a in enumerate(answers):
        prompt = prompts[i] if prompts else f"{r.choice(['Draft', 'Write', 'Sketch', 'Give me'])} a {r.choice(ADJ)} scene at the {r.choice(NOUNS)} with {r.choice(NAMES)}"
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}, {"role": "assistant", "content": a}]
        row = {"messages": msgs}
        if extra:
            row.update(extra(i))
        rows.append(orjson.dumps(row))
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


def planted_dataset(tmp_path, n=60, share=0.4):
    r = random.Random(7)
    planted = set(r.sample(range(n), int(n * share)))
    answers = [story(r, i in planted) for i in range(n)]
    return write(tmp_path / "wlm.jsonl", answers), {i + 1 for i in planted}


def test_planted_phrase_is_found_with_its_share_and_lines(tmp_path):
    path, planted_lines = planted_dataset(tmp_path)
    report = compute_stats(str(path))
    top = report.phrases[0]
    assert top.text == "she bit her lip"
    assert top.examples == 24 and abs(top.share - 0.4) < 1e-9
    assert set(top.lines) <= planted_lines and top.lines
    assert any(w["code"] == "phrase" and "she bit her lip" in w["message"] for w in report.warnings)
    flagged = {line for line, f in report.flags.items() if "phrase" in f}
    assert planted_lines <= flagged


def test_ordinary_phrases_are_not_reported(tmp_path):
    path, _ = planted_dataset(tmp_path)
    texts = {p.text for p in compute_stats(str(path)).phrases}
    for ordinary in ("of the", "in the", "and then the", "for the rest of", "in the morning", "it was"):
        assert ordinary not in texts
    # and they really are frequent in this data, so the test means something
    data = path.read_text()
    assert data.count(" of the ") > 60 and data.count(" in the ") > 60


def test_phrase_below_threshold_is_listed_but_not_warned(tmp_path):
    r = random.Random(3)
    answers = [story(r, False) + (" Willow Creek slept." if i % 10 == 0 else "") for i in range(60)]
    report = compute_stats(str(write(tmp_path / "d.jsonl", answers)))
    willow = [p for p in report.phrases if "willow creek" in p.text]
    assert willow and willow[0].examples == 6
    assert not any(w["code"] == "phrase" for w in report.warnings)
    assert any(w["code"] == "phrase" for w in compute_stats(str(tmp_path / "d.jsonl"), phrase_threshold=0.05).warnings)


ORDINARY = sorted(STOPWORDS | COMMON)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(ORDINARY + [".", ","]), max_size=80))
def test_text_made_of_ordinary_words_yields_no_candidate_phrases(words):
    assert ngrams(" ".join(words)) == set()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(ORDINARY[:60] + ["lantern", "willow", "creek", "quill", "."]), max_size=60))
def test_every_candidate_has_an_unusual_word_and_no_function_word_at_its_end(words):
    for g in ngrams(" ".join(words)):
        ws = g.split()
        assert 2 <= len(ws) <= 5
        assert any(w not in STOPWORDS and w not in COMMON for w in ws)
        assert ws[-1] not in STOPWORDS


def test_near_duplicates_are_grouped_and_flagged(tmp_path):
    r = random.Random(11)
    answers = [story(r, False) for _ in range(30)]
    answers[20] = answers[3] + " Then nothing."  # almost the same text
    answers[25] = answers[3]
    report = compute_stats(str(write(tmp_path / "d.jsonl", answers)))
    assert report.clusters == [[4, 21, 26]]
    assert all("near-duplicate" in report.flags[n] for n in (4, 21, 26))
    assert any(w["code"] == "near_duplicates" for w in report.warnings)


def test_refusals_and_too_long_are_flagged(tmp_path):
    r = random.Random(5)
    answers = [story(r, False) for _ in range(12)]
    answers[2] = "As an AI language model, I cannot write that scene."
    answers[5] = story(r, False) * 30
    report = compute_stats(str(write(tmp_path / "d.jsonl", answers)), max_tokens=2000)
    assert report.flags[3] >= {"refusal"} and report.refusals == 1
    assert "too-long" in report.flags[6] and report.too_long == 1


def test_distribution_and_system_prompts(tmp_path):
    path, _ = planted_dataset(tmp_path)
    report = compute_stats(str(path))
    t = report.token_summary()
    assert t["min"] <= t["median"] <= t["p95"] <= t["max"] and t["count"] == 60
    assert sum(n for *_, n in report.histogram()) == 60
    assert report.system_prompts.most_common(1)[0] == ("You are Quill, who writes like me.", 60)
    assert report.turns == {2: 60}


def test_few_examples_narrow_lengths_one_source_and_same_openings_warn(tmp_path):
    few = compute_stats(str(write(tmp_path / "few.jsonl", ["A short answer here."] * 3)))
    assert any(w["code"] == "few_examples" for w in few.warnings)
    same = " ".join(["the lantern swung"] * 40)
    r = random.Random(2)
    answers = [f"{same} {r.choice(NOUNS)} {r.choice(NOUNS)}." for _ in range(30)]
    rep = compute_stats(str(write(tmp_path / "narrow.jsonl", answers, prompts=[f"Continue the story {i}" for i in range(30)],
                                  extra=lambda i: {"source": "novel.docx" if i < 27 else "essay.pdf"})))
    codes = {w["code"] for w in rep.warnings}
    assert {"narrow_lengths", "one_source", "same_prompts"} <= codes
    assert rep.sources["novel.docx"] == 27


def test_prompt_diversity_is_higher_for_varied_prompts(tmp_path):
    r = random.Random(4)
    answers = [story(r, False) for _ in range(40)]
    varied = compute_stats(str(write(tmp_path / "v.jsonl", answers)))
    same = compute_stats(str(write(tmp_path / "s.jsonl", answers, prompts=["Write the next scene please"] * 40)))
    assert varied.prompt_distinct_2 > same.prompt_distinct_2
    assert varied.prompt_similarity < same.prompt_similarity == 1.0


def test_bad_lines_are_counted_not_fatal(tmp_path):
    path, _ = planted_dataset(tmp_path)
    with open(path, "ab") as f:
        f.write(b"{broken\n" + orjson.dumps({"text": "pretraining line"}) + b"\n")
    report = compute_stats(str(path))
    assert report.examples == 60 and report.bad_lines == {"invalid JSON": 1, "unknown format": 1}
    assert report.bad_examples["invalid JSON"] == [61]


def test_cli_terminal_and_json(tmp_path):
    path, _ = planted_dataset(tmp_path)
    r = CliRunner().invoke(cli, ["stats", str(path)])
    assert r.exit_code == 0, r.output
    assert "she bit her lip" in r.output and "tokens per example" in r.output and "█" in r.output
    r = CliRunner().invoke(cli, ["stats", str(path), "--json"])
    data = orjson.loads(r.output)
    assert data["examples"] == 60 and data["phrases"][0]["phrase"] == "she bit her lip"
    assert all(isinstance(v, list) for v in data["flags"].values())
