"""The end-of-run summary every command returns: what was read, kept, skipped and why."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 5


@dataclass
class Summary:
    title: str = "miner"
    counts: Counter = field(default_factory=Counter)  # ordered by first use: "files read", ...
    skips: Counter = field(default_factory=Counter)  # reason -> n
    skip_examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first places
    notes: list[str] = field(default_factory=list)  # plain sentences for the end of the report
    info: dict[str, Any] = field(default_factory=dict)  # extra key/values (backend, cost, ...)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def skip(self, reason: str, where: str = "", detail: str = "") -> None:
        self.skips[reason] += 1
        ex = self.skip_examples.setdefault(reason, [])
        if where and len(ex) < MAX_EXAMPLES:
            ex.append(f"{where}: {detail}" if detail else where)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def merge(self, other: "Summary") -> None:
        self.counts.update(other.counts)
        self.skips.update(other.skips)
        for k, v in other.skip_examples.items():
            ex = self.skip_examples.setdefault(k, [])
            ex.extend(v[: MAX_EXAMPLES - len(ex)])
        for n in other.notes:
            self.note(n)
        self.info.update(other.info)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "skipped": dict(self.skips),
            "skip_examples": self.skip_examples,
            "notes": self.notes,
            **self.info,
        }
