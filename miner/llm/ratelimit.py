"""Pacing calls: requests-per-minute and tokens-per-minute limits, a shared pause after a 429,
and the backoff between retries.

Used by llm.executor around every provider call. The clock and sleep are injectable so the
logic is tested without waiting.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

WINDOW = 60.0  # seconds: RPM and TPM are per minute


class RateLimiter:
    """Sliding one-minute window over requests and tokens. `await acquire(tokens)` returns when
    one more request of that size fits under both limits (a request larger than the whole TPM
    limit is let through alone rather than blocking forever). `pause(seconds)` holds everyone
    back, used when the server says 429 with a Retry-After."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.rpm = rpm or None
        self.tpm = tpm or None
        self.clock = clock
        self.sleep = sleep
        self._events: deque[tuple[float, int]] = deque()  # (time, tokens)
        self._tokens = 0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + max(0.0, seconds))

    def wait_time(self, tokens: int) -> float:
        """Seconds until a request of `tokens` may start (0 = now). Pure, for tests."""
        now = self.clock()
        self._expire(now)
        wait = max(0.0, self._paused_until - now)
        if self.rpm and len(self._events) >= self.rpm:
            wait = max(wait, self._events[len(self._events) - self.rpm][0] + WINDOW - now)
        if self.tpm and self._events and self._tokens + tokens > self.tpm:
            # Wait until enough old tokens have left the window.
            excess = self._tokens + tokens - self.tpm
            freed = 0
            for t, n in self._events:
                freed += n
                if freed >= excess:
                    wait = max(wait, t + WINDOW - now)
                    break
        return wait

    def record(self, tokens: int) -> None:
        self._events.append((self.clock(), tokens))
        self._tokens += tokens

    async def acquire(self, tokens: int = 0) -> None:
        if not self.rpm and not self.tpm and self._paused_until <= self.clock():
            return
        async with self._lock:
            while True:
                w = self.wait_time(tokens)
                if w <= 0:
                    break
                await self.sleep(min(w, WINDOW))
            self.record(tokens)

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - WINDOW:
            self._tokens -= self._events.popleft()[1]


@dataclass
class Backoff:
    """Exponential backoff with jitter; the server's Retry-After wins when it gives one."""

    base: float = 1.0  # seconds before the first retry
    cap: float = 60.0  # longest wait between tries
    retry_after_cap: float = 120.0  # a longer Retry-After than this is treated as this

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap)
        d = min(self.cap, self.base * (2 ** attempt))
        return d * (1 - 0.25 * random.random())


def parse_retry_after(headers) -> float | None:
    """Seconds from `retry-after-ms` / `retry-after` (seconds or an HTTP date), else None."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        ra = headers.get("retry-after")
    except Exception:
        return None
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(ra)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None
