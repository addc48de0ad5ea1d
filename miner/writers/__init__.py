"""Output formats, one module each. Every module exposes:

    NAME     the --format value ("openai")
    KIND     "sft" (writes Conversation) or "preference" (writes Preference)
    render(item) -> dict        one JSONL line; raises miner.errors.FormatError (a ConfigError)
                                with a plain-language reason when the item cannot be expressed
    matches(obj: dict) -> bool  True if a JSON line is in this format (for reading back)
    read(obj: dict) -> Conversation | Preference
                                the inverse of render, so datasets convert losslessly

Rendering is pure; files are written by miner.output (atomically).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from miner.errors import ConfigError

# --format value -> module name
FORMATS = {
    "openai": "openai",
    "openai-dpo": "openai_dpo",
    "vertex": "vertex",
    "mistral": "mistral",
    "trl": "trl",
    "trl-preference": "trl_preference",
    "sharegpt": "sharegpt",
    "alpaca": "alpaca",
}


class FormatError(ConfigError):
    """An item cannot be written in the chosen format (e.g. multi-turn into alpaca)."""


def get(name: str) -> ModuleType:
    mod = FORMATS.get(name)
    if mod is None:
        raise ConfigError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}")
    try:
        return importlib.import_module(f"miner.writers.{mod}")
    except ModuleNotFoundError as e:
        if e.name == f"miner.writers.{mod}":
            raise ConfigError(f"format {name!r} is not available in this version") from None
        raise


def available() -> list[ModuleType]:
    out = []
    for name in FORMATS:
        try:
            out.append(get(name))
        except ConfigError:
            pass
    return out


def detect_line(obj) -> ModuleType | None:
    """The format a parsed JSON line is in, or None."""
    if not isinstance(obj, dict):
        return None
    for mod in available():
        try:
            if mod.matches(obj):
                return mod
        except Exception:
            continue
    return None
