"""Statistics for the review page: the same report as `miner stats`, recomputed in the
background after every change, and the per-example warnings (flags) the list filters on.

Where it sits: the web app asks the worker to refresh after each change; the worker writes the
current state of the edit store (exactly what Save would write) to a private temporary JSONL,
runs miner.hygiene.stats on it, maps its line numbers back to examples and stores flags and
report in the edit store. Pages show the last finished report and say when it is out of date,
so a slow near-duplicate pass over 50,000 examples never blocks editing.

`compute()` is the one place that knows the hygiene module's interface.
"""
from __future__ import annotations

import inspect
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from .store import Store

# compute(path, target) -> (flags by 1-based line, report dict), or None when unavailable.
ComputeFn = Callable[[str, str], "tuple[dict[int, set[str]], dict[str, Any]] | None"]


def available() -> bool:
    try:
        from miner.hygiene.stats import compute_stats  # noqa: F401
    except ImportError:
        return False
    return True


def compute(path: str, target: str = "openai") -> tuple[dict[int, set[str]], dict[str, Any]] | None:
    """Run `miner stats` on a JSONL file: (flags by 1-based line, the report as a dict), or None
    if this installation has no statistics module."""
    try:
        from miner.hygiene.stats import compute_stats
    except ImportError:
        return None
    kwargs: dict[str, Any] = {}
    try:
        if "target" in inspect.signature(compute_stats).parameters:
            kwargs["target"] = target
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        pass
    report = compute_stats(path, **kwargs)
    flags = {int(line): set(f) for line, f in (getattr(report, "flags", None) or {}).items()}
    return flags, report.to_dict()


class StatsWorker:
    """One background thread that keeps the store's statistics in step with its data."""

    def __init__(self, store: Store, target: str = "openai", compute_fn: ComputeFn = compute):
        self.store = store
        self.target = target
        self.compute_fn = compute_fn
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

    def stop(self, timeout: float = 5.0) -> None:
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
            "computing": self._busy.is_set() or (done != current and not self.unavailable and not self.error),
            "unavailable": self.unavailable,
            "error": self.error,
        }

    def refresh_now(self) -> None:
        """Compute synchronously in the calling thread (tests, and the first run of the CLI)."""
        self._refresh()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
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
                ids = self.store.write_current(fh)
            result = self.compute_fn(tmp, self.target)
            if result is None:
                self.unavailable = True
                return
            flags_by_line, report = result
            by_id = {ids[line - 1]: f for line, f in flags_by_line.items() if 0 < line <= len(ids)}
            self.store.set_stats(version, by_id, report)
            self.error = ""
        except Exception as e:  # shown on the page; the review goes on without fresh statistics
            self.error = str(e) or type(e).__name__
        finally:
            self._busy.clear()
            try:
                os.remove(tmp)
            except OSError:
                pass
            if version is not None and self.store.version != version and not self.unavailable:
                self._wake.set()  # changed while we were computing: go again
