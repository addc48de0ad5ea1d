"""Retry chains: find the follow-ups that ask to redo the previous answer, fold them into the
original request, and keep only the answer the author accepted.

Where it sits: parsers -> transforms -> **retries.collapse** -> writers. `collapse` takes one
Conversation and returns the collapsed Conversation (for SFT formats) and Preference pairs
(accepted answer = chosen, first draft = rejected) for openai-dpo / trl-preference. `miner
retries` shows every decision so authors can check and tune the rules.

Detection is offline and explainable: phrase lists (templates/retry-rules.yaml, extendable with
--retry-rules FILE) find retry and not-a-retry wording, forgiving small typos. A retry phrase
counts only where it is used as an instruction about the answer ("make it darker", "darker
please", "too dark", "in first person"), not as a word in passing ("the cold, dark house"); in a
long follow-up only an explicit instruction counts (see _strength). When both kinds match, or
the wording is weak, the assistant's next answer settles it: a rewrite shares most of the
draft's words and starts like it, a continuation carries on without repeating it.

It runs on every follow-up of exports of many GB, so the work per follow-up is kept small:
phrases are indexed by their first word(s), only the first MATCH_WINDOW words are read, and
the answer comparison, the conversation's own words and the real-word check of typo fixes are
computed only when a phrase needs them (bench/bench_retries.py measures it).
Everything here is pure: no I/O except reading the rule files in `load_rules`.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

import yaml

from miner.errors import ConfigError
from miner.models import Conversation, Message, Preference

RULES_FILE = "retry-rules.yaml"

# Categories with behaviour of their own; any other retry group behaves like a "modify" group
# and any other not_retry group like new_request.
REDO = "redo"  # a fresh attempt may share few words with the draft
WEAK = "dissatisfied"  # "no", "meh": a retry only if the next answer does not carry on
TASK_SWITCH = "task_switch"  # a different kind of text: never folded
THANKS = "thanks"  # never blocks a retry phrase

# Thresholds for comparing the next answer with the draft (fractions of the draft's content
# words). Rewrites by chat models keep names, setting and many phrases; continuations keep the
# names but little else, and start somewhere new.
MIN_JUDGE_WORDS = 8  # below this many content words a draft is too short to compare
REWRITE_SHARED = 0.5
REWRITE_PHRASES = 0.25  # long rewrites keep many exact three-word runs; continuations keep almost none
REWRITE_SHARED_WITH_START = 0.3
START_ALIKE = 0.3
# A long continuation shares a lot of vocabulary (names, "said", "door") with what came
# before, so it is recognised by its new opening and the absence of repeated phrases.
CONTINUE_SHARED = 0.4
CONTINUE_PHRASES = 0.08
CONTINUE_START = 0.2
# A follow-up with no retry phrase still counts when the next answer plainly redoes the draft.
FALLBACK_MAX_WORDS = 15
FALLBACK_SHARED = 0.6
# ... and keeps some of the draft's exact three-word runs: texts on one subject (or prose from a
# small vocabulary) share most words without being rewrites of each other.
FALLBACK_PHRASES = 0.1
# Pasted new material ("rewrite this: <three paragraphs>") is a new request, not a retry.
NEW_MATERIAL_WORDS = 25
NEW_MATERIAL_SHARE = 0.6
# "try again" may legitimately produce a very different text, unless the follow-up brought
# this many new words of its own: then the answer is about those, not a redo of the draft.
NEW_CONTENT_WORDS = 6
# Phrases are looked for in the first words only: instructions come first, and a pasted
# manuscript must not make matching slow.
MATCH_WINDOW = 400
# A retry names the change as an instruction about the answer ("make it darker", "darker
# please", "more dialogue", "too long"). A bare mood word or noun ("dark", "voice") counts only
# in such a shape, in a clause made of nothing else ("Darker. And funnier."), or in a message of
# at most FEW_WORDS words. In a follow-up longer than LONG_WORDS words (new prose, a new brief)
# only an explicit instruction counts: a redo verb or "make it ..." at the head of a clause, a
# "more X" / "less X", "X please", a bare instruction clause.
FEW_WORDS = 5
LONG_WORDS = 25
# A phrase found more often than this in one follow-up is judged on its first places only.
MAX_SPANS = 4
# "# words" needs a plausible length: "1 word" in "question 1 word word" is not "2000 words".
MIN_WORD_COUNT = 50

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty sixty seventy eighty ninety hundred thousand hundreds thousands couple few".split())
# Number words that make a count of words plausible as a length ("five hundred words").
_BIG_NUMBER_WORDS = frozenset("fifty sixty seventy eighty ninety hundred thousand hundreds thousands k".split())
_NUMBER = re.compile(r"\d+(?:k|st|nd|rd|th)?")

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being
below between both but by can can't could couldn't did didn't do does doesn't doing don't down
during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her
here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's
its itself let's me more most mustn't my myself no nor not of off on once only or other ought our
ours ourselves out over own same shan't she she'd she'll she's should shouldn't so some such than
that that's the their theirs them themselves then there there's these they they'd they'll they're
they've this those through to too under until up very was wasn't we we'd we'll we're we've were
weren't what what's when when's where where's which while who who's whom why why's will with won't
would wouldn't you you'd you'll you're you've your yours yourself yourselves just now also even
still like one two get got make made can could would will shall may might must said says say
""".split())


# Words ending in -er that are not comparatives, so a pattern like "^*er$" or "^even *er" does
# not take "whatever" or "chapter" for "darker".
NOT_COMPARATIVE = frozenset("""
after answer brother chapter character corner danger daughter dinner either ever father finger
however later letter manner master matter member monster mother never number order other over
paper partner power rather reader register remember sister soldier summer super teacher together
under water whatever whenever wherever whether winter wonder writer""".split())


# How a retry phrase shows that it is an instruction, decided from its first word when the
# rules are compiled (see _shape_of). Users' phrases get the same treatment.
#   anchor: tied to the start or end of the message (^more$, ^*er please): shaped already
#   mod:    starts with a modifier that names a change ("another version", "less formal")
#   more:   the single words more / less / fewer: need a following word that is not "than" etc.
#   too:    "too long", "way too _": an instruction in a short message, not in long prose
#   verb:   starts with an instruction verb ("rewrite", "cut the", "tone it down"): needs to be
#           at the head of a clause ("could you please rewrite it", "ok, cut the ending")
#   word:   anything else: a mood word, a noun, a noun phrase ("dark", "voice", "the ending",
#           "first person", "# words"): needs a shape around it (see _strength)
MODIFIER_LEADS = frozenset("""more less fewer another different alternative alternate other twice half double fresh
once lots lot way even much bit slightly somewhat""".split())
# Instruction verbs (base form) that open a retry phrase; a hit starting with one of these at
# the head of a clause is an imperative.
VERBS = frozenset("""
add include remove delete change replace swap switch fix tweak adjust modify edit polish improve simplify loosen
expand elaborate lengthen extend condense shorten trim tighten cut pare pad flesh redo rewrite rework revise redraft
regenerate rephrase reword paraphrase retell combine merge make try write give do go take put throw weave work punch
spice beef amp ramp crank dial tone kill lose ditch scrap nix drop leave get start have say use keep focus show tell
describe end open begin lighten darken soften sharpen slow speed raise lower increase decrease reduce boost narrate
re start mention emphasize emphasise cap limit double halve""".split())
# Words that may stand between a modifier and the word it modifies ("a bit darker", "way more").
_INTENSIFY_1 = frozenset("even much way slightly somewhat far really so very lot bit little kinda sorta abit still "
                         "lots tad touch just".split())
_INTENSIFY_2 = frozenset({("a", "bit"), ("a", "little"), ("a", "lot"), ("a", "tad"), ("a", "touch"),
                          ("kind", "of"), ("sort", "of"), ("a", "wee")})
# Words that may open an instruction clause besides the fillers of the rules file ("and then
# make it darker", "could you also rewrite it").
_SKIP = frozenset("and then also or so just please pls plz now maybe perhaps ok okay you u can could would will kindly "
                  "actually instead simply quickly let's lets try to first hey".split())
# Words an instruction-only clause may hold besides rule words ("Darker, please", "a bit
# more formal overall", "again, but funnier").
_CLAUSE_WORDS = frozenset("""it this that the a an and or but too please pls plz though tho instead enough not version
one make again overall tone mood way so more less fewer bit even much with some lot little also just maybe still
slightly somewhat really very kinda""".split())
_SUBJECT = frozenset("it this that".split())
_COPULA_AFTER_SUBJECT = frozenset("is sounds reads feels seems looks".split())
_SUBJECT_COPULA = frozenset("it's its that's thats this's".split())
_BE_VERBS = frozenset("be sound feel read seem look get".split())
_MODALS = frozenset("should must to could can would might".split())
_AFTER_WORD = frozenset("please pls plz though tho instead".split())
# "a 300 word version", "a 500 word limit": what follows "N word" when the answer is resized.
_RESIZED = frozenset("version one limit max maximum cap count rewrite draft edit cut please pls".split())
_WANT = frozenset("want wanted like prefer preferred need needed".split())
# Words that open a clause of narration ("... the wind rose", "... she climbed").
_SUBJECT_START = frozenset("the a an she he they i we you her his their my our its it there".split())
# Words after which "another version" / "more detail" is something asked for.
_ASKS_FOR = _WANT | frozenset("me us it try have give do write see get".split())
# "more" that is not "more X": "no more", "any more", "more than", "more and more".
_NOT_MORE_BEFORE = frozenset("no any the once anymore some many what".split())
_NOT_MORE_AFTER = frozenset("than and or of to time times often likely easily".split())


