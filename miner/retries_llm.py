"""--retry-detector llm: an LLM decides which short follow-ups ask to redo the previous answer,
and rewrites each retry chain's request and follow-ups into one natural request.

Where it sits: pipeline.convert / `miner retries` -> **LLMDetector.collapse(conv)** ->
retries.collapse(conv, rules, judge=..., fold=...) -> writers. Chains, preference pairs and the
verbatim accepted answer stay retries.collapse's work; this module only answers its two
questions through llm.executor (cache, retries, accounting):

    judge  (original request, draft, follow-up, next answer) -> {"is_retry": bool, "reason": str}
    fold   (original request, follow-ups)                     -> {"request": str}

Cost control. Only follow-ups of at most `max_words` words are asked; longer ones (new
material, pasted text) are decided offline, as is any follow-up whose answer was unusable
(not the JSON asked for, or refused). Requests too long to retype safely are folded offline.
Every call goes through the SQLite cache: a re-run asks nothing it already asked, and an
interrupted run repeats nothing that had returned. Everything falling back is counted.

Batching. Which request a follow-up is weighed against depends on the decision about the
follow-up before it (a retry extends the chain). Rather than one call at a time, each round
guesses the undecided follow-ups with the offline detector, asks the LLM about all of them at
once, and runs collapse again with the answers; another round is needed only where the LLM
disagreed in a way that moves a chain. Folds are asked once the chains are settled. convert
streams one conversation at a time, so the calls run on one event loop owned by the detector.
"""
from __future__ import annotations

from miner.llm.executor import gather_all as _gather

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any

from miner import prompts, retries, tokens
from miner.errors import ConfigError, NeedsKeyError, ProviderError
from miner.llm import cache as cache_mod
from miner.llm.base import Provider, Request, RequestRejected
from miner.llm.executor import BudgetStop, CallSettings, Executor, Unavailable
from miner.llm.pricing import load_prices, price_for
from miner.llm.ratelimit import Backoff
from miner.llm.registry import get_provider
from miner.models import Conversation

# Part of every cache key: bump the version when a prompt below changes.
JUDGE_ID = "retry-judge@1"
FOLD_ID = "retry-fold@1"
PROVIDERS = ("openai", "gemini")
DEFAULT_MAX_WORDS = 60  # longer follow-ups are decided offline
FOLD_MAX_WORDS = 600  # longer requests (pasted chapters) are folded offline, never retyped
REASON_CHARS = 200

# What the judge is shown of each text, in words (head, tail). The draft's end matters too:
# a continuation starts where the draft stopped.
CLIP_REQUEST = (250, 50)
CLIP_DRAFT = (250, 100)
CLIP_NEXT = (200, 0)
CLIP_SLACK = 20  # a text at most this many words over the limit is shown whole

JUDGE_SCHEMA = {"type": "object", "properties": {"is_retry": {"type": "boolean"}, "reason": {"type": "string"}},
                "required": ["is_retry", "reason"]}
FOLD_SCHEMA = {"type": "object", "properties": {"request": {"type": "string"}}, "required": ["request"]}

JUDGE_SYSTEM = """You check chat transcripts before they become training data. A user asked an AI \
assistant for something, read its answer (the draft), and wrote a follow-up. Decide whether the \
follow-up asks the assistant to REDO the draft differently: the same piece of work again, changed, \
so that the next answer replaces the draft.

A redo: longer, shorter, expand, condense, a word count; more or less of something (dialogue, \
detail, description); another tone, style, person, tense or point of view; "try again", \
"rewrite", "another version", "not quite", "no, darker"; also with typos, politeness or chatter \
around it.
Not a redo: a new request (the next chapter, titles for it, another scene); "continue", "keep \
going", "what happens next" (the next answer adds to the draft); a question about the draft; \
turning the draft into another kind of text (a translation, a summary, a poem made from a \
story); thanks or praise.
The assistant's next answer is evidence: a redo usually rewrites the draft, a continuation \
carries on from where it ended."""

JUDGE_PROMPT = """The user's original request:
<<<
{request}
>>>

The assistant's answer (the draft):
<<<
{draft}
>>>

The user's follow-up:
<<<
{followup}
>>>

The assistant's next answer{next_note}:
<<<
{next}
>>>

Does the follow-up ask to redo the draft differently? Answer with JSON only:
{{"is_retry": true or false, "reason": "one short sentence"}}"""

FOLD_SYSTEM = """You edit requests people wrote to an AI assistant, for training data. You never \
answer them."""

