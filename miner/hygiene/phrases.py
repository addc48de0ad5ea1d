"""Over-represented phrases: the tics a fine-tune will learn ("she bit her lip", "Willow Creek").

    assistant texts -> word n-grams (n=2..5, within a sentence) -> document frequency
                    -> compare with chance (unigram frequencies) -> exact recount -> phrases

A phrase is over-represented when it occurs in many examples (at least `min_share` of them
and 3) AND far more often than its words would produce by chance (lift: observed examples /
expected occurrences from the unigram frequencies, at least MIN_LIFT). N-grams made only of
function words or everyday words ("of the", "he said", "at the same time") are never
reported, whatever their counts: every English text is full of them.

Memory is bounded: the first pass counts n-grams with lossy counting (Manku & Motwani), which
prunes rare n-grams once the table exceeds `cap` entries while guaranteeing that every n-gram
in at least `min_share` of the examples survives; the second pass recounts the surviving
candidates exactly and records which lines contain them.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

MIN_LIFT = 10.0
MIN_EXAMPLES = 3
DEFAULT_MIN_SHARE = 0.02
MAX_CANDIDATES = 2000
NESTED = 0.8  # a shorter phrase inside a longer reported one with >=80% of its count adds nothing

_SEGMENT = re.compile(r"[.!?;:,()\[\]{}\"“”«»…—–\n]+|\s-\s")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't
my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd
she'll she's should shouldn't so some such than that that's the their theirs them themselves then there
there's these they they'd they'll they're they've this those through to too under until up very was wasn't
we we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why
why's will with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves also just
even still yet ever never always often then than much many every another upon onto toward towards across
around along within without though although whether either neither enough quite rather really almost
already perhaps maybe like unlike s t d ll re ve m one two three first second
""".split())

# Everyday words: n-grams built only from these and stopwords are ordinary English.
COMMON = frozenset("""
say says said saying tell tells told ask asks asked know knows knew known think thinks thought see sees saw
seen look looks looked looking come comes came go goes went gone going get gets got make makes made take
takes took taken give gives gave want wants wanted feel feels felt find finds found seem seems seemed leave
left keep kept let put turn turns turned start started show showed hear heard play run ran move moved live
lived believe bring brought happen happened write wrote sit sat stand stood lose lost pay paid meet met
learn change lead understand watch watched follow stop stopped speak spoke read spend spent grow grew open
opened walk walked win offer remember remembered love loved consider appear buy wait waited serve die send
sent expect build stay stayed fall fell cut reach kill remain try tried tries call called work worked need
needed mean meant help helped talk talked begin began use used like liked time times year years day days
way ways thing things man men woman women people person child children world life hand hands part place
week case point number group problem fact back head face eyes eye door room house home night morning
moment voice side end word words name kind sort lot bit little big small large long short high low old new
young good bad great right left next last best better sure true whole real full own different important
able away again around here there now today tonight yes okay oh well back down up out off over never ever
something nothing anything everything someone anyone everyone nobody somebody everybody thing
rest family friend friends mother father town city street road car school water food money minute minutes
hour hours half top bottom front inside outside
""".split())

# A phrase may open with a subject pronoun ("she bit her lip") but otherwise neither starts nor
# ends on a function word: "letter of the" is just "letter" followed by ordinary grammar.
OPENERS = frozenset({"i", "you", "he", "she", "we", "they"})

BACKGROUND = frozenset({
    "a lot of", "in front of", "at the same time", "for a moment", "for the first time", "as well as",
    "each other", "one another", "of course", "no one", "as soon as", "in order to", "even though", "as if",
    "the rest of", "the end of", "all the time", "for a while", "thank you", "make sure", "kind of", "sort of",
    "at least", "at all", "right now", "so that", "such as", "instead of", "because of", "according to",
    "the rest of the day", "the rest of the night", "for the rest of his life", "for the rest of her life",
    "in the middle of the night", "a long time ago", "once upon a time", "at the end of the day",
})
_BACKGROUND_PADDED = tuple(f" {p} " for p in BACKGROUND)


def _background(g: str) -> bool:
    """Part of a common English expression ("rest of the" inside "the rest of the day")."""
    padded = f" {g} "
    return any(padded in p for p in _BACKGROUND_PADDED)


def segments(text: str) -> list[list[str]]:
    """Lower-cased words, split at sentence and clause punctuation so n-grams never span it."""
    text = text.replace("’", "'").replace("‘", "'").casefold()
    return [w for w in (_WORD.findall(seg) for seg in _SEGMENT.split(text)) if w]


def ngrams(text: str, min_n: int = 2, max_n: int = 5) -> set[str]:
    """The distinct n-grams of `text` worth counting (not ordinary English)."""
    out: set[str] = set()
    for seg in segments(text):
        ordinary = [w in STOPWORDS or w in COMMON or w.isdigit() for w in seg]
        stop = [w in STOPWORDS for w in seg]
        for n in range(min_n, max_n + 1):
            for i in range(len(seg) - n + 1):
                if all(ordinary[i:i + n]) or stop[i + n - 1] or (stop[i] and seg[i] not in OPENERS):
                    continue
                g = " ".join(seg[i:i + n])
                if not _background(g):
                    out.add(g)
    return out