@dataclass(frozen=True, eq=False)  # hashed by identity: patterns are dict keys while matching
class Pattern:
    text: str  # the phrase as written in the rules file
    kind: str  # "retry" or "not_retry"
    category: str
    items: tuple  # ("lit", word) | ("glob", regex, prefix) | ("gap",) | ("one",) | ("num", needs_big)
    start: bool = False  # ^: must match at the first word
    end: bool = False  # $: must match through the last word
    shape: str = "anchor"  # retry phrases only: how it shows it is an instruction (see above)
    size: int = 0  # words it matches, gaps aside: longer phrases are more telling in reasons

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", sum(1 for it in self.items if it[0] != "gap"))


@dataclass
class Rules:
    """Compiled phrase lists. Build with load_rules()."""

    patterns: list[Pattern]
    fillers_start: list[tuple[str, ...]]  # longest first
    fillers_end: list[tuple[str, ...]]
    vocab: frozenset[str]  # literal rule words, the targets of typo forgiveness
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index: _Index | None = None

    def categories(self, kind: str) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.patterns:
            if p.kind == kind:
                seen.setdefault(p.category)
        return list(seen)


def load_rules(extra: str | None = None) -> Rules:
    """The packaged rules, plus the phrases in the user's `extra` YAML file (same layout)."""
    try:
        text = resources.files("miner.templates").joinpath(RULES_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError) as e:  # pragma: no cover - packaging bug
        raise ConfigError(f"the built-in retry rules ({RULES_FILE}) are missing from this install: {e}") from None
    data = [("built-in " + RULES_FILE, _parse_rules(text, "built-in " + RULES_FILE))]
    if extra:
        try:
            with open(extra, encoding="utf-8") as f:
                user_text = f.read()
        except FileNotFoundError:
            raise ConfigError(f"--retry-rules {extra}: no such file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--retry-rules {extra}: cannot be read ({e})") from None
        data.append((extra, _parse_rules(user_text, extra)))
    return _compile_rules(data)


def _parse_rules(text: str, where: str) -> dict:
    """Check a rules file's layout; returns {"retry": {cat: [..]}, "not_retry": {...},
    "fillers": {"start": [..], "end": [..]}} with every phrase a non-empty string."""
    hint = "see the built-in retry-rules.yaml for the layout"
    try:
        # BaseLoader keeps every phrase a string: "no", "yes", "on" and "2000" are phrases here,
        # not booleans or numbers.
        raw = yaml.load(text, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))  # libyaml when built in
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}: not valid YAML{line} ({getattr(e, 'problem', None) or e}); {hint}") from None
    if raw is None or raw == "":
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected groups like 'retry:' and 'not_retry:' at the top; {hint}")
    out: dict = {"retry": {}, "not_retry": {}, "fillers": {"start": [], "end": []}}
    for key, value in raw.items():
        if key in ("version",):
            continue
        if key not in out:
            raise ConfigError(f"{where}: unknown section {key!r}; the sections are retry, not_retry and fillers")
        if value is None or value == "":
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key!r} must hold named lists of phrases (e.g. '{key}:\\n  mine:\\n    - a phrase'); {hint}")
        for cat, phrases in value.items():
            if key == "fillers" and cat not in ("start", "end"):
                raise ConfigError(f"{where}: fillers has lists 'start' and 'end', not {cat!r}")
            if not isinstance(cat, str) or not re.fullmatch(r"[A-Za-z][\w-]*", cat):
                raise ConfigError(f"{where}: {key}: group name {cat!r} must be a plain word")
            if phrases is None or phrases == "":
                continue
            if not isinstance(phrases, list):
                raise ConfigError(f"{where}: {key}.{cat} must be a list of phrases (lines starting with '- ')")
            for p in phrases:
                if p is None or p == "":
                    raise ConfigError(f"{where}: {key}.{cat} has an empty item (a phrase that starts with # "
                                      "must be in quotes, like - \"# words\", or YAML reads it as a comment)")
                if not isinstance(p, str) or not _tokens(p.replace("*", "x").replace("#", "1").replace("_", "x")):
                    raise ConfigError(f"{where}: {key}.{cat}: {p!r} is not a phrase (write words, optionally with * _ # ^ $)")
                out[key].setdefault(cat, []).append(p.strip())
    return out


def _compile_rules(data: list[tuple[str, dict]]) -> Rules:
    patterns: list[Pattern] = []
    starts: set[tuple[str, ...]] = set()
    ends: set[tuple[str, ...]] = set()
    seen: set[tuple[str, str, str]] = set()
    for where, d in data:
        for kind in ("retry", "not_retry"):
            for cat, phrases in d[kind].items():
                for p in phrases:
                    if (kind, cat, p.lower()) in seen:
                        continue
                    seen.add((kind, cat, p.lower()))
                    try:
                        patterns.append(_compile_phrase(p, kind, cat))
                    except ValueError as e:
                        raise ConfigError(f"{where}: {kind}.{cat}: {p!r}: {e}") from None
        starts.update(tuple(_tokens(p)) for p in d["fillers"]["start"] if _tokens(p))
        ends.update(tuple(_tokens(p)) for p in d["fillers"]["end"] if _tokens(p))
    vocab = frozenset(it[1] for p in patterns for it in p.items if it[0] == "lit" and len(it[1]) >= 4)
    return Rules(patterns=patterns,
                 fillers_start=sorted(starts, key=lambda t: (-len(t), t)),
                 fillers_end=sorted(ends, key=lambda t: (-len(t), t)),
                 vocab=vocab, sources=[w for w, _ in data])


def _compile_phrase(text: str, kind: str, category: str) -> Pattern:
    s = text.strip()
    start = s.startswith("^")
    end = s.endswith("$")
    s = s.strip("^$").strip()
    items: list[tuple] = []
    for raw in s.split():
        if raw == "*":
            items.append(("gap",))
        elif raw == "_":
            items.append(("one",))
        elif raw == "#":
            items.append(("num",))
        elif "*" in raw:
            body = raw.lower().replace("’", "'")
            if not re.fullmatch(r"[^\W_*]*\*[^\W_*]*", body.replace("'", "")):
                raise ValueError("a word may hold one * (like *ier or rewrit*)")
            left, right = body.split("*")
            items.append(("glob", re.compile(re.escape(left) + r"[^\W_]{2,}" + re.escape(right)), left))
        else:
            for t in _tokens(raw):
                items.append(("lit", t))
    if not any(it[0] in ("lit", "glob") for it in items):
        raise ValueError("needs at least one word")
    if kind == "retry":
        # "# words" and "under #" need a plausible length; "# paragraphs" may be any number
        items = [("num", k + 1 == len(items) or (items[k + 1][0] == "lit" and items[k + 1][1] in ("word", "words")))
                 if it[0] == "num" else it for k, it in enumerate(items)]
    else:
        items = [("num", False) if it[0] == "num" else it for it in items]
    items = tuple(items)
    return Pattern(text=text.strip(), kind=kind, category=category, items=items, start=start, end=end,
                   shape=_shape_of(items, start or end, category) if kind == "retry" else "")


def _shape_of(items: tuple, anchored: bool, category: str) -> str:
    if anchored:
        return "anchor"
    first = items[0]
    if len(items) == 1 and category in ("tone", "voice", "style"):
        return "word"  # "tone", "voice", "style" alone are nouns here, not verbs
    if first[0] == "glob":
        return "verb" if first[2] and _verb_stem(first[2]) else "word"
    if first[0] != "lit":
        return "word"
    w = first[1]
    if w in ("more", "less", "fewer") and len(items) == 1:
        return "more"
    if w == "too":
        return "too"
    if w in MODIFIER_LEADS:
        return "mod"
    if w in VERBS:
        return "verb"
    return "word"


def _verb_stem(prefix: str) -> bool:
    """"rewrit*", "expand*", "condense*": the glob's fixed part starts an instruction verb."""
    return any(v.startswith(prefix) or prefix.startswith(v) for v in VERBS if len(v) >= 4) and len(prefix) >= 4


# ---- text helpers ---------------------------------------------------------------------------

def _norm(text: str) -> str:
    return text.lower().replace("’", "'").replace("‘", "'")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(_norm(text))


def _is_number(tok: str) -> bool:
    return bool(_NUMBER.fullmatch(tok)) or tok in _NUMBER_WORDS


def _content(tokens: list[str]) -> list[str]:
    return [t for t in tokens if len(t) >= 3 and t not in STOPWORDS and not t.isdigit()]


@lru_cache(maxsize=4096)
def _deletions(word: str) -> tuple[str, ...]:
    return tuple(word[:i] + word[i + 1:] for i in range(len(word)))


