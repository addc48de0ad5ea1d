"""`miner retries`: show the retry chains `miner convert` would collapse, and why.

Reads chat inputs through the same parsing and clean-up as convert (miner.pipeline), runs
miner.retries.collapse on each conversation and prints every chain: the request, each
follow-up with the rule that fired, the drafts, the accepted answer and the folded request.
"""
from __future__ import annotations

import textwrap
from dataclasses import replace

import click

from miner import retries, transforms
from miner.models import Conversation
from miner.pipeline import iter_conversations
from miner.summary import Summary

from .common import debug_option, handle_errors, print_summary, progress, quiet_option

WIDTH = 100
PREVIEW_LINES = 3


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
def command(inputs, retry_rules, show_all, all_drafts, limit, quiet, debug):
    """Show the retry chains in your chats ("make it longer", "try again but darker") and how
    `miner convert` folds them: the original request, each follow-up with the rule that fired,
    the start of every draft, the accepted answer and the single request that replaces them.

    \b
    Examples:
      miner retries ~/Downloads/chatgpt-export.zip
      miner retries chatgpt.zip claude.zip --limit 20
      miner retries export.zip --all | less            # also the follow-ups that are NOT retries
      miner retries export.zip --retry-rules my-phrases.yaml --all

    Nothing is written. Use the decisions to tune --retry-rules, then run `miner convert`
    (add --no-collapse to keep chains as they are, or --format openai-dpo for preference pairs).
    """
    rules = retries.load_rules(retry_rules)
    summary = Summary(title="miner retries")
    counts = {"conversations": 0, "follow-ups examined": 0, "retry chains": 0, "preference pairs": 0}
    shown = 0
    with progress("Reading", quiet=quiet, unit="conversations") as advance:
        for item in iter_conversations(list(inputs), summary, progress=advance):
            if not isinstance(item, Conversation):
                continue  # a preference pair read from a DPO file has no chain to show
            conv = replace(item, messages=transforms.normalize(item.messages))
            counts["conversations"] += 1
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
    for k, v in counts.items():
        summary.add(k, v)
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
