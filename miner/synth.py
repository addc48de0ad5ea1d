"""Synthesis: the author's passages become training conversations. For each passage an LLM
(or the offline recipe) writes the request that would have produced it; the passage itself,
verbatim, is the assistant's answer. Instruction backtranslation, for authors.

    documents / chunks JSONL -> chunks (structure or --chunker llm) -> units (1..N passages)
      -> per passage: template request -> Executor (cache, limits, retries) -> answer
      -> Conversation (or Preference, with --rejected-model) -> writer -> JSONL, in input order

Streaming: at most a window of units is in memory; the output goes to a temporary file that
is renamed into place only when every unit is done. Each answer is committed to the SQLite
cache as it arrives, so a killed run resumes by re-running the same command.
"""
from __future__ import annotations

from miner.llm.executor import gather_all as _gather

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from miner import prompts, tokens, writers
from miner.errors import ConfigError, MinerError, NeedsKeyError, ProviderError
from miner.llm import cache as cache_mod
from miner.llm.base import Provider, Request, RequestRejected
from miner.llm.executor import BudgetStop, CallSettings, Executor, Stats, Unavailable
from miner.llm.pricing import load_prices, price_for
from miner.llm.ratelimit import Backoff
from miner.llm.registry import get_provider
from miner.models import Chunk, Conversation, Document, Message, Preference
from miner.output import AtomicFile, check_writable
from miner.summary import Summary

Progress = Callable[..., None]
REJECTED_ID = "rejected-draft@1"
TURN_OVERHEAD = 150  # tokens a user turn adds to a conversation, for the multi-turn budget


@dataclass
class SynthOptions:
    template: str = "scene-brief"
    system: str | None = None  # persona system prompt added to every example
    provider: str = "offline"
    model: str = ""
    base_url: str | None = None
    api_key: str | None = None  # library callers only; the CLI reads keys from the environment
    format: str = "openai"
    rejected_model: str | None = None
    chunker: str = "structure"  # or "llm"
    min_tokens: int = 200
    max_tokens: int = 1200
    turns: int | None = None  # passages per conversation; None = the template's default
    example_tokens: int = 16384  # budget of one multi-turn conversation
    concurrency: int | None = None  # None = the provider's default
    rpm: int | None = None
    tpm: int | None = None
    max_cost: float | None = None
    retries: int = 5
    retry_budget: int = 100
    backoff: float = 1.0  # seconds before the first retry (doubles each time)
    json_retries: int = 1  # extra tries when an answer is not valid JSON
    timeout: float = 600.0
    dry_run: bool = False
    prices: str | None = None
    cache: str | None = None
    no_cache: bool = False
    force: bool = False
    window: int | None = None  # units in flight or waiting to be written, in input order


@dataclass
class Unit:
    """What becomes one conversation: consecutive passages of one chapter/document."""

    seq: int
    chunks: list[Chunk]
    previous: list[str]  # the passage before each chunk in its document ("" at the start)


@dataclass
class Answer:
    data: Any
    origin: str  # "llm" | "recovered" | "offline" | "fallback" | "refused"


class SynthStopped(MinerError):
    """The run stopped before the end (budget, provider down). Carries the summary so the CLI
    can show what was done; nothing was written under the output name."""

    def __init__(self, message: str, summary: Summary):
        super().__init__(message)
        self.summary = summary


class NoPassages(SynthStopped):
    """The inputs held no prose to synthesize from (all skipped, or empty)."""


# ---- inputs ----------------------------------------------------------------------------------

def is_chunks_file(path: str) -> bool:
    """A JSONL file written by `miner chunk` (lines with text, document, index, ...)."""
    if not os.path.isfile(path) or not path.lower().endswith((".jsonl", ".json", ".ndjson")):
        return False
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    obj = orjson.loads(line)
                    return isinstance(obj, dict) and "text" in obj and "document" in obj and "index" in obj
    except (OSError, orjson.JSONDecodeError):
        return False
    return False


