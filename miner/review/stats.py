"""Statistics for the review page: the same report as `miner stats`, recomputed in the
background after every change, and the per-example warnings (flags) the list filters on.

Where it sits: the web app asks the worker to refresh after each change; the worker writes the
current state of the edit store (exactly what Save would write, with an empty line in place of
each deleted example so line numbers stay the author's) to a private temporary JSONL, runs
miner.hygiene.stats.compute_stats on it, and stores flags and report in the edit store. Pages
show the last finished report and say when it is out of date, so a slow near-duplicate pass
over 50,000 examples never blocks editing.

`compute()` is the one place that knows the hygiene module's interface.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from .store import Store

# compute_fn(path) -> (flags by 1-based line, report dict), or None when unavailable.
ComputeFn = Callable[[str], "tuple[dict[int, set[str]], dict[str, Any]] | None"]

DEBOUNCE_SECONDS = 1.0  # a burst of quick edits is measured once


def targets() -> list[str]:
    """The fine-tuning targets `miner validate` knows (empty if this installation has none)."""
    try:
        from miner.hygiene.validate import TARGETS
    except ImportError:
        return []
    return list(TARGETS)


def token_limit(target: str | None, max_tokens: int | None) -> int | None:
    """The per-example limit to flag against: --max-tokens, else the target's published limit,
    else None (then `miner stats` uses the limit of the dataset's own format)."""
    if max_tokens is not None or not target:
        return max_tokens
    from miner.hygiene.validate import target_settings

    return target_settings(target)["max_tokens"]


def compute(path: str, target: str | None = None, max_tokens: int | None = None):
    """Run `miner stats` on a JSONL file: (flags by 1-based line, the report as a dict for the
    page), or None if this installation has no statistics module."""
    try:
        from miner.hygiene.stats import compute_stats
    except ImportError:
        return None
    report = compute_stats(path, max_tokens=token_limit(target, max_tokens))
    d = report.to_dict()
    d.pop("flags", None)  # shown as warnings in the list instead
    d.pop("path", None)  # the private temporary file: meaningless to the author
    return {int(k): set(v) for k, v in report.flags.items()}, d


class StatsWorker:
    """One background thread that keeps the store's statistics in step with its data."""

    def __init__(self, store: Store, compute_fn: ComputeFn = compute, debounce: float = DEBOUNCE_SECONDS):
        self.store = store
        self.compute_fn = compute_fn
        self.debounce = debounce
        self.error = ""
        self.unavailable = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name="miner-review-stats", daemon=True)

    def start(self) -> StatsWorker:
        self._thread.start()
        self.request()
        return self

    def request(self) -> None:
        """Ask for a refresh (cheap; repeated requests while busy collapse into one)."""
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        _, done = self.store.stats()
        current = self.store.version
        return {
            "version": current,
            "stats_version": done,
            "up_to_date": done == current,
            "computing": not self.unavailable and (self._busy.is_set() or (done != current and not self.error)),
            "unavailable": self.unavailable,
            "error": self.error,
        }

    def refresh_now(self) -> None:
        """Compute synchronously in the calling thread (tests)."""
        self._refresh()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.wait(self.debounce):
                break
            _, done = self.store.stats()
            if self.unavailable or (done == self.store.version and not self.error):
                continue
            self._refresh()

    def _refresh(self) -> None:
        self._busy.set()
        version = None
        fd, tmp = tempfile.mkstemp(prefix="miner-review-", suffix=".jsonl")  # private (0600)
        try:
            with os.fdopen(fd, "wb") as fh, self.store.lock:  # version and data from one moment
                version = self.store.version
                self.store.write_current(fh)
            result = self.compute_fn(tmp)
            if result is None:
                self.unavailable = True
                return
            flags_by_line, report = result
            self.store.set_stats(version, flags_by_line, report)
            self.error = ""
        except Exception as e:  # shown on the page; the review goes on without fresh statistics
            self.error = str(e) or type(e).__name__
        finally:
            self._busy.clear()
            try:
                os.remove(tmp)
            except OSError:
                pass
            if version is not None and not self.unavailable and self.store.version != version:
                self._wake.set()  # changed while we were computing: go again
