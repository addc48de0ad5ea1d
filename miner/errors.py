"""Errors the user can act on. The CLI prints them as one line, without a traceback."""
from __future__ import annotations


class MinerError(Exception):
    """Base class: anything raised as a MinerError is shown to the user as `Error: <message>`."""

    exit_code = 1


class InputError(MinerError):
    """An input file (or part of one) cannot be read.

    `where` names the file, and where useful the member, conversation id or line.
    """

    def __init__(self, where: str, reason: str, hint: str = "") -> None:
        self.where = where
        self.reason = reason
        self.hint = hint
        msg = f"{where}: {reason}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class UnknownFormat(InputError):
    """No parser recognises the file's content."""


class OutputError(MinerError):
    """The output cannot be written (exists without --force, unwritable folder, ...)."""


class ConfigError(MinerError):
    """A bad option, template, rule file or price table."""


class ProviderError(MinerError):
    """The LLM provider failed in a way retries did not fix."""


class NeedsKeyError(ProviderError):
    """A paid provider was chosen but no API key was found."""


class BudgetExceeded(MinerError):
    """--max-cost would be exceeded by the next call."""