def read_chunks(path: str, summary: Summary) -> Iterator[Chunk]:
    """Chunks from a `miner chunk` JSONL file; a bad line is skipped and counted, naming it."""
    summary.add("files read")
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                summary.skip("bad chunk line", where, f"not JSON ({e})")
                continue
            text = obj.get("text") if isinstance(obj, dict) else None
            if not isinstance(text, str) or not text.strip():
                summary.skip("bad chunk line", where, "no \"text\"")
                continue
            section = obj.get("section") or []
            if not isinstance(section, list):
                section = [str(section)]
            idx = obj.get("index")
            yield Chunk(text=text, source=str(obj.get("source") or path), document=str(obj.get("document") or ""),
                        section=[str(s) for s in section], index=idx if isinstance(idx, int) else n - 1,
                        tokens=obj["tokens"] if isinstance(obj.get("tokens"), int) else tokens.count(text))


def iter_sources(paths: list[str], summary: Summary) -> Iterator[Document | Chunk]:
    """Documents (any format miner reads) and chunks (from chunk JSONL files), in the order
    the paths were given."""
    from miner.documents import iter_documents

    batch: list[str] = []
    for p in list(paths) + [None]:  # type: ignore[list-item]
        if p is not None and not is_chunks_file(p):
            batch.append(p)
            continue
        if batch:
            yield from iter_documents(batch, None, summary)
            batch = []
        if p is not None:
            yield from read_chunks(p, summary)


# ---- units -----------------------------------------------------------------------------------

def _chapter_key(c: Chunk) -> tuple:
    return (c.source, c.document, c.section[0] if c.section else "")


class Grouper:
    """Consecutive chunks -> units. "chunk" units hold up to `turns` passages of one chapter
    within `budget` tokens; "chapter" units join a whole chapter into one passage."""

    def __init__(self, kind: str, turns: int, budget: int, overhead: int = 0):
        self.kind = kind
        self.turns = max(1, turns)
        self.budget = budget
        self.overhead = overhead
        self._cur: list[tuple[Chunk, str]] = []
        self._seq = 0

    def add(self, chunk: Chunk, previous: str) -> list[Unit]:
        out = []
        if self._cur and not self._fits(chunk):
            out = self.flush()
        self._cur.append((chunk, previous))
        if self.kind == "chunk" and len(self._cur) >= self.turns:
            out += self.flush()
        return out

    def _fits(self, chunk: Chunk) -> bool:
        if _chapter_key(self._cur[0][0]) != _chapter_key(chunk):
            return False
        if self.kind == "chapter":
            return True
        used = self.overhead + sum(c.tokens + TURN_OVERHEAD for c, _ in self._cur)
        return used + chunk.tokens + TURN_OVERHEAD <= self.budget

    def flush(self) -> list[Unit]:
        if not self._cur:
            return []
        chunks = [c for c, _ in self._cur]
        previous = [p for _, p in self._cur]
        if self.kind == "chapter" and len(chunks) > 1:
            first = chunks[0]
            text = "\n\n".join(c.text for c in chunks)
            chunks = [Chunk(text=text, source=first.source, document=first.document, section=first.section[:1],
                            index=first.index, tokens=sum(c.tokens for c in chunks))]
            previous = previous[:1]
        self._cur = []
        unit = Unit(self._seq, chunks, previous)
        self._seq += 1
        return [unit]


# ---- the run ----------------------------------------------------------------------------------

@dataclass
class _Counts:
    origins: dict[str, int] = field(default_factory=dict)
    qa_dropped: int = 0
    no_draft: int = 0
    too_long: int = 0
    chunker_calls_failed: int = 0
    chunker_breaks: int = 0
    chunker_bad: int = 0


