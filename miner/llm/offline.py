"""The default provider: no network, no key, no cost. It answers every request with the
template's offline recipe (the prompt built from the passage's own structure: headings,
length, point of view, dialogue, opening words), so `miner synth` works out of the box and
gives the same output every time."""
from __future__ import annotations

import orjson

from .base import Completion, Provider, Request, RequestRejected, Usage

LABEL = "offline (template-built prompts, no LLM)"


class OfflineProvider(Provider):
    name = "offline"
    label = LABEL
    supports_schema = True
    is_offline = True
    default_concurrency = 1

    def __init__(self, model: str = "", base_url: str | None = None, **_):
        super().__init__(model or "template", None)

    async def complete(self, request: Request) -> Completion:
        if request.offline is None:
            raise RequestRejected("the offline provider cannot answer this request (it needs an LLM); "
                                  "choose --provider openai or gemini")
        data = request.offline
        return Completion(text=orjson.dumps(data).decode(), data=data, usage=Usage(0, 0),
                          finish_reason="stop", model=self.model)
