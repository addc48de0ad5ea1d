"""`miner clean`: a thin command over miner.hygiene.clean.clean_file."""
from __future__ import annotations

import click

from miner import writers
from miner.hygiene.clean import CleanOptions, clean_file, parse_replacement
from miner.hygiene.dedupe import DEFAULT_THRESHOLD
from miner.hygiene.io import derive_path

from .common import debug_option, force_option, handle_errors, print_summary, progress, quiet_option


@click.command("clean")
@click.argument("path", type=click.Path())
@click.option("-o", "--output", "out", type=click.Path(), help="Cleaned file (default: NAME.clean.jsonl).")
@click.option("--replace", "replace", multiple=True, metavar="OLD=>NEW",
              help="Replace text literally (repeatable). Leave NEW empty to delete.")
@click.option("--replace-re", "replace_re", multiple=True, metavar="PATTERN=>REPL",
              help="Replace a regular expression (repeatable); REPL may use \\1.")
@click.option("--in", "scope", type=click.Choice(["assistant", "user", "all"]), default="assistant", show_default=True,
              help="Which turns --replace and --replace-re change.")
@click.option("--drop-refusals", is_flag=True, help="Drop examples whose answer is a refusal or AI boilerplate.")
@click.option("--refusals", "refusal_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Extra refusal phrases, one per line (same format as templates/refusals.txt).")
@click.option("--dedupe", is_flag=True, help="Drop exact and near-duplicate examples (the first is kept).")
@click.option("--threshold", default=DEFAULT_THRESHOLD, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Similarity at which two answers count as near-duplicates.")
@click.option("--min-tokens", type=click.IntRange(min=1), help="Drop examples shorter than this (whole example).")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Drop examples longer than this (whole example).")
@click.option("--redact-pii", is_flag=True, help="Replace emails, phone numbers and URLs with keys/tokens in them.")
@click.option("--format", "fmt", type=click.Choice(list(writers.FORMATS)), help="Write another format (default: as read).")
@click.option("--rejects", type=click.Path(), help="Also write every dropped line, with the reason, to this file.")
@force_option
@quiet_option
@debug_option
@handle_errors
def command(path, out, replace, replace_re, scope, drop_refusals, refusal_files, dedupe, threshold, min_tokens,
            max_tokens, redact_pii, fmt, rejects, force, quiet, debug):
    """Clean a dataset: find/replace artifacts, redact contact details, and drop refusals,
    duplicates and outliers. Every drop is counted by reason; --rejects keeps them.

    \b
    Examples:
      miner clean wlm.jsonl -o wlm.clean.jsonl --dedupe --drop-refusals
      miner clean wlm.jsonl -o wlm.clean.jsonl --replace "The opening of your story=>" --min-tokens 50 --max-tokens 4000
      miner clean wlm.jsonl --replace "Willow Creek=>Ashford" --replace "she bit her lip=>she hesitated"
      miner clean wlm.jsonl --replace-re "^The opening of your story is[^\\n]*\\n+=>" --rejects dropped.jsonl
      miner clean chats.jsonl -o chats.clean.jsonl --redact-pii --in all
    """
    opts = CleanOptions(
        replace=[parse_replacement(s) for s in replace] + [parse_replacement(s, regex=True) for s in replace_re],
        scope=scope, drop_refusals=drop_refusals, refusal_files=refusal_files, dedupe=dedupe, threshold=threshold,
        min_tokens=min_tokens, max_tokens=max_tokens, redact_pii=redact_pii, format=fmt, rejects=rejects, force=force)
    out = out or derive_path(path, "clean")
    with progress("Cleaning", quiet=quiet, unit="lines") as advance:
        summary = clean_file(path, out, opts, progress=advance)
    print_summary(summary, quiet)