class _Run:
    def __init__(self, opts: SynthOptions, summary: Summary, progress: Progress | None):
        self.opts = opts
        self.summary = summary
        self.progress = progress or (lambda n=1, **kw: None)
        self.template = prompts.load_template(opts.template)
        self.writer = writers.get(opts.format)
        self.preference = getattr(self.writer, "KIND", "sft") == "preference"
        self.turns = opts.turns if opts.turns is not None else self.template.turns
        self._check_options()
        self.prices = load_prices(opts.prices)
        self.provider = self._provider(opts.model)
        self.rejected = self._provider(opts.rejected_model) if opts.rejected_model else None
        self.store = None
        if not opts.no_cache and not (self.provider.is_offline and self.rejected is None):
            self.store = cache_mod.Store(opts.cache or cache_mod.default_path())
        self.stats = Stats()
        self.counts = _Counts()
        self.job: str | None = None
        self.exec = self._executor(self.provider)
        self.rexec = self._executor(self.rejected) if self.rejected else None

    # ---- set-up -------------------------------------------------------------------------------
    def _check_options(self) -> None:
        o = self.opts
        if self.preference and not o.rejected_model:
            raise ConfigError(f"--format {o.format} writes preference pairs: add --rejected-model MODEL "
                              "(the model whose drafts are the non-preferred answers)")
        if o.rejected_model and not self.preference:
            raise ConfigError("--rejected-model makes preference pairs: add --format openai-dpo or trl-preference")
        if o.rejected_model and o.provider == "offline":
            raise ConfigError("--rejected-model needs a real model: add --provider openai or gemini")
        if o.rejected_model and self.turns > 1:
            raise ConfigError("preference pairs are one prompt each: drop --turns (or use a single-turn template)")
        if o.chunker not in ("structure", "llm"):
            raise ConfigError(f"--chunker must be structure or llm, not {o.chunker!r}")
        if o.chunker == "llm" and o.provider == "offline":
            raise ConfigError("--chunker llm asks a model where topics change: add --provider openai or gemini")
        if self.turns < 1:
            raise ConfigError("--turns must be at least 1")
        for name, v in (("--concurrency", o.concurrency), ("--rpm", o.rpm), ("--tpm", o.tpm)):
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be at least 1")
        if o.max_cost is not None and o.max_cost < 0:
            raise ConfigError("--max-cost must not be negative")

    def _provider(self, model: str | None) -> Provider:
        o = self.opts
        try:
            return get_provider(o.provider, model=model or "", base_url=o.base_url, api_key=o.api_key, timeout=o.timeout)
        except NeedsKeyError:
            if not o.dry_run:
                raise
            self.summary.note(f"no API key is set for {o.provider} yet; the real run will need one")
            return get_provider(o.provider, model=model or "", base_url=o.base_url, api_key="dry-run-no-key",
                                timeout=o.timeout)

    def _executor(self, provider: Provider) -> Executor:
        o = self.opts
        price = price_for(self.prices, provider)
        if price is None and o.max_cost is not None:
            raise ConfigError(f"--max-cost needs a price for model {provider.model!r}, which is not in "
                              f"{self.prices.source}; add it to a copy of that file and pass --prices FILE")
        settings = CallSettings(concurrency=o.concurrency or provider.default_concurrency, rpm=o.rpm, tpm=o.tpm,
                                max_cost=o.max_cost, retries=o.retries, retry_budget=o.retry_budget,
                                backoff=Backoff(base=o.backoff, cap=max(o.backoff, 60.0)))
        return Executor(provider, self.store, price, settings, self.stats, on_spend=self._spent)

    def _spent(self, amount: float) -> None:
        if self.store is not None and self.job:
            self.store.job_spent(self.job, amount)

    def fingerprint(self, paths: list[str]) -> dict:
        o = self.opts
        return {"inputs": [os.path.abspath(p) for p in paths], "template": self.template.id,
                "template_file": os.path.abspath(o.template) if self.template.path == o.template else "",
                "provider": self.provider.identity(), "rejected": self.rejected.identity() if self.rejected else "",
                "format": o.format, "system": o.system or "", "chunker": o.chunker, "min": o.min_tokens,
                "max": o.max_tokens, "turns": self.turns, "budget": o.example_tokens}

    # ---- chunks and units ------------------------------------------------------------------------
    async def chunks(self, source: Iterable[Document | Chunk]) -> AsyncIterator[tuple[Chunk, str]]:
        from miner.chunking import chunk_document

        last_doc, last_text = None, ""
        for item in source:
            if isinstance(item, Document):
                breaks = None
                if self.opts.chunker == "llm" and not self.opts.dry_run:
                    breaks = await self.llm_breaks(item)
                cs: Iterable[Chunk] = chunk_document(item, min_tokens=self.opts.min_tokens,
                                                     max_tokens=self.opts.max_tokens, extra_breaks=breaks)
            else:
                cs = [item]
            for c in cs:
                doc = (c.source, c.document)
                prev = last_text if doc == last_doc else ""
                last_doc, last_text = doc, c.text
                yield c, prev

    async def llm_breaks(self, doc: Document) -> set[int] | None:
        from miner.llm_chunker import propose_breaks

        result = await propose_breaks(doc, self.exec, max_tokens=self.opts.max_tokens, json_retries=self.opts.json_retries)
        self.counts.chunker_breaks += len(result.breaks)
        self.counts.chunker_bad += result.invalid
        self.counts.chunker_calls_failed += result.failed
        return result.breaks

    async def units(self, source) -> AsyncIterator[Unit]:
        overhead = tokens.count(self.opts.system or "")
        g = Grouper(self.template.unit, self.turns if self.template.mode == "single" else 1,
                    self.opts.example_tokens, overhead)
        async for c, prev in self.chunks(source):
            for u in g.add(c, prev):
                yield u
        for u in g.flush():
            yield u

    # ---- one passage ------------------------------------------------------------------------------
    def feats(self, chunk: Chunk, previous: str) -> dict[str, str]:
        return prompts.features(chunk.text, document=chunk.document, section=chunk.section, previous=previous)

    async def answer(self, chunk: Chunk, previous: str) -> tuple[Answer, dict]:
        t = self.template
        feats = self.feats(chunk, previous)
        req = t.request(feats)
        if self.provider.is_offline:
            return Answer(req.offline, "offline"), feats
        text = ""
        try:
            for attempt in range(self.opts.json_retries + 1):
                res = await self.exec.call(req, t.id, attempt, expect_output=t.expected_output_tokens)
                text = res.completion.text
                data = prompts.parse_json(text)
                if data is not None and self._usable(data, chunk):
                    return Answer(data, "llm"), feats
        except RequestRejected as e:
            self.stats.last_error = str(e)
            self.summary.skip("provider refused the request (offline prompt used)", _where(chunk), str(e))
            return Answer(req.offline, "refused"), feats
        rec = t.recover(text)
        if rec is not None and self._usable(rec, chunk):
            return Answer(rec, "recovered"), feats
        return Answer(req.offline, "fallback"), feats

    def _usable(self, data: Any, chunk: Chunk) -> bool:
        if self.template.check(data):
            return False
        if self.template.mode == "qa":
            return any(prompts.find_span(chunk.text, p["answer"]) for p in data["pairs"])
        return True

    async def draft(self, system: str, user: str, chunk: Chunk) -> str | None:
        """The rejected model's own answer to the synthesized prompt (the non-preferred side)."""
        assert self.rexec is not None
        req = Request(system=system, messages=(("user", user),), temperature=0.8,
                      max_output_tokens=min(8192, max(256, int(chunk.tokens * 1.5) + 64)))
        for attempt in range(2):
            try:
                res = await self.rexec.call(req, REJECTED_ID, attempt, expect_output=chunk.tokens)
            except RequestRejected as e:
                self.summary.skip("rejected model refused (pair left out)", _where(chunk), str(e))
                return None
            if res.completion.text.strip():
                return res.completion.text.strip()
        self.counts.no_draft += 1
        self.summary.skip("no draft from the rejected model (pair left out)", _where(chunk))
        return None

    # ---- one unit -> output lines ------------------------------------------------------------------
    async def lines(self, unit: Unit) -> list[dict]:
        answers = await _gather([self.answer(c, p) for c, p in zip(unit.chunks, unit.previous)])
        for a, _ in answers:
            self.counts.origins[a.origin] = self.counts.origins.get(a.origin, 0) + 1
        if self.template.unit == "chapter" and unit.chunks[0].tokens > self.opts.example_tokens:
            self.counts.too_long += 1
        system = [Message("system", self.opts.system)] if self.opts.system else []
        items: list[tuple[list[Message], str, Chunk]] = []  # (prompt messages, author's answer, chunk)
        if self.template.mode == "qa":
            for (a, _), c in zip(answers, unit.chunks):
                for pair in a.data["pairs"]:
                    span = prompts.find_span(c.text, pair["answer"])
                    if span is None:
                        self.counts.qa_dropped += 1
                        continue
                    items.append((system + [Message("user", pair["question"].strip())], span, c))
        else:
            msgs = list(system)
            for i, ((a, feats), c) in enumerate(zip(answers, unit.chunks)):
                msgs.append(Message("user", self.template.user_turn(a.data, feats, first=i == 0)))
                if i < len(unit.chunks) - 1:
                    msgs.append(Message("assistant", c.text))
            items.append((msgs, unit.chunks[-1].text, unit.chunks[0]))
        if self.preference:
            drafts = await _gather([self.draft(self.opts.system or "", m[-1].content, c) for m, _, c in items])
            return [self.writer.render(Preference(prompt=m, chosen=Message("assistant", ans),
                                                  rejected=Message("assistant", d), id=_id(c), source=c.source,
                                                  meta=_meta(c)))
                    for (m, ans, c), d in zip(items, drafts) if d]
        return [self.writer.render(Conversation(messages=m + [Message("assistant", ans)], id=_id(c),
                                                title=c.document, source=c.source, meta=_meta(c)))
                for m, ans, c in items]

    # ---- the whole run ------------------------------------------------------------------------------
    async def run(self, source, output: str, force: bool) -> None:
        window = self.opts.window or max(8, 4 * self.exec.settings.concurrency)
        pending: deque[tuple[asyncio.Future, int]] = deque()  # (unit's lines, passages in it)
        n_units = 0
        try:
            with AtomicFile(output, force=force) as fh:
                async def write_oldest() -> None:
                    task, n = pending[0]
                    for obj in await task:
                        fh.write(orjson.dumps(obj) + b"\n")
                        self.summary.add("examples written")
                    pending.popleft()
                    self.progress(n, **self._progress_fields())

                async for unit in self.units(source):
                    n_units += 1
                    self.summary.add("passages", len(unit.chunks))
                    pending.append((asyncio.ensure_future(self.lines(unit)), len(unit.chunks)))
                    while len(pending) >= window or (pending and pending[0][0].done()):
                        await write_oldest()
                while pending:
                    await write_oldest()
                if n_units == 0:
                    raise NoPassages("no passages of prose found in the inputs, so nothing was written "
                                     "(the summary lists what was skipped and why)", self.summary)
        except BaseException:
            for t, _ in pending:
                t.cancel()
            await asyncio.gather(*(t for t, _ in pending), return_exceptions=True)
            raise
        finally:
            await self._close()

    async def dry_run(self, source) -> None:
        t = self.template
        est_in = est_out = 0
        cost = 0.0
        unknown = False
        calls = cached = 0
        seen: set[str] = set()  # identical requests (repeated passages) are asked once
        async for unit in self.units(source):
            self.summary.add("passages", len(unit.chunks))
            for c, prev in zip(unit.chunks, unit.previous):
                req = t.request(self.feats(c, prev))
                todo = [(self.exec, req, t.id, t.expected_output_tokens)]
                if self.rexec is not None:
                    draft_req = Request.simple(self.opts.system or "", "x" * 4 * t.expected_output_tokens)
                    todo.append((self.rexec, draft_req, REJECTED_ID, c.tokens))
                for ex, r, tid, out in todo:
                    if ex.provider.is_offline:
                        continue
                    key = ex.key(r, tid)
                    if key in seen or ex.cached(r, tid) is not None:
                        cached += 1
                        continue
                    seen.add(key)
                    usage, c_cost = ex.estimate(r, out)
                    calls += 1
                    est_in += usage.input_tokens
                    est_out += usage.output_tokens
                    if c_cost is None:
                        unknown = True
                    else:
                        cost += c_cost
        if self.opts.chunker == "llm":
            self.summary.note("--chunker llm adds one call per long document (not included above; "
                              "the estimate uses structure chunking)")
        s = self.summary
        s.add("LLM calls needed", calls)
        s.add("answers already cached (or repeated)", cached)
        s.add("input tokens (estimate)", est_in)
        s.add("output tokens (estimate)", est_out)
        s.info["estimated cost"] = "unknown (model not in the price table; pass --prices FILE)" if unknown \
            else f"${cost:.4f}"
        s.note("dry run: no calls were made and nothing was written")
        await self._close()

    async def _close(self) -> None:
        for p in (self.provider, self.rejected):
            if p is not None:
                try:
                    await p.aclose()
                except Exception:
                    pass

    # ---- reporting -------------------------------------------------------------------------------------
    def _progress_fields(self) -> dict:
        st = self.stats
        f: dict[str, Any] = {}
        if not self.provider.is_offline:
            f = {"calls": st.requests, "cached": st.cached,
                 "tokens": st.usage.input_tokens + st.usage.output_tokens}
            if st.cost_known:
                f["cost"] = f"${st.cost:.4f}"
        fb = self.counts.origins.get("fallback", 0) + self.counts.origins.get("refused", 0)
        if fb:
            f["failed"] = fb  # passages that got the offline prompt instead
        return f

    def report(self) -> None:
        s, st, c = self.summary, self.stats, self.counts
        s.info["provider"] = self.provider.label
        s.info["template"] = self.template.id
        if self.rejected is not None:
            s.info["rejected model"] = self.rejected.label
        if self.opts.dry_run:
            return
        if self.provider.is_offline:
            s.add("prompts built offline", c.origins.get("offline", 0))
        else:
            s.add("prompts from the LLM", c.origins.get("llm", 0))
            s.add("LLM requests sent", st.requests)
            s.add("answers from the cache", st.cached)
            if st.retries:
                s.add("retries", st.retries)
            s.add("input tokens", st.usage.input_tokens)
            s.add("output tokens", st.usage.output_tokens)
            s.info["cost"] = f"${st.cost:.4f}" if st.cost_known else \
                "unknown (model not in the price table; pass --prices FILE)"
            never = c.origins.get("recovered", 0) + c.origins.get("fallback", 0)
            if never:
                s.add("answers that never parsed as JSON", never)
                s.add("  recovered from plain text", c.origins.get("recovered", 0))
                s.add("  offline prompt used instead", c.origins.get("fallback", 0))
                s.note(f"{never} answer(s) were not valid JSON even after a retry; small local models do this. "
                       "They were recovered from plain text or replaced by the offline prompt (counted above).")
            for p in (self.provider, self.rejected):
                for d in getattr(p, "downgrades", []) if p else []:
                    s.note(d)
        if c.too_long:
            s.note(f"{c.too_long} chapter(s) are longer than --example-tokens ({self.opts.example_tokens:,}); "
                   "trainers may cut such examples short")
        if c.qa_dropped:
            s.add("qa pairs dropped (answer not verbatim in the passage)", c.qa_dropped)
        if self.opts.chunker == "llm":
            s.add("topic breaks proposed by the LLM", c.chunker_breaks)
            if c.chunker_bad:
                s.add("  invalid break positions ignored", c.chunker_bad)
            if c.chunker_calls_failed:
                s.add("  documents chunked by structure instead (no usable answer)", c.chunker_calls_failed)