def _typo_target(tok: str, vocab: frozenset[str], index: dict[str, set[str]]) -> str | None:
    """The rule word `tok` is a one-slip misspelling of (missing, extra, swapped or, for longer
    words, wrong letter), or None if there is no single such word."""
    fix = _typo_candidate(tok, vocab, index)
    if fix is None or _known_word(tok):  # the vocabulary check last: it is the slow part
        return None
    return fix


def _typo_candidate(tok: str, vocab: frozenset[str], index: dict[str, set[str]]) -> str | None:
    """_typo_target without the check that `tok` is a real word of its own."""
    if len(tok) < 3 or tok in vocab or tok in STOPWORDS or not tok.isalpha():
        return None
    found: set[str] = set()
    found |= index.get(tok, set())  # a letter missing: "longr" -> "longer"
    for d in _deletions(tok):
        if d in vocab and len(d) >= 5:  # a letter too many: "rewritte" -> "rewrite"
            found.add(d)
    for i in range(len(tok) - 1):  # two letters swapped: "agian" -> "again"
        t = tok[:i] + tok[i + 1] + tok[i] + tok[i + 2:]
        if t in vocab:
            found.add(t)
    if len(tok) >= 6:  # one wrong letter, only in longer words where it cannot make a new word
        for i, d in enumerate(_deletions(tok)):
            for v in index.get(d, ()):
                if len(v) == len(tok) and v[:i] == tok[:i] and v[i + 1:] == tok[i + 1:]:
                    found.add(v)
    return next(iter(found)) if len(found) == 1 else None


@lru_cache(maxsize=8192)
def _known_word(tok: str) -> bool:
    """True for words the o200k vocabulary holds whole ("sort", "tone", "lover"): real words,
    which must never be "corrected" into a rule word. Misspellings split into pieces."""
    from miner import tokens

    return len(tokens.encoding().encode_ordinary(" " + tok)) == 1


def _deletion_index(vocab: frozenset[str]) -> dict[str, set[str]]:
    idx: dict[str, set[str]] = {}
    for v in vocab:
        for d in _deletions(v):
            idx.setdefault(d, set()).add(v)
    return idx


class _Index:
    """Everything derived from a Rules object that matching needs, built once per rule set:
    patterns by their first word (so a position only tries the few patterns that can start
    there), the typo index, and small bounded caches of per-word results."""

    CACHE_LIMIT = 50_000  # distinct words remembered per cache; cleared (not grown) past this

    def __init__(self, rules: Rules):
        self.order = {p: k for k, p in enumerate(rules.patterns)}
        self.by_word: dict[str, list[tuple[Pattern, list[str] | None]]] = {}
        self.globs: list[tuple[re.Pattern, Pattern]] = []
        self.by_number: list[Pattern] = []
        self.anywhere: list[Pattern] = []  # patterns that open with * or _
        # plain phrases of two or more words, by their first two words: "a" and "the" open
        # dozens of phrases, and a word should only try the few that can match here
        self.by_pair: dict[tuple[str, str], list[tuple[Pattern, list[str]]]] = {}
        for p in rules.patterns:
            first = p.items[0]
            if first[0] == "lit":
                # most phrases are plain words: compare a slice instead of running the matcher
                lits = [it[1] for it in p.items] if all(it[0] == "lit" for it in p.items) else None
                if lits is not None and len(lits) >= 2:
                    self.by_pair.setdefault((lits[0], lits[1]), []).append((p, lits))
                else:
                    self.by_word.setdefault(first[1], []).append((p, lits))
            elif first[0] == "glob":
                self.globs.append((first[1], p))
            elif first[0] == "num":
                self.by_number.append(p)
            else:
                self.anywhere.append(p)
        self.deletions = _deletion_index(rules.vocab)
        # single words of retry phrases ("dark", "voice", "again"): what an instruction-only
        # clause is made of
        self.rule_words = frozenset(p.items[0][1] for p in rules.patterns
                                    if p.kind == "retry" and len(p.items) == 1 and p.items[0][0] == "lit")
        # one-word fillers ("hmm", "please"); words of longer fillers ("it's good but") are not small words
        self.filler_words = frozenset(f[0] for f in rules.fillers_start + rules.fillers_end if len(f) == 1)
        self.fillers_by_first: dict[str, list[tuple[str, ...]]] = {}
        for f in rules.fillers_start:  # already longest first
            self.fillers_by_first.setdefault(f[0], []).append(f)
        # for folding: filler regexes by the word a filler starts (or ends) with, longest first
        self.start_fillers: dict[str, list[tuple[tuple[str, ...], re.Pattern]]] = {}
        for f in rules.fillers_start:
            rx = re.compile(r"^\W*" + r"\W+".join(re.escape(w) for w in f) + r"\b(?P<p>[^\w\s]*)\s*")
            self.start_fillers.setdefault(f[0], []).append((f, rx))
        self.end_fillers: dict[str, list[re.Pattern]] = {}
        for f in rules.fillers_end:
            rx = re.compile(r"[\s,]*\b" + r"\W+".join(re.escape(w) for w in f) + r"\W*$")
            self.end_fillers.setdefault(f[-1], []).append(rx)
        self.fold_words = frozenset(w for f in rules.fillers_start + rules.fillers_end for w in f) | _EMPTY_WORDS
        self.pair_firsts = frozenset(a for a, _ in self.by_pair)
        self._glob_cache: dict[str, tuple[Pattern, ...]] = {}
        self._cand_cache: dict[str, tuple[tuple[Pattern, list[str] | None], ...]] = {}
        self._typo_cache: dict[str, str | None] = {}
        self.vocab = rules.vocab

    def candidates(self, tok: str) -> tuple[tuple[Pattern, list[str] | None], ...]:
        """Every (pattern, literal words or None) that can start at a word `tok`: by its first
        word, by a glob, by a number, or anywhere. Remembered per word."""
        hit = self._cand_cache.get(tok)
        if hit is None:
            if len(self._cand_cache) > self.CACHE_LIMIT:
                self._cand_cache.clear()
            more = list(self.starting_with(tok))
            if self.by_number and (tok[:1].isdigit() or tok in _NUMBER_WORDS) and _is_number(tok):
                more += self.by_number
            more += self.anywhere
            hit = self._cand_cache[tok] = tuple(self.by_word.get(tok, ())) + tuple((p, None) for p in more)
        return hit

    def starting_with(self, tok: str) -> tuple[Pattern, ...]:
        """Glob patterns whose first word matches `tok`."""
        hit = self._glob_cache.get(tok)
        if hit is None:
            if len(self._glob_cache) > self.CACHE_LIMIT:
                self._glob_cache.clear()
            hit = tuple(p for rx, p in self.globs if rx.fullmatch(tok) and tok not in NOT_COMPARATIVE)
            self._glob_cache[tok] = hit
        return hit

    def typo(self, tok: str) -> str | None:
        """The rule word `tok` may misspell (see _typo_candidate); remembered per word. Not
        yet checked against real words: see _known_word."""
        try:
            return self._typo_cache[tok]
        except KeyError:
            if len(self._typo_cache) > self.CACHE_LIMIT:
                self._typo_cache.clear()
            fix = self._typo_cache[tok] = _typo_candidate(tok, self.vocab, self.deletions)
            return fix


def _index(rules: Rules) -> _Index:
    idx = rules.__dict__.get("_index")
    if idx is None:
        idx = rules._index = _Index(rules)
    return idx


def corrected_tokens(text: str, rules: Rules, keep: set[str] | frozenset[str] = frozenset()) -> tuple[list[str], dict[str, str]]:
    """Tokens of `text` with small typos of rule words fixed. Words in `keep` (the words of the
    conversation itself, such as names) are never changed. Returns (tokens, {typo: fix})."""
    idx = _index(rules)
    out, fixes = [], {}
    for t in _tokens(text):
        fix = idx.typo(t)
        if fix and t not in keep and not _known_word(t):
            fixes[t] = fix
            t = fix
        out.append(t)
    return out, fixes


# ---- matching -------------------------------------------------------------------------------

def _match_at(items: tuple, toks: list[str], i: int, k: int, end: bool) -> int | None:
    """End index if items[k:] match toks from i, else None (small backtracking matcher)."""
    if k == len(items):
        return i if (not end or i == len(toks)) else None
    it = items[k]
    tag = it[0]
    if tag == "gap":
        for n in range(0, 4):
            if i + n > len(toks):
                break
            r = _match_at(items, toks, i + n, k + 1, end)
            if r is not None:
                return r
        return None
    if i >= len(toks):
        return None
    t = toks[i]
    if tag == "lit":
        return _match_at(items, toks, i + 1, k + 1, end) if t == it[1] else None
    if tag == "glob":
        ok = it[1].fullmatch(t) and t not in NOT_COMPARATIVE
        return _match_at(items, toks, i + 1, k + 1, end) if ok else None
    if tag == "one":
        return _match_at(items, toks, i + 1, k + 1, end)
    if tag == "num":  # one to three number words: "2000", "two thousand", "2 k"
        n = 0
        while i + n < len(toks) and n < 3 and (_is_number(toks[i + n]) or (n and toks[i + n] == "k")):
            n += 1
        for m in range(n, 0, -1):
            if it[1] and not _big_number(toks[i:i + m]):
                continue
            r = _match_at(items, toks, i + m, k + 1, end)
            if r is not None:
                return r
        return None
    return None  # pragma: no cover