FOLD_PROMPT = """A user asked an AI assistant for something, then asked for changes in follow-ups \
until the answer was right. Rewrite the original request and the follow-ups into ONE natural \
request, as if the user had asked for everything at once.

Keep the user's voice and language and every detail and constraint of the original request \
(including any text they pasted, word for word). Add what the follow-ups ask for; where a \
follow-up changes something (a length, a tone), the follow-up wins. Leave out complaints, thanks \
and any mention of earlier drafts or attempts ("again", "like before", "the last one").

The original request:
<<<
{request}
>>>

{followups}

Answer with JSON only: {{"request": "the single request"}}"""


@dataclass
class LLMSettings:
    provider: str = "openai"
    model: str = ""  # "" = the provider's default
    base_url: str | None = None
    api_key: str | None = None  # library callers only; the CLI reads keys from the environment
    cache: str | None = None  # None = the user's cache folder ($MINER_CACHE_DIR)
    no_cache: bool = False
    max_words: int = DEFAULT_MAX_WORDS
    concurrency: int | None = None  # None = the provider's default
    retries: int = 5
    backoff: float = 1.0  # seconds before the first retry (doubles each time)
    timeout: float = 120.0


@dataclass
class Counts:
    asked: int = 0  # follow-ups whose decision was asked of the LLM (usable or not)
    unusable: int = 0  # of those, answers that were not usable: offline decision used
    long: int = 0  # follow-ups over max_words: decided offline, never sent
    folded: int = 0  # chains whose request the LLM wrote
    fold_unusable: int = 0  # fold answers not usable: offline fold used
    fold_long: int = 0  # requests over FOLD_MAX_WORDS: offline fold, never sent
    refused: int = 0  # requests the provider refused (included in the unusable counts)
    last_refusal: str = ""


def check_options(detector: str, provider: str | None = None, model: str = "", base_url: str | None = None,
                  max_words: int = DEFAULT_MAX_WORDS) -> None:
    """ConfigError for settings that do nothing (an LLM chosen without --retry-detector llm)."""
    if detector not in ("offline", "llm"):
        raise ConfigError(f"--retry-detector must be offline or llm, not {detector!r}")
    if detector == "offline":
        given = [flag for flag, v in (("--provider", provider), ("--model", model), ("--base-url", base_url)) if v]
        if given:
            raise ConfigError(f"{', '.join(given)} choose{'s' if len(given) == 1 else ''} the LLM that detects retries: "
                              "add --retry-detector llm (or leave "
                              f"{'it' if len(given) == 1 else 'them'} out to detect retries offline)")
    if provider is not None and provider not in PROVIDERS:
        raise ConfigError(f"--provider for retry detection must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    if max_words < 1:
        raise ConfigError("--retry-max-words must be at least 1")


# ---- the two questions ------------------------------------------------------------------------

_WORD_SPAN = re.compile(r"\S+")


def clip(text: str, head: int, tail: int = 0) -> tuple[str, int]:
    """`text` cut to its first `head` and last `tail` words, with a marker where words were left
    out; returns (text, words left out). Short texts come back whole (stripped)."""
    spans = [m.span() for m in _WORD_SPAN.finditer(text)]
    n = len(spans)
    if n <= head + tail + CLIP_SLACK:
        return text.strip(), 0
    left = n - head - tail
    out = text[:spans[head - 1][1]].strip() + f"\n[... {left:,} words left out ...]"
    if tail:
        out += "\n" + text[spans[n - tail][0]:].strip()
    return out, left


def judge_request(request: str, draft: str, followup: str, next_answer: str | None) -> Request:
    req, _ = clip(request, *CLIP_REQUEST)
    dr, _ = clip(draft, *CLIP_DRAFT)
    nxt, left = clip(next_answer or "", *CLIP_NEXT)
    note = f" (its first {CLIP_NEXT[0]} words; {left:,} more left out)" if left else ""
    if not next_answer:
        nxt, note = "(none)", ""
    prompt = JUDGE_PROMPT.format(request=req, draft=dr, followup=followup.strip(), next=nxt, next_note=note)
    return Request.simple(JUDGE_SYSTEM, prompt, schema=JUDGE_SCHEMA, schema_name="retry_judgement",
                          temperature=0.0, max_output_tokens=1024)


def parse_judgement(text: str) -> tuple[bool, str] | None:
    """(is_retry, reason) from the model's answer, or None when it is not the JSON asked for."""
    data = prompts.parse_json(text)
    if not isinstance(data, dict) or prompts.validate(JUDGE_SCHEMA, data):
        return None
    reason = " ".join(data["reason"].split())
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS - 1].rstrip() + "…"
    return data["is_retry"], reason


