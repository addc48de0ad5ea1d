"""`miner chunk`: manuscripts and notes in, structure-aware chunks of the author's own prose
out (JSONL). A thin layer over miner.chunking.chunk_files."""
from __future__ import annotations

import click

from miner.cli.common import debug_option, force_option, handle_errors, print_summary, progress, quiet_option


@click.command("chunk")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="The JSONL file to write (one chunk per line).")
@click.option("--min-tokens", default=200, show_default=True, type=int,
              help="Aim for chunks at least this long; shorter pieces merge with a neighbour in the same chapter.")
@click.option("--max-tokens", default=1200, show_default=True, type=int,
              help="Never make a chunk longer than this (o200k tokens, as GPT-4o counts them).")
@click.option("--footnotes", is_flag=True, help="Include DOCX footnotes (gathered at the end under 'Notes').")
@force_option
@quiet_option
@debug_option
@handle_errors
def command(inputs, out, min_tokens, max_tokens, footnotes, force, quiet, debug):
    """Cut manuscripts, essays and notes into passages of your own prose.

    INPUT can be files, folders (read recursively) or ZIP archives (also ZIPs inside ZIPs):
    DOCX, PDF (with a text layer), Markdown/Obsidian/Notion, plain text, HTML, EPUB, RTF,
    Evernote .enex and Google Keep Takeout. Chunks never cross a chapter, prefer section and
    scene breaks, never cut a sentence (unless one sentence alone is too long), and keep
    every word exactly once. Headings go into each chunk's "section", not its text.

    Each output line: {"text", "source", "document", "section", "index", "tokens"}.

    \b
    Examples:
      miner chunk novel.docx -o chunks.jsonl
      miner chunk novel.docx essays/*.pdf notes.enex Takeout.zip -o chunks.jsonl --max-tokens 1200
      miner chunk ~/Obsidian/Vault -o notes.jsonl --min-tokens 100 --max-tokens 600
      miner chunk thesis.docx --footnotes -o thesis.jsonl --force
    """
    from miner.chunking import chunk_files
    from miner.parsers import ParseOptions

    def warn(line: str) -> None:
        click.echo(f"Skipped {line}", err=True)

    with progress("Chunking", quiet=quiet, unit="documents") as advance:
        summary = chunk_files(list(inputs), out, min_tokens=min_tokens, max_tokens=max_tokens,
                              opts=ParseOptions(footnotes=footnotes), force=force, progress=advance, warn=warn)
    print_summary(summary, quiet=quiet)