def _big_number(toks: list[str]) -> bool:
    """A count of words that is plausible as a length: 50 or more, "2k", "five hundred"."""
    if any(t in _BIG_NUMBER_WORDS or (t.endswith("k") and t[:-1].isdigit()) for t in toks):
        return True
    digits = "".join(t for t in toks if t.isdigit())  # "2,000" is two tokens
    return bool(digits) and int(digits) >= MIN_WORD_COUNT


def find(pattern: Pattern, toks: list[str]) -> tuple[int, int] | None:
    """The first (start, end) token span where `pattern` matches, or None."""
    first = pattern.items[0]
    starts = [0] if pattern.start else range(len(toks))
    for i in starts:
        if first[0] == "lit" and (i >= len(toks) or toks[i] != first[1]):
            continue
        j = _match_at(pattern.items, toks, i, 0, pattern.end)
        if j is not None and j > i:
            return i, j
    return None


def _scan(toks: list[str], idx: _Index, only: frozenset[str] | None = None) -> dict[Pattern, list[tuple[int, int]]]:
    """Every span where a pattern matches, by pattern; each position tries only the patterns
    that can start with its word. `only` limits the search to some categories."""
    found: dict[Pattern, list[tuple[int, int]]] = {}
    n = len(toks)
    cache = idx._cand_cache
    by_pair = idx.by_pair
    pair_firsts = idx.pair_firsts
    hot = set()
    for t in set(toks):
        cands = cache.get(t)
        if cands is None:
            cands = idx.candidates(t)
        if cands or t in pair_firsts:
            hot.add(t)
    if not hot:
        return found
    for i in [i for i, t in enumerate(toks) if t in hot]:  # most words of a message start no phrase
        t = toks[i]
        cands = cache.get(t) or idx.candidates(t)
        if t in pair_firsts and i + 1 < n:
            pairs = by_pair.get((t, toks[i + 1]))
            if pairs:
                cands = (*cands, *pairs)
        for p, lits in cands:
            if (p.start and i) or (only is not None and p.category not in only):
                continue
            if lits is not None:
                j = i + len(lits)
                if toks[i:j] != lits or (p.end and j != n):
                    continue
            else:
                j = _match_at(p.items, toks, i, 0, p.end)
                if j is None or j <= i:
                    continue
            found.setdefault(p, []).append((i, j))
    return found


@dataclass
class Hit:
    pattern: Pattern
    span: tuple[int, int]
    strength: int = 2  # retry phrases: 2 explicit instruction, 1 instruction shape, 0 in passing


def match_all(toks: list[str], rules: Rules) -> list[Hit]:
    """Every phrase of the rules found in `toks` (the first place each one matches), in rule
    order. Retry hits carry no shape judgement here; classify() weighs them in context."""
    toks = toks[:MATCH_WINDOW]
    idx = _index(rules)
    found = _scan(toks, idx)
    return [Hit(p, found[p][0]) for p in sorted(found, key=idx.order.__getitem__)]


# ---- is a retry phrase used as an instruction? ----------------------------------------------

# Clause boundaries: sentence and clause punctuation, brackets, quotes, dashes between words.
# One pass gives the words and, as empty strings, the clause breaks between them.
_WORD_OR_BREAK = re.compile(r"([^\W_]+(?:'[^\W_]+)*)|[.!?;:,()\[\]\n\"—–…]")
_WORD_OR_BREAK_ASCII = re.compile(r"([a-z0-9]+(?:'[a-z0-9]+)*)|[.!?;:,()\[\]\n\"]")  # same on lower-case ASCII, faster
_DASH = re.compile(r"(?:^|\s)-+(?=\s|$)")  # "dark - and cold": a break; "em-dash": not
_MISSING = object()


@dataclass
class _Followup:
    """A follow-up cut into words (typos of rule words fixed, first MATCH_WINDOW words) with
    its clauses and where each clause's instruction would start."""

    toks: list[str]
    total: int  # words in the whole follow-up
    fixes: dict[str, str]  # typo -> rule word, applied to toks
    starts: list[int]  # index of the first word of each clause, ascending
    ends: dict[int, int]  # clause start -> clause end
    raw: list[str]  # the words as written (toks before typo fixes)
    idx: _Index
    head: dict[int, int] = field(default_factory=dict)  # clause start -> first word after fillers (memo)
    other_words: dict[int, list[int] | bool] = field(default_factory=dict)  # memo of _other_words

    def clause_of(self, i: int) -> int:
        """Index of the first word of word i's clause."""
        return self.starts[bisect_right(self.starts, i) - 1]

    def imperative(self, i: int) -> bool:
        """Word i opens its clause, fillers aside: "ok, could you rewrite it" -> "rewrite"."""
        cs = self.clause_of(i)
        h = self.head.get(cs)
        if h is None:
            h = self.head[cs] = _clause_head(self.toks, cs, self.ends[cs], self.idx)
        return cs <= i <= h


def _analyse(text: str, rules: Rules, rejected: frozenset[str] = frozenset()) -> _Followup:
    """Words, clauses and clause heads of a follow-up. Likely typos of rule words are fixed
    unless in `rejected`; classify() checks the fixes that end up inside a phrase that matters
    (_checked_typos) and analyses again without the wrong ones."""
    idx = _index(rules)
    low = _norm(text)
    head = low[: MATCH_WINDOW * 16]  # enough text for MATCH_WINDOW words, usually
    truncated = len(head) < len(low)
    if "-" in head:
        head = _DASH.sub(",", head)
    toks, starts = _words_and_clauses(head)
    n = len(toks)
    cut = n > MATCH_WINDOW or truncated
    if n > MATCH_WINDOW:
        del toks[MATCH_WINDOW:]
        starts = [c for c in starts if c < MATCH_WINDOW]
    total = len(_WORD.findall(low)) if cut else len(toks)
    fixes: dict[str, str] = {}
    raw = toks
    cache = idx._typo_cache
    for t in set(raw):
        fix = cache.get(t, _MISSING)
        if fix is _MISSING:
            fix = idx.typo(t)
        if fix and t not in rejected:
            fixes[t] = fix  # type: ignore[assignment]
    if fixes:
        toks = [fixes.get(t, t) for t in raw]
    ends = dict(zip(starts, starts[1:] + [len(toks)]))
    return _Followup(toks, total, fixes, starts, ends, raw, idx)


def _words_and_clauses(low: str) -> tuple[list[str], list[int]]:
    """The words of lower-cased `low` and the index of the first word of each clause."""
    if not low.isascii():
        parts = _WORD_OR_BREAK.findall(low)
        toks = [w for w in parts if w]
        # a break before word n starts a clause there: the k-th part is word k - (breaks before it)
        breaks = [k for k, w in enumerate(parts) if not w]
        n = len(toks)
        return toks, (sorted({0, *(k - j for j, k in enumerate(breaks))} - {n}) if breaks else [0])
    # The same as with _WORD_OR_BREAK_ASCII.findall, at a fraction of the cost (every
    # follow-up of an export comes through here): C-speed translate and splits, a Python step
    # per clause rather than per word, the regex only for words with an apostrophe.
    marked = low.translate(_ASCII_SPLIT)
    toks: list[str] = []
    starts: list[int] = []
    for clause in marked.split("\0"):
        words = clause.split()
        if "'" in clause:
            words = [x for w in words for x in (_APOSTROPHE_WORD.findall(w) if "'" in w else (w,))]
        if words:
            starts.append(len(toks))
            toks += words
    if not toks:
        return toks, ([] if "\0" in marked else [0])
    return toks, starts


_ASCII_BREAKS = '.!?;:,()[]\n"'
_ASCII_SPLIT = str.maketrans({chr(c): (chr(c) if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789'" else
                                       "\0" if chr(c) in _ASCII_BREAKS else " ") for c in range(128)})
_APOSTROPHE_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def _clause_head(toks: list[str], i: int, end: int, idx: _Index) -> int:
    """First word of toks[i:end] that is not a filler or politeness ("hmm ok but can you ...")."""
    while i < end:
        for f in idx.fillers_by_first.get(toks[i], ()):
            if i + len(f) <= end and tuple(toks[i:i + len(f)]) == f:
                i += len(f)
                break
        else:
            if toks[i] in _SKIP:
                i += 1
                continue
            break
    return min(i, end - 1)


def _skip_intensifiers(toks: list[str], s: int, cs: int) -> int:
    """Index of the first of the intensifiers right before s ("a bit" in "a bit darker")."""
    p = s
    while p > cs:
        if toks[p - 1] in _INTENSIFY_1:
            p -= 1
        elif p - 2 >= cs and (toks[p - 2], toks[p - 1]) in _INTENSIFY_2:
            p -= 2
        else:
            break
    return p


