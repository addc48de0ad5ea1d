"""`miner stats`: what a dataset will teach, measured before you pay for it.

    dataset.jsonl -> pass 1: sizes, turns, system prompts, sources, openings, prompt diversity,
                             n-gram counts, refusals, MinHash signatures
                  -> near-duplicate clusters, phrase candidates
                  -> pass 2 (only if there are candidates): exact phrase counts, flagged lines
                  -> StatsReport (.to_dict() for --json, report_html for --html)

Warnings follow the advice fine-tuning authors give: at least 10 examples; no phrase in a
large share of examples (it becomes the model's tic); no near-duplicates; lengths not all in
one narrow band; not everything from one source. `report.flags` marks lines for review:
{line: {"phrase", "near-duplicate", "refusal", "too-long"}}.
"""
from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from miner import writers
from miner.hygiene import load_yaml
from miner.hygiene.clean import RefusalMatcher
from miner.hygiene.dedupe import DEFAULT_THRESHOLD, NearDuplicateIndex
from miner.hygiene.io import BadLine, Example, iter_examples
from miner.hygiene.phrases import DEFAULT_MIN_SHARE, Phrase, PhraseCounter, segments

DEFAULT_PHRASE_THRESHOLD = 0.20
MIN_EXAMPLES = 10
NARROW_BAND = 0.15  # interquartile range under 15% of the median = lengths all alike
ONE_SOURCE = 0.8
SAME_OPENING = 0.5
SAMPLE = 300  # prompts sampled for the pairwise-similarity diversity measure
_BOUNDED = 20000  # distinct keys kept per bounded counter (system prompts, sources, openings)