def _where(c: Chunk) -> str:
    sec = " > ".join(c.section)
    return f"{c.source}" + (f", {sec}" if sec else "") + f", passage {c.index + 1}"


def _id(c: Chunk) -> str:
    return f"{c.document or c.source}#{c.index}"


def _meta(c: Chunk) -> dict:
    return {"document": c.document, "section": c.section, "index": c.index}


# ---- entry points ----------------------------------------------------------------------------------

def synth(paths: list[str], output: str, opts: SynthOptions | None = None,
          progress: Progress | None = None) -> Summary:
    """Turn the passages in `paths` (documents or chunk JSONL) into a dataset at `output`.

    Returns the Summary. Raises SynthStopped (with the summary) when --max-cost or the
    provider stops the run early; nothing is written under `output` then, and running the
    same call again resumes from the cache."""
    opts = opts or SynthOptions()
    summary = Summary(title="miner synth" + (" (dry run)" if opts.dry_run else ""))
    return run(lambda: iter_sources(paths, summary), output, opts, summary, paths=paths, progress=progress)


def run(source: Callable[[], Iterable[Document | Chunk]], output: str, opts: SynthOptions,
        summary: Summary | None = None, paths: list[str] | None = None,
        progress: Progress | None = None) -> Summary:
    """`synth` over any source of Documents / Chunks (a callable returning an iterable)."""
    summary = summary or Summary(title="miner synth")
    r = _Run(opts, summary, progress)
    try:
        if opts.dry_run:
            asyncio.run(r.dry_run(source()))
            r.report()
            return summary
        force = _claim_output(r, output, paths or [])
        try:
            asyncio.run(r.run(source(), output, force))
        except BudgetStop:
            raise _stopped(r, f"stopped before a call that would take spending past --max-cost "
                              f"${opts.max_cost:.4f}; spent ${r.stats.cost:.4f} in this run.",
                           "raise --max-cost and run the same command again") from None
        except Unavailable as e:
            raise _stopped(r, f"{r.provider.label} kept failing: {e}.",
                           "wait a while (or lower --concurrency / set --rpm) and run the same command again"
                           ) from None
        except NoPassages:
            r.report()
            raise
        except ProviderError as e:
            e.summary = _report(r)  # type: ignore[attr-defined]
            raise
        if r.store is not None and r.job:
            r.store.job_done(r.job)
        r.report()
        return summary
    finally:
        if r.store is not None:
            r.store.close()