def _strict_comparative(w: str, idx: _Index) -> bool:
    """"darker", "funnier", "bigger": a comparative of a rule word (or one listed itself).
    "river", "water" and "thunder" are not."""
    if not w.endswith("er") or len(w) < 5:
        return False
    if w in idx.rule_words:
        return True
    stems = (w[:-2], w[:-1], w[:-3] + "y" if w.endswith("ier") else "", w[:-3] if len(w) > 5 and w[-3] == w[-4] else "")
    return any(x and x in idx.rule_words for x in stems)


def _clause_is_instruction(f: _Followup, s: int, e: int, idx: _Index) -> bool:
    """The clause holding the hit is made of rule words, numbers and small words only:
    "Darker.", "Dark and moody, please", "first person", "again, but funnier"."""
    cs = f.clause_of(s)
    other = f.other_words.get(cs)
    if other is None:
        other = f.other_words[cs] = _other_words(f, cs, idx)
    return other is not False and all(s <= k < e for k in other)


def _other_words(f: _Followup, cs: int, idx: _Index) -> list[int] | bool:
    """Positions of the words in the clause starting at cs that are not rule words, numbers or
    small words (False for a clause too long to be an instruction on its own)."""
    ce = f.ends[cs]
    if ce - cs > 10:
        return False
    out = []
    for k in range(cs, ce):
        t = f.toks[k]
        if t in _CLAUSE_WORDS or t in idx.rule_words or t in idx.filler_words or t in _SKIP:
            continue
        if _is_number(t) or _strict_comparative(t, idx) or t in _INTENSIFY_1:
            continue
        out.append(k)
        if len(out) > 3:  # no hit is that long
            return False
    return out


def _strength(h: Hit, f: _Followup, idx: _Index, need: int = 1) -> int:
    """How clearly the retry phrase at h.span is an instruction about the answer:
    2 an explicit instruction, 1 an instruction shape (enough in a short or medium follow-up),
    0 a word in passing ("the cold, dark house", "hears a voice"). With need=2 (a long
    follow-up) anything short of 2 may come back as 0: only "explicit or not" matters there."""
    p_ = h.pattern
    if need == 2 and (p_.category == WEAK or p_.shape == "too"):
        return 0  # never explicit: not worth looking at
    toks = f.toks
    s, e = h.span
    n = len(toks)
    first = toks[s]
    strength = _raw_strength(p_, f, s, e, idx, need)
    if n <= FEW_WORDS:
        strength = max(strength, 1)  # "a happier ending", "the voice is off"
    if p_.category == WEAK:
        strength = min(strength, 1)  # unhappiness alone is no instruction in a long message
    if p_.shape == "anchor" and p_.category == "comparative" and not _strict_comparative(first, idx):
        strength = min(strength, 1)  # "^*er and" also takes "Thunder and ..."
    return strength


def _raw_strength(p_: Pattern, f: _Followup, s: int, e: int, idx: _Index, need: int = 1) -> int:
    toks = f.toks
    n = len(toks)
    cs = f.clause_of(s)
    first = toks[s]
    shape = p_.shape
    if toks[e - 1] == "word" and e < f.ends[cs] and toks[e] not in _RESIZED:
        return 0  # "a 2000 word story about ...": the size of a new piece, not of the answer
    if shape == "anchor":
        return 2
    if _clause_is_instruction(f, s, e, idx):
        return 2
    if shape == "mod":
        # "Another version, please", "I'd like another version", "give it another go"; in prose
        # "once more the wind rose" and "twice as long as the road" are only words
        if s > cs and toks[s - 1] in _ASKS_FOR:
            return 2
        narration = e < f.ends[cs] and toks[e] in _SUBJECT_START  # "Once more the wind rose"
        return 2 if f.imperative(s) and not narration else 1
    if shape == "more":
        before = toks[s - 1] if s > cs else ""
        after = toks[e] if e < n else ""
        if before in _NOT_MORE_BEFORE or after in _NOT_MORE_AFTER:
            return 0
        if f.imperative(s) or after in idx.rule_words or _strict_comparative(after, idx):
            return 2  # "More tension.", "more sensory detail", "less formal"
        return 1 if after else 0
    if shape == "too":
        return 1
    if shape == "verb":
        return 2 if f.imperative(s) or (s > cs and toks[s - 1] in ("you", "u")) else 1
    # a word or noun phrase: look at what stands around it
    p = _skip_intensifiers(toks, s, cs)
    before = toks[p - 1] if p > cs else ""
    if f.imperative(s) and first in VERBS:
        return 2
    if before in ("more", "less", "fewer"):
        return 2  # "more dialogue", "a bit more formal"
    if _made(toks, s, cs, f):
        return 2  # "make the ending sadder", "write it in first person"
    if _should_be(toks, p, cs, f):
        return 2  # "it should be darker", "needs to feel colder"
    if e < n and toks[e] in _AFTER_WORD:
        return 2  # "darker please", "first person instead"
    if need == 2:
        return 0
    comparative = _strict_comparative(first, idx)
    if comparative and (p < s or f.imperative(s)):
        return 1  # "even darker", "Colder, and give her a reason" (prose has "younger, funnier and ...")
    if before == "too" or (e < n and toks[e] == "enough"):
        return 1  # "too dark", "not dark enough"
    if first in _COPULA_AFTER_SUBJECT and before in _SUBJECT:
        return 1  # "it sounds like a textbook", "it reads too ..."
    if before in _SUBJECT_COPULA or (before in _COPULA_AFTER_SUBJECT and (p - 1 == cs or f.imperative(p - 1) or
                                                                           (p - 2 >= cs and toks[p - 2] in _SUBJECT))):
        return 1  # "it sounds stiff", "feels generic", "it's boring"
    if p_.category == "voice" and (before in ("in", "into") or (before == "the" and p - 2 >= cs and toks[p - 2] in ("in", "into"))):
        return 1  # "in first person", "in the present tense" (not "into the cold")
    if f.imperative(s) and (e - s > 1 or p_.category == WEAK or p_.category not in _CATEGORY_WORDS):
        return 1  # "the ending feels rushed", "not quite", "boring.", an author's own "zhuzh it up"
    if p_.items[0][0] == "num" and p_.items[0][1]:
        return 1  # a plausible word count: "a 300 word version", "at around 800 words"
    return 0


def _made(toks: list[str], s: int, cs: int, f: _Followup) -> bool:
    """A "make ... X" or "VERB it (in) X" instruction leads to the word at s."""
    for m in range(s - 1, max(cs, s - 5) - 1, -1):
        if toks[m] in ("make", "makes") and (f.imperative(m) or (m > cs and toks[m - 1] in ("you", "u", "and", "then"))):
            return True
    k = s
    while k > cs and s - k < 2 and toks[k - 1] in ("in", "into", "from", "with", "for", "as", "to", "the", "a", "an", "more", "less"):
        k -= 1
    if k - 2 >= cs and toks[k - 1] in ("it", "this", "that", "them", "one"):
        if toks[k - 2] in VERBS:
            return f.imperative(k - 2) or (k - 2 > cs and toks[k - 3] in ("you", "u", "and", "then"))
        # "I wanted it in first person", "I'd prefer it shorter", "we need it darker"
        return toks[k - 2] in _WANT and k - 3 >= cs and toks[k - 3] in ("i", "i'd", "id", "we", "we'd", "would", "really")
    return False


def _should_be(toks: list[str], p: int, cs: int, f: _Followup) -> bool:
    """"(it) should be X", "needs to sound X", "I want it to feel X", "could it be X"."""
    if p - 2 < cs or toks[p - 1] not in _BE_VERBS:
        return False
    m = toks[p - 2]
    if m in _SUBJECT and p - 3 >= cs and toks[p - 3] in ("could", "can", "would"):
        return True  # "could it be darker"
    if m not in _MODALS:
        return False
    if f.imperative(p - 2):
        return True  # "should be darker"
    before = toks[p - 3] if p - 3 >= cs else ""
    if before in _SUBJECT:
        return True  # "it should be", "want it to be"
    if before in ("needs", "need", "has", "have", "ought"):
        return f.imperative(p - 3) or (p - 4 >= cs and toks[p - 4] in _SUBJECT)
    return False


def _checked_typos(f: _Followup, hits: list[Hit], need: int, text: str, rules: Rules,
                   context: Callable[[], set[str]]) -> tuple[_Followup, list[Hit]]:
    """Keep only the typo fixes that can be trusted: not a word of the conversation itself (a
    name stays a name) and not a real word ("quiet" is not "quite"). Only fixes inside phrases
    that can change the decision are checked: the real-word check needs the tokenizer's
    vocabulary, which is slow to load, and a fix anywhere else changes nothing."""
    def inside(f: _Followup, hits: list[Hit]) -> set[str]:
        return {f.toks[k] for h in hits if h.pattern.kind != "retry" or h.strength >= need for k in range(*h.span)}

    used = inside(f, hits)
    check = [typo for typo, fix in f.fixes.items() if fix in used]
    wrong = frozenset(typo for typo in check if typo in context() or _known_word(typo)) if check else frozenset()
    if wrong:
        f = _analyse(text, rules, wrong)
        hits = _retry_hits(f, rules, need)
        used = inside(f, hits)
    f.fixes = {typo: fix for typo, fix in f.fixes.items() if fix in used}
    return f, hits


