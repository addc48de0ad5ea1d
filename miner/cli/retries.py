"""`miner retries`: show the retry chains `miner convert` would collapse, and why.

Reads chat inputs through the same parsing and clean-up as convert (miner.pipeline), runs
miner.retries.collapse on each conversation and prints every chain: the request, each
follow-up with the rule that fired, the drafts, the accepted answer and the folded request.
With --retry-detector llm (miner.retries_llm) the decisions and folds come from an LLM and the
reasons shown are the model's. The detector options are defined here once and shared with
`miner convert` (with_detector_options); the LLM ones are `miner synth`'s own.
"""
from __future__ import annotations

import textwrap
from dataclasses import replace

import click

from miner import retries, retries_llm, transforms
from miner.models import Conversation
from miner.pipeline import iter_conversations
from miner.summary import Summary

from .common import debug_option, handle_errors, print_summary, progress, quiet_option

WIDTH = 100
PREVIEW_LINES = 3


def _synth_param(name: str) -> click.Parameter:
    """`miner synth`'s own definition of an option (--model, --cache, ...): one definition, so
    every command that talks to an LLM says the same thing about it."""
    from .synth import command as synth_command

    for p in synth_command.params:
        if p.name == name:
            return p
    raise LookupError(f"miner synth has no option {name!r}")


def detector_params() -> list[click.Parameter]:
    return [
        click.Option(["--retry-detector"], type=click.Choice(["offline", "llm"]), default="offline", show_default=True,
                     help="How retry follow-ups are recognised: offline (phrase rules, nothing leaves your machine) "
                          "or llm (ask --provider's model about each short follow-up, and let it write the folded "
                          "request; cached, and it costs money with a paid API)."),
        click.Option(["--provider"], type=click.Choice(list(retries_llm.PROVIDERS)),
                     help="With --retry-detector llm: the LLM to ask (default openai; any OpenAI-compatible "
                          "server with --base-url)."),
        _synth_param("model"),
        _synth_param("base_url"),
        click.Option(["--retry-max-words"], type=click.IntRange(min=1), default=retries_llm.DEFAULT_MAX_WORDS,
                     show_default=True,
                     help="With --retry-detector llm: longer follow-ups are decided offline without asking (long "
                          "messages are almost always new requests), which keeps the number of calls down."),
        _synth_param("cache"),
        _synth_param("no_cache"),
    ]


def with_detector_options(after: str):
    """Add the retry-detector options to a click command, right after its option `after`."""
    def deco(cmd: click.Command) -> click.Command:
        i = next(k for k, p in enumerate(cmd.params) if p.name == after) + 1
        cmd.params[i:i] = detector_params()
        return cmd

    return deco


def open_detector(rules: retries.Rules, retry_detector: str, provider: str | None, model: str, base_url: str | None,
                  retry_max_words: int, cache: str | None, no_cache: bool) -> retries_llm.LLMDetector | None:
    retries_llm.check_options(retry_detector, provider, model, base_url, retry_max_words)
    if retry_detector != "llm":
        return None
    return retries_llm.LLMDetector(rules, retries_llm.LLMSettings(
        provider=provider or "openai", model=model, base_url=base_url, cache=cache, no_cache=no_cache,
        max_words=retry_max_words))


@with_detector_options(after="retry_rules")
@click.command("retries")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--retry-rules", type=click.Path(exists=True, dir_okay=False),
              help="Extra retry-detection phrases (YAML, same shape as templates/retry-rules.yaml).")
@click.option("--all", "show_all", is_flag=True,
              help="Also list the follow-ups judged NOT retries, with the reason (for tuning your rules).")