def _claim_output(r: _Run, output: str, paths: list[str]) -> bool:
    """Whether the output may be (re)placed: new, --force, or the unfinished run of this very
    command resuming (it was started with --force over an older file)."""
    opts = r.opts
    if r.store is not None:
        r.job = cache_mod.job_id(output, r.fingerprint(paths))
        prev = r.store.job(r.job)
        resuming = prev is not None and prev.status == "running"
        if resuming:
            r.summary.note(f"resumed an unfinished run into {output} (earlier attempts spent ${prev.spent:.4f}); "
                           "answers already received came from the cache")
        if os.path.exists(output) and not opts.force and not (resuming and prev.forced):
            check_writable(output, False)
        r.store.job_start(r.job, output, r.fingerprint(paths), forced=opts.force)
        return True if (opts.force or (resuming and prev.forced)) else False
    check_writable(output, opts.force)
    return opts.force


def _report(r: _Run) -> Summary:
    r.report()
    return r.summary


def _stopped(r: _Run, what: str, fix: str) -> SynthStopped:
    summary = _report(r)
    done = sum(r.counts.origins.values())
    read = summary.counts.get("passages", 0)
    msg = (f"{what} Nothing was written to the output yet: {done} of the {read} passages read so far have "
           f"their prompt, and every answer received is cached, so to finish: {fix}.")
    if r.store is None:
        msg += " (This run used --no-cache, so a re-run starts over.)"
    return SynthStopped(msg, summary)


__all__ = ["SynthOptions", "SynthStopped", "synth", "run", "Grouper", "Unit", "read_chunks", "iter_sources"]