# Words that can make a word nearby an explicit instruction (see _raw_strength): a long
# follow-up mostly has none of them near its mood words, and the full check can be skipped.
# ("VERB it X" and "I want it X" need their verb in the window too, so "it" is no trigger.)
_NEAR_INSTRUCTION = frozenset("more less fewer make makes".split()) | _AFTER_WORD | _BE_VERBS | _WANT | VERBS


def _plainly_in_passing(f: _Followup, span: tuple[int, int], idx: _Index) -> bool:
    """A cheap test that the word at span cannot be an explicit instruction: no instruction
    word within six words before it or one after, and its clause holds other words."""
    s, e = span
    toks = f.toks
    if not _NEAR_INSTRUCTION.isdisjoint(toks[max(0, s - 6): e + 1]):
        return False
    return not _clause_is_instruction(f, s, e, idx)


def _retry_hits(f: _Followup, rules: Rules, need: int = 1) -> list[Hit]:
    """Every phrase found, retry phrases with their strength (the best place each matches)."""
    idx = _index(rules)
    found = _scan(f.toks, idx)
    hits = []
    for p in sorted(found, key=idx.order.__getitem__):  # rule order: reasons stay the same run to run
        spans = found[p]
        if p.kind != "retry":
            hits.append(Hit(p, spans[0]))
            continue
        best = None
        for span in spans[:MAX_SPANS]:
            h = Hit(p, span)
            if need == 2 and p.shape == "word" and _plainly_in_passing(f, span, idx):
                h.strength = 0
            else:
                h.strength = _strength(h, f, idx, need)
            if best is None or h.strength > best.strength:
                best = h
            if best.strength == 2:
                break
        hits.append(best)
    return hits


# ---- comparing the next answer with the draft -----------------------------------------------

@dataclass
class Likeness:
    """How the next answer relates to the draft it follows."""

    relation: str  # "rewrite", "continuation", "partial" or "unknown"
    shared: float = 0.0  # fraction of the draft's distinct content words found in the next answer
    phrases: float = 0.0  # fraction of the draft's three-word sequences found in the next answer
    start: float = 0.0  # overlap of the two openings
    ratio: float = 0.0  # next answer length / draft length, in words

    def describe(self) -> str:
        pct = f"{round(self.shared * 100)}% shared words"
        if self.relation == "rewrite":
            return f"next answer rewrites the draft ({pct})"
        if self.relation == "continuation":
            return f"next answer carries on instead of rewriting ({pct}, different opening)"
        if self.relation == "partial":
            return f"next answer only partly repeats the draft ({pct})"
        return "no next answer to compare" if self.ratio == 0 else "draft too short to compare"


def _body(text: str) -> str:
    """The text without a short lead-in line such as "Sure! Here's a darker version:"."""
    lines = text.strip().split("\n", 1)
    if len(lines) == 2 and lines[0].rstrip().endswith(":") and len(lines[0].split()) <= 25:
        return lines[1]
    for _ in range(2):  # "Sure! Here's a darker version: ..."
        m = _LEAD_IN.match(text)
        if not (m and len(text) - m.end() > 40):
            break
        text = text[m.end():]
    return text


_LEAD_IN = re.compile(r"\s*(?:sure|of course|certainly|absolutely|okay|ok|got it|here(?:'|’)?s|here is)\b[^.!:\n]{0,120}[:!.]\s+",
                      re.I)


@lru_cache(maxsize=16)
def _body_tokens(text: str) -> list[str]:
    # collapse compares each answer twice (as the next answer, then as the draft); callers
    # must not modify the list
    return _tokens(_body(text))


@lru_cache(maxsize=16)
def _token_set(text: str) -> frozenset[str]:
    return frozenset(_tokens(text))


def likeness(draft: str, nxt: str | None) -> Likeness:
    if nxt is None:
        return Likeness("unknown")
    a_tokens = _body_tokens(draft)
    b_tokens = _body_tokens(nxt)
    a = set(_content(a_tokens))
    b = set(_content(b_tokens))
    ratio = len(b_tokens) / max(1, len(a_tokens))
    if len(a) < MIN_JUDGE_WORDS or not b:
        return Likeness("unknown", ratio=ratio or 1.0)
    shared = len(a & b) / len(a)
    a0 = set(_content(a_tokens[:25]))
    b0 = set(_content(b_tokens[:25]))
    start = len(a0 & b0) / max(1, min(len(a0), len(b0))) if a0 and b0 else 0.0
    a3 = set(zip(a_tokens, a_tokens[1:], a_tokens[2:]))
    b3 = set(zip(b_tokens, b_tokens[1:], b_tokens[2:]))
    phrases = len(a3 & b3) / max(1, len(a3))
    if (shared >= REWRITE_SHARED or phrases >= REWRITE_PHRASES
            or (shared >= REWRITE_SHARED_WITH_START and start >= START_ALIKE)):
        rel = "rewrite"
    elif start < CONTINUE_START and phrases < CONTINUE_PHRASES and shared < CONTINUE_SHARED:
        rel = "continuation"
    else:
        rel = "partial"
    return Likeness(rel, shared, phrases, start, ratio)


# ---- the decision ---------------------------------------------------------------------------

@dataclass
class Decision:
    is_retry: bool
    reason: str  # a sentence for people (`miner retries`)
    rule: str  # what fired, e.g. "phrase 'longer' (retry: length) + next answer rewrites ..."


_CATEGORY_WORDS = {
    # retry groups, read as "asks for ..."
    "redo": "another attempt", "dissatisfied": "a better answer", "length": "a different length",
    "content": "changed content", "tone": "a different tone", "voice": "another person, tense or point of view",
    "style": "a different style", "comparative": "more or less of something",
    # not-a-retry groups, read as "this is ..."
    "continuation": "a request to continue", "new_request": "a new request",
    "task_switch": "a different kind of text", "thanks": "thanks or praise",
    "question": "a question about the answer", "dismiss": "a dismissal",
}


def _best(hits: list[Hit], n: int = 2) -> list[Hit]:
    """The most telling hits: longest phrases first, one per category."""
    out: list[Hit] = []
    cats: set[str] = set()
    for h in sorted(hits, key=lambda h: (-h.pattern.size, -(h.span[1] - h.span[0]), h.span[0])):
        if h.pattern.category not in cats:
            out.append(h)
            cats.add(h.pattern.category)
        if len(out) == n:
            break
    return out


def _phrases(hits: list[Hit]) -> str:
    best = _best(hits)
    quoted = ", ".join(repr(h.pattern.text) for h in best)
    cats = ", ".join(f"{h.pattern.kind.replace('_', '-')}: {h.pattern.category}" for h in best)
    return f"phrase{'s' if len(best) > 1 else ''} {quoted} ({cats})"


def _why(hits: list[Hit]) -> str:
    def words(p: Pattern) -> str:
        if p.category in _CATEGORY_WORDS:
            return _CATEGORY_WORDS[p.category]
        # a group from the user's --retry-rules file
        return f"a redo (your '{p.category}' phrases)" if p.kind == "retry" else f"not a redo (your '{p.category}' phrases)"

    return " and ".join(words(h.pattern) for h in _best(hits))