def fold_request(request: str, followups: list[str]) -> Request:
    parts = "\n\n".join(f"Follow-up {k}:\n<<<\n{f.strip()}\n>>>" for k, f in enumerate(followups, 1))
    prompt = FOLD_PROMPT.format(request=request.strip(), followups=parts)
    size = tokens.count(request) + sum(tokens.count(f) for f in followups)
    return Request.simple(FOLD_SYSTEM, prompt, schema=FOLD_SCHEMA, schema_name="folded_request",
                          temperature=0.0, max_output_tokens=min(8192, 2 * size + 512))


def parse_fold(text: str, request: str, followups: list[str]) -> str | None:
    """The folded request from the model's answer, or None when it is not usable: not the JSON
    asked for, empty, or so much shorter than a long original request that material was lost
    (or so much longer than everything it was given that it is not a rewrite)."""
    data = prompts.parse_json(text)
    if not isinstance(data, dict) or prompts.validate(FOLD_SCHEMA, data):
        return None
    folded = data["request"].strip()
    n = len(folded.split())
    n_req = len(request.split())
    n_all = n_req + sum(len(f.split()) for f in followups)
    if (n_req >= 30 and n < 0.4 * n_req) or n > 2 * n_all + 60:
        return None
    return folded


# ---- the detector ------------------------------------------------------------------------------

