"""Provider names -> factories. Built-ins register here the same way another provider would:
`register("name", factory)` where factory(model=, base_url=, api_key=, timeout=) -> Provider.
SDKs are imported only when their provider is chosen, so offline runs never load them."""
from __future__ import annotations

from collections.abc import Callable

from miner.errors import ConfigError

from .base import Provider

_FACTORIES: dict[str, Callable[..., Provider]] = {}


def register(name: str, factory: Callable[..., Provider]) -> None:
    _FACTORIES[name] = factory


def provider_names() -> list[str]:
    return list(_FACTORIES)


def get_provider(name: str, model: str = "", base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0) -> Provider:
    """A ready provider. Raises ConfigError for an unknown name, NeedsKeyError for a missing key."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(f"unknown provider {name!r}; choose one of: {', '.join(_FACTORIES)}")
    return factory(model=model, base_url=base_url, api_key=api_key, timeout=timeout)


def _offline(**kw) -> Provider:
    from .offline import OfflineProvider

    return OfflineProvider(**kw)


def _openai(**kw) -> Provider:
    from .openai_provider import OpenAIProvider

    return OpenAIProvider(**kw)


def _gemini(**kw) -> Provider:
    from .gemini_provider import GeminiProvider

    return GeminiProvider(**kw)


register("offline", _offline)
register("openai", _openai)
register("gemini", _gemini)