def classify(request: str, answer: str, followup: str, next_answer: str | None, rules: Rules) -> Decision:
    """Is `followup` (a user turn after `answer`) a request to redo `answer` differently?"""
    memo: dict[str, object] = {}

    def context() -> set[str]:  # the conversation's own words
        if "context" not in memo:
            memo["context"] = _token_set(request) | _token_set(answer)
        return memo["context"]  # type: ignore[return-value]

    def like() -> Likeness:  # comparing answers costs most: only when a rule needs it
        if "like" not in memo:
            memo["like"] = likeness(answer, next_answer)
        return memo["like"]  # type: ignore[return-value]

    def new_words() -> tuple[int, int]:  # (content words, content words not in the conversation)
        if "new" not in memo:
            fc = _content(_tokens(followup))
            ctx = context()
            memo["new"] = (len(fc), sum(1 for t in fc if t not in ctx))
        return memo["new"]  # type: ignore[return-value]

    f = _analyse(followup, rules)
    if not f.toks:
        return Decision(False, "the follow-up has no words", "empty follow-up")
    need = 2 if f.total > LONG_WORDS else 1
    hits = _retry_hits(f, rules, need)
    if f.fixes:
        f, hits = _checked_typos(f, hits, need, followup, rules, context)
    found = [h for h in hits if h.pattern.kind == "retry"]
    retry = [h for h in found if h.strength >= need]
    passing = [h for h in found if h.strength < need]
    strong = [h for h in retry if h.pattern.category != WEAK]
    neg = [h for h in hits if h.pattern.kind == "not_retry"]
    switch = [h for h in neg if h.pattern.category == TASK_SWITCH]
    blocking = [h for h in neg if h.pattern.category not in (TASK_SWITCH, THANKS)]
    if retry and not strong:
        blocking = [h for h in neg if h.pattern.category != TASK_SWITCH]  # "no worries, thanks"
    typo = f" (read {', '.join(f'{a!r} as {b!r}' for a, b in f.fixes.items())})" if f.fixes else ""

    if switch:
        return Decision(False, f"asks for {_why(switch)} made from the answer, which stays a separate example{typo}",
                        _phrases(switch) + " wins")

    if retry and f.total >= NEW_MATERIAL_WORDS:
        fc, new = new_words()
        if new >= NEW_MATERIAL_SHARE * max(1, fc) and like().relation != "rewrite":
            return Decision(False, f"brings {new} new words of its own material: a new request, not a redo",
                            f"new material ({f.total} words, {round(100 * new / max(1, fc))}% new) + {like().describe()}")

    if retry:
        lk = like()
        if blocking:
            if lk.relation == "rewrite":
                return Decision(True, f"mixed wording ({_why(retry)} / {_why(blocking)}), but the next answer rewrites the draft{typo}",
                                f"{_phrases(retry)} over {_phrases(blocking)} + {lk.describe()}")
            return Decision(False, f"{_why(blocking)}; it also asks for {_why(retry)}, but the next answer does not rewrite the draft{typo}",
                            f"{_phrases(blocking)} over {_phrases(retry)} + {lk.describe()}")
        redo = any(h.pattern.category == REDO for h in retry)
        if lk.relation == "continuation" and (not redo or new_words()[1] >= NEW_CONTENT_WORDS):
            why = "adds new text instead of replacing the draft" if not redo else \
                f"works on the {new_words()[1]} new words the follow-up brings, not on the draft"
            return Decision(False, f"asks for {_why(retry)}, but the next answer {why}{typo}",
                            f"{_phrases(retry)} + {lk.describe()}")
        if not strong and lk.relation == "partial":
            return Decision(False, f"is unhappy with the answer but gives no instruction, and the next answer does not redo the draft{typo}",
                            f"{_phrases(retry)} only + {lk.describe()}")
        tail = "" if lk.relation == "unknown" else f" + {lk.describe()}"
        if not strong:
            then = "the next answer is a new attempt" if lk.relation != "unknown" else "taken as a request for another attempt"
            return Decision(True, f"is unhappy with the answer; {then}{typo}", f"{_phrases(retry)}{tail}")
        return Decision(True, f"asks for {_why(strong)}{typo}", f"{_phrases(strong)}{tail}")

    def plain_rewrite() -> bool:
        if f.total > FALLBACK_MAX_WORDS:
            return False
        lk = like()
        return (lk.relation == "rewrite" and lk.shared >= FALLBACK_SHARED and lk.phrases >= FALLBACK_PHRASES
                and 0.5 <= lk.ratio <= 3)

    if neg and all(h.pattern.category in ("question", THANKS) for h in neg) and plain_rewrite():
        # "what if she had a brother?" answered with the whole story again: a redo in disguise
        return Decision(True, f"{_why(neg)}, but the next answer is a new version of the draft{typo}",
                        f"{_phrases(neg)} + {like().describe()}")
    if neg:
        return Decision(False, f"{_why(neg)}{typo}", f"{_phrases(neg)}")
    if plain_rewrite():
        return Decision(True, "no retry wording, but the next answer is a new version of the draft",
                        f"no phrase + {like().describe()}")
    if passing:
        words = ", ".join(repr(" ".join(f.raw[h.span[0]:h.span[1]])) for h in _best(passing))
        where = "a long message with no redo instruction" if need == 2 else "not as an instruction about the answer"
        return Decision(False, f"mentions {words} only in passing ({where}): a new request, not a redo{typo}",
                        f"{_phrases(passing)} in passing, not an instruction")
    if f.total > FALLBACK_MAX_WORDS:
        return Decision(False, "no retry wording", "no phrase")
    return Decision(False, "no retry wording, and the next answer does not redo the draft",
                    f"no phrase + {like().describe()}")


# ---- folding the follow-ups into the request ------------------------------------------------

_COPULA = re.compile(
    r"^(?:(?:it|this|that)(?:'s| is| was| feels| sounds| reads| seems)|its|thats|feels|sounds|reads|seems)"
    r"(?:\s+(?:a bit|a little|kind of|kinda|sort of|way|much|far|still|just|really|pretty|so))*\s+", re.I)
_WANT_IT = re.compile(r"^(?:i(?:'d| would)? (?:want|like|need|prefer|wanted)|i'd love)\s+(?:it|this|that)\s+(?:to be\s+|to\s+)?", re.I)
_SHOULD = re.compile(r"^(?:(?:it|this|that) (?:should|needs to|has to|must)|(?:could|can|would) (?:it|this|that)) "
                     r"(?=(?:be|sound|feel|read)\s)", re.I)
_TOO = re.compile(r"^(?:(?:way|much|far|a bit|a little|just|kinda|kind of|slightly|still|a tad|bit)\s+)*too\s+", re.I)
_INTENSIFIER = ("even", "much", "way", "a bit", "bit", "a little", "a lot", "lot", "slightly", "somewhat",
                "far", "a tad", "a touch", "little")
_ADJ_SUFFIX = re.compile(r"(?:al|ic|ous|ful|ive|y|ish|ed|ent|ant|ing|ible|able|less|ly|ier|er|est|ile|ine|ate|ar)$")
_LEADERS = {"in": "Write it", "from": "Write it", "with": "Write it", "without": "Write it", "as if": "Write it",
            "like": "Make it sound", "using": "Write it"}
_NEED_PUNCT = {"no", "yes", "right", "well", "so", "er", "still", "again", "just", "now", "maybe", "perhaps"}
# "try again but darker" -> "darker": the redo itself is implied by the folded request.
_REDO_LEAD = re.compile(
    r"^(?:try (?:it |that |this )?again|again|redo(?: it| that)?|rewrite(?: it| that)?|do (?:it|that) again|one more time|"
    r"once more|same(?: thing)?|another version|write (?:it|that) again)\s*[,.:;!-]*\s*(?:but|and|only|just|though)?\s*[,:]?\s+",
    re.I)
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+|\s+[—–-]{1,2}\s+|\s*[—–]\s*|;\s*")


def _strip_fillers(s: str, rules: Rules) -> str:
    """Remove greeting/politeness/hesitation phrases from both ends, repeatedly."""
    idx = _index(rules)
    changed = True
    while changed and s:
        changed = False
        low = _norm(s)
        first = _WORD.search(low)
        for f, rx in idx.start_fillers.get(first.group(0), ()) if first else ():
            m = rx.match(low)
            if not m:
                continue
            rest = s[m.end():]
            if len(f) == 1 and f[0] in _NEED_PUNCT and not m.group("p") and rest and not _starts_with_filler(rest, rules):
                continue  # "no more adverbs", "still too long": the word belongs to the sentence
            s = rest
            changed = True
            break
        low = _norm(s)
        words = _WORD.findall(low[-80:])  # the last word, without scanning a long sentence
        for rx in idx.end_fillers.get(words[-1], ()) if words else ():
            m = rx.search(low)
            if m and m.start() > 0:
                s = s[: m.start()]
                changed = True
                break
    return s.strip(" \t,;:.!?-—–")


def _starts_with_filler(s: str, rules: Rules) -> bool:
    t = _tokens(s)
    return any(tuple(t[: len(f)]) == f for f in rules.fillers_start)


def _fix_typos(s: str, rules: Rules, keep: set[str]) -> str:
    idx = _index(rules)

    def sub(m: re.Match) -> str:
        w = m.group(0)
        if w[:1].isupper() and w[1:].islower() and m.start() > 0:  # a name, most likely
            return w
        low = _norm(w)
        if low in keep:
            return w
        fix = idx.typo(low)
        return fix if fix and not _known_word(low) else w

    return _WORD.sub(sub, s)


def _is_comparative(word: str) -> bool:
    return len(word) >= 5 and word.endswith("er") and word not in STOPWORDS and word not in NOT_COMPARATIVE


