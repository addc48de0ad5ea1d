"""Pure parts of the LLM layer: templates, passage features, answer checks and salvage,
verbatim spans, key scrubbing, prices, rate limits, grouping into conversations and the LLM
chunker's boundary validation. No network."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner import prompts
from miner.errors import ConfigError
from miner.llm.base import Request, scrub, strip_userinfo
from miner.llm.pricing import load_prices, parse_prices
from miner.llm.ratelimit import Backoff, RateLimiter, parse_retry_after
from miner.models import Chunk
from miner.synth import Grouper

SCENE = ("Anna climbed the stairs again, counting each step. “Tom,” she said, “are you there?” "
         "The wind answered instead. Anna kept going, past the window. Tom would know what to do.")


# ---- templates -------------------------------------------------------------------------------

def test_shipped_templates_load_and_build_requests():
    names = {t.name for t in prompts.list_templates()}
    assert {"scene-brief", "write-like-me", "qa", "outline", "continue"} <= names
    for name in names:
        t = prompts.load_template(name)
        feats = prompts.features(SCENE, document="The Lighthouse", section=["Chapter 1"])
        req = t.request(feats)
        assert SCENE in req.prompt, f"{name}: the passage must be in the instruction"
        assert not t.check(req.offline), f"{name}: offline answer must satisfy the answer schema"
        assert "$" not in str(req.offline)


def test_template_typo_in_placeholder_is_reported_with_file_and_field(tmp_path):
    bad = prompts.load_template("scene-brief").raw.replace("<scene>\n    $passage", "<scene>\n    $pasage")
    p = tmp_path / "mine.yaml"
    p.write_text(bad)
    with pytest.raises(ConfigError, match=r"mine\.yaml: unknown placeholder \$pasage in generator\.instruction"):
        prompts.load_template(str(p))


def test_template_unknown_field_and_bad_yaml(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(prompts.load_template("qa").raw + "\ninstrucion: oops\n")
    with pytest.raises(ConfigError, match="unknown field `instrucion`"):
        prompts.load_template(str(p))
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        prompts.load_template(str(p))
    with pytest.raises(ConfigError, match="no template named 'nope'"):
        prompts.load_template("nope")


def test_offline_phrasing_varies_across_passages_but_is_deterministic():
    t = prompts.load_template("scene-brief")
    outs = {t.offline_answer(prompts.features(SCENE + f" Line {i}.", document="D"))["brief"] for i in range(40)}
    assert len(outs) >= 3  # not one sentence repeated for every passage
    f = prompts.features(SCENE, document="D")
    assert t.offline_answer(f) == t.offline_answer(f)


# ---- features ---------------------------------------------------------------------------------

def test_features_read_structure_and_surface_cues():
    f = prompts.features(SCENE, document="The Lighthouse", section=["Part One", "Chapter 3"], previous="It ended. Here.")
    assert f["section"] == "Part One > Chapter 3" and f["chapter"] == "Part One" and f["heading"] == "Chapter 3"
    assert f["pov"] == "third person" and f["dialogue"] == "with dialogue"
    assert "Anna" in f["names"] and "Tom" in f["names"]
    assert f["first_sentence"].startswith("Anna climbed") and f["previous_ending"] == "Here."
    first = prompts.features("I walked home. I was tired and my feet hurt. I knew we were late. My mother waited.")
    assert first["pov"] == "first person" and first["dialogue"] == "with no dialogue"


@given(st.text(max_size=400))
@settings(max_examples=80, deadline=None)
def test_features_never_fail_and_always_fill_every_variable(text):
    f = prompts.features(text, document="d", section=None)
    assert set(prompts.VARIABLES) <= set(f)
    assert all(isinstance(v, str) for v in f.values())


# ---- verbatim spans (qa answers must be the author's own words) --------------------------------

def test_find_span_tolerates_whitespace_and_quote_style_but_returns_the_original_text():
    note = "I think   gardens\nteach patience. “Weeds,” she said, “are just plants out of place.”"
    got = prompts.find_span(note, 'gardens teach patience. "Weeds," she said')
    assert got == "gardens\nteach patience. “Weeds,” she said"
    assert prompts.find_span(note, "gardens teach kindness and patience") is None  # paraphrase
    assert prompts.find_span(note, "Weeds") is None  # too short to be an answer


@given(st.lists(st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=12),
                min_size=3, max_size=30), st.data())
@settings(max_examples=100, deadline=None)
def test_find_span_result_is_always_a_real_substring(words, data):
    text = " ".join(words)
    a = data.draw(st.integers(0, len(words) - 3))
    b = data.draw(st.integers(a + 3, len(words)))
    quote = "  ".join(words[a:b])
    got = prompts.find_span(text, quote)
    if got is not None:
        assert got in text


# ---- answer checks and salvage -----------------------------------------------------------------

def test_validate_and_strict_schema():
    t = prompts.load_template("qa")
    assert t.check({"pairs": [{"question": "q?", "answer": "a b c"}]}) == []
    assert t.check({"pairs": []})  # minItems
    assert t.check({"pairs": [{"question": "", "answer": "x"}]})  # empty string
    assert t.check({"brief": "x"})  # missing pairs
    strict = prompts.strict_schema(t.schema)
    item = strict["properties"]["pairs"]["items"]
    assert strict["additionalProperties"] is False and item["additionalProperties"] is False
    assert item["required"] == ["question", "answer"] and "minItems" not in strict["properties"]["pairs"]


@pytest.mark.parametrize("text,expected", [
    ('{"brief": "Write it."}', {"brief": "Write it."}),
    ('```json\n{"brief": "Write it."}\n```', {"brief": "Write it."}),
    ('Sure! Here you go: {"brief": "Write it."} Hope that helps', {"brief": "Write it."}),
    ("not json at all", None),
])
def test_parse_json_tolerates_fences_and_chatter(text, expected):
    assert prompts.parse_json(text) == expected


def test_recover_plain_text_answers_from_small_models():
    brief = prompts.load_template("scene-brief")
    assert brief.recover('**Brief:** "Write a storm scene in first person."') == {
        "brief": "Write a storm scene in first person."}
    assert brief.recover('{"brief": ') is None  # broken JSON is not a prompt
    qa = prompts.load_template("qa")
    got = qa.recover("Q1: Why gardens?\nA1: Because gardens teach patience.\n\nQ2: And weeds?\nA2: Plants out of place.")
    assert got == {"pairs": [{"question": "Why gardens?", "answer": "Because gardens teach patience."},
                             {"question": "And weeds?", "answer": "Plants out of place."}]}


# ---- secrets ------------------------------------------------------------------------------------

@given(st.text(max_size=60), st.text(max_size=60))
@settings(max_examples=60, deadline=None)
def test_scrub_removes_the_key_wherever_it_appears(before, after):
    key = "sk-test-SECRET-abc123"
    assert key not in scrub(before + key + after, [key])
    assert "SECRET" not in scrub(f"Incorrect API key provided: {key}.", [])  # by shape, without being told


def test_request_fingerprint_ignores_offline_answer_and_endpoint_credentials():
    a = Request.simple("s", "p", offline={"brief": "x"})
    b = Request.simple("s", "p", offline={"brief": "y"})
    assert a.fingerprint() == b.fingerprint() != Request.simple("s", "p2").fingerprint()
    assert strip_userinfo("http://user:pw@host:8000/v1") == "http://host:8000/v1"


# ---- prices --------------------------------------------------------------------------------------

def test_price_lookup_matches_dated_versions_and_rejects_bad_files(tmp_path):
    table = load_prices()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini")
    assert table.lookup("gpt-4o") != table.lookup("gpt-4o-mini")
    assert table.lookup("models/gemini-2.5-flash") == table.lookup("gemini-2.5-flash")
    assert table.lookup("llama3.1") is None
    with pytest.raises(ConfigError, match="price of 'm'"):
        parse_prices("models:\n  m: {input: cheap, output: 1}\n", "p.yaml")
    own = parse_prices("models:\n  m: {input: 1.0, output: 2.0}\n", "p.yaml")
    from miner.llm.base import Usage

    assert own.lookup("m").cost(Usage(1_000_000, 500_000)) == pytest.approx(2.0)


# ---- pacing ---------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self):
        return self.t

    async def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_rpm_limit_spaces_requests_over_the_minute():
    clock = FakeClock()
    lim = RateLimiter(rpm=3, clock=clock, sleep=clock.sleep)

    async def go():
        for _ in range(7):
            await lim.acquire()
    asyncio.run(go())
    # 7 requests at 3/minute: the 4th waits for the 1st to leave the window, the 7th for the 4th.
    assert clock.t == pytest.approx(120.0)


def test_tpm_limit_and_pause_after_429():
    clock = FakeClock()
    lim = RateLimiter(tpm=1000, clock=clock, sleep=clock.sleep)

    async def go():
        await lim.acquire(600)
        await lim.acquire(600)  # would be 1200 tokens in the minute: waits for the first to expire
    asyncio.run(go())
    assert clock.t == pytest.approx(60.0)
    lim.pause(5)
    assert lim.wait_time(1) == pytest.approx(5.0)
    assert RateLimiter(tpm=100, clock=clock).wait_time(5000) == 0  # a lone oversize request is let through


def test_backoff_prefers_retry_after_and_grows_otherwise():
    b = Backoff(base=1.0, cap=8.0)
    assert b.delay(0, retry_after=3.0) == 3.0
    assert b.delay(0, retry_after=999) == b.retry_after_cap
    assert 0.75 <= b.delay(0) <= 1.0 and 6.0 <= b.delay(5) <= 8.0
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({}) is None


# ---- grouping passages into conversations -------------------------------------------------------

def _chunks(spec: list[tuple[str, str, int]]) -> list[Chunk]:
    return [Chunk(text=f"passage {i}", source=doc, document=doc, section=[chap], index=i, tokens=n)
            for i, (doc, chap, n) in enumerate(spec)]


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["c1", "c2"]), st.integers(1, 900)),
                max_size=40), st.integers(1, 5), st.integers(300, 3000))
@settings(max_examples=150, deadline=None)
def test_grouper_keeps_order_never_mixes_chapters_and_respects_turns_and_budget(spec, turns, budget):
    chunks = _chunks(spec)
    g = Grouper("chunk", turns, budget)
    units = []
    for c in chunks:
        units += g.add(c, "")
    units += g.flush()
    flat = [c for u in units for c in u.chunks]
    assert flat == chunks  # every passage once, in order
    assert [u.seq for u in units] == list(range(len(units)))
    for u in units:
        assert len(u.chunks) <= turns
        assert len({(c.document, c.section[0]) for c in u.chunks}) == 1
        if len(u.chunks) > 1:
            assert sum(c.tokens + 150 for c in u.chunks) <= budget


def test_grouper_chapter_units_join_a_whole_chapter_verbatim():
    chunks = _chunks([("a", "c1", 10), ("a", "c1", 10), ("a", "c2", 10)])
    g = Grouper("chapter", 1, 100)
    units = [u for c in chunks for u in g.add(c, "")] + g.flush()
    assert [u.chunks[0].text for u in units] == ["passage 0\n\npassage 1", "passage 2"]


# ---- LLM chunker: positions only, validated ------------------------------------------------------

def test_llm_chunker_keeps_only_valid_paragraph_numbers():
    from miner.llm_chunker import to_block_indexes

    window = [2, 3, 5, 6]  # block indexes of paragraphs shown as [1]..[4]
    good, bad = to_block_indexes([2, 4, 4, 1, 0, 9, "3", 2.5, True, -1], window, 1)
    assert good == {3, 6}
    assert bad == 6  # 0, 9, "3", 2.5, True, -1; 1 (the window's first paragraph) is ignored silently
    assert to_block_indexes("2, 3", window, 1) == (set(), 1)


# ---- `miner templates` ------------------------------------------------------------------------------

def test_templates_command_lists_and_shows_with_comments():
    from click.testing import CliRunner

    from miner.cli import cli

    res = CliRunner().invoke(cli, ["templates"])
    assert res.exit_code == 0
    for name in ("scene-brief", "write-like-me", "qa", "outline", "continue"):
        assert name in res.output
    assert "prices" not in res.output
    res = CliRunner().invoke(cli, ["templates", "show", "scene-brief", "--variables"])
    assert res.exit_code == 0
    assert res.output.startswith("# scene-brief")  # the file as written, comments included
    assert "$previous_ending" in res.output
    res = CliRunner().invoke(cli, ["templates", "show", "nope"])
    assert res.exit_code == 1 and "no template named 'nope'" in res.output and "Traceback" not in res.output
