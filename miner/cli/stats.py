"""`miner stats`: a thin command over miner.hygiene.stats.compute_stats (and report_html)."""
from __future__ import annotations

import click
import orjson

from miner import writers
from miner.hygiene.dedupe import DEFAULT_THRESHOLD
from miner.hygiene.stats import DEFAULT_PHRASE_THRESHOLD, StatsReport, compute_stats

from .common import debug_option, force_option, handle_errors, progress, quiet_option


@click.command("stats")
@click.argument("path", type=click.Path())
@click.option("--html", "html_out", type=click.Path(), help="Also write a self-contained HTML report with charts.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--phrase-threshold", default=DEFAULT_PHRASE_THRESHOLD, show_default=True,
              type=click.FloatRange(0, 1), help="Warn when one phrase is in more than this share of examples.")
@click.option("--threshold", default=DEFAULT_THRESHOLD, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Similarity at which two answers count as near-duplicates.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Flag examples longer than this (default: the format's limit).")
@click.option("--format", "fmt", type=click.Choice(list(writers.FORMATS)), help="Read lines as this format.")
@force_option
@quiet_option
@debug_option
@handle_errors
def command(path, html_out, as_json, phrase_threshold, threshold, max_tokens, fmt, force, quiet, debug):
    """Measure what a dataset will teach: sizes, turns, system prompts, over-used phrases,
    near-duplicates, prompt variety and sources, with warnings tied to fine-tuning advice.

    \b
    Examples:
      miner stats wlm.jsonl
      miner stats wlm.jsonl --html report.html         # open report.html in any browser
      miner stats wlm.jsonl --json > stats.json
      miner stats wlm.jsonl --phrase-threshold 0.1     # stricter about repeated phrases
    """
    if html_out:
        from miner.output import check_writable

        check_writable(html_out, force)  # fail before the long part, not after
    with progress("Reading", quiet=quiet or as_json, unit="examples") as advance:
        report = compute_stats(path, format=fmt, phrase_threshold=phrase_threshold, threshold=threshold,
                               max_tokens=max_tokens, progress=advance)
    if html_out:
        from miner.hygiene.report_html import write_html

        write_html(report, html_out, force=force)
    if as_json:
        click.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    if not quiet:
        print_report(report)
    if html_out:
        click.echo(f"HTML report: {html_out}")


def _bar(n: int, most: int, width: int = 40) -> str:
    return "█" * max(1 if n else 0, round(width * n / most)) if most else ""


def print_report(r: StatsReport) -> None:
    echo = click.echo
    echo(click.style(f"{r.path}", bold=True) + f"  ({r.format or 'no examples'})")
    echo(f"examples: {r.examples:,}" + (f" ({r.preference_pairs:,} preference pairs)" if r.preference_pairs else "")
         + (f"; lines that are not examples: {sum(r.bad_lines.values()):,}" if r.bad_lines else ""))
    if not r.examples:
        return
    t = r.token_summary()
    echo(f"tokens per example: min {t['min']:,}  median {t['median']:,}  p95 {t['p95']:,}  max {t['max']:,}  "
         f"(total {t['total']:,})")
    hist = r.histogram()
    most = max(b[2] for b in hist)
    for lo, hi, n in hist:
        echo(f"  {lo:>8,}-{hi:<8,} {_bar(n, most)} {n:,}")
    echo("turns per example: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(r.turns.items())))
    echo("system prompts:" + ("" if r.system_prompts else " none"))
    for text, n in r.system_prompts.most_common(5):
        echo(f"  {n:>6,} x {_short(text)}")
    if r.no_system and r.system_prompts:
        echo(f"  {r.no_system:>6,} x (no system prompt)")
    if r.sources:
        echo("sources:")
        for s, n in r.sources.most_common(8):
            echo(f"  {n:>6,} x {s}")
    echo(f"over-represented phrases (in at least {max(3, round(0.02 * r.examples))} examples, far above chance):"
         + ("" if r.phrases else " none"))
    for p in r.phrases[:15]:
        echo(f"  {p.share:>5.0%} {p.examples:>6,} x \"{p.text}\"  e.g. lines {', '.join(map(str, p.lines))}")
    dup = r.near_duplicate_examples()
    echo(f"near-duplicates (similarity >= {r.dup_threshold}): "
         + (f"{dup:,} examples in {len(r.clusters):,} groups" if dup else "none"))
    for c in r.clusters[:5]:
        echo(f"  lines {', '.join(map(str, c[:8]))}" + (" ..." if len(c) > 8 else ""))
    d = r.to_dict()["prompt_diversity"]
    if d["distinct_2"] is not None:
        top = d["top_openings"][0] if d["top_openings"] else None
        echo(f"prompt variety: distinct word pairs {d['distinct_2']:.0%}, mean overlap of two prompts "
             f"{d['mean_pairwise_similarity'] or 0:.0%}"
             + (f", most common opening \"{top['words']}\" in {d['top_opening_share']:.0%}" if top else ""))
    if r.refusals:
        echo(f"refusals / AI boilerplate: {r.refusals:,}")
    if r.warnings:
        echo("")
        for w in r.warnings:
            echo(click.style("warning", fg="yellow") + f": {w['message']}")
    else:
        echo(click.style("no warnings", fg="green"))


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