@click.option("--all-drafts", is_flag=True, help="Count one preference pair per rejected draft, as convert --all-drafts does.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after showing this many chains.")
@quiet_option
@debug_option
@handle_errors
def command(inputs, retry_rules, retry_detector, provider, model, base_url, retry_max_words, cache, no_cache,
            show_all, all_drafts, limit, quiet, debug):
    """Show the retry chains in your chats ("make it longer", "try again but darker") and how
    `miner convert` folds them: the original request, each follow-up with the rule that fired,
    the start of every draft, the accepted answer and the single request that replaces them.

    \b
    Examples:
      miner retries ~/Downloads/chatgpt-export.zip
      miner retries chatgpt.zip claude.zip --limit 20
      miner retries export.zip --all | less            # also the follow-ups that are NOT retries
      miner retries export.zip --retry-rules my-phrases.yaml --all
      miner retries export.zip --retry-detector llm --provider openai --model gpt-4o-mini

    Nothing is written. Use the decisions to tune --retry-rules, then run `miner convert`
    (add --no-collapse to keep chains as they are, or --format openai-dpo for preference pairs).
    With --retry-detector llm the "why" lines are the model's own reasons; answers are cached,
    so `miner convert` with the same LLM options afterwards asks nothing again.
    """
    rules = retries.load_rules(retry_rules)
    detector = open_detector(rules, retry_detector, provider, model, base_url, retry_max_words, cache, no_cache)
    summary = Summary(title="miner retries")
    counts = {"conversations": 0, "follow-ups examined": 0, "retry chains": 0, "preference pairs": 0}
    shown = 0
    try:
        with progress("Reading", quiet=quiet, unit="conversations") as advance:
            for item in iter_conversations(list(inputs), summary, progress=advance):
                if not isinstance(item, Conversation):
                    continue  # a preference pair read from a DPO file has no chain to show
                conv = replace(item, messages=transforms.normalize(item.messages))
                counts["conversations"] += 1
                if detector is not None:
                    res = detector.collapse(conv, all_drafts=all_drafts)
                else:
                    res = retries.collapse(conv, rules, all_drafts=all_drafts)
                counts["follow-ups examined"] += len(res.examined)
                counts["retry chains"] += len(res.chains)
                counts["preference pairs"] += len(res.pairs)
                rejected = [(i, d) for i, d in res.examined if not d.is_retry]
                if res.chains or (show_all and rejected):
                    click.echo(render_conversation(conv, res, show_all))
                shown += len(res.chains)
                if limit and shown >= limit:
                    summary.note(f"Stopped after {shown} chains (--limit {limit}); the counts cover only what was read.")
                    break
    finally:
        if detector is not None:
            detector.close()
    for k, v in counts.items():
        summary.add(k, v)
    if detector is not None:
        detector.report(summary)
    if not counts["retry chains"] and counts["conversations"]:
        summary.note("No retry chains found. Run with --all to see why each follow-up was not counted.")
    print_summary(summary, quiet)


def render_conversation(conv: Conversation, res: retries.CollapseResult, show_all: bool) -> str:
    """One conversation's chains (and, with show_all, its rejected follow-ups) as plain text."""
    title = conv.title or "(untitled)"
    where = ", ".join(x for x in (conv.source, f"id {conv.id}" if conv.id else "") if x)
    lines = [f"=== {title}" + (f"  [{where}]" if where else "")]
    msgs = conv.messages
    for n, ch in enumerate(res.chains, 1):
        lines.append(f"  Chain {n} ({len(ch.followups)} follow-up{'s' if len(ch.followups) > 1 else ''})")
        lines += _block("Request", msgs[ch.first].content)
        for k, (idx, d) in enumerate(zip(ch.followups, ch.decisions)):
            lines += _block(f"Draft {k + 1}", ch.drafts[k], preview=True, rejected=True)
            lines += _block("Follow-up", msgs[idx].content)
            lines += _block("  why", d.reason)
            lines += _block("  rule", d.rule)
        lines += _block("Accepted", ch.accepted, preview=True)
        lines += _block("Folded", ch.folded_request)
    if show_all:
        for idx, d in res.examined:
            if d.is_retry:
                continue
            lines.append("  Not a retry")
            lines += _block("After", msgs[idx - 1].content, preview=True)
            lines += _block("Follow-up", msgs[idx].content)
            lines += _block("  why", d.reason)
            lines += _block("  rule", d.rule)
    return "\n".join(lines) + "\n"


def _block(label: str, text: str, preview: bool = False, rejected: bool = False) -> list[str]:
    """A labelled, wrapped block; previews show the first lines and the word count."""
    head = f"    {label + ':':<11} "
    pad = " " * len(head)
    body = text.strip()
    paras = [p for p in body.splitlines() if p.strip()] or [""]
    wrapped: list[str] = []
    for p in paras:
        wrapped += textwrap.wrap(p, WIDTH - len(head)) or [""]
    suffix = ""
    if preview:
        n_words = len(body.split())
        if len(wrapped) > PREVIEW_LINES:
            wrapped = wrapped[:PREVIEW_LINES]
            wrapped[-1] += " ..."
        suffix = f"({n_words} words{', rejected' if rejected else ''})"
    out = [head + wrapped[0]] + [pad + w for w in wrapped[1:]]
    if suffix:
        out.append(pad + suffix)
    return out
