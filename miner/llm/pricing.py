"""Prices per model, for --dry-run estimates, --max-cost and the summary's cost line.

The table is templates/prices.yaml (USD per 1M input/output tokens), or the user's own file
given with --prices. A model matches its own name or the longest listed name it extends
("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini"). Unknown models have no price (None), except on a
local server, which is free.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

from miner.errors import ConfigError

from .base import Usage


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M input tokens
    output: float  # USD per 1M output tokens

    def cost(self, usage: Usage) -> float:
        return (usage.input_tokens * self.input + usage.output_tokens * self.output) / 1_000_000


FREE = Price(0.0, 0.0)


@dataclass
class PriceTable:
    models: dict[str, Price]
    source: str = "built-in"
    date: str = ""

    def lookup(self, model: str) -> Price | None:
        m = model.strip().lower()
        if m.startswith("models/"):
            m = m[len("models/"):]
        if m in self.models:
            return self.models[m]
        best = ""
        for name in self.models:
            if m.startswith(name + "-") and len(name) > len(best):
                best = name
        return self.models[best] if best else None


def load_prices(path: str | None = None) -> PriceTable:
    """The built-in table, or the user's file (which replaces it)."""
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"--prices {path}: cannot read it ({e.strerror})") from None
        return parse_prices(text, path)
    res = resources.files("miner.templates").joinpath("prices.yaml")
    return parse_prices(res.read_text(encoding="utf-8"), "built-in prices.yaml")


def parse_prices(text: str, where: str) -> PriceTable:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({str(e).splitlines()[0]})") from None
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{where}: expected a `models:` mapping like  gpt-4o-mini: {{input: 0.15, output: 0.60}}")
    out: dict[str, Price] = {}
    for name, p in models.items():
        if not isinstance(p, dict) or set(p) - {"input", "output"} or not all(
            isinstance(p.get(k), (int, float)) and not isinstance(p.get(k), bool) and p[k] >= 0
            for k in ("input", "output")
        ):
            raise ConfigError(f"{where}: price of {name!r} must look like {{input: 0.15, output: 0.60}} "
                              "(USD per 1M tokens, both numbers, not negative)")
        out[str(name).strip().lower()] = Price(float(p["input"]), float(p["output"]))
    return PriceTable(models=out, source=where, date=str(doc.get("date") or ""))


def price_for(table: PriceTable, provider) -> Price | None:
    """The price of `provider`'s model: offline and local servers are free when not listed."""
    if provider.is_offline:
        return FREE
    p = table.lookup(provider.model)
    if p is None and provider.is_local:
        return FREE
    return p