@dataclass
class Phrase:
    text: str
    examples: int  # how many examples contain it
    share: float  # examples / all examples
    lift: float  # times more often than its words would produce by chance
    lines: list[int] = field(default_factory=list)  # the first few line numbers

    def to_dict(self) -> dict:
        return {"phrase": self.text, "examples": self.examples, "share": round(self.share, 4),
                "lift": round(self.lift, 1), "lines": self.lines}


class PhraseCounter:
    """Two passes: `add(text)` for every example, then `candidates()`, then `recount(line, text)`
    for every example, then `phrases()`."""

    def __init__(self, min_n: int = 2, max_n: int = 5, min_share: float = DEFAULT_MIN_SHARE,
                 cap: int = 1_000_000, bucket: int | None = None):
        self.min_n, self.max_n, self.min_share, self.cap = min_n, max_n, min_share, cap
        # lossy-counting bucket width: errors stay below 1/bucket of the examples, which must be
        # below min_share for the guarantee to hold
        self.bucket = bucket or max(10, int(math.ceil(2 / max(min_share, 1e-6))))
        self.n = 0
        self.df: dict[str, int] = {}
        self.delta: dict[str, int] = {}  # n-grams first seen after a prune: how many they may have lost
        self.unigrams: Counter = Counter()
        self.words = 0
        self.positions: Counter = Counter()  # n -> number of n-gram positions seen
        self._cands: dict[str, int] = {}
        self._exact: Counter = Counter()
        self._lines: dict[str, list[int]] = {}
        self.hits: dict[int, list[str]] = {}  # line -> candidate phrases it contains

    # -- pass 1
    def add(self, text: str) -> None:
        self.n += 1
        b = (self.n - 1) // self.bucket  # buckets completed before this example
        for seg in segments(text):
            self.words += len(seg)
            self.unigrams.update(seg)
            for k in range(self.min_n, self.max_n + 1):
                self.positions[k] += max(0, len(seg) - k + 1)
        for g in ngrams(text, self.min_n, self.max_n):
            c = self.df.get(g)
            if c is None:
                self.df[g] = 1
                if b:
                    self.delta[g] = b
            else:
                self.df[g] = c + 1
        if self.n % self.bucket == 0 and len(self.df) > self.cap:
            self._prune(self.n // self.bucket)
        if len(self.unigrams) > self.cap:  # unigram tails only matter as "rare": keep the head
            self.unigrams = Counter(dict(self.unigrams.most_common(self.cap // 2)))

    def _prune(self, bucket_id: int) -> None:
        for g in [g for g, c in self.df.items() if c + self.delta.get(g, 0) <= bucket_id]:
            del self.df[g]
            self.delta.pop(g, None)

    def min_examples(self) -> int:
        return max(MIN_EXAMPLES, int(math.ceil(self.min_share * self.n)))

    def lift(self, g: str, examples: int) -> float:
        ws = g.split()
        p = 1.0
        for w in ws:
            p *= max(self.unigrams.get(w, 1), 1) / max(self.words, 1)
        expected = self.positions[len(ws)] * p
        return examples / max(expected, 1e-12)

    def candidates(self) -> dict[str, int]:
        floor = self.min_examples()
        scored = []
        for g, c in self.df.items():
            upper = c + self.delta.get(g, 0)
            if upper >= floor and self.lift(g, upper) >= MIN_LIFT:
                scored.append((upper, g))
        scored.sort(reverse=True)
        self._cands = {g: i for i, (_, g) in enumerate(scored[:MAX_CANDIDATES])}
        self.df, self.delta = {}, {}  # pass 1 tables are no longer needed
        return self._cands

    # -- pass 2
    def recount(self, line: int, text: str) -> None:
        if not self._cands:
            return
        found = [g for g in ngrams(text, self.min_n, self.max_n) if g in self._cands]
        for g in found:
            self._exact[g] += 1
            ls = self._lines.setdefault(g, [])
            if len(ls) < 5:
                ls.append(line)
        if found:
            self.hits[line] = found

    def phrases(self, limit: int = 20) -> list[Phrase]:
        floor = self.min_examples()
        good = [Phrase(g, c, c / self.n, self.lift(g, c), self._lines.get(g, []))
                for g, c in self._exact.items() if c >= floor and self.lift(g, c) >= MIN_LIFT]
        kept: list[Phrase] = []
        for p in sorted(good, key=lambda p: (-len(p.text.split()), -p.examples)):
            inside = [k for k in kept if f" {p.text} " in f" {k.text} "]
            if any(k.examples >= NESTED * p.examples for k in inside):
                continue
            kept.append(p)
        kept.sort(key=lambda p: (-p.examples, -p.lift, p.text))
        self._reported = {p.text for p in kept}
        return kept[:limit]

    def flagged_lines(self) -> dict[int, list[str]]:
        """Lines containing a reported phrase (call after phrases())."""
        rep = getattr(self, "_reported", set())
        out = {}
        for line, found in self.hits.items():
            hit = [g for g in found if g in rep]
            if hit:
                out[line] = hit
        return out