class BoundedCounter(Counter):
    """A Counter that keeps memory flat: past `_BOUNDED` keys it drops the rarest half. Heavy
    hitters (what the report shows) survive; rare keys' counts become lower bounds."""

    def bump(self, key) -> None:
        self[key] += 1
        if len(self) > _BOUNDED:
            for k, _ in self.most_common()[_BOUNDED // 2:]:
                del self[k]


@dataclass
class StatsReport:
    path: str
    format: str = ""
    lines: int = 0
    examples: int = 0
    preference_pairs: int = 0
    bad_lines: Counter = field(default_factory=Counter)  # reason -> count
    bad_examples: dict[str, list[int]] = field(default_factory=dict)
    token_counts: Counter = field(default_factory=Counter)  # tokens -> examples with that many
    answer_words: Counter = field(default_factory=Counter)
    turns: Counter = field(default_factory=Counter)  # user+assistant turns -> examples
    system_prompts: Counter = field(default_factory=Counter)
    no_system: int = 0
    sources: Counter = field(default_factory=Counter)
    openings: Counter = field(default_factory=Counter)  # first two words of the first prompt
    prompt_distinct_2: float | None = None
    prompt_similarity: float | None = None
    phrases: list[Phrase] = field(default_factory=list)
    clusters: list[list[int]] = field(default_factory=list)
    refusals: int = 0
    too_long: int = 0
    token_limit: int | None = None
    phrase_threshold: float = DEFAULT_PHRASE_THRESHOLD
    dup_threshold: float = DEFAULT_THRESHOLD
    warnings: list[dict[str, str]] = field(default_factory=list)
    flags: dict[int, set[str]] = field(default_factory=dict)

    # -- derived numbers
    def token_summary(self) -> dict[str, float | int | None]:
        return _summary(self.token_counts)

    def histogram(self, bins: int = 12) -> list[tuple[int, int, int]]:
        """(low, high, examples) over the token counts, in equal-width bins."""
        if not self.token_counts:
            return []
        lo, hi = min(self.token_counts), max(self.token_counts)
        width = max(1, -(-(hi - lo + 1) // bins))
        out = [[lo + i * width, lo + (i + 1) * width - 1, 0] for i in range(bins)]
        for v, n in self.token_counts.items():
            out[min((v - lo) // width, bins - 1)][2] += n
        while out and out[-1][2] == 0:
            out.pop()
        return [tuple(b) for b in out]

    def near_duplicate_examples(self) -> int:
        return sum(len(c) for c in self.clusters)

    def to_dict(self) -> dict[str, Any]:
        top_open = self.openings.most_common(1)
        return {
            "path": self.path, "format": self.format, "lines": self.lines, "examples": self.examples,
            "preference_pairs": self.preference_pairs,
            "bad_lines": dict(self.bad_lines), "bad_line_numbers": self.bad_examples,
            "tokens": {**self.token_summary(), "histogram": [list(b) for b in self.histogram()],
                       "limit": self.token_limit, "over_limit": self.too_long},
            "answer_words": _summary(self.answer_words),
            "turns": {str(k): v for k, v in sorted(self.turns.items())},
            "system_prompts": [{"text": t, "examples": n} for t, n in self.system_prompts.most_common(10)],
            "examples_without_system": self.no_system,
            "sources": [{"source": s, "examples": n} for s, n in self.sources.most_common(20)],
            "prompt_diversity": {
                "distinct_2": self.prompt_distinct_2,
                "mean_pairwise_similarity": self.prompt_similarity,
                "top_openings": [{"words": w, "examples": n} for w, n in self.openings.most_common(10)],
                "top_opening_share": round(top_open[0][1] / self.examples, 4) if top_open and self.examples else None,
            },
            "phrases": [p.to_dict() for p in self.phrases],
            "near_duplicates": {"threshold": self.dup_threshold, "clusters": len(self.clusters),
                                "examples": self.near_duplicate_examples(),
                                "groups": [c[:20] for c in self.clusters[:100]]},
            "refusals": self.refusals,
            "warnings": self.warnings,
            "flags": {str(k): sorted(v) for k, v in sorted(self.flags.items())},
        }


def _summary(counts: Counter) -> dict[str, float | int | None]:
    n = sum(counts.values())
    if not n:
        return {"count": 0, "min": None, "median": None, "p95": None, "max": None, "mean": None, "total": 0}
    keys = sorted(counts)
    total = sum(k * v for k, v in counts.items())

    def pct(p: float) -> int:
        rank, seen = max(1, -(-int(p * n * 1000) // 1000)), 0  # nearest-rank percentile
        for k in keys:
            seen += counts[k]
            if seen >= rank:
                return k
        return keys[-1]

    return {"count": n, "min": keys[0], "median": pct(0.5), "p25": pct(0.25), "p75": pct(0.75), "p95": pct(0.95),
            "max": keys[-1], "mean": round(total / n, 1), "total": total}


def compute_stats(path: str, *, format: str | None = None, phrase_threshold: float = DEFAULT_PHRASE_THRESHOLD,
                  min_share: float = DEFAULT_MIN_SHARE, threshold: float = DEFAULT_THRESHOLD,
                  max_tokens: int | None = None, refusal_files: tuple[str, ...] = (), seed: int = 0,
                  progress: Callable[..., None] | None = None) -> StatsReport:
    """Measure the dataset at `path` (two streaming passes).

    >>> report = compute_stats("wlm.jsonl")
    >>> report.phrases[0].text, report.flags.get(12)
    ('she bit her lip', {'phrase'})
    """
    fmt_mod: ModuleType | None = writers.get(format) if format else None
    report = StatsReport(path=path, phrase_threshold=phrase_threshold, dup_threshold=threshold)
    refusals = RefusalMatcher.load(refusal_files)
    index = NearDuplicateIndex(threshold)
    counter = PhraseCounter(min_share=min_share)
    div = _Diversity(seed)
    limit_known = max_tokens is not None

    for ex in iter_examples(path, fmt_mod):
        if progress:
            progress(1)
        if isinstance(ex, BadLine):
            report.bad_lines[ex.reason] += 1
            report.bad_examples.setdefault(ex.reason, [])
            if len(report.bad_examples[ex.reason]) < 10:
                report.bad_examples[ex.reason].append(ex.line)
            continue
        if not report.format:
            report.format = ex.fmt.NAME
            if not limit_known:
                max_tokens = _default_limit(ex.fmt.NAME)
            report.token_limit = max_tokens
        _measure(report, ex, refusals, index, counter, div, max_tokens)

    report.lines = report.examples + sum(report.bad_lines.values())
    report.clusters = index.clusters()
    for cluster in report.clusters:
        for line in cluster:
            report.flags.setdefault(line, set()).add("near-duplicate")
    if counter.candidates():
        for ex in iter_examples(path, fmt_mod):
            if isinstance(ex, Example):
                counter.recount(ex.line, ex.assistant_text())
    report.phrases = counter.phrases()
    for line in counter.flagged_lines():
        report.flags.setdefault(line, set()).add("phrase")
    report.prompt_distinct_2, report.prompt_similarity = div.result()
    report.warnings = _warnings(report)
    return report


def _default_limit(fmt: str) -> int | None:
    cfg = load_yaml("limits.yaml").get(fmt) or {}
    return cfg.get("max_tokens")


def _measure(report: StatsReport, ex: Example, refusals: RefusalMatcher, index: NearDuplicateIndex,
             counter: PhraseCounter, div: "_Diversity", max_tokens: int | None) -> None:
    report.examples += 1
    report.preference_pairs += ex.is_preference
    n = ex.tokens()
    report.token_counts[n] += 1
    answer = ex.assistant_text()
    report.answer_words[len(answer.split())] += 1
    report.turns[ex.turns()] += 1
    system = ex.system()
    if system is None:
        report.no_system += 1
    else:
        BoundedCounter.bump(report.system_prompts, system if len(system) <= 300 else system[:300] + "…")
    src = ex.source()
    if src:
        BoundedCounter.bump(report.sources, src)
    prompts = ex.user_texts()
    if prompts:
        first = [w for seg in segments(prompts[0]) for w in seg][:2]
        BoundedCounter.bump(report.openings, " ".join(first))
        div.add(" ".join(prompts))
    if max_tokens and n > max_tokens:
        report.too_long += 1
        report.flags.setdefault(ex.line, set()).add("too-long")
    if refusals.match(answer):
        report.refusals += 1
        report.flags.setdefault(ex.line, set()).add("refusal")
    counter.add(answer)
    sig = index.signature(answer)
    if sig is not None:
        index.add(ex.line, sig)


class _Diversity:
    """How spread the prompts are: distinct word pairs / all word pairs (estimated with a
    HyperLogLog, so memory is flat), and the mean word-set overlap of a random sample of prompts."""

    def __init__(self, seed: int):
        from datasketch import HyperLogLog

        self.hll = HyperLogLog(p=12)
        self.pairs = 0
        self.seen = 0
        self.sample: list[frozenset[str]] = []
        self.rng = random.Random(seed)

    def add(self, text: str) -> None:
        ws = [w for seg in segments(text) for w in seg][:300]  # long pasted prompts: the head is enough
        for a, b in zip(ws, ws[1:]):
            self.hll.update(f"{a} {b}".encode())
            self.pairs += 1
        self.seen += 1
        bag = frozenset(ws)
        if len(self.sample) < SAMPLE:  # reservoir sampling: every prompt equally likely kept
            self.sample.append(bag)
        else:
            j = self.rng.randrange(self.seen)
            if j < SAMPLE:
                self.sample[j] = bag

    def result(self) -> tuple[float | None, float | None]:
        d2 = round(min(1.0, float(self.hll.count()) / self.pairs), 3) if self.pairs else None
        sims = []
        s = [b for b in self.sample if b]
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                sims.append(len(s[i] & s[j]) / len(s[i] | s[j]))
        return d2, (round(statistics.fmean(sims), 3) if sims else None)


def _warnings(r: StatsReport) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def warn(code: str, message: str) -> None:
        out.append({"code": code, "message": message})

    if r.examples < MIN_EXAMPLES:
        warn("few_examples", f"only {r.examples} examples; fine-tuning needs at least {MIN_EXAMPLES} "
             "(50-100 well-chosen ones is a good start)")
    for p in r.phrases:
        if p.share > r.phrase_threshold:
            warn("phrase", f"\"{p.text}\" is in {p.share:.0%} of the examples (lines {', '.join(map(str, p.lines))}, ...): "
                 "the model will learn it as a tic; vary or remove it (miner clean --replace)")
    dup = r.near_duplicate_examples()
    if dup:
        warn("near_duplicates", f"{dup} examples are near-duplicates ({len(r.clusters)} groups); duplicates overfit "
             "- keep one of each (miner clean --dedupe)")
    if r.refusals:
        warn("refusals", f"{r.refusals} examples contain a refusal or AI boilerplate (miner clean --drop-refusals)")
    if r.too_long:
        warn("too_long", f"{r.too_long} examples are over the {r.token_limit:,}-token limit and will be truncated")
    t = r.token_summary()
    if r.examples >= 20 and t["median"]:
        iqr = t["p75"] - t["p25"]
        if iqr / t["median"] < NARROW_BAND:
            warn("narrow_lengths", f"half the examples are between {t['p25']:,} and {t['p75']:,} tokens: lengths this "
                 "uniform teach one length only; add shorter and longer examples if you want range")
    if len(r.sources) >= 2:
        src, n = r.sources.most_common(1)[0]
        if n / r.examples >= ONE_SOURCE:
            warn("one_source", f"{n / r.examples:.0%} of the examples come from {src}: the model will mostly learn "
                 "that one piece; add other sources or trim it")
    if r.examples >= MIN_EXAMPLES and r.openings:
        words, n = r.openings.most_common(1)[0]
        if words and n / r.examples >= SAME_OPENING:
            warn("same_prompts", f"{n / r.examples:.0%} of the prompts start with \"{words}\": vary the prompts "
                 "(messy, varied inputs generalise better)")
    if r.bad_lines:
        warn("bad_lines", f"{sum(r.bad_lines.values())} lines are not usable examples "
             f"({', '.join(f'{k}: {v}' for k, v in r.bad_lines.items())}); run miner validate for details")
    return out
