"""`miner convert`: chat exports and chat datasets -> training JSONL."""
from __future__ import annotations

import datetime as dt

import click

from miner import writers
from miner.errors import ConfigError
from miner.pipeline import ConvertOptions, NothingWritten, convert

from .common import debug_option, force_option, handle_errors, print_summary, progress, quiet_option
from .retries import with_detector_options


def _date(value: str | None, flag: str) -> float | None:
    if not value:
        return None
    try:
        d = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a date; use YYYY-MM-DD, e.g. {flag} 2024-01-31") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.timestamp()


@with_detector_options(after="retry_rules")
@click.command("convert")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="The JSONL file to write.")
@click.option("--format", "fmt", default="openai", show_default=True, type=click.Choice(list(writers.FORMATS)),
              help="Output format (trainer). Preference formats write one pair per retry chain.")
@click.option("--system", help="System prompt (persona) put first in every example, replacing any the source had.")
@click.option("--system-file", type=click.Path(exists=True, dir_okay=False), help="Read the system prompt from a file.")
@click.option("--attachments", is_flag=True, help="Claude: include the text of attached files in the user turn.")
@click.option("--artifacts", is_flag=True,
              help="Include documents the assistant wrote in a side panel (Claude artifacts, ChatGPT canvas).")
@click.option("--no-collapse", "no_collapse", is_flag=True,
              help="Keep retry chains ('make it longer', 'try again') as they were instead of folding them.")
@click.option("--retry-rules", type=click.Path(exists=True, dir_okay=False),
              help="Extra retry-detection phrases (YAML, same shape as templates/retry-rules.yaml).")
@click.option("--all-drafts", is_flag=True, help="Preference formats: one pair per rejected draft, not only the first.")
@click.option("--max-tokens", type=click.IntRange(min=16), help="Longest example allowed (o200k tokens).")
@click.option("--long", "long_", type=click.Choice(["split", "drop"]), default="split", show_default=True,
              help="What to do with conversations over --max-tokens: split at turn boundaries, or drop.")
@click.option("--min-turns", type=click.IntRange(min=1), default=1, show_default=True,
              help="Skip conversations with fewer assistant answers.")
@click.option("--since", help="Only conversations started on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Only conversations started before this date (YYYY-MM-DD).")
@click.option("--title-match", help="Only conversations whose title matches this regular expression (case-insensitive).")
@click.option("--jobs", type=click.IntRange(min=1, max=32),
              help="Worker processes for inputs over 8 MB (default: one per CPU, at most 4; 1 = work in one process).")
@force_option
@quiet_option
@debug_option
@handle_errors
def command(inputs, out, fmt, system, system_file, attachments, artifacts, no_collapse, retry_rules, all_drafts, max_tokens,
            long_, min_turns, since, until, title_match, jobs, force, quiet, debug, retry_detector, provider, model, base_url,
            retry_max_words, cache, no_cache):
    """Convert ChatGPT/Claude exports (the ZIP or its conversations.json) and chat JSONL into
    training JSONL: one line per conversation, following the branch you actually kept.

    \b
    Examples:
      miner convert ~/Downloads/chatgpt-export.zip -o past-chats.jsonl
      miner convert chatgpt.zip claude.zip -o chats.jsonl --system "You are FabulousGreg, ..."
      miner convert export.zip -o dpo.jsonl --format openai-dpo      # pairs from retry chains
      miner convert export.zip -o chats.jsonl --max-tokens 8000 --since 2024-01-01
      miner convert chats.jsonl -o chats.gemini.jsonl --format vertex   # re-format a dataset
      miner convert export.zip -o chats.jsonl --retry-detector llm --model gpt-4o-mini  # an LLM spots retries

    Retry chains ("make it longer", "try again") are collapsed by default: the follow-up is
    folded into the first request and the accepted answer replaces the first draft.
    """
    if system_file:
        with open(system_file, encoding="utf-8") as f:
            system = f.read().strip()
    opts = ConvertOptions(format=fmt, system=system, attachments=attachments, artifacts=artifacts,
                          collapse=not no_collapse,
                          retry_rules=retry_rules, all_drafts=all_drafts, max_tokens=max_tokens, long=long_,
                          min_turns=min_turns, since=_date(since, "--since"), until=_date(until, "--until"),
                          title_match=title_match, force=force, retry_detector=retry_detector, provider=provider,
                          model=model, base_url=base_url, cache=cache, no_cache=no_cache,
                          retry_max_words=retry_max_words, jobs=jobs or 0)
    with progress("Converting", quiet=quiet, unit="conversations") as advance:
        try:
            summary = convert(list(inputs), out, opts, progress=advance)
        except NothingWritten as e:
            print_summary(e.summary, quiet)
            raise
    print_summary(summary, quiet)
