"""The LLM layer: providers behind one small interface, a SQLite cache that makes runs
resumable, price tables, rate limits and retries.

    miner.synth / miner.llm_chunker
        -> llm.executor.Executor   cache lookup, --max-cost, rate limits, retries, accounting
        -> llm.base.Provider       offline | openai | gemini (llm.registry picks one)

Nothing here prints; results and counts go back to the caller.
"""
from .base import Completion, Provider, Request, Transient, Usage, scrub
from .registry import get_provider, provider_names, register

__all__ = ["Completion", "Provider", "Request", "Transient", "Usage", "scrub", "get_provider",
           "provider_names", "register"]
