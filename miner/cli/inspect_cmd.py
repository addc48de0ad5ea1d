"""`miner inspect`: what is in these files, without writing anything."""
from __future__ import annotations

import click

from miner.pipeline import inspect

from .common import debug_option, handle_errors, print_summary, progress, quiet_option


@click.command("inspect")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file instead of a table.")
@quiet_option
@debug_option
@handle_errors
def command(inputs, as_json, quiet, debug):
    """Show what each file is (format, detected by content) and what it holds: conversations,
    messages and tokens for chat exports; documents, words and tokens for manuscripts and notes.
    Folders and ZIP archives are looked into.

    \b
    Examples:
      miner inspect ~/Downloads/chatgpt-export.zip
      miner inspect ~/Writing/
    """
    with progress("Inspecting", quiet=quiet or as_json, unit="files") as advance:
        rows, summary = inspect(list(inputs), progress=advance)
    if as_json:
        import orjson

        for r in rows:
            click.echo(orjson.dumps(r).decode())
        return
    from rich.table import Table

    t = Table(title=None)
    for col in ("file", "format", "contents", "tokens"):
        t.add_column(col, justify="right" if col == "tokens" else "left", overflow="fold")
    for r in rows:
        if "conversations" in r:
            contents = f"{r['conversations']:,} conversations, {r['messages']:,} messages"
        elif "documents" in r:
            contents = f"{r['documents']:,} documents, {r['words']:,} words"
        else:
            contents = r.get("detail", "")
        if r.get("skipped"):
            contents += f" ({r['skipped']} broken, skipped)"
        tok = f"{r['tokens']:,}" if "tokens" in r else ""
        t.add_row(r["file"], r["format"], contents, tok)
    from rich.console import Console

    Console(highlight=False).print(t)  # the answer goes to stdout; the summary to stderr
    print_summary(summary, quiet)
