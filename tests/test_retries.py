"""Retry-chain collapse, folding, rule files, the two preference writers and `miner retries`."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miner import retries, writers
from miner.cli import cli
from miner.errors import ConfigError
from miner.models import Conversation, Message, Preference
from miner.writers import FormatError

REQUEST = "Write a short story about a lighthouse keeper named Mara."
DRAFT = ("Mara climbed the lighthouse stairs every evening, counting the hundred and twelve steps while the "
         "storm gathered over the grey water. The lamp waited for her at the top, patient as an old dog.")
LONGER = ("Mara climbed the lighthouse stairs every evening, counting the hundred and twelve steps while the "
          "storm gathered over the grey water and the gulls went quiet. Her father had kept this light for "
          "forty years. The lamp waited for her at the top, patient as an old dog, and she spoke to it softly.")
LONGEST = LONGER + (' "Evening, old friend," she said. "Storm tonight." The lamp, as always, said nothing, and '
                    "she trimmed the wick and watched the boats come home.")
CONTINUATION = ("At midnight the radio crackled: a trawler had lost her engine off the north reef. She pulled on "
                "her oilskins and ran down to the boathouse, where the rescue boat rocked in the dark.")


@pytest.fixture(scope="module")
def rules() -> retries.Rules:
    return retries.load_rules()


def conv(*pairs: tuple[str, str], system: str | None = None, **kw) -> Conversation:
    msgs = [Message("system", system)] if system else []
    for role_text in pairs:
        msgs.append(Message(*role_text))
    return Conversation(messages=msgs, id=kw.get("id", "c1"), title=kw.get("title", "Lighthouse"),
                        source=kw.get("source", "export.zip!conversations.json"))


def chat(*texts: str, system: str | None = None) -> Conversation:
    """user, assistant, user, assistant, ... from plain texts."""
    return conv(*[("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(texts)], system=system)


# ---- rules ----------------------------------------------------------------------------------

def test_builtin_rules_load_and_cover_both_sides(rules):
    assert {"redo", "length", "tone", "voice", "content"} <= set(rules.categories("retry"))
    assert {"continuation", "new_request", "task_switch", "thanks", "question"} <= set(rules.categories("not_retry"))
    assert rules.fillers_start and rules.fillers_end


def test_user_rules_add_phrases(tmp_path, rules):
    followup = "zhuzh it up"
    # (no next answer, so only the phrases decide)
    assert not retries.classify(REQUEST, DRAFT, followup, None, rules).is_retry
    f = tmp_path / "mine.yaml"
    f.write_text("retry:\n  slang:\n    - zhuzh\n", encoding="utf-8")
    mine = retries.load_rules(str(f))
    d = retries.classify(REQUEST, DRAFT, followup, None, mine)
    assert d.is_retry and "zhuzh" in d.rule and "slang" in d.rule
    # an author's own word also counts at the head of a clause in a longer message
    assert retries.classify(REQUEST, DRAFT, "ok this is good but zhuzh it up a little for the party crowd",
                            None, mine).is_retry
    # the built-in phrases are still there
    assert retries.classify(REQUEST, DRAFT, "make it longer", LONGER, mine).is_retry


def test_user_rules_can_add_negative_phrases(tmp_path, rules):
    f = tmp_path / "mine.yaml"
    f.write_text("not_retry:\n  continuation:\n    - \"onwards\"\n", encoding="utf-8")
    d = retries.classify(REQUEST, DRAFT, "onwards, but darker", CONTINUATION, retries.load_rules(str(f)))
    assert not d.is_retry and "onwards" in d.rule


@pytest.mark.parametrize("text, message", [
    ("retry: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "expected groups"),
    ("retries:\n  mine:\n    - x\n", "unknown section 'retries'"),
    ("retry:\n  mine: make it pop\n", "must be a list of phrases"),
    ("retry:\n  mine:\n    - # words\n", "must be in quotes"),
    ("fillers:\n  middle:\n    - um\n", "fillers has lists 'start' and 'end'"),
    ("retry:\n  mine:\n    - \"* *\"\n", "needs at least one word"),
])
def test_bad_rule_files_name_the_file_and_the_problem(tmp_path, text, message):
    f = tmp_path / "bad-rules.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        retries.load_rules(str(f))
    assert "bad-rules.yaml" in str(e.value) and message in str(e.value)


def test_missing_rule_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        retries.load_rules(str(tmp_path / "nope.yaml"))


def test_yes_no_and_numbers_stay_phrases(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("retry:\n  mine:\n    - yes but\n    - 500\n  other:\n    - no\n", encoding="utf-8")
    r = retries.load_rules(str(f))
    assert {"yes but", "500", "no"} <= {p.text for p in r.patterns}


# ---- phrase matching ------------------------------------------------------------------------

@pytest.mark.parametrize("phrase, text, hit", [
    ("make it * longer", "make it a lot longer", True),
    ("make it * longer", "make it longer", True),
    ("make it * longer", "make it one two three four longer", False),
    ("too _", "way too long", True),
    ("too _", "me too", False),
    ("# words", "two thousand words please", True),
    ("# words", "2,000 words", True),
    ("# words", "more words", False),
    ("^more$", "more", True),
    ("^more$", "more dialogue", False),
    ("^*er$", "darker!", True),
    ("^*er$", "chapter", False),
    ("rewrit*", "rewriting it", True),
    # "# words" needs a plausible length; other units take any number
    ("# words", "500 words", True),
    ("# words", "fifty words", True),
    ("# words", "a few hundred words", True),
    ("# words", "2k words", True),
    ("# word", "question 1 word word word", False),
    ("# words", "in 3 words", False),
    ("under #", "under 10", False),
    ("under #", "under 100", True),
    ("# paragraphs", "3 paragraphs", True),
    ("# lines", "condense it into three lines", True),
])
def test_phrase_syntax(phrase, text, hit):
    p = retries._compile_phrase(phrase, "retry", "x")
    assert (retries.find(p, retries._tokens(text)) is not None) is hit


def test_typos_are_forgiven_but_names_and_real_words_are_not(rules):
    toks, fixes = retries.corrected_tokens("rewite it longr", rules)
    assert toks == ["rewrite", "it", "longer"] and fixes == {"rewite": "rewrite", "longr": "longer"}
    # a real word is never "corrected" into a rule word ("sort" is not "short")
    assert retries.corrected_tokens("sort the list", rules)[0] == ["sort", "the", "list"]
    # a word from the conversation itself (a name) stays as it is
    assert retries.corrected_tokens("give Shortr a hat", rules, keep={"shortr"})[0][1] == "shortr"


# ---- classify: the phrasings the brief names ------------------------------------------------

@pytest.mark.parametrize("followup", [
    "make it longer", "shorter", "can you expand that?", "condense it", "add dialogue", "less purple prose",
    "more sensory detail", "make it 2000 words", "in first person", "darker", "funnier", "more formal",
    "try again", "rewrite", "redo", "another version", "not quite", "no, that's not it — darker",
    "mak it longr", "rewite", "could you please make it more casual", "hmm ok but can you make it way more detailed",
    "even longer, and add dialogue",
])
def test_retries_are_detected(rules, followup):
    d = retries.classify(REQUEST, DRAFT, followup, LONGER, rules)
    assert d.is_retry, d
    assert d.reason and d.rule


@pytest.mark.parametrize("followup, next_answer", [
    ("now write chapter 2", "Chapter 2. The supply boat came on Thursdays, when it came at all."),
    ("give me three titles for it", "1. The Hundred Steps\n2. Old Dog\n3. Last Boat"),
    ("write the next scene", CONTINUATION),
    ("continue", CONTINUATION), ("keep going", CONTINUATION), ("go on", CONTINUATION),
    ("what happens next?", CONTINUATION),
    ("why did you choose that name?", "Mara is short and old-fashioned, which suits an island keeper."),
    ("translate it into French", "Mara montait l'escalier du phare chaque soir."),
    ("summarize it", "A keeper climbs her lighthouse as a storm comes in."),
    ("turn this into a poem", "A hundred steps and twelve she climbs, / the storm is gathering on the grey"),
    ("perfect, thanks!", "You're welcome!"),
])
def test_hard_negatives_are_not_retries(rules, followup, next_answer):
    d = retries.classify(REQUEST, DRAFT, followup, next_answer, rules)
    assert not d.is_retry, d


def test_the_next_answer_settles_mixed_wording(rules):
    # "continue, but darker": a continuation if the answer carries on, a retry if it rewrites
    assert not retries.classify(REQUEST, DRAFT, "continue, but darker", CONTINUATION, rules).is_retry
    d = retries.classify(REQUEST, DRAFT, "continue, but darker", LONGER, rules)
    assert d.is_retry and "rewrites the draft" in d.rule


@pytest.mark.parametrize("followup", [
    "make it darker", "darker please", "Dark and moody, please.", "more dialogue", "less exposition",
    "it's too dark", "not dark enough", "a bit colder?", "it should be colder", "needs to feel warmer",
    "I wanted it in first person", "write it in the present tense", "first person instead",
    "make the ending sadder", "could you make it 500 words", "keep it under 300 words",
    "Lovely. Warmer though, and less about the storm.",
    # long, with new detail, but with an explicit instruction about the answer
    "I like where this is going, but can you make it darker overall and give Mara a reason to be afraid of the "
    "sea, maybe something that happened to her father when she was a child?",
    "This is a good start. Rewrite it with more menace: the storm should feel dangerous from the first line, and "
    "I want the reader to understand what she lost out there without being told outright.",
    "That's not quite it. I'd like another version where Mara is older and has given up on the boats, and the lamp "
    "is the only thing she still talks to, the way her father did before the sea took him.",
])
def test_instructions_about_the_answer_are_retries(rules, followup):
    d = retries.classify(REQUEST, DRAFT, followup, LONGER, rules)
    assert d.is_retry, d


@pytest.mark.parametrize("followup", [
    # new requests full of mood words; the next answer (LONGER) even recaps the draft, so only
    # the wording can tell: a bare adjective or noun is not a request to redo
    "Now write the scene where she walks into the cold, dark house and hears a voice",
    "Mara's brother arrives in the morning. He is tall and quiet, with a warm laugh and a dark coat, and he has "
    "not seen her in ten years. Write their first conversation in the kitchen below the lamp.",
    "Next, the part where the storm hits: the sky turns dark, the wind is cold, and a voice on the radio calls for "
    "help from a trawler that has lost its engine off the reef.",
    "Let's move on to her sister. She is younger, funnier and much more reckless than Mara, and she turns up "
    "unannounced on the supply boat one cold morning. Write the scene.",
    "She spoke in a darker voice, colder than before, and the keeper stepped back from the lamp as the storm "
    "rose again over the grey water and the boats came home one by one.",
    "Write a 2000 word story about a different keeper, on a rock off Cornwall in 1890.",
    "Once more the wind rose over the island and the keeper climbed the stairs to the lamp, counting each step as "
    "her father had taught her, while the boats turned for home and the gulls went quiet on the rocks.",
    "question 1 word word word word word word word word word word word word word word word word word",
])
def test_mood_words_in_passing_are_not_retries(rules, followup):
    d = retries.classify(REQUEST, DRAFT, followup, LONGER, rules)
    assert not d.is_retry, d


def test_words_in_passing_are_named_in_the_reason(rules):
    d = retries.classify(REQUEST, DRAFT, "Mara walks into the cold, dark house and hears a voice from the top of "
                                         "the stairs where her father used to sit, and it is raining hard", LONGER, rules)
    assert not d.is_retry
    assert "in passing" in d.reason and "'cold'" in d.reason and "'voice'" in d.reason and "phrase" in d.rule


def test_an_add_request_answered_with_new_text_only_is_not_collapsed(rules):
    # folding it would throw the draft away: the "accepted" answer holds only the new part
    d = retries.classify(REQUEST, DRAFT, "add a scene where the radio calls", CONTINUATION, rules)
    assert not d.is_retry and "instead of replacing" in d.reason


def test_pasted_new_material_is_a_new_request(rules):
    pasted = ("Rewrite this in the same style: The river port of Calder smelled of tar and oranges. Barges "
              "crowded the quays three deep and children ran along their decks selling chestnuts and news.")
    d = retries.classify(REQUEST, DRAFT, pasted, "Calder's port smelled of tar and oranges; barges jostled.", rules)
    assert not d.is_retry and "new" in d.reason


def test_reason_names_the_rule_and_the_overlap(rules):
    d = retries.classify(REQUEST, DRAFT, "make it longer", LONGER, rules)
    assert "'longer'" in d.rule and "length" in d.rule
    assert "% shared words" in d.rule


# ---- folding --------------------------------------------------------------------------------

@pytest.mark.parametrize("followup, sentences", [
    ("hmm ok but can you make it way more detailed", ["Make it way more detailed."]),
    ("make it longer please", ["Make it longer."]),
    ("darker", ["Make it darker."]),
    ("no, that's not it — darker", ["Make it darker."]),
    ("could you please make it more formal?", ["Make it more formal."]),
    ("in first person", ["Write it in first person."]),
    ("2000 words", ["Make it 2000 words."]),
    ("too cheesy", ["Make it less cheesy."]),
    ("it's way too long", ["Make it shorter."]),
    ("more sensory detail", ["Add more sensory detail."]),
    ("Try again but darker, in first person.", ["Make it darker, in first person."]),
    ("try again", []), ("not quite", []), ("nope, again", []),
])
def test_offline_folding_makes_clean_instructions(rules, followup, sentences):
    assert retries.clean_followup(followup, rules) == sentences


def test_fold_keeps_the_request_and_appends_followups_in_order(rules):
    folded = retries.fold_offline(REQUEST, ["longer", "even longer, and add dialogue", "longer"], rules)
    assert folded == REQUEST + "\n\nMake it longer. Make it even longer, and add dialogue."


def test_fold_with_nothing_to_add_is_the_request(rules):
    assert retries.fold_offline(REQUEST, ["try again", "not quite"], rules) == REQUEST


# ---- collapse -------------------------------------------------------------------------------

def test_a_chain_becomes_one_request_and_the_accepted_answer(rules):
    c = chat(REQUEST, DRAFT, "make it longer", LONGER, "even longer, and add dialogue", LONGEST,
             "thanks! now give me a title", "The Hundred and Twelve Steps", system="You are my co-writer.")
    res = retries.collapse(c, rules)
    out = res.conversation.messages
    assert [m.role for m in out] == ["system", "user", "assistant", "user", "assistant"]
    assert out[0].content == "You are my co-writer."
    assert out[1].content == REQUEST + "\n\nMake it longer. Make it even longer, and add dialogue."
    assert out[2].content == LONGEST  # verbatim
    assert out[3:] == c.messages[7:]  # after the chain: untouched
    [ch] = res.chains
    assert ch.first == 1 and ch.followups == [3, 5] and ch.drafts == [DRAFT, LONGER]
    assert ch.accepted == LONGEST and ch.folded_request == out[1].content
    assert len(ch.decisions) == 2 and all(d.is_retry for d in ch.decisions)
    # the input conversation itself is not modified
    assert len(c.messages) == 9


def test_one_pair_per_chain_with_the_first_draft_rejected(rules):
    c = chat(REQUEST, DRAFT, "make it longer", LONGER, "even longer, and add dialogue", LONGEST,
             system="You are my co-writer.")
    [pair] = retries.collapse(c, rules).pairs
    assert [m.role for m in pair.prompt] == ["system", "user"]
    assert pair.prompt[-1].content.startswith(REQUEST)
    assert pair.chosen == Message("assistant", LONGEST)
    assert pair.rejected == Message("assistant", DRAFT)
    assert pair.source == c.source and pair.id == "c1#retry1"


def test_all_drafts_gives_one_pair_per_rejected_draft(rules):
    c = chat(REQUEST, DRAFT, "make it longer", LONGER, "even longer, and add dialogue", LONGEST)
    pairs = retries.collapse(c, rules, all_drafts=True).pairs
    assert [p.rejected.content for p in pairs] == [DRAFT, LONGER]
    assert all(p.chosen.content == LONGEST for p in pairs)
    assert len({p.id for p in pairs}) == 2


def test_second_chain_prompt_holds_the_collapsed_first_chain(rules):
    c = chat(REQUEST, DRAFT, "longer", LONGER, "now write the next scene", CONTINUATION,
             "make it funnier", CONTINUATION + " A seagull stole her sandwich on the way, which was funny.")
    res = retries.collapse(c, rules)
    assert len(res.chains) == 2
    second = res.pairs[1]
    assert [m.content for m in second.prompt[:3]] == [res.chains[0].folded_request, LONGER,
                                                     res.chains[1].folded_request]
    assert second.rejected.content == CONTINUATION


def test_no_chain_returns_the_conversation_unchanged(rules):
    c = chat(REQUEST, DRAFT, "continue", CONTINUATION)
    res = retries.collapse(c, rules)
    assert res.conversation is c and res.pairs == [] and res.chains == []
    assert [(i, d.is_retry) for i, d in res.examined] == [(2, False)]


def test_identical_draft_and_answer_make_no_pair(rules):
    c = chat(REQUEST, DRAFT, "try again", DRAFT)
    res = retries.collapse(c, rules)
    assert len(res.chains) == 1 and res.pairs == []
    assert res.conversation.messages[1].content == DRAFT


def test_a_trailing_followup_without_answer_is_left_alone(rules):
    c = chat(REQUEST, DRAFT, "make it longer")
    assert retries.collapse(c, rules).conversation.messages == c.messages


def test_llm_fold_hook_is_used_and_blank_falls_back(rules):
    calls = []

    def fold(request, followups):
        calls.append((request, followups))
        return "Write a long story about Mara, the lighthouse keeper."

    c = chat(REQUEST, DRAFT, "make it longer", LONGER)
    res = retries.collapse(c, rules, fold=fold)
    assert calls == [(REQUEST, ["make it longer"])]
    assert res.conversation.messages[0].content == "Write a long story about Mara, the lighthouse keeper."
    res = retries.collapse(c, rules, fold=lambda r, f: "  ")
    assert res.conversation.messages[0].content == REQUEST + "\n\nMake it longer."


def test_accepted_answer_keeps_its_weight(rules):
    c = chat(REQUEST, DRAFT, "make it longer", LONGER)
    c.messages[3].weight = 1
    assert retries.collapse(c, rules).conversation.messages[1].weight == 1


# ---- properties -----------------------------------------------------------------------------

FOLLOWUPS = ["make it longer", "try again", "darker", "continue", "thanks!", "now write chapter 2",
             "why?", "not quite", "shorter please", "rewrite it in first person", "more dialogue", "ok"]
ANSWERS = [DRAFT, LONGER, LONGEST, CONTINUATION, "Sure.", "1. One\n2. Two"]
texts = st.one_of(st.sampled_from(FOLLOWUPS + ANSWERS),
                  st.text(min_size=1, max_size=60).filter(lambda s: s.strip()))


@st.composite
def conversations(draw):
    system = draw(st.booleans())
    alternating = draw(st.booleans())
    n = draw(st.integers(0, 12))
    msgs = [Message("system", "be brief")] if system else []
    for i in range(n):
        if alternating:
            role = "user" if i % 2 == 0 else "assistant"
        else:
            role = draw(st.sampled_from(["user", "assistant", "tool"]))
        pool = FOLLOWUPS if role == "user" else ANSWERS
        msgs.append(Message(role, draw(st.one_of(st.sampled_from(pool), texts))))
    return Conversation(messages=msgs, id="p", source="prop")


def _alternates(msgs: list[Message]) -> bool:
    body = [m.role for m in msgs if m.role != "system"]
    return all(a != b for a, b in zip(body, body[1:])) and set(body) <= {"user", "assistant"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.booleans())
def test_collapse_properties(rules, c, all_drafts):
    res = retries.collapse(c, rules, all_drafts=all_drafts)
    out = res.conversation.messages
    # never more messages; never an empty turn
    assert len(out) <= len(c.messages)
    assert all(m.content.strip() for m in out)
    # every accepted answer is there verbatim
    for ch in res.chains:
        assert any(m.role == "assistant" and m.content == ch.accepted for m in out)
        assert ch.folded_request.strip()
    # messages outside chains are unchanged and in order
    inside = set()
    for ch in res.chains:
        inside.update(range(ch.first, ch.followups[-1] + 2))
    outside = [m for i, m in enumerate(c.messages) if i not in inside]
    kept = [m for m in out if any(m is o for o in outside)]
    assert kept == outside
    assert len(out) == len(outside) + 2 * len(res.chains)
    # alternation survives
    if _alternates(c.messages):
        assert _alternates(out)
    # pairs: one per chain (per distinct draft with all_drafts), prompt ends with the user turn
    assert len(res.pairs) <= sum(len(ch.drafts) if all_drafts else 1 for ch in res.chains)
    for p in res.pairs:
        assert p.prompt[-1].role == "user" and p.chosen.content != p.rejected.content


# Prose vocabulary with mood, voice, style and length words in it, but none of the words that
# make an instruction shape (make, more, less, too, enough, please, comparatives, redo verbs).
SUBJECTS = "she he Mara the keeper her brother the old woman they".split()
VERBS_PAST = "walked said looked turned waited remembered heard climbed listened watched found carried".split()
PROSE = ("the a of on in at by with from to her his their house door window river road garden lamp stairs "
         "sea boat night morning letter kitchen rain silence light glass salt wind radio reef island and "
         "dark cold warm voice tone mood funny sad scary formal casual style dialogue tense short long brief "
         "simple plain detailed bleak flat wooden quiet gentle serious playful romantic dramatic narrator "
         "perspective description tension suspense imagery first person third present past ending opening "
         "title version words 2000 300 hundred poetic lyrical").split()


@st.composite
def prose(draw):
    """A long message of plain sentences: subject, verb, then any prose words."""
    sentences = []
    n = 0
    while n < 40:
        words = [draw(st.sampled_from(SUBJECTS)), draw(st.sampled_from(VERBS_PAST))]
        words += draw(st.lists(st.sampled_from(PROSE), min_size=3, max_size=16))
        sentences.append(" ".join(words).capitalize() + ".")
        n += len(" ".join(words).split())
    return " ".join(sentences)


@settings(max_examples=200, deadline=None)
@given(prose(), st.sampled_from([LONGER, LONGEST, CONTINUATION, DRAFT]))
def test_a_long_message_of_prose_is_never_a_retry(rules, text, next_answer):
    # even when the next answer rewrites or repeats the draft
    d = retries.classify(REQUEST, DRAFT, text, next_answer, rules)
    assert not d.is_retry, d


RULE_WORDS = sorted({it[1] for p in retries.load_rules().patterns for it in p.items if it[0] == "lit"})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(RULE_WORDS), st.sampled_from(["2000", "k", "darker", "rewriting", "x"])),
                max_size=30))
def test_indexed_matching_finds_what_the_plain_matcher_finds(rules, toks):
    # match_all tries at each word only the phrases that can start with it; it must find
    # exactly the phrases (and first places) that trying every phrase everywhere finds
    plain = {(p.text, p.kind, p.category): retries.find(p, toks) for p in rules.patterns}
    plain = {k: v for k, v in plain.items() if v is not None}
    indexed = {(h.pattern.text, h.pattern.kind, h.pattern.category): h.span for h in retries.match_all(toks, rules)}
    assert indexed == plain


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_classify_and_clean_never_crash(rules, text):
    d = retries.classify(REQUEST, DRAFT, text, LONGER, rules)
    assert isinstance(d.is_retry, bool) and d.rule
    for s in retries.clean_followup(text, rules):
        assert s.strip() and s.endswith(".")


# ---- writers --------------------------------------------------------------------------------

PAIR = Preference(prompt=[Message("system", "You are my co-writer."), Message("user", "Write a poem.")],
                  chosen=Message("assistant", "The better poem."), rejected=Message("assistant", "The first draft."))


def test_openai_dpo_render_and_read_back():
    w = writers.get("openai-dpo")
    line = w.render(PAIR)
    assert line == {"input": {"messages": [{"role": "system", "content": "You are my co-writer."},
                                           {"role": "user", "content": "Write a poem."}]},
                    "preferred_output": [{"role": "assistant", "content": "The better poem."}],
                    "non_preferred_output": [{"role": "assistant", "content": "The first draft."}]}
    assert w.KIND == "preference" and w.matches(line)
    assert writers.detect_line(line) is w
    back = w.read(line)
    assert (back.prompt, back.chosen, back.rejected) == (PAIR.prompt, PAIR.chosen, PAIR.rejected)


def test_trl_preference_render_and_read_back():
    w = writers.get("trl-preference")
    line = w.render(PAIR)
    assert line == {"prompt": [{"role": "system", "content": "You are my co-writer."},
                               {"role": "user", "content": "Write a poem."}],
                    "chosen": [{"role": "assistant", "content": "The better poem."}],
                    "rejected": [{"role": "assistant", "content": "The first draft."}]}
    assert w.matches(line) and writers.detect_line(line) is w
    back = w.read(line)
    assert (back.prompt, back.chosen, back.rejected) == (PAIR.prompt, PAIR.chosen, PAIR.rejected)
    # TRL's standard (plain text) preference rows read too
    std = w.read({"prompt": "The sky is", "chosen": " blue.", "rejected": " green."})
    assert std.prompt == [Message("user", "The sky is")] and std.chosen.content == " blue."


@pytest.mark.parametrize("name", ["openai-dpo", "trl-preference"])
def test_writers_refuse_pairs_that_trainers_reject(name):
    w = writers.get(name)
    bad_prompt = Preference(prompt=[Message("user", "q"), Message("assistant", "a")],
                            chosen=Message("assistant", "x"), rejected=Message("assistant", "y"))
    with pytest.raises(FormatError, match="end with the user turn"):
        w.render(bad_prompt)
    with pytest.raises(FormatError, match="empty"):
        w.render(Preference(prompt=[Message("user", "q")], chosen=Message("assistant", " "),
                            rejected=Message("assistant", "y")))
    with pytest.raises(FormatError):
        w.render(Preference(prompt=[], chosen=Message("assistant", "x"), rejected=Message("assistant", "y")))


def test_weights_in_prompt_survive_openai_dpo_but_not_trl():
    p = Preference(prompt=[Message("user", "q"), Message("assistant", "a", weight=0), Message("user", "q2")],
                   chosen=Message("assistant", "x"), rejected=Message("assistant", "y"))
    assert writers.get("openai-dpo").render(p)["input"]["messages"][1]["weight"] == 0
    assert "weight" not in writers.get("trl-preference").render(p)["prompt"][1]


# ---- end to end: convert with both writers, and `miner retries` -----------------------------

def _chats_file(tmp_path: Path) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": REQUEST}, {"role": "assistant", "content": DRAFT},
                      {"role": "user", "content": "hmm ok but can you make it way more detailed"},
                      {"role": "assistant", "content": LONGER},
                      {"role": "user", "content": "even longer, and add dialogue"},
                      {"role": "assistant", "content": LONGEST}]},
        {"messages": [{"role": "user", "content": REQUEST}, {"role": "assistant", "content": DRAFT},
                      {"role": "user", "content": "continue"}, {"role": "assistant", "content": CONTINUATION}]},
    ]
    f = tmp_path / "chats.jsonl"
    f.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return f


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_convert_to_openai_dpo_end_to_end(tmp_path):
    src = _chats_file(tmp_path)
    out = tmp_path / "dpo.jsonl"
    r = CliRunner().invoke(cli, ["convert", str(src), "-o", str(out), "--format", "openai-dpo", "-q"])
    assert r.exit_code == 0, r.output
    [line] = _lines(out)
    assert line["input"]["messages"] == [{"role": "user", "content": REQUEST + "\n\nMake it way more detailed. "
                                                                              "Make it even longer, and add dialogue."}]
    assert line["preferred_output"] == [{"role": "assistant", "content": LONGEST}]
    assert line["non_preferred_output"] == [{"role": "assistant", "content": DRAFT}]


def test_convert_to_trl_preference_end_to_end_with_all_drafts(tmp_path):
    src = _chats_file(tmp_path)
    out = tmp_path / "trl.jsonl"
    r = CliRunner().invoke(cli, ["convert", str(src), "-o", str(out), "--format", "trl-preference",
                                 "--all-drafts", "--system", "You are Mara's author.", "-q"])
    assert r.exit_code == 0, r.output
    lines = _lines(out)
    assert [x["rejected"][0]["content"] for x in lines] == [DRAFT, LONGER]
    for x in lines:
        assert x["prompt"][0] == {"role": "system", "content": "You are Mara's author."}
        assert x["prompt"][-1]["role"] == "user" and x["chosen"] == [{"role": "assistant", "content": LONGEST}]
    # and the file reads back as preference pairs: convert it to openai-dpo
    back = tmp_path / "back.jsonl"
    r = CliRunner().invoke(cli, ["convert", str(out), "-o", str(back), "--format", "openai-dpo", "-q"])
    assert r.exit_code == 0, r.output
    assert [x["non_preferred_output"][0]["content"] for x in _lines(back)] == [DRAFT, LONGER]


def test_convert_sft_collapses_and_no_collapse_keeps(tmp_path):
    src = _chats_file(tmp_path)
    out = tmp_path / "sft.jsonl"
    assert CliRunner().invoke(cli, ["convert", str(src), "-o", str(out), "-q"]).exit_code == 0
    first = _lines(out)[0]["messages"]
    assert [m["content"] for m in first][1] == LONGEST and len(first) == 2
    assert CliRunner().invoke(cli, ["convert", str(src), "-o", str(out), "-q", "--force", "--no-collapse"]).exit_code == 0
    assert len(_lines(out)[0]["messages"]) == 6


def test_miner_retries_shows_chains_reasons_and_counts(tmp_path):
    src = _chats_file(tmp_path)
    r = CliRunner().invoke(cli, ["retries", str(src)])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "Chain 1 (2 follow-ups)" in out
    assert "hmm ok but can you make it way more detailed" in out
    assert "rule:" in out and "'way more detailed'" in out
    assert "Draft 1:" in out and "rejected" in out and "Accepted:" in out
    assert "Make it way more detailed. Make it even longer, and add dialogue." in out
    assert "Not a retry" not in out
    for label in ("conversations", "follow-ups examined", "retry chains", "preference pairs"):
        assert label in out


def test_miner_retries_all_shows_rejected_followups(tmp_path):
    src = _chats_file(tmp_path)
    r = CliRunner().invoke(cli, ["retries", str(src), "--all"])
    assert r.exit_code == 0, r.output
    assert "Not a retry" in r.output and "a request to continue" in r.output


def test_miner_retries_limit_and_bad_rules(tmp_path):
    src = _chats_file(tmp_path)
    r = CliRunner().invoke(cli, ["retries", str(src), "--limit", "1"])
    assert r.exit_code == 0 and "--limit 1" in r.output
    bad = tmp_path / "rules.yaml"
    bad.write_text("retry: [oops", encoding="utf-8")
    r = CliRunner().invoke(cli, ["retries", str(src), "--retry-rules", str(bad)])
    assert r.exit_code == 1
    assert "Error:" in r.output and "rules.yaml" in r.output and "Traceback" not in r.output


def test_miner_retries_help_has_examples():
    r = CliRunner().invoke(cli, ["retries", "--help"])
    assert r.exit_code == 0 and "Examples:" in r.output and "--retry-rules" in r.output


def _words_and_clauses_by_regex(low: str) -> tuple[list[str], list[int]]:
    """The reference: one regex pass, words and (as empty strings) clause breaks."""
    parts = retries._WORD_OR_BREAK_ASCII.findall(low)
    toks = [w for w in parts if w]
    breaks = [k for k, w in enumerate(parts) if not w]
    return toks, (sorted({0, *(k - j for j, k in enumerate(breaks))} - {len(toks)}) if breaks else [0])


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab09' '.,!?;:()[]\n\"-_/*#\t\x00é")) | st.characters(max_codepoint=127),
               max_size=40))
def test_fast_ascii_word_split_is_exactly_the_regex(text):
    low = retries._norm(text)
    if low.isascii():
        assert retries._words_and_clauses(low) == _words_and_clauses_by_regex(low)