def _imperative(s: str, rules: Rules) -> str:
    """One cleaned sentence as an instruction, where that is simple; otherwise as it is."""
    low = _norm(s)
    m = _WANT_IT.match(s) or _SHOULD.match(s)
    if m:
        rest = s[m.end():]
        if _tokens(rest)[:1] == ["be"]:
            return "Make it " + rest.split(None, 1)[1] if len(rest.split()) > 1 else s
        if _tokens(rest)[:1] and _tokens(rest)[0] in ("sound", "feel", "read"):
            return "Make it " + rest
        verbish = _tokens(rest)[:1] and _tokens(rest)[0] in ("have", "include", "end", "start", "use", "rhyme")
        return ("Make it " + rest) if not verbish else rest
    m = _COPULA.match(s)
    if m and _tokens(s[m.end():])[:1] == ["too"]:
        s, low = s[m.end():], _norm(s[m.end():])
    t = _TOO.match(s)
    if t:
        what = s[t.end():].strip()
        first = re.match(r"[^\W_]+", what)
        word = _norm(first.group(0)) if first else ""
        rest = what[first.end():] if first else what
        if word in ("long", "wordy"):
            return "Make it shorter" + rest
        if word == "short":
            return "Make it longer" + rest
        if word == "much":
            return "Tone it down" + rest
        return "Make it less " + what if what else s
    toks = _tokens(s)
    if not toks:
        return s
    if m and len(toks) - len(_tokens(s[: m.end()])) == 1:
        return "Make it less " + s[m.end():] if _tokens(s[m.end():])[0] in _WEAK_WORDS else s
    if len(toks) == 1 and toks[0] in _WEAK_WORDS:
        return "Make it less " + s
    head = toks[0]
    low_s = _decap(s)
    for lead, verb in _LEADERS.items():
        if low.startswith(lead + " "):
            return f"{verb} {low_s}"
    if _is_number(head) and len(toks) >= 2 and toks[1] in ("words", "word", "paragraphs", "sentences", "lines", "pages", "k"):
        return "Make it " + low_s
    rest_toks = toks
    for inten in sorted(_INTENSIFIER, key=len, reverse=True):
        it = inten.split()
        if toks[: len(it)] == it and len(toks) > len(it):
            rest_toks = toks[len(it):]
            break
    h = rest_toks[0]
    if h in ("more", "less", "fewer"):
        after = rest_toks[1:]
        if not after:
            return s
        if len(after) == 1 and _ADJ_SUFFIX.search(after[0]) and not after[0].endswith(("tion", "ment", "ness")):
            return "Make it " + low_s
        return ("Add " if h == "more" else "Use ") + low_s
    if _is_comparative(h) and (rest_toks is not toks or len(toks) <= 6):
        return "Make it " + low_s
    if rest_toks is toks and len(toks) <= 3 and h in rules.vocab and _ADJ_SUFFIX.search(h) and not _is_comparative(h):
        # a bare mood word: "funny", "darker and sadder" is handled above
        cats = {p.category for p in rules.patterns if p.kind == "retry" and p.items == (("lit", h),)}
        if cats & {"tone", "style"}:
            return "Make it " + low_s
    return s


def _decap(s: str) -> str:
    """`s` with its first letter lowered, for use after a new first word ("More dialogue" ->
    "Add more dialogue"); names, "I" and acronyms keep their capitals."""
    m = re.match(r"[^\W_]+", s)
    if not m:
        return s
    w = m.group(0)
    if w == "I" or not w[:1].isupper() or (len(w) > 1 and not w[1:].islower()):
        return s
    if _norm(w) not in STOPWORDS and _norm(w) not in _COMMON_OPENERS:
        return s  # probably a name: "Ellie's POV"
    return s[:1].lower() + s[1:]


_COMMON_OPENERS = frozenset("more less fewer even much way bit little lot slightly somewhat far darker lighter longer "
                            "shorter funnier in from with without as like using".split())


# Words that carry no instruction in a "just try again" sentence ("give me another version").
_EMPTY_WORDS = frozenset("it that this the a an me please let's lets give do write try have take one can you could "
                         "would again just now go another different new".split())

_WEAK_WORDS = frozenset("boring bland flat generic cliche cliched clichéd cheesy corny stiff robotic wooden awkward "
                        "clunky weak lame overwritten overdone dull predictable".split())


_NOTHING_TO_FOLD = frozenset((REDO, THANKS, WEAK))


def _only_redo(s: str, rules: Rules) -> bool:
    """True if a sentence only says "again" / "not quite" / "thanks": nothing to fold in."""
    toks = _tokens(s)
    if not toks:
        return True
    idx = _index(rules)
    covered = [False] * len(toks)
    for p, spans in _scan(toks, idx, only=_NOTHING_TO_FOLD).items():
        if any(it[0] in ("one", "gap") for it in p.items):
            continue
        for i in range(*spans[0]):
            covered[i] = True
    return all(c or toks[i] in idx.fold_words for i, c in enumerate(covered)) and not any(t in _WEAK_WORDS for t in toks)


def clean_followup(text: str, rules: Rules, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """A follow-up as clean instruction sentences ("hmm ok but can you make it way more
    detailed" -> ["Make it way more detailed."]). Sentences that only ask for another try
    give nothing."""
    out: list[str] = []
    text = _fix_typos(text, rules, set(keep))
    for part in _SPLIT.split(text.strip()):
        s = _strip_fillers(part.strip(), rules)
        s = _REDO_LEAD.sub("", s, count=1) if _REDO_LEAD.sub("", s, count=1).strip() else s
        if not s:
            continue
        s = _imperative(s, rules).strip()
        if _only_redo(s, rules):
            continue
        s = re.sub(r"\bi\b", "I", s)
        s = re.sub(r"\s+", " ", s).strip(" ,;:-—–")
        if not s:
            continue
        s = s[0].upper() + s[1:]
        s = re.sub(r"[?!.…]+$", "", s) + "."
        out.append(s)
    return out


def fold_offline(request: str, followups: list[str], rules: Rules) -> str:
    """The original request with each follow-up appended as a plain instruction."""
    keep = set(_tokens(request))
    sentences: list[str] = []
    for f in followups:
        for s in clean_followup(f, rules, keep):
            if s.lower() not in (x.lower() for x in sentences):
                sentences.append(s)
    base = request.rstrip()
    if not sentences:
        return base or (followups[-1].strip() if followups else "")
    if not base:
        return " ".join(sentences)
    return base + "\n\n" + " ".join(sentences)


# ---- collapse -------------------------------------------------------------------------------

@dataclass
class Chain:
    first: int  # index in conv.messages of the original user request
    followups: list[int]  # indexes of the follow-up user turns folded in
    decisions: list[Decision]
    drafts: list[str]  # the rejected assistant answers, in order (first draft first)
    accepted: str  # the last answer, verbatim
    folded_request: str  # the single user turn that replaces the chain


@dataclass
class CollapseResult:
    conversation: Conversation
    pairs: list[Preference]
    chains: list[Chain]
    # every follow-up looked at (index in conv.messages, decision), retries or not: for
    # `miner retries --all`
    examined: list[tuple[int, Decision]] = field(default_factory=list)


Fold = Callable[[str, list[str]], str]
# classify's signature: (request, answer, followup, next_answer, rules) -> Decision
Judge = Callable[[str, str, str, "str | None", Rules], Decision]


def collapse(conv: Conversation, rules: Rules, all_drafts: bool = False, fold: Fold | None = None,
             judge: Judge | None = None) -> CollapseResult:
    """Replace each retry chain (request, draft, follow-up, answer, ...) with one user turn
    (the folded request) and the accepted answer; one preference pair per chain (per draft
    with all_drafts). Messages outside chains are kept as they are. `judge` replaces
    `classify` (miner.retries_llm asks an LLM through it); `fold` replaces the offline fold
    (an empty answer from it falls back to the offline fold)."""
    decide = judge or classify
    msgs = conv.messages
    n = len(msgs)
    out: list[Message] = []
    pairs: list[Preference] = []
    chains: list[Chain] = []
    examined: list[tuple[int, Decision]] = []
    i = 0
    while i < n:
        if not (msgs[i].role == "user" and i + 1 < n and msgs[i + 1].role == "assistant"):
            out.append(msgs[i])
            i += 1
            continue
        request = msgs[i].content
        j = i + 1  # the answer currently standing
        followups: list[int] = []
        decisions: list[Decision] = []
        while j + 2 < n and msgs[j + 1].role == "user" and msgs[j + 2].role == "assistant" and msgs[j + 2].content.strip():
            d = decide(request, msgs[j].content, msgs[j + 1].content, msgs[j + 2].content, rules)
            examined.append((j + 1, d))
            if not d.is_retry:
                break
            followups.append(j + 1)
            decisions.append(d)
            j += 2
        if not followups:
            out.extend(msgs[i:i + 2])
            i += 2
            continue
        drafts = [msgs[k - 1].content for k in followups]
        accepted = msgs[j]
        raw = [msgs[k].content for k in followups]
        folded = ""
        if fold is not None:
            folded = (fold(request, raw) or "").strip()
        if not folded:
            folded = fold_offline(request, raw, rules)
        user = replace(msgs[i], content=folded)
        chains.append(Chain(first=i, followups=followups, decisions=decisions, drafts=drafts,
                            accepted=accepted.content, folded_request=folded))
        prompt = out + [user]
        rejected = drafts if all_drafts else drafts[:1]
        for k, draft in enumerate(rejected):
            if draft.strip() == accepted.content.strip():
                continue  # the same text on both sides teaches nothing
            pid = f"{conv.id or conv.title or 'conversation'}#retry{len(chains)}"
            if all_drafts and len(drafts) > 1:
                pid += f".{k + 1}"
            pairs.append(Preference(
                prompt=list(prompt), chosen=Message("assistant", accepted.content),
                rejected=Message("assistant", draft), id=pid, source=conv.source,
                meta={"conversation": conv.id, "title": conv.title, "rule": decisions[0].rule,
                      "draft": k + 1, "drafts": len(drafts)}))
        out.extend([user, accepted])
        i = j + 1
    if not chains:
        return CollapseResult(conv, [], [], examined)
    return CollapseResult(replace(conv, messages=out, meta=dict(conv.meta)), pairs, chains, examined)
