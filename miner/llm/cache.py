"""The SQLite file that makes LLM runs cheap to repeat and safe to interrupt.

    calls  every answer a provider returned, keyed by sha256(provider, model, endpoint,
           template name@version, hash of the exact request, attempt). Written (and committed)
           the moment the answer arrives, so a run killed at any point never pays twice for
           an answer it already received.
    jobs   one row per (output file, settings): running or done, what was spent. Lets the same
           command resume into an output it started, and reports earlier spending.

Nothing secret is stored: no API keys, no request headers, no prompts (only their hash).
Default location: $MINER_CACHE_DIR, else the user's cache folder (platformdirs).
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass

import orjson

from miner.errors import ConfigError

from .base import Completion, Usage

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS calls (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        template TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        text TEXT NOT NULL,
        finish_reason TEXT NOT NULL DEFAULT '',
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost REAL,
        created REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS jobs (
        job TEXT PRIMARY KEY,
        output TEXT NOT NULL,
        settings TEXT NOT NULL,
        status TEXT NOT NULL,
        forced INTEGER NOT NULL DEFAULT 0,
        spent REAL NOT NULL DEFAULT 0,
        runs INTEGER NOT NULL DEFAULT 0,
        started REAL NOT NULL,
        updated REAL NOT NULL)""",
]


def default_path() -> str:
    base = os.environ.get("MINER_CACHE_DIR")
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("miner")
    return os.path.join(base, "llm-cache.sqlite3")


def call_key(provider_identity: str, template_id: str, request_hash: str, attempt: int = 0) -> str:
    return hashlib.sha256(f"{provider_identity}\n{template_id}\n{request_hash}\n{attempt}".encode()).hexdigest()


def job_id(output: str, settings: dict) -> str:
    blob = orjson.dumps({"output": os.path.abspath(output), "settings": settings}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:32]


@dataclass
class Job:
    job: str
    output: str
    status: str  # "running" | "done"
    forced: bool
    spent: float
    runs: int


class Store:
    """One open cache file. Used from a single thread (the event loop's)."""

    def __init__(self, path: str):
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            new = not os.path.exists(path)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            if new:
                os.chmod(path, 0o600)  # the cache holds text derived from the user's writing
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            for stmt in SCHEMA:
                self.db.execute(stmt)
        except (sqlite3.Error, OSError) as e:
            raise ConfigError(f"cache {path}: cannot open it ({e}); choose another file with --cache "
                              "or run with --no-cache") from None

    def close(self) -> None:
        self.db.close()

    # ---- calls ------------------------------------------------------------------------------
    def get(self, key: str) -> tuple[Completion, float | None] | None:
        row = self.db.execute("SELECT text, finish_reason, input_tokens, output_tokens, cost, model FROM calls "
                              "WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        text, finish, tin, tout, cost, model = row
        return Completion(text=text, usage=Usage(tin, tout), finish_reason=finish, model=model), cost

    def put(self, key: str, provider: str, model: str, template: str, request_hash: str,
            completion: Completion, cost: float | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (key, provider, model, template, request_hash, completion.text or "", completion.finish_reason or "",
             completion.usage.input_tokens, completion.usage.output_tokens, cost, time.time()),
        )

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    # ---- jobs -------------------------------------------------------------------------------
    def job(self, job: str) -> Job | None:
        row = self.db.execute("SELECT job, output, status, forced, spent, runs FROM jobs WHERE job = ?", (job,)).fetchone()
        return Job(row[0], row[1], row[2], bool(row[3]), row[4], row[5]) if row else None

    def job_start(self, job: str, output: str, settings: dict, forced: bool) -> Job:
        now = time.time()
        prev = self.job(job)
        if prev is None or prev.status == "done":
            self.db.execute("INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                            (job, os.path.abspath(output), orjson.dumps(settings).decode(), "running",
                             int(forced), 0.0, 1, now, now))
        else:
            self.db.execute("UPDATE jobs SET runs = runs + 1, forced = MAX(forced, ?), updated = ? WHERE job = ?",
                            (int(forced), now, job))
        return self.job(job)  # type: ignore[return-value]

    def job_spent(self, job: str, amount: float) -> None:
        if amount:
            self.db.execute("UPDATE jobs SET spent = spent + ?, updated = ? WHERE job = ?", (amount, time.time(), job))

    def job_done(self, job: str) -> None:
        self.db.execute("UPDATE jobs SET status = 'done', updated = ? WHERE job = ?", (time.time(), job))
