"""`miner validate`: a thin command over miner.hygiene.validate.validate_file."""
from __future__ import annotations

import sys
from collections import defaultdict

import click
import orjson

from miner.hygiene.validate import TARGETS, expected_cost_line, validate_file

from .common import debug_option, handle_errors, quiet_option

SHOW_PER_CODE = 5


@click.command("validate")
@click.argument("path", type=click.Path())
@click.option("--target", type=click.Choice(TARGETS),
              help="The trainer whose rules to check. Default: the format of the file's first example.")
@click.option("--model", help="Model you will tune (sets the per-example token limit and the price), "
                              "e.g. gpt-4.1-mini-2025-04-14 or gemini-2.5-flash.")
@click.option("--max-tokens", type=click.IntRange(min=1),
              help="Your own per-example token limit (a local trainer's max sequence length).")
@click.option("--epochs", type=click.IntRange(1, 50), help="Epochs for the cost estimate (default: OpenAI's auto rule).")
@click.option("--prices", type=click.Path(exists=True, dir_okay=False),
              help="YAML of training prices per 1M tokens, overriding templates/training-prices.yaml.")
@click.option("--all", "show_all", is_flag=True, help=f"Show every finding, not the first {SHOW_PER_CODE} of each kind.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@quiet_option
@debug_option
@handle_errors
def command(path, target, model, max_tokens, epochs, prices, show_all, as_json, quiet, debug):
    """Check a dataset against a trainer's rules before you upload it. Prints each problem
    with its line number and how to fix it, then the token counts and the training cost.
    Exits 1 if there are errors (the job would fail), 0 if there are only warnings.

    \b
    Examples:
      miner validate wlm.jsonl --target openai
      miner validate wlm.jsonl --target openai --model gpt-4o-mini-2024-07-18 --epochs 3
      miner validate wlm.gemini.jsonl --target vertex
      miner validate wlm.jsonl --target trl --max-tokens 8192
    """
    report = validate_file(path, target, model, max_tokens=max_tokens, epochs=epochs, prices=prices,
                           max_per_code=None if show_all or as_json else 1000)
    if as_json:
        click.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.exit(0 if report.ok else 1)
    shown: dict[str, int] = defaultdict(int)
    for f in sorted(report.findings, key=lambda f: (f.line == 0, f.line, f.severity != "error")):
        shown[f.code] += 1
        if not show_all and shown[f.code] > SHOW_PER_CODE:
            continue
        where = f"{path}:{f.line}" if f.line else path
        color = "red" if f.severity == "error" else "yellow"
        click.echo(f"{where}: " + click.style(f.severity, fg=color) + f" [{f.code}] {f.message}", err=False)
        click.echo(f"    fix: {f.fix}")
    hidden = {c: n - SHOW_PER_CODE for c, n in report.counts.items() if not show_all and n > SHOW_PER_CODE}
    for code, n in sorted(hidden.items()):
        click.echo(f"... and {n:,} more [{code}] (use --all to see them)")
    if not quiet:
        _print_totals(report)
    sys.exit(0 if report.ok else 1)


def _print_totals(report) -> None:
    click.echo("")
    verdict = click.style("OK", fg="green") if report.ok else click.style("NOT READY", fg="red")
    click.echo(f"{verdict}: {report.examples:,} examples for {report.target}"
               + (f" ({report.model})" if report.model else "")
               + f"; {report.errors:,} errors, {report.warnings:,} warnings")
    if report.examples:
        limit = f", limit {report.token_limit:,} per example" if report.token_limit else ""
        click.echo(f"tokens: {report.total_tokens:,} in total, longest example {report.max_example_tokens:,}{limit}"
                   + (f", {report.too_long:,} over the limit" if report.too_long else ""))
    cost = expected_cost_line(report)
    if cost:
        click.echo(f"training cost: {cost} (an estimate; check the provider's price page)")
    for n in report.notes:
        click.echo(f"note: {n}")