class LLMDetector:
    """Collapses conversations like retries.collapse, asking an LLM. Owns an event loop, the
    provider's client and the cache file: call close() (or use it as a context manager)."""

    def __init__(self, rules: retries.Rules, settings: LLMSettings | None = None):
        s = settings or LLMSettings()
        check_options("llm", s.provider, s.model, s.base_url, s.max_words)
        self.rules = rules
        self.settings = s
        self.counts = Counts()
        try:
            self.provider: Provider = get_provider(s.provider, model=s.model, base_url=s.base_url,
                                                   api_key=s.api_key, timeout=s.timeout)
        except NeedsKeyError as e:
            raise NeedsKeyError(str(e).replace("leave out --provider to run offline",
                                               "leave out --retry-detector llm to detect retries offline")) from None
        self.store = None if s.no_cache else cache_mod.Store(s.cache or cache_mod.default_path())
        price = price_for(load_prices(), self.provider)
        call = CallSettings(concurrency=s.concurrency or self.provider.default_concurrency, retries=s.retries,
                            backoff=Backoff(base=s.backoff, cap=max(s.backoff, 60.0)))
        self.exec = Executor(self.provider, self.store, price, call)
        self.loop = asyncio.new_event_loop()

    # ---- one conversation --------------------------------------------------------------------
    def collapse(self, conv: Conversation, all_drafts: bool = False) -> retries.CollapseResult:
        """retries.collapse(conv) with the LLM's decisions and folds (see the module docstring)."""
        offline: dict[tuple, retries.Decision] = {}
        judged: dict[tuple, tuple[retries.Decision, str]] = {}  # key -> (decision, origin)
        folds: dict[tuple, tuple[str, str]] = {}  # key -> (folded request or "", origin)
        limit = self.settings.max_words

        while True:
            ask_judge: dict[tuple, None] = {}  # ordered sets of what this round could not answer
            ask_fold: dict[tuple, None] = {}
            origins: list[str] = []  # how each follow-up examined in this round was decided
            fold_origins: list[str] = []

            def judge(request: str, answer: str, followup: str, next_answer: str | None, rules) -> retries.Decision:
                key = (request, answer, followup, next_answer)
                if key in judged:
                    d, origin = judged[key]
                    origins.append(origin)
                    return d
                if key not in offline:
                    offline[key] = retries.classify(request, answer, followup, next_answer, rules)
                d = offline[key]
                words = len(followup.split())
                if words > limit:
                    judged[key] = (replace(d, rule=f"{d.rule} (offline: over {limit} words)"), "long")
                    origins.append("long")
                    return judged[key][0]
                if words == 0:
                    origins.append("empty")
                    return d
                ask_judge[key] = None
                return d  # a guess for this round; the LLM's answer replaces it in the next

            def fold(request: str, followups: list[str]) -> str:
                key = (request, tuple(followups))
                if key not in folds and len(request.split()) > FOLD_MAX_WORDS:
                    folds[key] = ("", "long")
                if key in folds:
                    text, origin = folds[key]
                    fold_origins.append(origin)
                    return text
                ask_fold[key] = None
                return ""

            res = retries.collapse(conv, self.rules, all_drafts=all_drafts, fold=fold, judge=judge)
            if ask_judge:
                self._run(self._judge_all(list(ask_judge), offline, judged))
            elif ask_fold:
                self._run(self._fold_all(list(ask_fold), folds))
            else:
                self._tally(origins, fold_origins)
                return res

    def _tally(self, origins: list[str], fold_origins: list[str]) -> None:
        c = self.counts
        c.asked += sum(1 for o in origins if o in ("llm", "unusable"))
        c.unusable += origins.count("unusable")
        c.long += origins.count("long")
        c.folded += fold_origins.count("llm")
        c.fold_unusable += fold_origins.count("unusable")
        c.fold_long += fold_origins.count("long")

    # ---- calls --------------------------------------------------------------------------------
    async def _judge_all(self, keys: list[tuple], offline: dict, judged: dict) -> None:
        answers = await _gather([self._ask(judge_request(*k), JUDGE_ID, 40) for k in keys])
        for key, text in zip(keys, answers):
            got = parse_judgement(text) if text is not None else None
            if got is None:
                d = offline[key]
                judged[key] = (replace(d, rule=f"{d.rule} (offline: the LLM's answer was unusable)"), "unusable")
            else:
                judged[key] = (retries.Decision(got[0], got[1], "llm"), "llm")

    async def _fold_all(self, keys: list[tuple], folds: dict) -> None:
        reqs = [fold_request(r, list(fs)) for r, fs in keys]
        answers = await _gather([self._ask(q, FOLD_ID, tokens.count(q.prompt) // 3) for q in reqs])
        for (request, fs), text in zip(keys, answers):
            folded = parse_fold(text, request, list(fs)) if text is not None else None
            folds[(request, fs)] = (folded, "llm") if folded else ("", "unusable")

    async def _ask(self, request: Request, template_id: str, expect_output: int) -> str | None:
        """The model's answer text, or None when the provider refused this one request."""
        try:
            res = await self.exec.call(request, template_id, 0, expect_output=expect_output)
        except RequestRejected as e:
            self.counts.refused += 1
            self.counts.last_refusal = str(e)
            return None
        return res.completion.text

    def _run(self, coro) -> Any:
        try:
            return self.loop.run_until_complete(coro)
        except (Unavailable, BudgetStop) as e:
            again = ("every answer received so far is cached, so running the same command again goes on from there"
                     if self.store is not None else "this run used --no-cache, so a re-run asks everything again")
            raise ProviderError(f"{self.provider.label} kept failing while detecting retries: {e}. Nothing was "
                                f"written; {again} (or use --retry-detector offline).") from None

    # ---- end of the run ------------------------------------------------------------------------
    def report(self, summary) -> None:
        """The LLM's part of the run, added to `summary`."""
        c, st = self.counts, self.exec.stats
        s = summary
        s.info["retry detector"] = f"llm ({self.provider.model})"  # short: the table stays readable at 80 columns
        s.add("retry follow-ups asked to the LLM", c.asked)
        s.add("LLM answers unusable (offline decision used)", c.unusable)
        if c.long:
            s.add(f"retry follow-ups over {self.settings.max_words} words (decided offline)", c.long)
        s.add("retry requests folded by the LLM", c.folded)
        if c.fold_unusable:
            s.add("LLM folds unusable (offline fold used)", c.fold_unusable)
        if c.fold_long:
            s.add(f"retry requests over {FOLD_MAX_WORDS} words (folded offline)", c.fold_long)
        s.add("LLM calls made", st.requests)
        s.add("LLM answers from the cache", st.cached)
        if st.retries:
            s.add("LLM retries (rate limits, server errors)", st.retries)
        s.add("LLM input tokens", st.usage.input_tokens)
        s.add("LLM output tokens", st.usage.output_tokens)
        s.info["LLM cost"] = f"${st.cost:.4f}" if st.cost_known else "unknown (model not in the price table)"
        for d in getattr(self.provider, "downgrades", []):
            s.note(d)
        if c.refused:
            s.note(f"the provider refused {c.refused} retry-detection request(s) (e.g. {c.last_refusal}); "
                   "those were decided offline (counted as unusable)")

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            pending = asyncio.all_tasks(self.loop)
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.provider.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        except Exception:
            pass  # closing must not hide the error that ended the run
        finally:
            self.loop.close()
            if self.store is not None:
                self.store.close()

    def __enter__(self) -> "LLMDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["LLMDetector", "LLMSettings", "check_options", "clip", "judge_request", "parse_judgement",
           "fold_request", "parse_fold", "DEFAULT_MAX_WORDS"]
