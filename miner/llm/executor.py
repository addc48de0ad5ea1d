"""Every LLM call goes through here, between synthesis and the provider:

    cache lookup -> --max-cost check -> RPM/TPM pacing -> provider.complete() with retries
                 -> usage and cost accounting -> cache write (committed at once)

A cache hit costs nothing and makes no request. Transient failures (429, 5xx, dropped
connections) are retried with backoff, honouring Retry-After, within a per-call limit and a
run-wide retry budget; past either, the run stops cleanly (Unavailable) with everything
already answered safe in the cache.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from miner import tokens

from miner.errors import ProviderError

from .base import Completion, Provider, Request, RequestRejected, Transient, Usage
from .cache import Store, call_key
from .pricing import Price
from .ratelimit import Backoff, RateLimiter


class BudgetStop(Exception):
    """The next call would take spending past --max-cost."""


class Unavailable(Exception):
    """Retries did not get through (the provider is down, or rate limits never lifted)."""


@dataclass
class CallSettings:
    concurrency: int = 1
    rpm: int | None = None
    tpm: int | None = None
    max_cost: float | None = None
    retries: int = 5  # per call, after the first try
    retry_budget: int = 100  # across the whole run
    backoff: Backoff = field(default_factory=Backoff)


@dataclass
class Stats:
    requests: int = 0  # HTTP requests sent (retries included)
    answered: int = 0  # answers received and cached
    cached: int = 0  # answers taken from the cache
    retries: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0  # of the answers received in this run
    cost_known: bool = True
    last_error: str = ""


@dataclass
class Result:
    completion: Completion
    cached: bool
    cost: float | None


class Executor:
    def __init__(self, provider: Provider, store: Store | None, price: Price | None,
                 settings: CallSettings, stats: Stats | None = None, on_spend=None):
        self.provider = provider
        self.store = store
        self.price = price
        self.settings = settings
        self.stats = stats or Stats()
        self.limiter = RateLimiter(settings.rpm, settings.tpm)
        self._sem = asyncio.Semaphore(max(1, settings.concurrency))
        self._reserved = 0.0  # estimated cost of calls in flight
        self._inflight: dict[str, asyncio.Future] = {}
        self.budget_hit = False
        self.halted = ""  # set when retries gave up: no further requests are started
        self.fatal: ProviderError | None = None  # e.g. a refused key: no request can succeed
        self.sleep = asyncio.sleep
        self._on_spend = on_spend  # callback(amount) after each paid answer (job bookkeeping)

    def key(self, request: Request, template_id: str, attempt: int = 0) -> str:
        return call_key(self.provider.identity(), template_id, request.fingerprint(), attempt)

    def cached(self, request: Request, template_id: str, attempt: int = 0) -> Completion | None:
        if self.store is None or self.provider.is_offline:
            return None
        hit = self.store.get(self.key(request, template_id, attempt))
        return hit[0] if hit else None

    def estimate(self, request: Request, expect_output: int | None = None) -> tuple[Usage, float | None]:
        """Tokens and cost this request is expected to take (o200k count of the input; the
        template's typical answer size for the output)."""
        msgs = ([{"role": "system", "content": request.system}] if request.system else [])
        msgs += [{"role": r, "content": c} for r, c in request.messages]
        n_in = tokens.count_messages(msgs)
        if request.schema is not None:
            import orjson

            n_in += tokens.count(orjson.dumps(request.schema).decode())
        usage = Usage(n_in, expect_output if expect_output is not None else request.max_output_tokens)
        return usage, (self.price.cost(usage) if self.price is not None else None)

    async def call(self, request: Request, template_id: str, attempt: int = 0,
                   expect_output: int | None = None) -> Result:
        if self.provider.is_offline:
            return Result(await self.provider.complete(request), cached=False, cost=0.0)
        key = self.key(request, template_id, attempt)
        if self.store is not None:
            hit = self.store.get(key)
            if hit is not None:
                self.stats.cached += 1
                return Result(hit[0], cached=True, cost=0.0)
        if key in self._inflight:  # the same request is already on its way: share its answer
            completion = await asyncio.shield(self._inflight[key])
            self.stats.cached += 1
            return Result(completion, cached=True, cost=0.0)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await self._call_new(request, template_id, key, expect_output)
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # marked as retrieved, so an unshared failure is not logged as lost
            raise
        except BaseException:  # cancelled (Ctrl-C, the run stopping): waiters stop too
            fut.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(result.completion)
        return result

    async def _call_new(self, request: Request, template_id: str, key: str, expect_output: int | None) -> Result:
        est_usage, est_cost = self.estimate(request, expect_output)
        self._check_budget(est_cost)
        self._reserved += est_cost or 0.0
        try:
            async with self._sem:
                if self.fatal is not None:
                    raise self.fatal
                if self.halted:
                    raise Unavailable(self.halted)
                self._check_budget(0.0, reserved_included=True)
                completion = await self._with_retries(request, est_usage)
        finally:
            self._reserved -= est_cost or 0.0
        cost = self.price.cost(completion.usage) if self.price is not None else None
        self.stats.answered += 1
        self.stats.usage = self.stats.usage + completion.usage
        if cost is None:
            self.stats.cost_known = False
        else:
            self.stats.cost += cost
            if self._on_spend:
                self._on_spend(cost)
        if self.store is not None:
            self.store.put(key, self.provider.name, self.provider.model, template_id, request.fingerprint(),
                           completion, cost)
        return Result(completion, cached=False, cost=cost)

    def _check_budget(self, est_cost: float | None, reserved_included: bool = False) -> None:
        cap = self.settings.max_cost
        if cap is None:
            return
        pending = self._reserved if reserved_included else self._reserved + (est_cost or 0.0)
        if self.budget_hit or self.stats.cost + pending > cap + 1e-12:
            self.budget_hit = True  # once one call is refused, start no more
            raise BudgetStop(f"the next call would take spending past ${cap:.4f}")

    async def _with_retries(self, request: Request, est: Usage) -> Completion:
        s = self.settings
        attempt = 0
        while True:
            await self.limiter.acquire(est.input_tokens + est.output_tokens)
            self.stats.requests += 1
            try:
                return await self.provider.complete(request)
            except RequestRejected:
                raise
            except ProviderError as e:
                self.fatal = e
                raise
            except Transient as e:
                self.stats.last_error = self.provider.scrub(str(e))
                if e.status == 429 and e.retry_after:
                    self.limiter.pause(min(e.retry_after, s.backoff.retry_after_cap))
                if attempt >= s.retries:
                    self.halted = f"{attempt + 1} tries failed; last error: {self.stats.last_error}"
                elif self.stats.retries >= s.retry_budget:
                    self.halted = (f"the run's retry budget ({s.retry_budget}) is used up; "
                                   f"last error: {self.stats.last_error}")
                if self.halted:
                    raise Unavailable(self.halted) from None
                self.stats.retries += 1
                await self.sleep(s.backoff.delay(attempt, e.retry_after))
                attempt += 1


async def gather_all(coros: list) -> list:
    """asyncio.gather that cancels the siblings when one fails (3.10 has no TaskGroup)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
